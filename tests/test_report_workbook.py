"""report.xlsx read back with openpyxl: sheets, numbers (not text), formats, native chart parts."""

from __future__ import annotations

import re
import zipfile

import openpyxl
import pytest

from report_ledger import report_with_budget


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wb")
    return report_with_budget(tmp, "zh") / "report.xlsx", report_with_budget(tmp, "en", lang="en") / "report.xlsx"


def rows(ws):
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_sheets_in_chinese_by_default(books):
    wb = openpyxl.load_workbook(books[0])
    assert wb.sheetnames[:3] == ["概览", "图表", "各月支出"]
    for name in ("政策目标比例", "预算执行与全年预测", "大病保险保费与赔付", "按医疗类别", "按医疗机构级别", "按定点医疗机构", "按人员身份", "按就医地"):
        assert name in wb.sheetnames


def test_money_is_numbers_in_yuan(books):
    wb = openpyxl.load_workbook(books[0])
    overview = {r[0]: r[1] for r in rows(wb["概览"])}
    assert overview["统筹基金支出"] == pytest.approx(34_060.00) and isinstance(overview["统筹基金支出"], (int, float))
    assert overview["大病保险支出"] == pytest.approx(5_000.00) and overview["医疗救助支出"] == pytest.approx(1_620.00)
    assert overview["结算笔数"] == 6 and overview["就医人数"] == 4
    month = rows(wb["各月支出"])
    head = month[0]
    assert head[0] == "月份" and "统筹基金支出" in head and "累计统筹基金支出" in head
    basic, ytd = head.index("统筹基金支出"), head.index("累计统筹基金支出")
    by_month = {r[0]: r for r in month[1:5]}
    assert by_month["2021-03"][basic] == 0 and by_month["2021-04"][basic] == pytest.approx(14_000.00)
    assert by_month["2021-04"][ytd] == pytest.approx(34_060.00)
    cell = wb["各月支出"].cell(row=5, column=basic + 1)
    assert cell.number_format == "#,##0.00" and cell.data_type == "n"
    assert wb["各月支出"].freeze_panes == "A2" and wb["各月支出"].auto_filter.ref


def test_rates_are_percent_numbers(books):
    wb = openpyxl.load_workbook(books[0])
    t = rows(wb["政策目标比例"])
    ip = next(r for r in t if r[0] == "政策范围内住院费用基金支付比例")
    assert ip[1] == pytest.approx(0.6071) and ip[2] == pytest.approx(0.70)
    assert wb["政策目标比例"].cell(row=2, column=2).number_format == "0.00%"
    budget = {r[0]: r for r in rows(wb["预算执行与全年预测"])}
    assert budget["统筹基金"][4] == pytest.approx(102_180.00) and budget["统筹基金"][6] == "预警"


def test_native_charts_present(books):
    with zipfile.ZipFile(books[0]) as z:
        charts = sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        assert len(charts) == 3
        xml = [z.read(n).decode("utf-8") for n in charts]
        drawing = [n for n in z.namelist() if n.startswith("xl/drawings/drawing")]
        assert drawing
    monthly, rates, tier = xml
    assert "<c:barChart>" in monthly and '<c:grouping val="stacked"/>' in monthly
    assert re.search(r"<c:f>'?各月支出'?!\$A\$2:\$A\$5</c:f>", monthly)  # categories: the four months' cells
    assert "1F77B4" in monthly and "FF7F0E" in monthly  # the same colours as the HTML charts
    assert '<c:barDir val="bar"/>' in rates and "政策目标比例!$B$2:$B$3" in rates.replace("'", "")
    assert "D62728" in rates  # the target series
    assert "按医疗机构级别!$A$2:$A$4" in tier.replace("'", "")


def test_english_workbook(books):
    wb = openpyxl.load_workbook(books[1])
    assert wb.sheetnames[:3] == ["Overview", "Charts", "Outlay by month"]
    head = rows(wb["Outlay by month"])[0]
    assert "Basic fund" in head and "Basic fund to date" in head
