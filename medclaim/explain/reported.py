"""The hospital's reported figures beside the computed ones, for explain.

When a claim carries the hospital's own settlement (``reported_<field>`` columns, read by
``medclaim.io``), explain shows, for each field the claim carries, the reported figure, the
computed one and their difference; when they differ, the cause — the *same* attribution as
``medclaim audit`` (``medclaim.audit.compare.differences`` and ``medclaim.audit.causes.attribute``:
the engine replayed on the claim with one thing changed), never a second one.  A claim without
reported figures gets no ``reported`` object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from ..audit.causes import attribute
from ..audit.compare import FIELDS, claims_only, differences, reported
from ..rules import RuleBook
from .load import RuleRef


def reported_by_claim(rows: pl.DataFrame, rules: dict[str, RuleRef]) -> dict[str, dict[str, Any]]:
    """``setl_id`` → the claim's ``reported`` object (``model.Reported``), for the claims of
    ``rows`` (one person-year in settlement order, with the engine's working figures) that carry
    at least one reported figure.  Exact comparison (the audit's default tolerance, 0.00 yuan)."""
    have = [f for f in FIELDS if reported(f) in rows.columns and f in rows.columns]
    if not have or rows.height == 0:
        return {}
    frame = claims_only(rows).filter(pl.any_horizontal([pl.col(reported(f)).is_not_null() for f in have]))
    if frame.height == 0:
        return {}
    diffs = differences(rows, 0)
    causes: dict[tuple[str, str], dict[str, Any]] = {}
    if diffs.height:
        used = [rid for rid in dict.fromkeys(rows["ruleset_id"].to_list()) if rid in rules]
        book = RuleBook(path=Path(rules[used[0]].file), periods=tuple(rules[r].rs for r in used),
                        files=tuple(Path(rules[r].file) for r in used))
        # the person-year's rows hold its whole history from zero: no openings
        attributed = attribute(diffs, rows, book, None)
        causes = {(r["setl_id"], r["field"]): r for r in attributed.select("setl_id", "field", "cause", "rule_key", "message").to_dicts()}
    out: dict[str, dict[str, Any]] = {}
    for r in frame.select("setl_id", *have, *[reported(f) for f in have]).to_dicts():  # one person's claims
        fields = []
        for f in have:
            if r[reported(f)] is None:
                continue
            rep, comp = int(r[reported(f)]), int(r[f])
            why = causes.get((r["setl_id"], f), {})
            fields.append({
                "field": f,
                "reported": rep,
                "computed": comp,
                "difference": rep - comp,
                "cause": why.get("cause"),
                "rule_key": why.get("rule_key"),
                "message": why.get("message"),
            })
        out[r["setl_id"]] = {
            "fields": fields,
            "differing": sum(1 for x in fields if x["difference"]),
            "not_reported": [f for f in FIELDS if f not in {x["field"] for x in fields}],
        }
    return out
