"""Which engine step explains a difference: the engine replayed with one thing changed.

A hospital's wrong figure usually comes from one wrong step: the deductible of another tier, the
2nd-admission reduction forgotten, the annual cap missed, the 大病 tilt given to an ordinary
resident, another rounding.  For each claim that differs, the *same engine* is run again on that
claim alone, starting from the running totals the settlement had just before it (so the replay of
the unchanged rules reproduces the settlement exactly — checked at run time), once per
*alternative*: a rule set with one parameter changed, or the claim with one input changed.  The
first alternative that yields the reported figure names the cause and the rule key.  There is no
second implementation of any rule here: alternatives are data (a modified ``RuleSet``, a modified
column), and every replay is one vectorised engine pass over all differing claims together.
An alternative is replayed only on the claims its changed step reaches (``Alternative.reaches``,
as the engine selects them): elsewhere it gives the unchanged figures, which never explain a
difference.  A claim whose every difference the figures alone explain (coverage, the hospital's
own arithmetic) is not replayed at all.

Cause codes (documented in docs/audit.md):

====================  ==================================================================
``not_covered``       the rules cover the claim and the hospital paid nothing, or the
                      reverse (class excluded, before the benefit start, tier not covered)
``inconsistent``      the hospital's own figures do not add up (funds ≠ the three funds, or
                      funds + patient ≠ total cost)
``deductible``        another deductible: another tier's, none, or the 2nd-admission
                      reduction not applied
``ratio``             another tier's ratio, or the referral adjustment the other way round
``tier``              the figures of another hospital tier altogether (deductible and ratio)
``annual_cap``        the basic annual cap, or the 大病 annual cap, not applied
``critical_threshold``the 大病 threshold applied to this claim alone, not the year's cumulative base
``critical_segment``  大病 segment bounds taken relative to the threshold instead of absolute
``assistance_ratio``  another identity's assistance ratio
``assistance_limit``  the assistance annual limit not applied
``identity``          the figures of another assisted identity (大病 tilt, assistance, deductible)
``rounding``          no alternative explains it and it is at most 1 fen per layer involved
``unexplained``       nothing above explains it: look at the claim
====================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from .. import engine
from ..money import BP
from ..rules import RuleBook, RuleSet, TierAmounts, TierRatios
from ..schema import CLAIM_COLUMNS
from ..settle import InvariantError
from .compare import FIELDS, reported

KEYS = engine.KEYS
#: Largest difference that rounding alone can make, per field (1 fen per rounded layer).
ROUNDING_FEN = {"act_pay_dedc": 1, "hifp_pay": 1, "hifmi_pay": 1, "maf_pay": 1, "fund_pay_sumamt": 3, "psn_part_amt": 3}
_SEP = "\x1f"
INCONSISTENT_KEY = "fund_pay_sumamt = hifp_pay + hifmi_pay + maf_pay; psn_part_amt = medfee_sumamt − fund_pay_sumamt"


@dataclass(frozen=True)
class Alternative:
    """One way the hospital may have settled the claim differently."""

    code: str
    key: str  # the rule-file key (or input column) that differs
    message: Callable[[], pl.Expr]  # over the replayed frame (engine ids: tier, ident …)
    rs: RuleSet | None = None  # a modified rule set (None: the rules as they are)
    inputs: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None  # modify the mapped claims
    openings: Callable[[pl.LazyFrame], pl.LazyFrame] | None = None  # modify the totals before the claim
    # the claims the changed step is applied to at all (over the mapped claims; None: every claim),
    # as the engine selects them.  On any other claim the alternative gives exactly the unchanged
    # figures — which never equal a differing reported figure — so it is not replayed there.
    reaches: Callable[[], pl.Expr] | None = None


# ------------------------------------------------------------------ rule-set edits


def replaced(model, path: str, value):
    """A copy of a frozen rule model with the attribute at ``path`` (dotted) replaced."""
    head, _, rest = path.partition(".")
    new = value if not rest else replaced(getattr(model, head), rest, value)
    return model.model_copy(update={head: new})


def tier_shifted(table: TierAmounts | TierRatios, tiers: list[str], k: int):
    """The table with each tier given the values of the tier ``k`` places further in ``tiers``."""
    n = len(tiers)
    alt = {t: tiers[(i + k) % n] for i, t in enumerate(tiers)}
    by_place = {
        place: {t: row.get(alt[t], table.by_tier[alt[t]]) for t in tiers} for place, row in table.by_place.items()
    }
    return table.model_copy(update={"by_tier": {t: table.by_tier[alt[t]] for t in tiers}, "by_place": by_place})


def _name(col: str, names: list[str], shift: int = 0) -> pl.Expr:
    n = len(names)
    return ((pl.col(col).cast(pl.Int32) + shift) % n).replace_strict(dict(enumerate(names)), return_dtype=pl.String)


def _yuan(col: str) -> pl.Expr:
    from ..money import fen_to_yuan_expr

    return fen_to_yuan_expr(pl.col(col))


def _text(*parts: str | pl.Expr) -> Callable[[], pl.Expr]:
    return lambda: pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def alternatives(rs: RuleSet) -> list[Alternative]:
    """Every alternative this rule set allows, in the order causes are preferred."""
    out: list[Alternative] = []
    tiers, idents = list(rs.tiers), list(rs.identities)
    b, ci, ma = rs.basic, rs.critical, rs.assistance

    # the claims each layer's parameters reach, as the engine selects them
    def inpatient() -> pl.Expr:
        return engine.is_cls("inpatient")

    def critical() -> pl.Expr:
        return engine.in_classes(ci.classes)

    def assisted() -> pl.Expr:
        return pl.col("ident").is_in([rs.identities.index(k) for k in ma.schemes]) & engine.in_classes(ma.classes)

    ip = b.inpatient if b.reported is None else None
    if ip is not None:
        if ip.repeat_admission is not None:
            out.append(Alternative(
                "deductible", "basic.inpatient.repeat_admission",
                _text("the reduced deductible for admission ", pl.col("ip_admission_no").cast(pl.String),
                      " of the year was not applied (full deductible ", _yuan("ip_deductible"), ")"),
                rs=replaced(rs, "basic.inpatient.repeat_admission", None), reaches=inpatient,
            ))
        for k in range(1, len(tiers)):
            out.append(Alternative(
                "deductible", "basic.inpatient.deductible",
                _text("the deductible of a ", _name("tier", tiers, k), " hospital (", _yuan("ip_deductible"),
                      ") was used for this ", _name("tier", tiers), " hospital"),
                rs=replaced(rs, "basic.inpatient.deductible", tier_shifted(ip.deductible, tiers, k)), reaches=inpatient,
            ))
        zero = ip.deductible.model_copy(update={"by_tier": {t: 0 for t in tiers}, "by_place": {}})
        out.append(Alternative(
            "deductible", "basic.inpatient.deductible", _text("no deductible was applied"),
            rs=replaced(rs, "basic.inpatient.deductible", zero), reaches=inpatient,
        ))
        for k in range(1, len(tiers)):
            out.append(Alternative(
                "ratio", "basic.inpatient.ratio",
                _text("the ratio of a ", _name("tier", tiers, k), " hospital (", (pl.col("ip_ratio") / 100).cast(pl.String),
                      " %) was used for this ", _name("tier", tiers), " hospital"),
                rs=replaced(rs, "basic.inpatient.ratio", tier_shifted(ip.ratio, tiers, k)), reaches=inpatient,
            ))
        if ip.referral is not None:
            out.append(Alternative(
                "ratio", "basic.inpatient.referral",
                _text("the referral adjustment was applied as if the claim were ",
                      pl.when(pl.col("refl_flag")).then(pl.lit("referred")).otherwise(pl.lit("not referred")),
                      " (转诊标志 the other way round)"),
                inputs=lambda lf: lf.with_columns(refl_flag=~pl.col("refl_flag")), reaches=inpatient,
            ))
    if b.reported is None:
        for k in range(1, len(tiers)):
            out.append(Alternative(
                "tier", "codes.hosp_lv",
                _text("settled as a ", _name("tier", tiers), " hospital (deductible and ratio of that tier)"),
                inputs=lambda lf, k=k: lf.with_columns(tier=((pl.col("tier").cast(pl.Int32) + k) % len(tiers)).cast(pl.UInt8)),
            ))
    if b.annual_caps:
        out.append(Alternative(
            "annual_cap", "basic.annual_caps", _text("the basic annual cap was not applied"),
            rs=replaced(rs, "basic.annual_caps", []),
        ))
    if ci is not None:
        if ci.annual_cap is not None:
            out.append(Alternative(
                "annual_cap", "critical.annual_cap", _text("the 大病 annual cap was not applied"),
                rs=replaced(rs, "critical.annual_cap", None), reaches=critical,
            ))
        out.append(Alternative(
            "critical_threshold", "critical.segments.bands[0].from",
            _text("the 大病 threshold (", _yuan("ci_threshold"), ") was applied to this claim alone, "
                  "not to the year's cumulative base"),
            openings=lambda o: o.with_columns(ytd_critical_base=pl.lit(0, dtype=pl.Int64)), reaches=critical,
        ))
        if len(ci.segments.bands) > 1:
            first = ci.segments.bands[0].from_
            bands = [band.model_copy(update={"from_": band.from_ + first * (i > 0), "to": None if band.to is None else band.to + first})
                     for i, band in enumerate(ci.segments.bands)]
            out.append(Alternative(
                "critical_segment", "critical.segments",
                _text("the 大病 segment bounds were counted from the threshold instead of as absolute cumulative amounts"),
                rs=replaced(rs, "critical.segments", ci.segments.model_copy(update={"bands": bands})), reaches=critical,
            ))
    if ma is not None and ma.schemes:
        if any(s.annual_limit is not None for s in ma.schemes.values()):
            schemes = {k: s.model_copy(update={"annual_limit": None}) for k, s in ma.schemes.items()}
            out.append(Alternative(
                "assistance_limit", "assistance.schemes.*.annual_limit", _text("the assistance annual limit was not applied"),
                rs=replaced(rs, "assistance.schemes", schemes), reaches=assisted,
            ))
        for ratio in sorted({s.ratio for s in ma.schemes.values()}):
            schemes = {k: s.model_copy(update={"ratio": ratio}) for k, s in ma.schemes.items()}
            out.append(Alternative(
                "assistance_ratio", "assistance.schemes.*.ratio",
                _text(f"an assistance ratio of {ratio / 100:g} % was used (the rules give ",
                      (pl.col("ma_ratio_rules") / 100).cast(pl.String), " % for ", _name("ident", idents), ")"),
                rs=replaced(rs, "assistance.schemes", schemes), reaches=assisted,
            ))
    if ci is not None:
        seen: set[tuple] = set()
        for name, tilt in ci.identity_tilt.items():
            if (tilt.threshold_factor, tilt.ratio_points, tilt.no_cap) in seen:
                continue  # the same tilt under another name explains nothing new
            seen.add((tilt.threshold_factor, tilt.ratio_points, tilt.no_cap))
            # the tilt of ``name`` given to every identity without one (e.g. an ordinary resident)
            given = {k: ci.identity_tilt.get(k, tilt) for k in idents}
            out.append(Alternative(
                "identity", f"critical.identity_tilt.{name}",
                _text(f"the 大病 tilt of '{name}' (lower threshold, higher ratio) was applied to this ",
                      _name("ident", idents), " claim"),
                rs=replaced(rs, "critical.identity_tilt", given), reaches=critical,
            ))
    for j, ident in enumerate(idents):
        keys = [k for k, present in (
            (f"critical.identity_tilt.{ident}", ci is not None and ident in ci.identity_tilt),
            (f"assistance.schemes.{ident}", ma is not None and ident in ma.schemes),
            (f"basic.inpatient.identity.{ident}", ip is not None and ident in ip.identity),
        ) if present] or ["identities"]
        out.append(Alternative(
            "identity", ", ".join(keys),
            _text(f"settled as identity '{ident}' (", ", ".join(keys), "); the claim's identity is ", _name("ident_rules", idents)),
            inputs=lambda lf, j=j: lf.filter(pl.col("ident") != j).with_columns(ident=pl.lit(j, dtype=pl.UInt8)),
        ))
    return out


# ------------------------------------------------------------------ totals before each claim


def totals_before(ledger: pl.DataFrame, openings: pl.DataFrame | None) -> pl.DataFrame:
    """``setl_id`` + each running total (``ytd_*``) as it stood just before the claim.

    The ledger is in settlement order within each person-year; the first claim of a person-year
    starts from ``openings`` (a ledger's accumulator) or from zero.
    """
    ytd = [c for c in ledger.columns if c.startswith("ytd_")]
    lf = ledger.lazy().select("setl_id", *KEYS, *ytd)
    if openings is not None and openings.height:
        have = [c for c in ytd if c in openings.columns]
        lf = lf.join(
            openings.lazy().select(pl.col("psn_no"), pl.col("year").cast(pl.Int32), *[pl.col(c).alias(f"_open_{c}") for c in have]),
            on=KEYS, how="left", maintain_order="left",
        )
        first = {c: pl.col(f"_open_{c}") if c in have else pl.lit(None, dtype=pl.Int64) for c in ytd}
    else:
        first = {c: pl.lit(None, dtype=pl.Int64) for c in ytd}
    return lf.select(
        "setl_id", *KEYS,
        *[pl.coalesce(pl.col(c).shift(1).over(KEYS), first[c], pl.lit(0, dtype=pl.Int64)).cast(pl.Int64).alias(c) for c in ytd],
    ).collect()


# ------------------------------------------------------------------ replay


def replay(claims: pl.DataFrame, before: pl.DataFrame, rs: RuleSet, alts: list[tuple[int, Alternative]]) -> pl.DataFrame:
    """Settle each claim alone from its totals before it, once per alternative (index ``-1`` is
    the rules unchanged).  Returns ``setl_id``, ``alt``, ``message`` and the compared fields."""
    base = engine.map_codes(claims.lazy(), rs).with_columns(ident_rules=pl.col("ident")).collect()
    out = []
    groups: dict[int, list[tuple[int, Alternative]]] = {}
    for i, a in alts:
        groups.setdefault(id(a.rs) if a.rs is not None else 0, []).append((i, a))
    for group in groups.values():
        rs_alt = group[0][1].rs or rs
        reached = {i: base.filter(a.reaches()) if a.reaches is not None else base for i, a in group}
        group = [(i, a) for i, a in group if reached[i].height]
        if not group:
            continue  # the changed step reaches none of these claims
        frames, opens = [], []
        for i, a in group:
            lf = a.inputs(reached[i].lazy()) if a.inputs else reached[i].lazy()
            key = pl.concat_str([pl.col("setl_id"), pl.lit(f"{_SEP}{i}")])
            frames.append(lf.with_columns(_alt=pl.lit(i, dtype=pl.Int32), psn_no=key))
            o = before.lazy().with_columns(psn_no=pl.concat_str([pl.col("setl_id"), pl.lit(f"{_SEP}{i}")]))
            opens.append(a.openings(o) if a.openings else o)
        # every claim is its own person-year (key: settlement id + alternative)
        lf = pl.concat(frames, how="diagonal_relaxed").with_columns(year=engine.benefit_year(rs_alt))
        lf = engine.order_claims_by_string(lf)
        settled = engine.settle_ordered(lf, rs_alt, pl.concat(opens, how="diagonal_relaxed"))
        if rs.assistance is not None and rs.assistance.schemes:
            rules_ratio = engine.identity_lookup({k: s.ratio for k, s in rs.assistance.schemes.items()}, rs, 0)
            settled = settled.with_columns(ma_ratio_rules=rules_ratio)
        else:
            settled = settled.with_columns(ma_ratio_rules=pl.lit(0, dtype=pl.Int64))
        cols = set(settled.collect_schema().names())
        needed = {"ip_deductible", "ip_ratio", "ip_admission_no", "ci_threshold"}
        missing = {c: pl.lit(None, dtype=pl.Int64) for c in needed if c not in cols}
        # each alternative's message over its own rows (one pass over the group's replays)
        message = pl.lit("")
        for i, a in group:
            if i >= 0:
                message = pl.when(pl.col("_alt") == i).then(a.message()).otherwise(message)
        out.append(
            settled.with_columns(**missing)
            .select("setl_id", pl.col("_alt").alias("alt"), message.alias("message"), *[pl.col(f).cast(pl.Int64) for f in FIELDS])
        )
    # the groups' replays planned at once, run side by side
    return pl.concat(pl.collect_all(out)) if out else pl.DataFrame(
        schema={"setl_id": pl.String, "alt": pl.Int32, "message": pl.String, **{f: pl.Int64 for f in FIELDS}})


# ------------------------------------------------------------------ attribution


def _checks(diffs: pl.DataFrame, ledger: pl.DataFrame) -> pl.DataFrame:
    """Causes decided from the figures alone: coverage and the hospital's own arithmetic."""
    cols = ["setl_id", "not_covered", "not_covered_reason", "medfee_sumamt", "fund_pay_sumamt",
            *[reported(f) for f in FIELDS if reported(f) in ledger.columns]]
    r = {f: pl.col(reported(f)) if reported(f) in ledger.columns else pl.lit(None, dtype=pl.Int64) for f in FIELDS}
    frame = diffs.join(ledger.select([c for c in cols if c in ledger.columns]), on="setl_id", how="left")
    funds_reported = pl.sum_horizontal(r["hifp_pay"].fill_null(0), r["hifmi_pay"].fill_null(0), r["maf_pay"].fill_null(0))
    any_fund = pl.any_horizontal(r["hifp_pay"].is_not_null(), r["hifmi_pay"].is_not_null(), r["maf_pay"].is_not_null(),
                                 r["fund_pay_sumamt"].is_not_null())
    reported_pays = pl.max_horizontal(funds_reported, r["fund_pay_sumamt"].fill_null(0)) > 0
    sum_broken = (
        (pl.col("field") == "fund_pay_sumamt") & r["hifp_pay"].is_not_null() & r["hifmi_pay"].is_not_null()
        & r["maf_pay"].is_not_null() & (r["fund_pay_sumamt"] != r["hifp_pay"] + r["hifmi_pay"] + r["maf_pay"])
    )
    part_broken = (
        (pl.col("field") == "psn_part_amt") & r["fund_pay_sumamt"].is_not_null()
        & (r["psn_part_amt"] + r["fund_pay_sumamt"] != pl.col("medfee_sumamt"))
    )
    code = (
        pl.when(pl.col("not_covered") & reported_pays).then(pl.lit("not_covered"))
        .when(~pl.col("not_covered") & any_fund & ~reported_pays & (pl.col("fund_pay_sumamt") > 0)).then(pl.lit("not_covered"))
        .when(sum_broken.fill_null(False) | part_broken.fill_null(False)).then(pl.lit("inconsistent"))
    )
    # the claim's reported set does not add up: said for its other fields when nothing else explains them
    broken_claim = (
        (r["hifp_pay"] + r["hifmi_pay"] + r["maf_pay"] != r["fund_pay_sumamt"]).fill_null(False)
        | (r["psn_part_amt"] + r["fund_pay_sumamt"] != pl.col("medfee_sumamt")).fill_null(False)
    )
    key = (
        pl.when(code == "not_covered").then(pl.format("coverage: {}", pl.col("not_covered_reason").fill_null("covered")))
        .when(code == "inconsistent").then(pl.lit(INCONSISTENT_KEY))
    )
    message = (
        pl.when((code == "not_covered") & pl.col("not_covered"))
        .then(pl.format("the rules do not cover this claim ({}) but the hospital's settlement paid from the funds", pl.col("not_covered_reason")))
        .when(code == "not_covered").then(pl.lit("the rules cover this claim but the hospital's settlement paid nothing from the funds"))
        .when(code == "inconsistent").then(pl.lit("the hospital's own figures do not add up"))
    )
    return frame.select("setl_id", "field", code.alias("cause"), key.alias("rule_key"), message.alias("message"),
                        broken_claim.alias("_broken"))


def no_causes(diffs: pl.DataFrame) -> pl.DataFrame:
    """``diffs`` with empty ``cause``, ``rule_key`` and ``message`` columns (nothing differs)."""
    return diffs.with_columns(cause=pl.lit(None, pl.String), rule_key=pl.lit(None, pl.String), message=pl.lit(None, pl.String))


@dataclass
class Pending:
    """Differences made ready for their replays (``prepare``), from the rows of their settlement;
    the replays (``finish``) need nothing else, so the settlement may be dropped meanwhile, and
    the pending differences of several chunks replayed together (``Pending.concat``): each
    replay costs a fixed planning time whatever the number of claims."""

    diffs: pl.DataFrame  # compare.differences
    checked: pl.DataFrame  # the causes decided from the figures alone (``_checks``)
    subset: pl.DataFrame  # the claims to replay: the settlement's rows, input and compared columns
    before: pl.DataFrame  # the running totals just before each of them

    @property
    def claims(self) -> int:
        return self.subset.height

    @staticmethod
    def concat(parts: list[Pending]) -> Pending:
        return Pending(*(pl.concat([getattr(p, f) for p in parts], how="diagonal_relaxed")
                         for f in ("diffs", "checked", "subset", "before")))


def prepare(diffs: pl.DataFrame, ledger: pl.DataFrame, openings: pl.DataFrame | None) -> Pending:
    """What the replays of ``diffs`` need from ``ledger`` (which holds the claims' whole
    person-years, in settlement order) and ``openings`` (the totals the person-years opened with)."""
    ids = diffs.select("setl_id").unique()
    wanted = {*CLAIM_COLUMNS, *engine.REVERSAL_DEFAULTS, *FIELDS, *KEYS, "ruleset_id", "not_covered", "not_covered_reason"}
    # narrow first: a join copies every column it keeps, and the ledger is wide
    subset = ledger.lazy().select([c for c in ledger.columns if c in wanted]).join(ids.lazy(), on="setl_id", how="semi").collect()
    checked = _checks(diffs.select("setl_id", "field"), subset)
    # a field whose cause the figures alone decide (coverage, the hospital's own arithmetic) keeps
    # it whatever a replay finds: replay only the claims with some other differing field
    ids = checked.filter(pl.col("cause").is_null()).select("setl_id").unique()
    subset = subset.join(ids, on="setl_id", how="semi")
    # totals before each claim need the claim's whole person-year
    ytd = [c for c in ledger.columns if c.startswith("ytd_")]
    years = ledger.lazy().select("setl_id", *KEYS, *ytd).join(subset.lazy().select(KEYS).unique(), on=KEYS, how="semi").collect()
    before = totals_before(years, openings).join(ids, on="setl_id", how="semi").drop("psn_no")
    return Pending(diffs, checked, subset, before)


def attribute(diffs: pl.DataFrame, ledger: pl.DataFrame, book: RuleBook, openings: pl.DataFrame | None) -> pl.DataFrame:
    """``diffs`` (``compare.differences``) with ``cause``, ``rule_key`` and ``message`` added."""
    if diffs.height == 0:
        return no_causes(diffs)
    return finish(prepare(diffs, ledger, openings), book)


def finish(pending: Pending, book: RuleBook) -> pl.DataFrame:
    """The pending differences with their causes: the replays, every claim at once per alternative."""
    diffs, checked, subset, before = pending.diffs, pending.checked, pending.subset, pending.before
    if diffs.height == 0:
        return no_causes(diffs)
    found: list[pl.DataFrame] = []
    names: dict[int, tuple[str, str]] = {}
    for rs in book.periods:
        part = subset.filter(pl.col("ruleset_id") == rs.id)
        if part.height == 0:
            continue
        alts = alternatives(rs)
        offset = len(names)
        indexed = [(offset + i, a) for i, a in enumerate(alts)]
        names.update({i: (a.code, a.key) for i, a in indexed})
        claims = part.select([c for c in CLAIM_COLUMNS if c in part.columns] + [c for c in engine.REVERSAL_DEFAULTS if c in part.columns])
        result = replay(claims, before, rs, [(-1, Alternative("", "", lambda: pl.lit("")))] + indexed)
        _check_replay(result.filter(pl.col("alt") == -1), part)
        found.append(result.filter(pl.col("alt") >= 0))
    alts_frame = pl.concat(found) if found else pl.DataFrame(schema={"setl_id": pl.String, "alt": pl.Int32, "message": pl.String, **{f: pl.Int64 for f in FIELDS}})
    long = alts_frame.unpivot(index=["setl_id", "alt", "message"], on=list(FIELDS), variable_name="field", value_name="value")
    matched = diffs.select("setl_id", "field", "reported").join(long, on=["setl_id", "field"], how="inner").filter(
        pl.col("value") == pl.col("reported")
    )
    # prefer the alternative that explains every differing field of the claim, else the first per field
    n_fields = diffs.group_by("setl_id").agg(pl.len().alias("_n"))
    whole = (
        matched.group_by("setl_id", "alt").agg(pl.len().alias("_k"))
        .join(n_fields, on="setl_id").filter(pl.col("_k") == pl.col("_n"))
        .group_by("setl_id").agg(pl.col("alt").min().alias("_whole"))
    )
    per_field = matched.group_by("setl_id", "field").agg(pl.col("alt").min().alias("_first"))
    chosen = (
        diffs.select("setl_id", "field").join(whole, on="setl_id", how="left").join(per_field, on=["setl_id", "field"], how="left")
        .with_columns(alt=pl.coalesce("_whole", "_first"))
        .join(matched.select("setl_id", "alt", "field", "message"), on=["setl_id", "field", "alt"], how="left")
    )
    codes = pl.DataFrame({"alt": list(names), "_code": [v[0] for v in names.values()], "_key": [v[1] for v in names.values()]},
                         schema={"alt": pl.Int32, "_code": pl.String, "_key": pl.String})
    chosen = chosen.join(codes, on="alt", how="left").select("setl_id", "field", "_code", "_key", pl.col("message").alias("_msg"))
    rounding = (pl.col("difference").abs() <= pl.col("field").replace_strict(ROUNDING_FEN, return_dtype=pl.Int64))
    return (
        diffs.join(checked, on=["setl_id", "field"], how="left")
        .join(chosen, on=["setl_id", "field"], how="left")
        .with_columns(
            cause=pl.coalesce("cause", "_code", pl.when("_broken").then(pl.lit("inconsistent")),
                              pl.when(rounding).then(pl.lit("rounding")), pl.lit("unexplained")),
            rule_key=pl.coalesce("rule_key", "_key", pl.when("_broken").then(pl.lit(INCONSISTENT_KEY)),
                                 pl.when(rounding).then(pl.lit("rounding"))),
            message=pl.coalesce(
                "message", "_msg",
                pl.when("_broken").then(pl.lit("the hospital's own figures do not add up, and no single rule step explains this one")),
                pl.when(rounding).then(pl.lit("a difference of at most 1 fen per layer: the hospital rounded differently")),
                pl.lit("no single alternative explains the reported figure"),
            ),
        )
        .drop("_code", "_key", "_msg", "_broken")
    )


def _check_replay(base: pl.DataFrame, part: pl.DataFrame) -> None:
    """The unchanged rules replayed claim by claim must give exactly what the settlement gave."""
    joined = base.join(part.select("setl_id", *[pl.col(f).alias(f"_s_{f}") for f in FIELDS]), on="setl_id")
    bad = joined.filter(pl.any_horizontal([pl.col(f) != pl.col(f"_s_{f}") for f in FIELDS]))
    if bad.height or joined.height != part.height:
        raise InvariantError([
            f"audit replay: {bad.height} claim(s) replayed alone do not reproduce their settlement "
            f"(e.g. {bad['setl_id'].head(3).to_list()}); {joined.height} of {part.height} replayed"
        ])
