"""The accumulator: each person-year's running totals and last settled claim, late claims."""

from __future__ import annotations

import polars as pl

from ..engine import KEYS
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


def accumulator_from_entries(entries: pl.LazyFrame) -> pl.DataFrame:
    """Rebuild the accumulator from the ledger: each person-year's running totals after its last
    entry (by ``entry_no``) and its last settled claim."""
    ytd = ytd_columns(entries)
    frame = entries.select(KEYS + ytd + ["entry_no"]).collect().sort("entry_no")
    closing = frame.group_by(KEYS).agg([pl.col(c).last().fill_null(0) for c in ytd])
    del frame
    return closing.join(last_claims(entries), on=KEYS, how="left").sort(KEYS)


def sorts_before(a: list[str], b: list[str]) -> pl.Expr:
    """(enddate, begndate, setl_id) ``a`` < ``b`` in settlement order (null when ``b`` is null)."""
    (e, bg, s), (le, lb, ls) = [pl.col(c) for c in a], [pl.col(c) for c in b]
    return (e < le) | ((e == le) & ((bg < lb) | ((bg == lb) & (s < ls))))


def merge_accumulator(old: pl.DataFrame | None, closing: pl.DataFrame, run_last: pl.DataFrame) -> pl.DataFrame:
    """The accumulator after a run: ``closing`` (every person-year's running totals after the run)
    with each person-year's last settled claim — the later of the old one and the run's
    (``run_last``: ``last_claims`` of the run's entries, or of each chunk, combined)."""
    closing = closing.select(KEYS + sorted(ytd_columns(closing)))
    last = list(LAST_COLUMNS)
    run_last = run_last.lazy().rename({a: f"{a}__run" for a in last})
    acc = closing.lazy()
    if old is not None and "last_enddate" in old.columns:
        acc = acc.join(old.lazy().select(KEYS + last), on=KEYS, how="left", maintain_order="left")
    else:
        acc = acc.with_columns([pl.lit(None, dtype=dt_).alias(a) for a, dt_ in
                                zip(last, (pl.Date, pl.Date, pl.String))])
    acc = acc.join(run_last, on=KEYS, how="left", maintain_order="left")
    run_cols = [f"{a}__run" for a in last]
    take_run = pl.col(run_cols[0]).is_not_null() & (pl.col(last[0]).is_null() | sorts_before(last, run_cols))
    return (
        acc.with_columns([pl.when(take_run).then(pl.col(r)).otherwise(pl.col(a)).alias(a) for a, r in zip(last, run_cols)])
        .drop(run_cols)
        .collect()
    )


def combine_last(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """One row per person-year from several ``last_claims`` results (chunks, rule-set periods)."""
    if len(parts) == 1:
        return parts[0]
    both = pl.concat(parts, how="vertical_relaxed").rename({a: c for a, c in LAST_COLUMNS.items()})
    return last_claims(both.with_columns(is_reversal=pl.lit(False)))


def late_flag(ledger: pl.DataFrame, acc: pl.DataFrame | None) -> pl.DataFrame:
    """``late``: a claim that sorts before the person-year's last already-settled claim."""
    if acc is None or "last_enddate" not in acc.columns or ledger.height == 0:
        return ledger.with_columns(late=pl.lit(False))
    keys = list(LAST_COLUMNS.values())
    flag = (
        ledger.lazy().select(KEYS + keys + ["is_reversal"])
        .join(acc.lazy().select(KEYS + list(LAST_COLUMNS)), on=KEYS, how="left", maintain_order="left")
        .select(late=(~pl.col("is_reversal") & sorts_before(keys, list(LAST_COLUMNS))).fill_null(False))
        .collect()
    )
    return ledger.with_columns(flag["late"])


