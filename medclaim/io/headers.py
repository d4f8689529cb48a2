"""Which file headers mean which canonical field, and where a file's header row is.

The alias table is data: add a header seen in a new export here and nothing else changes, or,
without touching the code, give a site mapping file (``--columns``, see ``sitemap``).
Each field lists its national platform code first, then Chinese headers seen in real exports,
then readable English names.  Matching is done on a normalised form (see ``normalise_header``),
so ``总费用（元）``, `` Total Cost `` and ``TOTAL_COST`` all match their entry.

Deliberately *not* aliased: 人员类别 (psn_type, 职工/居民 — not the assistance identity),
就诊ID (mdtrt_id, one visit may have several settlements).  Columns matching no alias are
listed in ``HeaderMap.unrecognised`` so the run can name them.

A ``Vocabulary`` bundles an alias table with its required fields, so another kind of file (the
enrollment roster) can use the same matching and header-row search with its own table.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from medclaim.io.errors import InputFileError
from medclaim.schema import DESCRIPTIVE_SCHEMA

#: canonical field -> accepted headers (display form; matched after normalisation).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "setl_id": ("setl_id", "结算ID", "结算流水号", "结算编号", "结算单据号", "结算单号", "settlement_id", "settlement_no", "claim_id"),
    "psn_no": ("psn_no", "人员编号", "个人编号", "参保人员编号", "person_id", "person_no", "patient_id"),
    "psn_idet_type": (
        "psn_idet_type",
        "人员身份类别",
        "救助对象类别",
        "特殊人员类型",
        "identity",
        "identity_type",
        "assisted_identity",
    ),
    "med_type": ("med_type", "医疗类别", "医疗类型", "benefit_class", "medical_type"),
    "hosp_lv": ("hosp_lv", "医院等级", "机构级别", "医疗机构等级", "hospital_level", "hosp_level"),
    "pay_loc": (
        "pay_loc",
        "就医地",
        "医药机构地点类别",
        "就医地类别",
        "place_of_care",
        "care_place",
        "area",
    ),
    "refl_flag": ("refl_flag", "转诊标志", "是否转诊", "referred", "referral", "is_referred"),
    "begndate": ("begndate", "begntime", "入院日期", "入院时间", "开始日期", "就诊开始日期", "start_date", "begin_date", "admission_date"),
    "enddate": ("enddate", "endtime", "出院日期", "出院时间", "结束日期", "就诊结束日期", "end_date", "discharge_date"),
    "medfee_sumamt": ("medfee_sumamt", "医疗费总额", "医疗费用总额", "总费用", "医疗总费用", "费用总额", "total_cost", "total_fee"),
    "fulamt_ownpay_amt": ("fulamt_ownpay_amt", "全自费金额", "全自费", "fully_self_paid", "full_self_pay"),
    "overlmt_selfpay": (
        "overlmt_selfpay",
        "超限价自费费用",
        "超限价自付",
        "超限价自付金额",
        "over_limit",
        "over_limit_self_pay",
    ),
    "preselfpay_amt": (
        "preselfpay_amt",
        "先行自付金额",
        "乙类先行自付",
        "先行自付",
        "first_self_pay",
        "prior_self_pay",
    ),
    "inscp_scp_amt": (
        "inscp_scp_amt",
        "符合政策范围金额",
        "范围内费用",
        "政策范围内费用",
        "policy_scope",
        "policy_scope_amount",
        "in_scope",
    ),
    # Read only by rule sets that take basic insurance as settled by the basic fund (basic.reported),
    # e.g. a 大病 insurer's view; otherwise the engine computes basic insurance itself.
    "reported_hifp_pay": (
        "hifp_pay",
        "统筹基金支出",
        "基本医疗保险统筹基金支出",
        "统筹基金支付",
        "reported_hifp_pay",
        "basic_fund_paid",
    ),
    # What the hospital's settlement already paid: compared by `medclaim audit` and the settle
    # summary, never trusted (national codes of the 2304/2207 settlement output first).
    "reported_hifmi_pay": (
        "hifmi_pay", "大病保险支出", "大病保险资金支出", "居民大病保险资金支出", "reported_hifmi_pay", "critical_illness_paid",
    ),
    "reported_maf_pay": ("maf_pay", "医疗救助支出", "医疗救助基金支出", "reported_maf_pay", "medical_assistance_paid"),
    "reported_act_pay_dedc": ("act_pay_dedc", "实际支付起付线", "起付线", "reported_act_pay_dedc", "deductible_paid"),
    "reported_fund_pay_sumamt": ("fund_pay_sumamt", "基金支付总额", "reported_fund_pay_sumamt", "funds_paid"),
    "reported_psn_part_amt": ("psn_part_amt", "个人负担总金额", "reported_psn_part_amt", "patient_paid"),
    # Descriptive: carried to the ledger as they are (a breakdown by hospital, a lookup at the
    # counter); never used to settle, except as stand-ins (see STAND_INS).
    "psn_name": ("psn_name", "人员姓名", "姓名", "患者姓名", "参保人姓名", "name", "patient_name"),
    "certno": ("certno", "证件号码", "身份证号", "身份证号码", "公民身份号码", "证件号", "id_card", "id_card_no"),
    "fixmedins_code": ("fixmedins_code", "定点医药机构编号", "定点医药机构编码", "医疗机构编码", "医疗机构编号", "医院编码", "hospital_code"),
    "fixmedins_name": ("fixmedins_name", "定点医药机构名称", "医疗机构名称", "医院名称", "就诊医院", "hospital_name", "hospital"),
    "dept": ("dept", "科室", "科室名称", "就诊科室", "department"),
    "dise_codg": ("dise_codg", "诊断编码", "疾病编码", "主诊断编码", "病种编码", "病种编号", "diagnosis_code"),
    "dise_name": ("dise_name", "诊断名称", "疾病名称", "主诊断名称", "病种名称", "诊断", "diagnosis"),
    "med_type_name": ("med_type_name", "医疗类别名称", "医疗类型名称", "benefit_class_name"),
    "benefit_start": ("benefit_start", "待遇开始日期", "待遇享受开始日期", "benefits_start", "benefit_start_date"),
}

#: Fields a file must have as columns (a blank *cell* in them is a row reject, not a file error).
REQUIRED_FIELDS: tuple[str, ...] = ("setl_id", "psn_no", "med_type", "hosp_lv", "begndate", "enddate", "medfee_sumamt")

#: A required field absent from the file may take its values from another column: the ID-card
#: number identifies the person when there is no person number; the benefit-class name stands
#: in for the class code (rule sets map names as well as codes).
STAND_INS: dict[str, str] = {"psn_no": "certno", "med_type": "med_type_name"}

#: Fields that only describe the claim (schema.DESCRIPTIVE_SCHEMA): a second column for one of
#: them is ignored (first wins) instead of being an error, since it cannot change a payment.
DESCRIPTIVE_FIELDS: tuple[str, ...] = tuple(DESCRIPTIVE_SCHEMA)

# A trailing unit such as （元） / [元] / (yuan) says nothing about which field it is.
_UNIT_SUFFIX = re.compile(r"[(\[](元|yuan|rmb|cny|¥|￥)[)\]]$")
# Separators people put between words: "Total Cost", "total-cost", "total_cost" are one name.
_WORD_SEPARATORS = re.compile(r"[\s_\-.·]+")


def normalise_header(label: object) -> str:
    """The matching key of a header: NFKC (full-width → half-width), no BOM, lower case,
    no unit suffix, no word separators."""
    text = unicodedata.normalize("NFKC", str(label or "")).replace("\ufeff", "").strip().lower()
    text = _UNIT_SUFFIX.sub("", text).strip()
    return _WORD_SEPARATORS.sub("", text)


@dataclass(frozen=True)
class Vocabulary:
    """The headers one kind of file may use: field -> aliases, the fields it must have, the
    fields that may stand in for an absent required one, and those that merely describe."""

    aliases: Mapping[str, tuple[str, ...]]
    required: tuple[str, ...]
    stand_ins: Mapping[str, str] = field(default_factory=dict)
    descriptive: tuple[str, ...] = ()
    what: str = "claims"  # what the file holds, for messages
    #: site overrides: normalised header -> field, or None for "never read this column"
    site: Mapping[str, str | None] = field(default_factory=dict)
    site_source: str | None = None  # the mapping file, for messages

    def lookup(self) -> dict[str, str | None]:
        table: dict[str, str | None] = {normalise_header(a): f for f, aliases in self.aliases.items() for a in aliases}
        table.update(self.site)
        return table

    def field_of(self, name: str) -> str | None:
        """A field named by the user: canonical field, national code or any alias."""
        return name if name in self.aliases else self.lookup().get(normalise_header(name))

    def with_site(self, site: Mapping[str, str | None], source: str) -> Vocabulary:
        return Vocabulary(self.aliases, self.required, self.stand_ins, self.descriptive, self.what, dict(site), source)

    def accepted(self, name: str) -> str:
        extra = [k for k, v in self.site.items() if v == name]
        return ", ".join([*self.aliases[name], *extra])


CLAIMS = Vocabulary(HEADER_ALIASES, REQUIRED_FIELDS, STAND_INS, DESCRIPTIVE_FIELDS)


@dataclass(frozen=True)
class HeaderMap:
    """Where each recognised canonical field sits in one file."""

    columns: dict[str, int]  # canonical field -> 0-based column position in the file
    labels: dict[str, str]  # canonical field -> header exactly as written in the file
    unrecognised: tuple[str, ...] = ()  # non-empty headers that match no field (named in the summary)
    ignored: tuple[str, ...] = ()  # headers the site mapping says not to read, and second copies of a descriptive field
    stood_in: dict[str, str] = field(default_factory=dict)  # required field -> the field whose column it uses

    def label(self, field: str) -> str:
        """How to name a field to the user: the file's own header (or the code if absent)."""
        return self.labels.get(field, field)

    def describe(self, field: str) -> str:
        """'medfee_sumamt (总费用)' — the canonical name plus the header as in the file."""
        label = self.labels.get(field)
        if label is None or normalise_header(label) == normalise_header(field):
            return field
        return f"{field} ({label})"


