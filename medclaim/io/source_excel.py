"""Excel workbooks (.xlsx, .xlsm, .xls) via fastexcel: which sheets hold claims, where their header is.

A sheet is loaded whole as text (fastexcel has no row streaming) and handed out batch by batch.
"""

from __future__ import annotations

import html
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fastexcel
import polars as pl

from medclaim.io.errors import InputFileError
from medclaim.io.headerrow import SCAN_ROWS, locate_header, try_locate_header
from medclaim.io.headers import Vocabulary
from medclaim.io.table import RawTable, TableOptions, drop_positions, blank_row_positions, column_name, frame_batches


_XML_ATTR = re.compile(r'([\w:]+)="([^"]*)"')
_FIRST_VALUE_CELL = re.compile(rb'<c\b[^>]*?\br="[A-Z]+(\d+)"[^>]*(?<!/)>(?:(?!</c>).)*?<(?:v|is)[\s>]', re.DOTALL)


def _first_used_rows(path: Path) -> dict[str, int]:
    """Sheet name -> the sheet row of its first non-empty cell (xlsx / xlsm).

    fastexcel starts a sheet at its first used row, so a sheet whose row 1 is empty would be
    numbered from the wrong row; this finds the offset.  On any surprise: {} (rows count from 1)."""
    try:
        with zipfile.ZipFile(path) as z:
            book = z.read("xl/workbook.xml").decode("utf-8", "replace")
            rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            targets = {}
            for element in re.findall(r"<Relationship\b[^>]*>", rels):
                attrs = dict(_XML_ATTR.findall(element))
                targets[attrs.get("Id")] = attrs.get("Target", "")
            first = {}
            for element in re.findall(r"<sheet\b[^>]*>", book):
                attrs = dict(_XML_ATTR.findall(element))
                target = targets.get(attrs.get("r:id"), "")
                member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                with z.open(member) as fh:
                    found = _FIRST_VALUE_CELL.search(fh.read(4 << 20))
                if found:
                    first[html.unescape(attrs.get("name", ""))] = int(found.group(1))
            return first
    except Exception:  # noqa: BLE001 — only a row-number nicety: never a reason to fail
        return {}


def _cells(frame: pl.DataFrame) -> list[list[str]]:
    return [["" if v is None else str(v) for v in row] for row in frame.rows()]


@dataclass
class _Sheet:
    index: int
    name: str
    visible: bool
    first_row: int  # sheet row of the first row fastexcel gives
    head: list[list[str]]  # the first rows, as text
    header: int | None  # index in ``head`` of the claims header, if any


def _survey(reader: fastexcel.ExcelReader, first_rows: dict[str, int], vocabulary: Vocabulary) -> list[_Sheet]:
    sheets = []
    for index, sheet_name in enumerate(reader.sheet_names):
        loaded = reader.load_sheet(index, header_row=None, n_rows=SCAN_ROWS, dtypes="string")
        head = _cells(loaded.to_polars())
        visible = getattr(loaded, "visible", "visible") == "visible"
        sheets.append(_Sheet(index, sheet_name, visible, first_rows.get(sheet_name, 1), head, try_locate_header(head, vocabulary)))
    return sheets


def _header_key(sheet: _Sheet) -> list[str]:
    from medclaim.io.headers import normalise_header

    assert sheet.header is not None
    return [normalise_header(c) for c in sheet.head[sheet.header]]


