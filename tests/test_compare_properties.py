"""Property: compare(A, B) is, claim for claim and person for person, settling once with A and once with B."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import claim, claims_frame
from medclaim.compare import compare_claims, rule_books
from medclaim.settle import settle_claims

PAYS = ["hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]
A, _ = rule_books(["anhui/dongzhi-2021"], ["basic.inpatient.ratio.by_tier.primary=85%"])
CODES = A.periods[0].codes


@st.composite
def claim_sets(draw):
    n = draw(st.integers(1, 12))
    rows = []
    for i in range(n):
        end = dt.date(2021, 1, 1) + dt.timedelta(days=draw(st.integers(0, 364)))
        rows.append(claim(
            setl_id=f"S{i:03d}", psn_no=draw(st.sampled_from(["P1", "P2", "P3"])),
            psn_idet_type=draw(st.sampled_from(sorted(CODES.identity))),
            med_type=draw(st.sampled_from(["21", "11", "14", "普通住院", "门诊慢特病"])),
            hosp_lv=draw(st.sampled_from(["01", "05", "08"])), pay_loc=draw(st.sampled_from(["本地", "省内异地", "跨省异地"])),
            begndate=end, enddate=end,
            inscp_scp_amt=draw(st.one_of(st.integers(0, 5_000_00), st.integers(0, 300_000_00))),
            preselfpay_amt=draw(st.sampled_from([0, 0, 1_000_00])),
        ))
    return rows


overrides = st.lists(st.sampled_from([
    "basic.inpatient.ratio.by_tier.primary=95%",
    "basic.inpatient.ratio.by_tier.tertiary=60%",
    "basic.inpatient.deductible.by_tier.secondary=0",
    "critical.segments.bands[0].from=8000",
    "basic.annual_caps[1].value=100000",
]), min_size=1, max_size=3, unique=True)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=claim_sets(), sets=overrides)
def test_compare_is_two_settlements(rows, sets):
    a, b = rule_books(["anhui/dongzhi-2021"], sets)
    claims = claims_frame(rows)
    c, rejects = compare_claims(claims, a, b)
    la = settle_claims(claims, a).ledger.select("setl_id", "psn_no", *PAYS)
    lb = settle_claims(claims, b).ledger.select("setl_id", "psn_no", *PAYS)
    assert c.claims == la.height == lb.height and rejects.height == 0
    for col in PAYS:
        assert c.totals[col] == {"a": la[col].sum(), "b": lb[col].sum(), "diff": lb[col].sum() - la[col].sum()}
    both = la.join(lb, on="setl_id", suffix="_b")
    differ = both.filter(pl.any_horizontal([pl.col(x) != pl.col(f"{x}_b") for x in PAYS]))["setl_id"].sort().to_list()
    assert c.changed["setl_id"].sort().to_list() == differ
    per = both.group_by("psn_no").agg((pl.col("psn_part_amt_b") - pl.col("psn_part_amt")).sum().alias("d"))
    assert (c.pay_more, c.pay_less, c.unchanged) == ((per["d"] > 0).sum(), (per["d"] < 0).sum(), (per["d"] == 0).sum())
    # the winners' and losers' amounts in the bands add up to the patients' total change
    assert c.bands["more_fen"].sum() - c.bands["less_fen"].sum() == c.totals["psn_part_amt"]["diff"]
    for dim, frame in c.by.items():
        assert frame["hifp_pay_a"].sum() == c.totals["hifp_pay"]["a"] and frame["hifp_pay_b"].sum() == c.totals["hifp_pay"]["b"], dim
