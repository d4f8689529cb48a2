"""Per-claim rounding (the receipt, the default) against cumulative rounding, worked by hand where
the two differ by a fen.

Rule set: tests/fixtures/engine_rules/full.yaml — inpatient deductible 500 (2nd admission × 0.5),
80 %; inpatient+chronic cap 20,000; two-diseases 50 %, cap 300; 大病 from 10,000 at 50 %;
低保 assistance 70 % above 1,000 a year.
"""

from __future__ import annotations

import pytest

from helpers import by_id, claim, cumulative, settle


@pytest.fixture
def both(tmp_path):
    return {"per_claim": "full", "cumulative": cumulative(tmp_path, "full")}


def admission(sid, day, scope):
    return claim(setl_id=sid, inscp_scp_amt=scope, begndate=f"2021-03-{day:02d}", enddate=f"2021-03-{day:02d}")


@pytest.mark.parametrize("mode, third", [("per_claim", 1), ("cumulative", 0)])
def test_critical_segment_rounded_per_claim(both, mode, third):
    # I1: (40,000 − 500) × 80 % = 31,600, cut to the 20,000 cap; 大病 base 20,000: its part above
    #     10,000 is 10,000 × 50 % = 5,000
    # I2, I3: 0.01 each (deductible 250 left unpaid: no basic); 大病 base 1 fen each, 50 % = 0.5 fen
    #   per claim: 0.5 → 1 fen, and 0.5 → 1 fen again
    #   cumulative: F(20,000.01) − F(20,000.00) = 5,000.01 − 5,000.00 (0.5 up) = 1 fen;
    #               F(20,000.02) − F(20,000.01) = 5,000.01 − 5,000.01 = 0
    rows = [admission("I1", 1, 40_000_00), admission("I2", 2, 1), admission("I3", 3, 1)]
    led = by_id(settle(rows, both[mode]))
    assert [led[k]["hifp_pay"] for k in ("I1", "I2", "I3")] == [20_000_00, 0, 0]
    assert [led[k]["hifmi_pay"] for k in ("I1", "I2", "I3")] == [5_000_00, 1, third]


@pytest.mark.parametrize("mode, third", [("per_claim", 1), ("cumulative", 0)])
def test_assistance_rounded_per_claim(both, mode, third):
    # 低保, two-diseases visits (no 大病): D1 600.00 → 50 % = 300, the whole 300 cap; base 300
    # D2 701.01 → 350.505 → 350.51, no room left → basic 0; base 701.01 → cumulative 1,001.01:
    #    its part above the 1,000 deductible is 1.01 × 70 % = 0.707 → 0.71
    # D3 0.01 → basic 0 (no room); base 0.01:
    #   per claim 0.01 × 70 % = 0.007 → 0.01
    #   cumulative F(1,001.02) − F(1,001.01) = 0.714 → 0.71 minus 0.707 → 0.71 = 0
    rows = [claim(setl_id=f"D{i}", psn_idet_type="低保对象", med_type="9901", inscp_scp_amt=s,
                  begndate=f"2021-04-{i:02d}", enddate=f"2021-04-{i:02d}")
            for i, s in ((1, 600_00), (2, 701_01), (3, 1))]
    led = by_id(settle(rows, both[mode]))
    assert [led[k]["hifp_pay"] for k in ("D1", "D2", "D3")] == [300_00, 0, 0]
    assert [led[k]["ma_base"] for k in ("D1", "D2", "D3")] == [300_00, 701_01, 1]
    assert [led[k]["maf_pay"] for k in ("D1", "D2", "D3")] == [0, 71, third]


def test_per_claim_cap_limits_the_rounded_payment_to_the_room_left():
    # 低保 assistance limit 10,000: D1 base 15,300 (scope 15,600, two-diseases 300 cap) → part above
    # 1,000 = 14,300 × 70 % = 10,010 → the limit leaves 10,000; D2 base 100 → 70 → room 0 → 0
    rows = [claim(setl_id="D1", psn_idet_type="低保对象", med_type="9901", inscp_scp_amt=15_600_00, begndate="2021-04-01", enddate="2021-04-01"),
            claim(setl_id="D2", psn_idet_type="低保对象", med_type="9901", inscp_scp_amt=100_00, begndate="2021-04-02", enddate="2021-04-02")]
    led = by_id(settle(rows, "full"))
    assert (led["D1"]["ma_before_limit"], led["D1"]["maf_pay"]) == (10_010_00, 10_000_00)
    assert (led["D2"]["ma_before_limit"], led["D2"]["maf_pay"], led["D2"]["ytd_maf"]) == (70_00, 0, 10_000_00)
