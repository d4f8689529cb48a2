"""The audit works chunk by chunk as the engine hands the settled claims over (``audit.chunks``):
differences and their causes, review flags and burden lists must be exactly what the whole-frame
functions give over the whole settlement, however the claims are cut — into many chunks (persons
whose second year opens the next chunk, causes replayed in several batches), or into two rule
periods of the same numbers (a person-year continuing from one period into the next)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_engine_properties import claim_sets

from helpers import claim, claims_frame, with_meta
from medclaim.audit import chunks as audit_chunks
from medclaim.audit import causes
from medclaim.audit.burden import burden_lists, year_totals
from medclaim.audit.compare import FIELDS, differences
from medclaim.audit.review import _stays, review_flags
from medclaim.audit.run import audit_claims, audit_files, review_parameters
from medclaim.rules import RuleBook, load_rulebook, resolve_rules_path
from medclaim.settle import CHUNK_ROWS_ENV, settle_claims
from medclaim.status import Exit

RULE_SET = "anhui/dongzhi-2021"
SETTINGS = settings(phases=[Phase.explicit, Phase.reuse, Phase.generate], max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DIFF = ["setl_id", "field", "reported", "computed", "difference", "cause", "rule_key", "message"]
BURDEN = ["list", "psn_no", "year", "identity", "claims", "medfee_sumamt", "psn_part_amt", "burden", "threshold"]


def rows_of(frame: pl.DataFrame, columns: list[str]) -> list[dict]:
    return frame.select(columns).sort(columns[:2]).to_dicts()


def hospital_reported(frame: pl.DataFrame, rb: RuleBook, wrong: RuleBook, every: int) -> pl.DataFrame:
    """The claims carrying a hospital's figures: settled with ``wrong``'s rules on every
    ``every``-th claim, with the right ones on the others."""
    right = settle_claims(frame, rb).ledger.select("setl_id", *FIELDS)
    other = settle_claims(frame, wrong).ledger.select("setl_id", *[pl.col(f).alias(f"_w_{f}") for f in FIELDS])
    picked = frame.select("setl_id", _wrong=(pl.int_range(pl.len()) % every) == 0)
    figures = right.join(other, on="setl_id").join(picked, on="setl_id").select(
        "setl_id", *[pl.when("_wrong").then(pl.col(f"_w_{f}")).otherwise(pl.col(f)).alias(f"reported_{f}") for f in FIELDS])
    return frame.drop([c for c in figures.columns if c != "setl_id" and c in frame.columns]).join(figures, on="setl_id")


def two_years(tmp_path: Path) -> RuleBook:
    """dongzhi-2021's numbers in force for 2021 and 2022 (one period, two benefit years)."""
    return with_meta(tmp_path, RULE_SET, effective_to=dt.date(2022, 12, 31))


