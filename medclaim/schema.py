"""The canonical claim record that every reader produces and the engine consumes.

Readers (``medclaim.io``) turn CSV / GBK CSV / Parquet / Excel exports with national field
codes, Chinese headers or English names into exactly these columns; the engine never sees a
raw header, a yuan string or a float amount.  Money is integer fen (Int64) from here on.
"""

from __future__ import annotations

from enum import Enum

import polars as pl

#: Canonical input columns and their dtypes, after parsing.
CLAIM_SCHEMA: dict[str, pl.DataType] = {
    "setl_id": pl.String(),  # settlement id, unique across the run
    "psn_no": pl.String(),  # person id
    "psn_idet_type": pl.String(),  # assisted identity as exported; "" = ordinary resident
    "med_type": pl.String(),  # benefit class code or name as exported (rule set maps it)
    "hosp_lv": pl.String(),  # hospital level code or name as exported (rule set maps it)
    "pay_loc": pl.String(),  # place of care as exported (rule set maps it); "" = local
    "refl_flag": pl.Boolean(),  # referred (转诊)
    "begndate": pl.Date(),
    "enddate": pl.Date(),
    "medfee_sumamt": pl.Int64(),  # total cost, fen
    "fulamt_ownpay_amt": pl.Int64(),  # fully self-paid, fen
    "overlmt_selfpay": pl.Int64(),  # over price limit, fen
    "preselfpay_amt": pl.Int64(),  # class-B first self-pay, fen
    "inscp_scp_amt": pl.Int64(),  # within policy scope, fen
    "reported_hifp_pay": pl.Int64(),  # 统筹基金支出 as the basic fund reported it (null if not given)
    # what the hospital's settlement paid (null if the file has no such column): compared, never trusted
    "reported_hifmi_pay": pl.Int64(),  # 大病保险支出
    "reported_maf_pay": pl.Int64(),  # 医疗救助支出
    "reported_act_pay_dedc": pl.Int64(),  # 实际支付起付线
    "reported_fund_pay_sumamt": pl.Int64(),  # 基金支付总额
    "reported_psn_part_amt": pl.Int64(),  # 个人负担总金额
    "benefit_start": pl.Date(),  # 待遇开始日期, null = covered from the start of the year
    "source_file": pl.String(),  # file the row came from (for rejects and audit)
    "source_row": pl.Int64(),  # 1-based data row number in that file (header excluded)
}

CLAIM_COLUMNS = list(CLAIM_SCHEMA)

#: Descriptive columns (national field codes), carried from the input to the ledger as they are
#: when a file has them — never used to settle.  Only those some input file has are in the
#: claims frame (absent ones would cost memory for nothing).  Personal data: psn_name, certno.
DESCRIPTIVE_SCHEMA: dict[str, pl.DataType] = {
    "psn_name": pl.String(),  # 人员姓名
    "certno": pl.String(),  # 证件号码 / 身份证号
    "fixmedins_code": pl.String(),  # 定点医药机构编号
    "fixmedins_name": pl.String(),  # 定点医药机构名称
    "dept": pl.String(),  # 科室
    "dise_codg": pl.String(),  # 诊断编码
    "dise_name": pl.String(),  # 诊断名称 / 病种名称
    "med_type_name": pl.String(),  # 医疗类别名称
}
PERSONAL_COLUMNS = ("psn_name", "certno")


class RejectReason(str, Enum):
    """Stable reason codes written to rejects.csv (cron scripts and auditors grep for them)."""

    MISSING_FIELD = "missing_field"  # a required value is empty
    BAD_DATE = "bad_date"  # a date that cannot be parsed
    BAD_AMOUNT = "bad_amount"  # an amount that is not yuan with at most two decimals
    NEGATIVE_AMOUNT = "negative_amount"
    INCONSISTENT_AMOUNTS = "inconsistent_amounts"  # parts exceed the total, or given scope disagrees
    END_BEFORE_START = "end_before_start"
    BAD_FLAG = "bad_flag"  # referral flag not 是/否/1/0/Y/N
    DUPLICATE_SETL_ID = "duplicate_setl_id"
    BAD_ROW = "bad_row"  # a CSV line whose field count differs from the header (shifted columns)
    UNKNOWN_CODE = "unknown_code"  # med_type / hosp_lv / place / identity not mapped by the rule set
    NO_RULE_IN_FORCE = "no_rule_in_force"  # no rule-set period covers the claim's date
    ALREADY_SETTLED = "already_settled"  # setl_id already in the ledger (monthly runs)


def empty_claims() -> pl.DataFrame:
    return pl.DataFrame(schema=CLAIM_SCHEMA)


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "source_file": pl.String(),
            "source_row": pl.Int64(),
            "setl_id": pl.String(),
            "column": pl.String(),
            "reason_code": pl.String(),
            "message": pl.String(),
            "raw": pl.String(),
        }
    )
