"""`medclaim audit --roster` applies the enrollment roster exactly as `medclaim settle --roster`.

东至 2021 (rules/anhui/dongzhi-2021.yaml), one first admission at a secondary hospital (二级乙等, local),
policy-scope costs 10,250.00 yuan, written by the hospital as an ordinary resident and settled by it so:
  deductible 500, ratio 80 %: basic (10,250 − 500) × 80 % = 7,800.00; 大病: burden 2,450 < 15,000 → 0;
  no assistance; fund 7,800.00, person 2,450.00.
The roster says the person is 低保对象 all year, paid 2020-12-01 (inside the collection period), so:
  deductible 500 × 0.5 = 250, ratio 80 + 5 = 85 %: basic (10,250 − 250) × 85 % = 8,500.00;
  大病: burden 1,750 < 7,500 (15,000 × 0.5) → 0;
  assistance (低保 75 %): (10,250 − 8,500 − 0) × 75 % = 1,312.50;
  fund 8,500 + 1,312.50 = 9,812.50, person 10,250 − 9,812.50 = 437.50.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.status import Exit

HEADER = ("结算ID,个人编号,人员姓名,定点医药机构编号,定点医药机构名称,医院等级,医药机构地点类别,人员身份类别,医疗类别,开始日期,结束日期,"
          "总费用,全自费金额,超限价自费费用,先行自付金额,范围内费用,起付线,统筹基金支出,大病保险支出,医疗救助支出,基金支付总额,个人负担总金额")
CLAIM = ("S1,P-DIBAO-1,汪某,H1,东至县第二人民医院,二级乙等,本地,,普通住院,2021-03-01,2021-03-06,"
         "10250.00,0,0,0,10250.00,500.00,7800.00,0,0,7800.00,2450.00")
ROSTER = "人员编号,人员身份类别,身份开始日期,缴费日期\nP-DIBAO-1,低保对象,2021-01-01,2020-12-01\n"

#: field -> (reported by the hospital, computed with the roster), fen
EXPECTED = {
    "act_pay_dedc": (500_00, 250_00),
    "hifp_pay": (7_800_00, 8_500_00),
    "maf_pay": (0, 1_312_50),
    "fund_pay_sumamt": (7_800_00, 9_812_50),
    "psn_part_amt": (2_450_00, 437_50),
}


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def files(tmp: Path) -> tuple[Path, Path]:
    claims, roster = tmp / "claims.csv", tmp / "roster.csv"
    claims.write_text(HEADER + "\n" + CLAIM + "\n", encoding="utf-8")
    roster.write_text(ROSTER, encoding="utf-8")
    return claims, roster


def test_audit_without_the_roster_agrees_with_the_hospital(tmp_path):
    claims, _ = files(tmp_path)
    r = run("audit", claims, "--rules", "anhui/dongzhi-2021", "--out", tmp_path / "a", "--headers", "en", "-q")
    assert r.exit_code == Exit.OK, r.output
    assert pl.read_csv(tmp_path / "a" / "differences.csv").height == 0


def test_audit_with_the_roster_recomputes_with_the_rosters_identity_as_settle_does(tmp_path):
    claims, roster = files(tmp_path)
    r = run("audit", claims, "--rules", "anhui/dongzhi-2021", "--roster", roster, "--out", tmp_path / "a", "--headers", "code", "-q")
    assert r.exit_code == Exit.AUDIT_FINDINGS, r.output
    diffs = pl.read_csv(tmp_path / "a" / "differences.csv", infer_schema=False)
    cols = diffs.columns
    got = {row[cols.index("field")]: row for row in diffs.iter_rows()}
    assert set(got) == set(EXPECTED)

    def fen(text: str) -> int:
        return round(float(text) * 100)

    for f, (reported, computed) in EXPECTED.items():
        row = got[f]
        assert (fen(row[cols.index("reported")]), fen(row[cols.index("computed")])) == (reported, computed), f
    assert got["hifp_pay"][cols.index("cause")] == "identity"

    s = run("settle", claims, "--rules", "anhui/dongzhi-2021", "--roster", roster, "--out", tmp_path / "s", "-q")
    assert s.exit_code == Exit.OK, s.output
    led = pl.read_parquet(tmp_path / "s" / "ledger.parquet").row(0, named=True)
    assert led["identity"] == "dibao"
    for f, (_, computed) in EXPECTED.items():
        assert led[f] == computed, f
    assert (led["hifmi_pay"], got["maf_pay"][cols.index("identity")]) == (0, "dibao")


def test_audit_with_the_roster_rejects_a_person_not_on_it(tmp_path):
    claims, roster = files(tmp_path)
    roster.write_text("人员编号,人员身份类别,缴费日期\nSOMEONE-ELSE,,2020-12-01\n", encoding="utf-8")
    r = run("audit", claims, "--rules", "anhui/dongzhi-2021", "--roster", roster, "--out", tmp_path / "a", "--headers", "code", "-q")
    rejects = pl.read_csv(tmp_path / "a" / "rejects.csv", infer_schema=False)
    assert rejects.height == 1 and "not_enrolled" in rejects.row(0)[rejects.columns.index("reason_code")], rejects
    assert r.exit_code == Exit.REJECTS, r.output
