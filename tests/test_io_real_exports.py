"""medclaim.io: real county exports read unchanged — title rows, merged title cells, a 合计 line,
header wordings of other systems, a site mapping file, the ID-card number as the only person key.

The files are built here the way HIS and Excel exports look (GBK CSV with a title block and a
totals line, an openpyxl workbook with a merged title, a cover sheet and a hidden sheet)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from io_helpers import assert_claim_schema
from medclaim.io import InputFileError, ReadOptions, read_claims
from medclaim.io.footers import is_candidate

TITLE = "东至县医保结算明细表 2021年3月"
HEADER = ["序号", "结算单据号", "身份证号", "人员姓名", "定点医药机构编码", "定点医药机构名称", "科室", "诊断名称",
          "医疗类别", "医院等级", "入院日期", "出院日期", "医疗费用总额", "全自费金额", "超限价自费费用", "先行自付金额"]  # fmt: skip
ROWS = [
    ["1", "S1", "341721199001011234", "张三", "H34172100001", "东至县人民医院", "内科", "肺炎",
     "普通住院", "二级甲等", "2021-03-01", "2021-03-05", "1000.00", "100.00", "0", "50.00"],
    ["2", "S2", "341721199001015678", "李四", "H34172100103", "尧渡镇卫生院", "", "感冒",
     "普通门诊", "一级", "2021-03-02", "2021-03-02", "200.50", "0", "0", "0"],
]  # fmt: skip
TOTALS = ["合计", "", "", "", "", "", "", "", "", "", "", "", "1200.50", "100.00", "0", "50.00"]


def read(paths, **options) -> object:
    result = read_claims(paths, options=ReadOptions(**options))
    assert result.rows_read == result.claims.height + result.rejects.height + result.footers.height
    assert_claim_schema(result.claims)
    return result


def csv_text(rows: list[list[str]]) -> str:
    return "".join(",".join(r) + "\r\n" for r in rows)


def county_csv(path: Path, encoding: str = "gbk", header: list[str] = HEADER, rows: list[list[str]] = ROWS) -> Path:
    """Title line padded with commas (as Excel saves it), a blank line, 制表单位, the header, the
    claims, the 合计 line and the 制表人 sign-off with fewer fields."""
    blank = [""] * len(header)
    text = csv_text([[TITLE] + blank[1:], blank, ["制表单位：东至县医疗保障局"] + blank[1:], header, *rows, TOTALS])
    text += "制表人：王五,审核人：赵六\r\n"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_county_csv_with_title_rows_and_totals_line(tmp_path, encoding):
    path = county_csv(tmp_path / "dongzhi-2021-03.csv", encoding)
    result = read([path])
    assert result.claims["setl_id"].to_list() == ["S1", "S2"]
    assert result.rejects.height == 0
    stats = result.files[0]
    assert stats.header_row == 4  # line 4: title, blank line, 制表单位 above it
    assert stats.title_rows == [TITLE, "制表单位：东至县医疗保障局"]
    assert result.rows_read == 4 and stats.footer_rows == 2
    footers = result.footers.select("source_row", "kind").rows()
    assert footers == [(3, "totals"), (4, "sign-off")]  # lines 7 and 8 = header line 4 + 3, + 4
    s1 = result.claims.row(0, named=True)
    assert s1["medfee_sumamt"] == 100000 and s1["inscp_scp_amt"] == 100000 - 10000 - 0 - 5000
    assert s1["begndate"] == dt.date(2021, 3, 1) and s1["enddate"] == dt.date(2021, 3, 5)
    assert s1["source_row"] == 1


def test_header_variants_and_descriptive_columns(tmp_path):
    result = read([county_csv(tmp_path / "a.csv")])
    s1, s2 = result.claims.sort("setl_id").iter_rows(named=True)
    # no 人员编号 column: the ID-card number is the person key, and says so
    assert s1["psn_no"] == "341721199001011234" == s1["certno"]
    assert result.files[0].person_key == "certno"
    assert (s1["psn_name"], s1["fixmedins_code"], s1["fixmedins_name"], s1["dept"], s1["dise_name"]) == (
        "张三", "H34172100001", "东至县人民医院", "内科", "肺炎")  # fmt: skip
    assert s2["dept"] == "" and s2["medfee_sumamt"] == 20050
    assert result.files[0].unrecognised_columns == ["序号"]


def test_masked_id_card_cannot_be_the_person_key(tmp_path):
    rows = [ROWS[0][:2] + ["341721**********1234"] + ROWS[0][3:], ROWS[1]]
    result = read([county_csv(tmp_path / "m.csv", rows=rows)])
    assert result.claims["setl_id"].to_list() == ["S2"]
    reject = result.rejects.row(0, named=True)
    assert reject["reason_code"] == "missing_field" and "masked" in reject["message"]


def test_column_sums_line_without_a_label_is_a_footer(tmp_path):
    unlabelled = [""] + TOTALS[1:]
    path = tmp_path / "sums.csv"
    path.write_text(csv_text([HEADER, *ROWS, unlabelled]), encoding="utf-8")
    result = read([path])
    assert result.claims.height == 2 and result.rejects.height == 0
    assert result.footers.select("source_row", "kind").rows() == [(3, "column sums")]


def test_a_line_without_ids_that_is_not_a_total_is_still_rejected(tmp_path):
    stray = [""] + TOTALS[1:12] + ["999.00", "0", "0", "0"]  # amounts that are not the sums
    path = tmp_path / "stray.csv"
    path.write_text(csv_text([HEADER, *ROWS, stray]), encoding="utf-8")
    result = read([path])
    assert result.footers.height == 0
    assert result.rejects.row(0, named=True)["reason_code"] == "missing_field"


def test_subtotal_lines_between_hospitals(tmp_path):
    subtotal = ["小计", "", "", "", "", "", "", "", "", "", "", "", "1000.00", "100.00", "0", "50.00"]
    path = tmp_path / "sub.csv"
    path.write_text(csv_text([HEADER, ROWS[0], subtotal, ROWS[1], TOTALS]), encoding="utf-8")
    result = read([path])
    assert result.claims["setl_id"].to_list() == ["S1", "S2"]
    assert result.footers.select("source_row", "kind").rows() == [(2, "totals"), (4, "totals")]


# ---------------------------------------------------------------- header row


def test_forced_header_row(tmp_path):
    path = county_csv(tmp_path / "f.csv")
    assert read([path], header_row=4).files[0].header_row == 4
    with pytest.raises(InputFileError) as err:
        read([path], header_row=2)
    assert "required column(s) missing" in err.value.message and "row 2" in err.value.message


def test_no_header_anywhere_says_what_was_found_and_how_to_map(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text(TITLE + "\n编号,姓名,费用\nS1,张三,100\n", encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        read([path])
    message = err.value.message
    assert "'编号'" in message and "'费用'" in message  # the headers found
    assert "--columns" in message and "headers.py" not in message  # a mapping file, not a code edit


# ---------------------------------------------------------------- site mapping


def site_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "columns.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_site_mapping_names_the_sites_own_headers(tmp_path):
    header = ["单据", "患者编号", "类别", "等级", "入院", "出院", "费用合计", "全自费金额", "超限价自费费用", "先行自付金额", "备注"]
    path = tmp_path / "site.csv"
    path.write_text(csv_text([header, ["S1", "P1", "21", "05", "2021-03-01", "2021-03-04", "300", "0", "0", "0", "x"]]),
                    encoding="utf-8")  # fmt: skip
    mapping = site_file(
        tmp_path,
        "columns:\n  单据: setl_id\n  患者编号: 人员编号\n  类别: med_type\n  等级: hosp_lv\n"
        "  入院: begndate\n  出院: 出院日期\n  费用合计: medfee_sumamt\n  备注: ~\n",
    )
    result = read([path], columns=mapping)
    row = result.claims.row(0, named=True)
    assert (row["setl_id"], row["psn_no"], row["medfee_sumamt"], row["enddate"]) == ("S1", "P1", 30000, dt.date(2021, 3, 4))
    assert result.files[0].ignored_columns == ["备注"] and result.files[0].unrecognised_columns == []
    assert result.columns_file == str(mapping)


def test_site_mapping_overrides_a_built_in_header(tmp_path):
    # at this site 总费用 is a running figure; the claim total is 本次费用
    header = ["结算ID", "人员编号", "医疗类别", "医院等级", "开始日期", "结束日期", "总费用", "本次费用", "范围内费用"]
    path = tmp_path / "o.csv"
    path.write_text(csv_text([header, ["S1", "P1", "21", "05", "2021-03-01", "2021-03-04", "9999", "300", "300"]]), encoding="utf-8")
    result = read([path], columns=site_file(tmp_path, "总费用: ~\n本次费用: medfee_sumamt\n"))
    assert result.claims.row(0, named=True)["medfee_sumamt"] == 30000


@pytest.mark.parametrize(
    "text, says",
    [
        ("费用合计: total_money\n", "not a field medclaim knows"),
        ("- a\n- b\n", "header: field"),
        ("a: [1, 2]\n", "must be a name"),
        ("a: b: c\n", "not valid YAML"),
    ],
)
def test_bad_site_mapping_is_a_clear_error(tmp_path, text, says):
    path = county_csv(tmp_path / "a.csv")
    with pytest.raises(InputFileError) as err:
        read([path], columns=site_file(tmp_path, text))
    assert says in err.value.message and err.value.file.endswith("columns.yaml")


# ---------------------------------------------------------------- amount columns that decide the scope


def test_missing_scope_amount_column_stops_the_run(tmp_path):
    # 全自费金额 misspelled, no 先行自付金额: read as zero, the funds would pay on the whole cost
    header = ["结算ID", "人员编号", "医疗类别", "医院等级", "开始日期", "结束日期", "总费用", "全自费金额x", "超限价自费费用"]
    path = tmp_path / "x.csv"
    path.write_text(csv_text([header, ["S1", "P1", "21", "05", "2021-03-01", "2021-03-04", "9000", "8000", "0"]]), encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        read([path])
    message = err.value.message
    assert "fulamt_ownpay_amt" in message and "preselfpay_amt" in message and "overlmt_selfpay (" not in message
    assert "'全自费金额x'" in message  # the misspelled column is named
    assert "--assume-zero fulamt_ownpay_amt --assume-zero preselfpay_amt" in message


def test_assume_zero_reads_the_file_and_says_so(tmp_path):
    header = ["结算ID", "人员编号", "医疗类别", "医院等级", "开始日期", "结束日期", "总费用", "全自费金额"]
    path = tmp_path / "z.csv"
    path.write_text(csv_text([header, ["S1", "P1", "21", "05", "2021-03-01", "2021-03-04", "900", "100"]]), encoding="utf-8")
    result = read([path], assume_zero=("超限价自费费用", "preselfpay_amt"))
    assert result.claims.row(0, named=True)["inscp_scp_amt"] == 80000
    assert result.files[0].assumed_zero == ["overlmt_selfpay", "preselfpay_amt"]
    with pytest.raises(InputFileError) as err:
        read([path], assume_zero=("medfee_sumamt",))
    assert "not an amount column that may be assumed zero" in err.value.message


def test_a_given_scope_column_needs_no_parts(tmp_path):
    header = ["结算ID", "人员编号", "医疗类别", "医院等级", "开始日期", "结束日期", "总费用", "符合政策范围金额"]
    path = tmp_path / "s.csv"
    path.write_text(csv_text([header, ["S1", "P1", "21", "05", "2021-03-01", "2021-03-04", "900", "700"]]), encoding="utf-8")
    result = read([path])
    assert result.claims.row(0, named=True)["inscp_scp_amt"] == 70000


# ---------------------------------------------------------------- Excel


def county_workbook(path: Path, *, cover: bool = True, hidden_first: bool = False, extra_sheet: bool = False) -> Path:
    wb = openpyxl.Workbook()
    first = wb.active
    if hidden_first:  # an old copy of the claims, hidden, in front
        first.title = "旧数据"
        first.append(HEADER)
        first.append(["9", "OLD1", *ROWS[0][2:]])
        first.sheet_state = "hidden"
        if cover:
            wb.create_sheet("封面").append(["东至县医疗保障局", "2021年3月"])
    elif cover:
        first.title = "封面"
        first.append(["东至县医疗保障局", "2021年3月"])
    else:
        wb.remove(first)
    ws = wb.create_sheet("结算明细")
    ws["A1"] = TITLE
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))  # merged title cell
    ws.append([])  # row 2 blank
    ws.append(HEADER)  # row 3
    for r in ROWS:
        cells = r[:12] + [float(v) for v in r[12:]]  # amounts as numbers, the rest as text
        cells[10] = dt.datetime.fromisoformat(r[10])
        cells[11] = dt.datetime.fromisoformat(r[11])
        ws.append(cells)
    ws.append(["合计", *[None] * 11, "=SUM(M4:M5)", "=SUM(N4:N5)", 0, "=SUM(P4:P5)"])
    if extra_sheet:
        more = wb.create_sheet("结算明细2")
        more.append(HEADER)
        more.append(["3", "S3", *ROWS[0][2:]])
    wb.save(path)
    return path


def test_workbook_with_merged_title_cover_and_totals(tmp_path):
    result = read([county_workbook(tmp_path / "c.xlsx")])
    assert result.claims["setl_id"].to_list() == ["S1", "S2"]
    stats = result.files[0]
    assert (stats.format, stats.sheet, stats.header_row) == ("xlsx", "结算明细", 3)
    assert stats.title_rows == [TITLE]
    assert stats.sheets_not_read == ["封面 (no claims header in its first 30 rows)"]
    assert result.footers.select("source_row", "kind").rows() == [(3, "totals")]  # sheet row 6 = 3 + 3
    assert result.claims.row(0, named=True)["medfee_sumamt"] == 100000


def test_hidden_sheet_is_not_read_instead_of_the_visible_one(tmp_path):
    result = read([county_workbook(tmp_path / "h.xlsx", hidden_first=True)])
    assert result.claims["setl_id"].to_list() == ["S1", "S2"]
    assert any(s.startswith("旧数据 (hidden; holds claims") for s in result.files[0].sheets_not_read)
    only_old = read([tmp_path / "h.xlsx"], sheet="旧数据")
    assert only_old.claims["setl_id"].to_list() == ["OLD1"]


def test_sheets_with_the_same_header_are_all_read(tmp_path):
    result = read([county_workbook(tmp_path / "m.xlsx", extra_sheet=True)])
    assert sorted(result.claims["setl_id"].to_list()) == ["S1", "S2", "S3"]
    assert [f.sheet for f in result.files] == ["结算明细", "结算明细2"]
    assert result.claims.filter(pl.col("setl_id") == "S3")["source_file"].item() == f"{tmp_path / 'm.xlsx'} [结算明细2]"


def test_unknown_sheet_lists_the_sheets(tmp_path):
    with pytest.raises(InputFileError) as err:
        read([county_workbook(tmp_path / "u.xlsx")], sheet="Sheet9")
    assert "'封面'" in err.value.message and "'结算明细'" in err.value.message


def test_leading_empty_rows_keep_sheet_row_numbers(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.cell(row=3, column=2, value=TITLE)  # rows 1-2 empty, column A empty
    for i, values in enumerate([HEADER, ROWS[0], ROWS[1][:12] + ["x", "0", "0", "0"]]):
        for j, v in enumerate(values):
            ws.cell(row=5 + i, column=2 + j, value=v)
    wb.save(tmp_path / "e.xlsx")
    result = read([tmp_path / "e.xlsx"])
    assert result.files[0].header_row == 5
    assert result.rejects.row(0, named=True)["source_row"] == 2  # sheet row 7 = header row 5 + 2


_ID_CELLS = st.one_of(st.none(), st.text(alphabet=" \t\n\u3000\u00a0本页月表全部总合计小共1aX", max_size=8))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_ID_CELLS, _ID_CELLS), min_size=1, max_size=20))
def test_a_footer_candidate_has_both_ids_blank_or_a_footer_word(rows):
    """Only rows whose settlement and person ids, white space removed, are empty or start with
    a totals word (合计, 本页合计, 总 计 …) are looked at as footers: the reader's whole-column
    test against the rule stated plainly, row by row."""

    def blank_or_word(cell):
        squeezed = re.sub(r"\s", "", cell or "")
        return squeezed == "" or re.match(r"(?:本页|本月|本表|全部|总)?(?:合计|总计|小计|共计)", squeezed) is not None

    frame = pl.DataFrame({"setl_id": [a for a, _ in rows], "psn_no": [b for _, b in rows]}, schema={"setl_id": pl.String, "psn_no": pl.String})
    assert frame.select(is_candidate()).to_series().to_list() == [blank_or_word(a) and blank_or_word(b) for a, b in rows]
