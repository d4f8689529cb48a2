"""Problems in a rule file described in the file's own terms: file, key path, what is wrong, the fix.

A pydantic ``ValidationError`` speaks of model fields and error types; the user wrote keys in a
YAML file.  This module turns each error into one line ``key.path: what is wrong — fix``, naming
the keys allowed where an unknown or missing one was found, with a did-you-mean for misspellings.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from .units import _show


class RuleSetError(Exception):
    """A rule set that cannot be used; ``problems`` are 'file: key.path: what is wrong — fix'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Problems(ValueError):
    """Problems found by a model-level check, each 'key.path: what is wrong — fix'.

    Paths are relative to the model that raised it; the loader prefixes the model's own path.
    """

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))



def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""



def _fmt_loc(loc: tuple[Any, ...], data: Any = None) -> str:
    """A pydantic location as the key path of the file: `a.b[0].c` (lists indexed, mappings dotted).

    ``data`` (the parsed YAML) tells list indexes from integer mapping keys such as ``2:``.
    """
    out = ""
    node = data
    for part in loc:
        if part == "[key]":  # pydantic's marker for a problem with a mapping key itself
            continue
        if isinstance(part, int) and (isinstance(node, list) or node is None and not isinstance(part, str)):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional[...] from a field annotation."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(loc: tuple[Any, ...], schema: type[BaseModel] | None = None) -> type[BaseModel] | None:
    """The model that sits at a key path of a file of ``schema`` (a rule file's ``RuleSet`` when
    none is given), if any (to list the keys allowed there)."""
    if schema is None:
        from .ruleset import RuleSet  # the schema's own checks raise this module's problems: import late

        schema = RuleSet
    tp: Any = schema
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = {f.alias or name: f for name, f in tp.model_fields.items()}
            if part not in fields:
                return None
            tp = fields[part].annotation
        elif get_origin(tp) in (list, tuple):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


_TYPE_WORDS = {
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "list_type": "a list ([a, b] or '- a' lines)",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "date_type": "a date such as 2024-01-01",
    "date_parsing": "a date such as 2024-01-01",
    "date_from_datetime_parsing": "a date such as 2024-01-01",
    "date_from_datetime_inexact": "a date such as 2024-01-01",
}


#: Where a rule file's keys are documented.
RULES_DOC = "docs/rules.md"


def _describe(err: dict[str, Any], data: Any, schema: type[BaseModel] | None = None, doc: str = RULES_DOC) -> str:
    """One pydantic error as 'key.path: what is wrong — fix', in the file's own key names; ``schema``
    is the file's model (a rule file's by default), ``doc`` where its keys are documented."""
    loc = tuple(err["loc"])
    path = _fmt_loc(loc, data)
    t = err.get("type", "")
    got = _show(err.get("input"))
    is_key = bool(loc) and loc[-1] == "[key]"
    if t == "missing":
        model = _model_at(loc[:-1], schema)
        allowed = f" (keys here: {', '.join(_field_keys(model))})" if model else ""
        return f"{path}: required key `{loc[-1]}` is missing — add it{allowed}; see {doc}"
    if t == "extra_forbidden":
        model = _model_at(loc[:-1], schema)
        if model is None:
            return f"{path}: unknown key — remove it or check its spelling (see {doc})"
        keys = _field_keys(model)
        return (
            f"{path}: unknown key `{loc[-1]}`{_did_you_mean(str(loc[-1]), keys)} — "
            f"remove it or fix its spelling; keys allowed here: {', '.join(keys)}"
        )
    if t == "value_error":
        msg = err["msg"].removeprefix("Value error, ")
        return f"{path}: {msg}" if " — " in msg else f"{path}: {msg} — fix the value"
    if t == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "one of the allowed values")
        return f"{path}: {got} is not allowed — use {expected}"
    if is_key:
        key = loc[-2] if len(loc) >= 2 else got
        if t == "string_type":
            quoted = f"0{key}" if isinstance(key, int) and 0 <= key < 10 else str(key)
            return (
                f"{path}: the key {key!r} is a number, but codes are text — quote it as written in the export, "
                f"e.g. \"{quoted}\": (YAML reads an unquoted 07 as the number 7)"
            )
        return f"{path}: the key {key!r} should be {_TYPE_WORDS.get(t, 'of another type')} — fix the key"
    if t.startswith("date"):
        return f"{path}: expected a date, got {got} — write YYYY-MM-DD, e.g. 2024-01-01"
    if t in _TYPE_WORDS:
        return f"{path}: expected {_TYPE_WORDS[t]}, got {got} — fix the value (see {doc})"
    return f"{path}: {err['msg']} (got {got}) — fix the value (see {doc})"


def _problems_of(e: ValidationError, data: Any, schema: type[BaseModel] | None = None, doc: str = RULES_DOC) -> list[str]:
    """Every error of a validation of ``data`` against ``schema`` (a rule file's by default; ``doc``
    documents its keys), with model-level checks expanded to one line per problem."""
    out: list[str] = []
    for err in e.errors():
        cause = (err.get("ctx") or {}).get("error")
        if err.get("type") == "value_error" and isinstance(cause, _Problems):
            prefix = _fmt_loc(tuple(err["loc"]), data)
            for line in cause.lines:
                out.append(line if prefix == "(top level)" else f"{prefix}.{line}")
        else:
            out.append(_describe(err, data, schema, doc))
    return out

