"""Medical assistance (医疗救助): by identity, on what basic insurance and 大病 left of the
compliant amount, above an annual deductible, under one annual limit over all its classes."""

from __future__ import annotations

import polars as pl

from ..annual import (
    NO_CAP,
    RUN_START,
    BandExpr,
    band_part,
    before_in_run,
    banded_share,
    per_claim_banded,
    per_claim_product,
    room_limited,
    running_max,
    running_total,
)
from ..rules import RuleSet
from .scope import identity_lookup, in_classes
from .critical import CAP_PASSES
from .order import I64, opening, per_claim_rounding


def floored_running_total(lf: pl.LazyFrame, x: str, total: str, opening_total: pl.Expr) -> pl.LazyFrame:
    """Running total ``total`` of column ``x`` that never goes below zero; ``x`` becomes each entry's
    contribution to it.

    Only a reversal can pull a total down; when it would pull it below zero (it takes back more
    than the person-year's other entries brought), it takes back only what is there.  With C the
    plain running total, the floored total is C + D where D is the running maximum of (−C)⁺
    within the person-year — one scan, no loop.
    """
    lf = lf.with_columns(**{total: running_total(pl.col(x), opening_total)})
    deficit = running_max(pl.max_horizontal(-pl.col(total), pl.lit(0, dtype=I64)))
    lf = lf.with_columns(_deficit=deficit)
    before = pl.when(pl.col(RUN_START)).then(0).otherwise(pl.col("_deficit").shift(1)).cast(I64)
    return lf.with_columns(
        **{total: pl.col(total) + pl.col("_deficit"), x: pl.col(x) + pl.col("_deficit") - before}
    ).drop("_deficit")


def medical_assistance(lf: pl.LazyFrame, rs: RuleSet, passes: int = CAP_PASSES) -> pl.LazyFrame:
    """Assistance by identity on what is left after basic and 大病; one annual limit over all classes.

    The assistance base runs on over the person-year whatever the identity of each claim (an
    identity can change mid-year).  A reversal's base is what it takes back of basic and 大病;
    after an identity change that can be more than the base its identity ran up, so the running
    base is floored at zero (the reversal then takes back only what is there).
    """
    ma = rs.assistance
    if ma is None or not ma.schemes:
        return lf.with_columns(
            ma_base=pl.lit(0, dtype=I64), ma_before_limit=pl.lit(0, dtype=I64), ytd_assist_base=opening("ytd_assist_base"),
            maf_pay=pl.lit(0, dtype=I64),
        )
    has_scheme = pl.col("ident").is_in([rs.identities.index(k) for k in ma.schemes])
    base = (
        pl.when(has_scheme & in_classes(ma.classes) & pl.col("covered"))
        .then(pl.col("scope") + pl.col("pre") - pl.col("hifp_pay") - pl.col("hifmi_pay"))
        .otherwise(0)
    )
    lf = lf.with_columns(
        ma_base=base,
        ma_ratio=identity_lookup({k: s.ratio for k, s in ma.schemes.items()}, rs, 0),
        ma_deductible=identity_lookup({k: s.annual_deductible for k, s in ma.schemes.items()}, rs, 0),
        ma_limit=identity_lookup({k: s.annual_limit if s.annual_limit is not None else -1 for k, s in ma.schemes.items()}, rs, -1),
    ).with_columns(ma_limit=pl.when(pl.col("ma_limit") < 0).then(None).otherwise(pl.col("ma_limit")))
    lf = floored_running_total(lf, "ma_base", "ytd_assist_base", opening("ytd_assist_base"))
    band = [BandExpr(lower=pl.col("ma_deductible"), upper=None, ratio_bp=pl.col("ma_ratio"))]
    after, x, limit = pl.col("ytd_assist_base"), pl.col("ma_base"), pl.col("ma_limit").fill_null(NO_CAP)
    if not per_claim_rounding(rs):
        return lf.with_columns(ma_before_limit=banded_share(after, x, band, None), maf_pay=banded_share(after, x, band, limit))
    # the receipt: this claim's part above the deductible still to bear × ratio, rounded once; the
    # limit of its identity then takes the room left.  A reversal gives back what its original paid.
    rev = pl.col("is_reversal") & pl.col("fixed_maf_pay").is_not_null()
    lf = lf.with_columns(
        ma_before_limit=pl.when(rev).then(pl.col("fixed_maf_pay")).otherwise(per_claim_banded(after, x, band)),
        # the receipt's figures, for explain: the part above the deductible still to bear, × ratio
        ma_part=pl.when(~rev).then(band_part(after, x, band[0])),
        ma_product=pl.when(~rev).then(per_claim_product(after, x, band)),
    )
    barrier = pl.when(pl.col("is_reversal")).then(pl.lit(NO_CAP, dtype=I64)).otherwise(limit)
    lf = room_limited(lf, "ma_before_limit", "_ma_paid", opening("ytd_maf"), barrier, passes)
    paid = pl.col("_ma_paid") - before_in_run(pl.col("_ma_paid"), opening("ytd_maf"))
    return lf.with_columns(maf_pay=paid).drop("_ma_paid")
