"""`medclaim explain`: one person's year, claim by claim, each step with its rule and source.

The package is split by concern:

* ``load`` — that person's ledger rows (a saved ledger, or their claims settled now with the same
  engine as ``medclaim settle``) and the rule sets the rows name, for citations;
* ``document`` — the language-neutral document built from the engine's own ledger columns;
* ``model`` — the document's typed models, the JSON schema ``medclaim.explain/1`` generated from
  them, and validation;
* ``labels`` — the words, one file per language (``medclaim/labels/<lang>.yaml``), so a third
  language is a new file, not a code change;
* ``render_text`` (plain text and rich tables) and ``render_json``.
"""

from __future__ import annotations

from .document import explain_person
from .labels import DEFAULT_LANG, Labels, available_languages, load_labels
from .load import (
    ExplainNotFound,
    InputSettlement,
    LedgerUnreadable,
    RuleRef,
    choose_year,
    person_rows_from_input,
    person_rows_from_ledger,
    rule_index,
    rules_for_ledger,
    scan_ledger,
    years_of,
)
from .mask import mask_id
from .model import JSON_SCHEMA, SCHEMA_ID, ExplainDoc, validate
from .render_json import render_json
from .render_text import document_lines, render_plain, render_rich

__all__ = [
    "DEFAULT_LANG",
    "JSON_SCHEMA",
    "SCHEMA_ID",
    "ExplainDoc",
    "ExplainNotFound",
    "InputSettlement",
    "Labels",
    "LedgerUnreadable",
    "RuleRef",
    "available_languages",
    "choose_year",
    "document_lines",
    "explain_person",
    "load_labels",
    "mask_id",
    "person_rows_from_input",
    "person_rows_from_ledger",
    "render_json",
    "render_plain",
    "render_rich",
    "rule_index",
    "rules_for_ledger",
    "scan_ledger",
    "validate",
    "years_of",
]
