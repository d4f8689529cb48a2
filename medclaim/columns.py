"""What each ledger column is: its unit, and whether files for people show it.

One table serves three outputs:

* the Parquet ledger keeps integer fen and basis points, and says the unit of every column in
  its Parquet metadata (``arrow_schema``): field metadata ``unit`` and a file-level
  ``medclaim.units`` JSON map;
* CSV and Excel files for people show money in yuan and ratios as percentages, under Chinese
  headers by default (``medclaim/labels/<lang>.yaml``, key ``column.<name>``);
* the engine's intermediate figures (deductible factors, cap inputs, 大病 per band…) stay in the
  Parquet ledger, where ``explain`` reads them; people files show the national output fields, the
  descriptive columns, class/tier/place/identity, the rule set, the running totals and the flags.

The table follows whatever columns a ledger has: a listed column that is absent is skipped, and
``unit_of`` classifies the engine's families of columns by name (``ci_band2_pay`` is fen).  A
column nobody classified is still shown (under its code, unit from its type) — and a test fails
until it is added here, so no money column is ever shown in fen to people by accident.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Callable

import polars as pl


class Unit(str, Enum):
    FEN = "fen"  # integer fen; yuan (two decimals) for people
    BP = "bp"  # basis points (1 % = 100); a percentage for people
    COUNT = "count"  # a plain integer (claims, admissions, a row number)
    YEAR = "year"  # a calendar year, shown without thousands separators
    DATE = "date"
    FLAG = "flag"  # true / false
    TEXT = "text"  # ids, codes, names — never a number, even when made of digits
    FEN_BP = "fen_bp"  # fen × basis points: an exact product before rounding (÷ 10,000 = fen)



def cells_as_text(
    frame: pl.DataFrame,
    columns: dict[str, Unit],
    flags: tuple[str, str],
    *,
    ratio: Callable[[pl.Expr], pl.Expr],
    date: Callable[[pl.Expr], pl.Expr],
    text: Callable[[pl.Expr], pl.Expr] = lambda e: e,
) -> dict[str, pl.Expr]:
    """Each column's cells as text by its unit, for a file meant for people: money in exact yuan
    from integer fen (no float), counts and years as plain integers, flags as the two words
    given.  How ratios, dates and other text are written differs by file (CSV: a percentage,
    an ISO date, formula-escaped text; xlsx: a fraction, a serial day number), so the caller
    says.  A column the frame lacks comes out empty."""
    from .money import fen_to_yuan_expr

    out = {}
    for c, unit in columns.items():
        col = pl.col(c) if c in frame.columns else pl.lit(None)
        if unit is Unit.FEN:
            e = fen_to_yuan_expr(col.cast(pl.Int64))
        elif unit is Unit.BP:
            e = ratio(col.cast(pl.Int64))
        elif unit in (Unit.COUNT, Unit.YEAR):
            e = col.cast(pl.Int64).cast(pl.String)
        elif unit is Unit.DATE:
            e = date(col.cast(pl.Date))
        elif unit is Unit.FLAG:
            e = pl.when(col.cast(pl.Boolean)).then(pl.lit(flags[0])).when(col.is_not_null()).then(pl.lit(flags[1]))
        else:
            e = text(col.cast(pl.String))
        out[c] = e
    return out

F, B, C, Y, D, G, T = Unit.FEN, Unit.BP, Unit.COUNT, Unit.YEAR, Unit.DATE, Unit.FLAG, Unit.TEXT

#: Columns shown in files for people, in the order shown.  Absent ones are skipped.
PEOPLE: dict[str, Unit] = {
    "setl_id": T, "psn_no": T, "psn_name": T, "certno": T,
    "fixmedins_code": T, "fixmedins_name": T, "dept": T, "dise_codg": T, "dise_name": T,
    "begndate": D, "enddate": D, "year": Y,
    "med_type": T, "benefit_class": T, "hosp_lv": T, "tier": T, "pay_loc": T, "place": T, "refl_flag": G,
    "psn_idet_type": T, "claim_idet_type": T, "identity": T, "benefit_start": D, "coverage_end": D,
    "medfee_sumamt": F, "fulamt_ownpay_amt": F, "overlmt_selfpay": F, "preselfpay_amt": F, "inscp_scp_amt": F,
    "act_pay_dedc": F, "hifp_pay": F, "hifmi_pay": F, "maf_pay": F, "fund_pay_sumamt": F, "psn_part_amt": F,
    "reported_hifp_pay": F, "reported_hifmi_pay": F, "reported_maf_pay": F, "reported_act_pay_dedc": F,
    "reported_fund_pay_sumamt": F, "reported_psn_part_amt": F,
    "ytd_claims": C, "ytd_admissions": C, "ytd_medfee": F, "ytd_hifp": F, "ytd_hifmi": F, "ytd_maf": F,
    "ytd_psn_part": F, "ytd_critical_base": F,
    "basic_cap_reached": G, "critical_threshold_reached": G, "critical_cap_reached": G,
    "not_covered": G, "not_covered_reason": T, "identity_mismatch": G,
    "late": G, "is_reversal": G, "reverses_entry": C, "reversal_reason": T,
    "ruleset_id": T, "ruleset_version": T, "run": C, "entry_no": C, "source_file": T, "source_row": C,
}

#: The engine's own columns: kept in the Parquet ledger (explain reads them), not in people files.
INTERNAL: dict[str, Unit] = {
    "fixed_hifp_raw": F, "fixed_dedc": F, "entry_rank": C, "run_start": G, "covered": G,
    "scope": F, "pre": F, "dedc": F, "ratio_bp": B, "hifp_raw": F, "ytd_chronic_scope": F,
    "ip_admission_no": C, "ytd_assist_base": F, "ip_ratio_base": B,
    "fixed_hifp_pay": F, "fixed_hifmi_pay": F, "fixed_maf_pay": F,
    "co_part": F, "ma_part": F, "ci_before_cap": F, "ma_before_limit": F,
    "ci_product": Unit.FEN_BP, "co_product": Unit.FEN_BP, "ma_product": Unit.FEN_BP,
}
#: Families of engine columns, by name (first match wins).
INTERNAL_PATTERNS: list[tuple[re.Pattern[str], Unit]] = [
    (re.compile(p), u)
    for p, u in [
        (r"^(ytd_cap_|cap_in_|cap_cut_|fixed_cap_|open_)", F),
        (r"(_ratio|_points|_factor|_bp)$", B),
        (r"^ci_band\d+_(base|pay)$", F),
        (r"^(ip_deductible_base|ip_deductible|ci_base|ci_threshold|ci_cap|ci_cap_cut|ma_base|ma_deductible|ma_limit)$", F),
    ]
]

#: The columns of rejects.csv, in order (all text but the row number).
REJECTS: dict[str, Unit] = {
    "source_file": T, "source_row": C, "setl_id": T, "column": T, "reason_code": T, "message": T, "raw": T,
}


def unit_of(column: str, dtype: pl.DataType | None = None) -> Unit | None:
    """The unit of a ledger column, or None when the table does not know it."""
    if column in PEOPLE:
        return PEOPLE[column]
    if column in INTERNAL:
        return INTERNAL[column]
    for pattern, unit in INTERNAL_PATTERNS:
        if pattern.search(column):
            return unit
    return None


def unit_from_dtype(dtype: pl.DataType) -> Unit:
    """A safe guess for a column nobody classified: never money (a fen figure must not pass as yuan)."""
    if dtype == pl.Date or dtype == pl.Datetime:
        return D
    if dtype == pl.Boolean:
        return G
    if dtype.is_integer():
        return C
    return T


def unclassified(schema: pl.Schema | dict[str, pl.DataType]) -> list[str]:
    return [c for c in schema if unit_of(c) is None]


def people_columns(schema: pl.Schema | dict[str, pl.DataType]) -> dict[str, Unit]:
    """The columns a people file shows for a ledger with this schema, in order, with their units:
    the listed ones present, then any column nobody classified (never hidden silently)."""
    shown = {c: u for c, u in PEOPLE.items() if c in schema}
    for c in unclassified(schema):
        shown[c] = unit_from_dtype(schema[c])
    return shown


def units(schema: pl.Schema | dict[str, pl.DataType]) -> dict[str, str]:
    """Every column's unit (for the Parquet metadata)."""
    return {c: (unit_of(c) or unit_from_dtype(t)).value for c, t in schema.items()}


