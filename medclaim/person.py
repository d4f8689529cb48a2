"""The person key every whole-column step sorts, groups and buckets people by.

Sorting and grouping on a 64-bit hash of the person number is several times cheaper than on the
string.  One seed for all of them: the spill's buckets are ranges of this hash, so they come out
in the engine's settlement order only while both use the same function.
"""

from __future__ import annotations

import polars as pl

PERSON_HASH_SEED = 20210426


def person_hash(psn_no: pl.Expr | pl.Series) -> pl.Expr | pl.Series:
    """64-bit hash of each person number (callers check for collisions where order matters)."""
    return psn_no.hash(seed=PERSON_HASH_SEED)


def person_year_key(hashes: pl.Series, year: pl.Series) -> pl.Series:
    """(person hash, year) as one integer in the same order: hash · 2³² + year (exact for any Int32 year)."""
    return pl.select(pl.lit(hashes).cast(pl.Int128) * pl.lit(1 << 32, pl.Int128) + pl.lit(year).cast(pl.Int128)).to_series()


def strictly_increasing(key: pl.Series) -> bool:
    """Each key greater than the one before (in order, and none twice): one comparison of each
    key with the one before it."""
    n = key.len()
    return n < 2 or bool((key.slice(1) > key.slice(0, n - 1)).all())


def repeats_person_year(frame: pl.DataFrame) -> bool:
    """Whether ``frame`` (``psn_no``, ``year``) holds a person-year twice.  An accumulator is kept
    in (person hash, year) order, where a person-year twice would be two neighbouring rows: only
    when two neighbours share a key (or the order is another) are the ids themselves compared."""
    key = person_year_key(person_hash(frame.get_column("psn_no")), frame.get_column("year"))
    if strictly_increasing(key):
        return False
    return frame.select(pl.struct("psn_no", "year").is_duplicated().any()).item()


class ByPerson:
    """A frame with a ``psn_no`` column (opening balances, the accumulator), sorted by the person
    hash once (unless it is in that order already, as the accumulator is kept), so that the rows
    of any set of persons are found in one slice: the rows whose hash lies between the smallest
    and the largest hash of those persons.

    The engine settles claims in person-hash order, chunk by chunk, so a chunk's persons are a
    hash range and the slice holds about the chunk's share of the frame: each chunk joins with a
    slice instead of the whole accumulator of a large ledger.  The slice is a superset (it may
    hold persons the chunk lacks, harmless to a left join) whatever the chunk's order.
    """

    def __init__(self, frame: pl.DataFrame):
        self.frame = frame
        hashes = person_hash(frame.get_column("psn_no"))
        if hashes.is_sorted():  # kept in person-hash order (the accumulator): a slice is a view
            self._hashes, self._rows = hashes, None
            return
        # only the hashes and row numbers are sorted; a slice's rows are gathered when asked for
        order = pl.DataFrame({"h": hashes}).with_row_index("row").sort("h")
        self._hashes, self._rows = order.get_column("h"), order.get_column("row")

    def covering(self, psn_no: pl.Series) -> pl.DataFrame:
        """The rows of every person in ``psn_no`` (and of the persons hashed between them)."""
        if psn_no.len() == 0 or self.frame.height == 0:
            return self.frame.clear()
        hashes = person_hash(psn_no)
        lo = self._hashes.search_sorted(hashes.min(), side="left")
        hi = self._hashes.search_sorted(hashes.max(), side="right")
        if self._rows is None:
            return self.frame.slice(lo, hi - lo)
        return self.frame.select(pl.all().gather(self._rows.slice(lo, hi - lo)))
