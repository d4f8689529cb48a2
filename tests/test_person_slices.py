"""person.ByPerson: the rows of a chunk's persons, found by one slice of the person-hash order."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings, strategies as st

from medclaim.person import ByPerson, person_hash


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
