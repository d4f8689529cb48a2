"""The ledger directory's files: names, errors, atomic writes, HEAD, the lock."""

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

from ..engine.order import LAST_COLUMNS  # noqa: F401 (re-exported)
from ..output import TMP_MARK, write_atomic
from ..status import Exit


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
# LAST_COLUMNS (the accumulator's last settled claim of a person-year) is the engine's: it flags
# late claims in its openings join.
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
    """Test hook: ``MEDCLAIM_CRASH_AT=name`` kills the process here (as ``kill -9`` would), or
    with ``MEDCLAIM_CRASH_SIGNAL=INT`` interrupts it here (as Ctrl-C would)."""
    if os.environ.get("MEDCLAIM_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGINT if os.environ.get("MEDCLAIM_CRASH_SIGNAL") == "INT" else signal.SIGKILL)


def part_name(run: int, partition: int | None = None) -> str:
    """A run's part file; ``partition``: one of several part files of a run written in parallel
    (a Spark run: one per partition of persons, in entry-number order)."""
    if partition is None:
        return f"{PARTS}/run-{run:06d}.parquet"
    return f"{PARTS}/run-{run:06d}-{partition:05d}.parquet"


#: A run's part file(s): ``run-NNNNNN.parquet`` or ``run-NNNNNN-PPPPP.parquet``.
PART_FILE = re.compile(r"run-(\d+)(?:-\d+)?\.parquet")


def part_run(file: str) -> int | None:
    """The run a part file (name or path) belongs to."""
    m = PART_FILE.fullmatch(Path(file).name)
    return int(m.group(1)) if m else None


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
    from ..ledger_check import RECOVER, inventory, missing_head

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


