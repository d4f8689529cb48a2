"""The words of medclaim's people-facing output, one file per language (``medclaim/labels/<lang>.yaml``).

A module of the ``medclaim.labels`` package (beside the files), so that a command needing only
the words does not import ``medclaim.explain`` with it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LABELS_DIR = Path(__file__).resolve().parent
DEFAULT_LANG = "zh"


def available_languages() -> list[str]:
    return sorted(p.stem for p in LABELS_DIR.glob("*.yaml"))


def _flatten(data: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    else:
        out[prefix] = str(data)
    return out


@dataclass(frozen=True)
class Labels:
    """All user-facing words of explain, in one language (``medclaim/labels/<lang>.yaml``)."""

    lang: str
    text: dict[str, str]

    def __call__(self, label: str, /, **kw: Any) -> str:
        return self.text[label].format(**kw)

    def name(self, group: str, key: str | None) -> str:
        """A rule-set key (class, tier, place, identity…) in words; the key itself when unlabelled."""
        if key is None:
            return "—"
        return self.text.get(f"{group}.{key}", str(key))


@lru_cache(maxsize=None)
def load_labels(lang: str = DEFAULT_LANG) -> Labels:
    """The one loader of label files.  Unknown language → ValueError listing the ones there are."""
    if lang not in available_languages():  # only the shipped files: never a path such as ../../x
        shown = lang if len(lang) <= 20 else lang[:20] + "…"
        raise ValueError(f"no labels for language {shown!r} — available: {', '.join(available_languages())} "
                         f"(a new language is a LANG.yaml file under {LABELS_DIR})")
    path = LABELS_DIR / f"{lang}.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 — safe; libyaml when present
    return Labels(lang=lang, text=_flatten(data))

