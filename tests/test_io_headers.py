"""medclaim.io: a column may be named by national code, Chinese header or English name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from medclaim.io import HEADER_ALIASES, REQUIRED_FIELDS, InputFileError, ReadOptions, read_claims
from medclaim.io.headers import map_headers, normalise_header
from medclaim.schema import CLAIM_SCHEMA, DESCRIPTIVE_SCHEMA

ROW = ["S1", "P1", "低保对象", "21", "02", "省内异地", "是", "2021-03-01", "2021-03-05", "100", "10", "5", "2", "83", "2021-01-01"]
FIELDS = [
    "setl_id",
    "psn_no",
    "psn_idet_type",
    "med_type",
    "hosp_lv",
    "pay_loc",
    "refl_flag",
    "begndate",
    "enddate",
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
    "benefit_start",
]
EXPECTED = {
    "setl_id": "S1",
    "psn_no": "P1",
    "psn_idet_type": "低保对象",
    "med_type": "21",
    "hosp_lv": "02",
    "pay_loc": "省内异地",
    "refl_flag": True,
    "begndate": dt.date(2021, 3, 1),
    "enddate": dt.date(2021, 3, 5),
    "medfee_sumamt": 10000,
    "fulamt_ownpay_amt": 1000,
    "overlmt_selfpay": 500,
    "preselfpay_amt": 200,
    "inscp_scp_amt": 8300,
    "reported_hifp_pay": None,  # no 统筹基金支出 column in these files
    **{f"reported_{f}": None for f in ("hifmi_pay", "maf_pay", "act_pay_dedc", "fund_pay_sumamt", "psn_part_amt")},
    "benefit_start": dt.date(2021, 1, 1),
}


def read_one(path: Path) -> dict:
    result = read_claims([path], options=ReadOptions(assume_zero=("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")))
    assert result.rows_read == result.claims.height + result.rejects.height == 1
    assert result.rejects.height == 0, result.rejects.to_dicts()
    row = result.claims.row(0, named=True)
    return {k: v for k, v in row.items() if k not in ("source_file", "source_row")}


def write_csv(path: Path, headers: list[str], row: list[str] = ROW) -> Path:
    path.write_text(",".join(headers) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    return path


NATIONAL = FIELDS[:-1] + ["benefit_start"]
CHINESE = [
    "结算ID",
    "人员编号",
    "人员身份类别",
    "医疗类别",
    "医院等级",
    "就医地",
    "转诊标志",
    "入院日期",
    "出院日期",
    "医疗费总额",
    "全自费金额",
    "超限价自费费用",
    "先行自付金额",
    "符合政策范围金额",
    "待遇开始日期",
]
CHINESE_ALT = [
    "结算流水号",
    "个人编号",
    "救助对象类别",
    "医疗类别",
    "机构级别",
    "医药机构地点类别",
    "转诊标志",
    "开始日期",
    "结束日期",
    "总费用",
    "全自费金额",
    "超限价自付",
    "乙类先行自付",
    "范围内费用",
    "待遇开始日期",
]
ENGLISH = [
    "settlement_id",
    "person_id",
    "identity",
    "benefit_class",
    "hospital_level",
    "place_of_care",
    "referred",
    "start_date",
    "end_date",
    "total_cost",
    "fully_self_paid",
    "over_limit",
    "first_self_pay",
    "policy_scope",
    "benefits_start",
]


@pytest.mark.parametrize("headers", [NATIONAL, CHINESE, CHINESE_ALT, ENGLISH], ids=["national", "chinese", "chinese-alt", "english"])
def test_three_naming_schemes_give_the_same_claim(tmp_path, headers):
    assert read_one(write_csv(tmp_path / "c.csv", headers)) == EXPECTED


def test_every_alias_maps_to_its_field():
    for field, aliases in HEADER_ALIASES.items():
        assert field in CLAIM_SCHEMA or field in DESCRIPTIVE_SCHEMA
        for alias in aliases:
            assert map_headers([alias, *_required_except(field)], "f").columns[field] == 0, alias


def _required_except(field: str) -> list[str]:
    return [f for f in REQUIRED_FIELDS if f != field]


@pytest.mark.parametrize(
    "written, field",
    [
        (" 总费用 ", "medfee_sumamt"),
        ("\ufeff结算ID", "setl_id"),
        ("SETL_ID", "setl_id"),
        ("Total Cost", "medfee_sumamt"),
        ("total-cost", "medfee_sumamt"),
        ("医疗费总额（元）", "medfee_sumamt"),
        ("医疗费总额(元)", "medfee_sumamt"),
        ("全自费金额[元]", "fulamt_ownpay_amt"),
        ("\u3000医院等级\u3000", "hosp_lv"),
        ("ＳＥＴＬ＿ＩＤ", "setl_id"),  # full-width letters
    ],
)
def test_header_normalisation(written, field):
    assert normalise_header(written) in {normalise_header(a) for a in HEADER_ALIASES[field]}
    assert map_headers([written, *_required_except(field)], "f").columns[field] == 0


def test_real_anhui_export_header(tmp_path):
    """The header row of a real county export (policy-facts.md): extra columns are ignored,
    人员类别 (psn_type) is not mistaken for the assistance identity."""
    header = (
        "结算ID,就诊ID,个人编号,人员姓名,证件号码,人员类别,定点医药机构编号,定点医药机构名称,医院等级,医药机构地点类别,"
        "开始日期,结束日期,结算日期,总费用,全自费金额,超限价自费费用,先行自付金额,范围内费用,起付线,统筹基金支出,"
        "大额医疗支出金额,大病保险支出,医疗救助支出,基金支付总额,个人现金支付,个人账户支付,病种名称,医疗类别,统筹基金支付比例,乡镇,村"
    ).split(",")
    mapping = map_headers(header, "anhui.csv")
    assert mapping.labels == {
        "setl_id": "结算ID",
        "psn_no": "个人编号",
        "hosp_lv": "医院等级",
        "pay_loc": "医药机构地点类别",
        "begndate": "开始日期",
        "enddate": "结束日期",
        "medfee_sumamt": "总费用",
        "fulamt_ownpay_amt": "全自费金额",
        "overlmt_selfpay": "超限价自费费用",
        "preselfpay_amt": "先行自付金额",
        "inscp_scp_amt": "范围内费用",
        "reported_hifp_pay": "统筹基金支出",  # read; computed unless the rule set has basic.reported
        "reported_act_pay_dedc": "起付线",  # the hospital's figures: compared by medclaim audit
        "reported_hifmi_pay": "大病保险支出",
        "reported_maf_pay": "医疗救助支出",
        "reported_fund_pay_sumamt": "基金支付总额",
        "med_type": "医疗类别",
        # descriptive, carried to the ledger as they are
        "psn_name": "人员姓名",
        "certno": "证件号码",
        "fixmedins_code": "定点医药机构编号",
        "fixmedins_name": "定点医药机构名称",
        "dise_name": "病种名称",
    }
    assert mapping.unrecognised == ("就诊ID", "人员类别", "结算日期", "大额医疗支出金额", "个人现金支付", "个人账户支付",
                                    "统筹基金支付比例", "乡镇", "村")
    row = [
        "J1", "V1", "P1", "张三", "340000199001011234", "居民", "H01", "东至县人民医院", "二级甲等", "本地",
        "2021-03-01", "2021-03-05", "2021-03-05", "1000", "100", "0", "50", "850", "500", "245",
        "0", "0", "0", "245", "755", "0", "肺炎", "普通住院", "70%", "尧渡镇", "某村",
    ]  # fmt: skip
    got = read_one(write_csv(tmp_path / "anhui.csv", header, row))
    assert got["psn_idet_type"] == "" and got["inscp_scp_amt"] == 85000
    assert got["reported_hifp_pay"] == 24500  # 统筹基金支出 245 yuan
    assert (got["reported_act_pay_dedc"], got["reported_fund_pay_sumamt"], got["reported_hifmi_pay"]) == (50000, 24500, 0)
    assert got["reported_psn_part_amt"] is None  # 个人现金支付 is not 个人负担总金额
    assert got["med_type"] == "普通住院" and got["hosp_lv"] == "二级甲等"


def test_optional_columns_default_when_absent(tmp_path):
    got = read_one(write_csv(tmp_path / "min.csv", list(REQUIRED_FIELDS), ["S1", "P1", "21", "02", "2021-03-01", "2021-03-02", "50"]))
    assert got["psn_idet_type"] == "" and got["pay_loc"] == "" and got["refl_flag"] is False
    assert (got["fulamt_ownpay_amt"], got["overlmt_selfpay"], got["preselfpay_amt"]) == (0, 0, 0)
    assert got["inscp_scp_amt"] == 5000 and got["benefit_start"] is None


@pytest.mark.parametrize("missing", REQUIRED_FIELDS)
def test_missing_required_column_is_a_file_error(tmp_path, missing):
    headers = [f for f in REQUIRED_FIELDS if f != missing] + ["人员姓名"]
    path = write_csv(tmp_path / "m.csv", headers, ["x"] * len(headers))
    with pytest.raises(InputFileError) as err:
        read_claims([path])
    assert err.value.file == str(path)
    message = err.value.message
    assert missing in message
    for alias in HEADER_ALIASES[missing]:
        assert alias in message  # tells the user which names would be accepted
    assert "人员姓名" in message  # and what was found instead


def test_two_columns_for_one_field_is_a_file_error(tmp_path):
    path = write_csv(tmp_path / "d.csv", [*REQUIRED_FIELDS, "总费用"], ["S1", "P1", "21", "02", "2021-03-01", "2021-03-02", "50", "60"])
    with pytest.raises(InputFileError) as err:
        read_claims([path])
    assert "medfee_sumamt" in err.value.message and "总费用" in err.value.message


def test_unrecognised_columns_are_ignored(tmp_path):
    headers = [*REQUIRED_FIELDS, "起付线", "统筹基金支出", "whatever", ""]
    got = read_one(write_csv(tmp_path / "x.csv", headers, ["S1", "P1", "21", "02", "2021-03-01", "2021-03-02", "50", "500", "1", "z", ""]))
    assert got["medfee_sumamt"] == 5000
