"""`medclaim audit`: recompute the hospitals' settlements and flag claims for review (registered on the main app)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import Format, Headers, Out, OutputEncoding, app, guarded, log, setup_logging
from .status import Exit


def _tolerance_fen(text: str) -> int:
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise typer.BadParameter(f"'{text}' is not an amount in yuan — write e.g. 0.01") from None
    fen = d * 100
    if not d.is_finite() or d < 0 or fen != fen.to_integral_value():
        raise typer.BadParameter(f"'{text}' must be 0 or more, in yuan with at most two decimals — e.g. 0.01")
    return int(fen)


@app.command()
@guarded
def audit(
    inputs: Annotated[list[Path], typer.Argument(metavar="INPUT...", help="Hospital extracts carrying what each fund paid (统筹基金支出, 大病保险支出, 医疗救助支出, 起付线, 基金支付总额, 个人负担总金额): .csv (UTF-8 or GBK), .parquet, .xlsx.", exists=True, dir_okay=False)],
    rules: Annotated[str, typer.Option("--rules", "-r", metavar="RULESET", help="Rule set: the id of a shipped one (anhui/dongzhi-2021; see `medclaim rules list`), a .yaml file, or a region directory of periods.")],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Directory for differences.csv, flags.csv, high_burden.csv, rejects.csv, summary.txt/json.")],
    ledger: Annotated[Optional[Path], typer.Option("--ledger", "-l", metavar="DIR", help="Continue each person's year from this persistent ledger, exactly as the next `medclaim settle --ledger` run would (the ledger is only read, never written).", show_default=False)] = None,
    roster: Annotated[Optional[list[Path]], typer.Option("--roster", metavar="FILE", help="Enrollment roster (参保登记; .csv/.xlsx/.parquet, repeatable), applied exactly as `medclaim settle --roster` applies it: identity by date, benefit start, end of coverage; a person not on it is rejected (not_enrolled). A claim whose identity the roster changes is recomputed with the roster's identity.", exists=True, dir_okay=False, show_default=False)] = None,
    tolerance: Annotated[str, typer.Option("--tolerance", metavar="YUAN", help="Report a field only when reported and computed differ by more than this many yuan.")] = "0.00",
    format: Annotated[Optional[list[Format]], typer.Option("--format", "-f", help="Also write differences.xlsx (sheets differences, flags, high_burden) with --format xlsx.")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="Force the CSV encoding (utf-8, gb18030, gbk); detected if omitted.")] = None,
    headers: Annotated[Headers, typer.Option("--headers", help="Column headers of the CSV/Excel files: zh (Chinese, with class/tier in words), en, or code (field codes, values as keys).")] = Headers.zh,
    output_encoding: Annotated[OutputEncoding, typer.Option("--output-encoding", help="CSV files: utf-8 (with BOM, opens in Excel) or gbk (written as GB18030).")] = OutputEncoding.utf8,
    lang: Annotated[str, typer.Option("--lang", metavar="LANG", help="Language of the summary (terminal and summary.txt) and its warnings: zh or en.")] = "zh",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only (for cron).")] = False,
    log_file: Annotated[Optional[Path], typer.Option("--log-file", metavar="FILE", help="Append a log of the run to this file.", show_default=False)] = None,
) -> Exit:
    """Audit the hospitals' settlements (全量审核): recompute every claim, compare, flag, warn.

    Every claim is settled with the same engine as `medclaim settle` and each figure the hospital
    reported is compared with the computed one.  Writes, in --out:

    \b
      differences.csv  one row per claim and field that differs: reported, computed, difference
                       (reported − computed, yuan) and the cause — the engine step that explains it
                       (deductible, ratio, tier, annual_cap, critical_threshold, critical_segment,
                       assistance_ratio, assistance_limit, identity, not_covered, inconsistent,
                       rounding, unexplained) with the rule key; see docs/audit.md
      flags.csv        claims matching review rules (overlapping_stays, outpatient_in_stay,
                       quick_readmission, same_day_repeat, zero_day_stay, cost_outlier,
                       frequent_outpatient), parameters from the rule file's audit.review block
      high_burden.csv  高额费用负担患者预警: people whose burden for the year is above the threshold
                       (and assisted people still above the 倾斜救助 threshold, if the rules have one)
      rejects.csv, summary.txt, summary.json

    Files for people have Chinese headers by default (--headers), money in yuan, dates as dates;
    the summary is in Chinese by default (--lang en for English).
    Reported columns a file lacks are not compared (the summary says which); a run where no
    claim carries any reported amount is an error (status 4).

    \b
    Example:
      medclaim audit sample_data/dongzhi-2021-03-hospital-d.csv --rules anhui/dongzhi-2021 --out out/audit

    Exit status 0 when nothing differs and nothing is flagged, 11 when differences or flags were
    found, 1 when clean but some rows were rejected; 3 bad rules, 4 unreadable input, 5 when
    every claim is in the --ledger already (nothing audited: audit a month before settling it),
    10 when nothing could be audited because no period of the rule set covers the claims' dates
    (one line names the years and the shipped rule sets that cover them, as settle's does).
    """
    from .audit.run import audit_files, render_plain
    from .output import PeopleFiles

    setup_logging(log_file)
    o = Out(quiet)
    if lang not in ("zh", "en"):
        o.error(f"--lang {lang}: choose zh or en")
        return Exit.USAGE
    o.lang = lang
    formats = [f.value for f in format or []]
    log.info("medclaim audit %s --rules %s --out %s%s", " ".join(map(str, inputs)), rules, out, f" --ledger {ledger}" if ledger else "")
    try:
        tolerance_fen = _tolerance_fen(tolerance)
    except typer.BadParameter as e:
        o.error(f"--tolerance: {e}")
        return Exit.USAGE
    from .roster import read_roster
    from .store import LedgerError

    enrolled = read_roster(roster, encoding) if roster else None
    try:
        people = PeopleFiles(headers=headers.value, encoding=output_encoding.value, lang=lang)
        result = audit_files(inputs, rules, out, ledger_dir=ledger, formats=formats, encoding=encoding, tolerance_fen=tolerance_fen,
                             people=people, roster=enrolled)
    except LedgerError as e:
        o.error(str(e))
        return e.status
    for w in result.warnings:
        o.warn(w)
    from rich.text import Text

    text = render_plain(result.summary, lang) + _top_differences(result, lang)
    o.result(Text(text), text)
    for m in result.errors:
        o.error(m)
    s = result.summary
    log.info("exit %d: audited %s claims, %s differing, %s flags, %s on the warning list", int(result.status),
             s["claims_audited"], s["claims_differing"], s["flags"], s["high_burden"])
    o.info(o.words("audit.written", out=out, files=", ".join(p.name for p in result.written)))
    return result.status


def _top_differences(result, lang: str = "zh", n: int = 5) -> str:
    """The largest differences, person numbers masked (the files keep them whole)."""
    import polars as pl

    from .audit.run import pad_cells
    from .explain import mask_id
    from .labels import load_labels
    from .money import fen_to_yuan_display

    d = result.differences
    if d.height == 0:
        return ""
    L = load_labels(lang)
    top = d.sort(pl.col("difference").abs(), "setl_id", descending=[True, False]).head(n)
    lines = [L("audit.largest", n=f"{d.height:,}")]
    for r in top.iter_rows(named=True):  # at most n rows, for the screen
        lines.append(L("audit.largest_row", setl_id=r["setl_id"], person=mask_id(r["psn_no"]),
                       field=pad_cells(L.name("audit.field", r["field"]), 16), reported=f"{fen_to_yuan_display(r['reported']):>14}",
                       computed=f"{fen_to_yuan_display(r['computed']):>14}", cause=L.name("audit.cause", r["cause"]),
                       message=r["message"]))
    return "\n".join(lines) + "\n"
