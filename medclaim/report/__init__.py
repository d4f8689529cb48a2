"""`medclaim report`: a ledger turned into what a manager reads — report.xlsx, report.html, report.json.

``build_report`` reads the ledger (a ``--ledger`` directory or the ``--out`` directory of one run),
computes the figures (``figures``), sets the budget beside them (``budget``), lays them out once
(``layout``) and draws that layout as a workbook with native charts (``workbook``) and as one
self-contained HTML page with SVG charts (``html``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..output import write_atomic
from ..rules import RuleSet, RuleSetError, load_rulebook
from . import budget as budget_mod
from . import figures as figures_mod
from .figures import Figures, ReportError, compute, load_entries
from .html import write_html
from .layout import Document, document
from .workbook import write_workbook

__all__ = ["ReportError", "ReportResult", "build_report"]


@dataclass
class ReportResult:
    figures: Figures
    budget: budget_mod.BudgetView | None
    document: Document
    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def targets_ruleset(ids: list[str], rules: str | None, year: int) -> tuple[RuleSet | None, list[str]]:
    """The rule set whose targets the report shows: ``--rules`` if given, else the one the ledger's
    latest claims of the year were settled with (found by its id among the shipped rule sets)."""
    spec = rules or (ids[-1] if ids else None)
    if spec is None:
        return None, []
    try:
        book = load_rulebook(spec)
    except RuleSetError as e:
        if rules:
            raise
        return None, [f"rule set {spec} (named by the ledger) not found or invalid ({e.problems[0]}) — target rates not shown; give --rules FILE"]
    in_year = [rs for rs in book.periods if rs.ruleset.effective_from.year <= year <= rs.ruleset.effective_to.year]
    rs = (in_year or list(book.periods))[-1]
    notes = []
    if rules is None and len(ids) > 1:
        notes.append(f"the year's claims were settled with {len(ids)} rule sets ({', '.join(ids)}); targets are those of {rs.id}")
    if not rs.targets:
        notes.append(f"rule set {rs.id} holds no `targets` block — no target rates to show (see docs/report.md)")
    return rs, notes


def build_report(
    ledger: Path,
    out_dir: Path,
    year: int | None = None,
    budget: Path | None = None,
    rules: str | None = None,
    lang: str = "zh",
) -> ReportResult:
    entries, year, years = load_entries(Path(ledger), year)
    ids = figures_mod.ruleset_ids(entries)
    ruleset, notes = targets_ruleset(ids, rules, year)
    fig = compute(entries, str(ledger), year, years, ids, ruleset, notes)
    del entries
    view = None
    if budget is not None:
        bfile = budget_mod.load_budget(budget)
        view, bnotes = budget_mod.budget_view(bfile, budget, fig)
        fig.warnings += bnotes
    doc = document(fig, view, lang)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"schema": "medclaim.report/1", **figures_mod.as_json(fig), "budget": budget_mod.as_json(view),
                            "alerts": doc.alerts}
    written = [
        write_atomic(out_dir / "report.xlsx", lambda p: write_workbook(doc, p)),
        write_atomic(out_dir / "report.html", lambda p: write_html(doc, p)),
        write_atomic(out_dir / "report.json", lambda p: p.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")),
    ]
    return ReportResult(fig, view, doc, written, fig.warnings)
