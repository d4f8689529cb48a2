"""Rule sets: policy parameters as data, with dates and citations, validated by a schema.

A rule-set file (YAML) holds one region's parameters for one policy period.  Every number sits in
a *cited block*: the block carries ``source`` (a key of the file's ``sources`` table), ``ref`` (the
article or page) and ``status`` (``verified`` against the document, or ``unverified`` placeholder).
Amounts are yuan in the file and integer fen once loaded; ratios are fractions (0.7) or
percentages ("70%") in the file and integer basis points once loaded.

Loading never raises a traceback at the user: problems come back as ``RuleSetError`` with one
line per problem naming the file, the key path and the fix.
"""

from __future__ import annotations

import datetime as dt
import difflib
import stat
import types
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from .money import BP, fen_to_yuan_str, ratio_to_bp, yuan_to_fen

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"

#: Benefit classes of basic insurance, plus ``excluded`` for classes the rule set does not cover.
BENEFIT_CLASSES = ("inpatient", "general_outpatient", "chronic_outpatient", "two_diseases")
EXCLUDED = "excluded"
#: Places of care (就医地).
PLACES = ("local", "in_city", "in_province", "out_of_province")
ORDINARY = "ordinary"


class RuleSetError(Exception):
    """A rule set that cannot be used; ``problems`` are 'file: key.path: what is wrong — fix'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Problems(ValueError):
    """Problems found by a model-level check, each 'key.path: what is wrong — fix'.

    Paths are relative to the model that raised it; the loader prefixes the model's own path.
    """

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


# ------------------------------------------------------------------ scalar value types

_RATIO_FIX = "write a fraction between 0 and 1 such as 0.7, or a percentage such as '70%'"


def _yuan(v: Any) -> int:
    if isinstance(v, bool) or v is None or not isinstance(v, (int, float, str, Decimal)):
        raise ValueError(f"expected an amount in yuan, got {_show(v)} — write a number such as 800 or 1500.50")
    try:
        if not _finite(str(v).replace(",", "")):
            raise ValueError("not a finite number")
        fen = yuan_to_fen(v)
    except (InvalidOperation, ValueError) as e:
        if "more than two decimals" in str(e):
            raise ValueError(f"amount {_show(v)} has more than two decimals — amounts are yuan to the fen, e.g. 1500.05") from e
        raise ValueError(f"expected an amount in yuan, got {_show(v)} — write a number such as 800 or 1500.50 (no unit, no 万)") from e
    if fen < 0:
        raise ValueError(f"amount {_show(v)} is negative — amounts in rule files are 0 or more")
    return fen


def _fraction_bp(v: Any, what: str, fix: str, finer: str | None = None) -> int:
    """A fraction (0.7) or percentage ('70%') as basis points; shared by ratios and factors."""
    if isinstance(v, bool) or v is None or not isinstance(v, (int, float, str, Decimal)):
        raise ValueError(f"expected a {what}, got {_show(v)} — {fix}")
    try:
        if not _finite(str(v).strip().removesuffix("%")):
            raise ValueError("not a finite number")
        return ratio_to_bp(v)
    except (InvalidOperation, ValueError) as e:
        if finer and "finer than" in str(e):
            raise ValueError(finer.format(v=v)) from e
        raise ValueError(f"expected a {what}, got {_show(v)} — {fix}") from e


def _ratio(v: Any) -> int:
    bp = _fraction_bp(v, "ratio", _RATIO_FIX, "ratio {v!r} is finer than 0.01 % — round it to at most two decimals of a percent")
    if not 0 <= bp <= BP:
        whole = isinstance(v, (int, float)) and 1 < v <= 100 and float(v).is_integer()
        hint = f" (did you mean '{int(v)}%'?)" if whole else ""
        raise ValueError(f"ratio {_show(v)} is outside 0–100 %{hint} — {_RATIO_FIX}")
    return bp


def _points(v: Any) -> int:
    """Percentage points (+5 → 500 bp)."""
    if isinstance(v, bool) or v is None or not isinstance(v, (int, float, str, Decimal)):
        raise ValueError(f"expected percentage points, got {_show(v)} — write a number such as 5 or -20")
    try:
        d = Decimal(str(v).strip()) * 100
    except InvalidOperation as e:
        raise ValueError(f"expected percentage points, got {_show(v)} — write a number such as 5 or -20 (no % sign)") from e
    if not d.is_finite():
        raise ValueError(f"expected percentage points, got {_show(v)} — write a number such as 5 or -20")
    if d != d.to_integral_value():
        raise ValueError(f"points {_show(v)} finer than 0.01 — round to at most two decimals")
    if abs(d) > BP:
        raise ValueError(f"points {_show(v)} outside −100…+100 — points are percentage points added to a ratio")
    return int(d)


def _factor(v: Any) -> int:
    """A multiplier such as 0.5 → 5000 bp (deductible factors, threshold factors), between 0 and 1."""
    bp = _fraction_bp(v, "factor", "write a multiplier between 0 and 1 such as 0.5 (or '50%')")
    if not 0 <= bp <= BP:
        raise ValueError(f"factor {_show(v)} is outside 0–1 — write a multiplier between 0 and 1 such as 0.5 (1 = unchanged)")
    return bp


def _finite(text: str) -> bool:
    try:
        return Decimal(text.strip()).is_finite()
    except InvalidOperation:
        return False


def _show(v: Any) -> str:
    """A short quoted excerpt of a value from the rule file, never the whole of a huge one."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v).bit_length() > 128:
        return f"a number of about {int(abs(v).bit_length() * 0.30103) + 1:,} digits"
    if isinstance(v, str) and len(v) > 40:
        v = v[:37]
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "…"


