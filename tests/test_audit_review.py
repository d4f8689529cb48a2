"""medclaim audit review rules: each with a claim that triggers it and a near miss that does not."""

from __future__ import annotations

import polars as pl
from helpers import book, claim

from medclaim.rules.audit import DEFAULT_REVIEW
from medclaim.audit.review import review_flags
from medclaim.schema import CLAIM_SCHEMA
from medclaim.settle import settle_claims

R = book("anhui/dongzhi-2021")
P = DEFAULT_REVIEW.model_copy(update={"readmission_days": 15, "same_day_max": 1, "min_stay_days": 1, "outlier_k": 5.0,
                                      "outlier_min_peers": 10, "outpatient_visits_per_month": 3})


def flags(rows):
    frame = pl.DataFrame([{k: r.get(k) for k in CLAIM_SCHEMA} for r in rows], schema=CLAIM_SCHEMA)
    s = settle_claims(frame, R)
    assert s.rejects.height == 0, s.rejects.to_dicts()
    f = review_flags(s.ledger, P)
    return {(r["code"], r["setl_id"]): r for r in f.iter_rows(named=True)}


def stay(sid, begin, end, **kw):
    return claim(setl_id=sid, begndate=begin, enddate=end, **kw)


def visit(sid, day, med_type="11", **kw):
    kw.setdefault("inscp_scp_amt", 50_00)
    return claim(setl_id=sid, med_type=med_type, hosp_lv="08", begndate=day, enddate=day, **kw)


def test_overlapping_stays_and_a_transfer_on_the_discharge_day():
    f = flags([stay("S1", "2021-03-01", "2021-03-10"), stay("S2", "2021-03-05", "2021-03-08", source_file="b.csv"),
               stay("S3", "2021-03-10", "2021-03-12", source_file="c.csv")])  # S3: admitted the day S1 ends
    assert ("overlapping_stays", "S2") in f and f["overlapping_stays", "S2"]["linked_setl_ids"] == "S1"
    assert ("overlapping_stays", "S3") not in f
    # an overlap with an earlier, longer stay is found even when a shorter one lies between
    f = flags([stay("L1", "2021-03-01", "2021-03-20"), stay("L2", "2021-03-02", "2021-03-03", source_file="b.csv"),
               stay("L3", "2021-03-15", "2021-03-25", source_file="c.csv")])
    assert f["overlapping_stays", "L3"]["linked_setl_ids"] == "L1"


def test_outpatient_inside_a_stay():
    rows = [stay("S1", "2021-03-01", "2021-03-10"), visit("V1", "2021-03-05"), visit("V2", "2021-03-10"),
            visit("V3", "2021-03-01"), visit("T1", "2021-03-06", med_type="9901"), visit("V4", "2021-03-05", psn_no="P2")]
    f = flags(rows)
    assert f["outpatient_in_stay", "V1"]["linked_setl_ids"] == "S1"
    assert ("outpatient_in_stay", "T1") in f  # a two-diseases claim too
    # discharge day, admission day, another person: not flagged
    assert not {("outpatient_in_stay", s) for s in ("V2", "V3", "V4")} & set(f)


def test_quick_readmission_same_hospital():
    # discharged 03-10; readmitted 03-25 (15 days: flagged), elsewhere 03-12 (other hospital: not)
    f = flags([stay("S1", "2021-03-01", "2021-03-10"), stay("S2", "2021-03-25", "2021-03-28")])
    assert f["quick_readmission", "S2"]["linked_setl_ids"] == "S1"
    assert "readmission_days=15" in f["quick_readmission", "S2"]["parameters"]
    f = flags([stay("S1", "2021-03-01", "2021-03-10"), stay("S2", "2021-03-26", "2021-03-28")])  # 16 days
    assert ("quick_readmission", "S2") not in f
    f = flags([stay("S1", "2021-03-01", "2021-03-10"), stay("S2", "2021-03-12", "2021-03-14", source_file="other.csv")])
    assert ("quick_readmission", "S2") not in f


def test_same_day_settlements():
    f = flags([visit("V1", "2021-03-05"), visit("V2", "2021-03-05"), visit("V3", "2021-03-06"),
               visit("V4", "2021-03-05", source_file="other.csv")])
    assert f["same_day_repeat", "V1"]["linked_setl_ids"] == "V1;V2" and ("same_day_repeat", "V2") in f
    assert ("same_day_repeat", "V3") not in f and ("same_day_repeat", "V4") not in f


def test_zero_day_stay():
    f = flags([stay("Z1", "2021-03-05", "2021-03-05"), stay("Z2", "2021-03-07", "2021-03-08", psn_no="P2")])
    assert ("zero_day_stay", "Z1") in f and ("zero_day_stay", "Z2") not in f


def test_cost_outlier_median_plus_k_mad():
    # 22 primary-outpatient claims: 100..119 yuan, and two near 151.  Median = (110 + 111) / 2 = 110.50;
    # absolute deviations 0.5, 0.5, 1.5, 1.5 … (the two large ones last) → MAD = the 11th/12th = 5.50;
    # limit = 110.50 + 5 × 1.4826 × 5.50 = 151.2715 yuan.
    rows = [visit(f"V{i:02d}", f"2021-03-{1 + i:02d}", psn_no=f"P{i}", inscp_scp_amt=(100 + i) * 100) for i in range(20)]
    rows += [visit("HI", "2021-03-25", psn_no="PX", inscp_scp_amt=151_28), visit("OK", "2021-03-26", psn_no="PY", inscp_scp_amt=151_27)]
    f = flags(rows)
    assert ("cost_outlier", "HI") in f and ("cost_outlier", "OK") not in f
    assert "151.27" in f["cost_outlier", "HI"]["message"]
    # fewer peers than outlier_min_peers: not judged at all
    assert not [k for k in flags(rows[:7] + rows[-2:]) if k[0] == "cost_outlier"]


def test_frequent_outpatient():
    f = flags([visit(f"V{i}", f"2021-03-{2 * i + 1:02d}") for i in range(4)])  # 4 visits > 3
    assert ("frequent_outpatient", "V3") in f and f["frequent_outpatient", "V3"]["linked_setl_ids"] == "V0;V1;V2;V3"
    f = flags([visit(f"V{i}", f"2021-03-{2 * i + 1:02d}") for i in range(3)] + [visit("A1", "2021-04-01")])
    assert not [k for k in f if k[0] == "frequent_outpatient"]
