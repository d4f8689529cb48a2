"""The published 山东 2014 大病 worked example, reproduced through the command line.

Press conference of the provincial human-resources department: total cost 300,000; policy scope
270,000; basic insurance paid 100,000 → 大病 base 170,000 →
(100,000 − 10,000) × 50 % + (170,000 − 100,000) × 60 % = 45,000 + 42,000 = 87,000;
basic + 大病 = 187,000.
"""

import polars as pl
from typer.testing import CliRunner

from helpers import full_ledger

from medclaim.cli import app
from medclaim.output import read_people_csv

HEADER = "结算ID,人员编号,医疗类别,医院等级,开始日期,结束日期,总费用,全自费金额,统筹基金支出\n"
# The published example names only the total and the fully self-paid part: the file has no
# over-limit or class-B columns, and says so (without this the run would stop, exit 4).
ABSENT = ["--assume-zero", "overlmt_selfpay", "--assume-zero", "先行自付金额"]


def settle(tmp_path, rows: str):
    src = tmp_path / "shandong-2014.csv"
    src.write_text(HEADER + rows, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["settle", str(src), "--rules", "shandong/critical-illness-2014", "--out", str(out), *ABSENT])
    assert result.exit_code == 0, result.output
    return full_ledger(out, "shandong/critical-illness-2014").sort("enddate")


def test_published_example_base_170000_pays_87000(tmp_path):
    ledger = settle(tmp_path, 'SD1,P1,普通住院,02,2014-03-01,2014-03-20,"300,000.00","30,000.00","100,000.00"\n')
    row = ledger.row(0, named=True)
    assert row["inscp_scp_amt"] == 270_000_00  # 300,000 − 30,000 fully self-paid
    assert row["hifp_pay"] == 100_000_00  # as the basic fund reported it
    assert row["ci_base"] == 170_000_00  # 270,000 − 100,000
    assert row["hifmi_pay"] == (100_000 - 10_000) * 50 // 100 * 100 + (170_000 - 100_000) * 60 // 100 * 100
    assert row["hifmi_pay"] == 87_000_00
    assert row["hifp_pay"] + row["hifmi_pay"] == 187_000_00
    assert row["psn_part_amt"] == 300_000_00 - 187_000_00


def test_same_year_split_over_two_admissions_pays_the_same_87000(tmp_path):
    # two admissions of 150,000 (15,000 self-paid, basic 50,000 each): base 85,000 + 85,000
    rows = (
        'SD1,P1,普通住院,02,2014-03-01,2014-03-20,"150,000.00","15,000.00","50,000.00"\n'
        'SD2,P1,普通住院,02,2014-06-01,2014-06-20,"150,000.00","15,000.00","50,000.00"\n'
    )
    first, second = settle(tmp_path, rows).iter_rows(named=True)
    assert first["hifmi_pay"] == (85_000 - 10_000) * 50 // 100 * 100  # 37,500 — all in the 50 % band
    assert second["hifmi_pay"] == 87_000_00 - 37_500_00  # F(170,000) − F(85,000)
    assert first["ytd_critical_base"] == 85_000_00 and second["ytd_critical_base"] == 170_000_00


def test_cap_of_200000(tmp_path):
    # base 600,000: 45,000 + (600,000 − 100,000) × 60 % = 345,000 → capped at 200,000
    ledger = settle(tmp_path, 'SD1,P1,普通住院,02,2014-03-01,2014-03-20,"800,000.00","0.00","200,000.00"\n')
    row = ledger.row(0, named=True)
    assert row["ci_base"] == 600_000_00
    assert row["hifmi_pay"] == 200_000_00
    assert row["ci_cap_cut"] == (45_000 + 300_000 - 200_000) * 100


def test_blank_or_excessive_reported_basic_payment_is_rejected_with_reason(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text(
        HEADER
        + 'SD1,P1,普通住院,02,2014-03-01,2014-03-20,"300,000.00","30,000.00",\n'  # blank 统筹基金支出
        + 'SD2,P2,普通住院,02,2014-03-01,2014-03-20,"1,000.00","0","2,000.00"\n',  # more than the scope
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["settle", str(src), "--rules", "shandong/critical-illness-2014", "--out", str(out), *ABSENT])
    assert result.exit_code == 1  # completed with rejected rows
    rejects = read_people_csv(out / "rejects.csv").sort("setl_id")
    assert rejects["reason_code"].to_list() == ["missing_field", "inconsistent_amounts"]
    assert rejects["column"].to_list() == ["reported_hifp_pay"] * 2


def test_a_computing_rule_set_ignores_a_garbage_reported_column(tmp_path):
    # 东至 computes basic insurance itself: the hospital's 统筹基金支出 cell is not its business
    src = tmp_path / "dz.csv"
    src.write_text(HEADER + "D1,P1,普通住院,05,2021-03-01,2021-03-05,1000,0,n/a\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["settle", str(src), "--rules", "anhui/dongzhi-2021", "--out", str(out), *ABSENT])
    assert result.exit_code == 0, result.output
    row = pl.read_parquet(out / "ledger.parquet").row(0, named=True)
    assert row["hifp_pay"] == (1000_00 - 500_00) * 80 // 100  # secondary local: deductible 500, 80 %
