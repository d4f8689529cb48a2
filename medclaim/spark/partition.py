"""What a Spark task does with its partition of persons — in the Python worker, with polars.

A partition holds whole persons: their new claims and the accumulator rows (opening running
totals, last settled claim) of the same persons, marked by ``OPENING``.  It is settled by the
library's own ``settle_claims`` — the engine every local run uses — so Spark adds no rule of its
own; it only decides which persons are settled together.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..engine import KEYS
from ..rules import RuleBook
from ..schema import CLAIM_SCHEMA, DESCRIPTIVE_SCHEMA
from ..settle import Settlement, settle_claims
from ..store import ytd_columns
from .frames import from_batches

#: Boolean column that marks an accumulator row among a partition's claims.
OPENING = "_medclaim_opening"


@dataclass
class Partition:
    claims: pl.DataFrame  # canonical claims (CLAIM_SCHEMA, and the descriptive columns the input has)
    accumulator: pl.DataFrame | None  # the persons' accumulator rows (psn_no, year, ytd_*, last_*), if any


def read_partition(batches, accumulator_columns: list[str]) -> Partition:
    """Split a partition's Arrow batches into its claims and its accumulator rows."""
    frame = from_batches(batches)
    if frame.height == 0:
        return Partition(claims=pl.DataFrame(schema=CLAIM_SCHEMA), accumulator=None)
    if OPENING in frame.columns:
        opening = frame[OPENING].fill_null(False)
        acc = frame.filter(opening).select(accumulator_columns) if accumulator_columns else None
        frame = frame.filter(~opening)
    else:
        acc = None
    claims = frame.select([pl.col(c).cast(t) for c, t in CLAIM_SCHEMA.items()]
                          + [pl.col(c).cast(t) for c, t in DESCRIPTIVE_SCHEMA.items() if c in frame.columns])
    return Partition(claims=claims, accumulator=acc if acc is not None and acc.height else None)


def settle_partition(part: Partition, book: RuleBook) -> Settlement:
    """Settle a partition's claims, each person-year continuing from its accumulator row."""
    acc = part.accumulator
    openings = acc.select(KEYS + ytd_columns(acc)) if acc is not None else None
    return settle_claims(part.claims, book, openings)