Yuan = Annotated[int, BeforeValidator(_yuan)]
Ratio = Annotated[int, BeforeValidator(_ratio)]
Points = Annotated[int, BeforeValidator(_points)]
Factor = Annotated[int, BeforeValidator(_factor)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cited(_Model):
    """Where a number comes from.  Every block holding numbers inherits this."""

    source: str = Field(description="key of the file's `sources` table")
    ref: str = Field("", description="article, section or page in the source")
    status: Literal["verified", "unverified"]
    note: str = ""


class Source(_Model):
    doc_no: str = Field(description="document number, e.g. 东医保〔2021〕6号")
    title: str = ""
    issuer: str = ""
    date: dt.date | None = None
    url: str = ""
    note: str = ""


# ------------------------------------------------------------------ cited parameter blocks


class AmountParam(Cited):
    value: Yuan


class RatioParam(Cited):
    value: Ratio


class TierAmounts(Cited):
    """An amount per hospital tier, optionally different by place of care."""

    by_tier: dict[str, Yuan]
    by_place: dict[str, dict[str, Yuan]] = {}


class TierRatios(Cited):
    """A ratio per hospital tier, optionally different by place of care."""

    by_tier: dict[str, Ratio]
    by_place: dict[str, dict[str, Ratio]] = {}


class ReferralPoints(_Model):
    """Points added to the inpatient ratio at one place of care, by referral status."""

    referred: Points = 0
    unreferred: Points = 0


class ReferralRule(Cited):
    """Ratio adjustments by place of care and referral (转诊).

    ``by_place`` is the table ``{place: {referred: points, unreferred: points}}``; a place it does
    not list falls back to the shorthand: ``referred_points`` for referred care anywhere,
    ``unreferred_offsite_points`` for unreferred care at any place other than ``local``.
    """

    referred_points: Points = 0
    unreferred_offsite_points: Points = 0
    by_place: dict[str, ReferralPoints] = {}

    def points(self, place: str, referred: bool) -> int:
        """The points for a claim at ``place`` (a key of PLACES), referred or not."""
        row = self.by_place.get(place)
        if row is not None:
            return row.referred if referred else row.unreferred
        if referred:
            return self.referred_points
        return self.unreferred_offsite_points if place != "local" else 0


class RepeatAdmission(Cited):
    """Deductible factor for the n-th covered admission of the year (n ≥ 2); the largest key ≤ n applies."""

    deductible_factor_by_nth: dict[int, Factor]

    @model_validator(mode="after")
    def _nth_from_two(self) -> "RepeatAdmission":
        bad = [n for n in self.deductible_factor_by_nth if n < 2]
        if bad:
            raise _Problems(
                [f"deductible_factor_by_nth.{n}: admission number {n} — keys are the n-th admission of the year, 2 or more (the 1st pays the full deductible)" for n in bad]
            )
        return self


class IdentityAdjustment(Cited):
    deductible_factor: Factor = BP
    ratio_points: Points = 0


class Inpatient(_Model):
    deductible: TierAmounts
    ratio: TierRatios
    referral: ReferralRule | None = None
    repeat_admission: RepeatAdmission | None = None
    identity: dict[str, IdentityAdjustment] = {}


class GeneralOutpatient(_Model):
    ratio: TierRatios
    covered_tiers: list[str] | None = Field(None, description="tiers where visits are covered; None = all")
    per_visit_deductible: AmountParam | None = None
    per_visit_cap: AmountParam | None = None


class ChronicOutpatient(_Model):
    annual_deductible: AmountParam
    ratio: RatioParam


class TwoDiseases(_Model):
    ratio: RatioParam


class AnnualCap(Cited):
    """An annual limit on cumulative basic-fund payments of the named classes (applied in list order)."""

    name: str
    classes: list[str]
    value: Yuan


class Basic(_Model):
    reported: Cited | None = Field(
        None, description="take basic payments as reported in the input (统筹基金支出) instead of computing them"
    )
    inpatient: Inpatient | None = None
    general_outpatient: GeneralOutpatient | None = None
    chronic_outpatient: ChronicOutpatient | None = None
    two_diseases: TwoDiseases | None = None
    annual_caps: list[AnnualCap] = []


class Band(_Model):
    from_: Yuan = Field(alias="from")
    to: Yuan | None = None
    ratio: Ratio


class Segments(Cited):
    """Bands on the *absolute cumulative* base; the threshold is the first band's lower bound."""

    bands: list[Band]

    @model_validator(mode="after")
    def _contiguous(self) -> "Segments":
        if not self.bands:
            raise _Problems(["bands: empty — give at least one band, e.g. [{from: 10000, ratio: 60%}]"])
        problems: list[str] = []
        for i, band in enumerate(self.bands):
            if band.to is not None and band.to <= band.from_:
                problems.append(
                    f"bands[{i}].to: {fen_to_yuan_str(band.to)} is not above `from` {fen_to_yuan_str(band.from_)} — "
                    "make `to` larger, or omit `to` for the open top band"
                )
        for i, (a, b) in enumerate(zip(self.bands, self.bands[1:])):
            if a.to is None:
                problems.append(
                    f"bands[{i}].to: missing, but band [{i + 1}] follows — only the last band may be open; "
                    f"give `to: {fen_to_yuan_str(b.from_)}`"
                )
            elif a.to != b.from_:
                what = "leaves a gap after" if b.from_ > a.to else "overlaps"
                problems.append(
                    f"bands[{i + 1}].from: {fen_to_yuan_str(b.from_)} {what} bands[{i}].to {fen_to_yuan_str(a.to)} — "
                    "bands must be contiguous: each band's `from` equals the previous band's `to`"
                )
        if problems:
            raise _Problems(problems)
        return self


class CriticalTilt(Cited):
    threshold_factor: Factor = BP
    ratio_points: Points = 0
    no_cap: bool = False


class Critical(_Model):
    classes: list[str]
    basis: Cited | None = Field(None, description="citation for the structure: which classes form the base")
    include_preselfpay: Cited | None = Field(
        None, description="present (cited) when the region counts class-B first self-pay toward the base"
    )
    segments: Segments
    annual_cap: AmountParam | None = None
    identity_tilt: dict[str, CriticalTilt] = {}


class AssistanceScheme(Cited):
    ratio: Ratio
    annual_deductible: Yuan = 0
    annual_limit: Yuan | None = None


class Assistance(_Model):
    classes: list[str]
    basis: Cited | None = Field(None, description="citation for the structure: classes, shared annual limit")
    schemes: dict[str, AssistanceScheme]


#: The funds a target rate may count (the ledger's payment columns).
FUNDS = {"basic": "hifp_pay", "critical": "hifmi_pay", "assistance": "maf_pay"}


class Target(Cited):
    """A rate a policy document sets a target for: funds paid ÷ policy-scope (合规) costs of the
    claims the filters select, over the year so far (``medclaim report``)."""

    name: str = Field(description="the document's own name of the rate, e.g. 政策范围内住院费用基金支付比例")
    quote: str = Field("", description="the sentence of the document that sets the target")
    classes: list[str]
    funds: list[Literal["basic", "critical", "assistance"]] = ["basic"]
    identities: list[str] | None = Field(None, description="only these identities; None = everyone")
    places: list[str] | None = Field(None, description="only these places of care; None = everywhere")
    value: Ratio
    comparison: Literal["at_least", "about"] = "at_least"
    tolerance_points: Points = Field(200, description="with `about`: met within ± this many points")


class CodeCaveat(Cited):
    """A doubt about one entry of a code table (e.g. a local code whose meaning differs by province).

    An ``unverified`` caveat is counted and listed by ``medclaim rules check`` like any placeholder.
    """

    table: Literal["hosp_lv", "med_type", "pay_loc", "identity"]
    code: str


class CollectionPeriod(Cited):
    """The collection period (集中参保缴费期) for a benefit year: paid on or before its last day →
    covered from 1 January.  ``ends`` is that day as MM-DD, in the benefit year itself (``in:
    benefit_year``, e.g. 东至 02-28) or in the year before it (``in: previous_year``, e.g. 文水 12-25)."""

    ends: str = Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$", description="MM-DD")
    in_: Literal["benefit_year", "previous_year"] = Field("benefit_year", alias="in")


class LateEnrollment(Cited):
    """Paid after the collection period: covered from the day after payment (or the day of it),
    after an optional waiting period (待遇等待期) in whole months."""

    starts: Literal["day_after_payment", "payment_day"] = "day_after_payment"
    waiting_months: int = Field(0, ge=0, le=24)


class Newborn(Cited):
    """A newborn enrolled (paid) within ``enroll_within_months`` of birth is covered from birth."""

    enroll_within_months: int = Field(ge=0, le=24)


class Enrollment(_Model):
    """Eligibility rules for a roster (``--roster``): when each person's benefits start."""

    collection_period: CollectionPeriod
    late_enrollment: LateEnrollment
    newborn: Newborn | None = None


class ContributionAid(Cited):
    """What medical assistance pays of an identity's individual contribution (资助参保): all of it
    (``full: true``, 全额资助) or a fixed ``amount`` (定额资助)."""

    full: bool = False
    amount: Yuan | None = None

    @model_validator(mode="after")
    def _one_of(self) -> "ContributionAid":
        if self.full == (self.amount is not None):
            raise _Problems(["full: give either `full: true` or an `amount` (yuan), not both and not neither"])
        return self


class Contributions(Cited):
    """The benefit year's contribution per person (筹资标准) = public finance + individual."""

    per_person: Yuan
    fiscal: Yuan
    individual: Yuan
    aid: dict[str, ContributionAid] = {}

    @model_validator(mode="after")
    def _adds_up(self) -> "Contributions":
        problems = []
        if self.fiscal + self.individual != self.per_person:
            problems.append(
                f"per_person: {fen_to_yuan_str(self.per_person)} ≠ fiscal {fen_to_yuan_str(self.fiscal)} + individual "
                f"{fen_to_yuan_str(self.individual)} — the contribution is public finance plus the individual part"
            )
        for k, a in self.aid.items():
            if a.amount is not None and a.amount > self.individual:
                problems.append(f"aid.{k}.amount: {fen_to_yuan_str(a.amount)} is more than the individual contribution — aid pays at most all of it (`full: true`)")
        if problems:
            raise _Problems(problems)
        return self


class Codes(_Model):
    """Code tables: values as exported (codes and names) → the rule set's own keys."""

    hosp_lv: dict[str, str]
    med_type: dict[str, str]
    pay_loc: dict[str, str] = {"": "local", "本地": "local", "市内异地": "in_city", "省内异地": "in_province", "跨省异地": "out_of_province"}
    identity: dict[str, str] = {"": ORDINARY}
    caveats: list[CodeCaveat] = []


class Meta(_Model):
    id: str
    name: str
    region: str
    version: str
    effective_from: dt.date
    effective_to: dt.date
    benefit_year_by: Literal["enddate", "begndate"] = "enddate"
    #: ``per_claim``: each claim rounded on its own from the running totals before it, as the
    #: settlement receipt does (spec §3); ``cumulative``: a claim's share is F(after) − F(before).
    rounding: Literal["per_claim", "cumulative"] = "per_claim"
    description: str = ""


# The audit block's models live with the audit; they build on the cited types above.
from .audit.params import AuditRules  # noqa: E402


class RuleSet(_Model):
    ruleset: Meta
    sources: dict[str, Source]
    tiers: list[str]
    identities: list[str] = [ORDINARY]
    codes: Codes
    basic: Basic
    critical: Critical | None = None
    assistance: Assistance | None = None
    enrollment: Enrollment | None = None
    contributions: Contributions | None = None
    targets: dict[str, Target] = {}
    audit: AuditRules | None = Field(None, description="review-rule parameters and burden thresholds (medclaim audit)")

    # -- derived views used by the engine and explain --------------------------------
    @property
    def id(self) -> str:
        return self.ruleset.id

    def cited_blocks(self) -> list[tuple[str, Cited]]:
        """Every cited block with its key path (for status reports and explain)."""
        out: list[tuple[str, Cited]] = []

        def walk(obj: Any, path: str) -> None:
            if isinstance(obj, Cited):
                out.append((path, obj))
            if isinstance(obj, BaseModel):
                for name, field in type(obj).model_fields.items():
                    key = field.alias or name  # the key as written in the file (`from`, not `from_`)
                    walk(getattr(obj, name), f"{path}.{key}" if path else key)
            elif isinstance(obj, dict):
                for k, v in obj.items():
                    walk(v, f"{path}.{k}")
            elif isinstance(obj, list):
                for i, v in enumerate(obj):
                    walk(v, f"{path}[{i}]")

        walk(self, "")
        return out

    def unverified(self) -> list[str]:
        return [p for p, c in self.cited_blocks() if c.status == "unverified"]

    def cite(self, block: Cited) -> str:
        """'东医保〔2021〕6号 第三条, verified' — a human citation of one block."""
        src = self.sources.get(block.source)
        doc = src.doc_no if src else block.source
        ref = f" {block.ref}" if block.ref else ""
        return f"{doc}{ref}, {block.status}"

    @model_validator(mode="after")
    def _cross_check(self) -> "RuleSet":
        """Checks across sections: every name used is declared, every table is complete."""
        problems: list[str] = []
        m = self.ruleset
        if m.effective_to < m.effective_from:
            problems.append(
                f"ruleset.effective_to: {m.effective_to} is before effective_from {m.effective_from} — swap the dates"
            )
        tiers, ids = set(self.tiers), set(self.identities)
        classes = set(BENEFIT_CLASSES) | {EXCLUDED}
        for key, names in (("tiers", self.tiers), ("identities", self.identities)):
            for dup in sorted({n for n in names if names.count(n) > 1}):
                problems.append(f"{key}: '{dup}' listed twice — list each name once")
        if not self.tiers:
            problems.append("tiers: empty — list the rule set's hospital tiers, e.g. [primary, secondary, tertiary]")
        if ORDINARY not in ids:
            problems.append(f"identities: '{ORDINARY}' is missing — add it (the ordinary resident, mapped from an empty identity)")
        for path, block in self.cited_blocks():
            if block.source not in self.sources:
                problems.append(
                    f"{path}.source: '{block.source}' is not a key of `sources`{_did_you_mean(block.source, self.sources)}"
                    " — add it to `sources` or fix the key"
                )
        for code, tier in self.codes.hosp_lv.items():
            if tier not in tiers:
                problems.append(
                    f"codes.hosp_lv.{code}: tier '{tier}' is not in `tiers`{_did_you_mean(tier, tiers)} — "
                    f"map it to one of {self.tiers} or add the tier"
                )
        for code, cls in self.codes.med_type.items():
            if cls not in classes:
                problems.append(
                    f"codes.med_type.{code}: '{cls}' is not a benefit class{_did_you_mean(cls, classes)} — "
                    f"use one of {[*BENEFIT_CLASSES, EXCLUDED]}"
                )
        for code, place in self.codes.pay_loc.items():
            if place not in PLACES:
                problems.append(
                    f"codes.pay_loc.{code}: '{place}' is not a place of care{_did_you_mean(place, PLACES)} — use one of {list(PLACES)}"
                )
        for code, ident in self.codes.identity.items():
            if ident not in ids:
                problems.append(
                    f"codes.identity.{code}: '{ident}' is not in `identities`{_did_you_mean(ident, ids)} — "
                    "map it to a listed identity or add it to `identities`"
                )

        for i, cav in enumerate(self.codes.caveats):
            table = getattr(self.codes, cav.table)
            if cav.code not in table:
                problems.append(
                    f"codes.caveats[{i}].code: '{cav.code}' is not a key of codes.{cav.table}{_did_you_mean(cav.code, table)}"
                    " — name a code the table maps, or drop the caveat"
                )

        def need_tiers(path: str, table: TierAmounts | TierRatios) -> None:
            missing = [t for t in self.tiers if t not in table.by_tier]
            if missing:
                problems.append(f"{path}.by_tier: no value for tier(s) {missing} — give one value per tier of `tiers`")
            for t in table.by_tier:
                if t not in tiers:
                    problems.append(f"{path}.by_tier.{t}: unknown tier{_did_you_mean(t, tiers)} — tiers are {self.tiers}")
            for place, row in table.by_place.items():
                if place not in PLACES:
                    problems.append(
                        f"{path}.by_place.{place}: unknown place of care{_did_you_mean(place, PLACES)} — use one of {list(PLACES)}"
                    )
                for t in row:
                    if t not in tiers:
                        problems.append(
                            f"{path}.by_place.{place}.{t}: unknown tier{_did_you_mean(t, tiers)} — tiers are {self.tiers}"
                        )

        def need_ids(path: str, keys: Any) -> None:
            for k in keys:
                if k not in ids:
                    problems.append(
                        f"{path}.{k}: identity not in `identities`{_did_you_mean(k, ids)} — add it there or fix the name"
                    )

        def need_classes(path: str, names: list[str]) -> None:
            for i, c in enumerate(names):
                if c not in BENEFIT_CLASSES:
                    problems.append(
                        f"{path}[{i}]: '{c}' is not a benefit class{_did_you_mean(c, BENEFIT_CLASSES)} — use one of {list(BENEFIT_CLASSES)}"
                    )

        b = self.basic
        if b.inpatient:
            need_tiers("basic.inpatient.deductible", b.inpatient.deductible)
            need_tiers("basic.inpatient.ratio", b.inpatient.ratio)
            need_ids("basic.inpatient.identity", b.inpatient.identity)
            for place in b.inpatient.referral.by_place if b.inpatient.referral else []:
                if place not in PLACES:
                    problems.append(
                        f"basic.inpatient.referral.by_place.{place}: unknown place of care{_did_you_mean(place, PLACES)} — use one of {list(PLACES)}"
                    )
        if b.general_outpatient:
            need_tiers("basic.general_outpatient.ratio", b.general_outpatient.ratio)
            for i, t in enumerate(b.general_outpatient.covered_tiers or []):
                if t not in tiers:
                    problems.append(
                        f"basic.general_outpatient.covered_tiers[{i}]: unknown tier '{t}'{_did_you_mean(t, tiers)} — tiers are {self.tiers}"
                    )
        seen_caps: set[str] = set()
        for i, cap in enumerate(b.annual_caps):
            need_classes(f"basic.annual_caps[{i}].classes", cap.classes)
            if cap.name in seen_caps:
                problems.append(f"basic.annual_caps[{i}].name: '{cap.name}' used twice — give each cap its own name")
            seen_caps.add(cap.name)
        used = {v for v in self.codes.med_type.values() if v != EXCLUDED}
        for cls in sorted(used & set(BENEFIT_CLASSES)):
            if getattr(b, cls) is None and b.reported is None:
                problems.append(
                    f"codes.med_type: maps codes to '{cls}' but basic.{cls} is not defined — define basic.{cls} or map those codes to 'excluded'"
                )
        if self.critical:
            need_classes("critical.classes", self.critical.classes)
            need_ids("critical.identity_tilt", self.critical.identity_tilt)
        if self.assistance:
            need_classes("assistance.classes", self.assistance.classes)
            need_ids("assistance.schemes", self.assistance.schemes)
        if self.contributions:
            need_ids("contributions.aid", self.contributions.aid)
        for key, t in self.targets.items():
            need_classes(f"targets.{key}.classes", t.classes)
            need_ids(f"targets.{key}.identities", t.identities or [])
            for i, place in enumerate(t.places or []):
                if place not in PLACES:
                    problems.append(f"targets.{key}.places[{i}]: '{place}' is not a place of care{_did_you_mean(place, PLACES)} — use one of {list(PLACES)}")
        if self.audit:
            problems += self.audit.problems(self.identities)
        if problems:
            raise _Problems(problems)
        return self


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# ------------------------------------------------------------------ loading


def _fmt_loc(loc: tuple[Any, ...], data: Any = None) -> str:
    """A pydantic location as the key path of the file: `a.b[0].c` (lists indexed, mappings dotted).

    ``data`` (the parsed YAML) tells list indexes from integer mapping keys such as ``2:``.
    """
    out = ""
    node = data
    for part in loc:
        if part == "[key]":  # pydantic's marker for a problem with a mapping key itself
            continue
        if isinstance(part, int) and (isinstance(node, list) or node is None and not isinstance(part, str)):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional[...] from a field annotation."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema model that sits at a key path, if any (to list the keys allowed there)."""
    tp: Any = RuleSet
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or name: f for name, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif get_origin(tp) in (list, tuple):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


_TYPE_WORDS = {
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "list_type": "a list ([a, b] or '- a' lines)",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "date_type": "a date such as 2024-01-01",
    "date_parsing": "a date such as 2024-01-01",
    "date_from_datetime_parsing": "a date such as 2024-01-01",
    "date_from_datetime_inexact": "a date such as 2024-01-01",
}


def _describe(err: dict[str, Any], data: Any) -> str:
    """One pydantic error as 'key.path: what is wrong — fix', in the file's own key names."""
    loc = tuple(err["loc"])
    path = _fmt_loc(loc, data)
    t = err.get("type", "")
    got = _show(err.get("input"))
    is_key = bool(loc) and loc[-1] == "[key]"
    if t == "missing":
        model = _model_at(loc[:-1])
        allowed = f" (keys here: {', '.join(_field_keys(model))})" if model else ""
        return f"{path}: required key `{loc[-1]}` is missing — add it{allowed}; see docs/rules.md"
    if t == "extra_forbidden":
        model = _model_at(loc[:-1])
        if model is None:
            return f"{path}: unknown key — remove it or check its spelling (see docs/rules.md)"
        keys = _field_keys(model)
        return (
            f"{path}: unknown key `{loc[-1]}`{_did_you_mean(str(loc[-1]), keys)} — "
            f"remove it or fix its spelling; keys allowed here: {', '.join(keys)}"
        )
    if t == "value_error":
        msg = err["msg"].removeprefix("Value error, ")
        return f"{path}: {msg}" if " — " in msg else f"{path}: {msg} — fix the value"
    if t == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "one of the allowed values")
        return f"{path}: {got} is not allowed — use {expected}"
    if is_key:
        key = loc[-2] if len(loc) >= 2 else got
        if t == "string_type":
            quoted = f"0{key}" if isinstance(key, int) and 0 <= key < 10 else str(key)
            return (
                f"{path}: the key {key!r} is a number, but codes are text — quote it as written in the export, "
                f"e.g. \"{quoted}\": (YAML reads an unquoted 07 as the number 7)"
            )
        return f"{path}: the key {key!r} should be {_TYPE_WORDS.get(t, 'of another type')} — fix the key"
    if t.startswith("date"):
        return f"{path}: expected a date, got {got} — write YYYY-MM-DD, e.g. 2024-01-01"
    if t in _TYPE_WORDS:
        return f"{path}: expected {_TYPE_WORDS[t]}, got {got} — fix the value (see docs/rules.md)"
    return f"{path}: {err['msg']} (got {got}) — fix the value (see docs/rules.md)"


