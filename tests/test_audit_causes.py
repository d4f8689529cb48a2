"""medclaim audit: each cause code on a hospital mistake worked by hand (东至 2021 rule set).

Rule set anhui/dongzhi-2021 (placeholders, but fixed numbers): inpatient at a secondary (二级,
hosp_lv 05) local hospital: deductible 500, ratio 80 %; tertiary deductible 800; from the 2nd
admission of the year the deductible is halved; basic annual cap 200,000 on inpatient +
chronic; 大病 from 15,000: 60 % to 50,000, 65 % to 100,000, 75 % above; 特困 tilt: threshold × 0.5,
ratio + 5 points.  General outpatient at a primary (hosp_lv 08) facility: 55 %.
"""

from __future__ import annotations

from helpers import book, claim, claims_frame

from medclaim.audit.run import audit_claims

R = book("anhui/dongzhi-2021")


def reported(row, act_pay_dedc, hifp, hifmi, maf=0):
    """The hospital's figures for a claim, in fen, consistent among themselves."""
    fund = hifp + hifmi + maf
    return {**row, "reported_act_pay_dedc": act_pay_dedc, "reported_hifp_pay": hifp, "reported_hifmi_pay": hifmi,
            "reported_maf_pay": maf, "reported_fund_pay_sumamt": fund, "reported_psn_part_amt": row["medfee_sumamt"] - fund}


def audit(rows):
    result = audit_claims(claims_frame_reported(rows), R)
    return result, {(r["setl_id"], r["field"]): r for r in result.differences.iter_rows(named=True)}


def claims_frame_reported(rows):
    import polars as pl

    from medclaim.schema import CLAIM_SCHEMA

    return pl.DataFrame([{k: r.get(k) for k in CLAIM_SCHEMA} for r in rows], schema=CLAIM_SCHEMA)


def test_wrong_tiers_deductible():
    # rules: (10,000 − 500) × 80 % = 7,600; the hospital took the tertiary deductible 800:
    # (10,000 − 800) × 80 % = 7,360.  大病 base 2,400 / 2,640 stays below 15,000.
    row = claim(setl_id="D1", inscp_scp_amt=10_000_00)
    result, d = audit([reported(row, 800_00, 7_360_00, 0)])
    assert set(d) == {("D1", f) for f in ("act_pay_dedc", "hifp_pay", "fund_pay_sumamt", "psn_part_amt")}
    assert (d["D1", "hifp_pay"]["reported"], d["D1", "hifp_pay"]["computed"], d["D1", "hifp_pay"]["difference"]) == (7_360_00, 7_600_00, -240_00)
    for f in ("act_pay_dedc", "hifp_pay", "fund_pay_sumamt", "psn_part_amt"):
        assert d["D1", f]["cause"] == "deductible" and d["D1", f]["rule_key"] == "basic.inpatient.deductible"
    assert "tertiary" in d["D1", "hifp_pay"]["message"]
    assert result.summary["paid_fen"]["hifp_pay"] == {"over": 0, "under": 240_00}


def test_second_admission_reduction_ignored():
    # 2nd admission: deductible 500 × 50 % = 250 → (10,000 − 250) × 80 % = 7,800; the hospital
    # charged the full 500 → 7,600.  The first admission is reported right.
    first = claim(setl_id="A1", begndate="2021-02-01", enddate="2021-02-05")
    second = claim(setl_id="A2", begndate="2021-03-01", enddate="2021-03-05")
    _, d = audit([reported(first, 500_00, 7_600_00, 0), reported(second, 500_00, 7_600_00, 0)])
    assert {k[0] for k in d} == {"A2"}
    assert d["A2", "act_pay_dedc"]["computed"] == 250_00 and d["A2", "hifp_pay"]["computed"] == 7_800_00
    assert d["A2", "hifp_pay"]["cause"] == "deductible"
    assert d["A2", "hifp_pay"]["rule_key"] == "basic.inpatient.repeat_admission"


