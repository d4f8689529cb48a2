"""Property tests (hypothesis) over random claim sets: a few people, every class / tier / place /
identity, amounts from 0 to 10¹² fen, with the 东至 2021 rule set and the all-layers test rule set.

  1. conservation to the fen, per claim and in total
  2. input order never changes any result
  3. with ``rounding: cumulative``, each person-year's payments equal the annual formulas applied
     to the annual totals (an independent oracle in plain Python ints, below)
  4. no amount is negative
  5. funds never exceed the policy-scope amount (+ class-B first self-pay where counted)
  6. settling in two runs (second from the first's closing) gives the same rows as one run
  7. every claim matches a plain-Python reference settlement written from spec §3, for both
     roundings: per claim, each payment is the receipt formula on the running totals before it
  9. no annual cap or limit is ever exceeded, for both roundings
  8. settling in chunks of whole person-years (any chunk size) gives the same ledger as one pass
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from functools import lru_cache

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tempfile
from pathlib import Path

from helpers import book, claim, claims_frame, rhu, with_meta
from medclaim.settle import settle_claims

BP = 10_000
#: the shipped rule set and the all-layers test rule set, each with both roundings ("@cumulative")
RULE_SETS = ["anhui/dongzhi-2021", "full", "anhui/dongzhi-2021@cumulative", "full@cumulative"]
CUMULATIVE = [n for n in RULE_SETS if n.endswith("@cumulative")]
# 40 examples per test keep the file well under a minute; ENGINE_PROPERTY_EXAMPLES=400 for a deeper search
SETTINGS = settings(
    max_examples=int(os.environ.get("ENGINE_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MONEY_OUT = ["act_pay_dedc", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]


@lru_cache(maxsize=None)
def rules(name):
    base, _, rounding = name.partition("@")
    rb = with_meta(Path(tempfile.mkdtemp()), base, rounding=rounding) if rounding else book(base)
    assert len(rb.periods) == 1
    assert rb.periods[0].ruleset.rounding == (rounding or "per_claim")
    return rb, rb.periods[0]


# ------------------------------------------------------------------ strategies

PLACES = ["", "本地", "市内异地", "省内异地", "跨省异地"]
amount = st.one_of(
    st.just(0),
    st.integers(0, 1_000_00),  # up to 1,000 yuan
    st.integers(0, 100_000_00),  # up to 100,000 yuan
    st.integers(0, 1_000_000_00),  # up to 1,000,000 yuan
    st.integers(0, 10**12),  # huge: up to 10,000,000,000 yuan
)
small_amount = st.one_of(st.just(0), st.just(0), st.integers(0, 5_000_00), st.integers(0, 10**11))


@st.composite
def claim_sets(draw, rule_set_name, min_size=1, max_size=20, mixed_identities=False):
    """Claims of 1–4 people.  With ``mixed_identities`` a person's identity may change between claims
    (someone becomes 低保 in June); otherwise each person keeps one identity all year."""
    _, rs = rules(rule_set_name)
    codes = rs.codes
    first, last = rs.ruleset.effective_from, rs.ruleset.effective_to
    span = (last - first).days
    n_people = draw(st.integers(1, 4))
    people = []
    for i in range(n_people):
        people.append({
            "psn_no": f"P{i}",
            "psn_idet_type": draw(st.sampled_from(sorted(codes.identity))),
            "benefit_start": draw(st.one_of(st.none(), st.just(None),
                                            st.integers(0, span).map(lambda k: first + dt.timedelta(days=k)))),
        })
    n = draw(st.integers(min_size, max_size))
    identities = sorted(codes.identity)
    mixed = mixed_identities and draw(st.booleans())
    # a few shared days, so that equal end dates (and equal start dates) are common: the order then
    # rests on the start date and the settlement id
    busy_days = draw(st.lists(st.integers(0, span), min_size=1, max_size=4))
    rows = []
    for i in range(n):
        p = draw(st.sampled_from(people))
        end = first + dt.timedelta(days=draw(st.one_of(st.sampled_from(busy_days), st.integers(0, span))))
        # a few days of stay; a start before the period is allowed (the end date picks the period)
        beg = end - dt.timedelta(days=draw(st.sampled_from([0, 0, 3, 10, 20])))
        rows.append(claim(
            setl_id=f"S{i:03d}",
            psn_no=p["psn_no"],
            psn_idet_type=draw(st.sampled_from(identities)) if mixed else p["psn_idet_type"],
            benefit_start=p["benefit_start"],
            med_type=draw(st.sampled_from(sorted(codes.med_type))),
            hosp_lv=draw(st.sampled_from(sorted(codes.hosp_lv))),
            pay_loc=draw(st.sampled_from(PLACES)),
            refl_flag=draw(st.sampled_from([True, False, None])),
            begndate=beg,
            enddate=end,
            inscp_scp_amt=draw(amount),
            preselfpay_amt=draw(small_amount),
            fulamt_ownpay_amt=draw(small_amount),
            overlmt_selfpay=draw(small_amount),
            source_row=i + 1,
        ))
    return rows


def run(rows, name, openings=None, **kw):
    rb, _ = rules(name)
    s = settle_claims(claims_frame(rows), rb, openings, **kw)
    assert s.rejects.height == 0, s.rejects.to_dicts()
    return s


def ledger_by_id(s) -> pl.DataFrame:
    return s.ledger.sort("setl_id")


# ------------------------------------------------------------------ the independent oracle


def clamp(bp):
    return min(max(bp, 0), BP)


def mapped(r, rs):
    c = rs.codes
    return (c.med_type[r["med_type"]], c.hosp_lv[r["hosp_lv"]], c.pay_loc[r["pay_loc"]], c.identity[r["psn_idet_type"]])


def year_of(r, rs):
    return r[rs.ruleset.benefit_year_by].year


def is_covered(r, rs):
    cls, tier, _, _ = mapped(r, rs)
    if cls == "excluded":
        return False
    if r["benefit_start"] is not None and r["begndate"] < r["benefit_start"]:
        return False
    go = rs.basic.general_outpatient
    if cls == "general_outpatient" and go.covered_tiers is not None and tier not in go.covered_tiers:
        return False
    return True


def counts_pre(rs):
    return rs.critical is not None and rs.critical.include_preselfpay is not None


def critical_formula(rs, ident):
    """F_大病(cumulative base) for an identity, written from the rule set's bands (plain ints)."""
    bands, cap = critical_bands(rs, ident)

    def F(c):
        paid = rhu(sum(part_in(c, lower, upper) * ratio for lower, upper, ratio in bands))
        return paid if cap is None else min(paid, cap)

    return F


