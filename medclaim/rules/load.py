"""Reading rule files: a strict YAML loader, bounds on what a file may hold, path resolution,
and a region's periods as one ``RuleBook``.

Loading never raises a traceback at the user: problems come back as ``RuleSetError`` with one
line per problem naming the file, the key path and the fix.
"""

from __future__ import annotations

import datetime as dt
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import RuleSetError, _problems_of
from .ruleset import RuleSet

#: The shipped rule sets: package data, so a plain ``pip install`` finds them by id as a checkout
#: does (the repository's top-level ``rules/`` is a link to this directory).
RULES_DIR = Path(__file__).resolve().parent.parent / "data" / "rules"

_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when present


class _StrictLoader(_SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue  # the base constructor reports unhashable keys
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_problem(path: Path, e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
    problem = getattr(e, "problem", None) or str(e)
    if problem.startswith("duplicate key"):
        return f"{path}:{where} {problem} — keep one of them"
    context, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    ctx = f" ({context} at line {cmark.line + 1})" if context and cmark else ""
    return (
        f"{path}:{where} not valid YAML: {problem}{ctx} — fix the syntax there "
        "(indentation, a missing ':', an unclosed quote or bracket)"
    )


def resolve_rules_path(spec: str | Path) -> Path:
    """`anhui/dongzhi-2021`, `rules/anhui/dongzhi-2021.yaml` or a directory of one region's periods."""
    p = Path(spec)
    candidates = [p, p.with_suffix(".yaml"), RULES_DIR / p, (RULES_DIR / p).with_suffix(".yaml")]
    for c in candidates:
        if c.exists():
            return c
    raise RuleSetError(
        [f"{spec}: no such rule-set file or directory — give a path, or the id of a shipped rule set such as anhui/dongzhi-2021 (see `medclaim rules list`)"]
    )


#: Bounds on a rule file (the shipped ones are ~10 KB and a few thousand YAML nodes): a FIFO,
#: /dev/zero or a "billion laughs" file of nested aliases must be refused, not read forever.
MAX_RULE_FILE_BYTES = 2 * 1024 * 1024
MAX_RULE_NODES = 200_000  # YAML nodes counted with every alias expanded
MAX_SCALAR_CHARS = 4_000  # one value (a source citation is the longest legitimate one)
MAX_NUMBER_CHARS = 40  # a number in a rule file (money, ratios, years) is never longer


def _read_rule_file(path: Path) -> str:
    try:
        st = path.stat()
    except OSError as e:
        raise RuleSetError([f"{path}: cannot read ({e.strerror or e}) — check the path"]) from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise RuleSetError([f"{path}: {kind} — give a rule-set .yaml file (or a directory of one region's periods)"])
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_RULE_FILE_BYTES + 1)
    except OSError as e:
        raise RuleSetError([f"{path}: cannot read ({e.strerror or e}) — check the path and its permissions"]) from None
    if len(data) > MAX_RULE_FILE_BYTES:
        raise RuleSetError([f"{path}: larger than {MAX_RULE_FILE_BYTES // 1024 // 1024} MiB — not a rule set (they are a few KB); check the file"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RuleSetError([f"{path}: not UTF-8 text (byte {e.start}) — save the rule file as UTF-8"]) from None


def load_ruleset_file(path: Path) -> RuleSet:
    """Parse and validate one rule-set file; every problem is reported as 'file: key.path: what — fix'."""
    path = Path(path)
    return _parse_ruleset(_read_rule_file(path), path)


_NUMBER_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}


def _check_nodes(root: yaml.Node, path: Path) -> None:
    """Refuse what would explode or echo huge values: the expanded node count (aliases counted
    each time they are used, computed without expanding them), over-long values and numbers."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            where = f"{path}: line {node.start_mark.line + 1}"
            if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
                raise RuleSetError([f"{where}: a number of {len(node.value):,} characters — no rule-set value is that long; fix it"])
            if len(node.value) > MAX_SCALAR_CHARS:
                raise RuleSetError([f"{where}: a value of {len(node.value):,} characters — longer than any rule-set value "
                                    f"({MAX_SCALAR_CHARS:,} at most); shorten it"])
            sizes[id(node)] = 1
            continue
        children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        if not done:
            stack.append((node, True))
            stack += [(c, False) for c in children if id(c) not in sizes]
            continue
        sizes[id(node)] = 1 + sum(sizes.get(id(c), 1) for c in children)
        if sizes[id(node)] > MAX_RULE_NODES:
            raise RuleSetError([f"{path}: line {node.start_mark.line + 1}: more than {MAX_RULE_NODES:,} values once its "
                                "aliases (*name) are expanded — a rule set is far smaller; remove the nested aliases"])


def _load_yaml(text: str, path: Path) -> Any:
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, path)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _parse_ruleset(text: str, path: Path) -> RuleSet:
    """Parse and validate rule-set text; ``path`` only labels the problems."""
    try:
        data = _load_yaml(text, path)  # a safe loader subclass
    except yaml.YAMLError as e:
        raise RuleSetError([_yaml_problem(path, e)]) from None
    if not isinstance(data, dict):
        raise RuleSetError(
            [f"{path}: (top level): expected a mapping with keys ruleset, sources, tiers, codes, basic … — see docs/rules.md for an example"]
        )
    try:
        return RuleSet.model_validate(data)
    except ValidationError as e:
        raise RuleSetError([f"{path}: {p}" for p in _problems_of(e, data)]) from None


@dataclass(frozen=True)
class RuleBook:
    """One region's rule sets, one per policy period, without overlaps or gaps."""

    path: Path
    periods: tuple[RuleSet, ...]
    files: tuple[Path, ...]

    @property
    def name(self) -> str:
        return ", ".join(r.id for r in self.periods)

    def file_of(self, rs: RuleSet) -> Path:
        return self.files[self.periods.index(rs)]


def load_rulebook(spec: str | Path) -> RuleBook:
    path = resolve_rules_path(spec)
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise RuleSetError([f"{path}: directory holds no *.yaml rule sets — give a rule-set file or a directory of one region's *.yaml periods"])
    problems: list[str] = []
    loaded: list[tuple[RuleSet, Path]] = []
    for f in files:
        try:
            loaded.append((load_ruleset_file(f), f))
        except RuleSetError as e:
            problems += e.problems
    if problems:
        raise RuleSetError(problems)
    loaded.sort(key=lambda rf: (rf[0].ruleset.effective_from, rf[0].ruleset.effective_to))
    regions = {rs.ruleset.region for rs, _ in loaded}
    if len(regions) > 1:
        which = "; ".join(f"{f.name}: '{rs.ruleset.region}'" for rs, f in loaded)
        raise RuleSetError(
            [f"{path}: ruleset.region: the directory mixes regions ({which}) — keep one region's periods per directory"]
        )
    day = dt.timedelta(days=1)
    for (a, fa), (b, fb) in zip(loaded, loaded[1:]):
        a_to, b_from = a.ruleset.effective_to, b.ruleset.effective_from
        gap = (b_from - a_to).days
        if gap < 1:
            problems.append(
                f"{fb}: ruleset.effective_from: {b_from} overlaps {fa.name} (in force until {a_to}) — periods must not "
                f"overlap: start this period on {a_to + day} or end the other on {b_from - day}"
            )
        elif gap > 1:
            problems.append(
                f"{fb}: ruleset.effective_from: {b_from} leaves a gap after {fa.name} (in force until {a_to}); "
                f"{a_to + day}..{b_from - day} has no rules — start this period on {a_to + day} or end the other on {b_from - day}"
            )
    if problems:
        raise RuleSetError(problems)
    return RuleBook(path=path, periods=tuple(rs for rs, _ in loaded), files=tuple(f for _, f in loaded))


def list_rulesets(root: Path = RULES_DIR) -> list[tuple[str, Path]]:
    return [(str(p.relative_to(root).with_suffix("")), p) for p in sorted(root.rglob("*.yaml"))]
