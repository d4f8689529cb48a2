"""Coverage: which claims the funds look at, and the policy-scope amounts they look at; the
lookups by benefit class and identity every layer shares."""

from __future__ import annotations

import polars as pl

from ..money import BP
from ..rules import EXCLUDED, RuleSet
from .order import CLASS_ID, I64


def coverage(lf: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Which claims the funds look at, and the compliant amounts they look at.

    ``scope`` is the policy-scope amount of a covered claim (0 when not covered), ``pre`` the
    class-B first self-pay counted toward 大病/assistance where the region counts it.
    """
    is_class = pl.col("cls")
    go = rs.basic.general_outpatient
    go_tiers = [rs.tiers.index(t) for t in go.covered_tiers] if go and go.covered_tiers is not None else None
    reason = (
        pl.when(is_class == CLASS_ID[EXCLUDED])
        .then(pl.lit("class_excluded"))
        .when(pl.col("benefit_start").is_not_null() & (pl.col("begndate") < pl.col("benefit_start")))
        .then(pl.lit("before_benefit_start"))
        .when(pl.col("coverage_end").is_not_null() & (pl.col("begndate") > pl.col("coverage_end")))
        .then(pl.lit("after_coverage_end"))
    )
    if go_tiers is not None:
        reason = reason.when((is_class == CLASS_ID["general_outpatient"]) & ~pl.col("tier").is_in(go_tiers)).then(
            pl.lit("general_outpatient_tier_not_covered")
        )
    reason = reason.otherwise(None)
    # class-B first self-pay joins the compliant amount only for the 大病 classes of a region that
    # counts it; assistance then works on what 大病 left of that same compliant amount
    counts_pre = rs.critical is not None and rs.critical.include_preselfpay is not None
    pre_classes = in_classes(rs.critical.classes) if counts_pre else pl.lit(False)
    return lf.with_columns(not_covered_reason=reason).with_columns(
        covered=pl.col("not_covered_reason").is_null(),
    ).with_columns(
        scope=pl.when("covered").then(pl.col("inscp_scp_amt")).otherwise(0),
        pre=pl.when(pl.col("covered") & pre_classes).then(pl.col("preselfpay_amt")).otherwise(0) if counts_pre else pl.lit(0, dtype=I64),
    )


def is_cls(name: str) -> pl.Expr:
    return pl.col("cls") == CLASS_ID[name]


def in_classes(names: list[str]) -> pl.Expr:
    return pl.col("cls").is_in([CLASS_ID[n] for n in names])


def identity_lookup(values: dict[str, int], rs: RuleSet, default: int) -> pl.Expr:
    mapping = {i: values.get(name, default) for i, name in enumerate(rs.identities)}
    return pl.col("ident").replace_strict(mapping, default=default, return_dtype=I64)


def clamp_ratio(bp: pl.Expr) -> pl.Expr:
    return pl.min_horizontal(pl.max_horizontal(bp, pl.lit(0, dtype=I64)), pl.lit(BP, dtype=I64))