UNITS_KEY = "medclaim.units"
UNITS_NOTE = "money columns (unit fen) are integer fen: 1 yuan = 100 fen; ratios (unit bp) are basis points: 1 % = 100 bp"


def arrow_schema(schema: pl.Schema | dict[str, pl.DataType]):
    """The Arrow schema of a ledger Parquet file: each field's ``unit`` in its metadata, and the
    whole map under ``medclaim.units`` in the file's metadata (readable with pyarrow)."""
    arrow = pl.DataFrame(schema=schema).to_arrow().schema
    u = units(schema)
    fields = [f.with_metadata({"unit": u[f.name]}) for f in arrow]
    import pyarrow as pa

    return pa.schema(fields, metadata={UNITS_KEY: json.dumps(u, ensure_ascii=False), "medclaim.units_note": UNITS_NOTE})


def with_units(table):
    """An Arrow table with the unit metadata of ``arrow_schema`` (same columns, same data)."""
    schema = arrow_schema(pl.from_arrow(table.slice(0, 0)).schema)
    return table.cast(schema)


def write_parquet(frame: pl.DataFrame, path, **kw) -> None:
    """Write a ledger frame as Parquet with its unit metadata."""
    import pyarrow.parquet as pq

    from .parquet import codec

    table = with_units(frame.to_arrow())
    pq.write_table(table, path, **{**codec(table.schema), **kw})
