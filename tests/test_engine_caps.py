"""Annual caps on cumulative basic payments: shared by classes, crossed mid-claim, applied in
rule-file order, per person and per benefit year.

Rule set: tests/fixtures/engine_rules/caps.yaml (no deductibles)
  inpatient 80 %, chronic 80 %, general outpatient 50 %, two diseases 50 %;
  caps in order: chronic 3,000; inpatient + chronic 10,000; general outpatient 200; two diseases none.
"""

from __future__ import annotations

from helpers import by_id, claim, cumulative, settle

R = "caps"


def c(sid, month, med_type, scope, **kw):
    return claim(setl_id=sid, med_type=med_type, inscp_scp_amt=scope,
                 begndate=f"2021-{month:02d}-01", enddate=f"2021-{month:02d}-02", **kw)


def test_shared_cap_crossed_mid_claim():
    rows = [c("I1", 1, "21", 8_000_00), c("I2", 2, "21", 5_000_00), c("I3", 3, "21", 1_000_00)]
    led = by_id(settle(rows, R))
    # 8,000 × 80 % = 6,400; 5,000 × 80 % = 4,000 → cumulative 10,400 → 10,000 − 6,400 = 3,600; then 0
    assert [led[s]["hifp_pay"] for s in ("I1", "I2", "I3")] == [6_400_00, 3_600_00, 0]
    assert led["I2"]["cap_cut_inpatient_and_chronic"] == 400_00
    assert [led[s]["basic_cap_reached"] for s in ("I1", "I2", "I3")] == [False, True, True]
    # the patient pays what the cap cut: 5,000 − 3,600
    assert led["I2"]["psn_part_amt"] == 1_400_00


def test_shared_cap_across_classes():
    rows = [c("C1", 1, "14", 2_500_00), c("I1", 2, "21", 10_000_00), c("C2", 3, "14", 100_00)]
    led = by_id(settle(rows, R))
    # chronic 2,500 × 80 % = 2,000; inpatient 8,000 → 10,000 − 2,000 = 8,000 fits exactly; chronic 80 → 0
    assert [led[s]["hifp_pay"] for s in ("C1", "I1", "C2")] == [2_000_00, 8_000_00, 0]


def test_class_cap_applies_before_the_shared_cap():
    rows = [c("C1", 1, "14", 5_000_00), c("I1", 2, "21", 10_000_00)]
    led = by_id(settle(rows, R))
    # chronic 4,000 → own cap 3,000; the shared cap sees 3,000, so the admission gets 10,000 − 3,000
    assert led["C1"]["hifp_pay"] == 3_000_00
    assert led["I1"]["hifp_pay"] == 7_000_00


def test_classes_outside_a_cap_are_not_limited_by_it():
    rows = [c("I1", 1, "21", 20_000_00), c("G1", 2, "11", 100_00), c("T1", 3, "9901", 100_000_00)]
    led = by_id(settle(rows, R))
    assert led["I1"]["hifp_pay"] == 10_000_00  # 16,000 → 10,000
    assert led["G1"]["hifp_pay"] == 50_00  # its own cap 200, untouched by the inpatient cap
    assert led["T1"]["hifp_pay"] == 50_000_00  # no cap on two diseases in this rule set


def test_cap_is_per_person():
    rows = [c("A1", 1, "21", 20_000_00, psn_no="P1"), c("B1", 2, "21", 20_000_00, psn_no="P2")]
    led = by_id(settle(rows, R))
    assert led["A1"]["hifp_pay"] == led["B1"]["hifp_pay"] == 10_000_00


def test_cap_restarts_each_benefit_year():
    # full.yaml (2020–2022): inpatient deductible 500, 80 %, inpatient + chronic cap 20,000
    rows = [
        claim(setl_id="A", inscp_scp_amt=30_000_00, begndate="2020-12-01", enddate="2020-12-10"),
        claim(setl_id="B", inscp_scp_amt=30_000_00, begndate="2020-12-20", enddate="2021-01-05"),
    ]
    led = by_id(settle(rows, "full"))
    # 2020: (30,000 − 500) × 80 % = 23,600 → 20,000;  2021 (by discharge): again 20,000
    assert led["A"]["hifp_pay"] == 20_000_00
    assert led["B"]["hifp_pay"] == 20_000_00
    # per claim, the cap's running total is what was paid under it (the room left is cap − that)
    assert led["B"]["ytd_cap_inpatient_and_chronic"] == 20_000_00


def test_cumulative_cap_total_is_what_reached_the_cap(tmp_path):
    rows = [
        claim(setl_id="A", inscp_scp_amt=30_000_00, begndate="2020-12-01", enddate="2020-12-10"),
        claim(setl_id="B", inscp_scp_amt=30_000_00, begndate="2020-12-20", enddate="2021-01-05"),
    ]
    led = by_id(settle(rows, cumulative(tmp_path, "full")))
    assert led["B"]["hifp_pay"] == 20_000_00
    # cumulative: the running total is what reached the cap, F = min(20,000, 23,600)
    assert led["B"]["ytd_cap_inpatient_and_chronic"] == 23_600_00


def test_cap_order_follows_settlement_order_not_input_order():
    rows = [c("I2", 2, "21", 5_000_00), c("I1", 1, "21", 8_000_00)]  # input: later claim first
    led = by_id(settle(rows, R))
    assert (led["I1"]["hifp_pay"], led["I2"]["hifp_pay"]) == (6_400_00, 3_600_00)


def test_dongzhi_inpatient_cap():
    # 东至 2021: inpatient + chronic cap 200,000; secondary local 500 / 80 %
    rows = [c("I1", 1, "21", 200_000_00), c("I2", 2, "21", 100_000_00)]
    led = by_id(settle(rows, "anhui/dongzhi-2021"))
    first = (200_000_00 - 500_00) * 8000 // 10_000  # 159,600
    assert led["I1"]["hifp_pay"] == first
    # 2nd admission: deductible 250, raw (100,000 − 250) × 80 % = 79,800 → 200,000 − 159,600 = 40,400
    assert led["I2"]["hifp_raw"] == (100_000_00 - 250_00) * 8000 // 10_000
    assert led["I2"]["hifp_pay"] == 200_000_00 - first
