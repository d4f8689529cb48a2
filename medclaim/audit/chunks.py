"""The audit of each settled chunk as the engine hands it over (the settle pipeline's sink).

A chunk holds whole person-years, so everything the audit computes per claim or per person-year
is finished within it: the comparison with the hospital's figures, the differences and their
causes (the replays start from the running totals before each claim, all in the chunk or in the
openings), the year's totals for the burden lists.  Done in the sink, this work runs in the
sink's thread while the engine settles the next chunk, and the wide chunk (every working figure
of the engine) is dropped as soon as it has been looked at: the run never holds the whole
settlement, only the differences, the few columns the review rules read and one row per
person-year.

The review rules look across person-years (a stay over New Year, a cost against all its peers):
those of one person run on each chunk's whole persons, the rest once all chunks are in, over the
few columns kept (``review.Review``).
"""

from __future__ import annotations

import polars as pl

from ..engine import KEYS
from ..rules import RuleBook
from .burden import year_totals
from .causes import Pending, finish, no_causes, prepare
from .compare import Comparison, differences
from ..rules.audit import ReviewRules
from .review import Review, hospital_columns, review_rows


def replaced_rows(old: pl.DataFrame | None, new: pl.DataFrame) -> pl.DataFrame:
    """``old`` with the rows of each person-year in ``new`` replaced by ``new``'s (columns ``new``
    lacks are null there: a period without that running total opens it at zero)."""
    if old is None or old.height == 0:
        return new
    return pl.concat([old.join(new.select(KEYS), on=KEYS, how="anti"), new], how="diagonal_relaxed")


#: Differing claims gathered before their causes are replayed: each replay has a fixed cost (about
#: a quarter of a second of planning), so the differences of several chunks are replayed together;
#: the bound keeps memory in check when most claims differ.
REPLAY_CLAIMS = 20_000


class ChunkAudit:
    """A sink for ``settle_claims`` (or a ledger plan's ``on_chunk``): audits each chunk, keeps the
    small results.  ``openings``: the running totals the settlement opened each person-year with
    (a ledger's accumulator), for the cause replays."""

    def __init__(self, book: RuleBook, openings: pl.DataFrame | None, tolerance_fen: int, keep: list[str], review: ReviewRules):
        self.book, self.openings, self.keep = book, openings, keep
        self.review = Review(review)
        self.comparison = Comparison(tolerance_fen=tolerance_fen)
        self.claims = 0  # claims settled (reversal entries are not claims)
        self._diffs: list[pl.DataFrame] = []  # with their causes
        self._pending: list[Pending] = []  # not replayed yet
        self._none: pl.DataFrame | None = None  # the differences' columns, no rows
        self._totals: list[pl.DataFrame] = []
        # with several rule periods, a person-year settled in a later period continues from the
        # totals its claims of an earlier period (an earlier chunk) left
        self._carried: pl.DataFrame | None = None if len(book.periods) == 1 else pl.DataFrame()

    def __call__(self, chunk: pl.DataFrame) -> None:
        chunk = chunk.with_columns(hospital_columns(chunk))
        self.comparison.add(chunk)
        if "is_reversal" in chunk.columns:
            self.claims += chunk.height - int(chunk.get_column("is_reversal").sum())
        else:
            self.claims += chunk.height
        found = differences(chunk, self.comparison.tolerance_fen, keep=self.keep)
        if self._none is None:
            self._none = no_causes(found.clear())
        if found.height:
            self._pending.append(prepare(found, chunk, self._openings_of(chunk)))
            if sum(p.claims for p in self._pending) >= REPLAY_CLAIMS:
                self._replay()
        self.review.add(review_rows(chunk))
        self._totals.append(year_totals(chunk))
        if self._carried is not None:
            ytd = [c for c in chunk.columns if c.startswith("ytd_")]
            last = chunk.group_by(KEYS, maintain_order=True).agg(pl.col(ytd).last())
            self._carried = replaced_rows(self._carried, last)

    def _openings_of(self, chunk: pl.DataFrame) -> pl.DataFrame | None:
        """The running totals each person-year of ``chunk`` opened with."""
        if self._carried is None or self._carried.height == 0:
            return self.openings
        carried = self._carried.join(chunk.select(KEYS).unique(), on=KEYS, how="semi")
        if carried.height == 0:
            return self.openings
        return replaced_rows(self.openings, carried)

    def _replay(self) -> None:
        self._diffs.append(finish(Pending.concat(self._pending), self.book))
        self._pending = []

    def differences(self) -> pl.DataFrame:
        """Every differing field of every claim, with its cause (``causes.attribute``): the
        differences still pending are replayed now."""
        if self._pending:
            self._replay()
        if self._diffs:
            return pl.concat(self._diffs, how="diagonal_relaxed")
        if self._none is not None:
            return self._none
        # nothing settled
        return no_causes(differences(pl.DataFrame(schema={"setl_id": pl.String}))).with_columns(
            *[pl.lit(None, pl.String).alias(c) for c in ("hospital_code", "hospital_name")])

    def year_totals(self) -> pl.DataFrame:
        """``burden.year_totals`` over all the chunks: a person-year settled in two rule periods
        (two chunks) keeps its later running totals and the sum of its policy-scope burden."""
        if not self._totals:
            return pl.DataFrame(schema={"psn_no": pl.String, "year": pl.Int32, "ruleset_id": pl.String, "scope_burden": pl.Int64})
        totals = pl.concat(self._totals, how="diagonal_relaxed")
        if self._carried is None:  # one period: every person-year lies in one chunk
            return totals
        others = [c for c in totals.columns if c not in (*KEYS, "scope_burden")]
        return totals.group_by(KEYS, maintain_order=True).agg(pl.col(others).last(), pl.col("scope_burden").sum())
