"""大病保险 (critical illness): banded payment on the *absolute cumulative* compliant personal
burden after basic insurance, threshold, annual cap, identity tilt (threshold × factor, ratio +
points, no cap), the class-B first self-pay switch, and the 山东 2014 published example.

Rule set: tests/fixtures/engine_rules/critical.yaml — basic payments taken as reported
(``reported_hifp_pay``), so a claim's 大病 base is exactly policy − reported basic.
  bands on the cumulative base: 10,000–50,000 50 %; above 50,000 60 %; annual cap 30,000
  tekun: threshold × 0.5, +10 points, no cap;  dibao: threshold × 0.5, +5 points, cap kept
  classes: inpatient + chronic outpatient.
"""

from __future__ import annotations

import pytest

from helpers import assert_conserved, by_id, claim, one, rhu, settle, variant

R = "critical"


def ci(sid, month, base, *, med_type="21", identity="", reported=0, **kw):
    """A claim whose 大病 base is ``base``: policy scope = base + reported basic payment."""
    return claim(setl_id=sid, med_type=med_type, psn_idet_type=identity, inscp_scp_amt=base + reported,
                 reported_hifp_pay=reported, begndate=f"2021-{month:02d}-01", enddate=f"2021-{month:02d}-05", **kw)


def F(base: int, threshold=10_000_00, r1=5000, r2=6000, cap: int | None = 30_000_00) -> int:
    """The test rule set's annual 大病 formula on a cumulative base, in plain integers."""
    bp = max(min(base, 50_000_00) - threshold, 0) * r1 + max(base - 50_000_00, 0) * r2
    paid = rhu(bp)
    return paid if cap is None else min(paid, cap)


# ------------------------------------------------------------------ bands, threshold, cap


