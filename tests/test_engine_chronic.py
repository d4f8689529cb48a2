"""Basic insurance, chronic/special-disease outpatient (门诊慢特病): an *annual cumulative*
deductible across claims, the ratio on the cumulative amount, its own annual limit and the cap it
shares with inpatient.

Rule set: tests/fixtures/engine_rules/chronic.yaml
  chronic: annual deductible 500, ratio 80 %, own annual limit 3,000
  inpatient: deductible 500 per admission, ratio 80 %
  shared cap inpatient + chronic 10,000 (applied after the chronic limit)
"""

from __future__ import annotations

from helpers import by_id, claim, cumulative, rhu, settle

R = "chronic"


def chronic(sid, month, scope, **kw):
    return claim(setl_id=sid, med_type="14", inscp_scp_amt=scope,
                 begndate=f"2021-{month:02d}-01", enddate=f"2021-{month:02d}-01", **kw)


def admission(sid, month, scope, **kw):
    return claim(setl_id=sid, med_type="21", inscp_scp_amt=scope,
                 begndate=f"2021-{month:02d}-02", enddate=f"2021-{month:02d}-05", **kw)


def F(cum_scope: int) -> int:
    """Annual chronic formula: round_half_up((Σscope − 500)⁺ × 80 %), before limits."""
    return rhu(max(cum_scope - 500_00, 0) * 8000)


def test_annual_deductible_accumulates_across_claims():
    rows = [chronic("C1", 1, 300_00), chronic("C2", 2, 300_00), chronic("C3", 3, 1_000_00)]
    led = by_id(settle(rows, R))
    # cumulative 300: under the deductible, all 300 borne as deductible, nothing paid
    assert (led["C1"]["act_pay_dedc"], led["C1"]["hifp_pay"]) == (300_00, 0)
    # cumulative 600: 200 more deductible, (600 − 500) × 80 % = 80 paid
    assert (led["C2"]["act_pay_dedc"], led["C2"]["hifp_pay"]) == (200_00, 80_00)
    # cumulative 1,600: (1,600 − 500) × 80 % = 880 in all, 880 − 80 = 800 on this claim
    assert (led["C3"]["act_pay_dedc"], led["C3"]["hifp_pay"]) == (0, 800_00)
    assert sum(r["act_pay_dedc"] for r in led.values()) == 500_00
    assert sum(r["hifp_pay"] for r in led.values()) == F(1_600_00) == 880_00
    assert [led[s]["ytd_chronic_scope"] for s in ("C1", "C2", "C3")] == [300_00, 600_00, 1_600_00]


def test_cumulative_rounding_is_on_the_cumulative_amount(tmp_path):
    # after 500 of deductible, three claims of 1 fen each: 80 % of 1, 2, 3 fen = 0.8, 1.6, 2.4
    # → cumulative payments 1, 2, 2 fen → shares 1, 1, 0
    rows = [chronic("C0", 1, 500_00), chronic("C1", 2, 1), chronic("C2", 3, 1), chronic("C3", 4, 1)]
    led = by_id(settle(rows, cumulative(tmp_path, R)))
    assert [led[s]["hifp_pay"] for s in ("C0", "C1", "C2", "C3")] == [0, 1, 1, 0]
    assert sum(r["hifp_pay"] for r in led.values()) == F(500_03) == 2


def test_per_claim_rounding_rounds_each_claim_on_its_own():
    # the receipt: each claim's part above the deductible still to bear (0, then 1 fen each) × 80 %
    # = 0.8 fen, rounded half-up on its own → 1 fen per claim: 3 fen in all, 1 more than the annual
    # formula's 2
    rows = [chronic("C0", 1, 500_00), chronic("C1", 2, 1), chronic("C2", 3, 1), chronic("C3", 4, 1)]
    led = by_id(settle(rows, R))
    assert [led[s]["hifp_pay"] for s in ("C0", "C1", "C2", "C3")] == [0, 1, 1, 1]
    assert [led[s]["act_pay_dedc"] for s in ("C0", "C1", "C2", "C3")] == [500_00, 0, 0, 0]


def test_cumulative_rounding_half_up_on_the_cumulative_amount(tmp_path):
    # 80 % of a whole number of fen never ends in .5, so use 东至 2021 (deductible 500, 65 %):
    # cumulative 500.10 → 10 fen × 65 % = 6.5 → 7 (half up);  then +0.10 → 20 × 65 % = 13 → share 6
    rows = [chronic("C1", 1, 500_10), chronic("C2", 2, 10)]
    led = by_id(settle(rows, cumulative(tmp_path, "anhui/dongzhi-2021")))
    assert led["C1"]["hifp_pay"] == 7
    assert led["C2"]["hifp_pay"] == 13 - 7


def test_per_claim_rounding_half_up_differs_from_cumulative_by_a_fen():
    # 东至 2021 (deductible 500, 65 %), per claim as the receipt: C1's part above the deductible is
    # 10 fen × 65 % = 6.5 → 7; C2 has no deductible left to bear, 10 fen × 65 % = 6.5 → 7 again
    # (cumulative would pay 13 − 7 = 6)
    rows = [chronic("C1", 1, 500_10), chronic("C2", 2, 10)]
    led = by_id(settle(rows, "anhui/dongzhi-2021"))
    assert (led["C1"]["act_pay_dedc"], led["C1"]["hifp_pay"]) == (500_00, 7)
    assert (led["C2"]["act_pay_dedc"], led["C2"]["hifp_pay"]) == (0, 7)


