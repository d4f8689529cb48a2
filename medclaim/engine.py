"""The three-layer settlement engine: basic insurance → 大病 → medical assistance.

Pure functions over polars LazyFrames, one per policy concept.  The frame flows:

    map_codes → order_claims → join_openings → coverage → basic_* → annual_caps
              → critical_illness → medical_assistance → waterfall

Claims are sorted once (integer person hash, year, end date, start date, settlement id) and every
annual quantity is a cumulative sum over that order (``medclaim.annual``).  Each person-year may
start from opening running totals (the ``ytd_*`` accumulator columns) left by earlier runs.
All money is Int64 fen; ratios are Int64 basis points.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .annual import (
    NO_CAP,
    RUN_FIRST,
    RUN_START,
    BandExpr,
    band_part,
    before_in_run,
    banded_share,
    capped_share,
    last_in_run,
    mark_run_first,
    per_claim_banded,
    per_claim_product,
    room_limited,
    running_total,
)
from .money import BP, apply_ratio
from .rules import BENEFIT_CLASSES, EXCLUDED, ORDINARY, PLACES, RuleSet, TierAmounts, TierRatios

I64 = pl.Int64
KEYS = ["psn_no", "year"]

# Class ids are fixed (0..3 = BENEFIT_CLASSES, 9 = excluded) so ledgers of different rule sets agree.
CLASS_ID = {name: i for i, name in enumerate(BENEFIT_CLASSES)} | {EXCLUDED: 9}
PLACE_ID = {name: i for i, name in enumerate(PLACES)}


def fixed_accumulators() -> list[str]:
    return [
        "ytd_claims",
        "ytd_admissions",
        "ytd_chronic_scope",
        "ytd_critical_base",
        "ytd_assist_base",
        "ytd_medfee",
        "ytd_hifp",
        "ytd_hifmi",
        "ytd_maf",
        "ytd_psn_part",
    ]


def cap_accumulator(name: str) -> str:
    return f"ytd_cap_{name}"


def accumulator_columns(rs: RuleSet) -> list[str]:
    """The per-person-year running totals this rule set needs (and the ledger keeps)."""
    return fixed_accumulators() + [cap_accumulator(c.name) for c in rs.basic.annual_caps]


# ------------------------------------------------------------------ codes → rule-set keys


@dataclass(frozen=True)
class CodeProblem:
    column: str
    value: str


def map_codes(claims: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Translate exported codes/names into the rule set's keys as small integers.

    Unmapped values become null ids; ``unmapped_column`` names the first one (for the reject).
    """
    c = rs.codes
    tier_id = {t: i for i, t in enumerate(rs.tiers)}
    ident_id = {t: i for i, t in enumerate(rs.identities)}

    def lookup(col: str, table: dict[str, str], ids: dict[str, int]) -> pl.Expr:
        mapping = {code.strip(): ids[key] for code, key in table.items()}
        return (
            pl.col(col).fill_null("").str.strip_chars().replace_strict(mapping, default=None, return_dtype=pl.UInt8)
        )

    lf = claims.with_columns(
        cls=lookup("med_type", c.med_type, CLASS_ID),
        tier=lookup("hosp_lv", c.hosp_lv, tier_id),
        place=lookup("pay_loc", c.pay_loc, PLACE_ID),
        ident=lookup("psn_idet_type", c.identity, ident_id),
    )
    unmapped = pl.coalesce(
        *[pl.when(pl.col(k).is_null()).then(pl.lit(src)) for k, src in
          [("cls", "med_type"), ("tier", "hosp_lv"), ("place", "pay_loc"), ("ident", "psn_idet_type")]]
    )
    return lf.with_columns(unmapped_column=unmapped)


# ------------------------------------------------------------------ order and openings


def benefit_year(rs: RuleSet) -> pl.Expr:
    return pl.col(rs.ruleset.benefit_year_by).dt.year().cast(pl.Int32)


#: Optional columns of a reversal entry (冲正): the original claim's figures, negated.  With
#: ``rounding: cumulative`` only the raw basic payment and deductible of the per-claim classes are
#: taken as they were (annual figures are recomputed); with ``per_claim`` everything is — a
#: reversal gives back exactly what its receipt paid (``fixed_cap_<name>``: what it paid under each
#: annual cap).
REVERSAL_DEFAULTS = {
    "is_reversal": pl.lit(False),
    "fixed_hifp_raw": pl.lit(None, dtype=I64),
    "fixed_dedc": pl.lit(None, dtype=I64),
    "fixed_hifp_pay": pl.lit(None, dtype=I64),
    "fixed_hifmi_pay": pl.lit(None, dtype=I64),
    "fixed_maf_pay": pl.lit(None, dtype=I64),
}
SORT_KEYS = ["year", "entry_rank", "enddate", "begndate", "setl_id"]


#: Columns a roster adds (``medclaim.roster.apply_roster``); without one, these defaults.
ROSTER_DEFAULTS = {
    "coverage_end": pl.lit(None, dtype=pl.Date),
    "identity_mismatch": pl.lit(False),
    "claim_idet_type": pl.lit(None, dtype=pl.String),
}


def with_entry_defaults(lf: pl.LazyFrame) -> pl.LazyFrame:
    have = set(lf.collect_schema().names())
    defaults = REVERSAL_DEFAULTS | ROSTER_DEFAULTS
    lf = lf.with_columns([v.alias(k) for k, v in defaults.items() if k not in have])
    lf = lf.with_columns([pl.col(k).cast(I64) for k in REVERSAL_DEFAULTS if k != "is_reversal"])
    # within a run, reversals of earlier claims come before the run's new claims
    return lf.with_columns(entry_rank=pl.when("is_reversal").then(0).otherwise(1).cast(pl.Int8))


