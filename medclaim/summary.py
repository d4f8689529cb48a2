"""The run summary: counts, amounts per layer by class and tier, effective rates, people at caps.

``build_summary`` is pure (frames in, a plain dict out, amounts in fen); ``render_*`` turn it into
rich tables for a terminal or plain text for pipes, logs and ``summary.txt``.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from .io.notes import input_lines
from .money import fen_to_yuan_display

AMOUNTS = ["medfee_sumamt", "inscp_scp_amt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]


def _rate(num: int, den: int) -> str:
    if den == 0:
        return "–"
    per_mille = (num * 1000 * 2 + den) // (den * 2)  # half-up to 0.1 %
    return f"{per_mille // 10}.{per_mille % 10} %"


FLAGS = {
    "a basic annual cap or limit": "basic_cap_reached",
    "大病 threshold": "critical_threshold_reached",
    "大病 annual cap": "critical_cap_reached",
}
BY = ["benefit_class", "tier"]


class SummaryAccumulator:
    """Summary figures gathered chunk by chunk, so a run never needs its whole ledger in memory.

    Sums are added up per (class, tier); people are counted from the distinct person-years seen:
    one row per person-year of each chunk (``_person_years``).  The engine's chunks of one rule
    set hold whole person-years, so while every chunk came from one rule set, no person-year is
    in two of them and the rows are simply counted; a person-year of two periods is counted once.
    """

    def __init__(self) -> None:
        self.groups: list[pl.DataFrame] = []
        self.people: list[pl.DataFrame] = []
        self.counted: dict[str, int] = {"people": 0, **{f: 0 for f in FLAGS.values()}}  # from ``merge_partial``
        self.rulesets: set[str] = set()
        self.ordered = True  # every chunk came in settlement order (each person-year's rows together)

    def partial(self) -> tuple[pl.DataFrame | None, dict[str, int]]:
        """What this accumulator saw, reduced for ``merge_partial`` into another: the sums per
        (class, tier), and the person-years seen and how many reached each flag."""
        sums = [pl.col(c).sum() for c in ["claims", "not_covered", *AMOUNTS]]
        groups = pl.concat(self.groups).group_by(BY).agg(sums) if self.groups else None
        people = self._people()
        counts = {"people": people.height if people is not None else 0}
        counts |= {f: int(people[f].sum()) if people is not None and f in people.columns else 0 for f in FLAGS.values()}
        return groups, counts

    def merge_partial(self, groups: pl.DataFrame | None, counts: dict[str, int]) -> None:
        """Add another accumulator's ``partial``; its person-years must be seen by no other (as the
        partitions of a Spark run are: each holds whole persons)."""
        if groups is not None and groups.height:
            self.groups.append(groups)
        for k, v in counts.items():
            self.counted[k] = self.counted.get(k, 0) + v

    def seal(self) -> None:
        """The person-years seen so far will not be seen again (a spilled run has settled one
        bucket of persons): keep their sums and counts, not one row per person-year."""
        groups, counts = self.partial()
        self.groups, self.people = [], []
        self.merge_partial(groups, counts)

    def _people(self) -> pl.DataFrame | None:
        """One row per person-year seen, with whether it reached each flag."""
        if not self.people:
            return None
        people = pl.concat(self.people, how="diagonal")
        if self.ordered and len(self.rulesets) <= 1:  # no person-year in two chunks
            return people
        return people.group_by("psn_no", "year").agg(pl.all().any())

    def add(self, ledger: pl.DataFrame) -> None:
        if ledger.height == 0:
            return
        self.groups.append(
            ledger.group_by(BY).agg(
                pl.len().alias("claims"), pl.col("not_covered").sum().alias("not_covered"), *[pl.col(c).sum() for c in AMOUNTS]
            )
        )
        self.people.append(_person_years(ledger))
        if "run_start" not in ledger.columns or "ruleset_id" not in ledger.columns:
            self.ordered = False
        else:
            self.rulesets.update(ledger.get_column("ruleset_id").unique().to_list())

    def result(self, rejects: pl.DataFrame, rows_read: int, rules: list[str], unverified: int,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        sums = [pl.col(c).sum() for c in ["claims", "not_covered", *AMOUNTS]]
        groups = pl.concat(self.groups).group_by(BY).agg(sums).sort(BY) if self.groups else None
        people = self._people()
        totals = {c: int(groups[c].sum()) if groups is not None else 0 for c in AMOUNTS}
        by_class = groups.group_by("benefit_class").agg(sums[:1] + sums[2:]).sort("benefit_class") if groups is not None else None

        def people_with(flag: str) -> int:
            seen = int(people[flag].sum()) if people is not None and flag in people.columns else 0
            return seen + self.counted.get(flag, 0)

        reasons = rejects.group_by("reason_code").len().sort("reason_code").to_dicts() if rejects.height else []
        claims = int(groups["claims"].sum()) if groups is not None else 0
        summary: dict[str, Any] = {
            "schema": "medclaim.summary/1",
            "rules": rules,
            "unverified_parameters": unverified,
            "rows_read": rows_read,
            "claims_settled": claims,
            "rows_rejected": rejects.height,
            "people_settled": (people.height if people is not None else 0) + self.counted["people"],
            "not_covered": int(groups["not_covered"].sum()) if groups is not None else 0,
            "rejects_by_reason": {r["reason_code"]: r["len"] for r in reasons},
            "totals_fen": totals,
            "rates": {
                "funds / total cost": _rate(totals["fund_pay_sumamt"], totals["medfee_sumamt"]),
                "basic / policy scope": _rate(totals["hifp_pay"], totals["inscp_scp_amt"]),
                "funds / policy scope": _rate(totals["fund_pay_sumamt"], totals["inscp_scp_amt"]),
            },
            "people_reaching": {label: people_with(flag) for label, flag in FLAGS.items()},
            "by_class": by_class.to_dicts() if by_class is not None else [],
            "by_class_and_tier": groups.drop("not_covered").to_dicts() if groups is not None else [],
        }
        summary.update(extra or {})
        return summary


def _person_years(ledger: pl.DataFrame) -> pl.DataFrame:
    """psn_no, year and, per flag, whether any of its claims reached it — one row per person-year.

    In settlement order (``run_start`` marks each person-year's first row) the rows are read off
    the first rows, and only the flagged rows are grouped (by their person-year's number in the
    chunk); otherwise a group-by on the person id."""
    flags = [f for f in FLAGS.values() if f in ledger.columns]
    if "run_start" not in ledger.columns:
        return ledger.group_by("psn_no", "year").agg(pl.col(f).any() for f in flags)
    if not flags:
        return ledger.filter("run_start").select("psn_no", "year")
    number = pl.col("run_start").cum_sum().alias("_py")
    firsts = ledger.lazy().filter("run_start").select("psn_no", "year").with_row_index("_py", offset=1)
    flagged = (
        ledger.lazy().select(number, *flags).filter(pl.any_horizontal(flags))
        .group_by("_py").agg(pl.col(f).any() for f in flags)
    )
    return (
        firsts.join(flagged, on="_py", how="left", maintain_order="left")
        .select("psn_no", "year", *[pl.col(f).fill_null(False) for f in flags])
        .collect()
    )


def build_summary(
    ledger: pl.DataFrame, rejects: pl.DataFrame, rows_read: int, rules: list[str], unverified: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The summary of a ledger held in memory (see ``SummaryAccumulator`` for chunked runs)."""
    acc = SummaryAccumulator()
    acc.add(ledger)
    return acc.result(rejects, rows_read, rules, unverified, extra)


def check_counts(summary: dict[str, Any]) -> bool:
    return summary["rows_read"] == summary["claims_settled"] + summary["rows_rejected"] + summary.get("footer_rows", 0)


# ------------------------------------------------------------------ rendering
#
# Every word comes from the label files (medclaim/labels/<lang>.yaml, section ``summary``), the
# same files as explain's; Chinese by default.

#: (label key, key in summary["rates"], numerator, denominator)
RATES = [
    ("funds_total", "funds / total cost", "fund_pay_sumamt", "medfee_sumamt"),
    ("basic_scope", "basic / policy scope", "hifp_pay", "inscp_scp_amt"),
    ("funds_scope", "funds / policy scope", "fund_pay_sumamt", "inscp_scp_amt"),
]


def _labels(lang: str):
    from .labels import load_labels

    return load_labels(lang)


def _join(L, items: list[str]) -> str:
    return L("sep").join(items)


def _heading(L, col: str) -> str:
    return L(f"summary.amount.{col}")


def _class_tier(L, row: dict[str, Any]) -> tuple[str, str]:
    return L.name("class", row["benefit_class"]), L.name("tier", row["tier"]) if row["tier"] else "–"


def _head_lines(s: dict[str, Any], L) -> list[tuple[str, str | None]]:
    """The summary's opening lines, each with a rich style (None: plain)."""
    lines: list[tuple[str, str | None]] = [
        (L("summary.rules", rules=", ".join(s["rules"])), "bold"),
    ]
    if s["unverified_parameters"]:
        lines.append((L("summary.unverified", n=s["unverified_parameters"]).strip(), "yellow"))
    ok = check_counts(s)
    footers = L("summary.footers", n=f"{s['footer_rows']:,}") if s.get("footer_rows") else ""  # 合计 lines of the input
    lines.append((L("summary.counts", read=f"{s['rows_read']:,}", settled=f"{s['claims_settled']:,}",
                    rejected=f"{s['rows_rejected']:,}") + footers + ("" if ok else L("summary.mismatch")), "green" if ok else "bold red"))
    lines.append((L("summary.people", people=f"{s['people_settled']:,}", not_covered=f"{s['not_covered']:,}"), None))
    for key in ("late_claims", "already_settled"):
        if s.get(key):
            lines.append((L(f"summary.{key}", n=f"{s[key]:,}"), "yellow"))
    if s.get("workbook_split"):
        w = s["workbook_split"]
        lines.append((L("summary.workbook_split", rows=f"{w['rows']:,}", n=len(w["sheets"]), sheets=", ".join(w["sheets"])), "yellow"))
    if s["rejects_by_reason"]:
        reasons = _join(L, [f"{k} {v:,}" for k, v in s["rejects_by_reason"].items()])
        lines.append((L("summary.rejected_by_reason", reasons=reasons), "yellow"))
    lines += [(line, "cyan") for line in input_lines(s, L)]  # how the input was read (header rows, footers, sheets, columns)
    lines.append((L("summary.rates", rates=_join(L, [f"{L('summary.rate.' + k)} {s['rates'][j]}" for k, j, _, _ in RATES])), None))
    reach = _join(L, [f"{L('summary.reach.' + flag)} {s['people_reaching'][label]:,}" for label, flag in FLAGS.items()])
    lines.append((L("summary.reaching", counts=reach), None))
    return lines


def render_plain(s: dict[str, Any], lang: str = "zh") -> str:
    L = _labels(lang)
    lines = [text for text, _ in _head_lines(s, L)]
    lines.insert(-2, L("summary.totals", amounts=_join(L, [f"{_heading(L, k)} {fen_to_yuan_display(v)}" for k, v in s["totals_fen"].items()])))
    lines.append(L("summary.by_class_tier"))
    lines.append("\t".join([L("summary.class"), L("summary.tier"), L("summary.claims")] + [_heading(L, c) for c in AMOUNTS]))
    for row in s["by_class_and_tier"]:
        cells = [*_class_tier(L, row), str(row["claims"])] + [fen_to_yuan_display(row[c]) for c in AMOUNTS]
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def render_rich(s: dict[str, Any], lang: str = "zh", width: int | None = None):  # -> rich renderable
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    L = _labels(lang)
    head = Text()
    for i, (text, style) in enumerate(_head_lines(s, L)):
        head.append(("\n" if i else "") + text, style=style)

    # Numbers are never cut: they keep their full width and the names wrap instead.  On a narrow
    # terminal, columns are left out (derived ones first) until the table fits; summary.txt and the
    # piped output always carry every figure.
    def cells(c: str) -> list[str]:
        return [fen_to_yuan_display(row[c]) for row in s["by_class_and_tier"]] + [fen_to_yuan_display(s["totals_fen"][c])]

    from .xlsx import display_width

    widths = {c: max(display_width(_heading(L, c)), *map(len, cells(c))) + 3 for c in AMOUNTS}
    shown = list(AMOUNTS)
    room = (width or Console().width) - 24 - 10  # class and tier names, claims
    for dropped in ("inscp_scp_amt", "fund_pay_sumamt", "medfee_sumamt", "maf_pay"):
        if sum(widths[c] for c in shown) <= room:
            break
        shown.remove(dropped)
    left_out = [_heading(L, c) for c in AMOUNTS if c not in shown]
    caption = L("summary.narrow", columns=", ".join(left_out)) if left_out else None
    t = Table(title=L("summary.table_title"), caption=caption, show_footer=True)
    t.add_column(L("summary.class_tier"), footer=L("summary.total"), overflow="fold", min_width=12)
    t.add_column(L("summary.claims"), footer=f"{s['claims_settled']:,}", justify="right", no_wrap=True)
    for c in shown:
        t.add_column(_heading(L, c), footer=fen_to_yuan_display(s["totals_fen"][c]), justify="right", no_wrap=True,
                     min_width=widths[c] - 3)
    for row in s["by_class_and_tier"]:
        t.add_row(" · ".join(_class_tier(L, row)), f"{row['claims']:,}", *[fen_to_yuan_display(row[c]) for c in shown])
    return Group(head, t)


def _rate_bp(num: int, den: int) -> int | None:
    return None if den == 0 else (num * 10_000 * 2 + den) // (den * 2)


def summary_sheet_rows(s: dict[str, Any], lang: str = "zh") -> tuple[list[list[Any]], set[int]]:
    """The summary as workbook rows (cells ``(value, Unit)``), and which rows are headings."""
    from .columns import Unit

    L = _labels(lang)
    rows: list[list[Any]] = [[L("summary.section_overview"), L("summary.value")]]
    headings = {0}
    rows.append([L("summary.rules", rules=", ".join(s["rules"]))])
    if s["unverified_parameters"]:
        rows.append([L("summary.unverified", n=s["unverified_parameters"]).strip()])
    for key in ("rows_read", "claims_settled", "rows_rejected", "footer_rows", "people_settled", "not_covered"):
        if key in s:
            rows.append([L(f"summary.{key}"), (s[key], Unit.COUNT)])
    for reason, n in s["rejects_by_reason"].items():
        rows.append([L("summary.rejected_reason", reason=reason), (n, Unit.COUNT)])
    rows += [[line] for line in input_lines(s, L)]  # how the input was read
    for key in ("late_claims", "already_settled"):
        if s.get(key):
            rows.append([L(f"summary.{key}", n="").rstrip("：: "), (s[key], Unit.COUNT)])
    for k, _, num, den in RATES:
        rows.append([L(f"summary.rate.{k}"), (_rate_bp(s["totals_fen"][num], s["totals_fen"][den]), Unit.BP)])
    for label, flag in FLAGS.items():
        rows.append([L(f"summary.reach.{flag}"), (s["people_reaching"][label], Unit.COUNT)])
    if s.get("workbook_split"):
        w = s["workbook_split"]
        rows.append([L("summary.workbook_split", rows=f"{w['rows']:,}", n=len(w["sheets"]), sheets=", ".join(w["sheets"]))])
    rows.append([])
    headings.add(len(rows))
    rows.append([L("summary.class"), L("summary.tier"), L("summary.claims")] + [_heading(L, c) + L("summary.yuan") for c in AMOUNTS])
    for row in s["by_class_and_tier"]:
        rows.append([*_class_tier(L, row), (row["claims"], Unit.COUNT)] + [(row[c], Unit.FEN) for c in AMOUNTS])
    rows.append([L("summary.total"), None, (s["claims_settled"], Unit.COUNT)] + [(s["totals_fen"][c], Unit.FEN) for c in AMOUNTS])
    return rows, headings
