"""Column parsers: raw cells (text or typed) → canonical values, one whole column at a time.

Every parser returns a ``ParsedColumn`` of three Series over the same rows:

* ``value`` – the canonical value, null when the cell is blank or unusable;
* ``blank`` – the cell is empty (after removing stray spaces);
* ``bad``   – the cell is not empty but cannot be understood.

Which parser runs is decided once per column from its dtype (a Parquet file may deliver real
Int / Decimal / Float / Date columns; CSV and Excel arrive as text), never per row.  All work is
vectorised polars; there are no Python-level row loops.

Text columns take a *fast path* first (the spelling almost every export uses: 2021-03-01,
1234.50); only the rows it cannot read go through the slower general parser, on that subset
alone (``_with_fallback``).  In typical files the subset is empty and costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from medclaim.money import normalise_yuan_text, normalised_yuan_to_fen

#: Characters exports leave around values: Unicode white space (incl. ideographic space U+3000
#: and NBSP), plus BOM and zero-width space, which are not white space to Unicode.
STRAY_CHARS = " \t\r\n\x0b\x0c\u3000\u00a0\ufeff\u200b"
_INVISIBLE = ["\ufeff", "\u200b"]

#: Referral flags as people type them (compared lower-case).
FLAG_TRUE = ["是", "1", "1.0", "y", "yes", "true", "t"]
FLAG_FALSE = ["否", "0", "0.0", "n", "no", "false", "f"]

# A whole fen is accepted from a binary float only if it is this close (in fen): float noise is
# ~1e-9 fen at claim-sized amounts, a real third decimal is ≥ 0.1 fen away.
_FLOAT_FEN_TOLERANCE = 1e-6
# Yuan values whose fen would not fit an Int64 comfortably.
_MAX_ABS_YUAN = 10**15

# Every accepted date spelling rewritten to Y-M-D in one regex pass (text that does not match is
# left as is and then fails to parse): 2021-03-01, 2021/3/1, 2021.03.01, 2021年3月1日, each with
# an optional time of day and zone (ignored), and 20210301.
_DATE_SPELLINGS = (
    r"^(?:(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]+\d{1,2}[:：]\d{2}(?:[:：]\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
    r"|(\d{4})(\d{2})(\d{2}))$"
)
_DATE_AS_YMD = "${1}${4}-${2}${5}-${3}${6}"
_EXCEL_SERIAL = r"^\d{5}(?:\.\d+)?$"  # a date cell formatted as General: days since 1899-12-30
_EXCEL_FLOAT_TEXT = r"^-?\d+\.\d{3,}$"  # a float cell rendered with binary noise, e.g. 0.30000000000000004


@dataclass(frozen=True)
class ParsedColumn:
    value: pl.Series
    blank: pl.Series
    bad: pl.Series


def _evaluate(series: pl.Series, build: Callable[[pl.Expr], pl.Expr]) -> pl.Series:
    """Run a whole-column expression on one Series."""
    return pl.select(build(pl.lit(series))).to_series()


def _with_fallback(fast: pl.Series, text: pl.Series, slow: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``fast``, except where it is null for a non-blank cell: those rows (only) go to ``slow``."""
    need = fast.is_null() & ~_blank(text)
    if not need.any():
        return fast
    rows = need.arg_true()
    return fast.scatter(rows, slow(text.gather(rows)).cast(fast.dtype))


def _blank(text: pl.Series) -> pl.Series:
    return text.is_null() | (text == "")


def _all_false(series: pl.Series) -> pl.Series:
    return pl.repeat(False, series.len(), dtype=pl.Boolean, eager=True)


def absent(default: object, dtype: pl.DataType, height: int) -> ParsedColumn:
    """Column not in the file: every row gets the default; nothing is blank-as-error or bad."""
    return ParsedColumn(
        value=pl.repeat(default, height, dtype=dtype, eager=True),
        blank=pl.repeat(True, height, dtype=pl.Boolean, eager=True),
        bad=pl.repeat(False, height, dtype=pl.Boolean, eager=True),
    )


# ---------------------------------------------------------------- cleaned text


def needs_text(kind: str, dtype: pl.DataType) -> bool:
    """Whether a column of this kind and dtype is parsed from text (else natively typed)."""
    if kind == "date":
        return not (dtype == pl.Date or isinstance(dtype, pl.Datetime))
    if kind == "amount":
        return not (dtype.is_integer() or dtype.is_float() or isinstance(dtype, pl.Decimal))
    if kind == "flag":
        return not (dtype == pl.Boolean or dtype.is_numeric())
    return True  # ids and codes are text whatever the dtype


