"""Basic insurance (基本医疗保险统筹基金): one layer per benefit class — inpatient, general
outpatient, chronic outpatient, two diseases — then the annual caps over cumulative payments.

A layer sets ``dedc`` (deductible borne), ``ratio_bp`` and ``hifp_raw`` (the payment before the
annual caps) for its own class; ``annual_caps`` turns ``hifp_raw`` into ``hifp_pay``.  A region
whose basic fund has already settled takes the payment as reported (``basic_reported``).
"""

from __future__ import annotations

import polars as pl

from ..annual import (
    NO_CAP,
    BandExpr,
    band_part,
    before_in_run,
    banded_share,
    capped_share,
    per_claim_banded,
    per_claim_product,
    room_limited,
    running_total,
)
from ..money import BP, apply_ratio
from ..rules import RuleSet, TierAmounts, TierRatios
from .scope import clamp_ratio, identity_lookup, in_classes, is_cls
from .order import I64, PLACE_ID, cap_accumulator, opening, per_claim_rounding


def tier_place_lookup(table: TierAmounts | TierRatios, rs: RuleSet) -> pl.Expr:
    """Value by (tier, place): the place's own row where given, else the tier's value."""
    mapping: dict[int, int] = {}
    for ti, tier in enumerate(rs.tiers):
        for place, pi in PLACE_ID.items():
            mapping[ti * 8 + pi] = table.by_place.get(place, {}).get(tier, table.by_tier[tier])
    key = pl.col("tier").cast(pl.Int32) * 8 + pl.col("place").cast(pl.Int32)
    return key.replace_strict(mapping, default=0, return_dtype=I64)


