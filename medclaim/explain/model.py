"""The explain document, typed: schema ``medclaim.explain/1`` (docs/explain.md).

The models are the single definition of the document's shape.  ``JSON_SCHEMA`` (printed by
``medclaim explain --json-schema``) is generated from them, ``validate`` checks a document against
them, and ``document.explain_person`` passes every document it builds through them, so what explain
prints and what the schema says cannot drift apart.

Money is integer fen, ratios and factors integer basis points, dates ISO strings; a figure the
ledger does not keep is null.  Validation is strict: a float or a string where money belongs, a
missing key or an unexpected one is a problem, never coerced.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

SCHEMA_ID = "medclaim.explain/1"

Fen = Optional[int]
Bp = Optional[int]


class _Part(BaseModel):
    """A closed object: every key listed, nothing coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    # keys written only when they apply (documented as optional in docs/explain.md)
    omitted_when_none: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler: Any) -> dict[str, Any]:
        out = handler(self)
        for key in self.omitted_when_none:
            if out.get(key) is None:
                out.pop(key, None)
        return out


class Cite(_Part):
    """Where a figure comes from: the rule-set file and key, the source document, its status."""

    file: str
    key: str
    doc_no: Optional[str] = Field(description="document number; null for a code-table entry (no citation of its own)")
    ref: str
    status: Optional[Literal["verified", "unverified"]]


class RulesetUsed(_Part):
    id: str
    version: str
    file: str
    name: str
    unverified: int = Field(description="count of unverified parameter blocks")
    parameters: int


class Notice(BaseModel):
    """``ruleset_version_changed`` (ruleset_id, ledger_version, file_version) or ``claim_rejected``
    (setl_id, reason_code, message)."""

    model_config = ConfigDict(extra="allow", strict=True)

    code: str


class Flags(_Part):
    basic_cap_reached: bool
    critical_threshold_reached: bool
    critical_cap_reached: bool


class Costs(_Part):
    medfee_sumamt: Fen
    fulamt_ownpay_amt: Fen
    overlmt_selfpay: Fen
    preselfpay_amt: Fen
    inscp_scp_amt: Fen
    scope: Fen = Field(description="policy-scope amount the funds look at")
    pre: Fen = Field(description="class-B first self-pay the funds look at")


class Deductible(_Part):
    kind: Literal["per_admission", "per_visit", "annual"]
    borne: Fen
    amount: Fen
    base: Fen
    admission_no: Optional[int]
    repeat_factor_bp: Bp
    identity_factor_bp: Bp
    cumulative_before: Fen
    cumulative_after: Fen
    cites: list[Cite]


class Ratio(_Part):
    applied_bp: Bp
    base_bp: Bp
    referral_points_bp: Bp
    identity_points_bp: Bp
    cites: list[Cite]


class AnnualCap(_Part):
    name: str
    classes: list[str]
    limit: int
    this_claim: Fen
    before: Fen
    after: Fen
    cut: Fen
    cites: list[Cite]


class Receipt(_Part):
    """Per-claim rounding (``rounding: per_claim``): the receipt's product before rounding, and the
    figure it rounds to (half-up, once per claim and layer), before any annual cap or limit."""

    part: Fen = Field(description="this claim's amount above what is still to bear (null when several bands apply: see the segments)")
    ratio_bp: Bp = Field(description="the ratio applied to `part` (null when several bands apply)")
    exact: int = Field(description="Σ part × ratio, exactly, in fen × basis points (÷ 1,000,000 = yuan)")
    rounded: Fen = Field(description="`exact` rounded half-up to the fen")


class Basic(_Part):
    omitted_when_none: ClassVar[tuple[str, ...]] = ("per_visit_cap", "receipt")

    applies: bool
    method: Optional[Literal["inpatient", "general_outpatient", "chronic_outpatient", "two_diseases", "reported"]]
    deductible: Optional[Deductible]
    ratio: Optional[Ratio]
    raw: Fen = Field(description="calculated before the annual caps")
    caps: list[AnnualCap]
    pay: Fen
    cites: list[Cite]
    per_visit_cap: int = Field(default=None, description="general outpatient: the per-visit cap, when the rule set has one")
    receipt: Optional[Receipt] = Field(default=None, description="chronic outpatient with per-claim rounding: the part above the annual deductible still to bear × ratio")


class Tilt(_Part):
    identity: str
    threshold_factor_bp: int
    ratio_points_bp: Bp
    no_cap: bool
    cites: list[Cite]


class Segment(_Part):
    index: int
    from_: Fen = Field(alias="from")
    to: Fen = Field(description="null: open-ended")
    ratio_bp: Bp
    base: Fen
    pay: Fen
    cites: list[Cite]


class Critical(_Part):
    omitted_when_none: ClassVar[tuple[str, ...]] = ("cap_cites", "receipt")

    applies: bool
    reason: Optional[Literal["no_layer", "not_covered", "class_not_counted"]]
    base: Fen
    before: Fen
    after: Fen
    threshold: Fen
    cap: Fen = Field(description="null: no cap")
    ratio_points_bp: Bp
    tilt: Optional[Tilt]
    segments: list[Segment]
    counts_preselfpay: bool
    cap_cut: Fen
    pay: Fen
    cites: list[Cite]
    cap_cites: list[Cite] = Field(default=None, description="the annual cap's citation, when the rule set has the layer")
    receipt: Optional[Receipt] = Field(default=None, description="per-claim rounding: Σ of the segments' parts × ratios, rounded once")


