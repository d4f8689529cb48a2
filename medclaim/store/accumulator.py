"""The accumulator: each person-year's running totals and last settled claim, late claims."""

from __future__ import annotations

import polars as pl

from ..engine import KEYS, late_claim, sorts_before
from ..person import person_hash

from .layout import LAST_COLUMNS


# ------------------------------------------------------------------ the accumulator


def ytd_columns(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    return [c for c in names if c.startswith("ytd_")]


def last_claims(entries: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Per person-year, the (enddate, begndate, setl_id) of its last settled claim (not reversals),
    whatever the order of ``entries``."""
    keys = list(LAST_COLUMNS.values())
    narrow = entries.lazy().filter(~pl.col("is_reversal")).select(KEYS + keys).collect()
    # sorting on a hash of the person id is much cheaper than on the string; a collision between
    # two people only interleaves their rows, each person-year's own rows stay in key order
    return (
        narrow.with_columns(_psn=person_hash(pl.col("psn_no")))
        .sort(["_psn", "year", *keys])
        .group_by(KEYS, maintain_order=True)
        .last()
        .drop("_psn")
        .rename({c: a for a, c in LAST_COLUMNS.items()})
    )


def chunk_last_claims(chunk: pl.DataFrame) -> pl.DataFrame:
    """``last_claims`` of a chunk in the engine's settlement order (``run_start`` marks each
    person-year's first claim), without sorting: a person-year's last settled claim is its last
    row — reversals sort first within a person-year, so a last row that is a reversal means the
    chunk settled no claim of it."""
    if "run_start" not in chunk.columns:
        return last_claims(chunk)
    last_row = pl.col("run_start").shift(-1, fill_value=True)
    return (
        chunk.lazy().filter(last_row & ~pl.col("is_reversal"))
        .select(KEYS + list(LAST_COLUMNS.values()))
        .rename({c: a for a, c in LAST_COLUMNS.items()})
        .collect()
    )


def accumulator_from_entries(entries: pl.LazyFrame) -> pl.DataFrame:
    """Rebuild the accumulator from the ledger: each person-year's running totals after its last
    entry (by ``entry_no``) and its last settled claim."""
    ytd = ytd_columns(entries)
    frame = entries.select(KEYS + ytd + ["entry_no"]).collect().sort("entry_no")
    closing = frame.group_by(KEYS).agg([pl.col(c).last().fill_null(0) for c in ytd])
    del frame
    return in_person_order([closing.lazy().join(last_claims(entries).lazy(), on=KEYS, how="left")], ytd)


def next_accumulator(old: pl.DataFrame | None, changed: pl.DataFrame, run_last: pl.DataFrame) -> pl.DataFrame:
    """The accumulator after a run.  A person-year the run settled nothing of keeps its row as it
    was; one it did takes its running totals from ``changed`` (``Settlement.changed``) and, as its
    last settled claim, the later of the old one and the run's (``run_last``: ``last_claims`` of
    the run's entries, or of each chunk, combined).

    Only the run's person-years are joined: a month touches a part of a large ledger's
    person-years, and the others are carried over in one pass."""
    last = list(LAST_COLUMNS)
    ytd = sorted(set(ytd_columns(changed)) | set(ytd_columns(old) if old is not None else []))
    has_last = old is not None and "last_enddate" in old.columns
    no_last = [pl.lit(None, dtype=t).alias(a) for a, t in zip(last, (pl.Date, pl.Date, pl.String))]  # (an old accumulator without them)
    run_cols = [f"{a}__run" for a in last]
    touched = changed.lazy().select(KEYS + ytd_columns(changed))
    if has_last:
        touched = touched.join(old.lazy().select(KEYS + last), on=KEYS, how="left")
    else:
        touched = touched.with_columns(no_last)
    take_run = pl.col(run_cols[0]).is_not_null() & (pl.col(last[0]).is_null() | sorts_before(last, run_cols))
    touched = (
        touched.join(run_last.lazy().rename({a: r for a, r in zip(last, run_cols)}), on=KEYS, how="left")
        .with_columns([pl.when(take_run).then(pl.col(r)).otherwise(pl.col(a)).alias(a) for a, r in zip(last, run_cols)])
        .drop(run_cols)
    )
    kept = None
    if old is not None and old.height:
        kept = old.lazy().join(changed.lazy().select(KEYS), on=KEYS, how="anti")
        if not has_last:
            kept = kept.with_columns(no_last)
    return in_person_order([f for f in (kept, touched) if f is not None], ytd)


def in_person_order(frames: list[pl.LazyFrame], ytd: list[str]) -> pl.DataFrame:
    """Accumulator rows of ``frames`` as one frame in person-hash order (``person.ByPerson`` then
    slices it for each chunk instead of gathering).  A running total one frame lacks (another
    period's cap) is 0 there, as in ``merge_balances``."""
    columns = KEYS + ytd + list(LAST_COLUMNS)
    return (
        pl.concat(frames, how="diagonal_relaxed")
        .select([pl.col(c).fill_null(0) if c in ytd else pl.col(c) for c in columns])
        .sort(person_hash(pl.col("psn_no")), "year")
        .collect()
    )


def combine_last(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """One row per person-year from several ``last_claims`` results (chunks, rule-set periods)."""
    if len(parts) == 1:
        return parts[0]
    both = pl.concat(parts, how="vertical_relaxed")
    if not both.select(KEYS).is_duplicated().any():  # chunks of one period hold whole person-years
        return both
    return last_claims(both.rename({a: c for a, c in LAST_COLUMNS.items()}).with_columns(is_reversal=pl.lit(False)))


def late_flag(ledger: pl.DataFrame, acc: pl.DataFrame | None) -> pl.DataFrame:
    """``late``: a claim that sorts before the person-year's last already-settled claim (as the
    engine flags it when its openings carry the last claims: ``engine.join_openings``)."""
    if acc is None or "last_enddate" not in acc.columns or ledger.height == 0:
        return ledger.with_columns(late=pl.lit(False))
    flag = (
        ledger.lazy().select(KEYS + list(LAST_COLUMNS.values()) + ["is_reversal"])
        .join(acc.lazy().select(KEYS + list(LAST_COLUMNS)), on=KEYS, how="left", maintain_order="left")
        .select(late_claim(list(LAST_COLUMNS)))
        .collect()
    )
    return ledger.with_columns(flag["late"])


