"""`medclaim report` end to end: a persistent ledger of two monthly runs and an --out directory."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.status import Exit

from report_ledger import BUDGET, write_out_dir

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_report_of_a_persistent_ledger_equals_its_entries(tmp_path):
    """Two monthly runs into a ledger; the report's totals are the sums of every committed entry."""
    ledger = tmp_path / "ledger"
    a = run("settle", str(SAMPLE / "dongzhi-2021-03-hospital-a.csv"), "--rules", "anhui/dongzhi-2021", "--ledger", str(ledger), "-q")
    b = run("settle", str(SAMPLE / "dongzhi-2021-03-hospital-b.parquet"), "--rules", "anhui/dongzhi-2021", "--ledger", str(ledger), "-q")
    assert a.exit_code in (0, 1) and b.exit_code in (0, 1), a.output + b.output
    r = run("report", "--ledger", str(ledger), "--out", str(tmp_path / "rep"), "--lang", "en")
    assert r.exit_code == Exit.OK, r.output
    data = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    parts = pl.concat([pl.read_parquet(p) for p in sorted((ledger / "parts").glob("*.parquet"))], how="diagonal_relaxed")
    for col in ("hifp_pay", "hifmi_pay", "maf_pay", "psn_part_amt", "medfee_sumamt"):
        assert data["totals_fen"][col] == parts[col].sum()
    assert data["totals_fen"]["people"] == parts["psn_no"].n_unique()
    assert {"report.xlsx", "report.html", "report.json"} <= {p.name for p in (tmp_path / "rep").iterdir()}
    assert 'lang="en"' in (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")


def test_risk_warning_is_printed(tmp_path):
    ledger = write_out_dir(tmp_path)
    budget = tmp_path / "budget.yaml"
    budget.write_text(BUDGET, encoding="utf-8")
    r = run("report", "--ledger", str(ledger), "--out", str(tmp_path / "rep"), "--budget", str(budget))
    assert r.exit_code == Exit.OK, r.output
    assert "基金风险预警" in r.output and "102,180.00" in r.output


def test_errors_exit_with_a_status_and_a_fix(tmp_path):
    r = run("report", "--ledger", str(tmp_path / "nothing"), "--out", str(tmp_path / "rep"))
    assert r.exit_code == Exit.INVALID_INPUT and "no ledger here" in r.output
    ledger = write_out_dir(tmp_path)
    r = run("report", "--ledger", str(ledger), "--out", str(tmp_path / "rep"), "--year", "2019")
    assert r.exit_code == Exit.INVALID_INPUT and "--year" in r.output
    r = run("report", "--ledger", str(ledger), "--out", str(tmp_path / "rep"), "--lang", "fr")
    assert r.exit_code == Exit.USAGE and "available" in r.output
    r = run("report", "--ledger", str(ledger), "--out", str(tmp_path / "rep"), "--rules", "no/such-rules")
    assert r.exit_code == Exit.INVALID_RULES
