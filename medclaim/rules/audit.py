"""The rule file's ``audit`` block: review-rule parameters and burden thresholds, each cited.

    audit:
      review:            # review rules (flags.csv)
        source: placeholder
        status: unverified
        readmission_days: 15
        ...
      high_burden:       # 高额费用负担患者预警 (high_burden.csv)
        source: wy-2023-10
        status: unverified
        threshold: 20000
        by_identity: {tekun: 5000}
      tilt_assistance:   # 倾斜救助: assisted people still above this after the three layers
        ...

A rule set without the block is audited with the defaults below: placeholders chosen by the
project, not taken from any document (the summary and ``docs/audit.md`` say so).

The models are part of the rule file's schema, so they live in ``medclaim.rules`` (``RuleSet``
holds the block); ``medclaim.audit`` uses them.  The rules package imports nothing of the audit.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .params import BENEFIT_CLASSES, Cited, _Model
from .units import Yuan


class ReviewRules(Cited):
    """Parameters of the review rules (see docs/audit.md for each code)."""

    readmission_days: int = Field(15, ge=0, description="quick_readmission: days from discharge to the next admission at the same hospital")
    same_day_max: int = Field(1, ge=1, description="same_day_repeat: settlements of one person at one hospital on one day allowed")
    min_stay_days: int = Field(1, ge=0, description="zero_day_stay: inpatient stays shorter than this many days are flagged")
    outlier_k: float = Field(5.0, gt=0, description="cost_outlier: flagged above median + k × MAD of the class-and-tier peers")
    outlier_min_peers: int = Field(30, ge=3, description="cost_outlier: peer groups smaller than this are not judged")
    outpatient_visits_per_month: int = Field(8, ge=1, description="frequent_outpatient: more visits than this in a calendar month")
    outpatient_classes: list[str] = Field(["general_outpatient"], description="classes counted as outpatient visits")


class HighBurden(Cited):
    """高额费用负担患者预警: people whose personal burden for the year exceeds a threshold."""

    basis: Literal["psn_part_amt", "policy_scope"] = Field(
        "psn_part_amt", description="what counts as burden: all the patient paid, or the policy-scope part only"
    )
    threshold: Yuan
    by_identity: dict[str, Yuan] = {}


class TiltAssistance(Cited):
    """倾斜救助: assisted identities whose policy-scope burden after the three layers stays above this."""

    threshold: Yuan
    by_identity: dict[str, Yuan] = {}


class AuditRules(_Model):
    review: ReviewRules | None = None
    high_burden: HighBurden | None = None
    tilt_assistance: TiltAssistance | None = None

    def problems(self, identities: list[str]) -> list[str]:
        """Names used here that the rule set does not declare ('key.path: what — fix')."""
        out = []
        if self.review:
            for i, c in enumerate(self.review.outpatient_classes):
                if c not in BENEFIT_CLASSES:
                    out.append(f"audit.review.outpatient_classes[{i}]: '{c}' is not a benefit class — use one of {list(BENEFIT_CLASSES)}")
        for key, block in (("high_burden", self.high_burden), ("tilt_assistance", self.tilt_assistance)):
            for ident in (block.by_identity if block else {}):
                if ident not in identities:
                    out.append(f"audit.{key}.by_identity.{ident}: identity not in `identities` — add it there or fix the name")
        return out


#: Used when a rule set has no ``audit`` block, or lacks one of its parts.  Placeholders chosen by
#: the project so that the review runs at all — not from any policy document.
DEFAULT_SOURCE = "medclaim default (placeholder)"
DEFAULT_REVIEW = ReviewRules(source=DEFAULT_SOURCE, status="unverified")
DEFAULT_HIGH_BURDEN = HighBurden(source=DEFAULT_SOURCE, status="unverified", threshold=20000)  # yuan
