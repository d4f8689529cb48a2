"""The accumulator after a run, computed from what the run changed only.

The closing balances of a run (``Settlement.changed``) carry each person-year's last settled claim,
read off the engine's settlement order without sorting; it must equal ``last_claims`` (which sorts,
whatever the order) over the chunks the engine hands out, reversals included.  ``next_accumulator``
carries the person-years a run did not touch over as they were: checked on a small ledger worked by hand here, and on random runs by the
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
from medclaim.person import person_hash
from medclaim.pipeline import append_claims
from medclaim.balances import after_period
from medclaim.settle import settle_claims
from medclaim.store.accumulator import last_claims, next_accumulator

D = dt.date


def by_keys(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(store.KEYS + list(store.LAST_COLUMNS)).sort(store.KEYS)


# ------------------------------------------------------------------ next_accumulator, by hand


def _hand_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
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
    # its last) and a new person-year D 2021, and only a reversal of A 2020 (no last claim of its
    # own: null); A 2021 is untouched
    changed = pl.DataFrame(
        {"psn_no": ["B", "C", "D", "A"], "year": [2021, 2021, 2021, 2020], "ytd_claims": [2, 4, 1, 4],
         "ytd_hifp": [250, 310, 70, 350], "ytd_maf": [5, 0, 0, 0],
         "last_enddate": [D(2021, 6, 1), D(2021, 4, 1), D(2021, 6, 9), None],
         "last_begndate": [D(2021, 5, 28), D(2021, 3, 30), D(2021, 6, 1), None],
         "last_setl_id": ["b2", "c4", "d1", None]},
        schema_overrides={"year": pl.Int32},
    )
    return old, changed


def test_next_accumulator_worked_by_hand():
    old, changed = _hand_frames()
    got = next_accumulator(old, changed)
    expected = pl.DataFrame(
        {
            "psn_no": ["A", "A", "B", "C", "D"],
            "year": [2020, 2021, 2021, 2021, 2021],
            "ytd_claims": [4, 2, 2, 4, 1],
            "ytd_hifp": [350, 100, 250, 310, 70],
            "ytd_maf": [0, 0, 5, 0, 0],  # a running total the old accumulator lacked is 0 there
            "last_enddate": [D(2020, 12, 1), D(2021, 3, 1), D(2021, 6, 1), D(2021, 5, 1), D(2021, 6, 9)],
            "last_begndate": [D(2020, 11, 1), D(2021, 2, 20), D(2021, 5, 28), D(2021, 4, 25), D(2021, 6, 1)],
            "last_setl_id": ["a0", "a2", "b2", "c3", "d1"],  # C keeps its later old claim, A 2020 its old one
        },
        schema_overrides={"year": pl.Int32},
    )
    assert got.sort(store.KEYS).equals(expected), got
    # in person-hash order, as each chunk's slice of the openings needs (``person.ByPerson``)
    assert got.equals(got.sort(person_hash(pl.col("psn_no")), "year"))
    # a first run: no old accumulator
    first = next_accumulator(None, changed).sort(store.KEYS)
    assert first["last_setl_id"].to_list() == [None, "b2", "c4", "d1"] and first["ytd_hifp"].to_list() == [350, 250, 310, 70]


def test_people_whose_ids_share_a_hash_keep_their_own_rows(monkeypatch):
    # every id hashes alike: the merge cannot tell people apart by hash and sorts on the id
    monkeypatch.setattr("medclaim.store.accumulator.person_hash", lambda e: pl.lit(7, dtype=pl.UInt64))
    last = {"last_enddate": [D(2021, 1, 1)] * 2, "last_begndate": [D(2021, 1, 1)] * 2}
    old = pl.DataFrame({"psn_no": ["X", "Y"], "year": [2021, 2021], "ytd_claims": [1, 1], **last, "last_setl_id": ["x1", "y1"]},
                       schema_overrides={"year": pl.Int32})
    changed = pl.DataFrame({"psn_no": ["X"], "year": [2021], "ytd_claims": [2], "last_enddate": [D(2021, 2, 1)],
                            "last_begndate": [D(2021, 2, 1)], "last_setl_id": ["x2"]}, schema_overrides={"year": pl.Int32})
    got = next_accumulator(old, changed).sort("psn_no")
    assert got.select("psn_no", "ytd_claims", "last_setl_id").rows() == [("X", 2, "x2"), ("Y", 1, "y1")]


def test_a_later_rule_period_replaces_the_closing_unless_it_settled_only_reversals():
    # two rule-set periods of one year: the later period's totals and last claim replace the
    # earlier's; where the later one settled only a reversal (no last claim) the earlier claim stays
    earlier = pl.DataFrame({"psn_no": ["A", "B"], "year": [2021, 2021], "ytd_claims": [1, 1],
                            "last_enddate": [D(2021, 6, 10), D(2021, 5, 1)], "last_begndate": [D(2021, 6, 1), D(2021, 5, 1)],
                            "last_setl_id": ["a1", "b1"]}, schema_overrides={"year": pl.Int32})
    later = pl.DataFrame({"psn_no": ["A", "B", "C"], "year": [2021, 2021, 2021], "ytd_claims": [2, 0, 1],
                          "last_enddate": [D(2021, 7, 5), None, D(2021, 8, 1)], "last_begndate": [D(2021, 7, 2), None, D(2021, 8, 1)],
                          "last_setl_id": ["a2", None, "c1"]}, schema_overrides={"year": pl.Int32})
    got = after_period(earlier, later).sort(store.KEYS)
    assert got.select("psn_no", "ytd_claims", "last_setl_id", "last_enddate").rows() == [
        ("A", 2, "a2", D(2021, 7, 5)), ("B", 0, "b1", D(2021, 5, 1)), ("C", 1, "c1", D(2021, 8, 1))]


# ------------------------------------------------------------------ the closing's last claims == last_claims

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
def test_closing_last_claims_equal_sorted_last_claims(tmp_path_factory, first, second, reversed_share, chunk_rows):
    rb = book("full")
    ledger = tmp_path_factory.mktemp("ledger")
    append_claims(ledger, claims_frame(first), rb)
    originals = store.read_ledger(ledger).head(reversed_share)
    # a chunk mixing reversals of earlier claims (they sort first in their person-year) and new claims
    claims = pl.concat([claims_frame(second).with_columns(is_reversal=pl.lit(False)), store.reversal_claims(originals, "test")],
                       how="diagonal_relaxed")
    chunks: list[pl.DataFrame] = []
    s = settle_claims(claims, rb, store.read_accumulator(ledger), sink=chunks.append, chunk_rows=chunk_rows)
    assert sum(c.height for c in chunks) == claims.height
    settled = by_keys(last_claims(pl.concat(chunks, how="diagonal_relaxed"))) if chunks else None
    # person-years the run settled a claim of: the same last claim; those it only reversed: none
    with_claim = s.changed.filter(pl.col("last_setl_id").is_not_null())
    assert by_keys(with_claim).equals(settled if settled is not None else by_keys(with_claim.clear()))
    only_reversed = s.changed.filter(pl.col("last_setl_id").is_null()).select(store.KEYS)
    reversed_keys = originals.select(store.KEYS).unique()
    assert only_reversed.join(reversed_keys, on=store.KEYS, how="anti").height == 0


# ------------------------------------------------------------------ the in-order merge == the sort-and-replace merge

import medclaim.store.accumulator as accumulator  # noqa: E402


def general(old: pl.DataFrame, changed: pl.DataFrame, monkeypatch) -> pl.DataFrame:
    """``next_accumulator`` by its sort-and-replace path only."""
    with monkeypatch.context() as m:
        m.setattr(accumulator, "_merge_in_order", lambda *a: None)
        return next_accumulator(old, changed)


def in_hash_order(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(person_hash(pl.col("psn_no")), "year")


def test_a_month_in_order_takes_the_binary_search_and_gets_the_same_rows(monkeypatch):
    """The hand-worked case above, both sides in person-hash order as a month's run hands them over."""
    old, changed = [in_hash_order(f) for f in _hand_frames()]
    taken = []
    real = accumulator._merge_in_order
    monkeypatch.setattr(accumulator, "_merge_in_order", lambda *a: taken.append(real(*a)) or taken[-1])
    got = next_accumulator(old, changed)
    assert taken and taken[0] is not None, "the in-order merge was not taken"
    assert got.equals(general(old, changed, monkeypatch))
    assert got.filter(pl.col("psn_no") == "C")["last_setl_id"].to_list() == ["c3"]  # C keeps its later old claim


