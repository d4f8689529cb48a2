"""Turn one file's raw columns into canonical columns, and decide which rows are rejected and why.

Two passes:

1. ``canonical_frame`` parses every mapped column (``in.<field>``) into its canonical column plus
   ``_blank.<field>`` / ``_bad.<field>`` flags (column by column, see ``parse``), and ``row_ok``
   says whether a row passes every check.  This runs over all rows, so it builds no strings.
2. ``describe_rejects`` runs only over the (few) rejected rows and builds the reason code, the
   column label and a message that says what to do; ``raw_excerpt`` the short ``raw`` text.

The checks are listed once, in priority order: the first failing one is the row's reason, the
others are mentioned in its message.  Checks on values that could not be parsed stay silent
(the parse check already speaks for that cell).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from medclaim.io.headers import REQUIRED_FIELDS, HeaderMap
from medclaim.io.parse import (
    ParsedColumn,
    absent,
    clean_text,
    needs_text,
    parse_amount_text,
    parse_amount_typed,
    parse_code,
    parse_date_text,
    parse_date_typed,
    parse_flag_text,
    parse_flag_typed,
    parse_id,
    parse_text,
)
from medclaim.money import fen_to_yuan_expr
from medclaim.schema import PERSONAL_COLUMNS, RejectReason

AMOUNT_PARTS = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")
AMOUNT_FIELDS = ("medfee_sumamt", *AMOUNT_PARTS, "inscp_scp_amt")
#: Parsed but never a reason to reject here: only a rule set taking basic insurance as reported
#: uses it, and settlement rejects a row whose value it needs and cannot use.
#: The other reported amounts are compared by `medclaim audit` only.
REPORTED_FIELDS = (
    "reported_hifp_pay",
    "reported_hifmi_pay",
    "reported_maf_pay",
    "reported_act_pay_dedc",
    "reported_fund_pay_sumamt",
    "reported_psn_part_amt",
)
DATE_FIELDS = ("begndate", "enddate", "benefit_start")
#: Canonical fields null on every row of a file without their column (nothing derives them).
NULL_WHEN_ABSENT = (*REPORTED_FIELDS, "benefit_start")
#: Canonical fields parsed from the file (everything in CLAIM_SCHEMA but source_file/source_row).
PARSED_FIELDS = (
    "setl_id",
    "psn_no",
    "psn_idet_type",
    "med_type",
    "hosp_lv",
    "pay_loc",
    "refl_flag",
    "begndate",
    "enddate",
    "medfee_sumamt",
    *AMOUNT_PARTS,
    "inscp_scp_amt",
    *REPORTED_FIELDS,
    "benefit_start",
)

#: The largest amount one claim may carry: 99,999,999.99 yuan.  Anything larger is a data error
#: (e.g. 92233720368547758.07, a wrapped integer), and summing such values could overflow.
MAX_CLAIM_FEN = 100_000_000_00
#: Dates outside 1990-01-01 … 31 December of next year are typing or export errors (a two-digit
#: year such as 24-03-05 would otherwise be the year 24).
FIRST_PLAUSIBLE_YEAR = 1990

_WORKERS = max(1, min(8, os.cpu_count() or 1))
_RAW_CELL_CHARS = 60  # a cell quoted in a message or in `raw` is cut here
RAW_CHARS = 400  # the whole `raw` excerpt of a reject is cut here


def raw_col(field: str) -> str:
    """Name of the column holding a field's cells exactly as read from the file."""
    return f"in.{field}"


def blank_col(field: str) -> str:
    return f"_blank.{field}"


def bad_col(field: str) -> str:
    return f"_bad.{field}"


# ---------------------------------------------------------------- pass 1: parse

_KINDS = {
    "setl_id": "id",
    "psn_no": "id",
    "med_type": "code",
    "hosp_lv": "code",
    "psn_idet_type": "text",
    "pay_loc": "text",
    "refl_flag": "flag",
    **{f: "date" for f in DATE_FIELDS},
    **{f: "amount" for f in AMOUNT_FIELDS + REPORTED_FIELDS},
}
#: What an absent optional column means: ordinary resident, local care, not referred, no
#: benefit start; amounts are handled as blanks (parts 0, scope derived).
_ABSENT = {
    "id": ("", pl.String()),
    "code": ("", pl.String()),
    "text": ("", pl.String()),
    "flag": (False, pl.Boolean()),
    "date": (None, pl.Date()),
    "amount": (None, pl.Int64()),
}


