"""report.xlsx: one sheet per table (numbers as numbers, money #,##0.00, rates as percentages,
frozen header, autofilter) and a chart sheet of native Excel charts drawn from those cells.

Native charts (xlsxwriter ``add_chart``) are plain DrawingML: Excel, WPS and LibreOffice draw them
from the sheet's cells, so a reader who filters or edits a month sees the chart follow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xlsxwriter

from .layout import COLOURS, Chart, Document, Table

_BAD = set('[]:*?/\\')


def sheet_name(title: str, used: set[str]) -> str:
    name = "".join("_" if ch in _BAD else ch for ch in title)[:31] or "sheet"
    base, n = name, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(name.lower())
    return name


def write_workbook(doc: Document, path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": False})
    try:
        f = {
            "head": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"}),
            "money": wb.add_format({"num_format": "#,##0.00"}),
            "count": wb.add_format({"num_format": "#,##0"}),
            "rate": wb.add_format({"num_format": "0.00%"}),
            "text": wb.add_format({}),
            "title": wb.add_format({"bold": True, "font_size": 14}),
            "alert": wb.add_format({"bold": True, "font_color": "#C00000"}),
            "note": wb.add_format({"italic": True, "font_color": "#595959"}),
        }
        total = {k: wb.add_format({**props, "bold": True, "top": 1}) for k, props in
                 (("money", {"num_format": "#,##0.00"}), ("count", {"num_format": "#,##0"}), ("rate", {"num_format": "0.00%"}), ("text", {}))}
        used: set[str] = set()
        names: dict[str, str] = {}
        charts_sheet = None
        for table in doc.tables:
            names[table.key] = _write_table(wb, table, sheet_name(table.title, used), f, total)
            if charts_sheet is None:  # the charts right after the overview
                charts_sheet = wb.add_worksheet(sheet_name(_charts_title(doc), used))
        _write_charts(wb, charts_sheet, doc, names, f)
    finally:
        wb.close()
    return path


def _charts_title(doc: Document) -> str:
    from ..explain.labels import load_labels

    return load_labels(doc.lang)("report.section.charts")


def _value(v: Any, kind: str) -> Any:
    """A cell as Excel wants it: money in yuan, rates as fractions; integers stay exact in fen until here."""
    if v is None or isinstance(v, str):
        return v
    if kind == "money":
        return v / 100
    if kind == "rate":
        return v / 10_000
    return v


def _write_table(wb, table: Table, name: str, f: dict, total: dict) -> str:
    ws = wb.add_worksheet(name)
    for c, col in enumerate(table.columns):
        ws.write_string(0, c, col.title, f["head"])
        ws.set_column(c, c, max(10, min(40, len(col.title) * 2 + 2)) if col.kind == "text" else 16)
    for r, row in enumerate(table.rows, start=1):
        for c, v in enumerate(row):
            kind = table.kind(r - 1, c)
            _put(ws, r, c, _value(v, kind), f[kind])
    last = len(table.rows)
    if table.total:
        last += 1
        for c, v in enumerate(table.total):
            kind = table.columns[c].kind
            _put(ws, last, c, _value(v, kind) if v != "" else None, total[kind])
    ws.freeze_panes(1, 1)
    if table.rows:
        ws.autofilter(0, 0, len(table.rows), len(table.columns) - 1)
    for i, note in enumerate(table.notes):
        ws.write_string(last + 2 + i, 0, note, f["note"])
    return name


def _put(ws, r: int, c: int, v: Any, fmt) -> None:
    if v is None:
        ws.write_blank(r, c, None, fmt)
    elif isinstance(v, str):
        ws.write_string(r, c, v, fmt)
    else:
        ws.write_number(r, c, v, fmt)


def _write_charts(wb, ws, doc: Document, names: dict[str, str], f: dict) -> None:
    ws.write_string(0, 0, doc.title, f["title"])
    ws.write_string(1, 0, doc.subtitle, f["note"])
    row = 3
    for a in doc.alerts:
        ws.write_string(row, 0, a, f["alert"])
        row += 1
    row += 1
    for chart in doc.charts:
        ws.insert_chart(row, 0, _chart(wb, chart, names[chart.table], doc.table(chart.table)), {"x_scale": 1.6, "y_scale": 1.3})
        row += 22


def _chart(wb, chart: Chart, sheet: str, table: Table):
    if chart.kind == "stacked_column":
        c = wb.add_chart({"type": "column", "subtype": "stacked"})
    else:
        c = wb.add_chart({"type": "bar"})
    n = len(table.rows)
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
