"""Not covered: a visit before benefits start, a class the rule set excludes, a general-outpatient
tier the rule set does not cover — all funds 0, a reason, and no effect on any running total.
"""

from __future__ import annotations

import pytest

from helpers import by_id, claim, one, settle


def assert_not_covered(row, reason):
    assert row["covered"] is False and row["not_covered"] is True
    assert row["not_covered_reason"] == reason
    assert (row["hifp_pay"], row["hifmi_pay"], row["maf_pay"], row["fund_pay_sumamt"]) == (0, 0, 0, 0)
    assert row["act_pay_dedc"] == 0
    assert row["psn_part_amt"] == row["medfee_sumamt"]


def test_visit_before_benefit_start():
    row = one(claim(begndate="2021-03-01", enddate="2021-03-10", benefit_start="2021-04-01"), "inpatient")
    assert_not_covered(row, "before_benefit_start")


def test_visit_on_benefit_start_is_covered():
    row = one(claim(begndate="2021-04-01", enddate="2021-04-10", benefit_start="2021-04-01"), "inpatient")
    assert row["covered"] is True and row["not_covered_reason"] is None
    assert row["hifp_pay"] == (10_000_00 - 500_00) * 8000 // 10_000


def test_excluded_class():
    row = one(claim(med_type="41", psn_idet_type="特困人员"), "inpatient")
    assert_not_covered(row, "class_excluded")


@pytest.mark.parametrize("med_type", ["41", "定点药店购药", "51", "生育住院"])
def test_excluded_classes_on_dongzhi_pay_nothing_even_for_tekun(med_type):
    row = one(claim(med_type=med_type, psn_idet_type="特困人员", inscp_scp_amt=100_000_00), "anhui/dongzhi-2021")
    assert_not_covered(row, "class_excluded")


def test_general_outpatient_tier_not_covered():
    row = one(claim(med_type="11", hosp_lv="02", inscp_scp_amt=100_00), "outpatient")
    assert_not_covered(row, "general_outpatient_tier_not_covered")


def test_uncovered_claims_leave_every_running_total_alone():
    # full.yaml, a tekun person: an uncovered admission and chronic visit before benefits start,
    # then covered claims that must look exactly as if the uncovered ones were not there.
    late = "2021-05-01"
    uncovered = [
        claim(setl_id="U1", psn_idet_type="特困人员", inscp_scp_amt=50_000_00, begndate="2021-02-01",
              enddate="2021-02-10", benefit_start=late),
        claim(setl_id="U2", psn_idet_type="特困人员", med_type="14", inscp_scp_amt=5_000_00, begndate="2021-03-01",
              enddate="2021-03-01", benefit_start=late),
        claim(setl_id="U3", psn_idet_type="特困人员", med_type="41", inscp_scp_amt=5_000_00, begndate="2021-06-01",
              enddate="2021-06-01", benefit_start=late),
    ]
    covered = [
        claim(setl_id="K1", psn_idet_type="特困人员", inscp_scp_amt=30_000_00, begndate="2021-07-01",
              enddate="2021-07-10", benefit_start=late),
        claim(setl_id="K2", psn_idet_type="特困人员", med_type="14", inscp_scp_amt=1_000_00, begndate="2021-08-01",
              enddate="2021-08-01", benefit_start=late),
    ]
    with_uncovered = by_id(settle(uncovered + covered, "full"))
    alone = by_id(settle(covered, "full"))
    money = ["act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "psn_part_amt", "ip_admission_no",
             "ytd_chronic_scope", "ytd_critical_base", "ytd_assist_base", "ytd_hifp", "ytd_hifmi", "ytd_maf"]
    for sid in ("K1", "K2"):
        assert {k: with_uncovered[sid][k] for k in money} == {k: alone[sid][k] for k in money}, sid
    # and by hand: K1 is the 1st admission (tekun deductible 0 anyway), K2 bears the full chronic deductible
    assert with_uncovered["K1"]["ip_admission_no"] == 1
    assert with_uncovered["K2"]["act_pay_dedc"] == 500_00
    for sid in ("U1", "U2", "U3"):
        assert with_uncovered[sid]["fund_pay_sumamt"] == 0
    # the uncovered claims still count toward the year's medical costs and personal burden
    assert with_uncovered["K2"]["ytd_medfee"] == 50_000_00 + 5_000_00 + 30_000_00 + 5_000_00 + 1_000_00


def test_uncovered_admission_is_not_an_admission_for_the_repeat_reduction():
    rows = [
        claim(setl_id="U1", begndate="2021-02-01", enddate="2021-02-10", benefit_start="2021-03-01"),
        claim(setl_id="K1", begndate="2021-04-01", enddate="2021-04-10", benefit_start="2021-03-01"),
    ]
    led = by_id(settle(rows, "inpatient"))
    assert led["K1"]["act_pay_dedc"] == 500_00  # the 1st covered admission: full deductible


def test_unmapped_code_is_rejected_not_settled():
    rows = [claim(setl_id="OK"), claim(setl_id="BAD", med_type="99"), claim(setl_id="BADLV", hosp_lv="42")]
    s = settle(rows, "inpatient")
    assert s.ledger["setl_id"].to_list() == ["OK"]
    rej = {r["setl_id"]: r for r in s.rejects.iter_rows(named=True)}
    assert set(rej) == {"BAD", "BADLV"}
    assert {r["reason_code"] for r in rej.values()} == {"unknown_code"}
    assert rej["BAD"]["column"] == "med_type" and rej["BADLV"]["column"] == "hosp_lv"
    assert s.ledger.height + s.rejects.height == len(rows)


def test_claim_outside_every_period_is_rejected():
    rows = [claim(setl_id="OK"), claim(setl_id="OLD", begndate="2019-05-01", enddate="2019-05-03")]
    s = settle(rows, "inpatient")
    assert s.ledger["setl_id"].to_list() == ["OK"]
    assert s.rejects.row(0, named=True)["reason_code"] == "no_rule_in_force"


def test_codes_are_matched_after_trimming_and_blank_means_ordinary_local():
    # " 21 " is inpatient; a missing identity is an ordinary resident; a missing place is local
    row = one(claim(med_type=" 21 ", psn_idet_type=None, pay_loc=None), "inpatient")
    assert (row["benefit_class"], row["identity"], row["place"]) == ("inpatient", "ordinary", "local")
    assert row["hifp_pay"] == (10_000_00 - 500_00) * 8000 // 10_000
