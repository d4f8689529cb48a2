"""The persistent ledger of monthly runs: layout, commit protocol, locking, continuation, reversals.

A ledger directory ``DIR`` holds::

    HEAD.json                        the commit point: the files that make up the ledger, nothing else counts
    parts/run-000001.parquet         one run's entries (claims and reversals) in settlement order; never rewritten
    accumulator-000001.parquet       per person-year running totals after the run (the next run's openings)
    runs/run-000001/manifest.json    what the run read, used and produced (inputs with sha256, rules, counts…)
    runs/run-000001/rejects.csv      rows the run did not settle (incl. ``already_settled``)
    runs/run-000001/summary.json|txt the run's summary
    .lock                            ``flock``-ed by the run that writes

A run writes every new file under a new name (temporary name + fsync + rename), then replaces
``HEAD.json`` atomically (temporary + fsync + ``os.replace`` + fsync of the directory).  Readers
look only at what ``HEAD.json`` names, so a run killed at any moment leaves the ledger exactly as
before it (its leftovers are ignored, and removed by the next run) or exactly as after it.

Entries added to every settled row: ``run`` (run number), ``entry_no`` (1, 2, … over the whole
ledger, in settlement order), ``late`` (the claim ended before the person-year's last settled
claim), ``reverses_entry`` (a reversal: the ``entry_no`` it takes back) and ``reversal_reason``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import re
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .engine import KEYS
from .columns import write_parquet
from .output import TMP_MARK, write_atomic
from .rules import RuleBook
from .schema import CLAIM_COLUMNS, RejectReason, empty_rejects
from .settle import Settlement, check_invariants, settle_claims
from .status import Exit

FORMAT = "medclaim.ledger/1"
HEAD_FILE = "HEAD.json"
LOCK_FILE = ".lock"
PARTS = "parts"
RUNS = "runs"

#: Columns the store adds to every entry.
ENTRY_COLUMNS = {
    "run": pl.Int32,
    "entry_no": pl.Int64,
    "late": pl.Boolean,
    "reverses_entry": pl.Int64,
    "reversal_reason": pl.String,
}
#: The last settled claim of a person-year, in settlement order (for late detection).
LAST_COLUMNS = {"last_enddate": "enddate", "last_begndate": "begndate", "last_setl_id": "setl_id"}
#: Classes whose basic payment and deductible are per claim: a reversal takes them back as they were.
PER_CLAIM_CLASSES = ["inpatient", "general_outpatient", "two_diseases"]
#: Input amounts a reversal negates.
REVERSED_AMOUNTS = ["medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt", "reported_hifp_pay"]


# ------------------------------------------------------------------ errors


class LedgerError(Exception):
    """A ledger problem the user must act on; ``status`` is the exit status."""

    status = Exit.USAGE


class NotALedger(LedgerError):
    status = Exit.USAGE


class LedgerLocked(LedgerError):
    status = Exit.LOCKED


class LedgerCorrupt(LedgerError):
    status = Exit.LEDGER_CORRUPT

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class ReversalError(LedgerError):
    """A reversal that cannot be made (unknown id, different rule set)."""

    def __init__(self, message: str, status: Exit = Exit.INVALID_INPUT):
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------ files


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through a temporary name in the same directory: write, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, write)


def write_json(path: Path, data: Any) -> Path:
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
    return write_new(path, lambda p: p.write_text(text, encoding="utf-8"))


def crash_point(name: str) -> None:
    """Test hook: ``MEDCLAIM_CRASH_AT=name`` kills the process here (as ``kill -9`` would)."""
    if os.environ.get("MEDCLAIM_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def part_name(run: int) -> str:
    return f"{PARTS}/run-{run:06d}.parquet"


def partition_part_name(run: int, partition: int) -> str:
    """One of several part files of a run written in parallel (a Spark run: one per partition)."""
    return f"{PARTS}/run-{run:06d}-{partition:05d}.parquet"


#: A run's part file(s): ``run-NNNNNN.parquet`` or ``run-NNNNNN-PPPPP.parquet``.
_PART_FILE = re.compile(r"run-(\d+)(?:-\d+)?\.parquet")


def run_part_paths(root: Path, head: "Head", run: int) -> list[Path]:
    """The committed part files holding run ``run``'s entries, in HEAD order."""
    return [Path(root) / p.file for p in head.parts
            if (m := _PART_FILE.fullmatch(Path(p.file).name)) and int(m.group(1)) == run]


def write_entries(path: Path, entries: pl.DataFrame) -> None:
    """How a part file is written (the local commit and a Spark run's executors alike): with each
    column's unit."""
    write_parquet(entries, path)


def accumulator_name(generation: int) -> str:
    return f"accumulator-{generation:06d}.parquet"


def run_dir_name(run: int) -> str:
    return f"{RUNS}/run-{run:06d}"


# ------------------------------------------------------------------ HEAD


