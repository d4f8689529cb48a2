"""`medclaim audit` end to end: files, exit statuses, a file without reported amounts."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.status import Exit

HEADER = "结算ID,个人编号,医疗类别,医院等级,开始日期,结束日期,总费用,范围内费用,起付线,统筹基金支出,大病保险支出,医疗救助支出,基金支付总额"
# secondary local admission, scope 10,000: deductible 500, (10,000 − 500) × 80 % = 7,600 (东至 2021)
RIGHT = "S1,P1,21,05,2021-03-01,2021-03-05,10000,10000,500,7600,0,0,7600"
WRONG = "S2,P2,21,05,2021-03-01,2021-03-05,10000,10000,800,7360,0,0,7360"  # the tertiary deductible


def run(tmp_path: Path, *lines: str, header: str = HEADER, extra: tuple[str, ...] = (), rules: str = "anhui/dongzhi-2021",
        command: str = "audit"):
    f = tmp_path / "h.csv"
    f.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    out = tmp_path / command
    r = CliRunner().invoke(app, [command, str(f), "--rules", rules, "--out", str(out), *extra])
    return r, out


def test_differences_found_exit_11_and_files(tmp_path):
    r, out = run(tmp_path, RIGHT, WRONG, extra=("--format", "xlsx", "--headers", "code"))
    assert r.exit_code == Exit.AUDIT_FINDINGS == 11, r.output
    d = pl.read_csv(out / "differences.csv", infer_schema=False)
    assert set(d["setl_id"]) == {"S2"}
    hifp = d.filter(pl.col("field") == "hifp_pay").row(0, named=True)
    assert (hifp["reported"], hifp["computed"], hifp["difference"], hifp["cause"]) == ("7360.00", "7600.00", "-240.00", "deductible")
    assert hifp["field_zh"] == "统筹基金支出" and hifp["hospital_code"].endswith("h.csv")
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["claims_differing"] == 1 and s["fields_not_compared"] == ["psn_part_amt"]
    assert "未比对（输入均无此列）：个人负担总金额" in r.output  # the summary is in Chinese by default
    assert "P2" not in r.output  # person numbers only in the files
    for name in ("flags.csv", "high_burden.csv", "rejects.csv", "summary.txt", "differences.xlsx"):
        assert (out / name).exists()
    import fastexcel

    book = fastexcel.read_excel(out / "differences.xlsx")
    assert book.sheet_names == ["differences", "flags", "high_burden"]
    sheet = book.load_sheet("differences").to_polars()
    assert sheet.filter(pl.col("field") == "hifp_pay")["difference"].to_list() == [-240.0]  # a number, in yuan


def test_chinese_headers_by_default(tmp_path):
    r, out = run(tmp_path, RIGHT, WRONG)
    d = pl.read_csv(out / "differences.csv", infer_schema=False)
    assert {"结算ID", "医院上报（元）", "按规则计算（元）", "原因"} <= set(d.columns)


def test_clean_month_exit_0(tmp_path):
    r, out = run(tmp_path, RIGHT)
    assert r.exit_code == Exit.OK, r.output
    assert pl.read_csv(out / "differences.csv").height == 0


def test_tolerance(tmp_path):
    r, _ = run(tmp_path, RIGHT, WRONG, extra=("--tolerance", "300"))
    assert r.exit_code == Exit.OK, r.output
    r, _ = run(tmp_path, RIGHT, extra=("--tolerance", "0.001"))
    assert r.exit_code == Exit.USAGE and "--tolerance" in r.output


def test_no_reported_columns_is_an_error(tmp_path):
    header = ",".join(HEADER.split(",")[:8])
    r, out = run(tmp_path, ",".join(RIGHT.split(",")[:8]), header=header)
    assert r.exit_code == Exit.INVALID_INPUT
    assert "nothing to audit" in r.output and "统筹基金支出" in r.output


def test_no_rule_period_for_any_claim_is_status_10_as_for_settle(tmp_path):
    """A 2021 extract with a 2024 rule set: nothing can be audited — status 10 and one line naming
    the year and the shipped rule set that covers it, as settle says (settle run alike beside it)."""
    r, out = run(tmp_path, RIGHT, WRONG, rules="shanxi/wenshui-2024", extra=("--headers", "code"))
    assert r.exit_code == Exit.NO_RULE_PERIOD == 10, r.output
    lines = [line for line in r.stderr.splitlines() if "没有一笔能审核" in line]  # Chinese by default
    assert len(lines) == 1
    assert "2021 年" in lines[0] and "shanxi/wenshui-2024" in lines[0] and "--rules anhui/dongzhi-2021" in lines[0]
    rejects = pl.read_csv(out / "rejects.csv", infer_schema=False)
    assert sorted(rejects["setl_id"]) == ["S1", "S2"] and set(rejects["reason_code"]) == {"no_rule_in_force"}  # every row accounted for
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["claims_audited"] == 0
    settled, _ = run(tmp_path, RIGHT, WRONG, rules="shanxi/wenshui-2024", command="settle")
    assert settled.exit_code == r.exit_code

    r, _ = run(tmp_path, RIGHT, rules="shanxi/wenshui-2024", extra=("--lang", "en", "-q"))
    assert r.exit_code == Exit.NO_RULE_PERIOD
    assert "nothing audited: the claims end in 2021" in r.stderr and "--rules anhui/dongzhi-2021" in r.stderr


def test_some_claims_outside_the_rule_period_are_rejects_not_status_10(tmp_path):
    late = "S3,P3,21,05,2024-03-01,2024-03-05,10000,10000,500,7600,0,0,7600"  # after the 2021 rule set
    r, out = run(tmp_path, RIGHT, late, extra=("--headers", "code"))
    assert r.exit_code == Exit.REJECTS, r.output  # S1 audited and clean; S3 rejected
    assert "没有一笔能审核" not in r.output
    assert pl.read_csv(out / "rejects.csv", infer_schema=False)["reason_code"].to_list() == ["no_rule_in_force"]
    settled, _ = run(tmp_path, RIGHT, late, command="settle")
    assert settled.exit_code == r.exit_code
