"""Reading what explain explains: one person's ledger rows (a saved ledger, or that person's claims
settled now from the extracts) and the rule sets those rows name, for their citations."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import polars as pl

from ..rules import RULES_DIR, Cited, RuleBook, RuleSet, RuleSetError, load_rulebook
from .mask import mask_id


class ExplainNotFound(Exception):
    """No claims for the person (or the year) asked about.  ``message`` is ready to print."""

    def __init__(self, message: str, years: list[int] | None = None):
        self.message = message
        self.years = years or []
        super().__init__(message)


class LedgerUnreadable(Exception):
    """The --ledger directory holds no ledger we can read."""


# ------------------------------------------------------------------ reading the person's rows


def _store_module():
    if importlib.util.find_spec("medclaim.store") is None:
        return None
    return importlib.import_module("medclaim.store")


def scan_ledger(ledger_dir: Path) -> pl.LazyFrame:
    """A lazy view of the ledger at ``ledger_dir``, never loaded whole (a ledger may hold 10M rows).

    Read through ``medclaim.store.scan_ledger`` (a persistent ledger directory, the ``--out``
    directory of ``medclaim settle``, or a ledger Parquet file); without the store module, the
    directory's ``ledger.parquet``.
    """
    ledger_dir = Path(ledger_dir)
    if not ledger_dir.exists():
        raise LedgerUnreadable(f"{ledger_dir}: no such ledger — give the --out directory of `medclaim settle` or a ledger directory")
    store = _store_module()
    if store is not None:
        try:
            if hasattr(store, "scan_ledger"):
                return store.scan_ledger(ledger_dir)
            return store.read_ledger(ledger_dir).lazy()
        except getattr(store, "LedgerCorrupt", ()):
            raise  # a damaged ledger: status 9 with its recovery, as for every command
        except getattr(store, "LedgerError", ()) as e:
            raise LedgerUnreadable(str(e)) from None
    if ledger_dir.is_file():
        return pl.scan_parquet(ledger_dir)
    if (ledger_dir / "ledger.parquet").is_file():
        return pl.scan_parquet(ledger_dir / "ledger.parquet")
    raise LedgerUnreadable(
        f"{ledger_dir}: holds no ledger.parquet — give the --out directory of `medclaim settle` or a ledger directory"
    )


def person_rows_from_ledger(ledger_dir: Path, psn_no: str) -> pl.DataFrame:
    """That person's ledger rows, in ledger (settlement) order."""
    lf = scan_ledger(ledger_dir)
    rows = lf.filter(pl.col("psn_no") == psn_no).collect()
    if "entry_no" in rows.columns:  # a persistent ledger numbers its entries in settlement order
        rows = rows.sort("entry_no", maintain_order=True)
    return rows


@dataclass
class InputSettlement:
    rows: pl.DataFrame
    book: RuleBook
    rejected: list[dict[str, Any]] = field(default_factory=list)


def person_rows_from_input(files: list[Path], rules: str, psn_no: str, options: Any = None) -> InputSettlement:
    """Read the extract(s), keep that person's claims (all of them: annual figures need the whole
    year) and settle them with ``settle_claims`` — the same engine as ``medclaim settle``."""
    from ..io import read_claims
    from ..settle import settle_claims

    book = load_rulebook(rules)
    read = read_claims(list(files), options=options)  # options: medclaim.io.ReadOptions
    mine = read.claims.filter(pl.col("psn_no") == psn_no)
    if mine.height == 0:
        return InputSettlement(rows=mine, book=book)
    settlement = settle_claims(mine, book)
    return InputSettlement(rows=settlement.ledger, book=book, rejected=settlement.rejects.to_dicts())


def years_of(rows: pl.DataFrame) -> list[int]:
    return sorted(int(y) for y in rows["year"].unique().to_list()) if rows.height else []


def choose_year(
    rows: pl.DataFrame, psn_no: str, year: int | None, where: str, show_ids: bool, setl_id: str | None = None
) -> int:
    """The benefit year to explain (default: the latest, or that of ``setl_id``); ExplainNotFound if none."""
    who = psn_no if show_ids else mask_id(psn_no)
    if rows.height == 0:
        hint = " (that looks masked: give the full person number)" if "*" in psn_no else ""
        raise ExplainNotFound(
            f"no claims for person {who} in {where} — check the id{hint} and that this is the right ledger or input"
        )
    years = years_of(rows)
    if setl_id is not None:
        hit = rows.filter((pl.col("setl_id") == setl_id) & (pl.col("year") == year if year is not None else pl.lit(True)))
        if hit.height == 0:
            in_year = f" in benefit year {year}" if year is not None else ""
            raise ExplainNotFound(
                f"person {who} has no settlement {setl_id}{in_year} in {where} — run without --claim to list the person's claims",
                years,
            )
        return int(hit["year"][-1])
    if year is None:
        return years[-1]
    if year not in years:
        raise ExplainNotFound(
            f"person {who} has no claims in benefit year {year} in {where} — years available: {', '.join(map(str, years))}",
            years,
        )
    return year


# ------------------------------------------------------------------ rule sets and citations


def rules_display_path(path: Path) -> str:
    p = Path(path).resolve()
    for root in (RULES_DIR.parent, Path.cwd()):
        try:
            return str(p.relative_to(root.resolve()))
        except ValueError:
            continue
    return str(p)


@dataclass
class RuleRef:
    rs: RuleSet
    file: str  # display path, e.g. rules/anhui/dongzhi-2021.yaml
    blocks: dict[str, Cited] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.blocks = dict(self.rs.cited_blocks())

    def cite(self, block_path: str, suffix: str = "") -> dict[str, Any] | None:
        """A citation of the block at ``block_path`` (key shown as block path + ``suffix``)."""
        block = self.blocks.get(block_path)
        if block is None:
            return None
        src = self.rs.sources.get(block.source)
        return {
            "file": self.file,
            "key": block_path + suffix,
            "doc_no": src.doc_no if src else block.source,
            "ref": block.ref,
            "status": block.status,
        }


def rule_index(books: Iterable[RuleBook]) -> dict[str, RuleRef]:
    out: dict[str, RuleRef] = {}
    for book in books:
        for rs, f in zip(book.periods, book.files):
            out.setdefault(rs.id, RuleRef(rs, rules_display_path(f)))
    return out


def rules_for_ledger(ruleset_ids: Iterable[str], rules: str | None = None) -> dict[str, RuleRef]:
    """The rule sets named by the ledger rows (``ruleset_id``), loaded to cite their sources.

    ``rules`` overrides where to look (a file or region directory), for rule sets moved since.
    """
    books: list[RuleBook] = []
    if rules is not None:
        books.append(load_rulebook(rules))
    index = rule_index(books)
    for rid in sorted(set(ruleset_ids)):
        if rid in index:
            continue
        try:
            index.update(rule_index([load_rulebook(rid)]))
        except RuleSetError as e:
            raise RuleSetError(
                [f"the ledger was settled with rule set {rid}, which does not load here — give its file with --rules"] + e.problems
            ) from None
        if rid not in index:
            raise RuleSetError([f"rules/{rid}.yaml holds another rule set than {rid}, named by the ledger — give its file with --rules"])
    return index