@dataclass
class FileRef:
    file: str  # relative to the ledger directory
    rows: int
    sha256: str
    bytes: int | None = None  # size (a truncated file is named without hashing it)
    totals: dict[str, int] | None = None  # a part's sums that the accumulator must add up to

    @classmethod
    def of(cls, root: Path, rel: str, rows: int) -> "FileRef":
        path = root / rel
        return cls(file=rel, rows=rows, sha256=sha256_file(path), bytes=path.stat().st_size)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FileRef":
        return cls(**{k: data[k] for k in ("file", "rows", "sha256", "bytes", "totals") if k in data})

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class Head:
    """What the ledger is: the committed parts and accumulator.  Run 0 = an empty ledger."""

    run: int = 0
    generation: int = 0  # bumped by every commit (a rebuild too); names the accumulator
    entries: int = 0
    parts: list[FileRef] = field(default_factory=list)
    accumulator: FileRef | None = None
    updated_utc: str | None = None
    run_files: list[FileRef] = field(default_factory=list)  # each committed run's manifest

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "run": self.run,
            "generation": self.generation,
            "entries": self.entries,
            "parts": [p.to_json() for p in self.parts],
            "accumulator": self.accumulator.to_json() if self.accumulator else None,
            "run_files": [p.to_json() for p in self.run_files],
            "updated_utc": self.updated_utc,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Head":
        if data.get("format") != FORMAT:
            raise LedgerCorrupt([f"{HEAD_FILE}: format {data.get('format')!r}, expected {FORMAT!r}"])
        acc = data.get("accumulator")
        return cls(
            run=int(data["run"]),
            generation=int(data["generation"]),
            entries=int(data["entries"]),
            parts=[FileRef.from_json(p) for p in data["parts"]],
            accumulator=FileRef.from_json(acc) if acc else None,
            updated_utc=data.get("updated_utc"),
            run_files=[FileRef.from_json(p) for p in data.get("run_files") or []],
        )


def read_head(root: Path) -> Head | None:
    """The committed state, or None when ``root`` holds no ledger yet."""
    from .ledger_check import RECOVER, inventory, missing_head

    path = Path(root) / HEAD_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        inv = inventory(Path(root))
        if inv.holds_ledger_files():  # never taken for a new ledger: that would settle from zero again
            raise missing_head(Path(root), inv) from None
        return None
    except IsADirectoryError:
        raise LedgerCorrupt([f"{path}: a directory, not the ledger's HEAD file", "recover: " + RECOVER.format(root=root)]) from None
    except UnicodeDecodeError as e:
        raise LedgerCorrupt([f"{path}: unreadable (not UTF-8 text at byte {e.start})", "recover: " + RECOVER.format(root=root)]) from None
    try:
        return Head.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        shown = str(e)[:80]
        raise LedgerCorrupt([f"{path}: unreadable ({type(e).__name__}: {shown})", "recover: " + RECOVER.format(root=root)]) from None


def write_head(root: Path, head: Head) -> None:
    """The commit: HEAD.json is replaced atomically and the directory entry made durable."""
    head.updated_utc = utc_now()
    text = json.dumps(head.to_json(), ensure_ascii=False, indent=2) + "\n"
    tmp = root / f".{HEAD_FILE}{TMP_MARK}{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    crash_point("before-head")
    os.replace(tmp, root / HEAD_FILE)
    fsync_dir(root)


# ------------------------------------------------------------------ locking


def lock_holder(root: Path) -> str:
    try:
        info = json.loads((root / LOCK_FILE).read_text(encoding="utf-8") or "{}")
        return f"pid {info['pid']} on {info['host']} ({info['command']}, since {info['since']})"
    except (OSError, ValueError, KeyError):
        return "another process"


@contextlib.contextmanager
def ledger_lock(root: Path, wait: float = 0.0, command: str = "medclaim") -> Iterator[None]:
    """Hold the ledger's exclusive lock (``flock`` on DIR/.lock), waiting up to ``wait`` seconds.

    The lock dies with its process, so a killed run never leaves the ledger locked.
    """
    import fcntl  # POSIX only; imported here so that reading a ledger works everywhere

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except IsADirectoryError:
        raise LedgerCorrupt([f"{root / LOCK_FILE}: a directory, not the ledger's lock file — nothing was changed; "
                             f"remove it (rmdir {root / LOCK_FILE}) and run again"]) from None
    deadline = time.monotonic() + max(0.0, wait)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    waited = f" after waiting {wait:g} s" if wait > 0 else ""
                    raise LedgerLocked(
                        f"ledger {root} is locked by {lock_holder(root)}{waited} — it is being written; "
                        "try again later or pass --wait SECONDS"
                    ) from None
                time.sleep(0.05)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": utc_now()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


# ------------------------------------------------------------------ reading


_LEDGER_NAMES = re.compile(r"^(HEAD\.json|\.lock|parts|runs|accumulator-\d+\.parquet|\..*\.tmp-\d+)$")


