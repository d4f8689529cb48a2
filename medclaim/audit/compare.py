"""What the hospital reported against what the rules give, claim by claim and field by field.

The hospital's figures arrive as ``reported_<field>`` columns (``medclaim.io``); the settlement
holds the computed ``<field>``.  A difference is ``reported − computed`` in fen: positive means the
hospital's settlement paid more from that fund than the rules give (for ``psn_part_amt``: charged
the patient more).  A claim without a reported figure for a field (column absent from its file, or
the cell blank / not an amount) is not compared for that field — the caller says so.

Used by ``medclaim audit`` (the differences file) and by ``medclaim settle`` (one line in its
summary), so both say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

#: Compared fields, in waterfall order, with the hospital export's usual Chinese header.
FIELDS: dict[str, str] = {
    "act_pay_dedc": "实际支付起付线",
    "hifp_pay": "统筹基金支出",
    "hifmi_pay": "大病保险支出",
    "maf_pay": "医疗救助支出",
    "fund_pay_sumamt": "基金支付总额",
    "psn_part_amt": "个人负担总金额",
}
#: The three funds (over- and under-payment is summed per fund).
FUNDS = ["hifp_pay", "hifmi_pay", "maf_pay"]


def reported(name: str) -> str:
    return f"reported_{name}"


def claims_only(ledger: pl.DataFrame, columns: list[str] | None = None) -> pl.DataFrame:
    """Reversal entries (冲正) carry no hospital figures of their own: never compared.

    ``columns``: only those (selected before the filter, which then copies a few columns of the
    wide ledger, not all of them)."""
    lf = ledger.lazy()
    if "is_reversal" in ledger.columns:
        lf = lf.filter(~pl.col("is_reversal"))
    return (lf if columns is None else lf.select(columns)).collect()


def present_fields(frame: pl.DataFrame) -> list[str]:
    """Fields for which at least one claim carries a reported figure."""
    have = [f for f in FIELDS if reported(f) in frame.columns]
    if not have or frame.height == 0:
        return []
    counts = frame.select([pl.col(reported(f)).is_not_null().sum().alias(f) for f in have]).row(0, named=True)
    return [f for f in have if counts[f]]


def coverage_by_file(claims: pl.DataFrame) -> pl.DataFrame:
    """Per input file and field: claims, and how many carry a reported figure (for the summary)."""
    have = [f for f in FIELDS if reported(f) in claims.columns]
    return (
        claims.group_by("source_file", maintain_order=True)
        .agg(pl.len().alias("claims"), *[pl.col(reported(f)).is_not_null().sum().alias(f) for f in have])
        .sort("source_file")
    )


def differences(ledger: pl.DataFrame, tolerance_fen: int = 0, keep: list[str] | None = None) -> pl.DataFrame:
    """One row per claim and field whose reported figure differs from the computed one by more
    than ``tolerance_fen``: ``setl_id``, ``field``, ``reported``, ``computed``, ``difference``
    (+ the ``keep`` columns of the claim).  Vectorised: one filter per field, no row loop."""
    keep = [c for c in (keep or []) if c in ledger.columns and c != "setl_id"]
    have = [f for f in FIELDS if reported(f) in ledger.columns and f in ledger.columns]
    frame = claims_only(ledger, ["setl_id", *keep, *have, *[reported(f) for f in have]])
    # narrow first: a filter copies every column it keeps, and the ledger is wide
    differs = [((pl.col(reported(f)) - pl.col(f)).abs() > tolerance_fen).fill_null(False) for f in have]
    if not differs:
        differs = [pl.lit(False)]
    # narrow first (a filter copies every column it keeps, and the ledger is wide), then keep the
    # few claims with any difference before building the long table
    frame = frame.select("setl_id", *keep, *have, *[reported(f) for f in have]).filter(pl.any_horizontal(differs))
    parts = []
    for order, f in enumerate(FIELDS):
        if f not in have:
            continue
        diff = pl.col(reported(f)) - pl.col(f)
        parts.append(
            frame.filter(pl.col(reported(f)).is_not_null() & (diff.abs() > tolerance_fen)).select(
                "setl_id",
                *keep,
                pl.lit(f).alias("field"),
                pl.lit(order, dtype=pl.Int8).alias("field_order"),
                pl.col(reported(f)).alias("reported"),
                pl.col(f).cast(pl.Int64).alias("computed"),
                diff.alias("difference"),
            )
        )
    if not parts:
        return pl.DataFrame(
            schema={"setl_id": pl.String, "field": pl.String, "field_order": pl.Int8, "reported": pl.Int64,
                    "computed": pl.Int64, "difference": pl.Int64}
        )
    return pl.concat(parts, how="vertical_relaxed")


@dataclass
class Comparison:
    """Totals of a comparison, gathered chunk by chunk (settle streams its ledger)."""

    tolerance_fen: int = 0
    claims: int = 0  # claims compared (carrying at least one reported figure)
    differing: int = 0  # claims with at least one differing field
    by_field: dict[str, dict[str, int]] = field(default_factory=dict)  # field -> claims, compared, over, under

    def add(self, ledger: pl.DataFrame) -> None:
        have = [f for f in FIELDS if reported(f) in ledger.columns and f in ledger.columns]
        if not have or ledger.height == 0:
            return
        frame = claims_only(ledger, [*have, *[reported(f) for f in have]])
        any_reported = pl.any_horizontal([pl.col(reported(f)).is_not_null() for f in have])
        differs = {f: ((pl.col(reported(f)) - pl.col(f)).abs() > self.tolerance_fen).fill_null(False) for f in have}
        diff = {f: pl.col(reported(f)) - pl.col(f) for f in have}
        row = frame.select(
            any_reported.sum().alias("_claims"),
            pl.any_horizontal(list(differs.values())).sum().alias("_differing"),
            *[pl.col(reported(f)).is_not_null().sum().alias(f"{f}.compared") for f in have],
            *[differs[f].sum().alias(f"{f}.differing") for f in have],
            *[diff[f].filter(differs[f] & (diff[f] > 0)).sum().alias(f"{f}.over") for f in have],
            *[(-diff[f]).filter(differs[f] & (diff[f] < 0)).sum().alias(f"{f}.under") for f in have],
        ).row(0, named=True)
        self.claims += int(row["_claims"])
        self.differing += int(row["_differing"])
        for f in have:
            acc = self.by_field.setdefault(f, {"compared": 0, "differing": 0, "over": 0, "under": 0})
            for k in acc:
                acc[k] += int(row[f"{f}.{k}"] or 0)

    def fields(self) -> list[str]:
        return [f for f in FIELDS if self.by_field.get(f, {}).get("compared")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tolerance_fen": self.tolerance_fen,
            "claims_compared": self.claims,
            "claims_differing": self.differing,
            "fields_compared": self.fields(),
            "fields_absent": [f for f in FIELDS if f not in self.fields()],
            "by_field_fen": {f: self.by_field[f] for f in self.fields()},
        }


def compare(ledger: pl.DataFrame, tolerance_fen: int = 0) -> Comparison:
    c = Comparison(tolerance_fen=tolerance_fen)
    c.add(ledger)
    return c


def settle_note(c: Comparison, lang: str = "zh") -> str | None:
    """One line for ``settle``'s summary when the claims carry the hospital's own figures."""
    if not c.claims:
        return None
    from ..labels import load_labels
    from ..money import fen_to_yuan_display

    L = load_labels(lang)
    if not c.differing:
        return L("summary.reported_same", compared=f"{c.claims:,}")
    funds = ["fund_pay_sumamt"] if "fund_pay_sumamt" in c.fields() else [f for f in FUNDS if f in c.fields()]
    over = sum(c.by_field[f]["over"] for f in funds)
    under = sum(c.by_field[f]["under"] for f in funds)
    return L("summary.reported_differ", compared=f"{c.claims:,}", differing=f"{c.differing:,}",
             over=fen_to_yuan_display(over), under=fen_to_yuan_display(under))