def order_claims(lf: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Settlement order within each person-year: end date, start date, settlement id.

    Sorting by an integer hash of the person id instead of the string keeps the one sort cheap;
    ``run_start`` marks each person-year's first claim.  A hash collision between two people is
    detected (``psn_hash_collision``) and the caller re-sorts on the string.
    """
    lf = with_entry_defaults(lf).with_columns(year=benefit_year(rs), psn_key=pl.col("psn_no").hash(seed=20210426))
    lf = lf.sort(["psn_key", *SORT_KEYS])
    return mark_runs(lf, "psn_key")


def order_claims_by_string(lf: pl.LazyFrame) -> pl.LazyFrame:
    return mark_runs(with_entry_defaults(lf).sort(["psn_no", *SORT_KEYS]), "psn_no")


def mark_runs(lf: pl.LazyFrame, person_col: str) -> pl.LazyFrame:
    new_person = pl.col(person_col) != pl.col(person_col).shift(1)
    new_year = pl.col("year") != pl.col("year").shift(1)
    start = (new_person | new_year).fill_null(True)
    collision = ((pl.col("psn_no") != pl.col("psn_no").shift(1)).fill_null(False) & ~start).any()
    return lf.with_columns(start.alias(RUN_START)).with_columns(psn_hash_collision=collision)


def join_openings(lf: pl.LazyFrame, openings: pl.LazyFrame | None, columns: list[str]) -> pl.LazyFrame:
    """Attach each person-year's opening running totals as ``open_*`` columns (0 if none)."""
    opened = [f"open_{c.removeprefix('ytd_')}" for c in columns]
    if openings is None:
        return lf.with_columns([pl.lit(0, dtype=I64).alias(o) for o in opened])
    have = set(openings.collect_schema().names())
    sel = openings.select(
        [pl.col("psn_no"), pl.col("year").cast(pl.Int32)]
        + [(pl.col(c) if c in have else pl.lit(0)).cast(I64).alias(o) for c, o in zip(columns, opened)]
    )
    # A left join keeps the sort order of the claims (maintain_order="left").
    joined = lf.join(sel, on=KEYS, how="left", maintain_order="left")
    return joined.with_columns([pl.col(o).fill_null(0) for o in opened])


def opening(name: str) -> pl.Expr:
    return pl.col(f"open_{name.removeprefix('ytd_')}")


def per_claim_rounding(rs: RuleSet) -> bool:
    return rs.ruleset.rounding == "per_claim"


# ------------------------------------------------------------------ coverage


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


# ------------------------------------------------------------------ basic insurance


def tier_place_lookup(table: TierAmounts | TierRatios, rs: RuleSet) -> pl.Expr:
    """Value by (tier, place): the place's own row where given, else the tier's value."""
    mapping: dict[int, int] = {}
    for ti, tier in enumerate(rs.tiers):
        for place, pi in PLACE_ID.items():
            mapping[ti * 8 + pi] = table.by_place.get(place, {}).get(tier, table.by_tier[tier])
    key = pl.col("tier").cast(pl.Int32) * 8 + pl.col("place").cast(pl.Int32)
    return key.replace_strict(mapping, default=0, return_dtype=I64)


def identity_lookup(values: dict[str, int], rs: RuleSet, default: int) -> pl.Expr:
    mapping = {i: values.get(name, default) for i, name in enumerate(rs.identities)}
    return pl.col("ident").replace_strict(mapping, default=default, return_dtype=I64)


def clamp_ratio(bp: pl.Expr) -> pl.Expr:
    return pl.min_horizontal(pl.max_horizontal(bp, pl.lit(0, dtype=I64)), pl.lit(BP, dtype=I64))


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


# ------------------------------------------------------------------ 大病 and assistance


#: Passes of the per-claim cap recursion (``annual.room_limited``) for caps that depend on the
#: identity; settle again with more when ``needs_more_passes`` says so.
CAP_PASSES = 3


def needs_more_passes(ledger: pl.DataFrame) -> bool:
    """A claim whose capped 大病 or assistance payment came out negative: more identity changes to
    a lower cap in one person-year than the passes covered."""
    if ledger.height == 0:
        return False
    bad = ~pl.col("is_reversal") & ((pl.col("hifmi_pay") < 0) | (pl.col("maf_pay") < 0))
    return bool(ledger.select(bad.any()).item())


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


def floored_running_total(lf: pl.LazyFrame, x: str, total: str, opening_total: pl.Expr) -> pl.LazyFrame:
    """Running total ``total`` of column ``x`` that never goes below zero; ``x`` becomes each entry's
    contribution to it.

    Only a reversal can pull a total down; when it would pull it below zero (it takes back more
    than the person-year's other entries brought), it takes back only what is there.  With C the
    plain running total, the floored total is C + D where D is the running maximum of (−C)⁺
    within the person-year — one scan, no loop.
    """
    lf = lf.with_columns(**{total: running_total(pl.col(x), opening_total)})
    deficit = pl.max_horizontal(-pl.col(total), pl.lit(0, dtype=I64)).cum_max().over(RUN_FIRST)
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


# ------------------------------------------------------------------ waterfall


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


def closing_balances(ledger: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    return last_in_run(ledger, KEYS, accumulator_columns(rs))
