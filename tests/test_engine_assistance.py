"""Medical assistance (医疗救助): by identity, on what is left after basic and 大病, optional annual
deductible, one annual limit shared by outpatient and inpatient, no scheme → 0.

Rule set: tests/fixtures/engine_rules/assistance.yaml — basic as reported, no 大病, so a claim's
assistance base is exactly policy − reported basic.
  classes: inpatient + general outpatient (chronic does not count)
  tekun 90 %, annual limit 5,000;  dibao annual deductible 1,000, 70 %, annual limit 3,000;
  edge and ordinary residents: no scheme.
"""

from __future__ import annotations

import pytest

from helpers import assert_conserved, by_id, claim, one, rhu, settle

R = "assistance"


def ma(sid, month, base, *, identity, med_type="21", reported=0, **kw):
    return claim(setl_id=sid, med_type=med_type, psn_idet_type=identity, inscp_scp_amt=base + reported,
                 reported_hifp_pay=reported, begndate=f"2021-{month:02d}-01", enddate=f"2021-{month:02d}-03", **kw)


def test_ratio_by_identity():
    # scope 10,000, basic 6,000 → base 4,000;  tekun 90 % = 3,600;  dibao (4,000 − 1,000) × 70 % = 2,100
    tekun = one(ma("T1", 3, 4_000_00, identity="特困人员", reported=6_000_00), R)
    assert tekun["ma_base"] == 4_000_00
    assert tekun["maf_pay"] == 4_000_00 * 9000 // 10_000
    assert tekun["psn_part_amt"] == 10_000_00 - 6_000_00 - 3_600_00
    assert_conserved(tekun)
    dibao = one(ma("D1", 3, 4_000_00, identity="低保对象", reported=6_000_00), R)
    assert dibao["maf_pay"] == (4_000_00 - 1_000_00) * 7000 // 10_000


@pytest.mark.parametrize("identity", ["", "低保边缘户"])
def test_no_scheme_pays_nothing(identity):
    row = one(ma("O1", 3, 4_000_00, identity=identity), R)
    assert row["ma_base"] == 0 and row["maf_pay"] == 0


def test_no_assistance_block_pays_nothing():
    # inpatient.yaml has no assistance at all
    row = one(claim(psn_idet_type="特困人员", inscp_scp_amt=100_000_00, hosp_lv="02"), "inpatient")
    assert row["maf_pay"] == 0


def test_annual_deductible_across_claims_and_limit():
    rows = [ma(f"D{i}", i, b, identity="低保对象") for i, b in enumerate([600_00, 600_00, 5_000_00, 1_000_00], 1)]
    led = by_id(settle(rows, R))
    # cumulative base 600 → 0; 1,200 → (1,200 − 1,000) × 70 % = 140;
    # 6,200 → 5,200 × 70 % = 3,640 → limit 3,000 → 3,000 − 140 = 2,860; then 0
    assert [led[f"D{i}"]["maf_pay"] for i in range(1, 5)] == [0, 140_00, 2_860_00, 0]
    assert led["D4"]["ytd_assist_base"] == 7_200_00


def test_one_limit_shared_by_outpatient_and_inpatient():
    rows = [
        ma("G1", 1, 2_000_00, identity="特困人员", med_type="11"),  # outpatient: 90 % = 1,800
        ma("I1", 2, 4_000_00, identity="特困人员"),  # cumulative 6,000 × 90 % = 5,400 → limit 5,000 → 3,200
        ma("G2", 3, 100_00, identity="特困人员", med_type="11"),  # limit reached
    ]
    led = by_id(settle(rows, R))
    assert [led[s]["maf_pay"] for s in ("G1", "I1", "G2")] == [1_800_00, 3_200_00, 0]


def test_only_the_named_classes_and_covered_claims():
    rows = [
        ma("C1", 1, 2_000_00, identity="特困人员", med_type="14"),  # chronic: not an assistance class here
        ma("X1", 2, 2_000_00, identity="特困人员", med_type="41"),  # excluded class
        ma("B1", 3, 2_000_00, identity="特困人员", benefit_start="2021-06-01"),  # before benefits start
    ]
    led = by_id(settle(rows, R))
    assert [led[s]["maf_pay"] for s in ("C1", "X1", "B1")] == [0, 0, 0]
    assert led["B1"]["ytd_assist_base"] == 0


def test_rounding_half_up():
    # tekun: base 10.05 → 1,005 fen × 90 % = 904.5 → 905
    assert one(ma("T1", 3, 10_05, identity="特困人员"), R)["maf_pay"] == 905
    # dibao: cumulative 1,000.05 → 5 fen over the deductible × 70 % = 3.5 → 4
    assert one(ma("D1", 3, 1_000_05, identity="低保对象"), R)["maf_pay"] == 4


def test_limit_is_per_person_and_year():
    rows = [
        ma("A1", 1, 10_000_00, identity="特困人员", psn_no="P1"),
        ma("B1", 2, 10_000_00, identity="特困人员", psn_no="P2"),
    ]
    led = by_id(settle(rows, R))
    assert led["A1"]["maf_pay"] == led["B1"]["maf_pay"] == 5_000_00


def test_assistance_after_basic_and_critical():
    # full.yaml, tekun, secondary local inpatient scope 100,000:
    #   basic: deductible 0, 80 + 10 = 90 % → 90,000 → cap 20,000
    #   大病 base 80,000, threshold 5,000, 55 % / 65 %, no cap: 45,000 × 55 % + 30,000 × 65 % = 24,750 + 19,500 = 44,250
    #   assistance base 100,000 − 20,000 − 44,250 = 35,750 × 90 % = 32,175 → limit 20,000
    row = one(claim(inscp_scp_amt=100_000_00, psn_idet_type="特困人员"), "full")
    assert row["hifp_pay"] == 20_000_00
    assert row["hifmi_pay"] == 44_250_00
    assert row["ma_base"] == 100_000_00 - 20_000_00 - 44_250_00
    assert row["maf_pay"] == 20_000_00
    assert row["fund_pay_sumamt"] == 84_250_00 and row["psn_part_amt"] == 15_750_00
    assert_conserved(row)


def test_assistance_on_dongzhi():
    # 东至 2021, 低保边缘户 (edge): assistance only (no basic/大病 adjustment), deductible 1,000, 60 %
    # secondary local scope 5,000: basic (5,000 − 500) × 80 % = 3,600; base 1,400 < 大病 threshold;
    # assistance base 1,400 → (1,400 − 1,000) × 60 % = 240
    row = one(claim(inscp_scp_amt=5_000_00, psn_idet_type="低保边缘户"), "anhui/dongzhi-2021")
    assert (row["hifp_pay"], row["hifmi_pay"]) == (3_600_00, 0)
    assert row["maf_pay"] == rhu((1_400_00 - 1_000_00) * 6000)
    # 稳定脱贫人口 has no assistance scheme in 东至 2021
    assert one(claim(inscp_scp_amt=5_000_00, psn_idet_type="稳定脱贫人口"), "anhui/dongzhi-2021")["maf_pay"] == 0


def test_scheme_without_annual_limit(tmp_path):
    from helpers import variant

    rb = variant(tmp_path, R, {"assistance": {"schemes": {"tekun": {"annual_limit": None}}}})
    # no limit: base 100,000 × 90 % = 90,000
    assert one(ma("T1", 3, 100_000_00, identity="特困人员"), rb)["maf_pay"] == 90_000_00
