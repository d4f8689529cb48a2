"""medclaim.io: every supported file format, encoding and cell type ends in the same claims."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from medclaim.io import InputFileError, ReadOptions, read_claims
from io_helpers import assert_claim_schema
from medclaim.schema import CLAIM_SCHEMA, empty_rejects

HEADER_CN = "结算ID,个人编号,人员姓名,证件号码,医疗类别,医院等级,医药机构地点类别,转诊标志,开始日期,结束日期,总费用,全自费金额,超限价自费费用,先行自付金额,范围内费用"


# Files here test formats, so several have only the required columns: the amount parts they lack
# are said to be zero on purpose (test_io_real_exports checks the refusal without it).
PARTS_ZERO = ReadOptions(assume_zero=("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt"))


def read(paths, encoding=None):
    """read_claims plus the invariants every result must satisfy."""
    options = ReadOptions(encoding=encoding, assume_zero=PARTS_ZERO.assume_zero)
    result = read_claims(paths, options=options)
    assert result.rows_read == result.claims.height + result.rejects.height + result.footers.height
    assert_claim_schema(result.claims)
    assert result.rejects.schema == empty_rejects().schema
    assert sum(f.rows_read for f in result.files) == result.rows_read
    assert sum(f.rows_rejected for f in result.files) == result.rejects.height
    return result


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def claim(result, setl_id: str) -> dict:
    rows = result.claims.filter(pl.col("setl_id") == setl_id).to_dicts()
    assert len(rows) == 1, f"{setl_id}: {rows}"
    return rows[0]


# ---------------------------------------------------------------- CSV encodings


def test_gbk_csv_with_chinese_headers(tmp_path):
    text = (
        HEADER_CN
        + "\n"
        + "S1,P001,张三,340000199001011234,普通住院,二级甲等,本地,是,2021-03-01,2021-03-05,\"1,234.50\",100.00,20,30.5,\n"
        + "S2,P002,李四,340000199001015678,21,05,省内异地,否,2021/3/1,2021年3月9日,500,,,,500\n"
    )
    path = write(tmp_path / "gbk.csv", text, "gbk")
    result = read([path])
    assert result.files[0].encoding == "gb18030"
    assert result.files[0].format == "csv"
    assert result.rejects.height == 0
    s1 = claim(result, "S1")
    assert s1["psn_no"] == "P001"
    assert s1["med_type"] == "普通住院" and s1["hosp_lv"] == "二级甲等" and s1["pay_loc"] == "本地"
    assert s1["refl_flag"] is True
    assert s1["begndate"] == dt.date(2021, 3, 1) and s1["enddate"] == dt.date(2021, 3, 5)
    assert s1["medfee_sumamt"] == 123450  # "1,234.50"
    assert (s1["fulamt_ownpay_amt"], s1["overlmt_selfpay"], s1["preselfpay_amt"]) == (10000, 2000, 3050)
    assert s1["inscp_scp_amt"] == 123450 - 10000 - 2000 - 3050  # blank scope is derived
    assert s1["source_file"] == str(path) and s1["source_row"] == 1
    s2 = claim(result, "S2")
    assert s2["enddate"] == dt.date(2021, 3, 9)
    assert (s2["fulamt_ownpay_amt"], s2["overlmt_selfpay"], s2["preselfpay_amt"], s2["inscp_scp_amt"]) == (0, 0, 0, 50000)
    assert s2["refl_flag"] is False and s2["source_row"] == 2


def test_name_and_id_card_travel_with_the_claim_but_not_into_rejects(tmp_path):
    path = write(
        tmp_path / "pii.csv",
        HEADER_CN + "\nS1,P1,张三,340000199001011234,21,05,本地,否,2021-03-01,2021-03-02,10,,,,"
        "\nS2,P2,李四,340000199001015678,21,05,本地,否,2021-03-01,2021-03-02,x,,,,\n",
    )
    result = read([path])
    assert set(result.claims.columns) == set(CLAIM_SCHEMA) | {"psn_name", "certno"}
    assert result.claims.select("psn_name", "certno").row(0) == ("张三", "340000199001011234")  # for the ledger, kept whole
    raw = result.rejects.row(0, named=True)["raw"]
    assert "李四" not in raw and "340000199001015678" not in raw and "总费用=x" in raw


def test_utf8_bom_csv(tmp_path):
    text = "setl_id,psn_no,med_type,hosp_lv,begndate,enddate,medfee_sumamt\nS1,P1,21,02,2021-03-01,2021-03-02,12.5\n"
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = read([path])
    assert result.files[0].encoding == "utf-8-sig"
    assert claim(result, "S1")["medfee_sumamt"] == 1250


def test_plain_utf8_csv_reports_utf8(tmp_path):
    path = write(tmp_path / "u.csv", "setl_id,psn_no,med_type,hosp_lv,begndate,enddate,medfee_sumamt\nS1,P1,21,02,2021-03-01,2021-03-02,1\n")
    assert read([path]).files[0].encoding == "utf-8"


def test_encoding_override(tmp_path):
    text = "结算ID,个人编号,医疗类别,医院等级,开始日期,结束日期,总费用\nS1,P1,普通门诊,一级甲等,2021-03-01,2021-03-01,8\n"
    path = write(tmp_path / "gb.csv", text, "gb2312")
    result = read([path], encoding="gb2312")
    assert result.files[0].encoding == "gb2312"
    assert claim(result, "S1")["med_type"] == "普通门诊"


def test_wrong_encoding_override_is_a_file_error(tmp_path):
    path = write(tmp_path / "gb.csv", "结算ID,个人编号\n张三,李四\n", "gbk")
    with pytest.raises(InputFileError) as err:
        read_claims([path], encoding="utf-8")
    assert err.value.file == str(path)
    assert "utf-8" in err.value.message and "encoding" in err.value.message


def test_utf16_unicode_text_export(tmp_path):
    """Excel's "Unicode text" save: UTF-16 with BOM, tab separated."""
    text = "结算ID\t个人编号\t医疗类别\t医院等级\t入院日期\t出院日期\t医疗费总额\r\nU1\tP1\t21\t02\t2021-03-01\t2021-03-05\t66\r\n"
    path = tmp_path / "unicode.txt"
    path.write_bytes(text.encode("utf-16"))
    result = read([path])
    assert result.files[0].encoding == "utf-16"
    assert claim(result, "U1")["medfee_sumamt"] == 6600


