"""What `medclaim compare` writes: compare.json, compare.xlsx, changed.parquet, rejects.csv, and
the terminal summary (rich on a terminal, plain text when piped; person ids masked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from ..columns import Unit
from ..labels import Labels, load_labels
from ..money import fen_to_yuan_display
from ..output import write_atomic
from ..privacy import mask_id, mask_id_expr
from ..xlsx import KeyValues, Table, write_workbook
from . import CompareResult
from .figures import DIMENSIONS, LAYERS, as_json

F, C, T, Y = Unit.FEN, Unit.COUNT, Unit.TEXT, Unit.YEAR


def _book_json(book) -> dict[str, Any]:
    return {"name": book.name, "periods": [{"id": rs.id, "version": rs.ruleset.version,
                                            "effective": [str(rs.ruleset.effective_from), str(rs.ruleset.effective_to)]}
                                           for rs in book.periods]}


def result_json(r: CompareResult, overrides: list[str]) -> dict[str, Any]:
    return {
        "schema": "medclaim.compare/1",
        "a": _book_json(r.books[0]),
        "b": _book_json(r.books[1]),
        "overrides": overrides,
        "rows_read": r.rows_read,
        "rows_not_compared": r.rows_not_compared,
        **as_json(r.comparison),
        "warnings": r.warnings,
    }


def _layer_title(w: Labels, c: str) -> str:
    return w(f"report.col.{c}")


def sheets(r: CompareResult, w: Labels) -> list[Table | KeyValues]:
    c = r.comparison
    col = lambda k: w(f"compare.col.{k}")  # noqa: E731
    totals = [[col("layer"), col("a"), col("b"), col("diff")]]
    totals += [[_layer_title(w, k), (v["a"], F), (v["b"], F), (v["diff"], F)] for k, v in c.totals.items()]
    out: list[Table | KeyValues] = [KeyValues(w("compare.sheet.totals"), totals)]
    for d in DIMENSIONS:
        frame = c.by[d]
        group = {"benefit_class": "class"}.get(d, d)
        frame = frame.with_columns(pl.col(d).replace_strict({k: w.name(group, k) for k in frame[d].drop_nulls().to_list()}, default=None))
        columns: dict[str, Unit] = {d: T, "claims_a": C, "claims_b": C}
        headers = {d: w(f"report.col.{d}"), "claims_a": col("claims_a"), "claims_b": col("claims_b")}
        for k in LAYERS:
            for s, label in (("a", "A"), ("b", "B"), ("diff", col("diff"))):
                columns[f"{k}_{s}"] = F
                headers[f"{k}_{s}"] = f"{_layer_title(w, k)} {label}"
        out.append(Table(w(f"compare.dim.{d}"), columns, [frame], headers))
    out.append(Table(w("compare.sheet.bands"), {"band": T, "less_people": C, "less_fen": F, "more_people": C, "more_fen": F},
                     [c.bands], {k: col(k) for k in ("band", "less_people", "less_fen", "more_people", "more_fen")}))
    top_cols = {"psn_no": T, "year": Y, "claims": C, "psn_part_amt_a": F, "psn_part_amt_b": F, "change": F,
                "fund_pay_sumamt_a": F, "fund_pay_sumamt_b": F}
    out.append(Table(w("compare.sheet.top"), top_cols, [c.top], {k: col(k) for k in top_cols}))
    return out


def write_outputs(r: CompareResult, out_dir: Path, overrides: list[str], lang: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    w = load_labels(lang)
    data = result_json(r, overrides)
    written = [
        write_atomic(out_dir / "compare.json", lambda p: p.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")),
        write_atomic(out_dir / "compare.xlsx", lambda p: write_workbook(p, sheets(r, w))),
        write_atomic(out_dir / "changed.parquet", lambda p: r.comparison.changed.write_parquet(p)),
    ]
    if r.rejects.height:
        written.append(write_atomic(out_dir / "rejects.csv", lambda p: r.rejects.write_csv(p, include_bom=True)))
    return written


# ------------------------------------------------------------------ terminal


def summary_lines(r: CompareResult, w: Labels, show_ids: bool) -> tuple[list[str], list[tuple[str, list[list[str]]]]]:
    """Heading lines and the tables (title, rows of text cells): totals per layer, funds and patients
    per class / tier / identity / place, the bands, the largest changes."""
    c = r.comparison
    a, b = r.books
    head = [w("compare.title", a=a.name + _ver(a), b=b.name + _ver(b)),
            w("compare.counts", claims=f"{c.claims:,}", people=f"{c.people:,}", rejected=f"{r.rows_not_compared:,}")]
    if c.only_a or c.only_b:
        head.append(w("compare.only", only_a=c.only_a, only_b=c.only_b))
    head.append(w("compare.people", more=f"{c.pay_more:,}", less=f"{c.pay_less:,}", same=f"{c.unchanged:,}"))
    head.append(w("compare.changed", n=f"{c.changed.height:,}"))
    col = lambda k: w(f"compare.col.{k}")  # noqa: E731
    totals = [[col("layer"), "A", "B", col("diff")]] + [
        [_layer_title(w, k), fen_to_yuan_display(v["a"]), fen_to_yuan_display(v["b"]), _signed(v["diff"])] for k, v in c.totals.items()
    ]
    bands = [[col("band"), col("less_people"), col("less_fen"), col("more_people"), col("more_fen")]] + [
        [row["band"], f"{row['less_people']:,}", fen_to_yuan_display(row["less_fen"]), f"{row['more_people']:,}", fen_to_yuan_display(row["more_fen"])]
        for row in c.bands.iter_rows(named=True)
    ]
    top_frame = c.top if show_ids else c.top.with_columns(psn_no=mask_id_expr(pl.col("psn_no")))
    top = [[col("psn_no"), col("year"), col("claims"), col("psn_part_amt_a"), col("psn_part_amt_b"), col("change")]] + [
        [row["psn_no"], str(row["year"]), str(row["claims"]), fen_to_yuan_display(row["psn_part_amt_a"]),
         fen_to_yuan_display(row["psn_part_amt_b"]), _signed(row["change"])]
        for row in top_frame.iter_rows(named=True)
    ]
    dims = []
    for d in DIMENSIONS:
        group = {"benefit_class": "class"}.get(d, d)
        rows = [[w(f"report.col.{d}"), f"{_layer_title(w, 'fund_pay_sumamt')} A", "B", col("diff"),
                 f"{_layer_title(w, 'psn_part_amt')} {col('diff')}"]]
        rows += [[w.name(group, row[d]) if row[d] is not None else "–", fen_to_yuan_display(row["fund_pay_sumamt_a"]),
                  fen_to_yuan_display(row["fund_pay_sumamt_b"]), _signed(row["fund_pay_sumamt_diff"]), _signed(row["psn_part_amt_diff"])]
                 for row in c.by[d].iter_rows(named=True)]
        dims.append((w(f"compare.dim.{d}"), rows))
    tables = [(w("compare.sheet.totals"), totals), *dims, (w("compare.sheet.bands"), bands), (w("compare.top", n=len(top) - 1), top)]
    return head, tables


def _ver(book) -> str:
    versions = sorted({rs.ruleset.version for rs in book.periods})
    return f" ({', '.join(versions)})"


def _signed(fen: int) -> str:
    return ("+" if fen > 0 else "") + fen_to_yuan_display(fen)


def render_plain(r: CompareResult, lang: str = "zh", show_ids: bool = False) -> str:
    w = load_labels(lang)
    head, tables = summary_lines(r, w, show_ids)
    lines = list(head)
    for title, rows in tables:
        lines.append("")
        lines.append(title)
        lines += ["\t".join(row) for row in rows]
    return "\n".join(lines) + "\n"


def render_rich(r: CompareResult, lang: str = "zh", show_ids: bool = False):
    from rich.console import Group
    from rich.table import Table as RichTable
    from rich.text import Text

    w = load_labels(lang)
    head, tables = summary_lines(r, w, show_ids)
    parts: list[Any] = [Text("\n".join(head))]
    for title, rows in tables:
        t = RichTable(title=title)
        for i, h in enumerate(rows[0]):
            t.add_column(h, justify="left" if i == 0 else "right", no_wrap=i > 0)
        for row in rows[1:]:
            t.add_row(*row)
        parts.append(t)
    return Group(*parts)


__all__ = ["write_outputs", "render_plain", "render_rich", "result_json", "mask_id"]
