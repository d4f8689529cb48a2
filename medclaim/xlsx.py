"""Excel workbooks a clerk can use as they are (xlsxwriter, constant memory).

Each cell is written with the writer of its unit, never with xlsxwriter's guessing ``write``:
money as a number in yuan formatted ``#,##0.00`` (so SUM works), ratios as numbers formatted as
percentages, dates as dates, years and counts as plain integers, and every text cell with
``write_string`` — a cell beginning with ``=`` stays text and never becomes a formula.  Sheets
get a frozen header row, an autofilter and widths fitted to their contents.  A table longer
than a sheet allows continues on further sheets (``台账``, ``台账 (2)``…); the caller is told.

Reusable by any command that writes a workbook: give ``write_workbook`` a list of ``Table``
(rows arrive in chunks, so a large ledger never sits in memory twice) and/or ``KeyValues``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import polars as pl

from .columns import Unit

#: Rows a worksheet holds (Excel 2007+), the header included.
SHEET_MAX_ROWS = 1_048_576
EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial day 0 for dates after 1900-03-01
_MAX_WIDTH = 48
_SAMPLE_ROWS = 2_000  # rows looked at to fit column widths

FORMATS = {
    Unit.FEN: "#,##0.00",
    Unit.BP: "0.00%",
    Unit.COUNT: "0",
    Unit.YEAR: "0",
    Unit.DATE: "yyyy-mm-dd",
}


@dataclass
class Table:
    """A sheet of rows: ``columns`` maps each column of the frames to its unit; ``headers`` to the
    header shown (the column name when absent); ``flags`` are the texts for true/false."""

    name: str
    columns: dict[str, Unit]
    chunks: Iterable[pl.DataFrame]
    headers: dict[str, str] = field(default_factory=dict)
    flags: tuple[str, str] = ("true", "false")
    #: called with the number of rows written after each chunk (progress displays)
    on_rows: Callable[[int], None] | None = None


@dataclass
class KeyValues:
    """A sheet of labelled figures (a summary): rows of cells, each cell ``(value, unit)`` or a
    plain string; rows listed in ``header_rows`` are headings."""

    name: str
    rows: list[list[Any]]
    header_rows: set[int] = field(default_factory=lambda: {0})


def display_width(text: str) -> int:
    """Columns a text takes in Excel: CJK characters count double."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_name(name: str, part: int = 1) -> str:
    base = _BAD_SHEET_CHARS.sub("_", name)[:31]
    if part == 1:
        return base
    suffix = f" ({part})"
    return base[: 31 - len(suffix)] + suffix


def excel_values(frame: pl.DataFrame, columns: dict[str, Unit], flags: tuple[str, str]) -> pl.DataFrame:
    """Cells as Excel stores them, converted a whole column at a time: yuan and fractions as
    floats, dates as serial day numbers, flags as their words, text as text."""
    exprs = []
    for c, unit in columns.items():
        col = pl.col(c) if c in frame.columns else pl.lit(None)
        if unit is Unit.FEN:
            e = col.cast(pl.Int64) / 100  # the nearest double to the exact yuan; Excel shows it exactly
        elif unit is Unit.BP:
            e = col.cast(pl.Int64) / 10_000
        elif unit in (Unit.COUNT, Unit.YEAR):
            e = col.cast(pl.Int64)
        elif unit is Unit.DATE:
            e = (col.cast(pl.Date) - pl.lit(EXCEL_EPOCH)).dt.total_days()
        elif unit is Unit.FLAG:
            e = pl.when(col.cast(pl.Boolean)).then(pl.lit(flags[0])).when(col.is_not_null()).then(pl.lit(flags[1]))
        else:
            e = col.cast(pl.String)
        exprs.append(e.alias(c))
    return frame.select(exprs)


