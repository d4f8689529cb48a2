"""Basic insurance, general outpatient (普通门诊统筹): ratio by tier, covered tiers, per-visit
deductible and cap, annual limit (crossed mid-visit), rounding.

Rule set: tests/fixtures/engine_rules/outpatient.yaml
  ratio primary 60 % / secondary 50 % / tertiary 40 %; tertiary visits not covered;
  per-visit deductible 10, per-visit cap 50; annual limit 200.
"""

from __future__ import annotations

import pytest

from helpers import assert_conserved, by_id, claim, one, settle, variant

R = "outpatient"


def visit(**kw):
    kw.setdefault("med_type", "11")
    kw.setdefault("hosp_lv", "08")
    kw.setdefault("inscp_scp_amt", 80_00)
    return claim(**kw)


@pytest.fixture
def plain(tmp_path):
    """Ratio and annual limit only: no per-visit deductible or cap, every tier covered."""
    return variant(
        tmp_path,
        R,
        {"basic": {"general_outpatient": {"covered_tiers": None, "per_visit_deductible": None, "per_visit_cap": None}}},
    )


@pytest.mark.parametrize("hosp_lv, ratio_bp", [("08", 6000), ("05", 5000)], ids=["primary", "secondary"])
def test_ratio_by_tier_after_per_visit_deductible(hosp_lv, ratio_bp):
    row = one(visit(hosp_lv=hosp_lv), R)
    # (80 − 10) × ratio: primary 42.00, secondary 35.00
    assert row["hifp_pay"] == (80_00 - 10_00) * ratio_bp // 10_000
    assert row["act_pay_dedc"] == 10_00
    assert row["psn_part_amt"] == 80_00 - row["hifp_pay"]
    assert_conserved(row)


def test_per_visit_cap():
    # primary, scope 200: (200 − 10) × 60 % = 114 → per-visit cap 50
    row = one(visit(inscp_scp_amt=200_00), R)
    assert row["hifp_pay"] == 50_00


def test_visit_below_per_visit_deductible():
    row = one(visit(inscp_scp_amt=8_00), R)
    assert (row["act_pay_dedc"], row["hifp_pay"], row["psn_part_amt"]) == (8_00, 0, 8_00)


def test_rounding_half_up():
    # secondary 50 %: (80.01 − 10) = 7,001 fen × 0.5 = 3,500.5 → 3,501
    row = one(visit(hosp_lv="05", inscp_scp_amt=80_01), R)
    assert row["hifp_pay"] == 3_501


def test_tier_not_covered():
    row = one(visit(hosp_lv="02"), R)
    assert row["covered"] is False and row["not_covered"] is True
    assert row["not_covered_reason"] == "general_outpatient_tier_not_covered"
    assert (row["hifp_pay"], row["fund_pay_sumamt"], row["act_pay_dedc"]) == (0, 0, 0)
    assert row["psn_part_amt"] == row["medfee_sumamt"]


def test_annual_limit_crossed_mid_visit():
    # primary visits; payments before the annual limit: 50 (cap), 50, 50, 42 → cumulative 192;
    # the 5th visit's 50 is cut to 200 − 192 = 8; the 6th pays nothing.
    scopes = [200_00, 200_00, 200_00, 80_00, 200_00, 200_00]
    rows = [visit(setl_id=f"V{i}", inscp_scp_amt=s, begndate=f"2021-0{i}-01", enddate=f"2021-0{i}-01")
            for i, s in enumerate(scopes, start=1)]
    led = by_id(settle(rows, R))
    assert [led[f"V{i}"]["hifp_pay"] for i in range(1, 7)] == [50_00, 50_00, 50_00, 42_00, 8_00, 0]
    assert led["V5"]["basic_cap_reached"] is True
    assert led["V5"]["ytd_cap_general_outpatient"] == 192_00 + 8_00  # per claim: paid under the limit so far
    assert sum(r["hifp_pay"] for r in led.values()) == 200_00


def test_annual_limit_is_per_person_and_ignores_uncovered_visits():
    rows = [
        visit(setl_id="A1", psn_no="P1", inscp_scp_amt=1_000_00, begndate="2021-01-05", enddate="2021-01-05"),
        visit(setl_id="A2", psn_no="P1", hosp_lv="02", inscp_scp_amt=1_000_00, begndate="2021-01-06", enddate="2021-01-06"),
        visit(setl_id="B1", psn_no="P2", inscp_scp_amt=1_000_00, begndate="2021-01-07", enddate="2021-01-07"),
    ]
    led = by_id(settle(rows, R))
    assert led["A1"]["hifp_pay"] == 50_00
    assert led["A2"]["hifp_pay"] == 0  # tertiary: not covered
    assert led["B1"]["hifp_pay"] == 50_00  # another person's limit
    assert led["A2"]["ytd_cap_general_outpatient"] == 50_00  # the uncovered visit adds nothing


def test_without_per_visit_deductible_and_cap(plain):
    # primary scope 80: 80 × 60 % = 48, no deductible
    assert one(visit(), plain)["hifp_pay"] == 48_00
    assert one(visit(), plain)["act_pay_dedc"] == 0
    # tertiary covered now: 80 × 40 % = 32
    assert one(visit(hosp_lv="02"), plain)["hifp_pay"] == 32_00
    # scope 300 × 60 % = 180: no per-visit cap, under the annual limit 200
    assert one(visit(inscp_scp_amt=300_00), plain)["hifp_pay"] == 180_00
    # scope 1,000 × 60 % = 600 → annual limit 200
    assert one(visit(inscp_scp_amt=1_000_00), plain)["hifp_pay"] == 200_00


def test_outpatient_on_dongzhi():
    # 东至 2021: general outpatient covered at primary facilities only, 55 %, annual limit 200
    primary = one(visit(hosp_lv="08", inscp_scp_amt=100_00), "anhui/dongzhi-2021")
    assert primary["hifp_pay"] == 100_00 * 5500 // 10_000
    secondary = one(visit(hosp_lv="05", inscp_scp_amt=100_00), "anhui/dongzhi-2021")
    assert secondary["hifp_pay"] == 0 and secondary["not_covered_reason"] == "general_outpatient_tier_not_covered"
    big = one(visit(hosp_lv="08", inscp_scp_amt=1_000_00), "anhui/dongzhi-2021")
    assert big["hifp_pay"] == 200_00  # 550 → annual limit 200


def test_empty_covered_tiers_covers_no_tier(tmp_path):
    # rules.py: covered_tiers "tiers where visits are covered; None = all" — so [] means none
    rb = variant(tmp_path, R, {"basic": {"general_outpatient": {"covered_tiers": []}}})
    row = one(visit(hosp_lv="08"), rb)
    assert row["covered"] is False
    assert row["not_covered_reason"] == "general_outpatient_tier_not_covered"
    assert row["hifp_pay"] == 0