def clean_text(series: pl.Series, *, invisible: bool = True) -> pl.Series:
    """Cells as text without stray characters at either end (null stays null).  A typed number
    is written without a spurious '.0' or exponent, so an id 1.23e17 stays digits.

    ``invisible=False`` skips looking for BOM / zero-width space (the caller knows the file has
    none): on a 10M-row column that look costs as much as the strip itself."""
    if series.dtype.is_float():
        series = _evaluate(series, _float_as_text)
    text = series.cast(pl.String).str.strip_chars()  # Unicode white space: fast built-in
    if invisible and text.str.contains_any(_INVISIBLE).any():
        text = text.str.strip_chars(STRAY_CHARS)
    return text


def _float_as_text(col: pl.Expr) -> pl.Expr:
    whole = col.is_finite() & (col == col.round(0))
    as_int = col.cast(pl.Int64, strict=False).cast(pl.String)
    return pl.when(whole & as_int.is_not_null()).then(as_int).otherwise(col.cast(pl.String))


# ---------------------------------------------------------------- ids and codes (from text)


def parse_text(text: pl.Series) -> ParsedColumn:
    return ParsedColumn(value=text.fill_null(""), blank=_blank(text), bad=_all_false(text))


def _without_point_zero(text: pl.Series) -> pl.Series:
    """'123.0' → '123': what a spreadsheet or pandas round trip makes of a numeric id."""
    maybe = text.str.ends_with(".0") | text.str.ends_with(".00")  # cheap pre-filter for the regex
    if not maybe.any():
        return text
    rows = maybe.arg_true()
    subset = text.gather(rows)
    return text.scatter(rows, subset.str.replace(r"^(\d+)\.0+$", "${1}"))


def parse_id(text: pl.Series) -> ParsedColumn:
    value = _without_point_zero(text.fill_null(""))
    return ParsedColumn(value=value, blank=_blank(text), bad=_all_false(text))


def parse_code(text: pl.Series) -> ParsedColumn:
    """National two-digit code (hosp_lv 01–11, med_type 11/14/21…): Excel turns '01' into the
    number 1, so a lone digit is padded back; names such as 三级甲等 pass through unchanged."""
    value = _without_point_zero(text.fill_null(""))
    one_char = value.str.len_bytes() == 1  # cheap pre-filter for the regex
    if one_char.any():
        rows = one_char.arg_true()
        value = value.scatter(rows, value.gather(rows).str.replace(r"^(\d)$", "0${1}"))
    return ParsedColumn(value=value, blank=_blank(text), bad=_all_false(text))


# ---------------------------------------------------------------- dates


def _any_date_spelling(excel: bool) -> Callable[[pl.Series], pl.Series]:
    def parse(text: pl.Series) -> pl.Series:
        value = text.str.replace(_DATE_SPELLINGS, _DATE_AS_YMD).str.to_date("%Y-%m-%d", strict=False)
        if excel:
            days = text.str.extract(_EXCEL_SERIAL, 0).cast(pl.Float64, strict=False).floor().cast(pl.Int64)
            serial = _evaluate(days, lambda d: pl.date(1899, 12, 30) + pl.duration(days=d))
            value = value.fill_null(serial)
        return value

    return parse


def parse_date_text(text: pl.Series, *, excel: bool = False) -> ParsedColumn:
    fast = text.str.to_date("%Y-%m-%d", strict=False)  # 2021-03-01 and 2021-3-1
    value = _with_fallback(fast, text, _any_date_spelling(excel))
    blank = _blank(text)
    return ParsedColumn(value=value, blank=blank, bad=~blank & value.is_null())


def parse_date_typed(series: pl.Series) -> ParsedColumn:
    value = series.dt.date() if isinstance(series.dtype, pl.Datetime) else series
    return ParsedColumn(value=value, blank=series.is_null(), bad=_all_false(series))


# ---------------------------------------------------------------- amounts (yuan → Int64 fen)


