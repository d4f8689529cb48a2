"""The enrollment roster (参保登记): identity by date, benefit start by the rule set's enrollment
rules, end of coverage, people not enrolled — every figure worked by hand.

Rule set: tests/fixtures/engine_rules/full.yaml with an ``enrollment`` block:
  collection period ends 2021-02-28; late enrollees covered from the day after payment;
  newborns paid within 3 months of birth covered from birth.
  inpatient deductible 500 (2nd admission × 0.5; 低保 × 0.5), ratio 80 % (+5 低保);
  inpatient+chronic cap 20,000; 大病 from 10,000 at 50 % (低保: threshold × 0.5, +5 points, no cap);
  低保 assistance 70 % above 1,000 a year, limit 10,000.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import by_id, claim, claims_frame, variant
from medclaim.roster import ROSTER_SCHEMA, Roster, RosterError, apply_roster, read_roster
from medclaim.settle import settle_claims

Y = 100
D = dt.date


@pytest.fixture(scope="module")
def rb(tmp_path_factory):
    return variant(tmp_path_factory.mktemp("rules"), "full", {"enrollment": {
        "collection_period": {"source": "test", "status": "unverified", "ends": "02-28"},
        "late_enrollment": {"source": "test", "status": "unverified", "starts": "day_after_payment"},
        "newborn": {"source": "test", "status": "unverified", "enroll_within_months": 3},
    }})


def roster(*rows: dict) -> Roster:
    base = {k: None for k in ROSTER_SCHEMA} | {"psn_idet_type": "", "source_file": "roster.csv", "pay_date": D(2020, 12, 1)}
    full = [base | {"source_row": i + 1} | r for i, r in enumerate(rows)]
    return Roster(rows=pl.DataFrame(full, schema=ROSTER_SCHEMA), files=["roster.csv"])


def settle(rows, rb, ros):
    return settle_claims(claims_frame(rows), rb, roster=ros)


# ------------------------------------------------------------------ identity changes mid-year


def test_identity_change_mid_year_across_the_cap_and_a_critical_segment(rb):
    ros = roster(
        {"psn_no": "P1", "psn_idet_type": "", "idet_enddate": D(2021, 5, 31)},
        {"psn_no": "P1", "psn_idet_type": "低保对象", "idet_begndate": D(2021, 6, 1)},
    )
    a = claim(setl_id="A", inscp_scp_amt=30_000 * Y, begndate="2021-03-01", enddate="2021-03-10")
    # the hospital wrote 特困人员 on B: the roster (低保 since June) wins, and B is flagged
    b = claim(setl_id="B", psn_idet_type="特困人员", inscp_scp_amt=20_000 * Y, begndate="2021-07-01", enddate="2021-07-10")
    s = settle([a, b], rb, ros)
    assert s.rejects.height == 0
    led = by_id(s)
    # A, ordinary: (30,000 − 500) × 80 % = 23,600, cut to the 20,000 cap; 大病 base 30,000 − 20,000
    # = 10,000, at the ordinary threshold → 0
    assert (led["A"]["identity"], led["A"]["hifp_pay"], led["A"]["hifmi_pay"], led["A"]["maf_pay"]) == ("ordinary", 20_000 * Y, 0, 0)
    assert led["A"]["identity_mismatch"] is False
    # B, 低保: deductible 500 × 0.5 (2nd admission) × 0.5 (低保) = 125, ratio 85 %: raw 16,893.75 —
    # but the cap's room is used up (one person-year, caps run on) → basic 0
    assert (led["B"]["identity"], led["B"]["claim_idet_type"], led["B"]["identity_mismatch"]) == ("dibao", "特困人员", True)
    assert (led["B"]["hifp_raw"], led["B"]["hifp_pay"]) == (16_893_75, 0)
    # 大病 base 20,000: cumulative 10,000 → 30,000; 低保 threshold 5,000 and 55 %: this claim's part of
    # the first band is (30,000 − 5,000) − (10,000 − 5,000) = 20,000 → 11,000 (no cap for 低保)
    assert led["B"]["hifmi_pay"] == 11_000 * Y
    # assistance: base 20,000 − 0 − 11,000 = 9,000 (A was ordinary: none); 70 % above 1,000 = 5,600
    assert (led["B"]["ma_base"], led["B"]["maf_pay"]) == (9_000 * Y, 5_600 * Y)
    assert led["B"]["ytd_critical_base"] == 30_000 * Y


def test_claim_row_identity_agreeing_or_empty_is_not_flagged(rb):
    ros = roster({"psn_no": "P1", "psn_idet_type": "低保对象"})
    rows = [claim(setl_id="E", psn_idet_type=""), claim(setl_id="S", psn_idet_type="低保对象", begndate="2021-04-01", enddate="2021-04-02")]
    led = by_id(settle(rows, rb, ros))
    assert [(led[k]["identity"], led[k]["identity_mismatch"]) for k in ("E", "S")] == [("dibao", False), ("dibao", False)]


def test_date_outside_every_identity_period_is_ordinary(rb):
    ros = roster({"psn_no": "P1", "psn_idet_type": "低保对象", "idet_begndate": D(2021, 1, 1), "idet_enddate": D(2021, 3, 31)})
    rows = [claim(setl_id="IN", begndate="2021-03-01", enddate="2021-03-10"), claim(setl_id="OUT", begndate="2021-04-01", enddate="2021-04-10")]
    led = by_id(settle(rows, rb, ros))
    assert (led["IN"]["identity"], led["OUT"]["identity"]) == ("dibao", "ordinary")


# ------------------------------------------------------------------ benefit start


@pytest.mark.parametrize("paid, covered_in_march", [(D(2021, 3, 10) + dt.timedelta(days=80), True),
                                                    (D(2021, 3, 10) + dt.timedelta(days=100), False)])
def test_newborn_enrolled_on_day_80_is_covered_from_birth_on_day_100_from_the_day_after_payment(rb, paid, covered_in_march):
    # born 2021-03-10; 3 months later is 2021-06-10.  Day 80 = 2021-05-29: in time → from birth.
    # Day 100 = 2021-06-18: too late → a late enrollee, covered from 2021-06-19.
    ros = roster({"psn_no": "P1", "birth_date": D(2021, 3, 10), "pay_date": paid, "insu_date": paid})
    rows = [claim(setl_id="M", inscp_scp_amt=1_000 * Y, begndate="2021-03-12", enddate="2021-03-20"),
            claim(setl_id="J", inscp_scp_amt=1_000 * Y, begndate="2021-06-20", enddate="2021-06-25")]
    led = by_id(settle(rows, rb, ros))
    assert led["M"]["benefit_start"] == (D(2021, 3, 10) if covered_in_march else D(2021, 6, 19))
    assert led["M"]["covered"] is covered_in_march
    # (1,000 − 500) × 80 % = 400 when covered
    assert led["M"]["hifp_pay"] == (400 * Y if covered_in_march else 0)
    assert led["M"]["not_covered_reason"] == (None if covered_in_march else "before_benefit_start")
    assert led["J"]["covered"] is True


def test_late_enrollee_is_covered_from_the_day_after_payment(rb):
    ros = roster({"psn_no": "P1", "pay_date": D(2021, 4, 15)})
    rows = [claim(setl_id="B4", begndate="2021-04-10", enddate="2021-04-12"),
            claim(setl_id="ON", begndate="2021-04-15", enddate="2021-04-18"),
            claim(setl_id="AF", begndate="2021-04-16", enddate="2021-04-18")]
    led = by_id(settle(rows, rb, ros))
    assert {k: led[k]["benefit_start"] for k in led} == {k: D(2021, 4, 16) for k in ("B4", "ON", "AF")}
    assert [led[k]["covered"] for k in ("B4", "ON", "AF")] == [False, False, True]


def test_paid_in_the_collection_period_is_covered_from_january(rb):
    ros = roster({"psn_no": "P1", "pay_date": D(2021, 2, 28)})
    led = by_id(settle([claim(setl_id="K", begndate="2021-01-02", enddate="2021-01-05")], rb, ros))
    assert (led["K"]["benefit_start"], led["K"]["covered"]) == (D(2021, 1, 1), True)


def test_waiting_period_after_late_payment(tmp_path):
    rb = variant(tmp_path, "full", {"enrollment": {
        "collection_period": {"source": "test", "status": "unverified", "ends": "02-28"},
        "late_enrollment": {"source": "test", "status": "unverified", "starts": "day_after_payment", "waiting_months": 3},
    }})
    ros = roster({"psn_no": "P1", "pay_date": D(2021, 4, 15)})
    led = by_id(settle([claim(setl_id="K", begndate="2021-07-10", enddate="2021-07-12")], rb, ros))
    # 2021-04-16 + 3 months = 2021-07-16
    assert (led["K"]["benefit_start"], led["K"]["covered"]) == (D(2021, 7, 16), False)


# ------------------------------------------------------------------ not enrolled, end of coverage


def test_person_not_on_the_roster_is_rejected_not_enrolled(rb):
    ros = roster({"psn_no": "P1"})
    s = settle([claim(setl_id="K1"), claim(setl_id="K2", psn_no="P9")], rb, ros)
    assert s.ledger["setl_id"].to_list() == ["K1"]
    (r,) = s.rejects.to_dicts()
    assert (r["setl_id"], r["reason_code"], r["column"]) == ("K2", "not_enrolled", "psn_no")
    assert "P9" in r["message"] and "roster.csv" in r["message"]


def test_death_ends_coverage(rb):
    ros = roster({"psn_no": "P1", "coverage_end": D(2021, 8, 31)})
    rows = [claim(setl_id="AUG", begndate="2021-08-20", enddate="2021-09-02"), claim(setl_id="SEP", begndate="2021-09-05", enddate="2021-09-08")]
    led = by_id(settle(rows, rb, ros))
    assert led["AUG"]["covered"] is True  # admitted while covered
    assert (led["SEP"]["covered"], led["SEP"]["not_covered_reason"], led["SEP"]["fund_pay_sumamt"]) == (False, "after_coverage_end", 0)


def test_without_roster_the_claim_row_decides(rb):
    led = by_id(settle_claims(claims_frame([claim(setl_id="K", psn_idet_type="低保对象")]), rb))
    assert (led["K"]["identity"], led["K"]["identity_mismatch"]) == ("dibao", False)


# ------------------------------------------------------------------ reading a roster file


def test_roster_file_gbk_with_chinese_headers(tmp_path):
    f = tmp_path / "参保登记.csv"
    f.write_bytes(
        "人员编号,姓名,身份证号,人员身份类别,身份开始日期,身份结束日期,参保日期,缴费日期,出生日期,终止日期\n"
        "P1,张三,341721199001011234,低保对象,2021-06-01,,2020-12-01,2020-12-01,,\n"
        "P1,张三,341721199001011234,,2021-01-01,2021-05-31,2020-12-01,2020-12-01,,\n"
        "P2,李四,341721199001011235,,,,2021/04/15,2021/04/15,,2021-08-31\n".encode("gbk")
    )
    r = read_roster([f])
    assert r.people == 2 and r.rows.height == 3
    p2 = r.rows.filter(pl.col("psn_no") == "P2").row(0, named=True)
    assert (p2["pay_date"], p2["coverage_end"], p2["idet_begndate"]) == (D(2021, 4, 15), D(2021, 8, 31), None)
    assert "姓名" not in r.rows.columns and not any("3417" in str(v) for v in r.rows.row(0))


def test_roster_with_overlapping_identity_periods_stops_the_run(tmp_path):
    f = tmp_path / "roster.csv"
    f.write_text("psn_no,identity,identity_from,identity_to\nP1,低保对象,2021-01-01,2021-06-30\nP1,特困人员,2021-06-01,\n", encoding="utf-8")
    with pytest.raises(RosterError, match="overlaps"):
        read_roster(f)


def test_roster_with_a_bad_date_names_the_row(tmp_path):
    f = tmp_path / "roster.csv"
    f.write_text("人员编号,缴费日期\nP1,2021-13-45\n", encoding="utf-8")
    with pytest.raises(RosterError, match=r"not a date.*row"):
        read_roster(f)


def test_roster_without_person_number_column(tmp_path):
    f = tmp_path / "roster.csv"
    f.write_text("姓名,缴费日期\n张三,2021-01-01\n", encoding="utf-8")
    with pytest.raises(RosterError, match="psn_no"):
        read_roster(f)


# ------------------------------------------------------------------ properties


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_roster_identity_is_the_period_in_force_and_order_never_matters(rb, data):
    """The roster's identity on each claim's date, found by a plain scan of the periods; the input
    order of claims never changes a result."""
    (rs,) = rb.periods
    cut = D(2021, 1, 1) + dt.timedelta(days=data.draw(st.integers(1, 363)))
    first, second = data.draw(st.sampled_from(["", "低保对象", "特困人员"])), data.draw(st.sampled_from(["", "低保对象", "特困人员"]))
    ros = roster({"psn_no": "P1", "psn_idet_type": first, "idet_enddate": cut - dt.timedelta(days=1)},
                 {"psn_no": "P1", "psn_idet_type": second, "idet_begndate": cut})
    days = data.draw(st.lists(st.integers(0, 364), min_size=1, max_size=8))
    rows = [claim(setl_id=f"S{i}", inscp_scp_amt=data.draw(st.integers(0, 60_000 * Y)),
                  begndate=D(2021, 1, 1) + dt.timedelta(days=k), enddate=D(2021, 1, 1) + dt.timedelta(days=k))
            for i, k in enumerate(days)]
    s = settle(rows, rb, ros)
    for r in s.ledger.iter_rows(named=True):
        want = first if r["enddate"] < cut else second
        assert r["identity"] == rs.codes.identity[want]
    shuffled = settle(data.draw(st.permutations(rows)), rb, ros)
    assert shuffled.ledger.sort("setl_id").equals(s.ledger.sort("setl_id"))
    # apply_roster keeps the claims' order and count
    out = apply_roster(claims_frame(rows).lazy(), ros, rs).collect()
    assert out["setl_id"].to_list() == [r["setl_id"] for r in rows]


# ------------------------------------------------------------------ through the command line


def test_settle_with_roster_on_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from medclaim.cli import app
    from medclaim.status import Exit

    claims = tmp_path / "claims.csv"
    claims.write_text(
        "结算ID,人员编号,人员身份类别,医疗类别,医院等级,开始日期,结束日期,总费用,范围内费用\n"
        "K1,P1,,21,05,2021-03-01,2021-03-10,10000.00,10000.00\n"
        "K2,P2,,21,05,2021-03-01,2021-03-10,10000.00,10000.00\n",
        encoding="utf-8",
    )
    ros = tmp_path / "roster.csv"
    ros.write_bytes("人员编号,人员身份类别,身份开始日期,缴费日期\nP1,低保对象,2021-06-01,2020-12-20\n".encode("gbk"))
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["settle", str(claims), "--rules", "anhui/dongzhi-2021", "--out", str(out), "--roster", str(ros), "--quiet"])
    assert r.exit_code == Exit.REJECTS, r.output
    led = pl.read_parquet(out / "ledger.parquet")
    k1 = led.row(0, named=True)
    # March: before the 低保 period → ordinary; secondary local: (10,000 − 500) × 80 % = 7,600
    assert (k1["setl_id"], k1["identity"], k1["hifp_pay"]) == ("K1", "ordinary", 7_600 * Y)
    rejects = (out / "rejects.csv").read_text(encoding="utf-8-sig")
    assert "not_enrolled" in rejects and "K2" in rejects