def test_per_claim_rounding_with_the_deductible_crossed_mid_claim():
    # 东至 2021: C1 300.00 leaves 200.00 of the deductible to bear; C2 200.07: its part above it is
    # 7 fen × 65 % = 4.55 → 5 fen; C3 3 fen × 65 % = 1.95 → 2 fen (cumulative gives the same here:
    # F(500.07) = 4.55 → 5, F(500.10) = 6.5 → 7, share 2)
    rows = [chronic("C1", 1, 300_00), chronic("C2", 2, 200_07), chronic("C3", 3, 3)]
    led = by_id(settle(rows, "anhui/dongzhi-2021"))
    assert [(led[s]["act_pay_dedc"], led[s]["hifp_pay"]) for s in ("C1", "C2", "C3")] == [(300_00, 0), (200_00, 5), (0, 2)]


def test_own_annual_limit_crossed_mid_claim():
    rows = [chronic("C1", 1, 3_000_00), chronic("C2", 2, 2_000_00), chronic("C3", 3, 1_000_00)]
    led = by_id(settle(rows, R))
    # raw: F(3,000) = 2,000; F(5,000) − F(3,000) = 1,600; F(6,000) − F(5,000) = 800
    assert [led[s]["hifp_raw"] for s in ("C1", "C2", "C3")] == [2_000_00, 1_600_00, 800_00]
    # own limit 3,000: 2,000, then 1,000 (cut mid-claim), then 0
    assert [led[s]["hifp_pay"] for s in ("C1", "C2", "C3")] == [2_000_00, 1_000_00, 0]
    assert led["C2"]["basic_cap_reached"] is True


def test_shared_cap_with_inpatient():
    rows = [admission("I1", 3, 12_000_00), chronic("C1", 4, 2_500_00), admission("I2", 5, 1_500_00)]
    led = by_id(settle(rows, R))
    # inpatient: (12,000 − 500) × 80 % = 9,200
    assert led["I1"]["hifp_pay"] == 9_200_00
    # chronic: (2,500 − 500) × 80 % = 1,600 (under its own 3,000); shared: 9,200 + 1,600 > 10,000 → 800
    assert led["C1"]["hifp_raw"] == 1_600_00
    assert led["C1"]["hifp_pay"] == 10_000_00 - 9_200_00
    # the shared cap is reached: the next admission's (1,500 − 500) × 80 % = 800 is cut to 0
    assert led["I2"]["hifp_raw"] == 800_00 and led["I2"]["hifp_pay"] == 0
    assert sum(r["hifp_pay"] for r in led.values()) == 10_000_00


def test_own_limit_applies_before_the_shared_cap():
    rows = [chronic("C1", 1, 5_000_00), admission("I1", 2, 10_000_00)]
    led = by_id(settle(rows, R))
    # chronic raw (5,000 − 500) × 80 % = 3,600 → own limit 3,000; only 3,000 counts toward the shared cap
    assert led["C1"]["hifp_pay"] == 3_000_00
    # inpatient raw (10,000 − 500) × 80 % = 7,600; shared: 3,000 + 7,600 = 10,600 → 7,000
    assert led["I1"]["hifp_pay"] == 10_000_00 - 3_000_00


def test_inpatient_deductible_and_chronic_deductible_are_separate():
    rows = [admission("I1", 1, 1_000_00), chronic("C1", 2, 1_000_00)]
    led = by_id(settle(rows, R))
    # the admission's 500 deductible does not count toward the chronic annual deductible
    assert (led["I1"]["act_pay_dedc"], led["I1"]["hifp_pay"]) == (500_00, 400_00)
    assert (led["C1"]["act_pay_dedc"], led["C1"]["hifp_pay"]) == (500_00, 400_00)
    assert led["I1"]["ytd_chronic_scope"] == 0


def test_each_person_has_their_own_annual_deductible():
    rows = [chronic("A1", 1, 400_00, psn_no="P1"), chronic("B1", 2, 400_00, psn_no="P2"),
            chronic("A2", 3, 400_00, psn_no="P1")]
    led = by_id(settle(rows, R))
    assert led["B1"]["hifp_pay"] == 0  # P2: 400 < 500
    assert led["A2"]["hifp_pay"] == F(800_00) - F(400_00) == 240_00  # P1: (800 − 500) × 80 %


def test_chronic_on_dongzhi():
    # 东至 2021: chronic annual deductible 500, 65 %, own limit 10,000
    rows = [chronic("C1", 1, 400_00), chronic("C2", 2, 600_00), chronic("C3", 3, 20_000_00)]
    led = by_id(settle(rows, "anhui/dongzhi-2021"))
    assert led["C1"]["hifp_pay"] == 0
    assert led["C2"]["hifp_pay"] == rhu((1_000_00 - 500_00) * 6500)  # 325
    # F(21,000) = 20,500 × 65 % = 13,325 → own limit 10,000 → 10,000 − 325
    assert led["C3"]["hifp_pay"] == 10_000_00 - 325_00