@st.composite
def accumulator_rows(draw, min_rows=0):
    """Rows of an accumulator: person-years of a few people, running totals, a last claim (null:
    only reversals settled)."""
    keys = draw(st.lists(st.tuples(st.sampled_from([f"P{i}" for i in range(12)]), st.integers(2019, 2022)), min_size=min_rows, max_size=20, unique=True))
    rows = []
    for psn, year in keys:
        end = draw(st.one_of(st.none(), st.dates(D(year, 1, 1), D(year, 12, 31))))
        rows.append({"psn_no": psn, "year": year, "ytd_claims": draw(st.integers(0, 9)), "ytd_hifp": draw(st.integers(0, 10**9)),
                     "last_enddate": end, "last_begndate": None if end is None else end - dt.timedelta(days=draw(st.integers(0, 2))),
                     "last_setl_id": None if end is None else draw(st.sampled_from(["S1", "S2", "S3"]))})
    schema = {"psn_no": pl.String, "year": pl.Int32, "ytd_claims": pl.Int64, "ytd_hifp": pl.Int64,
              "last_enddate": pl.Date, "last_begndate": pl.Date, "last_setl_id": pl.String}
    return pl.DataFrame(rows, schema=schema)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=accumulator_rows(min_rows=1), changed=accumulator_rows(min_rows=1), ordered=st.booleans(), buckets=st.sampled_from([0, 1, 2, 3]),
       lacking=st.sampled_from([None, "old", "changed"]))
