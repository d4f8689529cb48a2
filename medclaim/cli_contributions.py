"""`medclaim contributions`: the year's contributions (筹资) from the enrollment roster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import polars as pl
import typer

from .cli import Out, app, guarded, log, setup_logging
from .money import fen_to_yuan_display, fen_to_yuan_expr
from .status import Exit

HEADINGS = {
    "identity": ("身份", "identity"),
    "people": ("人数", "people"),
    "contribution": ("筹资标准", "contribution"),
    "fiscal": ("财政补助", "public finance"),
    "individual": ("个人应缴", "individual due"),
    "assistance_aid": ("医疗救助资助", "assistance pays"),
    "person_pays": ("个人实缴", "person pays"),
}
MONEY = ["contribution", "fiscal", "individual", "assistance_aid", "person_pays"]


def render_plain(by_identity: pl.DataFrame, total: dict, title: str, lang: str) -> str:
    i = 0 if lang == "zh" else 1
    cols = ["identity", "people", *MONEY]
    lines = [title, "\t".join(HEADINGS[c][i] for c in cols)]
    for r in by_identity.iter_rows(named=True):
        lines.append("\t".join([r["identity"], str(r["people"]), *[fen_to_yuan_display(r[m]) for m in MONEY]]))
    lines.append("\t".join(["合计" if lang == "zh" else "total", str(total["people"]), *[fen_to_yuan_display(total[m]) for m in MONEY]]))
    return "\n".join(lines) + "\n"


def render_rich(by_identity: pl.DataFrame, total: dict, title: str, lang: str):
    from rich.table import Table

    i = 0 if lang == "zh" else 1
    t = Table(title=title)
    t.add_column(HEADINGS["identity"][i])
    for c in ["people", *MONEY]:
        t.add_column(HEADINGS[c][i], justify="right", no_wrap=True)
    for r in by_identity.iter_rows(named=True):
        t.add_row(r["identity"], f"{r['people']:,}", *[fen_to_yuan_display(r[m]) for m in MONEY])
    t.add_row("合计" if lang == "zh" else "total", f"{total['people']:,}", *[fen_to_yuan_display(total[m]) for m in MONEY], style="bold")
    return t


@app.command()
@guarded
def contributions(
    roster: Annotated[list[Path], typer.Option("--roster", metavar="FILE", help="Enrollment roster (参保登记; .csv UTF-8/GBK, .xlsx, .parquet; repeatable): one row per person and identity period.", exists=True, dir_okay=False)],
    rules: Annotated[str, typer.Option("--rules", "-r", metavar="RULESET", help="Rule set with the year's `contributions` figures, e.g. shanxi/wenshui-2024.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="Also write contributions.parquet (fen), contributions.csv (yuan, one row per person) and contributions-summary.json here.", show_default=False)] = None,
    encoding: Annotated[Optional[str], typer.Option(help="Force the roster's CSV encoding (utf-8, gb18030, gbk); detected if omitted.", show_default=False)] = None,
    lang: Annotated[str, typer.Option("--lang", metavar="LANG", help="Language of the table: zh or en.")] = "zh",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    log_file: Annotated[Optional[Path], typer.Option("--log-file", metavar="FILE", help="Append a log line to this file.", show_default=False)] = None,
) -> Exit:
    """The year's contributions (筹资) from the enrollment roster: per person what is due, what
    medical assistance pays for assisted identities (资助参保) and what the person pays; totals per
    identity and in all.

    The figures come from the rule set's cited `contributions` block (文水 2024: 1,020 yuan per person,
    640 public finance and 380 individual; 特困 fully aided, 低保 aided 304, 返贫致贫 342, 监测对象 280).
    A person's identity is the one in force on the day they paid.

    Example: medclaim contributions --roster roster-2024.csv --rules shanxi/wenshui-2024 --out out/contributions

    Exit status 0 on success, 3 when the rule set has no contributions figures or is invalid,
    4 when the roster cannot be read.
    """
    from .contributions import NoContributionRules, compute_contributions
    from .roster import read_roster
    from .rules import load_rulebook

    setup_logging(log_file)
    o = Out(quiet)
    book = load_rulebook(rules)
    if len(book.periods) != 1:
        o.error(f"{rules}: give the rule set of one benefit year (this holds {len(book.periods)} periods: {book.name})")
        return Exit.USAGE
    (rs,) = book.periods
    ros = read_roster(roster, encoding)
    try:
        result = compute_contributions(ros, rs)
    except NoContributionRules as e:
        o.error(str(e))
        return Exit.INVALID_RULES
    except ValueError as e:  # an identity the rule set does not map
        o.error(str(e))
        return Exit.INVALID_RULES
    title = f"{rs.ruleset.name} · {result.year} · {'筹资' if lang == 'zh' else 'contributions'} ({rs.cite(rs.contributions)})"
    o.result(render_rich(result.by_identity, result.total, title, lang), render_plain(result.by_identity, result.total, title, lang))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        result.people.write_parquet(out / "contributions.parquet")
        result.people.with_columns([fen_to_yuan_expr(pl.col(m)).alias(m) for m in MONEY]).write_csv(out / "contributions.csv", include_bom=True)
        summary = {"rules": rs.id, "year": result.year, "total_fen": result.total,
                   "by_identity_fen": result.by_identity.to_dicts(), "source": rs.cite(rs.contributions)}
        (out / "contributions-summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        o.info(f"written to {out}")
    for w in [f"rule set {rs.id}: contribution figures are unverified"] if rs.contributions.status != "verified" else []:
        o.warn(w)
    log.info("medclaim contributions: %d people, %s fen due", result.total["people"], result.total["contribution"])
    return Exit.OK