@dataclass(frozen=True)
class SourceTraits:
    """What the parsers may assume about a file's cells."""

    excel: bool = False  # numbers and dates may arrive as Excel renders them
    invisible: bool = True  # cells may hide a BOM / zero-width space


def parse_field(field: str, cells: pl.Series | None, height: int, traits: SourceTraits) -> ParsedColumn:
    kind = _KINDS[field]
    if cells is None:
        return absent(*_ABSENT[kind], height)
    if not needs_text(kind, cells.dtype):
        if kind == "date":
            return parse_date_typed(cells)
        if kind == "amount":
            return parse_amount_typed(cells)
        return parse_flag_typed(cells)
    text = clean_text(cells, invisible=traits.invisible)
    if kind == "id":
        return parse_id(text)
    if kind == "code":
        return parse_code(text)
    if kind == "text":
        return parse_text(text)
    if kind == "date":
        return parse_date_text(text, excel=traits.excel)
    if kind == "amount":
        return parse_amount_text(text, excel=traits.excel)
    return parse_flag_text(text)


def canonical_frame(raw: pl.DataFrame, traits: SourceTraits) -> pl.DataFrame:
    """Add canonical columns and their blank/bad flags to ``raw`` (``_row`` + one
    ``in.<field>`` column per field present in the file; absent fields get their defaults)."""

    def parse(field: str) -> ParsedColumn:
        cells = raw.get_column(raw_col(field)) if raw_col(field) in raw.columns else None
        return parse_field(field, cells, raw.height, traits)

    # Columns are independent; polars releases the GIL, so threads use every core.
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        parsed = dict(zip(PARSED_FIELDS, pool.map(parse, PARSED_FIELDS)))
    columns: list[pl.Series] = []
    for field, p in parsed.items():
        columns += [p.value.alias(field), p.blank.alias(blank_col(field)), p.bad.alias(bad_col(field))]
    frame = raw.with_columns(columns)
    # A blank optional part is zero; a blank or absent scope is derived from the total.
    frame = frame.with_columns(
        [pl.when(pl.col(blank_col(f))).then(0).otherwise(pl.col(f)).cast(pl.Int64).alias(f) for f in AMOUNT_PARTS]
    )
    # Plain '+' (not sum_horizontal): an unparsable part must leave the derived scope unknown.
    parts_sum = pl.col(AMOUNT_PARTS[0]) + pl.col(AMOUNT_PARTS[1]) + pl.col(AMOUNT_PARTS[2])
    frame = frame.with_columns((pl.col("medfee_sumamt") - parts_sum).alias("_derived_scope"))
    return frame.with_columns(
        pl.when(pl.col(blank_col("inscp_scp_amt")))
        .then(pl.col("_derived_scope"))
        .otherwise(pl.col("inscp_scp_amt"))
        .alias("inscp_scp_amt"),
    )


# ---------------------------------------------------------------- the checks


@dataclass(frozen=True)
class Check:
    reason: RejectReason
    field: str  # reported in the reject's `column`
    failed: pl.Expr  # true where the row fails (never null)
    message: Callable[[], pl.Expr]  # built lazily: only evaluated on rejected rows


def _cell(field: str) -> pl.Expr:
    """The cell as the user typed it, shortened, for quoting in a message."""
    return pl.col(raw_col(field)).cast(pl.String).fill_null("").str.slice(0, _RAW_CELL_CHARS)


def _text(*parts: str | pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(p) if isinstance(p, str) else p for p in parts])


def _flag(name: str) -> pl.Expr:
    return pl.col(name).fill_null(False)


