"""`medclaim compare`: what a rule change costs, and who gains or loses.

The same claims are settled twice by the same engine (``settle.settle_claims``) — once under rule
set A, once under B (another rule set, or A with ``--set`` overrides, ``variant``) — every person
starting the year from zero as in ``settle --out``.  Only the columns the comparison needs are kept
from each run, so memory holds two narrow ledgers, not two full ones.  ``figures`` turns the pair
into costs per fund and dimension, the distribution of changes per person, the largest changes
and the changed claims; ``output`` writes compare.json, compare.xlsx, changed.parquet and the
terminal summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..io import read_claims
from ..roster import Roster
from ..rules import RuleBook, load_rulebook
from ..schema import empty_rejects
from ..settle import period_index, settle_claims
from .figures import KEEP, Comparison, compare_ledgers
from .variant import variant_book

__all__ = ["CompareError", "CompareResult", "compare_claims", "compare_files", "rule_books"]


class CompareError(Exception):
    """A comparison that cannot be made (a rule set does not cover the claims' dates…)."""

    def __init__(self, message: str, status: int):
        self.status = status
        super().__init__(message)


@dataclass
class CompareResult:
    comparison: Comparison
    books: tuple[RuleBook, RuleBook]
    rejects: pl.DataFrame  # rows not compared: read rejects + rows either rule set rejected (column `rules`)
    rows_read: int
    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rows_not_compared(self) -> int:
        """Input rows left out (a row both rule sets reject is one row)."""
        return self.rejects.select("source_file", "source_row").unique().height


def rule_books(rules: list[str], overrides: list[str] | None) -> tuple[RuleBook, RuleBook]:
    """A and B from `--rules A [--rules B] [--set …]`: the overrides apply to B (to A's copy when
    only one rule set is given)."""
    if not rules or len(rules) > 2:
        raise ValueError("give --rules A and --rules B, or one --rules A with --set KEY.PATH=VALUE overrides")
    a = load_rulebook(rules[0])
    b = load_rulebook(rules[1]) if len(rules) == 2 else a
    if overrides:
        b = variant_book(b, overrides)
    elif len(rules) == 1:
        raise ValueError("one --rules and no --set: nothing to compare — give a second --rules B or --set KEY.PATH=VALUE")
    return a, b


def check_coverage(claims: pl.DataFrame, book: RuleBook, which: str) -> None:
    """Every claim's date must be in a period of the rule book: a comparison over the claims one
    side cannot settle would compare different claims."""
    from ..status import Exit

    if claims.height == 0:
        return
    uncovered = claims.select(pl.col("enddate"), period=period_index(book)).filter(pl.col("period").is_null())
    if uncovered.height == 0:
        return
    dates = uncovered["enddate"].unique().sort()
    shown = ", ".join(str(d) for d in dates.head(5).to_list()) + (f" … ({dates.len()} dates)" if dates.len() > 5 else "")
    periods = ", ".join(f"{rs.ruleset.effective_from}..{rs.ruleset.effective_to}" for rs in book.periods)
    raise CompareError(
        f"rule set {which} ({book.name}) covers {periods} but {uncovered.height} claim(s) end on {shown} "
        f"(from {dates.min()} to {dates.max()}) — give {which} a rule set (or a region directory of periods) covering those dates, "
        "or leave those claims out of the input",
        Exit.NO_RULE_PERIOD,
    )


def _settle_narrow(claims: pl.DataFrame, book: RuleBook, roster: Roster | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    parts: list[pl.DataFrame] = []
    settlement = settle_claims(claims, book, sink=lambda chunk: parts.append(chunk.select([c for c in KEEP if c in chunk.columns])),
                               roster=roster)
    ledger = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame(schema={c: pl.String for c in ("setl_id", "psn_no")})
    return ledger, settlement.rejects


def compare_claims(claims: pl.DataFrame, a: RuleBook, b: RuleBook, roster: Roster | None = None) -> tuple[Comparison, pl.DataFrame]:
    """Settle ``claims`` under A and under B (each with the enrollment roster, as ``settle --roster``,
    when given: its enrollment rules are each rule set's own) and compare; also the rows either side rejected."""
    check_coverage(claims, a, "A")
    check_coverage(claims, b, "B")
    ledger_a, rej_a = _settle_narrow(claims, a, roster)
    ledger_b, rej_b = _settle_narrow(claims, b, roster)
    rejects = pl.concat([rej_a.with_columns(rules=pl.lit("A")), rej_b.with_columns(rules=pl.lit("B"))])
    return compare_ledgers(ledger_a, ledger_b), rejects


def compare_files(inputs: list[Path], rules: list[str], overrides: list[str] | None = None,
                  encoding: str | None = None, roster: Roster | None = None) -> CompareResult:
    a, b = rule_books(rules, overrides)
    read = read_claims(inputs, encoding=encoding)
    comparison, rejects = compare_claims(read.take_claims(), a, b, roster)
    all_rejects = pl.concat([read.rejects.with_columns(rules=pl.lit("")), rejects], how="diagonal_relaxed") if read.rejects.height else rejects
    if all_rejects.height == 0:
        all_rejects = empty_rejects().with_columns(rules=pl.lit(""))
    warnings = []
    for which, book in (("A", a), ("B", b)):
        n = sum(len(rs.unverified()) for rs in book.periods)
        if n:
            warnings.append(f"rule set {which} ({book.name}) holds {n} unverified (placeholder) parameter block(s): the costs are only as good as those placeholders")
    return CompareResult(comparison, (a, b), all_rejects, read.rows_read, warnings=warnings)
