"""The waterfall: basic insurance → 大病 → medical assistance over ordered claims, then what the
funds pay in all, what the patient pays, the running totals after each claim, and the flags."""

from __future__ import annotations

import polars as pl

from ..annual import mark_run_first, running_total
from ..rules import RuleSet
from .assistance import medical_assistance
from .basic import (
    annual_caps,
    basic_chronic_outpatient,
    basic_general_outpatient,
    basic_inpatient,
    basic_reported,
    basic_two_diseases,
    reversal_fixed_amounts,
)
from .scope import coverage
from .critical import CAP_PASSES, critical_illness
from .order import I64, accumulator_columns, join_openings, opening, order_claims


def needs_more_passes(ledger: pl.DataFrame) -> bool:
    """A claim whose capped 大病 or assistance payment came out negative: more identity changes to
    a lower cap in one person-year than the passes covered."""
    if ledger.height == 0:
        return False
    bad = ~pl.col("is_reversal") & ((pl.col("hifmi_pay") < 0) | (pl.col("maf_pay") < 0))
    return bool(ledger.select(bad.any()).item())


def waterfall(lf: pl.LazyFrame) -> pl.LazyFrame:
    """What the funds pay in all, what the patient pays, and the year's running totals after the claim."""
    lf = lf.with_columns(
        act_pay_dedc=pl.col("dedc"),
        fund_pay_sumamt=pl.col("hifp_pay") + pl.col("hifmi_pay") + pl.col("maf_pay"),
    ).with_columns(psn_part_amt=pl.col("medfee_sumamt") - pl.col("fund_pay_sumamt"))
    totals = {
        "ytd_claims": pl.when(pl.col("is_reversal")).then(-1).otherwise(1).cast(I64),
        "ytd_medfee": pl.col("medfee_sumamt"),
        "ytd_hifp": pl.col("hifp_pay"),
        "ytd_hifmi": pl.col("hifmi_pay"),
        "ytd_maf": pl.col("maf_pay"),
        "ytd_psn_part": pl.col("psn_part_amt"),
    }
    return lf.with_columns(**{k: running_total(v, opening(k)) for k, v in totals.items()})


def flags(lf: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Flags for people and auditors: a cap cut this claim, 大病 threshold crossed, not covered."""
    cuts = [pl.col(f"cap_cut_{c.name}") > 0 for c in rs.basic.annual_caps]
    return lf.with_columns(
        basic_cap_reached=pl.any_horizontal(cuts) if cuts else pl.lit(False),
        critical_cap_reached=pl.col("ci_cap_cut") > 0,
        critical_threshold_reached=pl.col("ytd_critical_base") > pl.col("ci_threshold"),
        not_covered=~pl.col("covered"),
    )


# ------------------------------------------------------------------ the whole pipeline


def settle_period(claims: pl.LazyFrame, rs: RuleSet, openings: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Settle mapped, covered-or-not claims of one rule-set period.  Returns the ordered ledger frame."""
    lf = order_claims(claims, rs)
    return settle_ordered(lf, rs, openings)


def settle_ordered(lf: pl.LazyFrame, rs: RuleSet, openings: pl.LazyFrame | None, passes: int = CAP_PASSES) -> pl.LazyFrame:
    lf = join_openings(lf.with_columns(mark_run_first()), openings, accumulator_columns(rs))
    lf = coverage(lf, rs).with_columns(
        dedc=pl.lit(0, dtype=I64), ratio_bp=pl.lit(0, dtype=I64), hifp_raw=pl.lit(0, dtype=I64),
        ytd_admissions=opening("ytd_admissions"), ytd_chronic_scope=opening("ytd_chronic_scope"),
    )
    if rs.basic.reported is not None:
        lf = basic_reported(lf)
    else:
        for layer in (basic_inpatient, basic_general_outpatient, basic_chronic_outpatient, basic_two_diseases):
            lf = layer(lf, rs)
        lf = reversal_fixed_amounts(lf, rs)
    lf = annual_caps(lf, rs)
    lf = critical_illness(lf, rs, passes)
    lf = medical_assistance(lf, rs, passes)
    lf = waterfall(lf)
    return flags(lf, rs)
