"""Ledger integrity: what a run checks before it appends, what ``verify`` checks, how HEAD is rebuilt.

The store's commit protocol (``medclaim.store``) makes a run all-or-nothing; this module makes sure a
run never builds on a damaged ledger and never loses one:

* **before appending** (``check_before_append``, cheap): HEAD is readable; every file it names is
  there, of the recorded size and sha256; the accumulator's totals equal the totals of the parts
  (recorded in HEAD per part at commit), so a stale or swapped accumulator cannot open the month;
  no committed run lies beyond HEAD (an older HEAD.json restored).  Anything wrong: exit 9, the
  damaged file named, nothing changed.
* **nothing is deleted**: files HEAD does not name are either the temporaries of the protocol
  (``.name.tmp-PID``) or a killed run's uncommitted files — those are moved aside into
  ``uncommitted/`` and reported, never removed — or a committed run HEAD forgot, and then the run
  refuses.  A run's commit record (``runs/run-NNNNNN/committed.json``, written once HEAD names the
  run) tells a committed run from a killed one.
* **rebuild** (``reconstruct_head``): a HEAD from the parts, manifests and commit records, for a
  directory whose HEAD.json is missing, unreadable or older than its runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .output import TMP_MARK
from .store.layout import part_run

COMMITTED = "committed.json"
UNCOMMITTED = "uncommitted"
#: Accumulator running totals and the entry columns they sum (``ytd_claims``: claims − reversals).
TOTALS = {
    "ytd_claims": pl.when(pl.col("is_reversal")).then(-1).otherwise(1),
    "ytd_medfee": pl.col("medfee_sumamt"),
    "ytd_hifp": pl.col("hifp_pay"),
    "ytd_hifmi": pl.col("hifmi_pay"),
    "ytd_maf": pl.col("maf_pay"),
    "ytd_psn_part": pl.col("psn_part_amt"),
}
RECOVER = ("`medclaim ledger rebuild --ledger {root}` reconstructs HEAD.json from the parts, manifests and commit "
           "records (or restore the ledger directory from a backup)")


def _corrupt(problems: list[str]):
    from .store import LedgerCorrupt

    return LedgerCorrupt(problems)


# ------------------------------------------------------------------ what the directory holds


@dataclass
class Inventory:
    parts: dict[int, list[Path]] = field(default_factory=dict)  # run → parts/run-N.parquet (or run-N-P.parquet, one per partition)
    run_dirs: dict[int, Path] = field(default_factory=dict)  # run → runs/run-N
    committed: set[int] = field(default_factory=set)  # runs with a commit record
    accumulators: dict[int, Path] = field(default_factory=dict)  # generation → file
    temporaries: list[Path] = field(default_factory=list)

    def holds_ledger_files(self) -> bool:
        return bool(self.parts or self.run_dirs or self.accumulators)

    def describe(self) -> str:
        bits = []
        if self.parts:
            bits.append(f"{len(self.parts)} part(s) (runs {_span(self.parts)})")
        if self.run_dirs:
            bits.append(f"{len(self.run_dirs)} run director(y/ies) (runs {_span(self.run_dirs)}), {len(self.committed)} with a commit record")
        if self.accumulators:
            bits.append(f"{len(self.accumulators)} accumulator(s)")
        return ", ".join(bits) or "nothing"


def _span(d: dict[int, Any]) -> str:
    ks = sorted(d)
    return f"{ks[0]}–{ks[-1]}" if len(ks) > 1 else str(ks[0])


def inventory(root: Path) -> Inventory:
    inv = Inventory()
    root = Path(root)
    for d in (root, root / "parts", root / "runs"):
        if d.is_dir():
            inv.temporaries += [p for p in d.iterdir() if TMP_MARK in p.name]
    if (root / "parts").is_dir():
        for p in (root / "parts").iterdir():
            run = part_run(p.name)
            if run is not None:
                inv.parts.setdefault(run, []).append(p)
        for paths in inv.parts.values():
            paths.sort()  # a run's files in partition order: the order of its entry numbers
    if (root / "runs").is_dir():
        for p in (root / "runs").iterdir():
            m = re.fullmatch(r"run-(\d+)", p.name)
            if m and p.is_dir():
                inv.run_dirs[int(m.group(1))] = p
                if (p / COMMITTED).is_file():
                    inv.committed.add(int(m.group(1)))
                # a run killed while writing one of its files (rejects.csv, the commit record …)
                inv.temporaries += [f for f in p.iterdir() if TMP_MARK in f.name]
    for p in root.glob("accumulator-*.parquet"):
        m = re.fullmatch(r"accumulator-(\d+)\.parquet", p.name)
        if m:
            inv.accumulators[int(m.group(1))] = p
    return inv


def missing_head(root: Path, inv: Inventory, why: str = "no HEAD.json"):
    """The error for a directory that holds ledger files but no valid HEAD (exit 9)."""
    return _corrupt([
        f"{root}: a damaged ledger — {why}, but it holds {inv.describe()}; nothing was changed",
        "recover: " + RECOVER.format(root=root),
    ])


# ------------------------------------------------------------------ runs and files HEAD does not name


def beyond_head(head, inv: Inventory) -> tuple[list[int], list[Path]]:
    """(committed runs HEAD does not name, a killed run's uncommitted files)."""
    named = {int(re.search(r"run-(\d+)", p.file).group(1)) for p in head.parts}
    committed_missing = sorted(r for r in inv.committed if r > head.run or (r in inv.parts and r not in named and r <= head.run))
    leftovers: list[Path] = []
    for run, paths in inv.parts.items():
        if run > head.run and run not in inv.committed:
            leftovers += paths
    for run, p in inv.run_dirs.items():
        if run > head.run and run not in inv.committed:
            leftovers.append(p)
    current = head.accumulator.file if head.accumulator else None
    for gen, p in inv.accumulators.items():
        if gen > head.generation and p.name != current:
            leftovers.append(p)
    return committed_missing, leftovers


def set_aside(root: Path, paths: list[Path]) -> Path | None:
    """Move a killed run's uncommitted files into ``uncommitted/<time>/`` (same relative paths)."""
    if not paths:
        return None
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    dest = root / UNCOMMITTED / stamp
    for p in paths:
        target = dest / p.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(p, target)
    return dest


def remove_temporaries(inv: Inventory) -> None:
    """Temporary files of the protocol (``.name.tmp-PID``) are never part of a ledger."""
    import shutil

    for p in inv.temporaries:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


# ------------------------------------------------------------------ the files HEAD names


def _fix(what: str) -> str:
    """The recovery of a damaged file (docs/ledger.md, "Damage and recovery")."""
    return ("run `medclaim ledger rebuild` to recompute it from the entries" if what == "accumulator"
            else "restore it from a backup")


def check_present(root: Path, ref, what: str) -> list[str]:
    """A file HEAD names: present and of its recorded size — a stat, cheap enough for every reader."""
    from .store import HEAD_FILE

    p = root / ref.file
    if not p.is_file():
        return [f"{ref.file}: missing ({what} named by {HEAD_FILE}) — {_fix(what)}"]
    size = p.stat().st_size
    if getattr(ref, "bytes", None) is not None and size != ref.bytes:
        return [f"{ref.file}: the {what} was truncated or changed ({size:,} bytes ≠ {ref.bytes:,} recorded in {HEAD_FILE}, "
                f"so its sha256 cannot match) — {_fix(what)}"]
    return []


def check_file(root: Path, ref, what: str, sha256: bool = True) -> list[str]:
    """A file HEAD names: present, of its recorded size, sha256 and row count (Parquet footer).
    ``sha256=False``: all but the sha256 (a stat and the Parquet footer: milliseconds, whatever
    the file's size)."""
    from .store import HEAD_FILE, sha256_file

    problems = check_present(root, ref, what)
    if problems:
        return problems
    p, fix = root / ref.file, _fix(what)
    digest = sha256_file(p) if sha256 else ref.sha256
    if digest != ref.sha256:
        return [f"{ref.file}: the {what} was changed or damaged (sha256 {digest[:12]}… ≠ {ref.sha256[:12]}… recorded in "
                f"{HEAD_FILE}) — {fix}"]
    try:
        rows = pl.scan_parquet(p).select(pl.len()).collect().item()
    except Exception as e:  # noqa: BLE001 — an unreadable Parquet file is damage, named as such
        return [f"{ref.file}: not a readable Parquet file ({type(e).__name__}) — {fix}"]
    if rows != ref.rows:
        return [f"{ref.file}: {rows} rows ≠ {ref.rows} recorded in {HEAD_FILE} — {fix}"]
    return []


def entry_totals(entries: pl.LazyFrame | pl.DataFrame) -> dict[str, int]:
    """The sums of the entries that the accumulator's running totals must add up to."""
    have = entries.collect_schema().names() if isinstance(entries, pl.LazyFrame) else entries.columns
    exprs = [e.sum().cast(pl.Int64).alias(k) for k, e in TOTALS.items()
             if all(c in have for c in e.meta.root_names())]
    row = entries.lazy().select(exprs).collect().row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def accumulator_totals(acc: pl.DataFrame) -> dict[str, int]:
    row = acc.select([pl.col(k).sum().cast(pl.Int64) for k in TOTALS if k in acc.columns]).row(0, named=True)
    return {k: int(v or 0) for k, v in row.items()}


def check_totals(root: Path, head, acc: pl.DataFrame | None) -> list[str]:
    """The accumulator's totals equal the sum of the parts' (as recorded at commit; read from the
    parts for a ledger written before totals were recorded)."""
    from .store import HEAD_FILE

    parts: dict[str, int] = {}
    for ref in head.parts:
        t = getattr(ref, "totals", None)
        if t is None:
            t = entry_totals(pl.scan_parquet(root / ref.file))
        for k, v in t.items():
            parts[k] = parts.get(k, 0) + v
    if acc is None:
        return [f"accumulator: missing, but {HEAD_FILE} names {len(head.parts)} part(s) — run `medclaim ledger rebuild`"] if head.parts else []
    have = accumulator_totals(acc)
    wrong = [k for k in have if k in parts and have[k] != parts[k]]
    if not head.parts and any(have.values()):
        wrong = sorted(have)
    if wrong:
        k = wrong[0]
        return [f"{head.accumulator.file}: stale — {k} totals {have[k]} in the accumulator ≠ {parts.get(k, 0)} in the "
                f"ledger's parts ({len(wrong)} total(s) differ); `medclaim ledger rebuild --ledger {root}` recomputes it "
                "from the entries"]
    return []


def check_before_append(root: Path, head, inv: Inventory | None = None) -> pl.DataFrame | None:
    """What a run must know before it builds on the ledger; raises LedgerCorrupt (exit 9).

    Returns the accumulator it read (the run's openings), so it is read once.
    """
    root = Path(root)
    inv = inv or inventory(root)
    committed, _ = beyond_head(head, inv)
    if committed:
        raise _corrupt([
            f"{root}: runs {', '.join(map(str, committed))} were committed (runs/run-NNNNNN/{COMMITTED}) but HEAD.json "
            f"names runs up to {head.run} only — HEAD.json looks restored from an older copy; nothing was changed",
            "recover: " + RECOVER.format(root=root),
        ])
    problems = []
    for ref in head.parts:
        # the run reads a part only where a month's ids may lie (store.read.parts_holding, which
        # checks a part's sha256 before it reads any of its rows): here a stat and the footer
        problems += check_file(root, ref, "part", sha256=False)
    if head.accumulator is not None:
        problems += check_file(root, head.accumulator, "accumulator")
    if problems:
        raise _corrupt(problems + [f"the ledger was not changed; `medclaim ledger verify --ledger {root}` lists every problem"])
    acc = pl.read_parquet(root / head.accumulator.file) if head.accumulator else None
    problems = check_totals(root, head, acc)
    if problems:
        raise _corrupt(problems + ["the ledger was not changed"])
    return acc


# ------------------------------------------------------------------ runs/ and manifests


def check_runs(root: Path, head) -> list[str]:
    """Each committed run has its directory and a manifest that agrees with HEAD (and the
    manifest's sha256 when HEAD recorded it)."""
    from .store import HEAD_FILE, run_dir_name, sha256_file

    problems = []
    recorded = {r.file: r for r in getattr(head, "run_files", None) or []}
    rows_by_run: dict[int, int] = {}
    for p in head.parts:  # a run settled on Spark has one part per partition
        run = int(re.search(r"run-(\d+)", p.file).group(1))
        rows_by_run[run] = rows_by_run.get(run, 0) + p.rows
    for run in range(1, head.run + 1):
        d = root / run_dir_name(run)
        m = d / "manifest.json"
        rel = f"{run_dir_name(run)}/manifest.json"
        if not d.is_dir():
            problems.append(f"{run_dir_name(run)}: missing (run {run} is committed in {HEAD_FILE})")
            continue
        if not m.is_file():
            problems.append(f"{rel}: missing")
            continue
        if rel in recorded and sha256_file(m) != recorded[rel].sha256:
            problems.append(f"{rel}: changed since the commit (sha256 differs from {HEAD_FILE})")
            continue
        try:
            data = json.loads(m.read_text(encoding="utf-8"))
            if data.get("run") != run:
                problems.append(f"{rel}: names run {data.get('run')!r}")
            entries = (data.get("counts") or {}).get("entries")
            if run in rows_by_run and entries is not None and entries != rows_by_run[run]:
                problems.append(f"{rel}: {entries} entries ≠ {rows_by_run[run]} in its part(s)")
        except (ValueError, AttributeError) as e:
            problems.append(f"{rel}: unreadable ({type(e).__name__})")
    return problems


# ------------------------------------------------------------------ rebuilding HEAD


def reconstruct_head(root: Path):
    """A HEAD naming every committed run found in the directory: runs 1…N with a part and a manifest
    (and a commit record, when any run has one), numbered without a gap.  Returns (head, notes);
    raises LedgerCorrupt when the runs cannot be told apart safely.  The accumulator is left to
    the caller (recomputed from the entries)."""
    from .store import FileRef, Head

    root = Path(root)
    inv = inventory(root)
    notes = []
    candidates = sorted(r for r in inv.parts if (inv.run_dirs.get(r) and (inv.run_dirs[r] / "manifest.json").is_file()))
    if inv.committed:
        unrecorded = [r for r in candidates if r not in inv.committed]
        last = max(inv.committed)
        # the last run may have been committed and killed before writing its record: it is kept out, said so
        for r in unrecorded:
            if r > last:
                notes.append(f"run {r} has a part and a manifest but no commit record (killed before or just after its "
                             "commit): left out; settle its input again if it was not committed")
        candidates = [r for r in candidates if r in inv.committed or r < last]
    runs = []
    for r in candidates:
        if r != len(runs) + 1:
            break
        runs.append(r)
    gaps = sorted(set(candidates) - set(runs))
    if gaps:
        raise _corrupt([f"{root}: runs {', '.join(map(str, gaps))} follow a missing run {len(runs) + 1} — HEAD cannot "
                        "be rebuilt safely; restore the missing run's part and manifest from a backup"])
    if not runs:
        raise _corrupt([f"{root}: no committed run found (no part with a manifest); nothing to rebuild"])
    parts = []
    entries = 0
    for r in runs:
        for path in inv.parts[r]:
            rel = f"parts/{path.name}"
            try:
                rows = pl.scan_parquet(root / rel).select(pl.len()).collect().item()
                totals = entry_totals(pl.scan_parquet(root / rel))
            except Exception as e:  # noqa: BLE001
                raise _corrupt([f"{rel}: not a readable Parquet file ({type(e).__name__}) — restore it from a backup"]) from None
            ref = FileRef.of(root, rel, rows)
            ref.totals = totals
            parts.append(ref)
            entries += rows
    generation = max([0, *inv.accumulators])
    manifests = [FileRef.of(root, f"runs/run-{r:06d}/manifest.json", 1) for r in runs]
    head = Head(run=runs[-1], generation=generation, entries=entries, parts=parts, run_files=manifests)
    notes.insert(0, f"HEAD rebuilt from {len(runs)} run(s) (1–{runs[-1]}), {entries:,} entries")
    return head, notes
