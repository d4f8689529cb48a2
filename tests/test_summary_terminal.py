"""The terminal side of settle: the summary in Chinese (or English), status 10 when no rule period
covers the claims, personal data masked on screens, the progress display only on a terminal."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.privacy import mask_id, mask_id_expr, mask_name, mask_name_expr, mask_raw_cells
from medclaim.progress import NONE, for_terminal
from medclaim.status import DESCRIPTIONS, Exit
from medclaim.summary import build_summary, render_plain, render_rich

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
ROOT = Path(__file__).resolve().parent.parent


def settle(*args: str):
    return CliRunner().invoke(app, ["settle", *args])


def ledger_rows() -> pl.DataFrame:
    """Two claims worked by hand: an admission and an outpatient visit of one person."""
    return pl.DataFrame(
        {
            "setl_id": ["A", "B"], "psn_no": ["P1", "P1"], "year": [2021, 2021],
            "benefit_class": ["inpatient", "general_outpatient"], "tier": ["tertiary", "primary"],
            "not_covered": [False, False],
            "medfee_sumamt": [1_000_000, 10_000], "inscp_scp_amt": [900_000, 10_000],
            "hifp_pay": [500_000, 5_000], "hifmi_pay": [100_000, 0], "maf_pay": [0, 0],
            "fund_pay_sumamt": [600_000, 5_000], "psn_part_amt": [400_000, 5_000],
            "basic_cap_reached": [False, False], "critical_threshold_reached": [True, False], "critical_cap_reached": [False, False],
        }
    )


def a_summary() -> dict:
    rejects = pl.DataFrame({"reason_code": ["bad_date"]})
    return build_summary(ledger_rows(), rejects, 3, ["anhui/dongzhi-2021"], 0)


def test_summary_speaks_chinese_by_default():
    text = render_plain(a_summary())
    assert "读取 3 行 = 结算 2 笔 + 拒收 1 行" in text
    assert "参保人 1 人" in text
    # totals: 10,000.00 + 100.00 cost; funds 6,000.00 + 50.00 = 6,050.00 → 6050/10100 = 59.9 %
    assert "医疗费总额 10,100.00" in text and "基金合计 6,050.00" in text
    assert "基金/医疗费总额 59.9 %" in text
    assert "住院\t三级医院\t1\t10,000.00" in text and "普通门诊\t一级及以下医疗机构\t1\t100.00" in text
    assert "大病起付线 1" in text and "拒收原因：bad_date 1" in text


def test_summary_in_english_on_request():
    text = render_plain(a_summary(), "en")
    assert "rows read 3 = settled 2 + rejected 1" in text and "funds / total cost 59.9 %" in text
    assert "inpatient\ttertiary hospital" in text


def test_rich_summary_renders_in_chinese():
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(render_rich(a_summary(), width=160))
    out = console.export_text()
    assert "结算金额（元）" in out and "住院 · 三级医院" in out and "合计" in out and "10,100.00" in out


def test_settle_prints_chinese_summary_when_piped(tmp_path):
    r = settle(str(SAMPLE / "dongzhi-2021-03-hospital-b.parquet"), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path))
    assert "政策规则：anhui/dongzhi-2021" in r.stdout and "读取 1,366 行" in r.stdout
    assert "\x1b[" not in r.stdout and "\x1b[" not in r.stderr  # no colours, no progress display when piped
    r = settle(str(SAMPLE / "dongzhi-2021-03-hospital-b.parquet"), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path / "en"), "--lang", "en")
    assert "rows read 1,366" in r.stdout


def test_unknown_summary_language_is_a_usage_error(tmp_path):
    r = settle(str(SAMPLE / "dongzhi-2021-03-hospital-b.parquet"), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path), "--lang", "../../x")
    assert r.exit_code == Exit.USAGE and "zh or en" in r.output


def test_no_rule_period_for_any_claim_is_status_10_in_one_line(tmp_path):
    r = settle(str(SAMPLE / "dongzhi-2021-03-hospital-b.parquet"), "--rules", "shanxi/wenshui-2024", "--out", str(tmp_path), "-q")
    assert r.exit_code == Exit.NO_RULE_PERIOD == 10
    lines = [line for line in r.stderr.splitlines() if "没有一行能结算" in line]
    assert len(lines) == 1
    assert "2021 年" in lines[0] and "shanxi/wenshui-2024" in lines[0] and "--rules anhui/dongzhi-2021" in lines[0]
    assert (tmp_path / "rejects.csv").exists()  # every row still accounted for


def test_no_rule_period_in_a_ledger_run_is_status_10_too(tmp_path):
    r = settle(str(SAMPLE / "dongzhi-2021-03-hospital-b.parquet"), "--rules", "shanxi/wenshui-2024", "--ledger", str(tmp_path / "L"),
               "--lang", "en", "-q")
    assert r.exit_code == Exit.NO_RULE_PERIOD
    assert "nothing settled: the claims end in 2021" in r.stderr and "--rules anhui/dongzhi-2021" in r.stderr


def test_status_10_is_documented_everywhere():
    assert Exit.NO_RULE_PERIOD in DESCRIPTIONS
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| 10 |" in readme
    help_text = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "10 nothing settled" in help_text


def test_masks():
    assert mask_name("黄明") == "黄*" and mask_name("欧阳小明") == "欧***"
    assert mask_id("341721198003150093") == "3417**********0093"
    raw = pl.Series("raw", ["结算ID=S1; 姓名=黄明; 身份证号=34172119800315009X; 总费用=12a", "S2,34172119800315009X,x", None])
    assert mask_raw_cells(raw, {"姓名"}, {"身份证号"}).to_list() == [
        "结算ID=S1; 姓名=黄*; 身份证号=3417**********009X; 总费用=12a",
        "S2,3417**********009X,x",
        None,
    ]
    # headers match as the readers match them (full-width, spacing, case)
    from medclaim.io.headers import normalise_header

    odd = pl.Series("raw", ["姓 名=黄明; ＩＤ=x1"])
    assert mask_raw_cells(odd, {"姓名"}, {"id"}, normalise_header).to_list() == ["姓 名=黄*; ＩＤ=**"]
    # a settlement id of 16 digits and a person number without a birth date are not ID cards
    keep = pl.Series("raw", ["3417212103002925,341721000000000093"])
    assert mask_raw_cells(keep, set(), set()).to_list() == keep.to_list()


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=24))
def test_column_masks_agree_with_the_scalar_masks(s):
    frame = pl.DataFrame({"v": [s]})
    assert frame.select(mask_id_expr(pl.col("v"))).item() == mask_id(s)
    assert frame.select(mask_name_expr(pl.col("v"))).item() == mask_name(s)


def test_progress_only_on_a_terminal():
    assert for_terminal(quiet=True) is NONE
    assert for_terminal(quiet=False) is NONE  # pytest's stderr is not a terminal


def test_shell_completion_completes_commands_and_options():
    import os
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("medclaim")
    env = {**os.environ, "_MEDCLAIM_COMPLETE": "complete_bash", "COMP_WORDS": "medclaim settle --headers", "COMP_CWORD": "2"}
    out = subprocess.run([str(exe)], env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["--headers"]
    assert "--install-completion" in CliRunner().invoke(app, ["--help"]).output


def test_every_exit_status_is_documented_in_the_readme_and_in_help():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    help_text = " ".join(CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output.split())
    for status in Exit:
        assert status in DESCRIPTIONS, status
        assert f"\n| {int(status)} |" in readme, status
        assert f"{int(status)} {DESCRIPTIONS[status].split()[0]}" in help_text, status
    assert "130 interrupted (Ctrl-C)" in help_text