def row_checks(h: HeaderMap) -> list[Check]:
    """Every per-row check, most important first.  Only fields present in the file are checked
    (absent optional fields carry valid defaults)."""
    present = set(h.columns)
    label = h.label
    checks: list[Check] = []

    for f in REQUIRED_FIELDS:
        checks.append(
            Check(
                RejectReason.MISSING_FIELD,
                f,
                _flag(blank_col(f)),
                lambda f=f: _text(f"{label(f)} is empty but required; fill it in or remove the row"),
            )
        )
    for f in DATE_FIELDS:
        if f in present:
            checks.append(
                Check(
                    RejectReason.BAD_DATE,
                    f,
                    _flag(bad_col(f)),
                    lambda f=f: _text(
                        f"{label(f)} '",
                        _cell(f),
                        "' is not a valid date (write e.g. 2021-03-01, 2021/3/1, 20210301 or 2021年3月1日); "
                        "fix the cell or remove the row",
                    ),
                )
            )
    if h.stood_in.get("psn_no") == "certno":
        checks.append(
            Check(
                RejectReason.MISSING_FIELD,
                "psn_no",
                pl.col("psn_no").str.contains("*", literal=True).fill_null(False),
                lambda: _text(
                    f"there is no person-number column and {label('certno')} '",
                    _cell("psn_no"),
                    "' is masked, so it cannot tell people apart; export the file with 人员编号 or with full ID numbers",
                ),
            )
        )
    last_year = dt.date.today().year + 1
    for f in DATE_FIELDS:
        if f in present:
            checks.append(
                Check(
                    RejectReason.BAD_DATE,
                    f,
                    _flag_expr(~pl.col(f).dt.year().is_between(FIRST_PLAUSIBLE_YEAR, last_year)),
                    lambda f=f: _text(
                        f"{label(f)} '",
                        _cell(f),
                        f"' is outside {FIRST_PLAUSIBLE_YEAR}–{last_year} (read as ",
                        pl.col(f).dt.to_string("%Y-%m-%d"),
                        "); write the year with four digits and check the date",
                    ),
                )
            )
    for f in AMOUNT_FIELDS:
        if f in present:
            checks.append(
                Check(
                    RejectReason.BAD_AMOUNT,
                    f,
                    _flag(bad_col(f)),
                    lambda f=f: _text(
                        f"{label(f)} '",
                        _cell(f),
                        "' is not an amount in yuan with at most two decimals; fix the cell or remove the row",
                    ),
                )
            )
    for f in AMOUNT_FIELDS:
        if f in present:
            checks.append(
                Check(
                    RejectReason.BAD_AMOUNT,
                    f,
                    _flag_expr(pl.col(f).abs() >= MAX_CLAIM_FEN),
                    lambda f=f: _text(
                        f"{label(f)} '",
                        _cell(f),
                        f"' is more than {MAX_CLAIM_FEN // 100 - 1:,}.99 yuan, the most one claim can carry; "
                        "fix the cell or remove the row",
                    ),
                )
            )
    if "refl_flag" in present:
        checks.append(
            Check(
                RejectReason.BAD_FLAG,
                "refl_flag",
                _flag(bad_col("refl_flag")),
                lambda: _text(
                    f"{label('refl_flag')} '",
                    _cell("refl_flag"),
                    "' is not a referral flag; write 是/否, 1/0, Y/N or true/false (blank means 否)",
                ),
            )
        )
    for f in AMOUNT_FIELDS:
        if f in present:
            checks.append(
                Check(
                    RejectReason.NEGATIVE_AMOUNT,
                    f,
                    # a derived scope below zero means the parts exceed the total: reported as such
                    _flag_expr(~pl.col(blank_col(f)) & (pl.col(f) < 0)),
                    lambda f=f: _text(
                        f"{label(f)} is negative (",
                        fen_to_yuan_expr(pl.col(f)),
                        "); reversals and refunds are not accepted here — remove the row or enter the corrected settlement",
                    ),
                )
            )
    checks.append(
        Check(
            RejectReason.END_BEFORE_START,
            "enddate",
            _flag_expr(pl.col("enddate") < pl.col("begndate")),
            lambda: _text(
                f"{label('enddate')} ",
                pl.col("enddate").dt.to_string("%Y-%m-%d"),
                f" is before {label('begndate')} ",
                pl.col("begndate").dt.to_string("%Y-%m-%d"),
                "; fix the dates or remove the row",
            ),
        )
    )
    parts = [f for f in AMOUNT_PARTS if f in present]
    if parts:
        parts_sum = pl.lit(0, pl.Int64)
        for f in parts:
            parts_sum = parts_sum + pl.col(f)
        checks.append(
            Check(
                RejectReason.INCONSISTENT_AMOUNTS,
                "medfee_sumamt",
                _flag_expr(parts_sum > pl.col("medfee_sumamt")),
                lambda: _text(
                    " + ".join(label(f) for f in parts),
                    " = ",
                    fen_to_yuan_expr(parts_sum),
                    f" is more than {label('medfee_sumamt')} ",
                    fen_to_yuan_expr(pl.col("medfee_sumamt")),
                    "; fix the amounts or remove the row",
                ),
            )
        )
    if "inscp_scp_amt" in present:
        given = ~pl.col(blank_col("inscp_scp_amt"))
        formula = " − ".join([label("medfee_sumamt"), *(label(f) for f in parts)])
        # With every part in the file the scope is exactly total − parts; with some part columns
        # absent (they are not needed when the scope is given) it can only be at most that.
        complete = len(parts) == len(AMOUNT_PARTS)
        scope, derived = pl.col("inscp_scp_amt"), pl.col("_derived_scope")
        checks.append(
            Check(
                RejectReason.INCONSISTENT_AMOUNTS,
                "inscp_scp_amt",
                _flag_expr(given & ((scope != derived) if complete else (scope > derived))),
                lambda: _text(
                    f"{label('inscp_scp_amt')} ",
                    fen_to_yuan_expr(pl.col("inscp_scp_amt")),
                    f" does not equal {formula} = " if complete else f" is more than {formula} = ",
                    fen_to_yuan_expr(pl.col("_derived_scope")),
                    f"; correct the amounts, or leave {label('inscp_scp_amt')} empty to have it derived",
                ),
            )
        )
    return checks


