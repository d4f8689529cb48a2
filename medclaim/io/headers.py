"""Which file headers mean which canonical field.

The alias table is data: add a header seen in a new export here and nothing else changes.
Each field lists its national platform code first, then Chinese headers seen in real exports,
then readable English names.  Matching is done on a normalised form (see ``normalise_header``),
so ``总费用（元）``, `` Total Cost `` and ``TOTAL_COST`` all match their entry.

Deliberately *not* aliased: 人员类别 (psn_type, 职工/居民 — not the assistance identity),
就诊ID (mdtrt_id, one visit may have several settlements), 人员姓名 / 证件号码 (personal data the
engine must never see).  Unknown columns are simply ignored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from medclaim.io.errors import InputFileError

#: canonical field -> accepted headers (display form; matched after normalisation).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "setl_id": ("setl_id", "结算ID", "结算流水号", "结算编号", "settlement_id", "settlement_no", "claim_id"),
    "psn_no": ("psn_no", "人员编号", "个人编号", "person_id", "person_no", "patient_id"),
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
    "begndate": ("begndate", "begntime", "入院日期", "开始日期", "start_date", "begin_date", "admission_date"),
    "enddate": ("enddate", "endtime", "出院日期", "结束日期", "end_date", "discharge_date"),
    "medfee_sumamt": ("medfee_sumamt", "医疗费总额", "总费用", "医疗总费用", "total_cost", "total_fee"),
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
    "benefit_start": ("benefit_start", "待遇开始日期", "待遇享受开始日期", "benefits_start", "benefit_start_date"),
}

#: Fields a file must have as columns (a blank *cell* in them is a row reject, not a file error).
REQUIRED_FIELDS: tuple[str, ...] = ("setl_id", "psn_no", "med_type", "hosp_lv", "begndate", "enddate", "medfee_sumamt")

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


_LOOKUP: dict[str, str] = {normalise_header(alias): field for field, aliases in HEADER_ALIASES.items() for alias in aliases}


@dataclass(frozen=True)
class HeaderMap:
    """Where each recognised canonical field sits in one file."""

    columns: dict[str, int]  # canonical field -> 0-based column position in the file
    labels: dict[str, str]  # canonical field -> header exactly as written in the file

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
    return ", ".join(HEADER_ALIASES[field])


def map_headers(labels: list[str], file: str) -> HeaderMap:
    """Match a file's header row to canonical fields; raise if a field is claimed twice or a
    required field has no column."""
    columns: dict[str, int] = {}
    for position, label in enumerate(labels):
        field = _LOOKUP.get(normalise_header(label))
        if field is None:
            continue  # unrelated or personal column: never read further
        if field in columns:
            first = labels[columns[field]]
            raise InputFileError(
                file,
                f"columns '{first}' (column {columns[field] + 1}) and '{label}' (column {position + 1}) "
                f"both mean {field}; delete or rename one of them so each field appears once",
            )
        columns[field] = position
    missing = [field for field in REQUIRED_FIELDS if field not in columns]
    if missing:
        wanted = "; ".join(f"{field}: one of {accepted_headers(field)}" for field in missing)
        found = ", ".join(repr(label) for label in labels[:40]) or "(no header row)"
        raise InputFileError(
            file,
            f"required column(s) missing — {wanted}. Headers found: {found}. "
            "Rename the column in the file (or add its header to medclaim/io/headers.py)",
        )
    return HeaderMap(columns=columns, labels={field: str(labels[pos]).strip() for field, pos in columns.items()})
