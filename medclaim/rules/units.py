"""Amounts and ratios as the rule file writes them, as integers once loaded.

Amounts are yuan in the file (``1500.50``) and integer fen once loaded; ratios are fractions
(``0.7``) or percentages (``"70%"``) and become integer basis points; percentage points
(``+5``) become basis points added to a ratio; factors (``0.5``) multiply a deductible or a
threshold, as basis points.  Each converter refuses what it cannot convert exactly, with the fix.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator

from ..money import BP, ratio_to_bp, yuan_to_fen

_RATIO_FIX = "write a fraction between 0 and 1 such as 0.7, or a percentage such as '70%'"


def _yuan(v: Any) -> int:
    if isinstance(v, bool) or v is None or not isinstance(v, (int, float, str, Decimal)):
        raise ValueError(f"expected an amount in yuan, got {_show(v)} — write a number such as 800 or 1500.50")
    try:
        if not _finite(str(v).replace(",", "")):
            raise ValueError("not a finite number")
        fen = yuan_to_fen(v)
    except (InvalidOperation, ValueError) as e:
        if "more than two decimals" in str(e):
            raise ValueError(f"amount {_show(v)} has more than two decimals — amounts are yuan to the fen, e.g. 1500.05") from e
        raise ValueError(f"expected an amount in yuan, got {_show(v)} — write a number such as 800 or 1500.50 (no unit, no 万)") from e
    if fen < 0:
        raise ValueError(f"amount {_show(v)} is negative — amounts in rule files are 0 or more")
    return fen


def _fraction_bp(v: Any, what: str, fix: str, finer: str | None = None) -> int:
    """A fraction (0.7) or percentage ('70%') as basis points; shared by ratios and factors."""
    if isinstance(v, bool) or v is None or not isinstance(v, (int, float, str, Decimal)):
        raise ValueError(f"expected a {what}, got {_show(v)} — {fix}")
    try:
        if not _finite(str(v).strip().removesuffix("%")):
            raise ValueError("not a finite number")
        return ratio_to_bp(v)
    except (InvalidOperation, ValueError) as e:
        if finer and "finer than" in str(e):
            raise ValueError(finer.format(v=v)) from e
        raise ValueError(f"expected a {what}, got {_show(v)} — {fix}") from e


def _ratio(v: Any) -> int:
    bp = _fraction_bp(v, "ratio", _RATIO_FIX, "ratio {v!r} is finer than 0.01 % — round it to at most two decimals of a percent")
    if not 0 <= bp <= BP:
        whole = isinstance(v, (int, float)) and 1 < v <= 100 and float(v).is_integer()
        hint = f" (did you mean '{int(v)}%'?)" if whole else ""
        raise ValueError(f"ratio {_show(v)} is outside 0–100 %{hint} — {_RATIO_FIX}")
    return bp


def _points(v: Any) -> int:
    """Percentage points (+5 → 500 bp)."""
    if isinstance(v, bool) or v is None or not isinstance(v, (int, float, str, Decimal)):
        raise ValueError(f"expected percentage points, got {_show(v)} — write a number such as 5 or -20")
    try:
        d = Decimal(str(v).strip()) * 100
    except InvalidOperation as e:
        raise ValueError(f"expected percentage points, got {_show(v)} — write a number such as 5 or -20 (no % sign)") from e
    if not d.is_finite():
        raise ValueError(f"expected percentage points, got {_show(v)} — write a number such as 5 or -20")
    if d != d.to_integral_value():
        raise ValueError(f"points {_show(v)} finer than 0.01 — round to at most two decimals")
    if abs(d) > BP:
        raise ValueError(f"points {_show(v)} outside −100…+100 — points are percentage points added to a ratio")
    return int(d)


def _factor(v: Any) -> int:
    """A multiplier such as 0.5 → 5000 bp (deductible factors, threshold factors), between 0 and 1."""
    bp = _fraction_bp(v, "factor", "write a multiplier between 0 and 1 such as 0.5 (or '50%')")
    if not 0 <= bp <= BP:
        raise ValueError(f"factor {_show(v)} is outside 0–1 — write a multiplier between 0 and 1 such as 0.5 (1 = unchanged)")
    return bp


def _finite(text: str) -> bool:
    try:
        return Decimal(text.strip()).is_finite()
    except InvalidOperation:
        return False


def _show(v: Any) -> str:
    """A short quoted excerpt of a value from the rule file, never the whole of a huge one."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v).bit_length() > 128:
        return f"a number of about {int(abs(v).bit_length() * 0.30103) + 1:,} digits"
    if isinstance(v, str) and len(v) > 40:
        v = v[:37]
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "…"


Yuan = Annotated[int, BeforeValidator(_yuan)]
Ratio = Annotated[int, BeforeValidator(_ratio)]
Points = Annotated[int, BeforeValidator(_points)]
Factor = Annotated[int, BeforeValidator(_factor)]
