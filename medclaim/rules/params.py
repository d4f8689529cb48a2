"""The cited parameter blocks of a rule file and the benefit layers they make up.

Every number sits in a *cited block*: the block carries ``source`` (a key of the file's
``sources`` table), ``ref`` (the article or page) and ``status`` (``verified`` against the
document, or ``unverified`` placeholder).  The layers are basic insurance (统筹基金: inpatient,
general outpatient, chronic outpatient, two diseases, annual caps), critical-illness insurance
(大病保险: bands on the cumulative base) and medical assistance (医疗救助: schemes by identity);
targets are the rates a policy document sets for the funds (``medclaim report``).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..money import BP, fen_to_yuan_str
from .errors import _Problems
from .units import Factor, Points, Ratio, Yuan

#: Benefit classes of basic insurance, plus ``excluded`` for classes the rule set does not cover.
BENEFIT_CLASSES = ("inpatient", "general_outpatient", "chronic_outpatient", "two_diseases")
EXCLUDED = "excluded"
#: Places of care (就医地).
PLACES = ("local", "in_city", "in_province", "out_of_province")
ORDINARY = "ordinary"


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