def check_ledger_dir(root: Path) -> None:
    """Refuse a directory that is neither empty nor a ledger (e.g. an ``--out`` directory)."""
    if not root.exists():
        return
    if not root.is_dir():
        raise NotALedger(f"{root} is not a directory")
    if (root / HEAD_FILE).exists():
        return
    if (root / "ledger.parquet").exists():
        raise NotALedger(
            f"{root} holds a one-off ledger.parquet written with --out; give --ledger a new (or empty) directory"
        )
    foreign = sorted(p.name for p in root.iterdir() if not _LEDGER_NAMES.match(p.name))
    if foreign:
        raise NotALedger(
            f"{root} is not a medclaim ledger (it holds {', '.join(foreign[:5])}); give --ledger a new or empty directory"
        )


def _empty_ledger_frame() -> pl.LazyFrame:
    from .settle import empty_ledger

    return empty_ledger().lazy()


def part_paths(root: Path, head: Head) -> list[Path]:
    return [Path(root) / p.file for p in head.parts]


def scan_parts(root: Path, head: Head, columns: list[str] | None = None) -> pl.LazyFrame:
    paths = part_paths(root, head)
    if not paths:
        return _empty_ledger_frame()
    frames = [pl.scan_parquet(p) for p in paths]
    if columns is not None:
        frames = [f.select([c for c in columns if c in f.collect_schema().names()]) for f in frames]
    return pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]


def scan_ledger(path: str | Path) -> pl.LazyFrame:
    """Every committed entry of a ledger directory (``--ledger``), or the ledger.parquet of an ``--out``
    directory, or a ledger Parquet file itself.  Entries are in settlement order within each run."""
    path = Path(path)
    if path.is_file():
        return pl.scan_parquet(path)
    head = read_head(path)
    if head is not None:
        return scan_parts(path, head)
    if (path / "ledger.parquet").exists():
        return pl.scan_parquet(path / "ledger.parquet")
    raise NotALedger(f"{path}: no ledger here (neither {HEAD_FILE} of a --ledger directory nor ledger.parquet of an --out directory)")


def read_ledger(path: str | Path) -> pl.DataFrame:
    """All committed entries (see ``scan_ledger``)."""
    return scan_ledger(path).collect()


def read_accumulator(root: str | Path, head: Head | None = None) -> pl.DataFrame | None:
    """The committed per-person-year running totals (None for an empty ledger)."""
    root = Path(root)
    head = head if head is not None else read_head(root)
    if head is None or head.accumulator is None:
        return None
    return pl.read_parquet(root / head.accumulator.file)


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    """The manifests of the committed runs, oldest first."""
    root = Path(root)
    head = read_head(root)
    if head is None:
        raise NotALedger(f"{root}: no ledger here ({HEAD_FILE} missing)")
    out = []
    for run in range(1, head.run + 1):
        path = root / run_dir_name(run) / "manifest.json"
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            out.append({"run": run, "error": f"{path}: {e}"})
    return out


# ------------------------------------------------------------------ the accumulator


