"""`medclaim compare`: the same claims under two rule sets (registered on the main app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import Out, app, guarded, language_known, log, setup_logging
from .status import Exit


@app.command()
@guarded
def compare(
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUT...", help="Extract files (.csv, .parquet, .xlsx), read as `settle` reads them.", exists=True, dir_okay=False)],
    rules: Annotated[list[str], typer.Option("--rules", "-r", metavar="RULESET", help="Rule set A, then rule set B (give --rules twice); or once, with --set overrides making B.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Directory for compare.json, compare.xlsx, changed.parquet (and rejects.csv).", show_default=False)],
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY.PATH=VALUE", help="Override one value of rule set B (of A's copy when one --rules is given), written as in the rule file: basic.inpatient.ratio.by_tier.primary=90%, critical.segments.bands[0].from=12000. Repeatable; validated like a rule file.", show_default=False)] = None,
    roster: Annotated[Optional[list[Path]], typer.Option("--roster", metavar="FILE", help="Enrollment roster (参保登记; .csv/.xlsx/.parquet, repeatable), applied before each of the two settlements exactly as `medclaim settle --roster` applies it (identity by date; benefit start by each rule set's own enrollment rules; end of coverage); a person not on it is rejected (not_enrolled).", exists=True, dir_okay=False, show_default=False)] = None,
    encoding: Annotated[Optional[str], typer.Option(help="Force the CSV encoding (utf-8, gb18030, gbk); detected if omitted.", show_default=False)] = None,
    lang: Annotated[str, typer.Option("--lang", metavar="LANG", help="Language of the summary and the workbook: zh or en.")] = "zh",
    show_ids: Annotated[bool, typer.Option("--show-ids", help="Show person numbers in full in the terminal summary (masked otherwise; the files keep them).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    log_file: Annotated[Optional[Path], typer.Option("--log-file", metavar="FILE", help="Append a log line to this file.", show_default=False)] = None,
) -> Exit:
    """What a rule change costs and who gains or loses: settle the same claims under A and under B.

    Both runs use the settlement engine of `settle` (every person starts the year from zero, as in
    `settle --out`), so B's figures are exactly what `settle --rules B` would pay.  Writes
    compare.json and compare.xlsx: cost per fund (统筹基金, 大病, 医疗救助, funds, patients) under A,
    under B and the difference, in total and by benefit class, hospital tier, identity and place of
    care; how many people (person-years) pay more or less and by how much, in bands; the 20 largest
    changes.  changed.parquet holds every claim paid differently, A and B side by side (fen).

    \b
    Examples:
      medclaim compare 2021-*/*.csv --rules anhui/dongzhi-2021 --set basic.inpatient.ratio.by_tier.primary=90% --out what-if/primary-90
      medclaim compare extract.parquet --rules rules/anhui/dongzhi-2021.yaml --rules draft-2022.yaml --out what-if/draft

    Exit status 0 when compared (1 when some rows could not be compared: see rejects.csv); 3 when a
    rule set or an override is invalid; 10 when a rule set's periods do not cover every claim's date
    (the message names the dates).  See docs/compare.md.
    """
    from .compare import CompareError, compare_files
    from .compare.output import render_plain, render_rich, write_outputs

    setup_logging(log_file)
    o = Out(quiet)
    if not language_known(o, lang):
        return Exit.USAGE
    from .roster import read_roster

    enrolled = read_roster(roster, encoding) if roster else None
    try:
        result = compare_files(inputs, rules, set_ or [], encoding, enrolled)
    except ValueError as e:
        o.error(str(e))
        return Exit.USAGE
    except CompareError as e:
        o.error(str(e))
        return Exit(e.status)
    for w in result.warnings:
        o.warn(w)
    written = write_outputs(result, out, set_ or [], lang)
    o.result(render_rich(result, lang, show_ids), render_plain(result, lang, show_ids))
    o.info("written: " + ", ".join(str(p) for p in written))
    log.info("medclaim compare --rules %s --set %s: %d claims compared", rules, set_, result.comparison.claims)
    return Exit.REJECTS if result.rejects.height else Exit.OK
