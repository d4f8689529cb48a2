"""The words of explain: ``medclaim.labels`` (one file per language, ``medclaim/labels/<lang>.yaml``)."""

from __future__ import annotations

from ..labels import DEFAULT_LANG, LABELS_DIR, Labels, available_languages, load_labels

__all__ = ["DEFAULT_LANG", "LABELS_DIR", "Labels", "available_languages", "load_labels"]