def _float_yuan_to_fen(yuan: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Binary-float yuan → (fen, ok).  Accepted only when it is a whole fen up to float noise."""
    fen_float = yuan * 100
    nearest = fen_float.round(0)
    ok = yuan.is_finite() & ((fen_float - nearest).abs() <= _FLOAT_FEN_TOLERANCE) & (yuan.abs() < _MAX_ABS_YUAN)
    return pl.when(ok).then(nearest.cast(pl.Int64, strict=False)), ok


def _decimal_yuan_to_fen(yuan: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Decimal yuan → (fen, ok), exact integer arithmetic on the stored integer (value × 10^scale).
    With more than two decimals only whole fen pass (12.3400 yes, 12.3450 no)."""
    scale = yuan.dtype.scale or 0  # type: ignore[attr-defined]
    stored = yuan.to_physical().cast(pl.Int64, strict=False)  # Int128; too big for Int64 → null → bad
    if scale <= 2:
        fen = _evaluate(stored, lambda s: pl.when(s.abs() < _MAX_ABS_YUAN).then(s * 10 ** (2 - scale)))
        return fen, fen.is_not_null() | yuan.is_null()
    step = 10 ** (scale - 2)
    whole = ((stored % step) == 0).fill_null(False)
    fen = _evaluate(stored, lambda s: pl.when(pl.lit(whole)).then(s // step))
    return fen, fen.is_not_null() | yuan.is_null()


def parse_amount_typed(series: pl.Series) -> ParsedColumn:
    """A natively typed amount column (Parquet): Int yuan, Decimal yuan or Float yuan."""
    blank = series.is_null()
    if isinstance(series.dtype, pl.Decimal):
        fen, ok = _decimal_yuan_to_fen(series)
        return ParsedColumn(value=fen, blank=blank, bad=~blank & ~ok)

    def fen_and_ok(col: pl.Expr) -> pl.Expr:
        if series.dtype.is_integer():
            yuan = col.cast(pl.Int64, strict=False)
            ok = yuan.abs() < _MAX_ABS_YUAN
            fen = pl.when(ok).then(yuan * 100)
        else:
            fen, ok = _float_yuan_to_fen(col)
        return pl.struct(fen.alias("fen"), ok.fill_null(False).alias("ok"))

    result = _evaluate(series, fen_and_ok).struct.unnest()
    return ParsedColumn(value=result["fen"].cast(pl.Int64), blank=blank, bad=~blank & ~result["ok"])


def _any_yuan_spelling(excel: bool) -> Callable[[pl.Series], pl.Series]:
    """Currency signs, inner spaces, full-width digits; from Excel also float noise."""

    def parse(text: pl.Series) -> pl.Series:
        def build(col: pl.Expr) -> pl.Expr:
            yuan = normalise_yuan_text(col)
            fen, _ = normalised_yuan_to_fen(yuan)
            if excel:
                float_fen, _ = _float_yuan_to_fen(yuan.cast(pl.Float64, strict=False))
                fen = pl.when(fen.is_null() & yuan.str.contains(_EXCEL_FLOAT_TEXT)).then(float_fen).otherwise(fen)
            return fen

        return _evaluate(text, build)

    return parse


def parse_amount_text(text: pl.Series, *, excel: bool = False) -> ParsedColumn:
    """Yuan text via money's parser: plain '1234.50' / '1,234.50' in the fast path, anything
    needing normalisation in the fallback.  A null fen for a non-blank cell is a bad amount
    (not an amount, more than two decimals, or absurdly large)."""
    fast = _evaluate(text, lambda col: normalised_yuan_to_fen(col)[0])
    value = _with_fallback(fast.cast(pl.Int64), text, _any_yuan_spelling(excel))
    blank = _blank(text)
    return ParsedColumn(value=value, blank=blank, bad=~blank & value.is_null())


# ---------------------------------------------------------------- referral flag


def parse_flag_text(text: pl.Series) -> ParsedColumn:
    """是/否, 1/0, Y/N, yes/no, true/false in any case; blank means not referred."""
    blank = _blank(text)
    yes, no = text.is_in(FLAG_TRUE), text.is_in(FLAG_FALSE)
    other = ~blank & ~yes & ~no  # written in another case (YES, True): only those rows are lower-cased
    if other.any():
        rows = other.arg_true()
        lower = text.gather(rows).str.to_lowercase()
        yes, no = yes.scatter(rows, lower.is_in(FLAG_TRUE)), no.scatter(rows, lower.is_in(FLAG_FALSE))
    return ParsedColumn(value=yes.fill_null(False), blank=blank, bad=(~blank & ~yes & ~no).fill_null(False))


def parse_flag_typed(series: pl.Series) -> ParsedColumn:
    blank = series.is_null()
    if series.dtype == pl.Boolean:
        return ParsedColumn(value=series.fill_null(False), blank=blank, bad=_all_false(series))
    value = (series == 1).fill_null(False)
    bad = ~blank & ~series.is_in([0, 1]).fill_null(False)
    return ParsedColumn(value=value, blank=blank, bad=bad)
