"""Excel workbooks a clerk can use as they are.

Each cell is written as its unit requires, never guessed: money as a number in yuan formatted
``#,##0.00`` (so SUM works), ratios as numbers formatted as percentages, dates as dates, years
and counts as plain integers, and every text cell as a string — a cell beginning with ``=``
stays text and never becomes a formula.  Sheets get a frozen header row, an autofilter and
widths fitted to their contents.  A table longer than a sheet allows continues on further
sheets (``台账``, ``台账 (2)``…); the caller is told.

How: xlsxwriter writes the workbook's frame — sheets, header rows, column formats and widths,
panes, filters, small labelled sheets such as a summary — and the rows of large tables are then
written into their sheets' XML a whole chunk of rows at a time by polars expressions (numbers as
exact decimal text from integer fen, text escaped for XML as an inline string), so a million-row
ledger takes no Python loop per row or cell.

Reusable by any command that writes a workbook: give ``write_workbook`` a list of ``Table``
(rows arrive in chunks, so a large ledger never sits in memory twice) and/or ``KeyValues``; or
use ``Workbook`` and its xlsxwriter ``book`` directly (charts, notes below a table) — but write
nothing into a table's own rows, which are filled in when the workbook closes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import polars as pl

from .columns import Unit, cells_as_text

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
    #: the number of rows the chunks hold (sheets are laid out before the rows are written);
    #: None: counted here, holding the chunks in memory
    rows: int | None = None
    #: called with the number of rows written, every few thousand rows (progress displays)
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


_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
#: characters XML 1.0 cannot hold, written the way Excel itself escapes them (_x001F_)
_CONTROL = [chr(i) for i in range(32) if chr(i) not in "\t\n\r"]
_ROWS_PER_PIECE = 10_000  # rows turned into one XML string at a time (a few MB)


def column_letter(j: int) -> str:
    letters = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        letters = chr(65 + r) + letters
    return letters


def _xml_text(col: pl.Expr) -> pl.Expr:
    s = col.cast(pl.String).str.replace_all(r"_(x[0-9A-Fa-f]{4}_)", "_x005F_$1")  # a literal _xHHHH_ stays literal
    s = s.str.replace_many(list(_XML_ESCAPES), list(_XML_ESCAPES.values()))
    return s.str.replace_many(_CONTROL, [f"_x{ord(ch):04X}_" for ch in _CONTROL])


def _fraction_text(bp: pl.Expr) -> pl.Expr:
    """Basis points → the exact fraction as decimal text (7250 → '0.7250')."""
    a = bp.abs()
    text = pl.concat_str([(a // 10_000).cast(pl.String), pl.lit("."), (a % 10_000).cast(pl.String).str.zfill(4)])
    return pl.when(bp < 0).then(pl.lit("-") + text).otherwise(text)


def cell_values(frame: pl.DataFrame, columns: dict[str, Unit], flags: tuple[str, str]) -> list[pl.Expr]:
    """Each column's cells as Excel stores them, as text: yuan and fractions as exact decimals
    (from integer fen and basis points — no float), dates as serial day numbers, flags as words."""
    cells = cells_as_text(frame, columns, flags, ratio=_fraction_text,
                          date=lambda d: (d - pl.lit(EXCEL_EPOCH)).dt.total_days().cast(pl.String))
    return [e.alias(c) for c, e in cells.items()]


def rows_xml(frame: pl.DataFrame, columns: dict[str, Unit], flags: tuple[str, str], styles: dict[Unit, int | None],
             first_row: int) -> str:
    """``<row>`` elements for ``frame``, the first at 1-based sheet row ``first_row``."""
    if frame.height == 0:
        return ""
    values = frame.select(cell_values(frame, columns, flags))
    row = pl.int_range(first_row, first_row + frame.height, eager=False).cast(pl.String).alias("_r")
    cells = []
    for j, (c, unit) in enumerate(columns.items()):
        ref = column_letter(j)
        if unit in (Unit.TEXT, Unit.FLAG):
            text = pl.when(pl.col(c) != "").then(_xml_text(pl.col(c)))  # an empty text is a blank cell
            cells.append(pl.format(f'<c r="{ref}{{}}" t="inlineStr"><is><t xml:space="preserve">{{}}</t></is></c>', pl.col("_r"), text))
        else:
            style = f' s="{styles[unit]}"' if styles.get(unit) is not None else ""
            cells.append(pl.format(f'<c r="{ref}{{}}"{style}><v>{{}}</v></c>', pl.col("_r"), pl.col(c)))
    xml = values.with_columns(row).select(
        pl.format('<row r="{}">{}</row>', pl.col("_r"), pl.concat_str(cells, ignore_nulls=True)).str.join("")
    )
    return xml.item()


class _Rows:
    """Chunks handed out as runs of exactly ``n`` rows (a sheet's share), whatever their sizes."""

    def __init__(self, chunks: Iterable[pl.DataFrame]):
        self.chunks = iter(chunks)
        self.buffer: pl.DataFrame | None = None

    def peek(self) -> pl.DataFrame | None:
        if self.buffer is None or self.buffer.height == 0:
            self.buffer = next(self.chunks, None)
        return self.buffer

    def take(self, n: int) -> Iterator[pl.DataFrame]:
        while n > 0:
            chunk = self.peek()
            if chunk is None:
                return
            piece, self.buffer = chunk.head(n), chunk.slice(n)
            n -= piece.height
            yield piece


@dataclass
class _Pending:
    """A table sheet whose rows are filled in after xlsxwriter wrote its frame."""

    table: Table
    xml_name: str
    first_row: int  # 1-based sheet row of the first data row (2: under the header)
    rows: int


class Workbook:
    """xlsxwriter builds the frame of the workbook; ``close`` then fills the tables' rows in."""

    def __init__(self, path: Path, max_rows: int = SHEET_MAX_ROWS):
        import xlsxwriter

        self.path = Path(path)
        self.frame_path = self.path.with_name(f".{self.path.name}.frame.tmp-{os.getpid()}")
        self.max_rows = max_rows
        self.book = xlsxwriter.Workbook(
            str(self.frame_path),
            {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False, "use_zip64": True},
        )
        self.header = self.book.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7", "border": 1})
        by_pattern = {f: self.book.add_format({"num_format": f}) for f in set(FORMATS.values())}  # one object per pattern
        self.formats = {u: by_pattern[f] for u, f in FORMATS.items()}
        self.sheets: dict[str, list[str]] = {}
        self.pending: list[_Pending] = []
        self.sources: dict[int, _Rows] = {}

    def close(self) -> None:
        try:
            self.book.close()
            self._fill()
        finally:
            self.frame_path.unlink(missing_ok=True)

    def _fill(self) -> None:
        """Copy the frame into the workbook, writing each table sheet's rows into its XML."""
        import zipfile

        fills = {p.xml_name: p for p in self.pending}
        with zipfile.ZipFile(self.frame_path) as zin, zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zout:
            for item in zin.infolist():
                data = zin.read(item)
                p = fills.get(item.filename)
                if p is None:
                    zout.writestr(item, data)
                    continue
                xml = data.decode("utf-8")
                # the data rows go right under the header row; anything the caller wrote below
                # the table through xlsxwriter (notes) keeps its place after them
                header_end = xml.index("</row>", xml.index("<sheetData>")) + len("</row>")
                head, tail = xml[:header_end], xml[header_end:]
                last = column_letter(len(p.table.columns) - 1)
                head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}{p.first_row + p.rows - 1}"/>', head, count=1)
                styles = {u: f.xf_index for u, f in self.formats.items()}
                info = zipfile.ZipInfo(item.filename, date_time=item.date_time)
                info.compress_type = zipfile.ZIP_DEFLATED
                with zout.open(info, "w", force_zip64=True) as out:
                    out.write(head.encode("utf-8"))
                    row = p.first_row
                    for chunk in self.sources[id(p.table)].take(p.rows):
                        for lo in range(0, chunk.height, _ROWS_PER_PIECE):
                            piece = chunk.slice(lo, _ROWS_PER_PIECE)
                            out.write(rows_xml(piece, p.table.columns, p.table.flags, styles, row).encode("utf-8"))
                            row += piece.height
                            if p.table.on_rows:
                                p.table.on_rows(piece.height)
                    if row != p.first_row + p.rows:
                        raise ValueError(f"sheet {p.xml_name}: {row - p.first_row} rows arrived, {p.rows} expected")
                    out.write(tail.encode("utf-8"))

    # -------------------------------------------------------------- tables

    def _new_sheet(self, t: Table, part: int, widths: list[int], rows: int):
        ws = self.book.add_worksheet(sheet_name(t.name, part))
        for j, (c, unit) in enumerate(t.columns.items()):
            ws.set_column(j, j, widths[j], self.formats.get(unit))
        for j, c in enumerate(t.columns):
            ws.write_string(0, j, t.headers.get(c, c), self.header)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, rows, len(t.columns) - 1)
        self.sheets.setdefault(t.name, []).append(ws.name)
        self.pending.append(_Pending(t, f"xl/worksheets/sheet{ws.index + 1}.xml", 2, rows))
        return ws

    def table(self, t: Table) -> list[str]:
        """Lay ``t`` out over as many sheets as its rows need (filled in on ``close``)."""
        if t.rows is None:  # chunks given without their count: hold them to count them
            t.chunks = list(t.chunks)
            t.rows = sum(c.height for c in t.chunks)
        source = self.sources[id(t)] = _Rows(t.chunks)
        sample = source.peek()
        widths = self._widths(t, sample if sample is not None else pl.DataFrame())
        per_sheet = self.max_rows - 1
        left = t.rows
        part = 1
        while True:
            n = min(left, per_sheet)
            self._new_sheet(t, part, widths, n)
            left -= n
            if left <= 0:
                break
            part += 1
        return self.sheets[t.name]

    @staticmethod
    def _widths(t: Table, sample: pl.DataFrame) -> list[int]:
        sample = sample.head(_SAMPLE_ROWS)
        values = sample.select(cell_values(sample, t.columns, t.flags)) if sample.height else None
        widths = []
        for c, unit in t.columns.items():
            header = display_width(t.headers.get(c, c))
            if values is None or unit is Unit.DATE:
                content = 10
            elif unit is Unit.FEN:
                longest = values.get_column(c).str.len_chars().max() or 4
                content = longest + (longest - 4) // 3 + 1  # thousands separators
            else:
                content = max((display_width(v) for v in values.get_column(c).drop_nulls().unique().head(500).to_list()), default=0)
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