class Assistance(_Part):
    omitted_when_none: ClassVar[tuple[str, ...]] = ("receipt",)

    applies: bool
    reason: Optional[Literal["no_layer", "no_scheme", "not_covered", "class_not_counted"]]
    scheme: Optional[str]
    counts_preselfpay: bool
    base: Fen
    before: Fen
    after: Fen
    deductible: Fen
    ratio_bp: Bp
    limit: Fen = Field(description="null: no limit")
    used_before: Fen
    used_after: Fen
    left: Fen
    pay: Fen
    cites: list[Cite]
    receipt: Optional[Receipt] = Field(default=None, description="per-claim rounding: the part above the deductible still to bear × ratio, rounded once")


class Patient(_Part):
    hifp_pay: Fen
    hifmi_pay: Fen
    maf_pay: Fen
    fund_pay_sumamt: Fen
    psn_part_amt: Fen
    act_pay_dedc: Fen


class Steps(_Part):
    costs: Costs
    basic: Basic
    critical: Critical
    assistance: Assistance
    patient: Patient


class Ytd(_Part):
    """The person-year's running totals after a claim."""

    claims: Optional[int]
    admissions: Optional[int]
    medfee_sumamt: Fen
    hifp_pay: Fen
    hifmi_pay: Fen
    maf_pay: Fen
    psn_part_amt: Fen
    critical_base: Fen
    assist_base: Fen
    chronic_scope: Fen
    caps: dict[str, Fen] = Field(description="cap name → cumulative amount counted toward it")


class ReportedField(_Part):
    """One figure of the hospital's own settlement beside the computed one."""

    field: Literal["act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]
    reported: int = Field(description="as the hospital settled it (fen)")
    computed: int = Field(description="as the rules give it (fen)")
    difference: int = Field(description="reported − computed (fen): positive, the hospital paid more from that fund (psn_part_amt: charged the patient more)")
    cause: Optional[str] = Field(description="when they differ: the audit's cause code (docs/audit.md); null when equal")
    rule_key: Optional[str] = Field(description="the rule-file key the cause names (null when equal or unexplained)")
    message: Optional[str] = Field(description="what the hospital did, as medclaim audit says it (null when equal)")


class Reported(_Part):
    """The hospital's reported amounts of this claim (only when the claim carries some)."""

    fields: list[ReportedField] = Field(description="each field the claim carries, in waterfall order")
    differing: int = Field(description="how many of them differ from the computed figure")
    not_reported: list[str] = Field(description="fields the claim does not carry (not compared)")


class Claim(_Part):
    omitted_when_none: ClassVar[tuple[str, ...]] = ("reported",)

    seq: int = Field(description="position in the year's settlement order")
    setl_id: str
    begndate: str
    enddate: str
    benefit_start: Optional[str]
    med_type: Optional[str]
    hosp_lv: Optional[str]
    pay_loc: Optional[str]
    psn_idet_type: Optional[str]
    refl_flag: Optional[bool]
    benefit_class: str
    tier: Optional[str]
    place: Optional[str]
    identity: Optional[str]
    is_reversal: bool
    entry_no: Optional[int]
    run: Optional[int]
    reverses_entry: Optional[int]
    reversal_reason: Optional[str]
    late: Optional[bool]
    ruleset_id: str
    ruleset_version: Optional[str]
    covered: bool
    not_covered_reason: Optional[str]
    not_covered_cite: Optional[Cite]
    flags: Flags
    steps: Steps
    ytd: Ytd
    reported: Optional[Reported] = Field(default=None, description="the hospital's own settlement beside the computed figures, when the input carries it (columns 统筹基金支出 …)")


class ExplainDoc(_Part):
    """medclaim explain: one person's benefit year, claim by claim (money in fen, ratios in basis points)."""

    schema_: Literal["medclaim.explain/1"] = Field(alias="schema")
    person: str = Field(description="the person number, masked unless --show-ids")
    person_masked: bool
    year: int
    years_available: list[int]
    source: dict[str, Any]
    rulesets: list[RulesetUsed]
    warnings: list[Notice]
    claims: list[Claim]
    claims_in_year: int
    only: Optional[str] = Field(description="the --claim filter")
    year_totals: Ytd


def _json_schema() -> dict[str, Any]:
    generated = ExplainDoc.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **generated,
        "title": "medclaim explain: one person's benefit year, claim by claim (money in fen, ratios in basis points)",
    }


JSON_SCHEMA: dict[str, Any] = _json_schema()


def _where(loc: tuple[Any, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)


def validate(doc: Any) -> list[str]:
    """The problems of ``doc`` as an explain document ([] when valid), each with its JSON path."""
    try:
        ExplainDoc.model_validate(doc)
    except ValidationError as e:
        return [f"{_where(err['loc'])}: {err['msg']}" for err in e.errors()]
    return []


def conform(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` as the models write it; raises ValidationError if it does not fit the schema."""
    return ExplainDoc.model_validate(doc).model_dump(by_alias=True)
