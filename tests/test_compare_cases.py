"""medclaim compare on claims worked by hand, --set validation and rule sets that do not cover the dates."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.compare import CompareError, compare_claims, rule_books
from medclaim.rules import RuleSetError
from medclaim.status import Exit

from helpers import claim, claims_frame

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


def hand_claims():
    # 东至 2021, local admissions of ordinary residents (no 大病: every base stays under 15,000.00)
    return claims_frame([
        claim(setl_id="S1", psn_no="P1", hosp_lv="08", inscp_scp_amt=1_000_000),  # primary, deductible 200
        claim(setl_id="S2", psn_no="P2", hosp_lv="05", inscp_scp_amt=1_000_000),  # secondary, deductible 500
        claim(setl_id="S3", psn_no="P3", hosp_lv="05", inscp_scp_amt=4_000_000),
    ])


def test_winners_and_losers_by_hand():
    a, b = rule_books(["anhui/dongzhi-2021"], ["basic.inpatient.ratio.by_tier.primary=90%", "basic.inpatient.ratio.by_tier.secondary=75%"])
    c, rejects = compare_claims(hand_claims(), a, b)
    assert rejects.height == 0 and c.claims == 3 and c.people == 3
    # basic under A: (10,000 − 200) × 85 % = 8,330; (10,000 − 500) × 80 % = 7,600; (40,000 − 500) × 80 % = 31,600
    # under B:       (10,000 − 200) × 90 % = 8,820; (10,000 − 500) × 75 % = 7,125; (40,000 − 500) × 75 % = 29,625
    assert c.totals["hifp_pay"] == {"a": 4_753_000, "b": 4_557_000, "diff": -196_000}
    assert c.totals["psn_part_amt"]["diff"] == 196_000 and c.totals["hifmi_pay"]["diff"] == 0
    assert (c.pay_more, c.pay_less, c.unchanged) == (2, 1, 0)
    assert c.top.select("psn_no", "change").rows() == [("P3", 197_500), ("P1", -49_000), ("P2", 47_500)]
    bands = {r["band"]: r for r in c.bands.to_dicts()}
    assert (bands["100–1,000"]["less_people"], bands["100–1,000"]["less_fen"]) == (1, 49_000)
    assert (bands["100–1,000"]["more_people"], bands["1,000–5,000"]["more_people"], bands["1,000–5,000"]["more_fen"]) == (1, 1, 197_500)
    tier = {r["tier"]: r for r in c.by["tier"].to_dicts()}
    assert (tier["primary"]["hifp_pay_diff"], tier["secondary"]["hifp_pay_diff"]) == (49_000, -245_000)
    assert sorted(c.changed["setl_id"].to_list()) == ["S1", "S2", "S3"]


def test_unchanged_rules_change_nothing():
    a, b = rule_books(["anhui/dongzhi-2021"], ["basic.inpatient.ratio.by_tier.primary=85%"])  # the value it already has
    c, _ = compare_claims(hand_claims(), a, b)
    assert c.changed.height == 0 and (c.pay_more, c.pay_less, c.unchanged) == (0, 0, 3)
    assert all(v["diff"] == 0 for v in c.totals.values())


def test_periods_not_covering_the_dates_name_them():
    a, b = rule_books(["anhui/dongzhi-2021", "shanxi/wenshui-2024"], None)
    with pytest.raises(CompareError) as e:
        compare_claims(hand_claims(), a, b)
    assert e.value.status == Exit.NO_RULE_PERIOD
    assert "rule set B (shanxi/wenshui-2024) covers 2024-01-01..2024-12-31" in str(e.value) and "2021-03-10" in str(e.value)


def run(*args):
    return CliRunner().invoke(app, list(args))


def test_cli_errors(tmp_path):
    f = str(SAMPLE / "dongzhi-2021-03-hospital-a.csv")
    r = run("compare", f, "--rules", "anhui/dongzhi-2021", "--set", "basic.inpatient.ratio.by_teir.primary=90%", "--out", str(tmp_path))
    assert r.exit_code == Exit.INVALID_RULES and "did you mean 'by_tier'" in r.output
    r = run("compare", f, "--rules", "anhui/dongzhi-2021", "--set", "basic.inpatient.ratio.by_tier.primary=190%", "--out", str(tmp_path))
    assert r.exit_code == Exit.INVALID_RULES and "outside 0–100 %" in r.output
    r = run("compare", f, "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path))
    assert r.exit_code == Exit.USAGE and "nothing to compare" in r.output
    r = run("compare", f, "--rules", "anhui/dongzhi-2021", "--rules", "shanxi/wenshui-2024", "--out", str(tmp_path))
    assert r.exit_code == Exit.NO_RULE_PERIOD and "2021-03" in r.output
    assert not (tmp_path / "compare.json").exists()


def test_set_paths_are_checked():
    with pytest.raises(RuleSetError, match=r"annual_caps has 4 item\(s\), no \[7\]"):
        rule_books(["anhui/dongzhi-2021"], ["basic.annual_caps[7].value=1"])
    with pytest.raises(RuleSetError, match="expected KEY.PATH=VALUE"):
        rule_books(["anhui/dongzhi-2021"], ["basic.inpatient"])
    with pytest.raises(RuleSetError, match="unknown key `by_tierr`|no key `by_tierr`"):
        rule_books(["anhui/dongzhi-2021"], ["basic.inpatient.ratio.by_tierr=1"])
    # a new entry of a table is allowed where the schema allows it, and validated
    a, b = rule_books(["anhui/dongzhi-2021"], ["basic.inpatient.ratio.by_place.in_city={primary: 80%}"])
    assert b.periods[0].basic.inpatient.ratio.by_place["in_city"] == {"primary": 8000}
