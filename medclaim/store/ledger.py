"""A ledger opened for writing: the lock, leftovers of killed runs, the commit."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from ..parquet import write_frame
from ..rules import RuleBook
from ..settle import Handover

from .layout import (FileRef, Head, LedgerError, PARTS, RUNS, accumulator_name, crash_point, fsync_dir, ledger_lock, read_head, run_dir_name,
                     utc_now, write_head, write_json, write_new)
from .read import check_ledger_dir, read_accumulator
from .runs import PreparedAccumulator, RunPlan, plan_reverse, plan_settle


# ------------------------------------------------------------------ the ledger under its lock


class Ledger:
    """A ledger directory opened for writing: holds the lock, knows HEAD, commits runs.

        with Ledger.open(dir) as lg:
            plan = lg.plan_settle(claims, book)
            lg.commit(plan, run_files={...})
    """

    def __init__(self, root: Path, head: Head):
        self.root = root
        self.head = head
        self.notes: list[str] = []  # what opening found and did (e.g. a killed run's files set aside)
        self._pending = None  # a check still running (``open(check_meanwhile=True)``)
        self._checked_accumulator: pl.DataFrame | None = None  # the accumulator the check read

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: str | Path, wait: float = 0.0, command: str = "medclaim", *,
             head: Callable[[], Head] | None = None, check_meanwhile: bool = False) -> Iterator["Ledger"]:
        """Lock the ledger and check it before anything is appended (``ledger_check``): a damaged
        ledger raises ``LedgerCorrupt`` (exit 9) and nothing is changed.  ``head``: builds the HEAD
        to use under the lock instead of HEAD.json, unchecked (``rebuild``).

        ``check_meanwhile``: the check (a sha256 of every part: a second on a large ledger) runs in
        a second thread while the caller reads its input under the lock; ``checked()`` waits for it
        and raises what it found, and every planning method calls it first, so nothing is written
        to a ledger before it has been checked."""
        from .. import ledger_check

        root = Path(root)
        check_ledger_dir(root)
        with ledger_lock(root, wait, command):
            inv = ledger_check.inventory(root)
            pending, acc = None, None
            if callable(head):
                head = head()
                inv = ledger_check.inventory(root)
            elif head is None:
                head = read_head(root) or Head()
                if check_meanwhile:
                    pending = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medclaim-check")
                    check = pending.submit(ledger_check.check_before_append, root, head, inv)
                else:
                    acc = ledger_check.check_before_append(root, head, inv)
            lg = cls(root, head)
            lg._checked_accumulator = acc
            if pending is None:
                lg.clean_leftovers(inv)
                yield lg
                return
            lg._pending = (check, inv)
            try:
                yield lg
            finally:
                pending.shutdown(wait=True)  # never leave the lock while the check still reads the ledger

    def checked(self) -> None:
        """Wait for a check started by ``open(check_meanwhile=True)``; raise ``LedgerCorrupt`` if it
        found damage; then deal with a killed run's leftovers, as ``open`` does."""
        pending, self._pending = self._pending, None
        if pending is not None:
            check, inv = pending
            self._checked_accumulator = check.result()
            self.clean_leftovers(inv)

    # -- planning
    def plan_settle(self, claims: pl.DataFrame | Handover, book: RuleBook,
                    on_chunk: Callable[[pl.DataFrame], None] | None = None, roster=None) -> RunPlan:
        return self.prepare(plan_settle(self.root, self.head, claims, book, on_chunk, roster, self.accumulator()))

    def accumulator(self) -> pl.DataFrame | None:
        """The accumulator, after the check: the one the check read (once: a plan changes it), else
        read now (None: the ledger has none yet)."""
        self.checked()
        acc, self._checked_accumulator = self._checked_accumulator, None
        return acc if acc is not None else read_accumulator(self.root, self.head)

    def prepare(self, plan: RunPlan) -> RunPlan:
        """Start writing the plan's accumulator (``PreparedAccumulator``) while the caller goes on."""
        if plan.accumulator is not None and plan.prepared_accumulator is None:
            plan.prepared_accumulator = PreparedAccumulator(self.root, self.head.generation + 1, plan.accumulator)
        return plan

    def plan_reverse(self, setl_ids: list[str], book: RuleBook, reason: str | None = None) -> RunPlan:
        self.checked()
        return plan_reverse(self.root, self.head, setl_ids, book, reason)

    # -- housekeeping
    def clean_leftovers(self, inv=None) -> list[Path]:
        """What a killed run left: its temporary files are removed; its uncommitted part, run
        directory and accumulator are moved into ``uncommitted/`` (never deleted) and reported.
        A commit record missing for the last committed run (killed just after its commit) is written."""
        from .. import ledger_check

        inv = inv or ledger_check.inventory(self.root)
        ledger_check.remove_temporaries(inv)
        _, leftovers = ledger_check.beyond_head(self.head, inv)
        dest = ledger_check.set_aside(self.root, leftovers)
        if dest is not None:
            self.notes.append(f"files of a run that did not commit were moved to {dest} (kept, not part of the ledger): "
                              + ", ".join(str(p.relative_to(self.root)) for p in leftovers))
        if self.head.run and self.head.run not in inv.committed and (self.root / run_dir_name(self.head.run)).is_dir():
            self.record_commit(self.head.run)
        return leftovers

    def record_commit(self, run: int) -> None:
        """``runs/run-NNNNNN/committed.json``: written once HEAD names the run; tells a committed run
        from a killed one should HEAD.json be lost or replaced by an older copy."""
        from ..ledger_check import COMMITTED

        write_json(self.root / run_dir_name(run) / COMMITTED, {"run": run, "committed_utc": utc_now()})

    # -- committing
    def commit(self, plan: RunPlan, run_files: dict[str, Callable[[Path], None]]) -> Head:
        """Write the run's part, accumulator and run files under new names, then replace HEAD.

        ``run_files`` maps a file name in ``runs/run-NNNNNN/`` to a writer; ``manifest.json``, if
        given, is written last.  On return the run is committed and durable.
        """
        self.checked()
        root, old = self.root, self.head
        if plan.run != old.run + 1:
            raise LedgerError(f"run {plan.run} does not follow the ledger's run {old.run}")
        new = Head(run=plan.run, generation=old.generation, entries=old.entries, parts=list(old.parts), accumulator=old.accumulator,
                   run_files=list(old.run_files))
        self.prepare(plan)  # (the accumulator is written in a second thread while the parts are synced and hashed)
        # written under temporary names while the run settled, synced and hashed since: an error in
        # any of them stops the commit before anything is renamed
        for prepared in [*plan.parts, plan.prepared_accumulator]:
            if prepared is not None:
                prepared.sealed()
        for part in plan.parts:
            new.parts.append(part.place(root))
            new.entries += part.rows
        if plan.parts:
            fsync_dir(root / PARTS)
        crash_point("after-part")
        if plan.prepared_accumulator is not None:
            new.generation = old.generation + 1
            new.accumulator = plan.prepared_accumulator.place(root)
            plan.prepared_accumulator = None
        crash_point("after-accumulator")
        run_dir = root / run_dir_name(plan.run)
        run_dir.mkdir(parents=True)  # a leftover of the same number was set aside when the ledger was opened
        ordered = sorted(run_files.items(), key=lambda kv: kv[0] == "manifest.json")
        for name, writer in ordered:
            write_new(run_dir / name, writer)
        if "manifest.json" in run_files:
            new.run_files.append(FileRef.of(root, f"{run_dir_name(plan.run)}/manifest.json", 1))
        fsync_dir(run_dir)
        fsync_dir(root / RUNS)
        fsync_dir(root)
        crash_point("after-run-files")
        write_head(root, new)
        crash_point("after-commit")
        self.head = new
        self.record_commit(plan.run)
        return new

    def commit_accumulator(self, acc: pl.DataFrame) -> Head:
        """Replace the accumulator (``ledger rebuild``) through HEAD; the entries are untouched."""
        root, old = self.root, self.head
        new = Head(run=old.run, generation=old.generation + 1, entries=old.entries, parts=list(old.parts),
                   run_files=list(old.run_files))
        rel = accumulator_name(new.generation)
        write_new(root / rel, lambda p: write_frame(acc, p))
        new.accumulator = FileRef.of(root, rel, acc.height)
        fsync_dir(root)
        write_head(root, new)
        self.head = new
        return new