def test_tab_separated_txt(tmp_path):
    text = "结算ID\t个人编号\t医疗类别\t医院等级\t入院日期\t出院日期\t医疗费总额\nT1\tP1\t21\t02\t20210301\t20210305\t1,000.00\n"
    result = read([write(tmp_path / "export.txt", text)])
    t1 = claim(result, "T1")
    assert t1["medfee_sumamt"] == 100000 and t1["enddate"] == dt.date(2021, 3, 5)


def test_stray_spaces_everywhere(tmp_path):
    text = (
        " setl_id , psn_no ,med_type,hosp_lv,begndate,enddate,medfee_sumamt,refl_flag\n"
        "\u3000S1\u00a0,  P1 ,\u300021 , 02\t, 2021-03-01 ,\u30002021-03-02, 12 ,\u3000是 \n"
    )
    s1 = claim(read([write(tmp_path / "sp.csv", text)]), "S1")
    assert (s1["setl_id"], s1["psn_no"], s1["med_type"], s1["hosp_lv"]) == ("S1", "P1", "21", "02")
    assert s1["medfee_sumamt"] == 1200 and s1["refl_flag"] is True


# ---------------------------------------------------------------- Excel


def _excel(path: Path, notes_sheet_first: bool = False) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    if notes_sheet_first:
        wb.add_worksheet("说明").write(0, 0, "本表为2021年3月结算明细")
    ws = wb.add_worksheet("明细")
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    stamp = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    ws.write_row(0, 0, ["结算ID", "人员编号", "人员姓名", "医疗类别", "医院等级", "入院日期", "出院日期", "医疗费总额", "全自费金额", "转诊标志"])
    # numeric ids and codes, date cells, float amounts with binary noise, numeric flag
    ws.write_number(1, 0, 123456789012)
    ws.write_number(1, 1, 42)
    ws.write_string(1, 2, "张三")
    ws.write_number(1, 3, 21)
    ws.write_number(1, 4, 2)  # '02' typed into Excel becomes the number 2
    ws.write_datetime(1, 5, dt.datetime(2021, 3, 1), day)
    ws.write_datetime(1, 6, dt.datetime(2021, 3, 5, 14, 30), stamp)
    ws.write_number(1, 7, 1234.5)
    ws.write_number(1, 8, 0.1 + 0.2)  # 0.30000000000000004
    ws.write_number(1, 9, 1)
    # row 3 of the sheet (index 2) left empty on purpose
    ws.write_row(3, 0, ["E2", "P2", "李四", "普通住院", "三级甲等", "2021/3/1", "2021-03-02", "88.8", "", "否"])
    ws.write_string(4, 0, "E3")
    ws.write_string(4, 1, "P3")
    ws.write_row(4, 3, ["21", "02"])
    ws.write_number(4, 5, 44256)  # a date typed as a General number: 2021-03-01
    ws.write_datetime(4, 6, dt.datetime(2021, 3, 2), day)
    ws.write_number(4, 7, 12.345)  # a real third decimal
    ws.write_row(5, 0, ["E4"])
    ws.write_number(5, 1, 340000199001011234)  # an 18-digit person id typed as a number
    wb.close()
    return path


