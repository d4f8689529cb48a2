"""Basic insurance, two-diseases outpatient drugs (两病门诊): ratio and an annual limit of its own.

Rule set: tests/fixtures/engine_rules/two_diseases.yaml
  two diseases 50 %, annual limit 300;  general outpatient 50 %, annual limit 200 (separate).
"""

from __future__ import annotations

from helpers import by_id, claim, one, settle


def td(sid, month, scope, **kw):
    return claim(setl_id=sid, med_type="9901", hosp_lv="08", inscp_scp_amt=scope,
                 begndate=f"2021-{month:02d}-01", enddate=f"2021-{month:02d}-01", **kw)


def test_ratio_no_deductible():
    row = one(td("T1", 1, 100_00), "two_diseases")
    assert row["hifp_pay"] == 100_00 * 5000 // 10_000
    assert row["act_pay_dedc"] == 0
    assert row["psn_part_amt"] == 50_00


def test_rounding_half_up():
    # 100.01 × 50 % = 5,000.5 fen → 5,001
    assert one(td("T1", 1, 100_01), "two_diseases")["hifp_pay"] == 5_001


def test_annual_limit_crossed_mid_claim():
    rows = [td("T1", 1, 400_00), td("T2", 2, 300_00), td("T3", 3, 100_00)]
    led = by_id(settle(rows, "two_diseases"))
    # 200, then 150 → cumulative 350 > 300 → 100, then 0
    assert [led[s]["hifp_pay"] for s in ("T1", "T2", "T3")] == [200_00, 100_00, 0]
    assert led["T2"]["basic_cap_reached"] is True


def test_two_diseases_limit_separate_from_general_outpatient():
    rows = [td("T1", 1, 1_000_00), claim(setl_id="G1", med_type="11", hosp_lv="08", inscp_scp_amt=100_00,
                                         begndate="2021-02-01", enddate="2021-02-01")]
    led = by_id(settle(rows, "two_diseases"))
    assert led["T1"]["hifp_pay"] == 300_00  # 500 → limit 300
    assert led["G1"]["hifp_pay"] == 50_00  # general outpatient has its own limit


def test_two_diseases_on_dongzhi():
    # 东至 2021: two diseases 50 %, annual limit 300; an ordinary person gets nothing else
    row = one(td("T1", 1, 1_000_00), "anhui/dongzhi-2021")
    assert row["hifp_pay"] == 300_00
    assert row["hifmi_pay"] == 0 and row["maf_pay"] == 0
