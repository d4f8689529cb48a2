"""Annual accumulators: cumulative sums within a person-year, caps and cumulative segments.

Every annual rule is evaluated on cumulative amounts: a claim's share is
``F(cumulative after) − F(cumulative before)``, where F is the annual formula (a cap, a
deductible, banded ratios).  The shares of a person's claims therefore add up *exactly* to F of
the year's total, whatever the rounding, and the order within the year only moves money between
claims, never in or out of the year.

The frame must be sorted by person-year and settlement order, with a boolean ``run_start`` column
marking the first claim of each person-year; cumulative sums are then one scan over the whole
column (no grouping, no per-person Python).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .money import BP

RUN_START = "run_start"


RUN_FIRST = "run_first"


def mark_run_first() -> pl.Expr:
    """Row index of each person-year's first claim (within this frame), for ``running_total``."""
    idx = pl.int_range(pl.len(), dtype=pl.UInt32)
    return pl.when(pl.col(RUN_START)).then(idx).otherwise(None).forward_fill().alias(RUN_FIRST)


def running_total(x: pl.Expr, opening: pl.Expr | int = 0) -> pl.Expr:
    """Opening balance + cumulative sum of ``x`` within the person-year, including this claim.

    One scan: the column's cumulative sum minus its value just before the run's first claim.
    Needs the ``run_first`` column (``mark_run_first``).
    """
    cs = x.cum_sum()
    return cs - (cs - x).gather(pl.col(RUN_FIRST)) + opening


def capped(c: pl.Expr, cap: pl.Expr | int | None) -> pl.Expr:
    return c if cap is None else pl.min_horizontal(c, cap)


def capped_share(after: pl.Expr, x: pl.Expr, cap: pl.Expr | int | None) -> pl.Expr:
    """This claim's part of min(cumulative, cap): min(after, cap) − min(before, cap)."""
    before = after - x
    return capped(after, cap) - capped(before, cap)


@dataclass(frozen=True)
class BandExpr:
    """One segment of an annual formula, as expressions (per-row parameters allowed)."""

    lower: pl.Expr | int
    upper: pl.Expr | int | None
    ratio_bp: pl.Expr | int


def banded(c: pl.Expr, bands: list[BandExpr], cap: pl.Expr | int | None) -> pl.Expr:
    """F(c) = min(cap, round_half_up(Σ ratio × clamp(c − lower, 0, upper − lower))), in fen.

    ``c`` is an absolute cumulative amount; band bounds are absolute too (the threshold is the
    first band's lower bound).  Rounding happens once, on the cumulative figure.
    """
    total_bp = pl.lit(0, dtype=pl.Int64)
    for band in bands:
        over = pl.max_horizontal(c - band.lower, pl.lit(0, dtype=pl.Int64))
        if band.upper is not None:
            width = pl.max_horizontal(pl.lit(band.upper) - band.lower, pl.lit(0, dtype=pl.Int64))
            over = pl.min_horizontal(over, width)
        total_bp = total_bp + over * band.ratio_bp
    paid = (total_bp + BP // 2) // BP
    return capped(paid, cap)


def banded_share(after: pl.Expr, x: pl.Expr, bands: list[BandExpr], cap: pl.Expr | int | None) -> pl.Expr:
    """This claim's part of F(cumulative): F(after) − F(before)."""
    return banded(after, bands, cap) - banded(after - x, bands, cap)


def last_in_run(frame: pl.LazyFrame, keys: list[str], columns: list[str]) -> pl.LazyFrame:
    """The closing running totals of each person-year (the last claim's cumulative columns)."""
    is_last = pl.col(RUN_START).shift(-1, fill_value=True)
    return frame.filter(is_last).select(keys + columns)
