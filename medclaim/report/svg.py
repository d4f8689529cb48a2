"""Charts as inline SVG, drawn from the same ``Chart`` model as the Excel charts.

No script, no web font, no network: the report opens anywhere, offline, and prints.
"""

from __future__ import annotations

from html import escape

from ..money import fen_to_yuan_display, pct_str
from .layout import COLOURS, Chart

W, H = 860, 380
LEFT, RIGHT, TOP, BOTTOM = 110, 20, 40, 80


def nice_max(v: float) -> float:
    """A round axis maximum at or above v (1, 2, 2.5, 5 × 10^k)."""
    if v <= 0:
        return 1.0
    k = 1.0
    while k * 10 <= v:
        k *= 10
    while k > v:
        k /= 10
    for m in (1, 2, 2.5, 5, 10):
        if m * k >= v:
            return m * k
    return 10 * k


def _label(v: float, unit: str) -> str:
    if unit == "rate":
        return pct_str(round(v))
    return fen_to_yuan_display(round(v)).removesuffix(".00")


def text_px(text: str, size: int = 13) -> float:
    """About how wide a text is drawn: CJK characters are square, others about half as wide."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.56 for ch in text)


def _legend(chart: Chart, y: int) -> str:
    out, x = [], float(LEFT)
    for s in chart.series:
        out.append(f'<rect x="{x:.0f}" y="{y}" width="14" height="14" fill="{COLOURS[s.key]}"/>'
                   f'<text x="{x + 20:.0f}" y="{y + 12}" font-size="13">{escape(s.name)}</text>')
        x += 44 + text_px(s.name)
    return "".join(out)


def stacked_column(chart: Chart) -> str:
    n = max(1, len(chart.categories))
    totals = [sum(max(0, s.values[i] or 0) for s in chart.series) for i in range(len(chart.categories))]
    top = nice_max(max(totals or [0]))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    slot = plot_w / n
    bar = min(60.0, slot * 0.6)
    parts = [_axes(top, chart.unit, plot_w, plot_h)]
    for i, cat in enumerate(chart.categories):
        x = LEFT + slot * i + (slot - bar) / 2
        y = TOP + plot_h
        for s in chart.series:
            v = max(0, s.values[i] or 0)
            h = plot_h * v / top
            y -= h
            if h > 0:
                parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{COLOURS[s.key]}">'
                             f"<title>{escape(cat)} · {escape(s.name)}: {_label(v, chart.unit)}</title></rect>")
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 18}" font-size="12" text-anchor="middle">{escape(_short(cat, slot * 0.95))}</text>')
    parts.append(_legend(chart, H - 28))
    return _svg(chart, "".join(parts))


def clustered_bar(chart: Chart) -> str:
    """Horizontal bars, one group per category (rates: actual beside target)."""
    n = max(1, len(chart.categories))
    k = len(chart.series)
    values = [v or 0 for s in chart.series for v in s.values]
    top = nice_max(max(values or [0]))
    plot_w, plot_h = W - LEFT - RIGHT - 120, H - TOP - BOTTOM
    slot = plot_h / n
    bar = min(28.0, slot * 0.8 / k)
    left = LEFT + 120
    parts = []
    for j in range(6):
        x = left + plot_w * j / 5
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#d9d9d9"/>'
                     f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" font-size="12" text-anchor="middle">{_label(top * j / 5, chart.unit)}</text>')
    for i, cat in enumerate(chart.categories):
        y0 = TOP + slot * i + (slot - bar * k) / 2
        parts.append(f'<text x="{left - 8}" y="{y0 + bar * k / 2 + 4:.1f}" font-size="12" text-anchor="end">{escape(_short(cat, 220))}</text>')
        for j, s in enumerate(chart.series):
            v = s.values[i]
            if v is None:
                continue
            w = plot_w * max(0, v) / top
            y = y0 + j * bar
            parts.append(f'<rect class="bar" x="{left}" y="{y:.1f}" width="{w:.1f}" height="{bar - 2:.1f}" fill="{COLOURS[s.key]}">'
                         f"<title>{escape(cat)} · {escape(s.name)}: {_label(v, chart.unit)}</title></rect>"
                         f'<text x="{left + w + 4:.1f}" y="{y + bar / 2 + 3:.1f}" font-size="11">{_label(v, chart.unit)}</text>')
    parts.append(f'<line x1="{left}" y1="{TOP}" x2="{left}" y2="{TOP + plot_h}" stroke="#595959"/>')
    parts.append(_legend(chart, H - 28))
    return _svg(chart, "".join(parts))


def _axes(top: float, unit: str, plot_w: float, plot_h: float) -> str:
    out = []
    for j in range(6):
        y = TOP + plot_h - plot_h * j / 5
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#d9d9d9"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end">{_label(top * j / 5, unit)}</text>')
    out.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#595959"/>')
    return "".join(out)


def _short(text: str, room: float, size: int = 12) -> str:
    """The text cut with … to fit ``room`` pixels."""
    if text_px(text, size) <= room:
        return text
    while text and text_px(text + "…", size) > room:
        text = text[:-1]
    return text + "…"


def _svg(chart: Chart, body: str) -> str:
    return (f'<svg class="chart" id="chart-{chart.key}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" '
            f'width="{W}" height="{H}" role="img" aria-label="{escape(chart.title)}">'
            f'<text x="{W / 2}" y="22" font-size="16" font-weight="bold" text-anchor="middle">{escape(chart.title)}</text>'
            f"{body}</svg>")


def render(chart: Chart) -> str:
    return stacked_column(chart) if chart.kind == "stacked_column" else clustered_bar(chart)
