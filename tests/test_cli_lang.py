"""What `settle` and `audit` print for a person follows --lang (Chinese by default): the summary,
and the warnings around it (unverified rule-set parameters, rejected rows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.rules import load_rulebook
from medclaim.status import Exit

RULES = "anhui/dongzhi-2021"
D = "sample_data/dongzhi-2021-03-hospital-d.csv"


def unverified() -> int:
    return len(load_rulebook(RULES).periods[0].unverified())


@pytest.fixture(scope="module")
def with_bad_row(tmp_path_factory) -> Path:
    """hospital-d with one row more whose end date precedes its start (rejected: end_before_start)."""
    lines = Path(D).read_text(encoding="utf-8-sig").splitlines()
    bad = lines[1].split(",")
    bad[0], bad[10], bad[11] = "3417212103999999", "2021-03-20", "2021-03-10"
    p = tmp_path_factory.mktemp("in") / "d-bad.csv"
    p.write_text("\n".join([*lines, ",".join(bad)]) + "\n", encoding="utf-8")
    return p


def settle(path: Path, out: Path, *lang: str):
    return CliRunner().invoke(app, ["settle", str(path), "--rules", RULES, "--out", str(out), *lang])


def test_settle_warnings_in_chinese_by_default(with_bad_row, tmp_path):
    r = settle(with_bad_row, tmp_path / "o")
    assert r.exit_code == Exit.REJECTS, r.output
    assert json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))["rows_rejected"] == 1
    assert f"注意：政策规则 {RULES} 有 {unverified()} 个未核实的参数（占位值），不能用于实际支付" in r.output
    assert f"注意：拒收 1 行——见 {tmp_path / 'o' / 'rejects.csv'}" in r.output
    assert "warning:" not in r.output and "unverified (placeholder)" not in r.output and "row(s) rejected" not in r.output


def test_settle_warnings_in_english_with_lang_en(with_bad_row, tmp_path):
    r = settle(with_bad_row, tmp_path / "o", "--lang", "en")
    assert r.exit_code == Exit.REJECTS, r.output
    assert f"warning: rule set {RULES} has {unverified()} unverified (placeholder) parameters" in r.output
    assert f"warning: 1 row(s) rejected — see {tmp_path / 'o' / 'rejects.csv'}" in r.output
    assert "注意" not in r.output


def audit(out: Path, *args: str):
    return CliRunner().invoke(app, ["audit", D, "--rules", RULES, "--out", str(out), *args])


# hospital-d's planted mistakes (sample_data/README.md): 6 of its 12 claims differ, 4 claims flagged
def test_audit_summary_in_chinese_by_default(tmp_path):
    r = audit(tmp_path)
    assert r.exit_code == Exit.AUDIT_FINDINGS, r.output
    for line in (
        f"注意：政策规则 {RULES} 有 {unverified()} 个未核实的参数",
        f"medclaim 审核 · 政策规则 {RULES}",
        "读取 12 行 = 审核 12 笔 + 拒收 0 行",
        "比对字段：实际支付起付线、统筹基金支出、大病保险支出、医疗救助支出、基金支付总额、个人负担总金额（容差 0.00 元）",
        "与规则计算不一致的结算：6 笔（共比对 12 笔",
        "起付线（deductible）",
        "审核规则提示：4 条",
        "高额费用负担患者预警名单：0 人",
        "差额最大的几处（共",
        f"已写入 {tmp_path}：differences.csv",
    ):
        assert line in r.output, line
    for english in ("warning:", "rows read", "claims differing", "review flags", "written to", "hospital paid more"):
        assert english not in r.output, english
    # the file a person reads later says the same
    text = (tmp_path / "summary.txt").read_text(encoding="utf-8")
    assert "与规则计算不一致的结算：6 笔" in text and "claims differing" not in text


def test_audit_summary_in_english_with_lang_en(tmp_path):
    r = audit(tmp_path, "--lang", "en")
    assert r.exit_code == Exit.AUDIT_FINDINGS, r.output
    for line in (f"warning: rule set {RULES} has {unverified()} unverified", "rows read 12 = claims audited 12 + rejected 0",
                 "claims differing: 6 of 12 compared", "review flags: 4", f"written to {tmp_path}: differences.csv"):
        assert line in r.output, line
    assert "注意" not in r.output and "与规则" not in r.output
    assert "claims differing: 6 of 12" in (tmp_path / "summary.txt").read_text(encoding="utf-8")


def test_audit_refuses_an_unknown_language(tmp_path):
    r = audit(tmp_path, "--lang", "fr")
    assert r.exit_code == Exit.USAGE
    assert "--lang fr: choose zh or en" in r.output