def test_excel_numeric_ids_dates_and_amounts(tmp_path):
    path = _excel(tmp_path / "c.xlsx")
    result = read([path])
    assert result.files[0].format == "xlsx"
    first = claim(result, "123456789012")  # not '123456789012.0' nor '1.23456789012e+11'
    assert first["psn_no"] == "42"
    assert first["med_type"] == "21" and first["hosp_lv"] == "02"
    assert first["begndate"] == dt.date(2021, 3, 1) and first["enddate"] == dt.date(2021, 3, 5)
    assert first["medfee_sumamt"] == 123450 and first["fulamt_ownpay_amt"] == 30
    assert first["refl_flag"] is True
    assert first["source_row"] == 1
    e2 = claim(result, "E2")
    assert e2["source_row"] == 3  # the empty sheet row still counts: Excel row 4 = header row 1 + 3
    assert e2["medfee_sumamt"] == 8880 and e2["refl_flag"] is False
    rejects = result.rejects.to_dicts()
    assert [r["setl_id"] for r in rejects] == ["E3", "E4"]
    assert rejects[0]["reason_code"] == "bad_amount" and rejects[0]["source_row"] == 4
    # digits, never '3.4e+17' (Excel itself keeps only 15 significant digits of a number)
    assert re.search(r"人员编号=340000199001011\d{3};", rejects[1]["raw"]), rejects[1]["raw"]
    assert result.rows_read == 4  # the empty row is not a row


def test_excel_serial_date_number(tmp_path):
    wb = xlsxwriter.Workbook(str(tmp_path / "s.xlsx"))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, ["setl_id", "psn_no", "med_type", "hosp_lv", "begndate", "enddate", "medfee_sumamt"])
    ws.write_row(1, 0, ["X1", "P1", "21", "02"])
    ws.write_number(1, 4, 44256)
    ws.write_number(1, 5, 44260.75)
    ws.write_number(1, 6, 10)
    wb.close()
    x1 = claim(read([tmp_path / "s.xlsx"]), "X1")
    assert (x1["begndate"], x1["enddate"]) == (dt.date(2021, 3, 1), dt.date(2021, 3, 5))


def test_excel_picks_the_sheet_with_the_claims(tmp_path):
    result = read([_excel(tmp_path / "n.xlsx", notes_sheet_first=True)])
    assert sorted(result.claims["setl_id"].to_list()) == ["123456789012", "E2"]


def test_excel_without_claims_sheet_names_missing_columns(tmp_path):
    wb = xlsxwriter.Workbook(str(tmp_path / "x.xlsx"))
    wb.add_worksheet("说明").write(0, 0, "nothing here")
    wb.close()
    with pytest.raises(InputFileError) as err:
        read_claims([tmp_path / "x.xlsx"])
    assert "setl_id" in err.value.message and "结算ID" in err.value.message


# ---------------------------------------------------------------- Parquet


def test_parquet_typed_columns(tmp_path):
    path = tmp_path / "typed.parquet"
    pl.DataFrame(
        {
            "setl_id": [1001, 1002, 1003, 1004, 1005],  # Int ids
            "psn_no": [7.0, 8.0, 9.0, 1.23e17, 11.0],  # Float ids
            "人员姓名": ["a", "b", "c", "d", "e"],
            "med_type": ["21"] * 5,
            "hosp_lv": [2, 2, 2, 2, 2],
            "begndate": [dt.date(2021, 3, 1)] * 5,
            "enddate": [dt.datetime(2021, 3, 2, 10, 30)] * 5,
            "medfee_sumamt": pl.Series(
                [Decimal("100.50"), Decimal("20.00"), None, Decimal("-5.00"), Decimal("7.00")], dtype=pl.Decimal(12, 2)
            ),
            "fulamt_ownpay_amt": [0.1 + 0.2, 12.345, 1.0, 0.0, None],  # Float yuan
            "overlmt_selfpay": [1, 2, 0, 0, 0],  # Int yuan
            "preselfpay_amt": pl.Series(
                [Decimal("0.0100"), Decimal("0"), Decimal("0"), Decimal("0"), Decimal("0.0050")], dtype=pl.Decimal(12, 4)
            ),
            "refl_flag": [True, None, False, True, False],
            "benefit_start": [dt.date(2021, 1, 1), None, None, None, None],
        }
    ).write_parquet(path)
    result = read([path])
    assert result.files[0].format == "parquet" and result.files[0].encoding is None
    c = claim(result, "1001")
    assert c["psn_no"] == "7" and c["hosp_lv"] == "02"
    assert c["enddate"] == dt.date(2021, 3, 2)
    assert (c["medfee_sumamt"], c["fulamt_ownpay_amt"], c["overlmt_selfpay"], c["preselfpay_amt"]) == (10050, 30, 100, 1)
    assert c["inscp_scp_amt"] == 10050 - 30 - 100 - 1
    assert c["refl_flag"] is True and c["benefit_start"] == dt.date(2021, 1, 1)
    reasons = {r["setl_id"]: (r["reason_code"], r["column"], r["source_row"]) for r in result.rejects.to_dicts()}
    assert reasons == {
        "1002": ("bad_amount", "fulamt_ownpay_amt", 2),  # 12.345 is not a whole fen
        "1003": ("missing_field", "medfee_sumamt", 3),
        "1004": ("negative_amount", "medfee_sumamt", 4),
        "1005": ("bad_amount", "preselfpay_amt", 5),  # Decimal 0.0050 is half a fen
    }


