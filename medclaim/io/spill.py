"""Claims larger than memory: the reader writes them to person-hash buckets on disk.

A run whose input holds more rows than ``spill_rows`` (``$MEDCLAIM_SPILL_ROWS``, default
``SPILL_ROWS``) does not keep its parsed claims in memory: each batch the reader parses is split
by person into ``buckets`` Arrow IPC files (lz4) in a scratch directory (``--spill-dir``,
``$MEDCLAIM_SPILL_DIR``, else the system's temporary directory).  Settlement then takes one bucket
at a time (``medclaim.settle.settle_claims`` accepts ``SpilledClaims``).

A bucket holds whole persons — every claim of a person lands in the same bucket — so each bucket is
an independent settlement.  The bucket is the top bits of the same 64-bit person hash the engine
sorts claims by (``medclaim.engine.order_claims``), so settling the buckets in order gives the
claims in exactly the order one settlement of all of them gives: a spilled run's ledger equals an
unspilled one entry for entry.

A batch's share of one bucket is small (100,000 claims over 64 buckets: about 1,600), and
writing each share as its own record batch made a 100M-claim run write and read back 64,000
tiny record batches.  So the shares are held per bucket and written together, as one record
batch, when the bucket has ``FLUSH_ROWS`` claims or when all held claims pass ``BUFFER_BYTES``
(the bucket holding most goes first), and at the end.  Measured on 10M claims in 64 buckets
(bench/README.md, "Issue 12, spill"): 1–3 % less CPU for the whole run (within the noise of a
shared machine), no more peak memory.  The budget is small because a held share keeps its
batch's text buffers: the memory held is 2–3× the estimate ``BUFFER_BYTES`` bounds (128 MiB
cost 320 MiB of peak).  lz4 stays: uncompressed buckets are 3.5× the disk (21 GB at 100M
claims) for 1–2 s less CPU per 10M claims, zstd-1 half the disk for more CPU.

Each bucket file is removed as soon as settlement has read it (``SpilledClaims.take``), and the
scratch directory when the run ends, whether it succeeded or failed (a refused write included).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from ..overlap import BackgroundSink, enabled as overlap_enabled
from ..person import person_hash

#: Claims held in memory at most; an input with more rows is spilled to buckets of about this size.
SPILL_ROWS = 2_000_000
SPILL_ROWS_ENV = "MEDCLAIM_SPILL_ROWS"
SPILL_DIR_ENV = "MEDCLAIM_SPILL_DIR"
_MAX_BUCKET_BITS = 12  # 4096 buckets: 8 billion claims at the default size
#: Scratch files are written once and read once: Arrow IPC (no encoding to do) with lz4 frames.
_COMPRESSION = "lz4"
#: The table index a bucket file holds instead of each row's source_file.
_FILE = "_file"
#: Claims held back from the bucket files at most, all buckets together, in bytes as estimated
#: from their batches' sizes (see the module docstring: a half to a third of what they hold).
BUFFER_BYTES = 32 << 20
#: A bucket's held claims are written once they reach this many (one record batch).
FLUSH_ROWS = 65_536


def bucket_of(psn_no: pl.Expr, bits: int) -> pl.Expr:
    """Bucket number of each person: the top ``bits`` bits of the person hash."""
    if bits == 0:
        return pl.lit(0, pl.UInt64)
    return person_hash(psn_no) // pl.lit(1 << (64 - bits), pl.UInt64)


def rows_from_env(variable: str, default: int, what: str) -> int:
    """``default``, or the positive whole number in the environment ``variable`` (``what``: the
    number's unit, for the error)."""
    raw = os.environ.get(variable)
    if raw is None or not raw.strip():
        return default
    if raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    raise ValueError(f"{variable}={raw[:20]!r}: give a positive whole number of {what}")


def default_spill_rows() -> int:
    """``SPILL_ROWS``, or the positive whole number in ``$MEDCLAIM_SPILL_ROWS``."""
    return rows_from_env(SPILL_ROWS_ENV, SPILL_ROWS, "claims")


@dataclass(frozen=True)
class SpillOptions:
    """When and where a run spills its claims (``--spill-dir``; ``$MEDCLAIM_SPILL_ROWS``)."""

    rows: int | None = None  # spill an input of more rows than this (None: default_spill_rows())
    directory: Path | str | None = None  # where the scratch directory is made (None: $MEDCLAIM_SPILL_DIR or temp)

    def bucket_bits(self, expected_rows: int) -> int:
        """0 when ``expected_rows`` fit in memory; else log2 of the number of buckets."""
        limit = self.rows or default_spill_rows()
        if expected_rows <= limit:
            return 0
        return min(_MAX_BUCKET_BITS, max(1, math.ceil(math.log2(expected_rows / limit))))

    def parent(self) -> Path:
        chosen = self.directory or os.environ.get(SPILL_DIR_ENV) or tempfile.gettempdir()
        return Path(chosen)


@dataclass
class SpilledClaims:
    """Claims in person-hash buckets on disk (read back one bucket at a time).

    What a bucket file holds is leaner than the claims it gives back (``stored``): a table's
    index instead of its name in every row (``_file``, ``sources``), and no column that is null
    in every row of the run (``absent``: the reported amounts or benefit start no file has).
    Every byte spilled is compressed, written, read back and decompressed once."""

    directory: Path
    bits: int
    schema: pl.Schema
    rows: int
    files: list[Path] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # source_file of each table index (``_file``)
    absent: frozenset[str] = frozenset()  # columns null in every row: not stored

    @property
    def stored(self) -> pl.Schema:
        """The columns of a bucket file."""
        indexed = "source_file" in self.schema and bool(self.sources)
        kept = {c: t for c, t in self.schema.items() if c not in self.absent and not (indexed and c == "source_file")}
        return pl.Schema({**kept, _FILE: pl.Int32()} if indexed else kept)

    @property
    def buckets(self) -> int:
        return 1 << self.bits

    @property
    def height(self) -> int:
        return self.rows

    def bucket_expr(self) -> pl.Expr:
        return bucket_of(pl.col("psn_no"), self.bits)

    def take(self, bucket: int) -> pl.DataFrame:
        """The claims of ``bucket``, read once: its file is removed as it is read, so the disk
        space and the page cache the spill took are given back bucket by bucket while the run
        writes its ledger (100M claims spill about 6 GB)."""
        path = self.files[bucket]
        if not path.exists():
            return pl.DataFrame(schema=self.schema)
        stored = pl.read_ipc(path, memory_map=False)
        path.unlink()
        names = pl.Series("source_file", self.sources, pl.String)

        def column(c: str, t: pl.DataType) -> pl.Expr | pl.Series:
            if c in stored.columns:
                return pl.col(c)
            if c == "source_file":
                return names.gather(stored.get_column(_FILE))
            return pl.lit(None, t)  # (absent: null in every row)

        return stored.select(column(c, t).cast(t).alias(c) for c, t in self.schema.items())

    def note(self) -> dict:
        """What the summary and the manifest say about it."""
        return {"claims": self.rows, "buckets": self.buckets, "directory": str(self.directory.parent)}

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class _Held:
    """A bucket's claims not written yet: shares of several batches."""

    parts: list[pl.DataFrame] = field(default_factory=list)
    rows: int = 0
    bytes: float = 0.0  # (estimated from the size of the batches they came from)

    def add(self, part: pl.DataFrame, row_bytes: float) -> None:
        self.parts.append(part)
        self.rows += part.height
        self.bytes += part.height * row_bytes


class SpillWriter:
    """Appends batches of claims to their buckets' files.

    A batch's share of one bucket is small (a 100,000-claim batch over 64 buckets: about 1,600
    claims), so the shares are held per bucket and a bucket is written when its share reaches
    ``FLUSH_ROWS`` or when all the held shares pass ``BUFFER_BYTES`` (then the bucket holding the
    most goes): each bucket file is a few large record batches instead of one per input batch."""

    def __init__(self, options: SpillOptions, bits: int, schema: pl.Schema, sources: list[str] | None = None,
                 absent: frozenset[str] = frozenset()):
        parent = options.parent()
        try:
            parent.mkdir(parents=True, exist_ok=True)
            directory = Path(tempfile.mkdtemp(prefix="medclaim-spill-", dir=parent))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot make a scratch directory for the claims in {parent} ({exc.strerror}); "
                          f"choose another with --spill-dir or ${SPILL_DIR_ENV}") from exc
        self.spilled = SpilledClaims(directory, bits, schema, 0, [directory / f"bucket-{b:04d}.arrow" for b in range(1 << bits)],
                                     list(sources or []), frozenset(absent))
        self._stored = self.spilled.stored
        self._arrow = pl.DataFrame(schema=self._stored).to_arrow().schema
        self._writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
        self._options = pa.ipc.IpcWriteOptions(compression=_COMPRESSION)
        self._held: dict[int, _Held] = {}  # each bucket's claims not written yet
        # a batch is cut into buckets and written in a second thread while the next is parsed
        self._background = BackgroundSink(self._write) if overlap_enabled() else None

    def add(self, claims: pl.DataFrame) -> None:
        if self._background is not None:
            self._background(claims)
        else:
            self._write(claims)

    def _write(self, claims: pl.DataFrame) -> None:
        """``claims``: the claims schema's columns (a missing one is null) and ``_file``."""
        s = self.spilled
        frame = claims.select([pl.col(c).cast(t) if c in claims.columns else pl.lit(None, t).alias(c) for c, t in self._stored.items()])
        row_bytes = frame.estimated_size() / max(frame.height, 1)
        keyed = frame.with_columns(bucket_of(pl.col("psn_no"), s.bits).alias("_bucket"))
        for (bucket,), part in keyed.partition_by("_bucket", as_dict=True, include_key=False).items():
            held = self._held.setdefault(int(bucket), _Held())
            held.add(part, row_bytes)
            if held.rows >= FLUSH_ROWS:
                self._flush(int(bucket))
        s.rows += frame.height
        while sum(h.bytes for h in self._held.values()) > BUFFER_BYTES:
            self._flush(max(self._held, key=lambda b: self._held[b].bytes))

    def _flush(self, bucket: int) -> None:
        """Write the claims held for ``bucket`` as one record batch."""
        held = self._held.pop(bucket)
        writer = self._writers.get(bucket)
        if writer is None:
            writer = self._writers[bucket] = pa.ipc.new_file(self.spilled.files[bucket], self._arrow, options=self._options)
        table = pl.concat(held.parts, rechunk=True).to_arrow()
        writer.write_table(table if table.schema == self._arrow else table.cast(self._arrow))

    def close(self) -> SpilledClaims:
        if self._background is not None:
            self._background.drain()  # raises what a write raised
            self._background.stop()
        for bucket in sorted(self._held):
            self._flush(bucket)
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        return self.spilled

    def abort(self) -> None:
        if self._background is not None:
            self._background.stop()  # no file is closed or removed while a write runs
        self._held.clear()
        for writer in self._writers.values():
            try:
                writer.close()
            except Exception:  # noqa: BLE001 — the files are removed anyway
                pass
        self._writers.clear()
        self.spilled.cleanup()
