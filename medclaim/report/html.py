"""report.html: one self-contained file (inline CSS and SVG, no script, nothing fetched)."""

from __future__ import annotations

from html import escape
from pathlib import Path

from ..labels import load_labels
from .layout import Document, Table, cell_text
from .svg import render

CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC","WenQuanYi Micro Hei",sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid #1f77b4;padding-bottom:4px}
.sub{color:#595959;font-size:13px}
.alert{background:#fde8e8;border-left:6px solid #c00000;color:#c00000;font-weight:bold;padding:8px 12px;margin:12px 0}
.note{color:#595959;font-size:13px;margin:4px 0}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
th,td{border:1px solid #d9d9d9;padding:3px 8px}th{background:#ddebf7;text-align:left;vertical-align:top}
th{min-width:3.5em}td:first-child{white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}tr.total td{font-weight:bold;border-top:2px solid #595959}
td.bad{color:#c00000;font-weight:bold}td.good{color:#2e7d32;font-weight:bold}
.charts svg{display:block;margin:8px 0 16px;max-width:100%;height:auto}
"""


def _table(t: Table, marks: dict[str, str]) -> str:
    """``marks``: cell texts drawn as good / bad (达标 / 未达标, 预警)."""
    head = "".join(f"<th>{escape(c.title)}</th>" for c in t.columns)
    body = []
    for i, row in enumerate(t.rows):
        cells = []
        for j, v in enumerate(row):
            kind = t.kind(i, j)
            cls = "n" if kind != "text" else marks.get(v, "") if isinstance(v, str) else ""
            cells.append(f'<td class="{cls}">{escape(cell_text(v, kind))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    if t.total:
        cells = "".join(
            f'<td class="{"n" if c.kind != "text" else ""}">{escape(cell_text(v, c.kind)) if v != "" else ""}</td>'
            for c, v in zip(t.columns, t.total)
        )
        body.append(f'<tr class="total">{cells}</tr>')
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in t.notes)
    return f'<h2 id="{escape(t.key)}">{escape(t.title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>{notes}'


def render_html(doc: Document) -> str:
    alerts = "".join(f'<div class="alert">{escape(a)}</div>' for a in doc.alerts)
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in doc.notes)
    charts = "".join(render(c) for c in doc.charts)
    w = load_labels(doc.lang)
    marks = {w("report.met.yes"): "good", w("report.met.no"): "bad", w("report.budget.yes"): "bad"}
    tables = "".join(_table(t, marks) for t in doc.tables)
    lang = "zh-CN" if doc.lang == "zh" else doc.lang
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(doc.title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{escape(doc.title)}</h1><p class="sub">{escape(doc.subtitle)}</p>{alerts}{notes}'
        f'<div class="charts">{charts}</div>{tables}'
        f'<p class="sub">{escape(doc.generated)}</p></body></html>\n'
    )


def write_html(doc: Document, path: Path) -> Path:
    path.write_text(render_html(doc), encoding="utf-8")
    return path
