"""person.ByPerson: the rows of a chunk's persons, found by one slice of the person-hash order."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

import medclaim.person as person
from medclaim.person import ByPerson, person_hash, person_year_key, repeats_person_year, strictly_increasing


@settings(max_examples=50, deadline=None)
@given(everyone=st.lists(st.text(alphabet="0123456789X", min_size=1, max_size=6), min_size=0, max_size=40, unique=True),
       data=st.data(), in_hash_order=st.booleans())
def test_covering_holds_every_row_of_the_asked_persons(everyone, data, in_hash_order):
    frame = pl.DataFrame({"psn_no": everyone, "ytd": list(range(len(everyone)))}, schema={"psn_no": pl.String, "ytd": pl.Int64})
    if in_hash_order:  # as the accumulator is kept: slices instead of gathers
        frame = frame.sort(person_hash(pl.col("psn_no")))
    asked = data.draw(st.lists(st.sampled_from(everyone), max_size=10)) if everyone else []
    got = ByPerson(frame).covering(pl.Series(asked, dtype=pl.String))
    # every row of an asked person is there, unchanged
    want = frame.filter(pl.col("psn_no").is_in(asked))
    assert want.join(got, on=["psn_no", "ytd"], how="anti").height == 0
    # and nothing outside the asked persons' hash range
    if asked:
        lo, hi = person_hash(pl.Series(asked)).min(), person_hash(pl.Series(asked)).max()
        assert got.select(person_hash(pl.col("psn_no")).is_between(lo, hi).all()).item()
    else:
        assert got.height == 0


def test_a_chunk_of_the_engine_order_gets_about_its_share():
    """Persons in hash order, cut in five stretches: each stretch's slice is its own persons only."""
    people = pl.DataFrame({"psn_no": [f"P{i:05d}" for i in range(5000)]}).with_columns(ytd=pl.lit(1, pl.Int64))
    ordered = people.sort(person_hash(pl.col("psn_no")))
    index = ByPerson(people)
    for k in range(5):
        stretch = ordered.slice(k * 1000, 1000)
        assert index.covering(stretch["psn_no"]).height == 1000


def test_the_accumulator_is_kept_in_person_hash_order(tmp_path):
    """Runs into a ledger keep the accumulator in person-hash order (so ByPerson slices it) —
    whatever order the first accumulator had and whichever person-years a run touches."""
    import datetime as dt

    from helpers import book, claim, claims_frame
    from medclaim import store
    from medclaim.pipeline import append_claims

    rb = book("full")
    people = [f"P{i:03d}" for i in range(60)]
    for month in (1, 2, 3):
        rows = [claim(setl_id=f"M{month}-{p}", psn_no=p, begndate=dt.date(2021, month, 1), enddate=dt.date(2021, month, 2))
                for i, p in enumerate(people) if (i + month) % 3]  # each month touches two thirds of the persons
        append_claims(tmp_path, claims_frame(rows), rb)
        acc = store.read_accumulator(tmp_path)
        assert acc.height == len(people) if month > 1 else acc.height == 40
        assert person_hash(acc["psn_no"]).is_sorted()


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["P1", "P2", "P3", "P4", "P5"]), st.integers(2019, 2022)), max_size=15),
       in_order=st.booleans(), buckets=st.sampled_from([0, 1, 2]), data=st.data())
def test_repeats_person_year_is_a_plain_duplicate_check(rows, in_order, buckets, data):
    """Opening balances holding a person-year twice are refused (the claims would join twice): the
    check that looks at neighbours in (hash, year) order answers as a plain duplicate check, in
    that order or not, and when people's hashes meet (``buckets``: ids hash to that many values)."""
    frame = pl.DataFrame(rows, schema={"psn_no": pl.String, "year": pl.Int32}, orient="row")
    with pytest.MonkeyPatch.context() as m:
        if buckets:
            m.setattr(person, "person_hash", lambda e: e.hash(seed=1) % buckets)
        if in_order:
            frame = frame.sort(person.person_hash(pl.col("psn_no")), "year")
        assert repeats_person_year(frame) == frame.select(pl.struct("psn_no", "year").is_duplicated().any()).item()


def test_person_year_key_orders_as_hash_then_year():
    hashes = pl.Series([0, 0, 5, 2**64 - 1], dtype=pl.UInt64)
    years = pl.Series([-3, 2021, -2**31, 2**31 - 1], dtype=pl.Int32)
    key = person_year_key(hashes, years)
    assert key.is_sorted() and key.n_unique() == 4
    assert person_year_key(pl.Series([1, 0], dtype=pl.UInt64), pl.Series([-2**31, 2**31 - 1], dtype=pl.Int32)).is_sorted(descending=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=30))
def test_strictly_increasing_is_each_key_above_the_one_before(keys):
    expected = all(a < b for a, b in zip(keys, keys[1:]))
    assert strictly_increasing(pl.Series(keys, dtype=pl.Int128)) is expected
