"""report.xlsx: one sheet per table, written by the project's workbook helper (``medclaim.xlsx``:
numbers as numbers, money #,##0.00, rates as percentages, frozen header, autofilter), and a
chart sheet of native Excel charts drawn from those cells.

Native charts (xlsxwriter ``add_chart``) are plain DrawingML: Excel, WPS and LibreOffice draw them
from the sheet's cells, so a reader who corrects a month sees the chart follow.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..columns import Unit
from ..labels import load_labels
from ..xlsx import KeyValues, Table as SheetTable, Workbook, sheet_name
from .layout import COLOURS, Chart, Document, Table

UNITS = {"money": Unit.FEN, "rate": Unit.BP, "count": Unit.COUNT, "text": Unit.TEXT}


def _sheet(table: Table) -> SheetTable | KeyValues:
    if table.row_kinds is not None:  # item / value
        rows = [[c.title for c in table.columns]]
        rows += [[label, (value, UNITS[kind])] for (label, value), kind in zip(table.rows, table.row_kinds)]
        return KeyValues(table.title, rows)
    keys = [c.key for c in table.columns]
    rows = table.rows + ([[None if v == "" else v for v in table.total]] if table.total else [])
    schema = {c.key: (pl.String if c.kind == "text" else pl.Int64) for c in table.columns}
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    return SheetTable(table.title, {c.key: UNITS[c.kind] for c in table.columns}, [frame.select(keys)],
                      headers={c.key: c.title for c in table.columns})


def write_workbook(doc: Document, path: Path) -> Path:
    wb = Workbook(path)
    try:
        names: dict[str, str] = {}
        charts = None
        for table in doc.tables:
            s = _sheet(table)
            name = wb.key_values(s) if isinstance(s, KeyValues) else wb.table(s)[0]
            names[table.key] = name
            ws = wb.book.get_worksheet_by_name(name)
            below = len(table.rows) + (2 if table.total else 1) + 1
            for i, note in enumerate(table.notes):
                ws.write_string(below + i, 0, note)
            if charts is None:  # the charts right after the overview
                charts = wb.book.add_worksheet(sheet_name(load_labels(doc.lang)("report.section.charts")))
        _write_charts(wb, charts, doc, names)
    finally:
        wb.close()
    return path


def _write_charts(wb: Workbook, ws, doc: Document, names: dict[str, str]) -> None:
    bold = wb.book.add_format({"bold": True, "font_size": 14})
    alert = wb.book.add_format({"bold": True, "font_color": "#C00000"})
    ws.write_string(0, 0, doc.title, bold)
    ws.write_string(1, 0, doc.subtitle)
    row = 3
    for a in doc.alerts:
        ws.write_string(row, 0, a, alert)
        row += 1
    row += 1
    for chart in doc.charts:
        ws.insert_chart(row, 0, _chart(wb.book, chart, names[chart.table], len(doc.table(chart.table).rows)),
                        {"x_scale": 1.6, "y_scale": 1.3})
        row += 22


def _chart(book, chart: Chart, sheet: str, n: int):
    c = book.add_chart({"type": "column", "subtype": "stacked"} if chart.kind == "stacked_column" else {"type": "bar"})
    for s, col in zip(chart.series, chart.series_columns):
        c.add_series({
            "name": [sheet, 0, col],
            "categories": [sheet, 1, chart.category_column, n, chart.category_column],
            "values": [sheet, 1, col, n, col],
            "fill": {"color": COLOURS[s.key]},
            "border": {"none": True},
            "gap": 60,
        })
    c.set_title({"name": chart.title})
    axis = {"num_format": "0%" if chart.unit == "rate" else "#,##0", "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}}}
    if chart.kind == "clustered_bar":
        c.set_x_axis({**axis, "min": 0})
        c.set_y_axis({"reverse": True})
    else:
        c.set_y_axis(axis)
    c.set_legend({"position": "bottom"})
    c.set_size({"width": 720, "height": 400})
    return c
