"""`medclaim explain`: one person's year, step by step (registered on the main app)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import cli_input
from .cli import Out, app, guarded, log, setup_logging
from .status import Exit


@app.command()
@guarded
def explain(
    psn_no: Annotated[Optional[str], typer.Argument(metavar="PSN_NO", help="The person number (人员编号), in full.", show_default=False)] = None,
    ledger: Annotated[
        Optional[Path],
        typer.Option("--ledger", "-l", metavar="DIR", help="A ledger: the --out directory of `medclaim settle`, or a persistent ledger directory.", show_default=False),
    ] = None,
    input: Annotated[
        Optional[list[Path]],
        typer.Option("--input", "-i", metavar="FILE", help="Explain without a saved ledger: settle this person's claims from these extract files (repeatable; give every file holding the person's claims of the year).", exists=True, dir_okay=False, show_default=False),
    ] = None,
    rules: Annotated[
        Optional[str],
        typer.Option("--rules", "-r", metavar="RULESET", help="Rule set for --input (anhui/dongzhi-2021, a .yaml file or a region directory). With --ledger: where to find the rule sets the ledger names, if they moved.", show_default=False),
    ] = None,
    roster: Annotated[
        Optional[list[Path]],
        typer.Option("--roster", metavar="FILE", help="With --input: the enrollment roster (参保登记) the claims are settled with, as `medclaim settle --roster` (identity by date, benefit start, end of coverage).", exists=True, dir_okay=False, show_default=False),
    ] = None,
    year: Annotated[Optional[int], typer.Option("--year", "-y", metavar="YEAR", help="Benefit year (default: the person's latest).", show_default=False)] = None,
    claim: Annotated[Optional[str], typer.Option("--claim", "-c", metavar="SETL_ID", help="Show only this settlement (its figures still follow from the whole year).", show_default=False)] = None,
    lang: Annotated[str, typer.Option("--lang", metavar="LANG", help="Language of the explanation: zh or en (any medclaim/labels/<lang>.yaml).")] = "zh",
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as JSON (schema medclaim.explain/1, docs/explain.md).")] = False,
    show_ids: Annotated[bool, typer.Option("--show-ids", help="Show person numbers in full (masked as 3417**********0433 otherwise, also in --json and logs).")] = False,
    json_schema: Annotated[bool, typer.Option("--json-schema", help="Print the JSON Schema of --json output and exit.")] = False,
    encoding: cli_input.Encoding = None,
    header_row: cli_input.HeaderRow = None,
    columns: cli_input.Columns = None,
    sheet: cli_input.Sheet = None,
    assume_zero: cli_input.AssumeZero = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only (--json output is still printed).")] = False,
    log_file: Annotated[Optional[Path], typer.Option("--log-file", metavar="FILE", help="Append a log line to this file.", show_default=False)] = None,
) -> Exit:
    """Explain one person's benefit year claim by claim: each step of the waterfall with its rule and source.

    For every claim, in settlement order: the cost split; basic insurance (class, tier, place,
    deductible and why, ratio and its parts, the annual cap before/after and its cut); 大病
    (cumulative base before/after, each segment crossed, threshold, cap, identity tilt); medical
    assistance (base, ratio, annual limit used and left); what the patient pays; the year's running
    totals.  Each figure cites the rule-set file, key and source document with its status.
    The figures are the settlement engine's own (the ledger's columns); explain computes nothing.
    When the claims carry the hospital's own settlement (实际支付起付线, 统筹基金支出 … as read by
    `medclaim audit`), each reported figure is shown beside the computed one with the difference
    and, when they differ, the cause `medclaim audit` gives (docs/audit.md).

    \b
    Examples (the sample month; `make demo` writes out/demo):
      medclaim explain 341721000000000093 --ledger out/demo
      medclaim explain 341721000000000093 --ledger out/demo --claim 3417212103002925 --lang en
      medclaim explain 341721000000000093 --ledger out/demo --json > person.json
      medclaim explain 341721000000000093 --rules anhui/dongzhi-2021 \\
          -i sample_data/dongzhi-2021-03-hospital-a.csv \\
          -i sample_data/dongzhi-2021-03-hospital-b.parquet \\
          -i sample_data/dongzhi-2021-03-hospital-c.xlsx

    Exit status 7 when the person (or the year, or the --claim settlement) has no claims in the
    ledger or input; 9 when the ledger is damaged (the file is named, with how to recover).  Person numbers are masked unless --show-ids.  See docs/explain.md.
    """
    from . import explain as ex

    setup_logging(log_file)
    o = Out(quiet)
    if json_schema:
        sys.stdout.write(ex.render_json(ex.JSON_SCHEMA))
        return Exit.OK
    try:
        labels = ex.load_labels(lang)
    except ValueError as e:
        o.error(str(e))
        return Exit.USAGE
    if not psn_no:
        o.error("give the person number: medclaim explain PSN_NO --ledger DIR (or --input FILE --rules RULESET)")
        return Exit.USAGE
    if (ledger is None) == (not input):
        o.error("give either --ledger DIR or --input FILE --rules RULESET (one of the two)")
        return Exit.USAGE
    if input and not rules:
        o.error("--input needs --rules RULESET to settle the claims, e.g. --rules anhui/dongzhi-2021")
        return Exit.USAGE
    psn_no = psn_no.strip()
    who = psn_no if show_ids else ex.mask_id(psn_no)

    rejected: list[dict] = []
    try:
        if ledger is not None:
            rows = person_rows(ledger, psn_no)
            where = str(ledger)
            chosen = ex.choose_year(rows, psn_no, year, where, show_ids, claim)
            ids = rows.filter(rows["year"] == chosen)["ruleset_id"].to_list()
            index = ex.rules_for_ledger(ids, rules)
            source = {"kind": "ledger", "paths": [str(ledger)]}
        else:
            reading = cli_input.read_options(encoding, header_row, columns, sheet, assume_zero)
            settled = ex.person_rows_from_input(list(input or []), rules, psn_no, reading, roster=list(roster or []))
            rows, rejected = settled.rows, settled.rejected
            where = ", ".join(str(p) for p in input or [])
            if rows.height == 0 and rejected:
                for r in rejected:
                    o.warn(f"settlement {r.get('setl_id')} of person {who} was rejected ({r.get('reason_code')}): {r.get('message')}")
            chosen = ex.choose_year(rows, psn_no, year, where, show_ids, claim)
            index = ex.rule_index([settled.book])
            source = {"kind": "input", "paths": [str(p) for p in input or []], "rules": rules}
    except ex.ExplainNotFound as e:
        o.error(e.message)
        return Exit.NOT_FOUND
    except ex.LedgerUnreadable as e:
        o.error(str(e))
        return Exit.INVALID_INPUT

    doc = ex.explain_person(rows, psn_no, chosen, index, show_ids=show_ids, source=source, rejected=rejected, only=claim)
    if as_json:
        sys.stdout.write(ex.render_json(doc))
    else:
        o.result(ex.render_rich(doc, labels), ex.render_plain(doc, labels))
    log.info("explained person %s, year %s: %d claim(s) from %s", who, chosen, len(doc["claims"]), where)
    return Exit.OK


def person_rows(ledger: Path, psn_no: str):
    """The person's ledger rows; a damaged part, or a damaged ledger.parquet of an --out directory,
    which fails the read, is named (exit 9)."""
    import polars as pl

    from . import explain as ex
    from .store import raise_if_damaged

    try:
        return ex.person_rows_from_ledger(ledger, psn_no)
    except (OSError, pl.exceptions.PolarsError):
        raise_if_damaged(ledger)
        raise
