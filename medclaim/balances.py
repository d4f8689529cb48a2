"""Running totals between periods and runs: the closing balances that replace earlier ones.

A run's ``Settlement.changed`` holds, per person-year it settled, the running totals after it and
its last settled claim; a later rule period of the same run opens from what the earlier ones left.
"""

from __future__ import annotations

import polars as pl

from . import engine
from .engine import KEYS


def merge_balances(old: pl.DataFrame | None, new: pl.DataFrame) -> pl.DataFrame:
    """Running totals after a run: the new closing figures replace the old for the same person-year."""
    if old is None or old.height == 0:
        return new
    kept = old.join(new.select(KEYS), on=KEYS, how="anti")
    return pl.concat([kept, new], how="diagonal_relaxed").fill_null(0)


def after_period(changed: pl.DataFrame | None, closing: pl.DataFrame) -> pl.DataFrame:
    """What the run changed after one more period: its closing running totals replace the earlier
    periods' of the same person-year, and so does its last settled claim, unless it settled only
    reversals of it (null there: the earlier period's stays)."""
    if changed is None or changed.height == 0:
        return closing
    merged = merge_balances(changed, closing)
    last = [c for c in engine.LAST_COLUMNS if c in closing.columns and c in changed.columns]
    if not last:
        return merged
    earlier = changed.select(KEYS + [pl.col(c).alias(f"{c}__earlier") for c in last])
    return merged.join(earlier, on=KEYS, how="left").with_columns(
        # (the three columns name one claim: all from the later period's, or all from the earlier)
        [pl.when(pl.col(last[0]).is_null()).then(pl.col(f"{c}__earlier")).otherwise(pl.col(c)).alias(c) for c in last]
    ).drop([f"{c}__earlier" for c in last])


def later_openings(openings: pl.DataFrame | None, changed: pl.DataFrame) -> pl.DataFrame:
    """What a later period of the same run opens from: the running totals the earlier periods
    left, and, for late flags, each person-year's last claim settled before the run (the
    ledger's: a claim of this run is never late against another claim of this run)."""
    changed = changed.drop(engine.LAST_COLUMNS, strict=False)  # (this run's own: never a late flag's measure)
    last = [c for c in engine.LAST_COLUMNS if openings is not None and c in openings.columns]
    if not last:
        return merge_balances(openings, changed)
    return merge_balances(openings.drop(last), changed).join(openings.select(KEYS + last), on=KEYS, how="left")