def part_in(c, lower, upper):
    """How much of the cumulative amount c lies in the band [lower, upper)."""
    over = max(c - lower, 0)
    return over if upper is None else min(over, max(upper - lower, 0))


def assistance_formula(rs, ident):
    s = rs.assistance.schemes.get(ident) if rs.assistance else None
    if s is None:
        return None

    def F(c):
        paid = rhu(max(c - s.annual_deductible, 0) * s.ratio)
        return paid if s.annual_limit is None else min(paid, s.annual_limit)

    return F


def critical_bands(rs, ident):
    """(lower, upper, ratio) of each 大病 band for an identity, and its cap (None: no cap)."""
    ci = rs.critical
    tilt = ci.identity_tilt.get(ident)
    factor = tilt.threshold_factor if tilt else BP
    points = tilt.ratio_points if tilt else 0
    cap = None if (ci.annual_cap is None or (tilt and tilt.no_cap)) else ci.annual_cap.value
    bands = [(rhu(b.from_ * factor) if i == 0 else b.from_, b.to, clamp(b.ratio + points)) for i, b in enumerate(ci.segments.bands)]
    return bands, cap


def receipt(before, after, bands):
    """The receipt's payment before caps: Σ (this claim's part in each band × ratio), rounded once."""
    return rhu(sum((part_in(after, lo, up) - part_in(before, lo, up)) * r for lo, up, r in bands))


def room_limited(state, key, u, cap):
    """A cap limits the rounded payment u to the room left: cap − what the year paid so far
    (whatever identity it was paid under), never below 0."""
    pay = u if cap is None else min(u, max(cap - state[key], 0))
    state[key] += pay
    return pay


