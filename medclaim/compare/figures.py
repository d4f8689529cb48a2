"""A pair of narrow ledgers (the same claims under A and under B) turned into the comparison.

All polars over whole columns: one join on the settlement id, group-bys per dimension and per
person-year.  Amounts stay integer fen; a difference is always B − A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

#: Columns kept from each settlement run.
KEEP = [
    "setl_id", "psn_no", "year", "enddate", "benefit_class", "tier", "place", "identity",
    "medfee_sumamt", "inscp_scp_amt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt", "not_covered",
]
#: The layers compared: three funds, their sum, the patient.
LAYERS = ["hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]
DIMENSIONS = ["benefit_class", "tier", "identity", "place"]
#: Bands of a person-year's change in what the patient pays, by size (fen; upper bounds inclusive).
BANDS = [10_000, 100_000, 500_000, 2_000_000]  # 100, 1,000, 5,000, 20,000 yuan
TOP = 20


def band_labels() -> list[str]:
    """'0–100', '100–1,000', …, '> 20,000' (yuan)."""
    edges = [0, *BANDS]
    out = [f"{lo // 100:,}–{hi // 100:,}" for lo, hi in zip(edges, edges[1:])]
    return out + [f"> {BANDS[-1] // 100:,}"]


def _band(delta: pl.Expr) -> pl.Expr:
    size = delta.abs()
    expr = pl.lit(len(BANDS), dtype=pl.Int8)
    for i, hi in reversed(list(enumerate(BANDS))):
        expr = pl.when(size <= hi).then(pl.lit(i, dtype=pl.Int8)).otherwise(expr)
    return expr


@dataclass
class Comparison:
    claims: int  # settled under both and compared
    only_a: int  # settled under A only (rejected by B)
    only_b: int
    people: int  # person-years compared
    totals: dict[str, dict[str, int]]  # layer → {a, b, diff}
    by: dict[str, pl.DataFrame]  # dimension → key, claims_a, claims_b, {layer}_a/_b/_diff
    pay_more: int  # person-years whose patient share rises under B
    pay_less: int
    unchanged: int
    bands: pl.DataFrame  # band, less_people, less_fen, more_people, more_fen
    top: pl.DataFrame  # the TOP largest changes: psn_no, year, claims, psn_part_amt_a/_b, change, fund_pay_sumamt_a/_b
    changed: pl.DataFrame  # claims whose payment changed, A and B side by side


def _ab(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select([c for c in KEEP if c in frame.columns])


def compare_ledgers(a: pl.DataFrame, b: pl.DataFrame) -> Comparison:
    a, b = _ab(a), _ab(b)
    side_b = b.select("setl_id", *[pl.col(c).alias(f"{c}_b") for c in b.columns if c not in ("setl_id", "psn_no", "year", "enddate")])
    joined = a.rename({c: f"{c}_a" for c in a.columns if c not in ("setl_id", "psn_no", "year", "enddate")}).join(side_b, on="setl_id", how="inner")
    only_a = a.height - joined.height
    only_b = b.height - joined.height
    totals_row = joined.select([pl.col(f"{c}_{s}").sum().cast(pl.Int64).alias(f"{c}_{s}") for c in ["medfee_sumamt", *LAYERS] for s in "ab"]).row(0, named=True)
    totals = {c: {"a": int(totals_row[f"{c}_a"] or 0), "b": int(totals_row[f"{c}_b"] or 0)} for c in ["medfee_sumamt", *LAYERS]}
    for v in totals.values():
        v["diff"] = v["b"] - v["a"]

    by = {d: by_dimension(joined, d) for d in DIMENSIONS}

    per = joined.group_by("psn_no", "year").agg(
        pl.len().alias("claims"),
        *[pl.col(f"{c}_{s}").sum().cast(pl.Int64) for c in ("psn_part_amt", "fund_pay_sumamt") for s in "ab"],
    ).with_columns(change=pl.col("psn_part_amt_b") - pl.col("psn_part_amt_a"))
    counts = per.select(
        (pl.col("change") > 0).sum().alias("more"), (pl.col("change") < 0).sum().alias("less"), (pl.col("change") == 0).sum().alias("same"),
    ).row(0, named=True) if per.height else {"more": 0, "less": 0, "same": 0}
    moved = per.filter(pl.col("change") != 0).with_columns(band=_band(pl.col("change")))
    grid = pl.DataFrame({"band": pl.Series(range(len(BANDS) + 1), dtype=pl.Int8)})
    bands = grid.join(
        moved.group_by("band").agg(
            (pl.col("change") < 0).sum().cast(pl.Int64).alias("less_people"),
            pl.when(pl.col("change") < 0).then(-pl.col("change")).otherwise(0).sum().cast(pl.Int64).alias("less_fen"),
            (pl.col("change") > 0).sum().cast(pl.Int64).alias("more_people"),
            pl.when(pl.col("change") > 0).then(pl.col("change")).otherwise(0).sum().cast(pl.Int64).alias("more_fen"),
        ),
        on="band", how="left",
    ).fill_null(0).sort("band").with_columns(band=pl.col("band").replace_strict(dict(enumerate(band_labels())), return_dtype=pl.String))
    top = (
        moved.with_columns(size=pl.col("change").abs())
        .sort(["size", "psn_no", "year"], descending=[True, False, False])
        .head(TOP)
        .select("psn_no", "year", "claims", "psn_part_amt_a", "psn_part_amt_b", "change", "fund_pay_sumamt_a", "fund_pay_sumamt_b")
    )
    pays = ["hifp_pay", "hifmi_pay", "maf_pay", "psn_part_amt"]
    changed = joined.filter(pl.any_horizontal([pl.col(f"{c}_a") != pl.col(f"{c}_b") for c in pays])).with_columns(
        [(pl.col(f"{c}_b") - pl.col(f"{c}_a")).alias(f"{c}_diff") for c in LAYERS]
    )
    return Comparison(
        claims=joined.height, only_a=only_a, only_b=only_b, people=per.height, totals=totals, by=by,
        pay_more=int(counts["more"]), pay_less=int(counts["less"]), unchanged=int(counts["same"]),
        bands=bands, top=top, changed=changed,
    )


def by_dimension(joined: pl.DataFrame, dim: str) -> pl.DataFrame:
    """Costs per value of a dimension under A (grouped by A's value) and B (by B's value: a rule
    set may map the same hospital to another tier), side by side."""
    sides = []
    for s in "ab":
        sides.append(joined.group_by(pl.col(f"{dim}_{s}").alias(dim)).agg(
            pl.len().cast(pl.Int64).alias(f"claims_{s}"), *[pl.col(f"{c}_{s}").sum().cast(pl.Int64) for c in LAYERS]
        ))
    out = sides[0].join(sides[1], on=dim, how="full", coalesce=True).fill_null(0)
    return out.with_columns([(pl.col(f"{c}_b") - pl.col(f"{c}_a")).alias(f"{c}_diff") for c in LAYERS]).sort(dim, nulls_last=True)


def as_json(c: Comparison, top_ids: list[str] | None = None) -> dict[str, Any]:
    return {
        "claims_compared": c.claims,
        "settled_under_a_only": c.only_a,
        "settled_under_b_only": c.only_b,
        "person_years": c.people,
        "totals_fen": c.totals,
        "by": {k: v.to_dicts() for k, v in c.by.items()},
        "people": {"pay_more": c.pay_more, "pay_less": c.pay_less, "unchanged": c.unchanged,
                   "bands_yuan": c.bands.to_dicts()},
        "largest_changes": c.top.to_dicts(),
        "claims_changed": c.changed.height,
    }
