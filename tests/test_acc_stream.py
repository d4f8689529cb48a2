"""The next accumulator written chunk by chunk while a run settles (``store.acc_stream``).

Whatever the chunks (a person's years split between two of them, one person per chunk, persons
the run does not touch between them), the streamed accumulator must be the one merged whole at
the end (``next_accumulator``) and the one rebuilt from the ledger's entries (``ledger verify``);
with two rule periods in one run the stream gives up and the whole merge is used.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import book, claim, claims_frame
from medclaim import store
from medclaim.pipeline import append_claims
from medclaim.person import person_hash
from medclaim.settle import CHUNK_ROWS_ENV
from medclaim.store import acc_stream
from medclaim.store.accumulator import accumulator_from_entries

D = dt.date
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@st.composite
def runs(draw):
    """Claims of up to six people over two years, in two runs (the second may touch any of them)."""
    def claims(tag: str) -> list[dict]:
        rows = []
        for i in range(draw(st.integers(1, 10))):
            end = D(draw(st.sampled_from([2021, 2022])), 1, 1) + dt.timedelta(days=draw(st.integers(0, 360)))
            rows.append(claim(setl_id=f"{tag}{i:02d}", psn_no=f"P{draw(st.integers(0, 5))}", begndate=end, enddate=end,
                              inscp_scp_amt=draw(st.integers(0, 80_000_00)), source_row=i + 1))
        return rows
    return claims("A"), claims("B")


def used_stream(monkeypatch) -> list[int | None]:
    """What each stream's ``finish`` gave (rows written; None: it gave up)."""
    seen: list[int | None] = []
    finish = acc_stream.AccumulatorStream.finish

    def spy(self):
        seen.append(finish(self))
        return seen[-1]

    monkeypatch.setattr(acc_stream.AccumulatorStream, "finish", spy)
    return seen


def rebuilt(root) -> pl.DataFrame:
    return accumulator_from_entries(store.scan_ledger(root))


@SETTINGS
@given(runs(), st.integers(1, 4))
def test_streamed_accumulator_equals_the_rebuilt_one(tmp_path_factory, monkeypatch, claim_runs, chunk_rows):
    monkeypatch.setenv(CHUNK_ROWS_ENV, str(chunk_rows))
    seen = used_stream(monkeypatch)
    root = tmp_path_factory.mktemp("ledger")
    rb = book("full")
    for rows in claim_runs:
        append_claims(root, claims_frame(rows), rb)
    assert seen and all(n is not None for n in seen)  # the stream wrote each run's accumulator
    acc = store.read_accumulator(root)
    # in person-hash order, as each chunk's slice of the openings needs
    assert acc.equals(acc.sort(person_hash(pl.col("psn_no")), "year"))
    assert acc.equals(rebuilt(root).select(acc.columns))
    assert store.verify(root) == []


def test_a_persons_years_split_between_chunks_and_untouched_people_between(tmp_path, monkeypatch):
    # one claim per chunk: P1's 2021 and 2022 fall in two chunks; P2..P5 only in the first run
    monkeypatch.setenv(CHUNK_ROWS_ENV, "1")
    seen = used_stream(monkeypatch)
    rb = book("full")
    first = [claim(setl_id=f"A{i}", psn_no=f"P{i}", begndate=D(2021, 3, 1), enddate=D(2021, 3, 2), inscp_scp_amt=10_000_00)
             for i in range(1, 6)]
    append_claims(tmp_path, claims_frame(first), rb)
    second = [claim(setl_id="B1", psn_no="P1", begndate=D(2021, 5, 1), enddate=D(2021, 5, 2), inscp_scp_amt=20_000_00),
              claim(setl_id="B2", psn_no="P1", begndate=D(2022, 2, 1), enddate=D(2022, 2, 2), inscp_scp_amt=5_000_00)]
    append_claims(tmp_path, claims_frame(second), rb)
    assert seen == [5, 6]  # five person-years, then P1's 2022 added
    acc = store.read_accumulator(tmp_path)
    p1 = acc.filter(pl.col("psn_no") == "P1").sort("year")
    # P1 2021: two claims, inscp 10,000 + 20,000 yuan; its last claim is B1
    assert p1["ytd_claims"].to_list() == [2, 1] and p1["last_setl_id"].to_list() == ["B1", "B2"]
    assert acc.equals(rebuilt(tmp_path).select(acc.columns))


def test_two_rule_periods_in_one_run_merge_the_whole_accumulator(tmp_path, monkeypatch):
    from test_audit_chunks import halves

    monkeypatch.setenv(CHUNK_ROWS_ENV, "1")
    seen = used_stream(monkeypatch)
    rb = halves(tmp_path)
    led = tmp_path / "ledger"
    append_claims(led, claims_frame([claim(setl_id="A", begndate=D(2021, 2, 1), enddate=D(2021, 2, 3))]), rb)
    append_claims(led, claims_frame([claim(setl_id="X", begndate=D(2021, 3, 1), enddate=D(2021, 3, 5)),
                                     claim(setl_id="Y", begndate=D(2021, 8, 1), enddate=D(2021, 8, 5)),
                                     claim(setl_id="Z", psn_no="P2", begndate=D(2021, 9, 1), enddate=D(2021, 9, 5))]), rb)
    assert seen[-1] is None  # P1 2021 closes in both periods: the stream gave up
    acc = store.read_accumulator(led)
    assert acc.filter(pl.col("psn_no") == "P1")["ytd_claims"].to_list() == [3]
    assert acc.equals(rebuilt(led).select(acc.columns))
    assert store.verify(led) == []
