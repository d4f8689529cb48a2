"""`medclaim settle --out` end to end on the bundled sample month and on small ugly cases."""

from pathlib import Path

import json

import polars as pl
import pytest
from typer.testing import CliRunner

import medclaim.settle
from medclaim.cli import app
from medclaim.status import Exit
from medclaim.output import read_people_csv

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
FILES = [
    SAMPLE / "dongzhi-2021-03-hospital-a.csv",
    SAMPLE / "dongzhi-2021-03-hospital-b.parquet",
    SAMPLE / "dongzhi-2021-03-hospital-c.xlsx",
]


#: Chinese headers of the files for people → field codes
CODES = {"来源文件": "source_file", "来源行号": "source_row", "结算ID": "setl_id", "原因代码": "reason_code", "说明": "message",
         "个人负担总金额（元）": "psn_part_amt"}


def settle(*args: str):
    return CliRunner().invoke(app, ["settle", *args])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    r = settle(*map(str, FILES), "--rules", "anhui/dongzhi-2021", "--out", str(out), "--format", "csv")
    assert r.exit_code == Exit.REJECTS, r.output  # the sample month holds deliberately bad rows
    return out


def test_every_row_is_settled_or_rejected(demo):
    ledger = pl.read_parquet(demo / "ledger.parquet")
    rejects = read_people_csv(demo / "rejects.csv")
    summary = json.loads((demo / "summary.json").read_text(encoding="utf-8"))
    rows_read = summary["rows_read"]
    assert summary["footer_rows"] == 1  # the 合计 line of file A: neither a claim nor a reject
    assert rows_read == ledger.height + rejects.height + summary["footer_rows"]
    assert ledger["setl_id"].is_unique().all()
    # an id both settled and rejected can only be an exact repeat of a settled row
    both = set(ledger["setl_id"]) & set(rejects["setl_id"].drop_nulls())
    repeats = rejects.filter(pl.col("setl_id").is_in(list(both)))
    assert (repeats["reason_code"] == "duplicate_setl_id").all() and repeats["message"].str.contains("exact repeat").all()
    # each deliberately bad row of the sample month ends with its reason (sample_data/README.md)
    assert {"missing_field", "bad_amount", "bad_date", "end_before_start", "inconsistent_amounts", "unknown_code",
            "bad_flag", "duplicate_setl_id", "negative_amount"} <= set(rejects["reason_code"])
    assert rejects["message"].str.len_chars().min() > 20


def test_ledger_conserves_money_to_the_fen(demo):
    t = pl.read_parquet(demo / "ledger.parquet").select(
        pl.col("medfee_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt").sum()
    ).row(0, named=True)
    assert t["fund_pay_sumamt"] == t["hifp_pay"] + t["hifmi_pay"] + t["maf_pay"]
    assert t["fund_pay_sumamt"] + t["psn_part_amt"] == t["medfee_sumamt"]


def test_csv_copy_shows_exact_yuan(demo):
    parquet = pl.read_parquet(demo / "ledger.parquet").sort("setl_id")
    csv = pl.read_csv(demo / "ledger.csv", infer_schema=False).rename(CODES, strict=False).sort("setl_id")
    assert csv.height == parquet.height
    for fen, text in zip(parquet["psn_part_amt"], csv["psn_part_amt"]):
        assert text == f"{fen // 100}.{fen % 100:02d}"


def test_chunk_size_never_changes_the_ledger(demo, tmp_path, monkeypatch):
    monkeypatch.setattr(medclaim.settle, "CHUNK_ROWS", 97)  # many chunks, cut at person-years
    r = settle(*map(str, FILES), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path), "--format", "csv")
    assert r.exit_code == Exit.REJECTS, r.output
    whole = pl.read_parquet(demo / "ledger.parquet").sort("setl_id")
    chunked = pl.read_parquet(tmp_path / "ledger.parquet").sort("setl_id")
    assert chunked.equals(whole)
    csv = (tmp_path / "ledger.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(csv) == whole.height + 1 and csv[0].startswith("结算ID,")  # one header line


def test_piped_output_is_plain_text(demo, tmp_path):
    r = settle(str(FILES[1]), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path))
    assert "\x1b[" not in r.stdout
    assert "读取 1,366 行 = 结算" in r.stdout


def test_quiet_prints_nothing_but_errors(tmp_path):
    r = settle(str(FILES[1]), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path), "--quiet")
    assert r.exit_code in (Exit.OK, Exit.REJECTS)
    assert r.stdout == ""


def test_invalid_rule_set_exits_3_naming_the_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("ruleset: {id: x}\n", encoding="utf-8")
    r = settle(str(FILES[1]), "--rules", str(bad), "--out", str(tmp_path / "o"))
    assert r.exit_code == Exit.INVALID_RULES
    assert "bad.yaml" in r.output and "Traceback" not in r.output


def test_missing_required_column_exits_4(tmp_path):
    src = tmp_path / "x.csv"
    src.write_text("结算ID,人员编号\nS1,P1\n", encoding="utf-8")
    r = settle(str(src), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path / "o"))
    assert r.exit_code == Exit.INVALID_INPUT
    assert "x.csv" in r.output and "总费用" in r.output and "Traceback" not in r.output


def test_a_broken_invariant_writes_nothing(tmp_path, monkeypatch):
    def broken(ledger):
        raise medclaim.settle.InvariantError(["psn_part_amt + fund_pay_sumamt = medfee_sumamt: broken for 1 claim(s)"])

    monkeypatch.setattr(medclaim.settle, "check_invariants", broken)
    r = settle(str(FILES[1]), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path))
    assert r.exit_code == Exit.INVARIANT
    assert "nothing was written" in r.output
    assert list(tmp_path.iterdir()) == []


def test_xlsx_copy_is_written_for_a_small_month(tmp_path):
    r = settle(str(FILES[2]), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path), "--format", "xlsx")
    assert r.exit_code in (Exit.OK, Exit.REJECTS), r.output
    book = pl.read_excel(tmp_path / "ledger.xlsx", sheet_name="结算台账")
    assert book.height == pl.read_parquet(tmp_path / "ledger.parquet").height