def whole(frame: pl.DataFrame, rb: RuleBook) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Differences with causes, flags and burden lists from the whole settlement at once."""
    ledger = settle_claims(frame, rb).ledger
    review, _ = review_parameters(rb)
    diffs = causes.attribute(differences(ledger, 0), ledger, rb, None)
    return diffs, review_flags(ledger, review), burden_lists(year_totals(ledger), list(rb.periods))


@SETTINGS
@given(claim_sets(RULE_SET, min_size=4, max_size=24), st.data())
def test_many_chunks_give_what_the_whole_settlement_gives(tmp_path, monkeypatch, rows, data):
    rb = two_years(tmp_path)
    # about half the claims a year later: a person's 2022 may open the chunk after their 2021
    later = data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    year = dt.timedelta(days=365)
    rows = [dict(r, begndate=r["begndate"] + year, enddate=r["enddate"] + year) if move else r for r, move in zip(rows, later)]
    frame = claims_frame(rows)
    variants = [a for a in causes.alternatives(rb.periods[0]) if a.rs is not None]
    wrong = RuleBook(path=rb.path, periods=(data.draw(st.sampled_from(variants)).rs,), files=rb.files)
    frame = hospital_reported(frame, rb, wrong, data.draw(st.integers(1, 3)))
    diffs, flags, burden = whole(frame, rb)

    monkeypatch.setenv(CHUNK_ROWS_ENV, str(data.draw(st.integers(1, 5))))
    monkeypatch.setattr(audit_chunks, "REPLAY_CLAIMS", data.draw(st.integers(1, 4)))
    got = audit_claims(frame, rb)
    assert rows_of(got.differences, DIFF) == rows_of(diffs, DIFF)
    assert got.flags.to_dicts() == flags.to_dicts()
    assert rows_of(got.burden, BURDEN) == rows_of(burden, BURDEN)
    assert got.summary["claims_audited"] == frame.height


def halves(tmp_path: Path) -> RuleBook:
    """dongzhi-2021 cut into two half-year periods with the same numbers."""
    data = yaml.safe_load(resolve_rules_path(RULE_SET).read_text(encoding="utf-8"))
    folder = tmp_path / "halves"
    folder.mkdir(exist_ok=True)
    for name, (start, end) in {"h1": ("2021-01-01", "2021-06-30"), "h2": ("2021-07-01", "2021-12-31")}.items():
        data["ruleset"].update(id=f"test/{name}", effective_from=start, effective_to=end)
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_rulebook(folder)


@SETTINGS
@given(claim_sets(RULE_SET, min_size=4, max_size=24), st.data())
def test_two_periods_of_the_same_numbers_audit_as_one(tmp_path, rows, data):
    one = load_rulebook(RULE_SET)
    two = halves(tmp_path)
    frame = claims_frame(rows)
    variants = [a for a in causes.alternatives(one.periods[0]) if a.rs is not None]
    wrong = RuleBook(path=one.path, periods=(data.draw(st.sampled_from(variants)).rs,), files=one.files)
    frame = hospital_reported(frame, one, wrong, data.draw(st.integers(1, 3)))
    a, b = audit_claims(frame, one), audit_claims(frame, two)
    assert rows_of(b.differences, DIFF) == rows_of(a.differences, DIFF)
    assert b.flags.to_dicts() == a.flags.to_dicts()
    assert rows_of(b.burden, BURDEN) == rows_of(a.burden, BURDEN)


def test_a_second_half_year_claim_is_replayed_from_the_first_halfs_totals(tmp_path):
    # an ordinary resident's two 2021 stays at a secondary hospital (deductible 500 yuan for the
    # first admission, 250 for the second: the 2nd-admission reduction), one in each half-year
    # period; the hospital settled the second with the full deductible again.  Its cause is the
    # reduction not applied — found only if the replay starts from the first stay's totals
    # (ytd_admissions 1), which the first period's chunk left.
    rows = [
        claim(setl_id="H1", psn_no="P", inscp_scp_amt=10_000_00, begndate="2021-03-01", enddate="2021-03-06"),
        claim(setl_id="H2", psn_no="P", inscp_scp_amt=8_000_00, begndate="2021-09-01", enddate="2021-09-05"),
    ]
    assert settle_claims(claims_frame(rows), load_rulebook(RULE_SET)).ledger.sort("setl_id")["act_pay_dedc"].to_list() == [500_00, 250_00]
    frame = claims_frame(rows).with_columns(
        reported_act_pay_dedc=pl.Series([500_00, 500_00]),
        # basic: (10,000 − 500) × 80 % = 7,600; then (8,000 − 500) × 80 % = 6,000 instead of (8,000 − 250) × 80 % = 6,200
        reported_hifp_pay=pl.Series([7_600_00, 6_000_00]),
    )
    got = audit_claims(frame, halves(tmp_path)).differences.sort("field_order")
    assert got.select("setl_id", "field", "difference", "cause", "rule_key").rows() == [
        ("H2", "act_pay_dedc", 250_00, "deductible", "basic.inpatient.repeat_admission"),
        ("H2", "hifp_pay", -200_00, "deductible", "basic.inpatient.repeat_admission"),
    ]


def test_an_audit_where_every_claim_is_rejected_says_so(tmp_path):
    # the sample hospital file moved to 2024, which no period of the rule set covers: its 12
    # claims are rejected, nothing is settled or compared, and the run says so (status 10, as settle's)
    sample = Path(__file__).resolve().parent.parent / "sample_data" / "dongzhi-2021-03-hospital-d.csv"
    moved = tmp_path / "hospital-d-2024.csv"
    moved.write_text(sample.read_text(encoding="utf-8-sig").replace("2021-03-", "2024-03-"), encoding="utf-8")
    result = audit_files([moved], RULE_SET, tmp_path / "out")
    assert result.status == Exit.NO_RULE_PERIOD
    assert len(result.errors) == 1 and "2024" in result.errors[0] and "--rules shanxi/wenshui-2024" in result.errors[0]
    s = result.summary
    assert (s["rows_read"], s["claims_audited"], s["rows_rejected"], s["claims_compared"]) == (12, 0, 12, 0)
    assert set(s["rejects_by_reason"]) == {"no_rule_in_force"}
    assert result.differences.height == 0 and result.flags.height == 0 and result.burden.height == 0
    for name in ("differences", "flags", "high_burden"):
        assert (tmp_path / "out" / f"{name}.csv").read_text(encoding="utf-8-sig").count("\n") == 1  # the header only


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40), st.integers(0, 15)), min_size=1, max_size=30))
def test_each_stay_knows_the_latest_discharge_of_its_persons_stays_so_far(stays):
    # independent computation: per person, stays in admission order, a running maximum by hand
    day0 = dt.date(2021, 1, 1)
    frame = pl.DataFrame(
        [{"_pk": p, "setl_id": f"S{i:02d}", "benefit_class": "inpatient", "begndate": day0 + dt.timedelta(days=b),
          "enddate": day0 + dt.timedelta(days=b + n)} for i, (p, b, n) in enumerate(stays)],
        schema={"_pk": pl.UInt64, "setl_id": pl.String, "benefit_class": pl.String, "begndate": pl.Date, "enddate": pl.Date},
    )
    got = {r["setl_id"]: (r["_max_end"], r["_max_id"], r["_max_begin"]) for r in _stays(frame.lazy()).collect().to_dicts()}
    expected = {}
    for person in {p for p, _, _ in stays}:
        mine = sorted((r for r in frame.to_dicts() if r["_pk"] == person), key=lambda r: (r["begndate"], r["enddate"], r["setl_id"]))
        latest = None
        for r in mine:
            if latest is None or r["enddate"] >= latest["enddate"]:
                latest = r
            expected[r["setl_id"]] = (latest["enddate"], latest["setl_id"], latest["begndate"])
    assert got == expected


def test_the_replays_of_several_chunks_are_made_together(monkeypatch):
    # each replay has a fixed cost: differing claims of several chunks wait to be replayed at once
    calls = []
    real = audit_chunks.finish
    monkeypatch.setattr(audit_chunks, "finish", lambda pending, book: calls.append(pending.claims) or real(pending, book))
    monkeypatch.setenv(CHUNK_ROWS_ENV, "1")
    rows = [claim(setl_id=f"C{i}", psn_no=f"P{i}") for i in range(5)]
    frame = claims_frame(rows).with_columns(reported_act_pay_dedc=pl.lit(0, dtype=pl.Int64))  # no deductible taken
    monkeypatch.setattr(audit_chunks, "REPLAY_CLAIMS", 2)
    result = audit_claims(frame, load_rulebook(RULE_SET))
    assert calls == [2, 2, 1]  # five chunks of one claim, replayed two by two and the last alone
    assert result.differences["cause"].to_list() == ["deductible"] * 5