def accepted_headers(field: str) -> str:
    return CLAIMS.accepted(field)


def recognised_fields(labels: list[str], vocabulary: Vocabulary = CLAIMS) -> set[str]:
    """Fields a row of cells would provide if it were the header (for the header-row search)."""
    lookup = vocabulary.lookup()
    found = {lookup.get(normalise_header(label)) for label in labels if str(label or "").strip()}
    found.discard(None)
    return found  # type: ignore[return-value]


def has_required(fields: set[str], vocabulary: Vocabulary = CLAIMS) -> bool:
    return all(f in fields or vocabulary.stand_ins.get(f) in fields for f in vocabulary.required)


def map_headers(labels: list[str], file: str, vocabulary: Vocabulary = CLAIMS, header_row: int | None = None) -> HeaderMap:
    """Match a file's header row to canonical fields; raise if a field is claimed twice or a
    required field has no column."""
    lookup = vocabulary.lookup()
    columns: dict[str, int] = {}
    unrecognised: list[str] = []
    ignored: list[str] = []
    for position, label in enumerate(labels):
        text = str(label if label is not None else "").strip()
        key = normalise_header(text)
        if key not in lookup:
            if text:
                unrecognised.append(text)
            continue
        field = lookup[key]
        if field is None:  # the site mapping says: not a claim field
            ignored.append(text)
            continue
        if field in columns:
            if field in vocabulary.descriptive:
                ignored.append(text)
                continue
            first = labels[columns[field]]
            raise InputFileError(
                file,
                f"columns '{first}' (column {columns[field] + 1}) and '{label}' (column {position + 1}) "
                f"both mean {field}; delete or rename one of them, or say which one to read in a --columns "
                f"mapping file (e.g. '{label}: ~' to leave it unread)",
            )
        columns[field] = position
    stood_in = {}
    for required, stand_in in vocabulary.stand_ins.items():
        if required not in columns and stand_in in columns:
            columns[required] = columns[stand_in]
            stood_in[required] = stand_in
    missing = [field for field in vocabulary.required if field not in columns]
    if missing:
        raise InputFileError(file, missing_columns_message(missing, labels, vocabulary, header_row))
    return HeaderMap(
        columns=columns,
        labels={field: str(labels[pos]).strip() for field, pos in columns.items()},
        unrecognised=tuple(unrecognised),
        ignored=tuple(ignored),
        stood_in=stood_in,
    )


def missing_columns_message(missing: list[str], labels: list[str], vocabulary: Vocabulary, header_row: int | None) -> str:
    def wanted(field: str) -> str:
        stand_in = vocabulary.stand_ins.get(field)
        also = f" (or, standing in for it, {stand_in}: one of {vocabulary.accepted(stand_in)})" if stand_in else ""
        return f"{field}: one of {vocabulary.accepted(field)}{also}"

    found = ", ".join(repr(str(label).strip()) for label in labels[:40] if str(label or "").strip()) or "(none)"
    where = f" in the header row (row {header_row})" if header_row else ""
    example = "\n".join(f"  '<your header>': {field}" for field in missing[:3])
    site = f" (mapping file in use: {vocabulary.site_source})" if vocabulary.site_source else ""
    return (
        f"required column(s) missing — {'; '.join(wanted(f) for f in missing)}. Headers found{where}: {found}. "
        f"If the file names these columns differently, map its headers to fields in a YAML file and pass it "
        f"with --columns FILE{site}, e.g.\n{example}\n(if the header is not on the row found, give --header-row N)"
    )
