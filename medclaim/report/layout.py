"""The report as a document: sections of tables and charts, in words of one language.

Both renderers (``workbook`` for report.xlsx, ``html`` for report.html) draw this same model, so
the two files always show the same figures under the same headings.  Cells keep their kind —
money (fen), count, rate (basis points), text — so each renderer formats them its own way
(Excel: numbers with number formats; HTML: text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from .. import __version__
from ..labels import Labels, load_labels
from ..money import fen_to_yuan_display, pct_str
from ..rules import FUNDS
from .budget import BudgetView
from .figures import AMOUNTS, LAYERS, Figures

Kind = Literal["text", "money", "count", "rate"]

#: Series colours, shared by the Excel charts and the SVG ones (and the browser test).
COLOURS = {
    "hifp_pay": "#1f77b4",
    "hifmi_pay": "#ff7f0e",
    "maf_pay": "#2ca02c",
    "psn_part_amt": "#9e9e9e",
    "actual": "#1f77b4",
    "target": "#d62728",
    "fund_pay_sumamt": "#1f77b4",
}


@dataclass
class Column:
    key: str
    title: str
    kind: Kind


@dataclass
class Table:
    key: str  # sheet / anchor name
    title: str
    columns: list[Column]
    rows: list[list[Any]]  # cells: int (money fen, count, rate bp), str, or None
    total: list[Any] | None = None  # a footer row (same kinds)
    notes: list[str] = field(default_factory=list)
    row_kinds: list[Kind] | None = None  # item/value tables: the value column's kind, row by row

    def kind(self, row: int, col: int) -> Kind:
        if self.row_kinds is not None and col == len(self.columns) - 1:
            return self.row_kinds[row]
        return self.columns[col].kind


@dataclass
class Series:
    key: str  # colour key
    name: str
    values: list[int | None]  # money fen or rate bp


@dataclass
class Chart:
    key: str
    title: str
    kind: Literal["stacked_column", "clustered_bar"]
    unit: Literal["money", "rate"]
    categories: list[str]
    series: list[Series]
    table: str  # the table whose cells the Excel chart draws
    category_column: int
    series_columns: list[int]


@dataclass
class Document:
    lang: str
    title: str
    subtitle: str
    generated: str
    alerts: list[str]  # 基金风险预警 and other warnings, shown first
    notes: list[str]
    tables: list[Table]
    charts: list[Chart]

    def table(self, key: str) -> Table:
        return next(t for t in self.tables if t.key == key)


def money_columns(w: Labels, cols: list[str]) -> list[Column]:
    return [Column(c, w(f"report.col.{c}"), "money") for c in cols]


def count_columns(w: Labels) -> list[Column]:
    return [Column(c, w(f"report.col.{c}"), "count") for c in ("claims", "reversals", "people")]


def _rows(frame: pl.DataFrame, cols: list[str]) -> list[list[Any]]:
    return [list(r) for r in frame.select(cols).iter_rows()] if frame.height else []


def dimension_table(w: Labels, fig: Figures, dim: str) -> Table | None:
    frame = fig.by[dim]
    if frame.height == 0:
        return None
    money = AMOUNTS
    if dim == "hospital":
        keys = [Column("fixmedins_code", w("report.col.fixmedins_code"), "text"), Column("fixmedins_name", w("report.col.fixmedins_name"), "text")]
        rows = _rows(frame, ["fixmedins_code", "fixmedins_name", "claims", "reversals", "people", *money])
        for r in rows:
            r[0] = r[0] if r[0] is not None else w("report.unknown")
    else:
        group = {"benefit_class": "class"}.get(dim, dim)
        keys = [Column(dim, w(f"report.col.{dim}"), "text")]
        rows = _rows(frame, [dim, "claims", "reversals", "people", *money])
        for r in rows:
            r[0] = w.name(group, r[0]) if r[0] is not None else w("report.unknown")
    total = [w("report.total")] + [""] * (len(keys) - 1) + [fig.totals["claims"], fig.totals["reversals"], fig.totals["people"]] + [fig.totals[c] for c in money]
    return Table(dim, w(f"report.section.{dim}"), keys + count_columns(w) + money_columns(w, money), rows, total)


def monthly_table(w: Labels, fig: Figures) -> Table:
    ytd = [f"ytd_{c}" for c in AMOUNTS]
    cols = (
        [Column("month", w("report.col.month"), "text")]
        + count_columns(w)
        + money_columns(w, AMOUNTS)
        + [Column("ytd_claims", w("report.col.ytd", name=w("report.col.claims")), "count"),
           Column("ytd_people", w("report.col.ytd", name=w("report.col.people")), "count")]
        + [Column(c, w("report.col.ytd", name=w(f"report.col.{c[4:]}")), "money") for c in ytd]
    )
    rows = _rows(fig.monthly, ["month", "claims", "reversals", "people", *AMOUNTS, "ytd_claims", "ytd_people", *ytd])
    for r in rows:
        r[0] = f"{fig.year}-{int(r[0]):02d}"
    total = [w("report.total"), fig.totals["claims"], fig.totals["reversals"], fig.totals["people"], *[fig.totals[c] for c in AMOUNTS]] + [""] * (2 + len(ytd))
    return Table("monthly", w("report.section.monthly"), cols, rows, total)


def target_text(w: Labels, comparison: str, value_bp: int, tol_bp: int) -> str:
    return w(f"report.comparison.{comparison}", value=pct_str(value_bp), tol=tol_bp / 100 if tol_bp % 100 else tol_bp // 100)


def targets_table(w: Labels, fig: Figures) -> Table | None:
    if not fig.rates:
        return None
    cols = [
        Column("rate_name", w("report.col.rate_name"), "text"),
        Column("rate", w("report.col.rate"), "rate"),
        Column("target_bp", w("report.col.target"), "rate"),
        Column("target", w("report.col.target_text"), "text"),
        Column("met", w("report.col.met"), "text"),
        Column("paid", w("report.col.paid"), "money"),
        Column("scope", w("report.col.scope"), "money"),
        Column("claims", w("report.col.claims"), "count"),
        Column("funds", w("report.col.funds"), "text"),
        Column("source", w("report.col.source"), "text"),
        Column("quote", w("report.col.quote"), "text"),
    ]
    rows = []
    for r in fig.rates:
        t = r.target
        met = "none" if r.met is None else ("yes" if r.met else "no")
        rows.append([
            t.name, r.rate, t.value, target_text(w, t.comparison, t.value, t.tolerance_points), w(f"report.met.{met}"),
            r.paid, r.scope, r.claims, " + ".join(w(f"report.fund.{f}") for f in t.funds),
            fig.ruleset.cite(t) if fig.ruleset else "", t.quote,
        ])
    return Table("targets", w("report.section.targets"), cols, rows)


def overview_table(w: Labels, fig: Figures) -> Table:
    t = fig.totals
    rows: list[list[Any]] = [
        [w("report.col.claims"), t["claims"], "count"],
        [w("report.col.reversals"), t["reversals"], "count"],
        [w("report.people.total"), t["people"], "count"],
        *[[w(f"report.col.{c}"), t[c], "money"] for c in AMOUNTS],
        *[[w(f"report.people.{k}"), v, "count"] for k, v in fig.people_reaching.items()],
    ]
    for r in fig.rates:
        rows.append([r.target.name, r.rate, "rate"])
    cols = [Column("item", w("report.col.item"), "text"), Column("value", w("report.col.value"), "count")]
    return Table("overview", w("report.section.overview"), cols, [r[:2] for r in rows], row_kinds=[r[2] for r in rows])


def budget_table(w: Labels, b: BudgetView) -> Table | None:
    if not b.funds:
        return None
    cols = [
        Column("fund", w("report.col.fund"), "text"),
        Column("budget", w("report.col.budget"), "money"),
        Column("ytd", w("report.col.ytd", name=w("report.col.fund_pay_sumamt")), "money"),
        Column("used", w("report.col.used"), "rate"),
        Column("projected", w("report.col.projected"), "money"),
        Column("projected_used", w("report.col.projected_used"), "rate"),
        Column("warning", w("report.col.warning"), "text"),
    ]
    rows = [[w(f"report.fund.{f.fund}"), f.budget, f.ytd, f.used_bp, f.projected, f.projected_bp, w("report.budget.yes" if f.warning else "report.budget.no")]
            for f in b.funds]
    notes = [w("report.budget.method", months=b.months)]
    if b.source:
        notes.append(w("report.budget.source", source=b.source))
    return Table("budget", w("report.section.budget"), cols, rows, notes=notes)


def premium_table(w: Labels, b: BudgetView) -> Table | None:
    p = b.premium
    if p is None:
        return None
    result = p.projected_result
    rows = [
        [w("report.premium.premium"), p.premium, "money"],
        [w("report.premium.paid"), p.paid, "money"],
        [w("report.premium.payout"), p.payout_bp, "rate"],
        [w("report.premium.projected"), p.projected, "money"],
        [w("report.premium.projected_payout"), p.projected_payout_bp, "rate"],
        [w("report.premium.surplus" if result >= 0 else "report.premium.loss"), abs(result), "money"],
    ]
    cols = [Column("item", w("report.col.item"), "text"), Column("value", w("report.col.value"), "money")]
    return Table("premium", w("report.section.premium"), cols, [r[:2] for r in rows], row_kinds=[r[2] for r in rows],
                 notes=[w("report.budget.method", months=b.months), w("report.premium.clause")])


def charts(w: Labels, doc_tables: dict[str, Table], fig: Figures) -> list[Chart]:
    out = []
    monthly = doc_tables["monthly"]
    idx = {c.key: i for i, c in enumerate(monthly.columns)}
    out.append(Chart(
        "monthly", w("report.chart.monthly"), "stacked_column", "money",
        [r[0] for r in monthly.rows],
        [Series(c, w(f"report.layer.{c}"), [r[idx[c]] for r in monthly.rows]) for c in LAYERS],
        "monthly", 0, [idx[c] for c in LAYERS],
    ))
    if "targets" in doc_tables:
        t = doc_tables["targets"]
        out.append(Chart(
            "rates", w("report.chart.rates"), "clustered_bar", "rate",
            [r[0] for r in t.rows],
            [Series("actual", w("report.chart.actual"), [r[1] for r in t.rows]),
             Series("target", w("report.chart.target"), [r[2] for r in t.rows])],
            "targets", 0, [1, 2],
        ))
    tier = doc_tables.get("tier")
    if tier is not None:
        tidx = {c.key: i for i, c in enumerate(tier.columns)}
        funds = [c for c in LAYERS if c != "psn_part_amt"]
        out.append(Chart(
            "tier", w("report.chart.tier"), "stacked_column", "money",
            [r[0] for r in tier.rows],
            [Series(c, w(f"report.layer.{c}"), [r[tidx[c]] for r in tier.rows]) for c in funds],
            "tier", 0, [tidx[c] for c in funds],
        ))
    return out


def document(fig: Figures, budget: BudgetView | None, lang: str = "zh") -> Document:
    w = load_labels(lang)
    tables: list[Table] = [overview_table(w, fig), monthly_table(w, fig)]
    for make in (lambda: targets_table(w, fig),):
        t = make()
        if t:
            tables.append(t)
    if budget is not None:
        tables += [t for t in (budget_table(w, budget), premium_table(w, budget)) if t]
    tables += [t for t in (dimension_table(w, fig, d) for d in fig.by) if t]
    alerts = []
    if budget is not None:
        for f in budget.warnings:
            alerts.append(w("report.budget.warning", fund=w(f"report.fund.{f.fund}"), projected=fen_to_yuan_display(f.projected),
                            budget=fen_to_yuan_display(f.budget), over=fen_to_yuan_display(f.projected - f.budget),
                            pct=pct_str(f.projected_bp or 0)))
    notes = list(fig.warnings)
    by_key = {t.key: t for t in tables}
    rules = ", ".join(fig.ruleset_ids)
    return Document(
        lang=lang,
        title=w("report.title", year=fig.year),
        subtitle=w("report.subtitle", ledger=fig.ledger, as_of=fig.as_of, months=fig.months, rules=rules),
        generated=w("report.generated", version=__version__),
        alerts=alerts,
        notes=notes,
        tables=tables,
        charts=charts(w, by_key, fig),
    )


def cell_text(value: Any, kind: Kind) -> str:
    """A cell for people (HTML, terminal): money as 1,234.50, rates as 70.25 %."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if kind == "money":
        return fen_to_yuan_display(value)
    if kind == "rate":
        return pct_str(value)
    return f"{value:,}"


__all__ = ["COLOURS", "Document", "Table", "Chart", "document", "cell_text", "FUNDS"]
