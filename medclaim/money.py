"""Integer-fen money: parsing yuan text, rounding ratios half-up, formatting for people.

No float ever touches an amount.  Ratios are integer basis points (1 % = 100 bp), so a payment
``round_half_up(amount × ratio)`` is exact integer arithmetic: ``(fen × bp + 5000) // 10000``.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

BP = 10_000  # basis points in 100 %

#: A yuan amount as exported: optional sign, digits with optional thousands commas, up to two
#: decimals.  Currency signs, spaces and full-width digits are removed before matching.
_YUAN_RE = r"^-?(\d{1,3}(,\d{3})+|\d+)(\.\d{0,2})?$"
_FULLWIDTH = {chr(0xFF10 + i): str(i) for i in range(10)} | {"，": ",", "．": ".", "－": "-"}


def yuan_to_fen(value: str | int | Decimal) -> int:
    """Exact yuan → fen for rule-file numbers and tests ("1,234.50" → 123450)."""
    d = Decimal(str(value).replace(",", "").strip())
    fen = d * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{value!r} has more than two decimals")
    return int(fen)


def fen_to_yuan_str(fen: int) -> str:
    """123450 → '1234.50' (exact)."""
    sign = "-" if fen < 0 else ""
    q, r = divmod(abs(int(fen)), 100)
    return f"{sign}{q}.{r:02d}"


def fen_to_yuan_display(fen: int) -> str:
    """123450 → '1,234.50' for people."""
    sign = "-" if fen < 0 else ""
    q, r = divmod(abs(int(fen)), 100)
    return f"{sign}{q:,}.{r:02d}"


def pct_str(bp: int) -> str:
    """Basis points → '72.5 %'."""
    d = (Decimal(int(bp)) / 100).normalize()
    return f"{d:f} %"


def ratio_to_bp(value: str | float | int | Decimal) -> int:
    """A ratio given as a fraction (0.7) or percentage string ('70%') → basis points, exactly."""
    s = str(value).strip()
    if s.endswith("%"):
        d = Decimal(s[:-1].strip()) * 100
    else:
        d = Decimal(s) * BP
    if d != d.to_integral_value():
        raise ValueError(f"ratio {value!r} is finer than 0.01 %")
    return int(d)


# ---------------------------------------------------------------- polars expressions


def apply_ratio(amount_fen: pl.Expr, ratio_bp: pl.Expr) -> pl.Expr:
    """round_half_up(amount × ratio) in fen, for non-negative amounts and ratios."""
    return (amount_fen * ratio_bp + BP // 2) // BP


def yuan_text_to_fen(col: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Parse a text column of yuan into (fen Int64 or null, is_valid Bool).

    Blank / null text gives fen = null and is_valid = True: the caller decides whether a blank
    means zero (optional amount parts) or a missing field (the total).
    """
    return normalised_yuan_to_fen(normalise_yuan_text(col))


def normalise_yuan_text(col: pl.Expr) -> pl.Expr:
    """Yuan text without currency signs and spaces, full-width digits made ASCII.

    Split from ``normalised_yuan_to_fen`` so a reader can materialise this column once: polars
    re-evaluates a sub-expression each time it is used, and the parse uses it three times.
    """
    s = col.cast(pl.String).str.replace_many(list(_FULLWIDTH), list(_FULLWIDTH.values()))
    return s.str.replace_all(r"[¥￥元\s]", "")


def normalised_yuan_to_fen(s: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(fen, is_valid) of text already passed through ``normalise_yuan_text``.

    The pattern check guarantees at most two decimals, so the Decimal(38, 2) cast is exact.
    """
    blank = s.is_null() | (s == "")
    ok = s.str.contains(_YUAN_RE)
    dec = s.str.replace_all(",", "", literal=True).cast(pl.Decimal(38, 2), strict=False)
    fen = (dec * 100).cast(pl.Int64, strict=False)
    return pl.when(ok).then(fen).otherwise(None), blank | ok


def fen_to_yuan_expr(fen: pl.Expr) -> pl.Expr:
    """Int64 fen → exact yuan text '-1234.50' (for CSV and Excel copies of the ledger)."""
    a = fen.abs()
    text = pl.format("{}.{}", a // 100, (a % 100).cast(pl.String).str.zfill(2))
    return pl.when(fen < 0).then(pl.lit("-") + text).otherwise(text)
