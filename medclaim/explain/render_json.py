"""Explain as JSON for other programs (schema ``medclaim.explain/1``, see ``model.py``)."""

from __future__ import annotations

import json
from typing import Any


def render_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