def reference_settlement(rows, rs):
    """Settle claims one by one in plain Python, straight from spec §3 and the rule set's numbers."""
    per_claim = rs.ruleset.rounding == "per_claim"
    out = {}
    state = defaultdict(lambda: {"adm": 0, "chronic": 0, "caps": defaultdict(int), "ci": 0, "ma": 0, "ci_u": 0, "ma_u": 0})
    order = sorted(rows, key=lambda r: (r["psn_no"], year_of(r, rs), r["enddate"], r["begndate"], r["setl_id"]))
    b = rs.basic
    for r in order:
        st_ = state[(r["psn_no"], year_of(r, rs))]
        cls, tier, place, ident = mapped(r, rs)
        covered = is_covered(r, rs)
        scope = r["inscp_scp_amt"] if covered else 0
        # class-B first self-pay joins the compliant amount of the 大病 classes only
        pre = r["preselfpay_amt"] if covered and counts_pre(rs) and cls in rs.critical.classes else 0
        raw = dedc = 0
        if covered and cls == "inpatient":
            ip = b.inpatient
            st_["adm"] += 1
            d0 = ip.deductible.by_place.get(place, {}).get(tier, ip.deductible.by_tier[tier])
            repeat = BP
            if ip.repeat_admission:
                for nth, f in sorted(ip.repeat_admission.deductible_factor_by_nth.items()):
                    if st_["adm"] >= nth:
                        repeat = f
            adj = ip.identity.get(ident)
            ded = rhu(d0 * repeat * (adj.deductible_factor if adj else BP), BP * BP)
            ratio = ip.ratio.by_place.get(place, {}).get(tier, ip.ratio.by_tier[tier])
            if ip.referral:
                row = ip.referral.by_place.get(place)  # the place's own pair, else the shorthand
                if row is not None:
                    ratio += row.referred if r["refl_flag"] else row.unreferred
                elif r["refl_flag"]:
                    ratio += ip.referral.referred_points
                elif place != "local":
                    ratio += ip.referral.unreferred_offsite_points
            ratio = clamp(ratio + (adj.ratio_points if adj else 0))
            raw, dedc = rhu(max(scope - ded, 0) * ratio), min(scope, ded)
        elif covered and cls == "general_outpatient":
            go = b.general_outpatient
            ded = go.per_visit_deductible.value if go.per_visit_deductible else 0
            ratio = go.ratio.by_place.get(place, {}).get(tier, go.ratio.by_tier[tier])
            raw, dedc = rhu(max(scope - ded, 0) * ratio), min(scope, ded)
            if go.per_visit_cap:
                raw = min(raw, go.per_visit_cap.value)
        elif covered and cls == "chronic_outpatient":
            co = b.chronic_outpatient
            D, before = co.annual_deductible.value, st_["chronic"]
            st_["chronic"] += scope
            after = st_["chronic"]
            if per_claim:  # this claim's part above the deductible still to bear × ratio
                raw = rhu((max(after - D, 0) - max(before - D, 0)) * co.ratio.value)
            else:
                raw = rhu(max(after - D, 0) * co.ratio.value) - rhu(max(before - D, 0) * co.ratio.value)
            dedc = min(after, D) - min(before, D)
        elif covered and cls == "two_diseases":
            raw = rhu(scope * b.two_diseases.ratio.value)
        hifp = raw
        for cap in b.annual_caps:
            if cls in cap.classes:
                before = st_["caps"][cap.name]
                st_["caps"][cap.name] += hifp
                hifp = min(st_["caps"][cap.name], cap.value) - min(before, cap.value)
        hifmi = 0
        if rs.critical and covered and cls in rs.critical.classes:
            F = critical_formula(rs, ident)
            before = st_["ci"]
            st_["ci"] += scope - hifp + pre
            if per_claim:
                bands, cap = critical_bands(rs, ident)
                hifmi = room_limited(st_, "ci_u", receipt(before, st_["ci"], bands), cap)
            else:
                hifmi = F(st_["ci"]) - F(before)
        maf = 0
        G = assistance_formula(rs, ident)
        if G and covered and cls in rs.assistance.classes:
            before = st_["ma"]
            st_["ma"] += scope + pre - hifp - hifmi
            if per_claim:
                s = rs.assistance.schemes[ident]
                u = receipt(before, st_["ma"], [(s.annual_deductible, None, s.ratio)])
                maf = room_limited(st_, "ma_u", u, s.annual_limit)
            else:
                maf = G(st_["ma"]) - G(before)
        fund = hifp + hifmi + maf
        out[r["setl_id"]] = {"act_pay_dedc": dedc, "hifp_pay": hifp, "hifmi_pay": hifmi, "maf_pay": maf,
                             "fund_pay_sumamt": fund, "psn_part_amt": r["medfee_sumamt"] - fund}
    return out


# ------------------------------------------------------------------ 1, 4, 5: per claim and in total