def _choose_sheets(sheets: list[_Sheet], name: str, options: TableOptions) -> tuple[list[_Sheet], list[str]]:
    """The sheets to read and, for each other sheet, why it was not read."""
    names = ", ".join(f"'{s.name}'" for s in sheets)
    if options.sheet is not None:
        chosen = [s for s in sheets if s.name == options.sheet] or [s for s in sheets if s.name.strip() == options.sheet.strip()]
        if not chosen:
            raise InputFileError(name, f"--sheet '{options.sheet}': the workbook has no such sheet; its sheets are {names}")
        return chosen[:1], [f"{s.name} (not the --sheet asked for)" for s in sheets if s is not chosen[0]]
    holding = [s for s in sheets if s.header is not None]
    visible = [s for s in holding if s.visible]
    pick = visible or holding
    if not pick:
        return [next((s for s in sheets if s.visible), sheets[0])], []  # its header problem is reported
    first = pick[0]
    same = [s for s in pick if _header_key(s) == _header_key(first)]
    differing = [s for s in pick if s not in same]
    if differing:
        raise InputFileError(
            name,
            f"sheets '{first.name}' and '{differing[0].name}' both hold claims but under different headers; "
            f"settle them one at a time with --sheet NAME (sheets: {names})",
        )

    def why(s: _Sheet) -> str:
        if s.header is not None and not s.visible:
            return f"{s.name} (hidden; holds claims — read it with --sheet '{s.name}' if it is meant)"
        if not s.visible:
            return f"{s.name} (hidden)"
        return f"{s.name} (no claims header in its first {SCAN_ROWS} rows)" if any(map(any, s.head)) else f"{s.name} (empty)"

    return same, [why(s) for s in sheets if s not in same]


def load_excel(path: Path, name: str, options: TableOptions) -> list[RawTable]:
    """All cells as text: fastexcel renders numbers without '.0' (an id 123 stays '123') and
    date cells as 'YYYY-MM-DD HH:MM:SS', and no column is silently re-typed.  Empty rows are
    kept by fastexcel, so row numbers match the sheet (its first used row is found separately).

    The sheet read is the visible one whose header names the claim fields (a cover or notes
    sheet first is common; a hidden sheet is never preferred to a visible one), or every such
    sheet when several share one header (a month split over sheets), or ``--sheet``."""
    reader = fastexcel.read_excel(path)
    fmt = "xls" if path.suffix.lower() == ".xls" else "xlsx"
    if not reader.sheet_names:
        raise InputFileError(name, "the workbook has no sheets; export the claims again")
    first_rows = _first_used_rows(path) if fmt == "xlsx" else {}
    sheets, not_read = _choose_sheets(_survey(reader, first_rows, options.vocabulary), name, options)
    tables = []
    for sheet in sheets:
        table_name = name if len(sheets) == 1 else f"{name} [{sheet.name}]"
        frame = reader.load_sheet(sheet.index, header_row=None, dtypes="string").to_polars()
        if frame.height == 0:
            raise InputFileError(table_name, f"sheet '{sheet.name}' is empty; export the claims again")
        header = locate_header(_cells(frame.head(max(SCAN_ROWS, options.header_row or 0))), table_name,
                               options.vocabulary, forced=options.header_row, first_number=sheet.first_row)
        frame = frame.rename({c: column_name(i) for i, c in enumerate(frame.columns)})
        frame = frame.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64) - header.index).slice(header.index + 1)
        frame = drop_positions(frame, blank_row_positions([frame[c] for c in frame.columns if c != "_row"]))

        def batches(positions: list[int], size: int, frame: pl.DataFrame = frame) -> Iterator[pl.DataFrame]:
            return frame_batches(frame.select("_row", *(column_name(p) for p in positions)), size)

        def row_texts(rows: list[int], frame: pl.DataFrame = frame) -> dict[int, list[str]]:
            picked = frame.filter(pl.col("_row").is_in(rows))
            return {row[0]: ["" if v is None else str(v) for v in row[1:]] for row in picked.rows()}

        tables.append(
            RawTable(
                labels=header.labels, batches=batches, format=fmt, headers=header.headers, name=table_name,
                header_row=header.number, title_rows=header.title_rows, sheet=sheet.name,
                sheets_not_read=tuple(not_read), row_texts=row_texts, rows=frame.height,
            )
        )
    return tables


#: This format's entry in ``medclaim.io.sources.FORMATS``: its reader, and its library's "cannot read" errors.
load = load_excel
READ_ERRORS: tuple[type[Exception], ...] = (fastexcel.FastExcelError,)
