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