def ytd_columns(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    return [c for c in names if c.startswith("ytd_")]


def last_claims(entries: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Per person-year, the (enddate, begndate, setl_id) of its last settled claim (not reversals),
    whatever the order of ``entries``."""
    keys = list(LAST_COLUMNS.values())
    narrow = entries.lazy().filter(~pl.col("is_reversal")).select(KEYS + keys).collect()
    # sorting on a hash of the person id is much cheaper than on the string; a collision between
    # two people only interleaves their rows, each person-year's own rows stay in key order
    return (
        narrow.with_columns(_psn=pl.col("psn_no").hash(20210426))
        .sort(["_psn", "year", *keys])
        .group_by(KEYS, maintain_order=True)
        .last()
        .drop("_psn")
        .rename({c: a for a, c in LAST_COLUMNS.items()})
    )


def accumulator_from_entries(entries: pl.LazyFrame) -> pl.DataFrame:
    """Rebuild the accumulator from the ledger: each person-year's running totals after its last
    entry (by ``entry_no``) and its last settled claim."""
    ytd = ytd_columns(entries)
    frame = entries.select(KEYS + ytd + ["entry_no"]).collect().sort("entry_no")
    closing = frame.group_by(KEYS).agg([pl.col(c).last().fill_null(0) for c in ytd])
    del frame
    return closing.join(last_claims(entries), on=KEYS, how="left").sort(KEYS)


def sorts_before(a: list[str], b: list[str]) -> pl.Expr:
    """(enddate, begndate, setl_id) ``a`` < ``b`` in settlement order (null when ``b`` is null)."""
    (e, bg, s), (le, lb, ls) = [pl.col(c) for c in a], [pl.col(c) for c in b]
    return (e < le) | ((e == le) & ((bg < lb) | ((bg == lb) & (s < ls))))


def merge_accumulator(old: pl.DataFrame | None, closing: pl.DataFrame, entries: pl.DataFrame) -> pl.DataFrame:
    """The accumulator after a run: ``closing`` (every person-year's running totals after the run)
    with each person-year's last settled claim — the later of the old one and the run's."""
    closing = closing.select(KEYS + sorted(ytd_columns(closing)))
    last = list(LAST_COLUMNS)
    run_last = last_claims(entries).lazy().rename({a: f"{a}__run" for a in last})
    acc = closing.lazy()
    if old is not None and "last_enddate" in old.columns:
        acc = acc.join(old.lazy().select(KEYS + last), on=KEYS, how="left", maintain_order="left")
    else:
        acc = acc.with_columns([pl.lit(None, dtype=dt_).alias(a) for a, dt_ in
                                zip(last, (pl.Date, pl.Date, pl.String))])
    acc = acc.join(run_last, on=KEYS, how="left", maintain_order="left")
    run_cols = [f"{a}__run" for a in last]
    take_run = pl.col(run_cols[0]).is_not_null() & (pl.col(last[0]).is_null() | sorts_before(last, run_cols))
    return (
        acc.with_columns([pl.when(take_run).then(pl.col(r)).otherwise(pl.col(a)).alias(a) for a, r in zip(last, run_cols)])
        .drop(run_cols)
        .collect()
    )


def late_flag(ledger: pl.DataFrame, acc: pl.DataFrame | None) -> pl.DataFrame:
    """``late``: a claim that sorts before the person-year's last already-settled claim."""
    if acc is None or "last_enddate" not in acc.columns or ledger.height == 0:
        return ledger.with_columns(late=pl.lit(False))
    keys = list(LAST_COLUMNS.values())
    flag = (
        ledger.lazy().select(KEYS + keys + ["is_reversal"])
        .join(acc.lazy().select(KEYS + list(LAST_COLUMNS)), on=KEYS, how="left", maintain_order="left")
        .select(late=(~pl.col("is_reversal") & sorts_before(keys, list(LAST_COLUMNS))).fill_null(False))
        .collect()
    )
    return ledger.with_columns(flag["late"])


# ------------------------------------------------------------------ what a run produces


@dataclass
class RunPlan:
    """One run's outcome before it is committed."""

    run: int
    kind: str  # settle | reverse
    entries: pl.DataFrame  # the new part, settlement order, store columns stamped
    rejects: pl.DataFrame  # rows not settled (incl. already_settled / already_reversed)
    accumulator: pl.DataFrame | None  # the accumulator after the run (None: unchanged)
    settlement: Settlement
    counts: dict[str, int] = field(default_factory=dict)
    parts: list[FileRef] = field(default_factory=list)  # entries already written to part files (a Spark run)

    @property
    def entry_count(self) -> int:
        return self.entries.height + sum(p.rows for p in self.parts)


def stamp(ledger: pl.DataFrame, run: int, entries_before: int) -> pl.DataFrame:
    """Add the store's columns: run number, ledger-wide entry number, reversal link (null for claims)."""
    add = {}
    for name, dtype in ENTRY_COLUMNS.items():
        if name not in ledger.columns:
            add[name] = pl.lit(None, dtype=dtype)
    ledger = ledger.with_columns(**add) if add else ledger
    return ledger.with_columns(
        run=pl.lit(run, dtype=pl.Int32),
        entry_no=pl.int_range(1, ledger.height + 1, dtype=pl.Int64) + entries_before,
        reverses_entry=pl.col("reverses_entry").cast(pl.Int64),
        reversal_reason=pl.col("reversal_reason").cast(pl.String),
    )


def _reject(frame: pl.DataFrame, reason: RejectReason, message: pl.Expr) -> pl.DataFrame:
    return frame.select(
        pl.col("source_file"),
        pl.col("source_row"),
        pl.col("setl_id"),
        pl.lit("setl_id").alias("column"),
        pl.lit(reason.value).alias("reason_code"),
        message.alias("message"),
        pl.col("setl_id").alias("raw"),
    ).cast(empty_rejects().schema)


def settled_state(root: Path, head: Head, ids: pl.DataFrame) -> pl.DataFrame:
    """For the given setl_ids that are in the ledger: ``net`` (claims − reversals: 1 settled, 0
    reversed), the entry_no and run of the latest claim entry, and of the latest reversal.

    One pass over the ledger's ``setl_id`` column (a semi-join; no re-sort of the year's history).
    """
    schema = {"setl_id": pl.String, "net": pl.Int64, "claim_entry": pl.Int64, "claim_run": pl.Int32, "reversal_run": pl.Int32}
    if not head.parts or ids.height == 0:
        return pl.DataFrame(schema=schema)
    lf = scan_parts(root, head, ["setl_id", "is_reversal", "entry_no", "run"])
    hits = lf.join(ids.select("setl_id").unique().lazy(), on="setl_id", how="semi")
    rev = pl.col("is_reversal")
    return (
        hits.group_by("setl_id")
        .agg(
            net=pl.when(rev).then(-1).otherwise(1).sum().cast(pl.Int64),
            claim_entry=pl.col("entry_no").filter(~rev).max(),
            claim_run=pl.col("run").filter(~rev).max().cast(pl.Int32),
            reversal_run=pl.col("run").filter(rev).max().cast(pl.Int32),
        )
        .collect()
    )


def split_already_settled(root: Path, head: Head, claims: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """The claims still to settle, the rejects of those already settled (and not reversed), and
    the counts ``already_settled``, ``resettled`` (settled before, reversed, now settled anew)."""
    state = settled_state(root, head, claims.select("setl_id"))
    active = state.filter(pl.col("net") > 0)
    repeated = claims.join(active, on="setl_id", how="inner")
    fresh = claims.join(active, on="setl_id", how="anti")
    resettled = fresh.join(state.filter(pl.col("net") <= 0), on="setl_id", how="semi").height
    rejects = _reject(
        repeated,
        RejectReason.ALREADY_SETTLED,
        pl.format("settlement id already settled in run {} (entry {}); not paid again", pl.col("claim_run"), pl.col("claim_entry")),
    )
    return fresh, rejects, {"already_settled": repeated.height, "resettled": resettled, "reversals": 0}


def plan_settle(root: Path, head: Head, claims: pl.DataFrame, book: RuleBook) -> RunPlan:
    """Settle new claims after everything the ledger holds.

    Claims whose setl_id is already settled (and not reversed) are rejected as ``already_settled``;
    each person-year opens with the accumulator's running totals; a claim that sorts before the
    person-year's last settled claim is flagged ``late`` (it is still settled after it).
    """
    run = head.run + 1
    fresh, rejects, counts = split_already_settled(root, head, claims)
    acc = read_accumulator(root, head)
    openings = acc.select(KEYS + ytd_columns(acc)) if acc is not None else None
    settlement = settle_claims(fresh, book, openings)
    ledger = stamp(late_flag(settlement.ledger, acc), run, head.entries)
    new_acc = merge_accumulator(acc, settlement.closing, ledger) if ledger.height else None
    return RunPlan(
        run=run,
        kind="settle",
        entries=ledger,
        rejects=pl.concat([rejects, settlement.rejects]),
        accumulator=new_acc,
        settlement=settlement,
        counts=counts | {"late_claims": int(ledger["late"].sum()) if ledger.height else 0},
    )


def reversal_claims(originals: pl.DataFrame, reason: str | None) -> pl.DataFrame:
    """Reversal records built from the original ledger rows: same person, dates, codes and class;
    amounts negated; the per-claim basic payment and deductible taken back as they were."""
    per_claim = pl.col("benefit_class").is_in(PER_CLAIM_CLASSES)
    amounts = [c for c in REVERSED_AMOUNTS if c in originals.columns]
    keep = [c for c in CLAIM_COLUMNS if c not in amounts]
    return originals.select(
        *[pl.col(c) for c in keep if c not in ("source_file", "source_row")],
        *[(-pl.col(c)).alias(c) for c in amounts],
        source_file=pl.lit("reversal"),
        source_row=pl.col("entry_no"),
        is_reversal=pl.lit(True),
        fixed_hifp_raw=pl.when(per_claim).then(-pl.col("hifp_raw")).otherwise(None).cast(pl.Int64),
        fixed_dedc=pl.when(per_claim).then(-pl.col("act_pay_dedc")).otherwise(None).cast(pl.Int64),
        reverses_entry=pl.col("entry_no"),
        reversal_reason=pl.lit(reason, dtype=pl.String),
    )


def plan_reverse(root: Path, head: Head, setl_ids: list[str], book: RuleBook, reason: str | None) -> RunPlan:
    """Append a reversal entry for each settled claim named, through the same engine.

    Its payments are the change of each annual formula (F(net after) − F(before)); claims the person
    settled after the original are final and are not re-settled.  An id that is not in the ledger
    stops the whole command; an id already reversed is refused (rejected as ``already_reversed``).
    """
    run = head.run + 1
    wanted = pl.DataFrame({"setl_id": list(dict.fromkeys(setl_ids))}, schema={"setl_id": pl.String})
    state = settled_state(root, head, wanted)
    unknown = wanted.join(state, on="setl_id", how="anti")["setl_id"].to_list()
    if unknown:
        shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise ReversalError(f"{len(unknown)} settlement id(s) not in ledger {root}: {shown} — nothing reversed", Exit.NOT_FOUND)
    done = state.filter(pl.col("net") <= 0)
    todo = state.filter(pl.col("net") > 0)
    refused = done.select(
        source_file=pl.lit("command line"),
        source_row=pl.lit(None, dtype=pl.Int64),
        setl_id=pl.col("setl_id"),
        column=pl.lit("setl_id"),
        reason_code=pl.lit("already_reversed"),
        message=pl.format("already reversed in run {}; not reversed twice", pl.col("reversal_run")),
        raw=pl.col("setl_id"),
    ).cast(empty_rejects().schema)
    entries = todo["claim_entry"].to_list()
    runs = sorted(set(todo["claim_run"].to_list()))
    originals = (
        pl.concat(
            [pl.scan_parquet(p).filter(pl.col("entry_no").is_in(entries)) for r in runs for p in run_part_paths(root, head, r)],
            how="diagonal_relaxed",
        ).collect()
        if runs
        else None
    )
    acc = read_accumulator(root, head)
    counts = {"reversals": 0, "already_reversed": refused.height, "already_settled": 0, "late_claims": 0, "resettled": 0}
    if originals is None or originals.height == 0:
        nothing = Settlement(ledger=pl.DataFrame(), rejects=refused, closing=pl.DataFrame())
        return RunPlan(run, "reverse", pl.DataFrame(), refused, None, nothing, counts)
    claims = reversal_claims(originals, reason)
    openings = acc.select(KEYS + ytd_columns(acc)) if acc is not None else None
    settlement = settle_claims(claims, book, openings)
    if settlement.rejects.height or settlement.ledger.height != originals.height:
        msgs = settlement.rejects["message"].to_list()[:3]
        raise ReversalError(
            "the rule set given cannot settle the reversal the way the original was settled: " + "; ".join(msgs)
            + " — pass the rule set the claims were settled with",
            Exit.INVALID_RULES,
        )
    check = settlement.ledger.join(
        originals.select("entry_no", orig_id=pl.col("ruleset_id"), orig_version=pl.col("ruleset_version")),
        left_on="reverses_entry", right_on="entry_no", how="left",
    ).filter((pl.col("ruleset_id") != pl.col("orig_id")) | (pl.col("ruleset_version") != pl.col("orig_version")))
    if check.height:
        r = check.row(0, named=True)
        raise ReversalError(
            f"claim {r['setl_id']} was settled with rule set {r['orig_id']} version {r['orig_version']}, but the rules given "
            f"settle it with {r['ruleset_id']} version {r['ruleset_version']} — pass the rule set the claim was settled with",
            Exit.INVALID_RULES,
        )
    ledger = stamp(settlement.ledger.with_columns(late=pl.lit(False)), run, head.entries)
    new_acc = merge_accumulator(acc, settlement.closing, ledger)
    return RunPlan(
        run=run,
        kind="reverse",
        entries=ledger,
        rejects=refused,
        accumulator=new_acc,
        settlement=settlement,
        counts=counts | {"reversals": ledger.height},
    )


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

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: str | Path, wait: float = 0.0, command: str = "medclaim", *,
             head: Callable[[], Head] | None = None) -> Iterator["Ledger"]:
        """Lock the ledger and check it before anything is appended (``ledger_check``): a damaged
        ledger raises ``LedgerCorrupt`` (exit 9) and nothing is changed.  ``head``: builds the HEAD
        to use under the lock instead of HEAD.json, unchecked (``rebuild``)."""
        from . import ledger_check

        root = Path(root)
        check_ledger_dir(root)
        with ledger_lock(root, wait, command):
            inv = ledger_check.inventory(root)
            if callable(head):
                head = head()
                inv = ledger_check.inventory(root)
            elif head is None:
                head = read_head(root) or Head()
                ledger_check.check_before_append(root, head, inv)
            lg = cls(root, head)
            lg.clean_leftovers(inv)
            yield lg

    # -- planning
    def plan_settle(self, claims: pl.DataFrame, book: RuleBook) -> RunPlan:
        return plan_settle(self.root, self.head, claims, book)

    def plan_reverse(self, setl_ids: list[str], book: RuleBook, reason: str | None = None) -> RunPlan:
        return plan_reverse(self.root, self.head, setl_ids, book, reason)

    # -- housekeeping
    def clean_leftovers(self, inv=None) -> list[Path]:
        """What a killed run left: its temporary files are removed; its uncommitted part, run
        directory and accumulator are moved into ``uncommitted/`` (never deleted) and reported.
        A commit record missing for the last committed run (killed just after its commit) is written."""
        from . import ledger_check

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
        from .ledger_check import COMMITTED

        write_json(self.root / run_dir_name(run) / COMMITTED, {"run": run, "committed_utc": utc_now()})

    # -- committing
    def commit(self, plan: RunPlan, run_files: dict[str, Callable[[Path], None]]) -> Head:
        """Write the run's part, accumulator and run files under new names, then replace HEAD.

        ``run_files`` maps a file name in ``runs/run-NNNNNN/`` to a writer; ``manifest.json``, if
        given, is written last.  On return the run is committed and durable.
        """
        root, old = self.root, self.head
        if plan.run != old.run + 1:
            raise LedgerError(f"run {plan.run} does not follow the ledger's run {old.run}")
        from .ledger_check import entry_totals

        new = Head(run=plan.run, generation=old.generation, entries=old.entries, parts=list(old.parts), accumulator=old.accumulator,
                   run_files=list(old.run_files))
        if plan.entries.height:
            rel = part_name(plan.run)
            (root / PARTS).mkdir(parents=True, exist_ok=True)
            write_new(root / rel, lambda p: write_entries(p, plan.entries))
            ref = FileRef.of(root, rel, plan.entries.height)
            ref.totals = entry_totals(plan.entries)
            new.parts.append(ref)
            new.entries = old.entries + plan.entries.height
            fsync_dir(root / PARTS)
        if plan.parts:  # already written (each fsynced) by the run's workers, numbered after the entries above
            new.parts += plan.parts
            new.entries += sum(p.rows for p in plan.parts)
            fsync_dir(root / PARTS)
        crash_point("after-part")
        if plan.accumulator is not None:
            new.generation = old.generation + 1
            rel = accumulator_name(new.generation)
            acc = plan.accumulator
            write_new(root / rel, lambda p: acc.write_parquet(p, statistics=True))
            new.accumulator = FileRef.of(root, rel, acc.height)
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
        write_new(root / rel, lambda p: acc.write_parquet(p, statistics=True))
        new.accumulator = FileRef.of(root, rel, acc.height)
        fsync_dir(root)
        write_head(root, new)
        self.head = new
        return new


# ------------------------------------------------------------------ verify and rebuild


def _compare_frames(committed: pl.DataFrame, rebuilt: pl.DataFrame, what: str) -> list[str]:
    cols = sorted((set(committed.columns) | set(rebuilt.columns)) - set(KEYS))
    a = committed.select(KEYS + [c for c in cols if c in committed.columns])
    b = rebuilt.select(KEYS + [c for c in cols if c in rebuilt.columns])
    problems = []
    only_a = a.join(b, on=KEYS, how="anti").height
    only_b = b.join(a, on=KEYS, how="anti").height
    if only_a:
        problems.append(f"{what}: {only_a} person-year(s) in the accumulator have no ledger entries")
    if only_b:
        problems.append(f"{what}: {only_b} person-year(s) with ledger entries are missing from the accumulator")
    j = a.join(b, on=KEYS, how="inner", suffix="__rebuilt")
    for c in cols:
        left = pl.col(c) if c in a.columns else pl.lit(None)
        right = pl.col(f"{c}__rebuilt") if c in b.columns else pl.lit(None)
        if c.startswith("ytd_"):
            left, right = left.fill_null(0), right.fill_null(0)
        bad = j.filter(left.ne_missing(right))
        if bad.height:
            r = bad.row(0, named=True)
            problems.append(
                f"{what}: {c} differs for {bad.height} person-year(s), e.g. {r['psn_no']} {r['year']}: "
                f"accumulator {r.get(c)} ≠ ledger {r.get(c + '__rebuilt', r.get(c))}"
            )
    return problems


#: Columns ``settle.check_invariants`` looks at (verify reads only these, part by part; should the
#: check come to need another column, verify falls back to reading whole parts).
INVARIANT_COLUMNS = [
    "setl_id", "is_reversal", "covered", "scope", "pre", "medfee_sumamt", "inscp_scp_amt", "act_pay_dedc", "hifp_pay", "hifmi_pay",
    "maf_pay", "fund_pay_sumamt", "psn_part_amt", "ytd_medfee", "ytd_hifp", "ytd_hifmi", "ytd_maf",
    "ytd_critical_base", "ytd_assist_base",
]


def verify(root: str | Path) -> list[str]:
    """Check the ledger against itself and its accumulator.  Returns the problems (empty: all good).

    Reads narrow column sets only (never the whole ledger at once), so it runs on a year of claims.
    """
    root = Path(root)
    head = read_head(root)
    if head is None:
        raise NotALedger(f"{root}: no ledger here ({HEAD_FILE} missing)")
    from . import ledger_check

    problems: list[str] = []
    committed, _ = ledger_check.beyond_head(head, ledger_check.inventory(root))
    if committed:
        problems.append(f"{HEAD_FILE}: names runs up to {head.run}, but runs {', '.join(map(str, committed))} were committed "
                        f"— it looks restored from an older copy; `medclaim ledger rebuild` reconstructs it")
    for ref in head.parts:
        problems += ledger_check.check_file(root, ref, "part")
    if head.accumulator:
        problems += ledger_check.check_file(root, head.accumulator, "accumulator")
    problems += ledger_check.check_runs(root, head)
    if problems:
        return problems
    ids = scan_parts(root, head, ["entry_no", "setl_id", "is_reversal", "reverses_entry"]).collect()
    if ids.height != head.entries:
        problems.append(f"ledger: {ids.height} entries ≠ {head.entries} recorded in {HEAD_FILE}")
    if ids.height == 0:
        if head.accumulator is not None and read_accumulator(root, head).height:
            problems.append("accumulator: not empty, but the ledger holds no entries")
        return problems
    if not ids["entry_no"].equals(pl.int_range(1, ids.height + 1, dtype=pl.Int64, eager=True).alias("entry_no")):
        problems.append("ledger: entry_no is not 1, 2, … in file order, without gaps or repeats")
    # conservation and the other run-time invariants, part by part
    for ref in head.parts:
        lf = pl.scan_parquet(root / ref.file)
        have = lf.collect_schema().names()
        try:
            try:
                check_invariants(lf.select([c for c in INVARIANT_COLUMNS if c in have]).collect())
            except pl.exceptions.ColumnNotFoundError:
                check_invariants(lf.collect())
        except Exception as e:  # InvariantError, or a column the ledger lacks
            problems += [f"{ref.file}: invariant {p}" for p in getattr(e, "problems", [str(e)])]
    # every reversal takes back one claim entry of the same id, once; an id stands settled at most once
    revs = ids.filter(pl.col("is_reversal"))
    if revs.height:
        target = revs.join(ids.select("entry_no", t_id="setl_id", t_rev="is_reversal"), left_on="reverses_entry",
                           right_on="entry_no", how="left")
        orphan = target.filter(pl.col("t_id").is_null() | (pl.col("t_id") != pl.col("setl_id")) | pl.col("t_rev"))
        if orphan.height:
            problems.append(f"ledger: {orphan.height} reversal(s) do not point at a claim entry of the same setl_id")
        twice = revs.group_by("reverses_entry").len().filter(pl.col("len") > 1)
        if twice.height:
            problems.append(f"ledger: {twice.height} claim entr(y/ies) reversed more than once")
    repeated = ids.filter(pl.col("setl_id").hash(7).is_duplicated())  # a superset of repeated ids (hash)
    net = repeated.group_by("setl_id").agg(n=pl.when(pl.col("is_reversal")).then(-1).otherwise(1).sum())
    bad_net = net.filter(~pl.col("n").is_in([0, 1]))
    if bad_net.height:
        problems.append(f"ledger: {bad_net.height} settlement id(s) settled more than once net, e.g. {bad_net['setl_id'][0]}")
    del ids, revs, repeated
    # running totals: the last entry's ytd_* per person-year, and the sums of the contributions
    entries = scan_parts(root, head)
    rebuilt = accumulator_from_entries(entries)
    sums = (
        scan_parts(root, head, KEYS + ["is_reversal", "medfee_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "psn_part_amt"])
        .group_by(KEYS)
        .agg(
            ytd_claims=pl.when(pl.col("is_reversal")).then(-1).otherwise(1).sum().cast(pl.Int64),
            ytd_medfee=pl.col("medfee_sumamt").sum(),
            ytd_hifp=pl.col("hifp_pay").sum(),
            ytd_hifmi=pl.col("hifmi_pay").sum(),
            ytd_maf=pl.col("maf_pay").sum(),
            ytd_psn_part=pl.col("psn_part_amt").sum(),
        )
        .collect()
    )
    problems += _compare_frames(rebuilt.select(sums.columns), sums, "running totals vs sums of entries")
    committed = read_accumulator(root, head)
    if committed is None:
        problems.append("accumulator: missing, but the ledger holds entries — run `medclaim ledger rebuild`")
    else:
        problems += _compare_frames(committed, rebuilt, "accumulator vs ledger")
    return problems


def rebuild(root: str | Path, wait: float = 0.0, notes: list[str] | None = None) -> Head:
    """Recompute the accumulator from the ledger entries and commit it (under the lock).

    When HEAD.json is missing, unreadable, or older than the runs committed in the directory, HEAD
    is first reconstructed from the parts, manifests and commit records (``ledger_check``); the
    entries themselves are never touched.  What was done is appended to ``notes``.
    """
    from . import ledger_check

    root = Path(root)
    notes = notes if notes is not None else []

    def current_or_rebuilt() -> Head:
        try:
            head = read_head(root)
        except LedgerCorrupt:
            head = None  # missing with ledger files present, or unreadable: rebuilt below
        else:
            if head is None:
                raise NotALedger(f"{root}: no ledger here ({HEAD_FILE} missing, and no parts)")
            if not ledger_check.beyond_head(head, ledger_check.inventory(root))[0]:
                return head
        rebuilt, found = ledger_check.reconstruct_head(root)
        notes.extend(found)
        return rebuilt

    with Ledger.open(root, wait, "medclaim ledger rebuild", head=current_or_rebuilt) as lg:
        if lg.head.run == 0 and not lg.head.parts:
            raise NotALedger(f"{root}: no ledger here ({HEAD_FILE} missing)")
        acc = accumulator_from_entries(scan_parts(lg.root, lg.head))
        head = lg.commit_accumulator(acc)
        for run in range(1, head.run + 1):
            if (lg.root / run_dir_name(run)).is_dir() and not (lg.root / run_dir_name(run) / ledger_check.COMMITTED).exists():
                lg.record_commit(run)
        notes.extend(lg.notes)
        return head