def _problems_of(e: ValidationError, data: Any) -> list[str]:
    """Every error of a validation, with model-level checks expanded to one line per problem."""
    out: list[str] = []
    for err in e.errors():
        cause = (err.get("ctx") or {}).get("error")
        if err.get("type") == "value_error" and isinstance(cause, _Problems):
            prefix = _fmt_loc(tuple(err["loc"]), data)
            for line in cause.lines:
                out.append(line if prefix == "(top level)" else f"{prefix}.{line}")
        else:
            out.append(_describe(err, data))
    return out


_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present


class _StrictLoader(_SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue  # the base constructor reports unhashable keys
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_problem(path: Path, e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
    problem = getattr(e, "problem", None) or str(e)
    if problem.startswith("duplicate key"):
        return f"{path}:{where} {problem} — keep one of them"
    context, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    ctx = f" ({context} at line {cmark.line + 1})" if context and cmark else ""
    return (
        f"{path}:{where} not valid YAML: {problem}{ctx} — fix the syntax there "
        "(indentation, a missing ':', an unclosed quote or bracket)"
    )


def resolve_rules_path(spec: str | Path) -> Path:
    """`anhui/dongzhi-2021`, `rules/anhui/dongzhi-2021.yaml` or a directory of one region's periods."""
    p = Path(spec)
    candidates = [p, p.with_suffix(".yaml"), RULES_DIR / p, (RULES_DIR / p).with_suffix(".yaml")]
    for c in candidates:
        if c.exists():
            return c
    raise RuleSetError(
        [f"{spec}: no such rule-set file or directory — give a path, or an id under rules/ such as anhui/dongzhi-2021 (see `medclaim rules list`)"]
    )


#: Bounds on a rule file (the shipped ones are ~10 KB and a few thousand YAML nodes): a FIFO,
#: /dev/zero or a "billion laughs" file of nested aliases must be refused, not read forever.
MAX_RULE_FILE_BYTES = 2 * 1024 * 1024
MAX_RULE_NODES = 200_000  # YAML nodes counted with every alias expanded
MAX_SCALAR_CHARS = 4_000  # one value (a source citation is the longest legitimate one)
MAX_NUMBER_CHARS = 40  # a number in a rule file (money, ratios, years) is never longer


def _read_rule_file(path: Path) -> str:
    try:
        st = path.stat()
    except OSError as e:
        raise RuleSetError([f"{path}: cannot read ({e.strerror or e}) — check the path"]) from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise RuleSetError([f"{path}: {kind} — give a rule-set .yaml file (or a directory of one region's periods)"])
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_RULE_FILE_BYTES + 1)
    except OSError as e:
        raise RuleSetError([f"{path}: cannot read ({e.strerror or e}) — check the path and its permissions"]) from None
    if len(data) > MAX_RULE_FILE_BYTES:
        raise RuleSetError([f"{path}: larger than {MAX_RULE_FILE_BYTES // 1024 // 1024} MiB — not a rule set (they are a few KB); check the file"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RuleSetError([f"{path}: not UTF-8 text (byte {e.start}) — save the rule file as UTF-8"]) from None


def load_ruleset_file(path: Path) -> RuleSet:
    """Parse and validate one rule-set file; every problem is reported as 'file: key.path: what — fix'."""
    path = Path(path)
    return _parse_ruleset(_read_rule_file(path), path)


_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


def _check_nodes(root: yaml.Node, path: Path) -> None:
    """Refuse what would explode or echo huge values: the expanded node count (aliases counted
    each time they are used, computed without expanding them), over-long values and numbers."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            where = f"{path}: line {node.start_mark.line + 1}"
            if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
                raise RuleSetError([f"{where}: a number of {len(node.value):,} characters — no rule-set value is that long; fix it"])
            if len(node.value) > MAX_SCALAR_CHARS:
                raise RuleSetError([f"{where}: a value of {len(node.value):,} characters — longer than any rule-set value "
                                    f"({MAX_SCALAR_CHARS:,} at most); shorten it"])
            sizes[id(node)] = 1
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if not done:
            stack.append((node, True))
            stack += [(c, False) for c in children if id(c) not in sizes]
            continue
        sizes[id(node)] = 1 + sum(sizes.get(id(c), 1) for c in children)
        if sizes[id(node)] > MAX_RULE_NODES:
            raise RuleSetError([f"{path}: line {node.start_mark.line + 1}: more than {MAX_RULE_NODES:,} values once its "
                                "aliases (*name) are expanded — a rule set is far smaller; remove the nested aliases"])


def _load_yaml(text: str, path: Path) -> Any:
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, path)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _parse_ruleset(text: str, path: Path) -> RuleSet:
    """Parse and validate rule-set text; ``path`` only labels the problems."""
    try:
        data = _load_yaml(text, path)  # a safe loader subclass
    except yaml.YAMLError as e:
        raise RuleSetError([_yaml_problem(path, e)]) from None
    if not isinstance(data, dict):
        raise RuleSetError(
            [f"{path}: (top level): expected a mapping with keys ruleset, sources, tiers, codes, basic … — see docs/rules.md for an example"]
        )
    try:
        return RuleSet.model_validate(data)
    except ValidationError as e:
        raise RuleSetError([f"{path}: {p}" for p in _problems_of(e, data)]) from None


@dataclass(frozen=True)
class RuleBook:
    """One region's rule sets, one per policy period, without overlaps or gaps."""

    path: Path
    periods: tuple[RuleSet, ...]
    files: tuple[Path, ...]

    @property
    def name(self) -> str:
        return ", ".join(r.id for r in self.periods)

    def file_of(self, rs: RuleSet) -> Path:
        return self.files[self.periods.index(rs)]


def load_rulebook(spec: str | Path) -> RuleBook:
    path = resolve_rules_path(spec)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise RuleSetError([f"{path}: directory holds no *.yaml rule sets — give a rule-set file or a directory of one region's *.yaml periods"])
    problems: list[str] = []
    loaded: list[tuple[RuleSet, Path]] = []
    for f in files:
        try:
            loaded.append((load_ruleset_file(f), f))
        except RuleSetError as e:
            problems += e.problems
    if problems:
        raise RuleSetError(problems)
    loaded.sort(key=lambda rf: (rf[0].ruleset.effective_from, rf[0].ruleset.effective_to))
    regions = {rs.ruleset.region for rs, _ in loaded}
    if len(regions) > 1:
        which = "; ".join(f"{f.name}: '{rs.ruleset.region}'" for rs, f in loaded)
        raise RuleSetError(
            [f"{path}: ruleset.region: the directory mixes regions ({which}) — keep one region's periods per directory"]
        )
    day = dt.timedelta(days=1)
    for (a, fa), (b, fb) in zip(loaded, loaded[1:]):
        a_to, b_from = a.ruleset.effective_to, b.ruleset.effective_from
        gap = (b_from - a_to).days
        if gap < 1:
            problems.append(
                f"{fb}: ruleset.effective_from: {b_from} overlaps {fa.name} (in force until {a_to}) — periods must not "
                f"overlap: start this period on {a_to + day} or end the other on {b_from - day}"
            )
        elif gap > 1:
            problems.append(
                f"{fb}: ruleset.effective_from: {b_from} leaves a gap after {fa.name} (in force until {a_to}); "
                f"{a_to + day}..{b_from - day} has no rules — start this period on {a_to + day} or end the other on {b_from - day}"
            )
    if problems:
        raise RuleSetError(problems)
    return RuleBook(path=path, periods=tuple(rs for rs, _ in loaded), files=tuple(f for _, f in loaded))


def list_rulesets(root: Path = RULES_DIR) -> list[tuple[str, Path]]:
    return [(str(p.relative_to(root).with_suffix("")), p) for p in sorted(root.rglob("*.yaml"))]
