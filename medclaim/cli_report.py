"""`medclaim report`: the manager's monthly report from a ledger (registered on the main app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import Out, app, guarded, language_known, log, setup_logging
from .status import Exit


@app.command()
@guarded
def report(
    ledger: Annotated[Path, typer.Option("--ledger", "-l", metavar="DIR", help="A persistent ledger directory, or the --out directory of one `medclaim settle` run.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Directory for report.xlsx, report.html and report.json (created if missing; files replaced).", show_default=False)],
    year: Annotated[Optional[int], typer.Option("--year", "-y", metavar="YEAR", help="Benefit year to report (default: the ledger's latest).", show_default=False)] = None,
    budget: Annotated[Optional[Path], typer.Option("--budget", "-b", metavar="FILE", help="Budget file (YAML/JSON, yuan): annual budget per fund and the 大病 premium; see docs/report.md.", exists=True, dir_okay=False, show_default=False)] = None,
    rules: Annotated[Optional[str], typer.Option("--rules", "-r", metavar="RULESET", help="Rule set whose `targets` to show (default: the one the ledger's latest claims of the year name, looked up among the shipped rule sets).", show_default=False)] = None,
    lang: Annotated[str, typer.Option("--lang", metavar="LANG", help="Language of the report: zh or en.")] = "zh",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    log_file: Annotated[Optional[Path], typer.Option("--log-file", metavar="FILE", help="Append a log line to this file.", show_default=False)] = None,
) -> Exit:
    """Write the manager's report of a benefit year: outlay, target rates, caps reached, budget, charts.

    report.xlsx (one sheet per table, native Excel charts) and report.html (one self-contained
    page, opens offline) show: fund outlay per month and to date per layer (统筹基金, 大病保险,
    医疗救助, patients), by benefit class, hospital tier, hospital (when the ledger carries
    fixmedins_code), identity and place of care, with claims and people; the rates the policy
    documents set targets for, beside each target and its source (the rule set's `targets`);
    people reaching the basic cap, the 大病 threshold and the 大病 cap.  With --budget: outlay to
    date against each fund's budget, the year-end projection (linear run rate: outlay so far ÷
    months elapsed × 12) and a 基金风险预警 when it exceeds the budget; the 大病 premium against
    the 大病 payments.  report.json holds the same figures in fen and basis points.

    \b
    Examples:
      medclaim report --ledger /srv/medclaim/ledger --out reports/2021-03
      medclaim report --ledger out/demo --budget budget-2021.yaml --out out/report --lang en

    Exit status 0 when written; 4 when the ledger or the budget file cannot be used; 3 when
    --rules is not a valid rule set; 9 when the ledger is damaged (the file is named, with how to
    recover).  See docs/report.md.
    """
    from .report import ReportError, build_report

    setup_logging(log_file)
    o = Out(quiet)
    if not language_known(o, lang):
        return Exit.USAGE
    try:
        result = build_report(ledger, out, year, budget, rules, lang)
    except ReportError as e:
        for line in str(e).splitlines():
            o.error(line)
        return Exit.INVALID_INPUT
    for w in result.warnings:
        o.warn(w)
    for a in result.document.alerts:
        o.warn(a)
    fig = result.figures
    o.info(f"report of {fig.year} (to {fig.as_of}): {fig.totals['claims']:,} claims, {fig.totals['people']:,} people → "
           + ", ".join(str(p) for p in result.written))
    log.info("medclaim report --ledger %s --out %s: year %s", ledger, out, fig.year)
    return Exit.OK
