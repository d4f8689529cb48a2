"""`medclaim settle` as a library call: read the extracts, settle, check, write, summarise."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .io import read_claims
from .output import write_ledger, write_rejects, write_summary
from .rules import load_rulebook
from .settle import Settlement, settle_claims
from .status import Exit
from .summary import build_summary, render_plain


@dataclass
class RunResult:
    status: Exit
    summary: dict[str, Any]
    settlement: Settlement
    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def unverified_warning(book) -> list[str]:
    out = []
    for rs in book.periods:
        n = len(rs.unverified())
        if n:
            out.append(
                f"rule set {rs.id} has {n} unverified (placeholder) parameters; see `medclaim rules check {rs.id}`"
            )
    return out


def settle_files(
    inputs: list[Path], rules: str, out_dir: Path, formats: list[str] | None = None, encoding: str | None = None
) -> RunResult:
    """Settle one or more extracts from scratch into ``out_dir``."""
    book = load_rulebook(rules)
    read = read_claims(inputs, encoding=encoding)
    settlement = settle_claims(read.claims, book)
    rejects = pl.concat([read.rejects, settlement.rejects])
    settlement.rejects = rejects
    summary = build_summary(
        settlement.ledger,
        rejects,
        read.rows_read,
        rules=[rs.id for rs in book.periods],
        unverified=sum(len(rs.unverified()) for rs in book.periods),
        extra={"inputs": [str(p) for p in inputs]},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_ledger(settlement.ledger, out_dir, formats or [])
    written.append(write_rejects(rejects, out_dir))
    written += write_summary(summary, render_plain(summary), out_dir)
    status = Exit.REJECTS if rejects.height else Exit.OK
    return RunResult(status=status, summary=summary, settlement=settlement, written=written, warnings=unverified_warning(book))