@pytest.mark.parametrize(
    "base, expected",
    [
        (0, 0),
        (9_999_99, 0),
        (10_000_00, 0),  # the threshold itself pays nothing
        (10_000_01, 1),  # 1 fen over × 50 % = 0.5 → 1 (half up)
        (30_000_00, (30_000_00 - 10_000_00) // 2),  # 10,000
        (50_000_00, 20_000_00),  # the whole first band: 40,000 × 50 %
        (60_000_00, 20_000_00 + 10_000_00 * 6 // 10),  # 20,000 + 6,000 = 26,000
        (80_000_00, 30_000_00),  # 20,000 + 18,000 = 38,000 → cap 30,000
    ],
)
def test_bands_threshold_and_cap_on_one_claim(base, expected):
    row = one(ci("K1", 3, base, reported=5_000_00), R)
    assert row["ci_base"] == base
    assert row["hifmi_pay"] == expected
    assert row["hifp_pay"] == 5_000_00  # basic as reported
    assert_conserved(row)


def test_segments_are_on_the_absolute_cumulative_base():
    rows = [ci("K1", 1, 8_000_00), ci("K2", 2, 8_000_00), ci("K3", 3, 50_000_00), ci("K4", 4, 10_000_00)]
    led = by_id(settle(rows, R))
    # cumulative 8,000 → 0; 16,000 → (16,000 − 10,000) × 50 % = 3,000
    assert led["K1"]["hifmi_pay"] == 0
    assert led["K2"]["hifmi_pay"] == 3_000_00
    # cumulative 66,000 → 20,000 + 16,000 × 60 % = 29,600 → this claim 29,600 − 3,000
    assert led["K3"]["hifmi_pay"] == 29_600_00 - 3_000_00
    # cumulative 76,000 → 20,000 + 15,600 = 35,600 → cap 30,000: crossed mid-claim, 400 left
    assert led["K4"]["hifmi_pay"] == 30_000_00 - 29_600_00
    assert led["K4"]["critical_cap_reached"] is True
    assert led["K4"]["ytd_critical_base"] == 76_000_00
    assert sum(r["hifmi_pay"] for r in led.values()) == F(76_000_00)
    assert led["K1"]["critical_threshold_reached"] is False and led["K2"]["critical_threshold_reached"] is True


def test_base_counts_only_the_named_classes_and_covered_claims():
    rows = [
        ci("G1", 1, 40_000_00, med_type="11"),  # general outpatient: not a 大病 class here
        ci("X1", 2, 40_000_00, med_type="41"),  # excluded class
        ci("B1", 3, 40_000_00, benefit_start="2021-04-01"),  # before benefits start
        ci("C1", 4, 15_000_00, med_type="14"),  # chronic outpatient counts
        ci("I1", 5, 15_000_00),  # inpatient counts
    ]
    led = by_id(settle(rows, R))
    assert [led[s]["hifmi_pay"] for s in ("G1", "X1", "B1")] == [0, 0, 0]
    assert led["C1"]["hifmi_pay"] == (15_000_00 - 10_000_00) // 2  # 2,500
    assert led["I1"]["hifmi_pay"] == F(30_000_00) - F(15_000_00)  # 10,000 − 2,500
    assert led["I1"]["ytd_critical_base"] == 30_000_00


def test_base_is_after_basic_and_excludes_self_paid_parts():
    # scope 50,000, basic 20,000, full self-pay 5,000 and class-B 3,000 (not counted by this rule set):
    # base = 50,000 − 20,000 = 30,000 → 10,000
    row = one(ci("K1", 3, 30_000_00, reported=20_000_00, fulamt_ownpay_amt=5_000_00, preselfpay_amt=3_000_00), R)
    assert row["ci_base"] == 30_000_00
    assert row["hifmi_pay"] == 10_000_00
    assert row["psn_part_amt"] == 58_000_00 - 20_000_00 - 10_000_00
    assert_conserved(row)


# ------------------------------------------------------------------ identity tilt


def test_tilt_threshold_factor_ratio_points_no_cap():
    # tekun: threshold 10,000 × 0.5 = 5,000; 50 + 10 = 60 %, 60 + 10 = 70 %; no cap
    # base 80,000: (50,000 − 5,000) × 60 % + 30,000 × 70 % = 27,000 + 21,000 = 48,000 (above the 30,000 cap)
    row = one(ci("K1", 3, 80_000_00, identity="特困人员"), R)
    assert row["ci_threshold"] == 10_000_00 * 5000 // 10_000
    assert row["hifmi_pay"] == 48_000_00 == F(80_000_00, threshold=5_000_00, r1=6000, r2=7000, cap=None)
    assert row["critical_cap_reached"] is False


@pytest.mark.parametrize(
    "base, expected",
    [(5_000_00, 0), (6_000_00, 1_000_00 * 6 // 10), (10_000_00, 5_000_00 * 6 // 10)],
)
def test_tilted_threshold(base, expected):
    assert one(ci("K1", 3, base, identity="特困人员"), R)["hifmi_pay"] == expected


def test_tilt_without_no_cap_keeps_the_cap():
    # dibao: threshold 5,000; 55 % / 65 %; cap kept
    # base 30,000: 25,000 × 55 % = 13,750;  base 80,000: 24,750 + 19,500 = 44,250 → 30,000
    assert one(ci("K1", 3, 30_000_00, identity="低保对象"), R)["hifmi_pay"] == 13_750_00
    assert one(ci("K2", 3, 80_000_00, identity="低保对象"), R)["hifmi_pay"] == 30_000_00


def test_identity_without_tilt_is_ordinary():
    # 稳定脱贫人口 is a listed identity without a tilt: ordinary threshold, ratios and cap
    assert one(ci("K1", 3, 30_000_00, identity="稳定脱贫人口"), R)["hifmi_pay"] == 10_000_00
    assert one(ci("K2", 3, 80_000_00, identity="稳定脱贫人口"), R)["hifmi_pay"] == 30_000_00


def test_tilted_ratio_clamped_to_100_percent(tmp_path):
    rb = variant(tmp_path, R, {"critical": {"identity_tilt": {"tekun": {"ratio_points": 50}}}})
    # 50 + 50 = 100 %, 60 + 50 = 110 % → 100 %: (50,000 − 5,000) + 30,000 = 75,000 = base − threshold
    row = one(ci("K1", 3, 80_000_00, identity="特困人员"), rb)
    assert row["hifmi_pay"] == 75_000_00
    assert row["fund_pay_sumamt"] <= row["inscp_scp_amt"]


def test_rounding_half_up_with_tilt():
    # dibao 55 %: base 5,000 + 0.10 → 10 fen × 55 % = 5.5 → 6
    assert one(ci("K1", 3, 5_000_10, identity="低保对象"), R)["hifmi_pay"] == 6


# ------------------------------------------------------------------ class-B first self-pay switch


@pytest.fixture
def with_pre(tmp_path):
    return variant(tmp_path, R, {"critical": {"include_preselfpay": {"source": "test", "status": "unverified"}}})


def test_preselfpay_not_counted_by_default():
    row = one(ci("K1", 3, 20_000_00, reported=20_000_00, preselfpay_amt=5_000_00), R)
    assert row["ci_base"] == 20_000_00
    assert row["hifmi_pay"] == (20_000_00 - 10_000_00) // 2  # 5,000


def test_preselfpay_counted_when_the_rule_set_says_so(with_pre):
    row = one(ci("K1", 3, 20_000_00, reported=20_000_00, preselfpay_amt=5_000_00), with_pre)
    # base = 40,000 − 20,000 + 5,000 = 25,000 → (25,000 − 10,000) × 50 % = 7,500
    assert row["ci_base"] == 25_000_00
    assert row["hifmi_pay"] == 7_500_00
    assert row["fund_pay_sumamt"] <= row["inscp_scp_amt"] + row["preselfpay_amt"]
    assert_conserved(row)


def test_preselfpay_counts_only_in_the_named_classes(with_pre):
    row = one(ci("G1", 3, 20_000_00, med_type="11", preselfpay_amt=50_000_00), with_pre)
    assert row["ci_base"] == 0 and row["hifmi_pay"] == 0


def test_preselfpay_can_pay_more_than_the_scope_left_after_basic(with_pre):
    # tekun, ratio clamped to 100 %: scope 60,000, basic 10,000, class-B 40,000 → base 90,000;
    # threshold 5,000 → (50,000 − 5,000) × 60 % + 40,000 × 70 % = 27,000 + 28,000 = 55,000
    # (more than the 50,000 scope left after basic, less than 50,000 + 40,000 counted)
    row = one(ci("K1", 3, 50_000_00, identity="特困人员", reported=10_000_00, preselfpay_amt=40_000_00), with_pre)
    assert row["hifmi_pay"] == 55_000_00
    assert row["fund_pay_sumamt"] <= row["inscp_scp_amt"] + row["preselfpay_amt"]


# ------------------------------------------------------------------ 大病 on computed basic payments


def test_critical_on_computed_basic_after_the_annual_cap():
    # full.yaml: secondary local inpatient 500 / 80 %, inpatient + chronic cap 20,000;
    # 大病 10,000–50,000 50 %, >50,000 60 %, cap 100,000.
    # scope 100,000: basic (100,000 − 500) × 80 % = 79,600 → cap 20,000; base 100,000 − 20,000 = 80,000
    # → 20,000 + 30,000 × 60 % = 38,000
    row = one(claim(inscp_scp_amt=100_000_00), "full")
    assert row["hifp_pay"] == 20_000_00
    assert row["ci_base"] == 80_000_00
    assert row["hifmi_pay"] == 38_000_00
    assert row["psn_part_amt"] == 100_000_00 - 20_000_00 - 38_000_00


def test_critical_on_dongzhi_with_tilt():
    # 东至 2021, ordinary: secondary local 500 / 80 %; scope 100,000 → basic 79,600; base 20,400
    # → 大病 threshold 15,000, 60 %: (20,400 − 15,000) × 60 % = 3,240
    row = one(claim(inscp_scp_amt=100_000_00), "anhui/dongzhi-2021")
    assert row["hifp_pay"] == 79_600_00
    assert row["hifmi_pay"] == (20_400_00 - 15_000_00) * 6000 // 10_000
    # dibao: deductible 250, ratio 85 % → basic (100,000 − 250) × 85 % = 84,787.5 → 84,787.50;
    # base 15,212.50; threshold 7,500; 65 % → (15,212.50 − 7,500) × 65 % = 5,013.125 → 5,013.13
    dibao = one(claim(inscp_scp_amt=100_000_00, psn_idet_type="农村低保"), "anhui/dongzhi-2021")
    assert dibao["hifp_pay"] == rhu((100_000_00 - 250_00) * 8500) == 84_787_50
    assert dibao["hifmi_pay"] == rhu((100_000_00 - 84_787_50 - 7_500_00) * 6500) == 5_013_13


# ------------------------------------------------------------------ 山东 2014 published example


SD = "shandong/critical-illness-2014"


def test_shandong_2014_worked_example():
    # total 300,000; policy scope 270,000; basic paid 100,000 → base 170,000
    # (100,000 − 10,000) × 50 % = 45,000 + (170,000 − 100,000) × 60 % = 42,000 → 87,000
    row = one(claim(medfee_sumamt=300_000_00, fulamt_ownpay_amt=30_000_00, inscp_scp_amt=270_000_00,
                    reported_hifp_pay=100_000_00, enddate="2014-06-30", begndate="2014-06-01"), SD)
    assert row["ci_base"] == 170_000_00
    assert row["hifmi_pay"] == (100_000_00 - 10_000_00) // 2 + (170_000_00 - 100_000_00) * 6 // 10 == 87_000_00
    assert row["hifp_pay"] + row["hifmi_pay"] == 187_000_00
    assert row["psn_part_amt"] == 300_000_00 - 187_000_00
    assert_conserved(row)


def test_shandong_2014_same_year_in_two_admissions():
    # the same year split in two equal admissions pays the same 87,000 in all
    rows = [
        claim(setl_id="S1", fulamt_ownpay_amt=15_000_00, inscp_scp_amt=135_000_00, reported_hifp_pay=50_000_00,
              begndate="2014-03-01", enddate="2014-03-20"),
        claim(setl_id="S2", fulamt_ownpay_amt=15_000_00, inscp_scp_amt=135_000_00, reported_hifp_pay=50_000_00,
              begndate="2014-09-01", enddate="2014-09-20"),
    ]
    led = by_id(settle(rows, SD))
    # 1st: base 85,000 → (85,000 − 10,000) × 50 % = 37,500; 2nd: 87,000 − 37,500
    assert led["S1"]["hifmi_pay"] == 37_500_00
    assert led["S2"]["hifmi_pay"] == 87_000_00 - 37_500_00


def test_shandong_2014_annual_maximum():
    # base 400,000: 45,000 + 300,000 × 60 % = 225,000 → annual maximum 200,000
    row = one(claim(inscp_scp_amt=500_000_00, reported_hifp_pay=100_000_00,
                    begndate="2014-06-01", enddate="2014-06-30"), SD)
    assert row["hifmi_pay"] == 200_000_00


def test_shandong_2014_general_outpatient_excluded():
    row = one(claim(med_type="11", inscp_scp_amt=500_00, reported_hifp_pay=100_00,
                    begndate="2014-06-01", enddate="2014-06-01"), SD)
    assert row["not_covered_reason"] == "class_excluded"
    assert row["fund_pay_sumamt"] == 0