class Workbook:
    """A thin wrapper over ``xlsxwriter.Workbook`` holding the formats every sheet uses."""

    def __init__(self, path: Path, max_rows: int = SHEET_MAX_ROWS):
        import xlsxwriter

        self.path = Path(path)
        self.max_rows = max_rows
        self.book = xlsxwriter.Workbook(
            str(self.path),
            {
                "constant_memory": True,
                "tmpdir": str(self.path.parent),  # large temporary files go where the workbook goes
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
                "use_zip64": True,
            },
        )
        self.header = self.book.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7", "border": 1})
        self.formats = {u: self.book.add_format({"num_format": f}) for u, f in FORMATS.items()}
        self.formats[Unit.TEXT] = self.formats[Unit.FLAG] = None
        self.sheets: dict[str, list[str]] = {}

    def close(self) -> None:
        self.book.close()

    # -------------------------------------------------------------- tables

    def _new_sheet(self, t: Table, part: int, widths: list[int]):
        ws = self.book.add_worksheet(sheet_name(t.name, part))
        for j, (c, unit) in enumerate(t.columns.items()):
            ws.set_column(j, j, widths[j], self.formats.get(unit))
        ws.set_row(0, None, self.header)
        for j, c in enumerate(t.columns):
            ws.write_string(0, j, t.headers.get(c, c), self.header)
        ws.freeze_panes(1, 0)
        self.sheets.setdefault(t.name, []).append(ws.name)
        return ws

    def table(self, t: Table) -> list[str]:
        """Write ``t`` over as many sheets as it needs; returns their names."""
        cols = list(t.columns)
        units = list(t.columns.values())
        per_sheet = self.max_rows - 1
        chunks = iter(t.chunks)
        first = next(chunks, None)
        first = excel_values(first if first is not None else pl.DataFrame(), t.columns, t.flags)
        widths = self._widths(t, first)
        writers = [self._writer(u) for u in units]
        fmts = [self.formats.get(u) for u in units]
        part, ws, row = 1, self._new_sheet(t, 1, widths), 0

        def finish(ws, last_row: int) -> None:
            ws.autofilter(0, 0, max(last_row, 0), len(cols) - 1)

        for chunk in _chain(first, (excel_values(c, t.columns, t.flags) for c in chunks)):
            values = [chunk.get_column(c).to_list() for c in cols]
            for i in range(chunk.height):
                if row == per_sheet:
                    finish(ws, row)
                    part += 1
                    ws, row = self._new_sheet(t, part, widths), 0
                row += 1
                for j, write in enumerate(writers):
                    v = values[j][i]
                    if v is not None:
                        write(ws, row, j, v, fmts[j])
            if t.on_rows:
                t.on_rows(chunk.height)
        finish(ws, row)
        return self.sheets[t.name]

    @staticmethod
    def _writer(unit: Unit):
        if unit in (Unit.TEXT, Unit.FLAG):
            return lambda ws, r, c, v, f: ws.write_string(r, c, v)
        return lambda ws, r, c, v, f: ws.write_number(r, c, v, f)

    @staticmethod
    def _widths(t: Table, sample: pl.DataFrame) -> list[int]:
        widths = []
        for c, unit in t.columns.items():
            header = display_width(t.headers.get(c, c))
            if unit is Unit.FEN:
                cells = sample.get_column(c).head(_SAMPLE_ROWS).abs().max() if sample.height else None
                content = len(f"{cells or 0:,.2f}") + 1
            elif unit is Unit.DATE:
                content = 10
            elif unit in (Unit.TEXT, Unit.FLAG) and sample.height:
                content = max((display_width(v) for v in sample.get_column(c).head(_SAMPLE_ROWS).drop_nulls().to_list()), default=0)
            else:
                content = 8
            widths.append(min(max(min(header, 24), content) + 2, _MAX_WIDTH))
        return widths

    # -------------------------------------------------------------- labelled figures

    def key_values(self, kv: KeyValues) -> str:
        ws = self.book.add_worksheet(sheet_name(kv.name))
        cells = [[c if isinstance(c, tuple) else (c, Unit.TEXT) for c in row] for row in kv.rows]
        widths: dict[int, int] = {}
        for r, row in enumerate(cells):
            for c, (value, unit) in enumerate(row):
                if value is not None and not (r in kv.header_rows and len(row) == 1):
                    shown = f"{value / 100:,.2f}" if unit is Unit.FEN else str(value)
                    widths[c] = max(widths.get(c, 0), display_width(shown))
        for c, w in widths.items():
            ws.set_column(c, c, min(w + 2, _MAX_WIDTH))
        for r, row in enumerate(cells):
            for c, (value, unit) in enumerate(row):
                if value is None:
                    continue
                if r in kv.header_rows:
                    ws.write_string(r, c, str(value), self.header)
                elif unit is Unit.FEN:
                    ws.write_number(r, c, value / 100, self.formats[Unit.FEN])
                elif unit is Unit.BP:
                    ws.write_number(r, c, value / 10_000, self.formats[Unit.BP])
                elif unit in (Unit.COUNT, Unit.YEAR):
                    ws.write_number(r, c, value, self.formats[unit])
                else:
                    ws.write_string(r, c, str(value))
        self.sheets[kv.name] = [ws.name]
        return ws.name


def _chain(first: pl.DataFrame, rest: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    yield first
    yield from rest


def write_workbook(path: Path, sheets: list[Table | KeyValues], max_rows: int = SHEET_MAX_ROWS) -> dict[str, list[str]]:
    """Write ``sheets`` in order into the workbook at ``path``; returns each sheet's name → the
    worksheet names it took (more than one when a table was split)."""
    wb = Workbook(path, max_rows)
    try:
        for s in sheets:
            if isinstance(s, Table):
                wb.table(s)
            else:
                wb.key_values(s)
    finally:
        wb.close()
    return wb.sheets
