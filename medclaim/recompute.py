"""The engine's working figures for stored ledger rows, recomputed by the same engine.

A ledger keeps what was paid and the running totals after each claim, not the engine's working
figures (deductible parts, ratio parts, cap inputs, 大病 per band …; see ``settle.lean``).  To
show (``medclaim explain``) or audit them, the rows of each run are settled again with the rule
set they name, each person-year opening with the running totals the ledger holds after its last
entry before them — exactly what the run itself started from — so the result is what settle
computed, figure for figure.  Every column the ledger does keep is compared with the recomputed
one: a difference (a rule file edited since, a damaged ledger) is reported, never papered over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from .engine import KEYS, map_codes
from .rules import RuleSet
from .schema import CLAIM_SCHEMA
from .settle import is_working_column, settle_period

#: Classes whose basic payment and deductible are per claim: a reversal takes them back as they were.
PER_CLAIM_CLASSES = ["inpatient", "general_outpatient", "two_diseases"]
#: What the recomputation must reproduce (besides every ``ytd_*`` running total).
COMPARED = [
    "benefit_class", "tier", "place", "identity", "year", "not_covered", "not_covered_reason", "act_pay_dedc", "hifp_raw",
    "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt", "basic_cap_reached", "critical_cap_reached",
    "critical_threshold_reached",
]
_ROW = "_ledger_row"
_GROUP = "_settle_group"


class RecomputeError(Exception):
    """The rows cannot be settled again (a code the rule set no longer maps, a rule set missing)."""


@dataclass
class Recomputed:
    rows: pl.DataFrame  # the ledger rows, in their order, with the engine's working figures added
    differences: pl.DataFrame  # setl_id, entry_no, column, ledger, recomputed (text); empty when all agree


def needs_recompute(rows: pl.DataFrame) -> bool:
    """A stored (lean) ledger lacks the working figures; an in-memory settlement has them."""
    return "scope" not in rows.columns


def reversal_fixed(rows: pl.DataFrame) -> list[pl.Expr]:
    """A reversal row holds the per-claim raw payment and deductible it took back; settling it
    again takes back the same (``engine.reversal_fixed_amounts``)."""
    fixed = pl.col("is_reversal") & pl.col("benefit_class").is_in(PER_CLAIM_CLASSES)
    return [
        pl.when(fixed).then(pl.col("hifp_raw")).otherwise(None).cast(pl.Int64).alias("fixed_hifp_raw"),
        pl.when(fixed).then(pl.col("act_pay_dedc")).otherwise(None).cast(pl.Int64).alias("fixed_dedc"),
    ]


def _groups(rows: pl.DataFrame) -> pl.DataFrame:
    """Number the settlements the rows came from, in the order they were made: runs in order and,
    within a run, rule-set periods in the order the run settled them (ledger order)."""
    order = "entry_no" if "entry_no" in rows.columns else _ROW
    run = pl.col("run") if "run" in rows.columns else pl.lit(0)
    first = pl.col(order).min().over(run, "ruleset_id")
    return rows.with_columns(_key=pl.struct(run.alias("r"), first.alias("f"))).with_columns(
        pl.col("_key").rank("dense").cast(pl.Int32).alias(_GROUP)
    ).drop("_key")


def recompute(rows: pl.DataFrame, rulesets: Mapping[str, RuleSet]) -> Recomputed:
    """Settle ``rows`` (stored ledger rows of one or more person-years, all of each person-year's
    rows) again and return them with the engine's working figures.  A loop per run and rule set,
    never per claim."""
    rows = _groups(rows.with_row_index(_ROW))
    order = "entry_no" if "entry_no" in rows.columns else _ROW
    ytd = [c for c in rows.columns if c.startswith("ytd_")]
    claim_cols = [c for c in CLAIM_SCHEMA if c in rows.columns]
    settled = []
    for group in rows[_GROUP].unique().sort().to_list():
        these = rows.filter(pl.col(_GROUP) == group)
        rid = these["ruleset_id"][0]
        if rid not in rulesets:
            raise RecomputeError(f"rule set {rid}, named by the ledger, is not loaded")
        rs = rulesets[rid]
        earlier = rows.filter(pl.col(_GROUP) < group)
        openings = (
            earlier.sort(order).group_by(KEYS, maintain_order=True).last().select(KEYS + [pl.col(c).fill_null(0) for c in ytd])
            if earlier.height
            else None
        )
        claims = these.select(
            *[pl.col(c).cast(CLAIM_SCHEMA[c]) for c in claim_cols], pl.col("is_reversal"), *reversal_fixed(these), pl.col(_ROW)
        )
        mapped = map_codes(claims.lazy(), rs).collect()
        unmapped = mapped.filter(pl.col("unmapped_column").is_not_null())
        if unmapped.height:
            r = unmapped.row(0, named=True)
            raise RecomputeError(
                f"settlement {r['setl_id']}: {r['unmapped_column']} '{r[r['unmapped_column']]}' is no longer mapped by rule set {rid} "
                "— give the rule file the ledger was settled with (--rules)"
            )
        settled.append(pl.concat(list(settle_period(mapped, rs, openings)), how="diagonal_relaxed"))
    again = pl.concat(settled, how="diagonal_relaxed") if settled else pl.DataFrame(schema={_ROW: pl.UInt32})
    working = [c for c in again.columns if is_working_column(c) and c not in rows.columns]
    out = rows.join(again.select(_ROW, *working), on=_ROW, how="left").sort(_ROW)
    return Recomputed(rows=out.drop(_ROW, _GROUP), differences=_differences(rows, again, ytd))


def _differences(rows: pl.DataFrame, again: pl.DataFrame, ytd: list[str]) -> pl.DataFrame:
    compared = [c for c in COMPARED + ytd if c in rows.columns and c in again.columns]
    both = rows.join(again.select(_ROW, *compared), on=_ROW, how="left", suffix="__again")
    ident = ["setl_id"] + (["entry_no"] if "entry_no" in rows.columns else [])
    found = []
    for c in compared:
        left, right = pl.col(c), pl.col(f"{c}__again")
        if c.startswith("ytd_"):  # a running total another period's rule set lacks reads as null or 0
            left, right = left.fill_null(0), right.fill_null(0)
        bad = both.filter(left.ne_missing(right))
        if bad.height:
            found.append(
                bad.select(
                    *ident,
                    pl.lit(c).alias("column"),
                    pl.col(c).cast(pl.String).alias("ledger"),
                    pl.col(f"{c}__again").cast(pl.String).alias("recomputed"),
                )
            )
    schema = {"setl_id": pl.String, **({"entry_no": pl.Int64} if "entry_no" in ident else {}), "column": pl.String,
              "ledger": pl.String, "recomputed": pl.String}
    return pl.concat(found, how="diagonal_relaxed") if found else pl.DataFrame(schema=schema)
