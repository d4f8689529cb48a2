"""Critical-illness insurance (大病保险): bands on the absolute cumulative compliant personal
burden left after basic insurance, with identity tilts (threshold factor, ratio points, no cap)
and an annual cap."""

from __future__ import annotations

import polars as pl

from ..annual import (
    NO_CAP,
    BandExpr,
    band_part,
    before_in_run,
    banded_share,
    per_claim_banded,
    per_claim_product,
    room_limited,
    running_total,
)
from ..money import BP
from ..rules import RuleSet
from .scope import clamp_ratio, identity_lookup, in_classes
from .order import I64, opening, per_claim_rounding


#: Passes of the per-claim cap recursion (``annual.room_limited``) for caps that depend on the
#: identity; settle again with more when ``needs_more_passes`` says so.
CAP_PASSES = 3


def critical_illness(lf: pl.LazyFrame, rs: RuleSet, passes: int = CAP_PASSES) -> pl.LazyFrame:
    """大病: banded payment on the absolute cumulative compliant personal burden.

    The base (policy scope − basic payment + counted class-B self-pay) is integer fen, so the
    cumulative base before and after a claim gives its part in each segment exactly.  Per claim,
    Σ part × ratio is rounded once and the annual cap limits it to the room left; cumulative, the
    share is F(after) − F(before).  ``ci_before_cap`` is this claim's payment before the cap.
    """
    ci = rs.critical
    if ci is None:
        zero = pl.lit(0, dtype=I64)
        return lf.with_columns(
            ci_base=zero, ci_threshold=zero, ci_ratio_points=zero, ci_cap=pl.lit(None, dtype=I64), ci_cap_cut=zero,
            ci_product=zero, ci_before_cap=zero, ytd_critical_base=opening("ytd_critical_base"), hifmi_pay=zero,
        )
    base = pl.when(in_classes(ci.classes) & pl.col("covered")).then(pl.col("scope") - pl.col("hifp_pay") + pl.col("pre")).otherwise(0)
    tilt = ci.identity_tilt
    factor = identity_lookup({k: t.threshold_factor for k, t in tilt.items()}, rs, BP)
    points = identity_lookup({k: t.ratio_points for k, t in tilt.items()}, rs, 0)
    lf = lf.with_columns(
        ci_base=base,
        ci_threshold=(pl.lit(ci.segments.bands[0].from_, dtype=I64) * factor + BP // 2) // BP,
        ci_ratio_points=points,
    )
    if ci.annual_cap is not None:
        no_cap = [rs.identities.index(k) for k, t in tilt.items() if t.no_cap]
        lf = lf.with_columns(
            ci_cap=pl.when(pl.col("ident").is_in(no_cap)).then(None).otherwise(pl.lit(ci.annual_cap.value, dtype=I64))
        )
        cap_expr = pl.col("ci_cap").fill_null(NO_CAP)  # no cap for tilted identities
    else:
        lf = lf.with_columns(ci_cap=pl.lit(None, dtype=I64))
        cap_expr = None
    bands = [
        BandExpr(
            lower=pl.col("ci_threshold") if i == 0 else band.from_,
            upper=band.to,
            ratio_bp=clamp_ratio(pl.lit(band.ratio, dtype=I64) + pl.col("ci_ratio_points")),
        )
        for i, band in enumerate(ci.segments.bands)
    ]
    lf = lf.with_columns(ytd_critical_base=running_total(pl.col("ci_base"), opening("ytd_critical_base")))
    after, x = pl.col("ytd_critical_base"), pl.col("ci_base")
    # for explain: the part of this claim's base that fell in each band, and that band's ratio
    lf = lf.with_columns(
        **{f"ci_band{i}_base": band_part(after, x, b) for i, b in enumerate(bands)},
        **{f"ci_band{i}_ratio": b.ratio_bp for i, b in enumerate(bands)},
        ci_product=per_claim_product(after, x, bands),  # Σ part × ratio, fen × bp, before rounding
    )
    # what each band paid before the cap: differences of the payment over the first k bands, so
    # the bands add up exactly to hifmi_pay + ci_cap_cut (per claim: Σ part × ratio rounded once)
    share = per_claim_banded if per_claim_rounding(rs) else (lambda a, b, bs: banded_share(a, b, bs, None))

    def through(k: int) -> pl.Expr:
        return share(after, x, bands[:k]) if k else pl.lit(0, dtype=I64)

    uncapped = through(len(bands))
    lf = lf.with_columns(**{f"ci_band{i}_pay": through(i + 1) - through(i) for i in range(len(bands))})
    if not per_claim_rounding(rs):
        return lf.with_columns(ci_before_cap=uncapped, hifmi_pay=banded_share(after, x, bands, cap_expr)).with_columns(
            ci_cap_cut=pl.col("ci_before_cap") - pl.col("hifmi_pay")
        )
    # a reversal gives back what its original paid; the cap limits a claim to the room left under
    # the cap of its own identity, on what the year has paid so far
    rev = pl.col("is_reversal") & pl.col("fixed_hifmi_pay").is_not_null()
    lf = lf.with_columns(ci_before_cap=pl.when(rev).then(pl.col("fixed_hifmi_pay")).otherwise(uncapped))
    barrier = pl.when(pl.col("is_reversal")).then(pl.lit(NO_CAP, dtype=I64)).otherwise(cap_expr if cap_expr is not None else NO_CAP)
    lf = room_limited(lf, "ci_before_cap", "_ci_paid", opening("ytd_hifmi"), barrier, passes)
    paid = pl.col("_ci_paid") - before_in_run(pl.col("_ci_paid"), opening("ytd_hifmi"))
    return lf.with_columns(hifmi_pay=paid).with_columns(ci_cap_cut=pl.col("ci_before_cap") - pl.col("hifmi_pay")).drop("_ci_paid")