@pytest.mark.parametrize("name", RULE_SETS)
@SETTINGS
@given(data=st.data())
def test_conservation_nonnegative_and_within_scope(name, data):
    rows = data.draw(claim_sets(name, mixed_identities=True))
    _, rs = rules(name)
    led = run(rows, name).ledger
    assert led.height == len(rows)
    src = {r["setl_id"]: r for r in rows}
    for row in led.iter_rows(named=True):
        # 1. conservation to the fen
        assert row["fund_pay_sumamt"] == row["hifp_pay"] + row["hifmi_pay"] + row["maf_pay"]
        assert row["fund_pay_sumamt"] + row["psn_part_amt"] == row["medfee_sumamt"] == src[row["setl_id"]]["medfee_sumamt"]
        # 4. nothing negative
        for col in MONEY_OUT + [c for c in led.columns if c.startswith("ytd_")]:
            assert row[col] >= 0, (col, row["setl_id"])
        # 5. within the policy scope (+ class-B first self-pay where 大病 counts it)
        counted = counts_pre(rs) and row["benefit_class"] in rs.critical.classes
        bound = row["inscp_scp_amt"] + (row["preselfpay_amt"] if counted else 0)
        assert row["fund_pay_sumamt"] <= bound
        assert row["hifp_pay"] <= row["inscp_scp_amt"]
        assert row["act_pay_dedc"] <= row["inscp_scp_amt"]
    t = led.select(pl.col("medfee_sumamt", "fund_pay_sumamt", "psn_part_amt", "hifp_pay", "hifmi_pay", "maf_pay").sum()).row(0, named=True)
    assert t["medfee_sumamt"] == t["fund_pay_sumamt"] + t["psn_part_amt"] == sum(r["medfee_sumamt"] for r in rows)
    assert t["fund_pay_sumamt"] == t["hifp_pay"] + t["hifmi_pay"] + t["maf_pay"]


# ------------------------------------------------------------------ 2: input order


@pytest.mark.parametrize("name", RULE_SETS)
@SETTINGS
@given(data=st.data())
def test_input_order_never_changes_a_result(name, data):
    rows = data.draw(claim_sets(name, min_size=2, mixed_identities=True))
    shuffled = data.draw(st.permutations(rows))
    a, b = run(rows, name), run(shuffled, name)
    assert ledger_by_id(a).equals(ledger_by_id(b))
    assert a.closing.sort("psn_no", "year").equals(b.closing.sort("psn_no", "year"))


# ------------------------------------------------------------------ 3: annual formulas on annual totals


def merged_cap_totals(rs, raw_by_class):
    """Σ basic payment per cap group after the caps in rule-file order, from each class's Σ raw.

    A later cap must contain every earlier group it touches (true for the rule sets tested), so the
    group totals are fixed by the annual totals alone.
    """
    groups = {frozenset([c]): raw_by_class.get(c, 0) for c in ("inpatient", "general_outpatient",
                                                             "chronic_outpatient", "two_diseases")}
    for cap in rs.basic.annual_caps:
        members = frozenset(cap.classes)
        touched = [g for g in groups if g & members]
        assert all(g <= members for g in touched), "cap groups overlap in a way the oracle does not model"
        total = sum(groups.pop(g) for g in touched)
        groups[frozenset().union(*touched)] = min(total, cap.value)
    return groups


@pytest.mark.parametrize("name", CUMULATIVE)
@SETTINGS
@given(data=st.data())
def test_annual_payments_equal_the_annual_formula_of_the_totals(name, data):
    rows = data.draw(claim_sets(name, max_size=25))
    _, rs = rules(name)
    led = run(rows, name).ledger
    for (psn, year), py in led.group_by(["psn_no", "year"]):
        claims = list(py.iter_rows(named=True))
        src = [r for r in rows if r["psn_no"] == psn and year_of(r, rs) == year]
        ident = {mapped(r, rs)[3] for r in src}
        assert len(ident) == 1
        ident = ident.pop()
        cov = [(r, mapped(r, rs)[0]) for r in src if is_covered(r, rs)]

        def scope_of(classes, with_pre):
            return sum(r["inscp_scp_amt"] + (r["preselfpay_amt"] if with_pre and counts_pre(rs) and c in rs.critical.classes else 0)
                       for r, c in cov if c in classes)

        def paid(col, classes=None):
            return sum(c[col] for c in claims if classes is None or c["benefit_class"] in classes)

        # chronic: Σ raw = round((Σ scope − D)⁺ × r), whatever the split into claims
        co = rs.basic.chronic_outpatient
        assert paid("hifp_raw", {"chronic_outpatient"}) == rhu(
            max(scope_of({"chronic_outpatient"}, False) - co.annual_deductible.value, 0) * co.ratio.value)
        # caps: Σ over each cap group = min(Σ of what reaches the cap, cap)
        raw_by_class = {c: paid("hifp_raw", {c}) for c in ("inpatient", "general_outpatient", "chronic_outpatient", "two_diseases")}
        for group, total in merged_cap_totals(rs, raw_by_class).items():
            assert paid("hifp_pay", group) == total, group
        # 大病: Σ hifmi = F(Σ base), base = policy (+ class-B where counted) − basic, over the named classes
        ci_classes = set(rs.critical.classes)
        ci_base = scope_of(ci_classes, True) - paid("hifp_pay", ci_classes)
        assert paid("hifmi_pay") == critical_formula(rs, ident)(ci_base)
        # assistance: Σ maf = min(round((Σ base − deductible)⁺ × ratio), limit)
        G = assistance_formula(rs, ident)
        if G is None:
            assert paid("maf_pay") == 0
        else:
            ma_classes = set(rs.assistance.classes)
            ma_base = scope_of(ma_classes, True) - paid("hifp_pay", ma_classes) - paid("hifmi_pay", ma_classes)
            assert paid("maf_pay") == G(ma_base)


