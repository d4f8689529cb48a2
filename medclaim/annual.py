"""Annual accumulators: cumulative sums within a person-year, caps and segments.

Every annual rule looks at running totals within the person-year.  Two roundings (spec §3):

* ``per_claim`` (the receipt's): a claim's part of each segment — ``clamp(after) − clamp(before)``
  of the cumulative base, integer fen — times the segment's ratio, summed and rounded half-up
  once (``per_claim_banded``); a cap then limits that rounded payment to the room left, which is
  ``capped_share`` on the running total of the rounded payments: for payments u ≥ 0,
  ``min(cap, Σu)`` is exactly the running capped sum (min(cap, P + u) with P = min(cap, Σ before)).
* ``cumulative``: a claim's share is ``F(cumulative after) − F(cumulative before)`` where F is the
  annual formula (``banded_share``); the year's shares add up *exactly* to F of the year's total.

Either way the order within the year only moves money between claims.

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


_RUN_SHIFT = 2**64


def running_max(x: pl.Expr) -> pl.Expr:
    """Running maximum of ``x`` (never negative) within the person-year, in one scan.

    Each value is packed with its run's number as run · 2⁶⁴ + x in a 128-bit integer: every
    value of an earlier run is smaller than any of a later one, so a plain running maximum over
    the whole column never carries over a run's boundary, and subtracting run · 2⁶⁴ gives the
    maximum within the run.  Exact for any Int64 ``x`` ≥ 0; a grouped ``cum_max().over(run)``
    gives the same but costs ~10× as much when the person-years are many and short (a month's
    claims against a large ledger).
    """
    run = pl.col(RUN_START).cum_sum().cast(pl.Int128) * pl.lit(_RUN_SHIFT, dtype=pl.Int128)
    return ((x.cast(pl.Int128) + run).cum_max() - run).cast(pl.Int64)  # (named after x)


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


def in_band(c: pl.Expr, band: BandExpr) -> pl.Expr:
    """How much of the absolute cumulative amount ``c`` lies in the band: clamp(c − lower, 0, width)."""
    over = pl.max_horizontal(c - band.lower, pl.lit(0, dtype=pl.Int64))
    if band.upper is not None:
        width = pl.max_horizontal(pl.lit(band.upper) - band.lower, pl.lit(0, dtype=pl.Int64))
        over = pl.min_horizontal(over, width)
    return over


def round_bp(amount_bp: pl.Expr) -> pl.Expr:
    """fen × basis points → fen, half-up; a negative figure (a reversal) rounds as its magnitude does."""
    half = BP // 2
    return pl.when(amount_bp >= 0).then((amount_bp + half) // BP).otherwise(-((-amount_bp + half) // BP))


def banded(c: pl.Expr, bands: list[BandExpr], cap: pl.Expr | int | None) -> pl.Expr:
    """F(c) = min(cap, round_half_up(Σ ratio × clamp(c − lower, 0, upper − lower))), in fen.

    ``c`` is an absolute cumulative amount; band bounds are absolute too (the threshold is the
    first band's lower bound).  Rounding happens once, on the cumulative figure.
    """
    total_bp = pl.lit(0, dtype=pl.Int64)
    for band in bands:
        total_bp = total_bp + in_band(c, band) * band.ratio_bp
    paid = (total_bp + BP // 2) // BP
    return capped(paid, cap)


def band_part(after: pl.Expr, x: pl.Expr, band: BandExpr) -> pl.Expr:
    """The part of this claim's amount ``x`` that falls in the band, from the cumulative before/after."""
    return in_band(after, band) - in_band(after - x, band)


def per_claim_product(after: pl.Expr, x: pl.Expr, bands: list[BandExpr]) -> pl.Expr:
    """Σ (this claim's part in each band × the band's ratio), exact, in fen × basis points."""
    total = pl.lit(0, dtype=pl.Int64)
    for band in bands:
        total = total + band_part(after, x, band) * band.ratio_bp
    return total


def per_claim_banded(after: pl.Expr, x: pl.Expr, bands: list[BandExpr]) -> pl.Expr:
    """The receipt's payment before any cap: Σ part × ratio over the bands, rounded half-up once."""
    return round_bp(per_claim_product(after, x, bands))


def banded_share(after: pl.Expr, x: pl.Expr, bands: list[BandExpr], cap: pl.Expr | int | None) -> pl.Expr:
    """This claim's part of F(cumulative): F(after) − F(before)."""
    return banded(after, bands, cap) - banded(after - x, bands, cap)


def last_in_run(frame: pl.LazyFrame, keys: list[str], columns: list[str | pl.Expr]) -> pl.LazyFrame:
    """``columns`` of each person-year's last entry (e.g. its closing running totals)."""
    is_last = pl.col(RUN_START).shift(-1, fill_value=True)
    return frame.filter(is_last).select(keys + columns)


#: A barrier no running total reaches: "no cap" for tilted identities and for reversals.
NO_CAP = 2**53


def before_in_run(total: pl.Expr, opening: pl.Expr | int) -> pl.Expr:
    """The running total just before each entry: the opening balance at the run's first entry."""
    opening = opening if isinstance(opening, pl.Expr) else pl.lit(opening, dtype=pl.Int64)
    return pl.when(pl.col(RUN_START)).then(opening).otherwise(total.shift(1))


def room_limited(lf: pl.LazyFrame, x: str, total: str, opening: pl.Expr, cap: pl.Expr, passes: int = 1) -> pl.LazyFrame:
    """Per-claim caps: each entry pays ``min(x, room left)``, room = (cap − paid so far)⁺.

    ``total`` becomes the running total of what was paid (``opening`` before the run); the caller
    takes each entry's payment as ``total − before``.  The recursion P = min(B, P_before + x) is a
    running sum reflected at the barrier B, so it is one scan: with T the plain running total of x,
    P = T − max(0, running max of (T − B)) within the person-year (x of any sign; a reversal has
    barrier ``NO_CAP``).

    The barrier is the entry's cap, but never below what was already paid when that cap came into
    force (an identity change mid-year can bring a lower cap than the year has already used: the
    claim then pays nothing rather than taking money back).  What was paid at each change of cap
    comes from the previous pass; ``passes`` passes are exact for ``passes − 1`` changes to a cap
    below what the year has already paid, in one person-year (each needs an identity change
    between two claims that both pay).  Beyond that a claim would come out negative: the caller
    (``medclaim.settle``) sees it (``engine.needs_more_passes``) and settles again with more.
    """
    # an entry that brings nothing cannot pay: it keeps the cap of the last entry that did (so it
    # starts no segment), or no cap before any did in its person-year
    idx = pl.int_range(pl.len(), dtype=pl.UInt32)
    pays = pl.col(x) != 0
    last_payer = pl.when(pays).then(idx).otherwise(None).forward_fill()
    cap = pl.when(pays).then(cap).when(last_payer >= pl.col(RUN_FIRST)).then(
        pl.when(pays).then(cap).otherwise(None).forward_fill()
    ).otherwise(pl.lit(NO_CAP, dtype=pl.Int64))
    lf = lf.with_columns(**{f"_{total}_T": running_total(pl.col(x), opening), f"_{total}_cap": cap})
    T, C = pl.col(f"_{total}_T"), pl.col(f"_{total}_cap")
    # entries where the cap changes within the person-year start a segment; the run's first too
    seg_start = pl.col(RUN_START) | (C != C.shift(1)).fill_null(True)
    lf = lf.with_columns(**{f"_{total}_seg": pl.when(seg_start).then(idx).otherwise(None).forward_fill()})
    for i in range(passes):
        if i == 0:
            barrier = pl.max_horizontal(C, opening)
        else:
            barrier = pl.max_horizontal(C, before_in_run(pl.col(total), opening).gather(pl.col(f"_{total}_seg")))
        lf = lf.with_columns(**{f"_{total}_over": (T - barrier)})
        deficit = running_max(pl.max_horizontal(pl.col(f"_{total}_over"), pl.lit(0, dtype=pl.Int64)))
        lf = lf.with_columns(**{total: T - deficit})
    return lf.drop(f"_{total}_T", f"_{total}_cap", f"_{total}_seg", f"_{total}_over")
