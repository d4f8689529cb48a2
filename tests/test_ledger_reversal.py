"""Reversals (冲正/退费) in a persistent ledger: a negative entry for the original claim, settled
through the same engine after everything already settled.

Treatment of later claims: they are final and are not re-settled.  The reversal's payments are the
change of each annual formula (F(net after) − F(before)), so the person's net annual sums equal the
formulas on the net totals — even when that means the reversal takes back less (or more) than the
original paid, because a later claim was limited by a cap or lifted into a 大病 band by it.

Rule set: tests/fixtures/engine_rules/full.yaml (inpatient deductible 500, 2nd admission × 0.5, 80 %;
inpatient+chronic cap 20,000; 大病 10,000–50,000 at 50 %; dibao assistance 70 % over 1,000).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import book, claim, claims_frame, full_ledger, rhu
from medclaim import store
from medclaim.pipeline import append_claims, reverse_claims
from medclaim.settle import check_invariants
from medclaim.status import Exit
from medclaim.output import read_people_csv

Y = 100  # fen per yuan
RB = book("full")
FUND = ["hifp_pay", "hifmi_pay", "maf_pay"]


def entries(d: Path) -> list[dict]:
    return full_ledger(d, RB).sort("entry_no").to_dicts()


def acc_row(d: Path, psn="P1", year=2021) -> dict:
    return store.read_accumulator(d).filter((pl.col("psn_no") == psn) & (pl.col("year") == year)).to_dicts()[0]


def settle_months(d: Path, *months: list[dict]) -> None:
    for rows in months:
        r = append_claims(d, claims_frame(rows), RB)
        assert r.status == Exit.OK, r.summary


def test_reversing_the_only_claim_brings_every_running_total_back_to_zero(tmp_path):
    settle_months(tmp_path, [claim(setl_id="A", psn_idet_type="低保对象", inscp_scp_amt=60_000 * Y, preselfpay_amt=2_000 * Y,
                                   begndate="2021-01-01", enddate="2021-01-10")])
    paid = entries(tmp_path)[0]
    assert paid["hifp_pay"] > 0 and paid["hifmi_pay"] > 0 and paid["maf_pay"] > 0  # every layer paid
    r = reverse_claims(tmp_path, ["A"], RB, reason="hospital withdrew the claim")
    assert r.status == Exit.OK and r.run == 2
    rev = entries(tmp_path)[1]
    assert rev["is_reversal"] and rev["setl_id"] == "A" and rev["reverses_entry"] == paid["entry_no"]
    assert rev["reversal_reason"] == "hospital withdrew the claim"
    for c in FUND + ["medfee_sumamt", "fund_pay_sumamt", "psn_part_amt", "act_pay_dedc", "inscp_scp_amt"]:
        assert rev[c] == -paid[c], c
    acc = acc_row(tmp_path)
    assert {k: v for k, v in acc.items() if k.startswith("ytd_")} == {k: 0 for k in acc if k.startswith("ytd_")}
    assert store.verify(tmp_path) == []


def test_reversal_with_a_later_claim_leaves_it_untouched_and_nets_to_the_formula(tmp_path):
    """The worked example of docs/ledger.md."""
    a = claim(setl_id="A", inscp_scp_amt=20_000 * Y, begndate="2021-01-01", enddate="2021-01-10")
    b = claim(setl_id="B", inscp_scp_amt=30_000 * Y, begndate="2021-02-01", enddate="2021-02-10")
    settle_months(tmp_path, [a], [b])
    before = {e["setl_id"]: e for e in entries(tmp_path)}
    # A: (20,000 − 500) × 80 % = 15,600 basic; 大病 base 4,400 < 10,000 → 0
    assert (before["A"]["hifp_pay"], before["A"]["hifmi_pay"]) == (15_600 * Y, 0)
    # B (2nd admission, deductible 250): raw (30,000 − 250) × 80 % = 23,800, cap 20,000 leaves 4,400;
    # 大病 base 30,000 − 4,400 = 25,600 → cumulative 30,000 → (30,000 − 10,000) × 50 % = 10,000
    assert (before["B"]["hifp_raw"], before["B"]["hifp_pay"], before["B"]["hifmi_pay"]) == (23_800 * Y, 4_400 * Y, 10_000 * Y)

    reverse_claims(tmp_path, ["A"], RB)
    after = entries(tmp_path)
    assert after[1] == before["B"]  # the later claim is final: its entry is unchanged, nothing re-settled
    rev = after[2]
    # basic: cumulative raw 39,400 → 23,800, still over the 20,000 cap → the reversal takes back 0
    # 大病: base −20,000 → cumulative 10,000 → F = 0 → the reversal takes back 10,000
    assert (rev["hifp_raw"], rev["hifp_pay"], rev["ci_base"], rev["hifmi_pay"]) == (-15_600 * Y, 0, -20_000 * Y, -10_000 * Y)
    assert rev["psn_part_amt"] == -20_000 * Y + 10_000 * Y
    # net annual sums = the formulas on the net totals
    net_raw = sum(e["hifp_raw"] for e in after)
    assert net_raw == 23_800 * Y
    acc = acc_row(tmp_path)
    assert acc["ytd_hifp"] == min(net_raw, 20_000 * Y) == 20_000 * Y
    net_base = sum(e["inscp_scp_amt"] + e["preselfpay_amt"] - e["hifp_pay"] for e in after)
    assert acc["ytd_critical_base"] == net_base == 10_000 * Y
    assert acc["ytd_hifmi"] == rhu(max(0, min(net_base, 50_000 * Y) - 10_000 * Y) * 5_000) == 0
    assert acc["ytd_psn_part"] == 30_000 * Y - 20_000 * Y
    assert (acc["ytd_admissions"], acc["ytd_claims"]) == (1, 1)
    assert store.verify(tmp_path) == []


def test_a_corrected_claim_is_settled_anew_after_its_reversal(tmp_path):
    a = claim(setl_id="A", inscp_scp_amt=20_000 * Y, begndate="2021-01-01", enddate="2021-01-10")
    settle_months(tmp_path, [a])
    reverse_claims(tmp_path, ["A"], RB, reason="amount corrected")
    corrected = dict(a, inscp_scp_amt=12_000 * Y, medfee_sumamt=12_000 * Y)
    r = append_claims(tmp_path, claims_frame([corrected]), RB)
    assert r.status == Exit.OK and r.summary["resettled"] == 1 and r.summary["late_claims"] == 0
    e = entries(tmp_path)
    assert [(x["setl_id"], x["is_reversal"]) for x in e] == [("A", False), ("A", True), ("A", False)]
    # settled as if it were the year's first claim: first admission, full deductible
    assert e[2]["ip_admission_no"] == 1 and e[2]["hifp_pay"] == (12_000 - 500) * 80 * Y // 100
    assert acc_row(tmp_path)["ytd_hifp"] == e[2]["hifp_pay"]
    # the corrected claim is now the settled one: re-running the file pays nothing again
    assert append_claims(tmp_path, claims_frame([corrected]), RB).status == Exit.NOTHING_NEW
    # and it can itself be reversed (its own entry), once
    assert reverse_claims(tmp_path, ["A"], RB).status == Exit.OK
    assert entries(tmp_path)[-1]["reverses_entry"] == e[2]["entry_no"]
    assert store.verify(tmp_path) == []


def test_reversing_twice_is_refused(tmp_path):
    settle_months(tmp_path, [claim(setl_id="A"), claim(setl_id="B", psn_no="P2")])
    assert reverse_claims(tmp_path, ["A"], RB).status == Exit.OK
    head = (tmp_path / "HEAD.json").read_bytes()
    again = reverse_claims(tmp_path, ["A"], RB)
    assert again.status == Exit.NOTHING_NEW and again.run is None
    assert "already reversed" in again.messages[0]
    assert (tmp_path / "HEAD.json").read_bytes() == head
    mixed = reverse_claims(tmp_path, ["A", "B"], RB)  # A refused, B reversed
    assert mixed.status == Exit.REJECTS and mixed.summary["reversals"] == 1
    rejects = read_people_csv(tmp_path / "runs" / f"run-{mixed.run:06d}" / "rejects.csv")
    assert rejects.select("setl_id", "reason_code").rows() == [("A", "already_reversed")]
    assert store.verify(tmp_path) == []


def test_an_unknown_id_reverses_nothing(tmp_path):
    settle_months(tmp_path, [claim(setl_id="A")])
    with pytest.raises(store.ReversalError, match="not in ledger") as e:
        reverse_claims(tmp_path, ["A", "NOPE"], RB)
    assert e.value.status == Exit.NOT_FOUND
    assert store.read_head(tmp_path).run == 1


def test_a_reversal_needs_the_rule_set_the_claim_was_settled_with(tmp_path):
    settle_months(tmp_path, [claim(setl_id="A")])
    with pytest.raises(store.ReversalError) as e:
        reverse_claims(tmp_path, ["A"], book("inpatient"))
    assert e.value.status == Exit.INVALID_RULES
    assert store.read_head(tmp_path).run == 1


def test_chronic_reversal_restores_the_annual_deductible(tmp_path):
    c1 = claim(setl_id="C1", med_type="14", inscp_scp_amt=400 * Y, begndate="2021-01-05", enddate="2021-01-05")
    c2 = claim(setl_id="C2", med_type="14", inscp_scp_amt=1_000 * Y, begndate="2021-02-05", enddate="2021-02-05")
    settle_months(tmp_path, [c1], [c2])
    # C1 bears 400 of the 500 annual deductible, C2 the remaining 100, then 80 % of 900 = 720
    e = entries(tmp_path)
    assert (e[0]["act_pay_dedc"], e[1]["act_pay_dedc"], e[1]["hifp_pay"]) == (400 * Y, 100 * Y, 720 * Y)
    reverse_claims(tmp_path, ["C1"], RB)
    rev = entries(tmp_path)[-1]
    # net chronic scope 1,000: deductible 500, basic 80 % × 500 = 400 → the reversal takes back 320
    # and bears none of the deductible: the net year has borne exactly the 500 annual deductible
    assert (rev["hifp_pay"], rev["act_pay_dedc"]) == (-320 * Y, 0)
    assert sum(x["act_pay_dedc"] for x in entries(tmp_path)) == 500 * Y
    acc = acc_row(tmp_path)
    assert acc["ytd_chronic_scope"] == 1_000 * Y and acc["ytd_hifp"] == 400 * Y


# ------------------------------------------------------------------ property


PLACES = ["", "本地", "省内异地"]


@st.composite
def year_with_reversals(draw):
    rs = RB.periods[0]
    n = draw(st.integers(2, 14))
    identity = {p: draw(st.sampled_from(sorted(rs.codes.identity))) for p in ("P1", "P2")}
    rows = []
    for i in range(n):
        end = dt.date(2021, 1, 1) + dt.timedelta(days=draw(st.integers(0, 364)))
        psn = draw(st.sampled_from(["P1", "P2"]))
        rows.append(claim(
            setl_id=f"S{i:02d}", psn_no=psn, psn_idet_type=identity[psn],
            med_type=draw(st.sampled_from(["21", "11", "14", "9901", "41"])),
            hosp_lv=draw(st.sampled_from(["08", "05", "02"])), pay_loc=draw(st.sampled_from(PLACES)),
            begndate=end - dt.timedelta(days=draw(st.integers(0, 9))), enddate=end,
            inscp_scp_amt=draw(st.one_of(st.integers(0, 5_000 * Y), st.integers(0, 150_000 * Y))),
            preselfpay_amt=draw(st.one_of(st.just(0), st.integers(0, 3_000 * Y))),
        ))
    reversed_ = draw(st.lists(st.sampled_from([r["setl_id"] for r in rows]), unique=True, max_size=n))
    split = draw(st.integers(1, 12))
    return rows, reversed_, split


@settings(max_examples=int(os.environ.get("LEDGER_PROPERTY_EXAMPLES", "30")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=year_with_reversals())
def test_random_reversals_keep_the_ledger_consistent(case):
    rows, reversed_ids, split = case
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for batch in ([r for r in rows if r["enddate"].month < split], [r for r in rows if r["enddate"].month >= split]):
            if batch:
                append_claims(d, claims_frame(batch), RB)
        if reversed_ids:
            assert reverse_claims(d, reversed_ids, RB).status == Exit.OK
        led = full_ledger(d, RB)
        check_invariants(led)  # conservation per entry and in total; reversals never pay out
        assert store.verify(d) == []
        acc = store.read_accumulator(d)
        net = led.group_by(store.KEYS).agg(
            claims=pl.when(pl.col("is_reversal")).then(-1).otherwise(1).sum(),
            medfee=pl.col("medfee_sumamt").sum(), hifp=pl.col("hifp_pay").sum(), hifmi=pl.col("hifmi_pay").sum(),
            maf=pl.col("maf_pay").sum(), psn=pl.col("psn_part_amt").sum(),
        )
        both = acc.join(net, on=store.KEYS)
        for r in both.iter_rows(named=True):
            assert (r["ytd_claims"], r["ytd_medfee"], r["ytd_hifp"], r["ytd_hifmi"], r["ytd_maf"], r["ytd_psn_part"]) == (
                r["claims"], r["medfee"], r["hifp"], r["hifmi"], r["maf"], r["psn"])
            if r["claims"] == 0:  # every claim of the person-year reversed: all running totals back to zero
                assert all(v == 0 for k, v in r.items() if k.startswith("ytd_")), r
        # net annual 大病 = F(net base); net inpatient+chronic basic = min(net raw, cap)
        for (psn, year), g in led.group_by(store.KEYS):
            a = acc.filter((pl.col("psn_no") == psn) & (pl.col("year") == year)).row(0, named=True)
            assert a["ytd_critical_base"] == g["ci_base"].sum()
            ip = g.filter(pl.col("benefit_class").is_in(["inpatient", "chronic_outpatient"]))
            assert a["ytd_cap_inpatient_and_chronic"] == ip["cap_in_inpatient_and_chronic"].sum()
            assert ip["hifp_pay"].sum() <= 20_000 * Y


def test_a_reversal_that_would_break_an_invariant_is_refused_and_writes_nothing(tmp_path):
    """Known limit: a person whose identity changes within the year (低保 from one claim on) shares the
    two-diseases cap across identities.  Reversing the 低保 claim after an ordinary one took the cap
    room would leave the assistance base negative; the run refuses (exit 8) and the ledger is unchanged."""
    settle_months(tmp_path, [
        claim(setl_id="D", psn_idet_type="低保对象", med_type="9901", inscp_scp_amt=400 * Y, begndate="2021-01-05", enddate="2021-01-05"),
        claim(setl_id="O", med_type="9901", inscp_scp_amt=600 * Y, begndate="2021-02-05", enddate="2021-02-05"),
    ])
    head = (tmp_path / "HEAD.json").read_bytes()
    from medclaim.settle import InvariantError

    with pytest.raises(InvariantError, match="running totals never negative"):
        reverse_claims(tmp_path, ["D"], RB)
    assert (tmp_path / "HEAD.json").read_bytes() == head
    assert store.verify(tmp_path) == []
