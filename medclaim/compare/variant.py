"""A rule set and a variant: ``--set key.path=value`` overrides, validated like a rule file.

Each override replaces one value of the rule file *as written* (yuan, ``90%``, a list…), then the
whole file is validated again by the same schema and loader as any rule file, so a variant can
never hold what a file could not.  Key paths are checked against the file and the schema: a
misspelt key is an error naming the path, the keys allowed there and the closest one.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from ..rules import RuleBook, RuleSetError, _did_you_mean, _model_at, _parse_ruleset, _StrictLoader

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_path(path: str) -> list[str | int]:
    """`basic.annual_caps[1].value` → ['basic', 'annual_caps', 1, 'value']."""
    parts: list[str | int] = []
    pos = 0
    for m in _TOKEN.finditer(path):
        gap = path[pos:m.start()]
        if gap not in ("", "."):
            raise ValueError(path)
        parts.append(int(m.group(2)) if m.group(2) is not None else m.group(1))
        pos = m.end()
    if not parts or path[pos:] or path.startswith(".") or path.endswith("."):
        raise ValueError(path)
    return parts


def parse_override(text: str) -> tuple[str, list[str | int], Any]:
    """`basic.inpatient.ratio.by_tier.primary=90%` → (path, keys, value as YAML reads it)."""
    if "=" not in text:
        raise RuleSetError([f"--set {text}: expected KEY.PATH=VALUE, e.g. basic.inpatient.ratio.by_tier.primary=90%"])
    path, raw = (s.strip() for s in text.split("=", 1))
    try:
        keys = parse_path(path)
    except ValueError:
        raise RuleSetError([f"--set {text}: '{path}' is not a key path — write keys joined by dots, list items as [0], "
                            "e.g. basic.annual_caps[0].value=250000"]) from None
    try:
        value = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError:
        value = raw  # a bare text such as 东医保〔2021〕6号
    return path, keys, value


def _allowed(loc: list[str | int]) -> list[str] | None:
    """Keys the schema allows in the mapping at ``loc`` (None: a free mapping such as by_tier)."""
    model = _model_at(tuple(loc))
    if model is None:
        return None
    return [f.alias or n for n, f in model.model_fields.items()]


def apply_override(data: dict[str, Any], path: str, keys: list[str | int], value: Any, where: str) -> None:
    """Set one value in the parsed rule file; every key but the last must exist, the last must
    exist or be a key the schema allows there (a field of the block, or a new entry of a table)."""
    node: Any = data
    for i, key in enumerate(keys):
        done = ".".join(str(k) for k in keys[:i]) or "(top level)"
        last = i == len(keys) - 1
        if isinstance(key, int):
            if not isinstance(node, list):
                raise RuleSetError([f"{where}: --set {path}: {done} is not a list — drop the [{key}]"])
            if not 0 <= key < len(node):
                raise RuleSetError([f"{where}: --set {path}: {done} has {len(node)} item(s), no [{key}] — index from 0"])
        else:
            if not isinstance(node, dict):
                raise RuleSetError([f"{where}: --set {path}: {done} holds a value, not keys — stop the path there"])
            if key not in node:
                allowed = _allowed(keys[:i])
                known = list(node) if allowed is None else allowed
                if not last or (allowed is not None and key not in allowed) or (allowed is None and not node):
                    raise RuleSetError([
                        f"{where}: --set {path}: no key `{key}` at {done}{_did_you_mean(str(key), known)} — keys here: "
                        f"{', '.join(map(str, known)) or '(none)'}"
                    ])
        if last:
            node[key] = value
        else:
            node = node[key]


def variant_book(book: RuleBook, overrides: list[str]) -> RuleBook:
    """``book`` with the overrides applied to every period, each period validated again."""
    parsed = [parse_override(o) for o in overrides]
    periods, problems = [], []
    for rs, file in zip(book.periods, book.files):
        data = yaml.load(Path(file).read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 — a safe loader
        try:
            for path, keys, value in parsed:
                apply_override(data, path, keys, value, str(file))
        except RuleSetError as e:
            problems += e.problems
            continue
        meta = data.setdefault("ruleset", {})
        meta["version"] = f"{meta.get('version', '')}+set"
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        label = Path(f"{file} with --set {'; '.join(overrides)}")
        try:
            periods.append(_parse_ruleset(text, label))
        except RuleSetError as e:
            problems += e.problems
    if problems:
        raise RuleSetError(problems)
    return replace(book, periods=tuple(periods))


__all__ = ["variant_book", "parse_override", "apply_override", "BaseModel"]