def _flag_expr(condition: pl.Expr) -> pl.Expr:
    # A comparison with an unparsed (null) value is not a failure of *this* check; the parse
    # check for that cell already fails.
    return condition.fill_null(False)


def row_ok(checks: list[Check]) -> pl.Expr:
    return ~pl.any_horizontal([c.failed for c in checks])


# ---------------------------------------------------------------- pass 2: describe rejects


def describe_rejects(rejected: pl.DataFrame, checks: list[Check], h: HeaderMap) -> pl.DataFrame:
    """Add _reason, _column and _message for rows that fail at least one check (the first
    failing check wins; the others are listed after 'also:')."""
    reason = pl.when(checks[0].failed).then(pl.lit(checks[0].reason.value))
    column = pl.when(checks[0].failed).then(pl.lit(h.describe(checks[0].field)))
    message = pl.when(checks[0].failed).then(checks[0].message())
    for c in checks[1:]:
        reason = reason.when(c.failed).then(pl.lit(c.reason.value))
        column = column.when(c.failed).then(pl.lit(h.describe(c.field)))
        message = message.when(c.failed).then(c.message())
    failures = pl.concat_list([pl.when(c.failed).then(pl.lit(f"{c.reason.value} in {h.label(c.field)}")) for c in checks])
    others = failures.list.drop_nulls().list.slice(1).list.join("; ")
    message = pl.when(others != "").then(pl.concat_str([message, pl.lit(" (also: "), others, pl.lit(")")])).otherwise(message)
    return rejected.with_columns(reason.alias("_reason"), column.alias("_column"), message.alias("_message"))


def raw_excerpt(h: HeaderMap) -> pl.Expr:
    """'结算ID=S1; 总费用=12,34a; …' over the claim columns only: names and ID numbers (personal
    descriptive columns, unrecognised columns) do not travel into rejects files — except an ID
    number standing in for the person number, which is needed to find the row."""
    ordered = sorted((f for f in h.columns if f not in PERSONAL_COLUMNS), key=h.columns.get)
    pairs = [pl.concat_str([pl.lit(f"{h.label(f)}="), _cell(f)]) for f in ordered]
    return pl.concat_str(pairs, separator="; ").str.slice(0, RAW_CHARS)