def test_annual_cap_missed():
    # 1st: (250,000 − 500) × 80 % = 199,600 (under the 200,000 cap); 大病 base 50,400:
    #      (50,000 − 15,000) × 60 % + 400 × 65 % = 21,260.
    # 2nd: (10,000 − 250) × 80 % = 7,800, but only 400 fits under the cap; base 9,600 → cumulative
    #      60,000: 21,000 + 10,000 × 65 % = 27,500 → 6,240 for this claim.
    # The hospital paid 7,800 (no cap); its 大病 then saw base 2,200 → cumulative 52,600:
    #      21,000 + 2,600 × 65 % = 22,690 → 1,430.
    first = claim(setl_id="K1", inscp_scp_amt=250_000_00, begndate="2021-01-04", enddate="2021-01-20")
    second = claim(setl_id="K2", begndate="2021-03-01", enddate="2021-03-05")
    _, d = audit([reported(first, 500_00, 199_600_00, 21_260_00), reported(second, 250_00, 7_800_00, 1_430_00)])
    assert set(d) == {("K2", f) for f in ("hifp_pay", "hifmi_pay", "fund_pay_sumamt", "psn_part_amt")}
    assert (d["K2", "hifp_pay"]["computed"], d["K2", "hifmi_pay"]["computed"]) == (400_00, 6_240_00)
    for f in ("hifp_pay", "hifmi_pay", "fund_pay_sumamt", "psn_part_amt"):
        assert d["K2", f]["cause"] == "annual_cap" and d["K2", f]["rule_key"] == "basic.annual_caps"
    assert not any(k[0] == "K1" for k in d)


def test_critical_tilt_given_to_an_ordinary_resident():
    # basic (40,000 − 500) × 80 % = 31,600; 大病 base 8,400 < 15,000 → 0 for an ordinary resident.
    # With the 特困 tilt the threshold is 7,500 and the ratio 65 %: (8,400 − 7,500) × 65 % = 585.
    row = claim(setl_id="T1", inscp_scp_amt=40_000_00)
    _, d = audit([reported(row, 500_00, 31_600_00, 585_00)])
    assert set(d) == {("T1", "hifmi_pay"), ("T1", "fund_pay_sumamt"), ("T1", "psn_part_amt")}
    assert d["T1", "hifmi_pay"]["computed"] == 0
    assert d["T1", "hifmi_pay"]["cause"] == "identity"
    assert d["T1", "hifmi_pay"]["rule_key"] == "critical.identity_tilt.tekun"


def test_rounded_down_instead_of_half_up():
    # general outpatient, policy scope 1.01: 101 fen × 55 % = 55.55 fen → 56 half-up; the hospital
    # truncated to 55, and charged the patient 46 instead of 45.
    row = claim(setl_id="R1", med_type="11", hosp_lv="08", inscp_scp_amt=1_01, begndate="2021-03-02", enddate="2021-03-02")
    _, d = audit([reported(row, 0, 55, 0)])
    assert set(d) == {("R1", "hifp_pay"), ("R1", "fund_pay_sumamt"), ("R1", "psn_part_amt")}
    assert d["R1", "hifp_pay"]["computed"] == 56
    assert {r["cause"] for r in d.values()} == {"rounding"}


def test_not_covered_and_inconsistent_and_tolerance():
    # 定点药店购药 (41) is excluded by the rule set, yet the hospital paid 30 from the basic fund
    pharmacy = claim(setl_id="N1", med_type="41", hosp_lv="08", inscp_scp_amt=100_00, begndate="2021-03-03", enddate="2021-03-03")
    # the hospital's funds do not add up: 7,600 + 0 + 0 reported as 7,700 in all
    sloppy = reported(claim(setl_id="N2", psn_no="P2"), 500_00, 7_600_00, 0)
    sloppy["reported_fund_pay_sumamt"] = 7_700_00
    result, d = audit([reported(pharmacy, 0, 30_00, 0), sloppy])
    assert d["N1", "hifp_pay"]["cause"] == "not_covered"
    assert "class_excluded" in d["N1", "hifp_pay"]["rule_key"]
    assert set(k for k in d if k[0] == "N2") == {("N2", "fund_pay_sumamt")}
    assert d["N2", "fund_pay_sumamt"]["cause"] == "inconsistent"
    # with a tolerance of 1 yuan, a 1-yuan difference is not reported, a larger one is
    tol = audit_claims(claims_frame_reported([sloppy]), R, tolerance_fen=100_00).differences
    assert tol.height == 0
    assert result.summary["claims_differing"] == 2


def test_a_file_without_reported_amounts_is_an_error():
    import pytest

    from medclaim.audit.run import NoReportedAmounts

    with pytest.raises(NoReportedAmounts, match="nothing to audit"):
        audit_claims(claims_frame([claim()]), R)