# ------------------------------------------------------------------ 6: two runs = one run


@pytest.mark.parametrize("name", RULE_SETS)
@SETTINGS
@given(data=st.data())
def test_two_runs_from_closing_equal_one_run(name, data):
    rows = data.draw(claim_sets(name, min_size=2, mixed_identities=True))
    dates = sorted({r["enddate"] for r in rows})
    cut = data.draw(st.sampled_from(dates))
    first = [r for r in rows if r["enddate"] < cut]
    second = [r for r in rows if r["enddate"] >= cut]
    whole = run(rows, name)
    s1 = run(first, name) if first else None
    s2 = run(second, name, openings=s1.closing if s1 else None)
    parts = [s.ledger for s in (s1, s2) if s is not None]
    split = pl.concat(parts, how="diagonal_relaxed").sort("setl_id").drop("run_start")
    assert split.equals(whole.ledger.sort("setl_id").drop("run_start"))
    assert s2.closing.sort("psn_no", "year").equals(whole.closing.sort("psn_no", "year"))


# ------------------------------------------------------------------ 7: claim by claim against the reference


@pytest.mark.parametrize("name", RULE_SETS)
@SETTINGS
@given(data=st.data())
def test_every_claim_matches_the_reference_settlement(name, data):
    rows = data.draw(claim_sets(name, max_size=25, mixed_identities=True))
    _, rs = rules(name)
    expected = reference_settlement(rows, rs)
    got = {r["setl_id"]: {k: r[k] for k in MONEY_OUT} for r in run(rows, name).ledger.iter_rows(named=True)}
    assert got == expected


# ------------------------------------------------------------------ 8: chunked settlement


@pytest.mark.parametrize("name", RULE_SETS)
@SETTINGS
@given(data=st.data())
def test_chunk_size_never_changes_a_result(name, data):
    rows = data.draw(claim_sets(name, min_size=2, mixed_identities=True))
    chunk_rows = data.draw(st.integers(1, 6))
    whole, chunked = run(rows, name), run(rows, name, chunk_rows=chunk_rows)
    assert chunked.ledger.equals(whole.ledger)
    assert chunked.closing.sort("psn_no", "year").equals(whole.closing.sort("psn_no", "year"))


# ------------------------------------------------------------------ 9: no cap or limit exceeded


@pytest.mark.parametrize("name", RULE_SETS)
@SETTINGS
@given(data=st.data())
def test_no_annual_cap_or_limit_is_exceeded(name, data):
    rows = data.draw(claim_sets(name, max_size=25))
    _, rs = rules(name)
    led = run(rows, name).ledger
    for _, py in led.group_by(["psn_no", "year"]):
        claims = list(py.iter_rows(named=True))
        ident = claims[0]["identity"]  # one identity per person here
        for cap in rs.basic.annual_caps:
            assert sum(c["hifp_pay"] for c in claims if c["benefit_class"] in cap.classes) <= cap.value
        _, ci_cap = critical_bands(rs, ident)
        if ci_cap is not None:
            assert sum(c["hifmi_pay"] for c in claims) <= ci_cap
        scheme = rs.assistance.schemes.get(ident) if rs.assistance else None
        if scheme is not None and scheme.annual_limit is not None:
            assert sum(c["maf_pay"] for c in claims) <= scheme.annual_limit
        # the running totals the ledger keeps are the sums of the payments
        assert claims[-1]["ytd_hifmi"] == sum(c["hifmi_pay"] for c in claims)
        assert claims[-1]["ytd_maf"] == sum(c["maf_pay"] for c in claims)
