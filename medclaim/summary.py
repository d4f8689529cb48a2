"""The run summary: counts, amounts per layer by class and tier, effective rates, people at caps.

``build_summary`` is pure (frames in, a plain dict out, amounts in fen); ``render_*`` turn it into
rich tables for a terminal or plain text for pipes, logs and ``summary.txt``.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from .money import fen_to_yuan_display

AMOUNTS = ["medfee_sumamt", "inscp_scp_amt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]
HEADINGS = {
    "medfee_sumamt": "total cost",
    "inscp_scp_amt": "policy scope",
    "hifp_pay": "basic",
    "hifmi_pay": "大病",
    "maf_pay": "assistance",
    "fund_pay_sumamt": "funds",
    "psn_part_amt": "patients",
}


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

    Sums are added up per (class, tier); people are counted from the distinct person-years seen.
    """

    def __init__(self) -> None:
        self.groups: list[pl.DataFrame] = []
        self.people: list[pl.DataFrame] = []

    def add(self, ledger: pl.DataFrame) -> None:
        if ledger.height == 0:
            return
        self.groups.append(
            ledger.group_by(BY).agg(
                pl.len().alias("claims"), pl.col("not_covered").sum().alias("not_covered"), *[pl.col(c).sum() for c in AMOUNTS]
            )
        )
        flags = [pl.col(f).any().alias(f) for f in FLAGS.values() if f in ledger.columns]
        self.people.append(ledger.group_by("psn_no", "year").agg(flags))

    def result(self, rejects: pl.DataFrame, rows_read: int, rules: list[str], unverified: int,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        sums = [pl.col(c).sum() for c in ["claims", "not_covered", *AMOUNTS]]
        groups = pl.concat(self.groups).group_by(BY).agg(sums).sort(BY) if self.groups else None
        people = pl.concat(self.people, how="diagonal").group_by("psn_no", "year").agg(pl.all().any()) if self.people else None
        totals = {c: int(groups[c].sum()) if groups is not None else 0 for c in AMOUNTS}
        by_class = groups.group_by("benefit_class").agg(sums[:1] + sums[2:]).sort("benefit_class") if groups is not None else None

        def people_with(flag: str) -> int:
            return int(people[flag].sum()) if people is not None and flag in people.columns else 0

        reasons = rejects.group_by("reason_code").len().sort("reason_code").to_dicts() if rejects.height else []
        claims = int(groups["claims"].sum()) if groups is not None else 0
        summary: dict[str, Any] = {
            "schema": "medclaim.summary/1",
            "rules": rules,
            "unverified_parameters": unverified,
            "rows_read": rows_read,
            "claims_settled": claims,
            "rows_rejected": rejects.height,
            "people_settled": people.height if people is not None else 0,
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


def build_summary(
    ledger: pl.DataFrame, rejects: pl.DataFrame, rows_read: int, rules: list[str], unverified: int, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The summary of a ledger held in memory (see ``SummaryAccumulator`` for chunked runs)."""
    acc = SummaryAccumulator()
    acc.add(ledger)
    return acc.result(rejects, rows_read, rules, unverified, extra)


def check_counts(summary: dict[str, Any]) -> bool:
    return summary["rows_read"] == summary["claims_settled"] + summary["rows_rejected"]


# ------------------------------------------------------------------ rendering


def render_plain(s: dict[str, Any]) -> str:
    lines = [
        f"rules: {', '.join(s['rules'])}" + (f"  (unverified parameters: {s['unverified_parameters']})" if s["unverified_parameters"] else ""),
        f"rows read {s['rows_read']} = settled {s['claims_settled']} + rejected {s['rows_rejected']}"
        + ("" if check_counts(s) else "  ** MISMATCH **"),
        f"people settled {s['people_settled']}; claims not covered {s['not_covered']}",
    ]
    for key in ("late_claims", "already_settled"):
        if s.get(key):
            lines.append(f"{key.replace('_', ' ')}: {s[key]}")
    if s["rejects_by_reason"]:
        lines.append("rejected by reason: " + ", ".join(f"{k} {v}" for k, v in s["rejects_by_reason"].items()))
    lines.append("totals (yuan): " + "; ".join(f"{HEADINGS[k]} {fen_to_yuan_display(v)}" for k, v in s["totals_fen"].items()))
    lines.append("rates: " + "; ".join(f"{k} {v}" for k, v in s["rates"].items()))
    lines.append("people reaching: " + "; ".join(f"{k} {v}" for k, v in s["people_reaching"].items()))
    lines.append("by class and tier (yuan):")
    cols = ["claims"] + AMOUNTS
    lines.append("\t".join(["class", "tier"] + [HEADINGS.get(c, c) for c in cols]))
    for row in s["by_class_and_tier"]:
        cells = [row["benefit_class"], row["tier"] or "", str(row["claims"])] + [fen_to_yuan_display(row[c]) for c in AMOUNTS]
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def render_rich(s: dict[str, Any]):  # -> rich renderable
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    head = Text()
    head.append(f"rules {', '.join(s['rules'])}\n", style="bold")
    if s["unverified_parameters"]:
        head.append(f"{s['unverified_parameters']} unverified (placeholder) parameters — not for paying real money\n", style="yellow")
    ok = check_counts(s)
    head.append(
        f"rows read {s['rows_read']:,} = settled {s['claims_settled']:,} + rejected {s['rows_rejected']:,}\n",
        style="green" if ok else "bold red",
    )
    head.append(f"people {s['people_settled']:,}; not covered {s['not_covered']:,}\n")
    for key in ("late_claims", "already_settled"):
        if s.get(key):
            head.append(f"{key.replace('_', ' ')}: {s[key]:,}\n", style="yellow")
    if s["rejects_by_reason"]:
        head.append("rejected: " + ", ".join(f"{k} {v}" for k, v in s["rejects_by_reason"].items()) + "\n", style="yellow")
    head.append("rates: " + "; ".join(f"{k} {v}" for k, v in s["rates"].items()) + "\n")
    head.append("people reaching: " + "; ".join(f"{k} {v}" for k, v in s["people_reaching"].items()))

    # Numbers are never cut: they keep their full width and the names wrap instead.  On a narrow
    # terminal, columns are left out (derived ones first) until the table fits; summary.txt and the
    # piped output always carry every figure.
    from rich.console import Console

    def cells(c: str) -> list[str]:
        return [fen_to_yuan_display(row[c]) for row in s["by_class_and_tier"]] + [fen_to_yuan_display(s["totals_fen"][c])]

    widths = {c: max(len(HEADINGS[c]), *map(len, cells(c))) + 3 for c in AMOUNTS}
    shown = list(AMOUNTS)
    room = Console().width - 24 - 10  # class and tier names, claims
    for dropped in ("inscp_scp_amt", "fund_pay_sumamt", "medfee_sumamt", "maf_pay"):
        if sum(widths[c] for c in shown) <= room:
            break
        shown.remove(dropped)
    left_out = [HEADINGS[c] for c in AMOUNTS if c not in shown]
    caption = f"not shown on this narrow terminal: {', '.join(left_out)} — see summary.txt" if left_out else None
    t = Table(title="settled amounts (yuan)", caption=caption, show_footer=True)
    t.add_column("class · tier", footer="total", overflow="fold", min_width=12)
    t.add_column("claims", footer=f"{s['claims_settled']:,}", justify="right", no_wrap=True)
    for c in shown:
        t.add_column(HEADINGS[c], footer=fen_to_yuan_display(s["totals_fen"][c]), justify="right", no_wrap=True,
                     min_width=widths[c] - 3)
    for row in s["by_class_and_tier"]:
        name = f"{row['benefit_class'].replace('_', ' ')} · {row['tier'] or '–'}"
        t.add_row(name, f"{row['claims']:,}", *[fen_to_yuan_display(row[c]) for c in shown])
    return Group(head, t)
