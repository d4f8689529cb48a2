"""The whole rule set: enrollment, contributions, code tables, identity of the period, and the
checks across its sections (every name used is declared, every table is complete)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from ..money import fen_to_yuan_str
from .audit import AuditRules
from .errors import _did_you_mean, _Problems
from .params import (
    BENEFIT_CLASSES,
    EXCLUDED,
    ORDINARY,
    PLACES,
    Assistance,
    Basic,
    Cited,
    CodeCaveat,
    Critical,
    Source,
    Target,
    TierAmounts,
    TierRatios,
    _Model,
)
from .units import Yuan


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