def test_parquet_string_columns(tmp_path):
    path = tmp_path / "text.parquet"
    pl.DataFrame(
        {
            "结算ID": [" A1 ", "A2"],
            "个人编号": ["P1", "P2"],
            "医疗类别": ["21", "11"],
            "医院等级": ["02", "11"],
            "开始日期": ["2021-03-01", "2021-13-45"],
            "结束日期": ["2021-03-02 08:00:00", "2021-03-02"],
            "总费用": ["1,234.50", "9"],
        }
    ).write_parquet(path)
    result = read([path])
    assert claim(result, "A1")["medfee_sumamt"] == 123450
    assert result.rejects.to_dicts()[0]["reason_code"] == "bad_date"


def test_parquet_only_reads_recognised_columns(tmp_path):
    path = tmp_path / "nested.parquet"
    pl.DataFrame(
        {
            "setl_id": ["N1"],
            "psn_no": ["P1"],
            "med_type": ["21"],
            "hosp_lv": ["02"],
            "begndate": ["2021-03-01"],
            "enddate": ["2021-03-01"],
            "medfee_sumamt": [1],
            "details": [[1, 2, 3]],  # an unrelated nested column is never touched
        }
    ).write_parquet(path)
    assert claim(read([path]), "N1")["medfee_sumamt"] == 100


def test_parquet_nested_claim_column_is_a_file_error(tmp_path):
    path = tmp_path / "bad.parquet"
    pl.DataFrame(
        {"setl_id": ["N1"], "psn_no": ["P1"], "med_type": ["21"], "hosp_lv": ["02"], "begndate": ["2021-03-01"], "enddate": ["2021-03-01"], "medfee_sumamt": [[1]]}
    ).write_parquet(path)
    with pytest.raises(InputFileError) as err:
        read_claims([path])
    assert "medfee_sumamt" in err.value.message


# ---------------------------------------------------------------- whole-file problems


def test_unknown_extension(tmp_path):
    path = write(tmp_path / "claims.json", "{}")
    with pytest.raises(InputFileError) as err:
        read_claims([path])
    assert err.value.file == str(path)
    assert ".json" in err.value.message and ".csv" in err.value.message and ".parquet" in err.value.message


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError) as err:
        read_claims([tmp_path / "nope.csv"])
    assert "not found" in err.value.message


def test_damaged_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(InputFileError) as err:
        read_claims([path])
    assert err.value.file == str(path) and "parquet" in err.value.message


def test_damaged_xlsx(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(InputFileError):
        read_claims([path])


def test_empty_csv(tmp_path):
    with pytest.raises(InputFileError) as err:
        read_claims([write(tmp_path / "empty.csv", "\n \n")])
    assert "empty" in err.value.message


def test_header_only_csv_has_no_rows(tmp_path):
    result = read([write(tmp_path / "h.csv", "setl_id,psn_no,med_type,hosp_lv,begndate,enddate,medfee_sumamt\n\n")])
    assert result.rows_read == 0 and result.claims.height == 0


def test_no_files():
    result = read([])
    assert result.rows_read == 0 and result.files == []


def test_several_formats_in_one_run(tmp_path):
    csv = write(tmp_path / "a.csv", "setl_id,psn_no,med_type,hosp_lv,begndate,enddate,medfee_sumamt\nA,P1,21,02,2021-03-01,2021-03-02,1\n")
    pq = tmp_path / "b.parquet"
    pl.DataFrame(
        {"setl_id": ["B"], "psn_no": ["P1"], "med_type": ["21"], "hosp_lv": ["02"], "begndate": [dt.date(2021, 3, 3)], "enddate": [dt.date(2021, 3, 4)], "medfee_sumamt": [2]}
    ).write_parquet(pq)
    xl = _excel(tmp_path / "c.xlsx")
    result = read([csv, pq, xl])
    assert [f.format for f in result.files] == ["csv", "parquet", "xlsx"]
    assert sorted(result.claims["setl_id"].to_list()) == ["123456789012", "A", "B", "E2"]
    assert result.rows_read == 6
