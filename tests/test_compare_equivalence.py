"""medclaim compare = settling the claims once with A and once with B (the same engine, nothing else)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.rules import RULES_DIR
from medclaim.status import Exit

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
FILES = [str(SAMPLE / f) for f in ("dongzhi-2021-03-hospital-a.csv", "dongzhi-2021-03-hospital-b.parquet", "dongzhi-2021-03-hospital-c.xlsx")]
PAYS = ["hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def variant_file(tmp: Path) -> Path:
    """东至 2021 with the primary-tier inpatient ratio at 90 % and the 大病 threshold at 12,000, edited as text."""
    text = (RULES_DIR / "anhui" / "dongzhi-2021.yaml").read_text(encoding="utf-8")
    ip = text.index("by_tier: {primary: 85%, secondary: 80%, tertiary: 70%}", text.index("    ratio:", text.index("  inpatient:")))
    text = text[:ip] + "by_tier: {primary: 90%, secondary: 80%, tertiary: 70%}" + text[ip + len("by_tier: {primary: 85%, secondary: 80%, tertiary: 70%}"):]
    bands = text.index("bands:", text.index("\ncritical:"))
    first = text.index("from: 15000", bands)
    text = text[:first] + "from: 12000" + text[first + len("from: 15000"):]
    p = tmp / "dongzhi-variant.yaml"
    p.write_text(text, encoding="utf-8")
    return p


SETS = ["basic.inpatient.ratio.by_tier.primary=90%", "critical.segments.bands[0].from=12000"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    b_file = variant_file(tmp)
    out = {}
    for name, rules in (("a", "anhui/dongzhi-2021"), ("b", str(b_file))):
        r = run("settle", *FILES, "--rules", rules, "--out", str(tmp / f"settle-{name}"), "-q")
        assert r.exit_code == Exit.REJECTS, r.output
        out[name] = pl.read_parquet(tmp / f"settle-{name}" / "ledger.parquet")
    r = run("compare", *FILES, "--rules", "anhui/dongzhi-2021", "--rules", str(b_file), "--out", str(tmp / "two-files"))
    assert r.exit_code == Exit.REJECTS, r.output
    sets = []
    for s in SETS:
        sets += ["--set", s]
    r = run("compare", *FILES, "--rules", "anhui/dongzhi-2021", *sets, "--out", str(tmp / "with-set"))
    assert r.exit_code == Exit.REJECTS, r.output
    out["output"] = r.output
    return tmp, out


def test_totals_equal_the_two_settlements(runs):
    tmp, led = runs
    for d in ("two-files", "with-set"):
        data = json.loads((tmp / d / "compare.json").read_text(encoding="utf-8"))
        assert data["claims_compared"] == led["a"].height == led["b"].height
        for c in PAYS:
            t = data["totals_fen"][c]
            assert (t["a"], t["b"], t["diff"]) == (led["a"][c].sum(), led["b"][c].sum(), led["b"][c].sum() - led["a"][c].sum())
        assert data["totals_fen"]["hifp_pay"]["diff"] > 0  # a higher ratio costs the basic fund more


def assert_changed_as_settled(changed: pl.DataFrame, led: dict[str, pl.DataFrame], differs: pl.DataFrame) -> None:
    """changed.parquet holds exactly the claims paid differently, each side as settling with that rule set paid it."""
    assert sorted(changed["setl_id"].to_list()) == sorted(differs["setl_id"].to_list()) and changed.height > 0
    for side in ("a", "b"):
        mine = led[side].filter(pl.col("setl_id").is_in(changed["setl_id"].implode()))
        got = changed.select("setl_id", *[pl.col(f"{c}_{side}").alias(c) for c in PAYS], pl.col(f"identity_{side}").alias("identity"))
        assert got.sort("setl_id").equals(mine.select("setl_id", *PAYS, "identity").sort("setl_id"))


def test_every_claim_equals_the_two_settlements(runs):
    tmp, led = runs
    both = led["a"].select("setl_id", *PAYS).join(led["b"].select("setl_id", *PAYS), on="setl_id", suffix="_b")
    differs = both.filter(pl.any_horizontal([pl.col(c) != pl.col(f"{c}_b") for c in PAYS]))
    for d in ("two-files", "with-set"):
        changed = pl.read_parquet(tmp / d / "changed.parquet")
        assert_changed_as_settled(changed, led, differs)
        assert (changed["psn_part_amt_diff"] == changed["psn_part_amt_b"] - changed["psn_part_amt_a"]).all()


def test_people_counts_equal_the_two_settlements(runs):
    tmp, led = runs
    per = (led["a"].group_by("psn_no").agg(pl.col("psn_part_amt").sum())
           .join(led["b"].group_by("psn_no").agg(pl.col("psn_part_amt").sum()), on="psn_no", suffix="_b")
           .with_columns(change=pl.col("psn_part_amt_b") - pl.col("psn_part_amt")))
    data = json.loads((tmp / "with-set" / "compare.json").read_text(encoding="utf-8"))
    p = data["people"]
    assert (p["pay_more"], p["pay_less"], p["unchanged"]) == ((per["change"] > 0).sum(), (per["change"] < 0).sum(), (per["change"] == 0).sum())
    assert sum(b["less_people"] + b["more_people"] for b in p["bands_yuan"]) == p["pay_more"] + p["pay_less"]
    largest = per.with_columns(size=pl.col("change").abs()).sort(["size", "psn_no"], descending=[True, False]).head(20)
    assert [r["psn_no"] for r in data["largest_changes"]] == largest["psn_no"].to_list()


def test_terminal_masks_ids_and_files_keep_them(runs):
    tmp, led = runs
    top = json.loads((tmp / "with-set" / "compare.json").read_text(encoding="utf-8"))["largest_changes"][0]["psn_no"]
    assert top not in led["output"] and (top[:4] + "*" * (len(top) - 8) + top[-4:]) in led["output"]
    assert "2021.1+set" in led["output"]
    for heading in ("按医疗类别", "按医疗机构级别", "按人员身份", "按就医地", "个人负担变化分布"):
        assert heading in led["output"]


def test_workbook_reads_back(runs):
    import openpyxl

    tmp, led = runs
    wb = openpyxl.load_workbook(tmp / "with-set" / "compare.xlsx")
    assert wb.sheetnames[:2] == ["各基金合计", "按医疗类别"] and "个人负担变化分布" in wb.sheetnames
    totals = {r[0]: r for r in wb["各基金合计"].iter_rows(values_only=True)}
    assert totals["统筹基金支出"][1] == pytest.approx(led["a"]["hifp_pay"].sum() / 100)
    assert totals["统筹基金支出"][3] == pytest.approx((led["b"]["hifp_pay"].sum() - led["a"]["hifp_pay"].sum()) / 100)
