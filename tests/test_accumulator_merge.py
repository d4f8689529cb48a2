"""The accumulator after a run, computed from what the run changed only.

``chunk_last_claims`` reads each person-year's last settled claim off a chunk in settlement order
without sorting; it must equal ``last_claims`` (which sorts, whatever the order) on every chunk the
engine hands out, reversals included.  ``next_accumulator`` carries the person-years a run did not
touch over as they were: checked on a small ledger worked by hand here, and on random runs by the
continuation properties (tests/test_ledger_continuation.py: the accumulator equals one run's
closing balances and ``ledger verify``'s rebuild from the entries).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import book, claim, claims_frame
from medclaim import store
from medclaim.pipeline import append_claims
from medclaim.settle import settle_claims
from medclaim.store.accumulator import chunk_last_claims, combine_last, last_claims, next_accumulator

D = dt.date


def by_keys(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(store.KEYS + list(store.LAST_COLUMNS)).sort(store.KEYS)


# ------------------------------------------------------------------ next_accumulator, by hand


def test_next_accumulator_worked_by_hand():
    old = pl.DataFrame(
        {
            "psn_no": ["A", "B", "C", "A"],
            "year": [2021, 2021, 2021, 2020],
            "ytd_claims": [2, 1, 3, 5],
            "ytd_hifp": [100, 200, 300, 400],
            "last_enddate": [D(2021, 3, 1), D(2021, 2, 1), D(2021, 5, 1), D(2020, 12, 1)],
            "last_begndate": [D(2021, 2, 20), D(2021, 1, 30), D(2021, 4, 25), D(2020, 11, 1)],
            "last_setl_id": ["a2", "b1", "c3", "a0"],
        },
        schema_overrides={"year": pl.Int32},
    )
    # the run settled claims of B 2021 (ending after its last), C 2021 (a late claim: ends before
    # its last) and a new person-year D 2021; A's two years are untouched
    changed = pl.DataFrame(
        {"psn_no": ["B", "C", "D"], "year": [2021, 2021, 2021], "ytd_claims": [2, 4, 1], "ytd_hifp": [250, 310, 70],
         "ytd_maf": [5, 0, 0]},
        schema_overrides={"year": pl.Int32},
    )
    run_last = pl.DataFrame(
        {"psn_no": ["B", "C", "D"], "year": [2021, 2021, 2021],
         "last_enddate": [D(2021, 6, 1), D(2021, 4, 1), D(2021, 6, 9)],
         "last_begndate": [D(2021, 5, 28), D(2021, 3, 30), D(2021, 6, 1)],
         "last_setl_id": ["b2", "c4", "d1"]},
        schema_overrides={"year": pl.Int32},
    )
    got = next_accumulator(old, changed, run_last).sort(store.KEYS)
    expected = pl.DataFrame(
        {
            "psn_no": ["A", "A", "B", "C", "D"],
            "year": [2020, 2021, 2021, 2021, 2021],
            "ytd_claims": [5, 2, 2, 4, 1],
            "ytd_hifp": [400, 100, 250, 310, 70],
            "ytd_maf": [0, 0, 5, 0, 0],  # a running total the old accumulator lacked is 0 there
            "last_enddate": [D(2020, 12, 1), D(2021, 3, 1), D(2021, 6, 1), D(2021, 5, 1), D(2021, 6, 9)],
            "last_begndate": [D(2020, 11, 1), D(2021, 2, 20), D(2021, 5, 28), D(2021, 4, 25), D(2021, 6, 1)],
            "last_setl_id": ["a0", "a2", "b2", "c3", "d1"],  # C keeps its later old claim
        },
        schema_overrides={"year": pl.Int32},
    )
    assert got.equals(expected), got
    # a first run: no old accumulator
    first = next_accumulator(None, changed, run_last).sort(store.KEYS)
    assert first["last_setl_id"].to_list() == ["b2", "c4", "d1"] and first["ytd_hifp"].to_list() == [250, 310, 70]


def test_combine_last_takes_the_later_claim_of_a_person_year_in_two_parts():
    # (two rule-set periods of one year settle in two chunks: the later claim wins, whatever the part order)
    first = pl.DataFrame({"psn_no": ["A", "B"], "year": [2021, 2021], "last_enddate": [D(2021, 7, 10), D(2021, 1, 1)],
                          "last_begndate": [D(2021, 6, 28), D(2021, 1, 1)], "last_setl_id": ["a1", "b1"]},
                         schema_overrides={"year": pl.Int32})
    second = pl.DataFrame({"psn_no": ["A"], "year": [2021], "last_enddate": [D(2021, 7, 5)],
                           "last_begndate": [D(2021, 7, 2)], "last_setl_id": ["a2"]}, schema_overrides={"year": pl.Int32})
    assert by_keys(combine_last([first, second]))["last_setl_id"].to_list() == ["a1", "b1"]
    third = second.with_columns(last_enddate=pl.lit(D(2021, 7, 10)), last_begndate=pl.lit(D(2021, 6, 28)), last_setl_id=pl.lit("a0"))
    # equal dates: the settlement id decides (a1 > a0)
    assert by_keys(combine_last([third, first]))["last_setl_id"].to_list() == ["a1", "b1"]


# ------------------------------------------------------------------ chunk_last_claims == last_claims

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@st.composite
def months(draw):
    days = st.integers(0, 300)
    rows = []
    for i in range(draw(st.integers(1, 14))):
        end = D(2021, 1, 1) + dt.timedelta(days=draw(days))
        rows.append(claim(
            setl_id=f"S{draw(st.integers(0, 40)):03d}-{i}", psn_no=draw(st.sampled_from(["P1", "P2", "P3"])),
            begndate=end - dt.timedelta(days=draw(st.integers(0, 3))), enddate=end,
            inscp_scp_amt=draw(st.integers(0, 50_000_00)), source_row=i + 1,
        ))
    return rows


@SETTINGS
@given(first=months(), second=months(), reversed_share=st.integers(0, 3), chunk_rows=st.integers(1, 4))
def test_chunk_last_claims_equals_sorted_last_claims(tmp_path_factory, first, second, reversed_share, chunk_rows):
    rb = book("full")
    ledger = tmp_path_factory.mktemp("ledger")
    append_claims(ledger, claims_frame(first), rb)
    originals = store.read_ledger(ledger).head(reversed_share)
    # a chunk mixing reversals of earlier claims (they sort first in their person-year) and new claims
    claims = pl.concat([claims_frame(second), store.reversal_claims(originals, "test")], how="diagonal_relaxed")
    chunks: list[pl.DataFrame] = []
    settle_claims(claims, rb, store.read_accumulator(ledger), sink=chunks.append, chunk_rows=chunk_rows)
    assert sum(c.height for c in chunks) == claims.height
    for chunk in chunks:
        assert "run_start" in chunk.columns
        assert by_keys(chunk_last_claims(chunk)).equals(by_keys(last_claims(chunk)))
    if chunks:
        together = by_keys(combine_last([chunk_last_claims(c) for c in chunks]))
        assert together.equals(by_keys(last_claims(pl.concat(chunks, how="diagonal_relaxed"))))
