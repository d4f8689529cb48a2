"""medclaim.io: every bad row becomes exactly one reject with a reason, a findable row number and
a message that says what to do; nothing is dropped silently."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from medclaim.io import read_claims
from io_helpers import assert_claim_schema
from medclaim.schema import CLAIM_SCHEMA, RejectReason, empty_rejects

HEADER = "结算ID,个人编号,人员姓名,医疗类别,医院等级,转诊标志,开始日期,结束日期,总费用,全自费金额,超限价自付,先行自付金额,范围内费用,待遇开始日期"
GOOD = "S0,P0,张三,21,02,否,2021-03-01,2021-03-05,100,10,5,5,80,"


def read(paths):
    result = read_claims(paths)
    assert result.rows_read == result.claims.height + result.rejects.height + result.footers.height
    assert_claim_schema(result.claims)
    assert result.rejects.schema == empty_rejects().schema
    assert set(result.rejects["reason_code"].to_list()) <= {r.value for r in RejectReason}
    return result


def csv(tmp_path: Path, *lines: str, name: str = "claims.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def only_reject(result) -> dict:
    assert result.rejects.height == 1, result.rejects.to_dicts()
    return result.rejects.row(0, named=True)


def row(**cells: str) -> str:
    """GOOD with some cells replaced, by header name."""
    names = HEADER.split(",")
    values = GOOD.split(",")
    for name, value in cells.items():
        values[names.index(name)] = value
    return ",".join(values)


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    "text, fen",
    [
        ("1,234.50", 123450),
        (" 12 ", 1200),
        ("¥10", 1000),
        ("￥1,000", 100000),
        ("10元", 1000),
        ("12.", 1200),
        ("0.5", 50),
        ("0.05", 5),
        ("１２．５", 1250),
        ("\u300088.80\u00a0", 8880),
        ("1234567.89", 123456789),
    ],
)
def test_amount_spellings(tmp_path, text, fen):
    result = read([csv(tmp_path, row(**{"总费用": f'"{text}"', "全自费金额": "", "超限价自付": "", "先行自付金额": "", "范围内费用": ""}))])
    assert result.claims["medfee_sumamt"].to_list() == [fen]


@pytest.mark.parametrize("text", ["abc", "12.345", "1,23", "1e3", "12,34a", "--5", "1.2.3", "¥"])
def test_bad_amounts(tmp_path, text):
    reject = only_reject(read([csv(tmp_path, row(**{"总费用": f'"{text}"'}))]))
    assert reject["reason_code"] == "bad_amount"
    assert reject["column"] == "medfee_sumamt (总费用)"
    assert reject["message"].startswith(f"总费用 '{text}' is not an amount in yuan with at most two decimals; fix the cell or remove the row")


@pytest.mark.parametrize(
    "text",
    [
        "2021-03-01",
        "2021/3/1",
        "20210301",
        "2021-03-01 12:34:56",
        "2021-03-01 00:00:00.000",
        "2021-03-01T08:00:00+08:00",
        "2021年3月1日",
        "2021.03.01",
        "2021-3-1",
        "2021-03-01T08:00",
        "2021/03/01 8:05",
    ],
)
def test_date_spellings(tmp_path, text):
    result = read([csv(tmp_path, row(**{"开始日期": text}))])
    assert result.claims["begndate"].to_list() == [dt.date(2021, 3, 1)]


@pytest.mark.parametrize("text", ["2021-13-45", "2021-02-29", "01/03/2021", "abc", "2021-03", "2021-03-01 noon"])
def test_bad_dates(tmp_path, text):
    reject = only_reject(read([csv(tmp_path, row(**{"结束日期": text}))]))
    assert reject["reason_code"] == "bad_date" and reject["column"] == "enddate (结束日期)"
    assert f"结束日期 '{text}' is not a valid date" in reject["message"]


def test_bad_benefit_start_is_bad_date(tmp_path):
    reject = only_reject(read([csv(tmp_path, row(**{"待遇开始日期": "soon"}))]))
    assert (reject["reason_code"], reject["column"]) == ("bad_date", "benefit_start (待遇开始日期)")


@pytest.mark.parametrize(
    "text, referred",
    [("是", True), ("否", False), ("1", True), ("0", False), ("Y", True), ("n", False), ("TRUE", True), ("false", False), ("yes", True), ("No", False), ("", False)],
)
def test_flags(tmp_path, text, referred):
    assert read([csv(tmp_path, row(**{"转诊标志": text}))]).claims["refl_flag"].to_list() == [referred]


@pytest.mark.parametrize("text", ["maybe", "2", "转"])
def test_bad_flags(tmp_path, text):
    reject = only_reject(read([csv(tmp_path, row(**{"转诊标志": text}))]))
    assert reject["reason_code"] == "bad_flag" and "是/否" in reject["message"]


# ---------------------------------------------------------------- missing fields


@pytest.mark.parametrize(
    "header, field",
    [
        ("结算ID", "setl_id"),
        ("个人编号", "psn_no"),
        ("医疗类别", "med_type"),
        ("医院等级", "hosp_lv"),
        ("开始日期", "begndate"),
        ("结束日期", "enddate"),
        ("总费用", "medfee_sumamt"),
    ],
)
def test_blank_required_cell(tmp_path, header, field):
    reject = only_reject(read([csv(tmp_path, row(**{header: "  "}))]))
    assert reject["reason_code"] == "missing_field"
    assert reject["column"] == f"{field} ({header})"
    assert reject["message"].startswith(f"{header} is empty but required")


def test_blank_hosp_lv_for_pharmacy_is_still_missing(tmp_path):
    reject = only_reject(read([csv(tmp_path, row(**{"医疗类别": "41", "医院等级": ""}))]))
    assert reject["reason_code"] == "missing_field" and reject["column"] == "hosp_lv (医院等级)"


def test_blank_optional_amounts_are_zero(tmp_path):
    result = read([csv(tmp_path, row(**{"全自费金额": "", "超限价自付": " ", "先行自付金额": "", "范围内费用": ""}))])
    got = result.claims.row(0, named=True)
    assert (got["fulamt_ownpay_amt"], got["overlmt_selfpay"], got["preselfpay_amt"], got["inscp_scp_amt"]) == (0, 0, 0, 10000)


# ---------------------------------------------------------------- amounts that do not add up


def test_negative_amount(tmp_path):
    reject = only_reject(read([csv(tmp_path, row(**{"全自费金额": "-10", "范围内费用": ""}))]))
    assert reject["reason_code"] == "negative_amount" and reject["column"] == "fulamt_ownpay_amt (全自费金额)"
    assert "-10.00" in reject["message"]


def test_parts_above_total(tmp_path):
    reject = only_reject(read([csv(tmp_path, row(**{"全自费金额": "90", "超限价自付": "20", "范围内费用": ""}))]))
    assert reject["reason_code"] == "inconsistent_amounts" and reject["column"] == "medfee_sumamt (总费用)"
    assert "115.00" in reject["message"] and "100.00" in reject["message"]


def test_given_scope_must_agree(tmp_path):
    reject = only_reject(read([csv(tmp_path, row(**{"范围内费用": "79.99"}))]))
    assert reject["reason_code"] == "inconsistent_amounts" and reject["column"] == "inscp_scp_amt (范围内费用)"
    assert "79.99" in reject["message"] and "80.00" in reject["message"]  # both figures, in yuan
    assert "leave 范围内费用 empty" in reject["message"]


def test_given_scope_that_agrees_is_kept(tmp_path):
    result = read([csv(tmp_path, row(**{"范围内费用": "80.00"}))])
    assert result.claims["inscp_scp_amt"].to_list() == [8000]


def test_end_before_start(tmp_path):
    reject = only_reject(read([csv(tmp_path, row(**{"开始日期": "2021-03-05", "结束日期": "2021-03-01"}))]))
    assert reject["reason_code"] == "end_before_start" and reject["column"] == "enddate (结束日期)"
    assert "2021-03-01" in reject["message"] and "2021-03-05" in reject["message"]


def test_first_problem_wins_and_others_are_mentioned(tmp_path):
    reject = only_reject(read([csv(tmp_path, row(**{"结束日期": "2021-13-45", "全自费金额": "x", "转诊标志": "?"}))]))
    assert reject["reason_code"] == "bad_date"
    assert "also: bad_amount in 全自费金额; bad_flag in 转诊标志" in reject["message"]


def test_reject_row_contents(tmp_path):
    path = csv(tmp_path, GOOD, row(**{"结算ID": "S9", "总费用": '"12,34a"'}))
    reject = only_reject(read([path]))
    assert reject["source_file"] == str(path) and reject["source_row"] == 2 and reject["setl_id"] == "S9"
    assert reject["raw"].startswith("结算ID=S9; 个人编号=P0; 医疗类别=21; 医院等级=02;")
    assert "; 总费用=12,34a; " in reject["raw"]
    # the scope cannot be compared with an unreadable total, so nothing else is reported
    assert reject["message"] == "总费用 '12,34a' is not an amount in yuan with at most two decimals; fix the cell or remove the row"
    assert "张三" not in reject["raw"]  # 人员姓名 is not a claim column and is not copied


# ---------------------------------------------------------------- lines and row numbers


def test_blank_lines_are_skipped_but_counted_in_row_numbers(tmp_path):
    path = csv(tmp_path, GOOD, "", "   ", ",,,,,,,,,,,,,", "\u3000,  ,", row(**{"结算ID": "S5", "总费用": "x"}))
    result = read([path])
    assert result.rows_read == 2  # blank lines are not rows
    reject = only_reject(result)
    assert reject["source_row"] == 6  # line 7 in an editor: header on line 1


def test_crlf_and_blank_lines_before_the_header(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(("\r\n\r\n" + HEADER + "\r\n" + GOOD + "\r\n\r\n" + row(**{"结算ID": "S2", "总费用": "x"}) + "\r\n").encode("utf-8"))
    result = read([path])
    assert result.claims["source_row"].to_list() == [1]
    assert only_reject(result)["source_row"] == 3


def test_trailing_total_line_is_a_footer_neither_claim_nor_reject(tmp_path):
    result = read([csv(tmp_path, GOOD, row(**{"结算ID": "S1"}), "合计,,,,,,,,200,,,,,")])
    assert result.rows_read == 3 and result.claims.height == 2 and result.rejects.height == 0
    footer = result.footers.row(0, named=True)
    assert (footer["source_row"], footer["kind"], footer["text"]) == (3, "totals", "合计 200")
    assert result.files[0].footer_rows == 1


def test_line_with_too_few_fields(tmp_path):
    result = read([csv(tmp_path, GOOD, "S6,P6,x,21,02")])
    reject = only_reject(result)
    assert reject["reason_code"] == "bad_row" and reject["source_row"] == 2
    assert reject["setl_id"] is None and reject["raw"] == "S6,P6,x,21,02"
    assert "5 fields but the header has 14" in reject["message"]


def test_line_with_too_many_fields(tmp_path):
    shifted = row(**{"结算ID": "S7", "人员姓名": "张,三"})  # an unquoted comma in a name
    result = read([csv(tmp_path, GOOD, shifted)])
    reject = only_reject(result)
    assert reject["reason_code"] == "bad_row" and reject["source_row"] == 2
    assert "15 fields but the header has 14" in reject["message"] and "quote" in reject["message"]


def test_trailing_separators_on_every_line_are_an_export_quirk(tmp_path):
    lines = [GOOD + ",,", row(**{"结算ID": "S8"}) + ", ,", row(**{"结算ID": "S9"}) + ",", row(**{"结算ID": "S10", "总费用": "x"}) + ",,"]
    result = read([csv(tmp_path, *lines)])
    assert sorted(result.claims["source_row"].to_list()) == [1, 2, 3]
    assert only_reject(result)["reason_code"] == "bad_amount"


def test_one_line_with_an_extra_empty_field_is_not_trusted(tmp_path):
    # GOOD ends with an empty 待遇开始日期; one more empty field could be a shift just as well
    result = read([csv(tmp_path, GOOD, row(**{"结算ID": "S1"}), row(**{"结算ID": "S2"}) + ",")])
    assert only_reject(result)["reason_code"] == "bad_row"


def test_quoted_value_spanning_lines_keeps_row_numbers_right(tmp_path):
    multi = row(**{"结算ID": "S2", "人员姓名": '"张\n三"'})
    result = read([csv(tmp_path, GOOD, multi, row(**{"结算ID": "S3", "总费用": "x"}))])
    assert sorted(result.claims["source_row"].to_list()) == [1, 2]
    assert only_reject(result)["source_row"] == 4  # S2 takes lines 3 and 4, S3 is on line 5


def test_unterminated_quote_rejects_its_line_only(tmp_path):
    # the quote never closes: the line is refused, the lines after it are still claims
    result = read([csv(tmp_path, GOOD, row(**{"结算ID": "S2", "人员姓名": '"张三'}), row(**{"结算ID": "S3"}), row(**{"结算ID": "S4"}))])
    assert result.rows_read == 4
    assert result.claims["setl_id"].to_list() == ["S0", "S3", "S4"]
    assert result.claims["source_row"].to_list() == [1, 3, 4]
    reject = only_reject(result)
    assert reject["reason_code"] == "bad_row" and reject["source_row"] == 2
    assert "quote" in reject["message"] and reject["raw"].startswith("S2,P0,")


def test_stray_quote_inside_a_value_is_kept(tmp_path):
    result = read([csv(tmp_path, row(**{"人员姓名": '张"三'}))])
    assert result.rejects.height == 0 and result.claims.height == 1


def test_every_bad_row_of_a_messy_file(tmp_path):
    lines = [
        GOOD,
        row(**{"结算ID": "A", "总费用": "abc"}),
        row(**{"结算ID": "B", "开始日期": "2021-13-45"}),
        "",
        row(**{"结算ID": "C", "个人编号": ""}),
        row(**{"结算ID": "D", "开始日期": "2021-03-09"}),
        row(**{"结算ID": "E", "范围内费用": "1"}),
        row(**{"结算ID": "F", "全自费金额": "-1", "范围内费用": ""}),
        "G,P,x",
    ]
    result = read([csv(tmp_path, *lines)])
    got = result.rejects.select("setl_id", "reason_code", "source_row").rows()
    assert got == [
        ("A", "bad_amount", 2),
        ("B", "bad_date", 3),
        ("C", "missing_field", 5),
        ("D", "end_before_start", 6),
        ("E", "inconsistent_amounts", 7),
        ("F", "negative_amount", 8),
        (None, "bad_row", 9),
    ]
    assert result.files[0].rows_read == 8 and result.files[0].rows_rejected == 7
    assert result.claims.select("setl_id", "source_row").rows() == [("S0", 1)]


def test_claims_carry_their_source(tmp_path):
    a = csv(tmp_path, GOOD, name="a.csv")
    b = csv(tmp_path, "", row(**{"结算ID": "S1"}), name="b.csv")
    result = read([a, b])
    assert result.claims.select("setl_id", "source_file", "source_row").sort("setl_id").rows() == [("S0", str(a), 1), ("S1", str(b), 2)]
    assert pl.Series(result.claims["source_row"]).null_count() == 0


@pytest.mark.parametrize(
    "text, fen, valid",
    [("1,234.50", 123450, True), ("-0.05", -5, True), ("", None, True), (None, None, True), ("12.345", None, False), ("１２．５", 1250, True)],
)
def test_money_yuan_text_to_fen_keeps_its_contract(text, fen, valid):
    """money.yuan_text_to_fen was split into normalise + parse for the reader; same results."""
    from medclaim.money import yuan_text_to_fen

    value, ok = yuan_text_to_fen(pl.col("t"))
    got = pl.DataFrame({"t": [text]}, schema={"t": pl.String}).select(value.alias("fen"), ok.alias("ok")).row(0)
    assert got == (fen, valid)