def test_the_in_order_merge_equals_the_sort_and_replace_merge(monkeypatch, old, changed, ordered, buckets, lacking):
    """Random accumulators and runs, in person-hash order or not, with people's hashes made to
    meet (``buckets``: every id hashes to one of that many values; 0: the real hash), one side
    lacking a running total (another period's cap): whatever path ``next_accumulator`` takes, the
    same rows in the same order as sorting and replacing."""
    if lacking == "old":
        old = old.drop("ytd_hifp")
    elif lacking == "changed":
        changed = changed.drop("ytd_hifp")
    if buckets:
        monkeypatch.setattr(accumulator, "person_hash", lambda e: e.hash(seed=1) % buckets)
    if ordered:
        old, changed = old.sort(accumulator.person_hash(pl.col("psn_no")), "year"), changed.sort(accumulator.person_hash(pl.col("psn_no")), "year")
    assert next_accumulator(old, changed).equals(general(old, changed, monkeypatch))


def test_two_people_sharing_a_hash_in_different_years_are_ordered_by_id(monkeypatch):
    """A 2021 in the ledger, B 2020 new, one hash: by (hash, year) B would come first, but the
    accumulator orders people who share a hash by their id (A, then B), whichever path merges."""
    monkeypatch.setattr(accumulator, "person_hash", lambda e: pl.lit(7, dtype=pl.UInt64))
    old, changed = [f.filter(pl.col("psn_no") == p).head(1).with_columns(year=pl.lit(y, pl.Int32))
                    for f, p, y in zip(_hand_frames(), ["A", "B"], [2021, 2020])]
    got = next_accumulator(old, changed)
    assert got.select("psn_no", "year").rows() == [("A", 2021), ("B", 2020)]
    assert got.equals(general(old, changed, monkeypatch))
