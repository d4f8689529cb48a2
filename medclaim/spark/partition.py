"""What a Spark task does with its partition of persons — in the Python worker, with polars.

A partition holds whole persons: their new claims, the accumulator rows (opening running totals,
last settled claim) of the same persons, marked by ``OPENING``, and — with an enrollment roster —
the roster rows of the same persons, marked by ``ROSTER``.  It is settled by the library's own
``settle_claims`` — the engine every local run uses, which applies the roster with
``medclaim.roster.apply_roster`` as a local run does — so Spark adds no rule of its own; it only
decides which persons are settled together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ..roster import ROSTER_SCHEMA, Roster
from ..rules import RuleBook
from ..schema import CLAIM_SCHEMA, DESCRIPTIVE_SCHEMA
from ..settle import Settlement, settle_claims
from ..store import openings_from
from .frames import from_batches

#: Boolean column that marks an accumulator row among a partition's claims.
OPENING = "_medclaim_opening"
#: Boolean column that marks an enrollment-roster row among a partition's claims.
ROSTER = "_medclaim_roster"


@dataclass(frozen=True)
class Layout:
    """What rows a partition holds besides claims (sent to every task with the rule book)."""

    accumulator_columns: list[str] = field(default_factory=list)  # accumulator rows' columns; none: no openings
    roster_files: list[str] | None = None  # the roster's files (named in not_enrolled rejects); None: no roster


@dataclass
class Partition:
    claims: pl.DataFrame  # canonical claims (CLAIM_SCHEMA, and the descriptive columns the input has)
    accumulator: pl.DataFrame | None  # the persons' accumulator rows (psn_no, year, ytd_*, last_*), if any
    roster: Roster | None = None  # the persons' roster rows, when the run has a roster (possibly none of them)


def _marked(frame: pl.DataFrame, marker: str) -> tuple[pl.DataFrame | None, pl.DataFrame]:
    """The rows ``marker`` flags, and the others."""
    if marker not in frame.columns:
        return None, frame
    flag = frame[marker].fill_null(False)
    return frame.filter(flag), frame.filter(~flag)


def read_partition(batches, layout: Layout) -> Partition:
    """Split a partition's Arrow batches into its claims, accumulator rows and roster rows."""
    frame = from_batches(batches)
    roster = None
    if layout.roster_files is not None:
        rows, frame = _marked(frame, ROSTER) if frame.height else (None, frame)
        rows = rows.select([pl.col(c).cast(t) for c, t in ROSTER_SCHEMA.items()]) if rows is not None else None
        # a person with claims but no roster row in this partition is on no roster row at all:
        # the engine rejects their claims as not_enrolled, as locally
        roster = Roster(rows=rows if rows is not None else pl.DataFrame(schema=ROSTER_SCHEMA), files=layout.roster_files)
    if frame.height == 0:
        return Partition(claims=pl.DataFrame(schema=CLAIM_SCHEMA), accumulator=None, roster=roster)
    acc, frame = _marked(frame, OPENING)
    acc = acc.select(layout.accumulator_columns) if acc is not None and layout.accumulator_columns else None
    claims = frame.select([pl.col(c).cast(t) for c, t in CLAIM_SCHEMA.items()]
                          + [pl.col(c).cast(t) for c, t in DESCRIPTIVE_SCHEMA.items() if c in frame.columns])
    return Partition(claims=claims, accumulator=acc if acc is not None and acc.height else None, roster=roster)


def settle_partition(part: Partition, book: RuleBook) -> Settlement:
    """Settle a partition's claims, each person-year continuing from its accumulator row, with
    the roster applied as a local run applies it."""
    return settle_claims(part.claims, book, openings_from(part.accumulator), roster=part.roster)