def basic_inpatient(lf: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Per-admission deductible by tier/place (2nd/3rd-admission and identity factors), ratio, raw payment."""
    ip = rs.basic.inpatient
    if ip is None:
        return lf
    this = is_cls("inpatient") & pl.col("covered")
    # a reversal gives its admission back, so the next admission gets the right number
    step = pl.when(pl.col("is_reversal")).then(-1).otherwise(1) * this.cast(I64)
    lf = lf.with_columns(ip_admission_no=running_total(step, opening("ytd_admissions")))
    lf = lf.with_columns(ytd_admissions=pl.col("ip_admission_no"))

    repeat = pl.lit(BP, dtype=I64)
    if ip.repeat_admission:
        # the factor of the largest configured n ≤ this admission's number
        for n, factor in sorted(ip.repeat_admission.deductible_factor_by_nth.items()):
            repeat = pl.when(pl.col("ip_admission_no") >= n).then(pl.lit(factor, dtype=I64)).otherwise(repeat)
    ident_factor = identity_lookup({k: v.deductible_factor for k, v in ip.identity.items()}, rs, BP)
    ident_points = identity_lookup({k: v.ratio_points for k, v in ip.identity.items()}, rs, 0)

    referral = pl.lit(0, dtype=I64)
    if ip.referral:
        # points by (place, referred): the rule set's table, with its shorthand for unlisted places
        table = {pi * 2 + int(ref): ip.referral.points(place, ref) for place, pi in PLACE_ID.items() for ref in (False, True)}
        key = pl.col("place").cast(pl.Int32) * 2 + pl.col("refl_flag").fill_null(False).cast(pl.Int32)
        referral = key.replace_strict(table, default=0, return_dtype=I64)
    lf = lf.with_columns(
        ip_deductible_base=tier_place_lookup(ip.deductible, rs),
        ip_repeat_factor=repeat,
        ip_identity_factor=ident_factor,
        ip_ratio_base=tier_place_lookup(ip.ratio, rs),
        ip_referral_points=referral,
        ip_identity_points=ident_points,
    ).with_columns(
        # deductible × repeat factor × identity factor, rounded half-up once
        ip_deductible=(pl.col("ip_deductible_base") * pl.col("ip_repeat_factor") * pl.col("ip_identity_factor") + BP * BP // 2)
        // (BP * BP),
        ip_ratio=clamp_ratio(pl.col("ip_ratio_base") + pl.col("ip_referral_points") + pl.col("ip_identity_points")),
    )
    return lf.with_columns(
        dedc=pl.when(this).then(pl.min_horizontal("scope", "ip_deductible")).otherwise(pl.col("dedc")),
        ratio_bp=pl.when(this).then(pl.col("ip_ratio")).otherwise(pl.col("ratio_bp")),
        hifp_raw=pl.when(this)
        .then(apply_ratio(pl.max_horizontal(pl.col("scope") - pl.col("ip_deductible"), 0), pl.col("ip_ratio")))
        .otherwise(pl.col("hifp_raw")),
    )


def basic_general_outpatient(lf: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Ratio by tier, optional per-visit deductible and cap (the annual limit is an annual cap)."""
    go = rs.basic.general_outpatient
    if go is None:
        return lf
    this = is_cls("general_outpatient") & pl.col("covered")
    ded = go.per_visit_deductible.value if go.per_visit_deductible else 0
    ratio = tier_place_lookup(go.ratio, rs)
    raw = apply_ratio(pl.max_horizontal(pl.col("scope") - ded, 0), ratio)
    if go.per_visit_cap:
        raw = pl.min_horizontal(raw, go.per_visit_cap.value)
    return lf.with_columns(
        dedc=pl.when(this).then(pl.min_horizontal("scope", pl.lit(ded, dtype=I64))).otherwise(pl.col("dedc")),
        ratio_bp=pl.when(this).then(ratio).otherwise(pl.col("ratio_bp")),
        hifp_raw=pl.when(this).then(raw).otherwise(pl.col("hifp_raw")),
    )


def basic_chronic_outpatient(lf: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Annual cumulative deductible, then the ratio, on the year's chronic policy-scope total."""
    co = rs.basic.chronic_outpatient
    if co is None:
        return lf
    this = is_cls("chronic_outpatient") & pl.col("covered")
    x = pl.when(this).then(pl.col("scope")).otherwise(0)
    lf = lf.with_columns(ytd_chronic_scope=running_total(x, opening("ytd_chronic_scope")), co_x=x)
    d = co.annual_deductible.value
    after = pl.col("ytd_chronic_scope")
    band = [BandExpr(lower=d, upper=None, ratio_bp=co.ratio.value)]
    # per claim: this claim's part above the deductible still to bear × ratio, rounded on its own
    raw = per_claim_banded(after, pl.col("co_x"), band) if per_claim_rounding(rs) else banded_share(after, pl.col("co_x"), band, None)
    if per_claim_rounding(rs):  # the receipt's figures, for explain
        lf = lf.with_columns(
            co_part=pl.when(this).then(band_part(after, pl.col("co_x"), band[0])),
            co_product=pl.when(this).then(per_claim_product(after, pl.col("co_x"), band)),
        )
    return lf.with_columns(
        dedc=pl.when(this).then(capped_share(after, pl.col("co_x"), d)).otherwise(pl.col("dedc")),
        ratio_bp=pl.when(this).then(pl.lit(co.ratio.value, dtype=I64)).otherwise(pl.col("ratio_bp")),
        hifp_raw=pl.when(this).then(raw).otherwise(pl.col("hifp_raw")),
    ).drop("co_x")


def basic_two_diseases(lf: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    td = rs.basic.two_diseases
    if td is None:
        return lf
    this = is_cls("two_diseases") & pl.col("covered")
    return lf.with_columns(
        ratio_bp=pl.when(this).then(pl.lit(td.ratio.value, dtype=I64)).otherwise(pl.col("ratio_bp")),
        hifp_raw=pl.when(this).then(apply_ratio(pl.col("scope"), td.ratio.value)).otherwise(pl.col("hifp_raw")),
    )


def annual_caps(lf: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Annual limits on cumulative basic payments, each over its classes, in rule-file order.

    ``ytd_cap_<name>``: cumulative, what reached the cap (the cap applies to it: F = min(cap, ·));
    per claim, what was paid under it (the room left is cap − that).  The two agree until a cap
    cuts.
    """
    have = set(lf.collect_schema().names())
    lf = lf.with_columns(hifp_pay=pl.col("hifp_raw"), **{
        f"fixed_cap_{c.name}": pl.lit(None, dtype=I64) for c in rs.basic.annual_caps if f"fixed_cap_{c.name}" not in have
    })
    per_claim = per_claim_rounding(rs)
    rev = pl.col("is_reversal")
    for cap in rs.basic.annual_caps:
        acc = cap_accumulator(cap.name)
        member = in_classes(cap.classes)
        x = pl.when(member).then(pl.col("hifp_pay")).otherwise(0)
        x_col = f"cap_in_{cap.name}"  # what this claim brings to the cap (kept for explain)
        if per_claim:
            # a reversal gives back what its original paid under this cap, no cap applying to it
            fixed = f"fixed_cap_{cap.name}"
            x = pl.when(rev & pl.col(fixed).is_not_null()).then(pl.col(fixed)).otherwise(x)
            lf = lf.with_columns(**{x_col: x})
            barrier = pl.when(rev).then(pl.lit(NO_CAP, dtype=I64)).otherwise(pl.lit(cap.value, dtype=I64))
            lf = room_limited(lf, x_col, acc, opening(acc), barrier)
            share = pl.col(acc) - before_in_run(pl.col(acc), opening(acc))
        else:
            lf = lf.with_columns(**{acc: running_total(x, opening(acc)), x_col: x})
            share = capped_share(pl.col(acc), pl.col(x_col), cap.value)
        lf = lf.with_columns(
            hifp_pay=pl.when(member).then(share).otherwise(pl.col("hifp_pay")),
        ).with_columns(
            **{f"cap_cut_{cap.name}": pl.col(x_col) - pl.when(member).then(pl.col("hifp_pay")).otherwise(0)}
        )
    if per_claim:
        lf = lf.with_columns(
            hifp_pay=pl.when(rev & pl.col("fixed_hifp_pay").is_not_null()).then(pl.col("fixed_hifp_pay")).otherwise(pl.col("hifp_pay"))
        )
    return lf


def reversal_fixed_amounts(lf: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """A reversal takes back the original's raw basic payment and deductible as they were.

    With ``rounding: cumulative`` the annual quantities (caps, the chronic annual deductible, 大病,
    assistance) are not copied: the reversal's negative amounts run through the same cumulative
    formulas, so its share is the change of the annual formula — the year's net totals stay equal
    to F(net totals).  There the chronic class's raw payment is annual too and is recomputed.
    With ``per_claim`` every figure of the receipt is given back as it was (see ``annual_caps``,
    ``critical_illness``, ``medical_assistance``).
    """
    rev = pl.col("is_reversal") & pl.col("fixed_hifp_raw").is_not_null()
    if not per_claim_rounding(rs):
        rev = rev & ~is_cls("chronic_outpatient")
    return lf.with_columns(
        hifp_raw=pl.when(rev).then(pl.col("fixed_hifp_raw")).otherwise(pl.col("hifp_raw")),
        dedc=pl.when(rev).then(pl.col("fixed_dedc")).otherwise(pl.col("dedc")),
    )


def basic_reported(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Basic insurance as already settled by the basic fund (a 大病 insurer's view): take it as given."""
    return lf.with_columns(
        hifp_raw=pl.when("covered").then(pl.col("reported_hifp_pay")).otherwise(0),
    )
