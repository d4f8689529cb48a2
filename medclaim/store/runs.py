"""What a run produces before it is committed: settled (or reversed) entries written as prepared parts,
the accumulator after the run."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, wait as wait_for
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..engine import KEYS
from ..output import atomic_path
from ..overlap import soon
from ..parquet import ParquetStream, write_frame
from ..recompute import reversal_fixed
from ..rules import RuleBook
from ..schema import CLAIM_COLUMNS, RejectReason, empty_rejects
from ..io.spill import SpilledClaims
from ..settle import Handover, Settlement, lean, ledger_schema, settle_buckets, settle_claims, take
from ..status import Exit

from .acc_stream import AccumulatorStream
from .accumulator import late_flag, next_accumulator, openings_from, ytd_columns
from .layout import ENTRY_COLUMNS, FileRef, Head, PARTS, REVERSED_AMOUNTS, ReversalError, accumulator_name, part_name, sha256_file
from .read import part_paths, parts_holding, read_accumulator


# ------------------------------------------------------------------ what a run produces


@dataclass
class PreparedPart:
    """A run's entries, written but not committed: a file under a temporary name that the commit
    renames to ``file``.  Whatever engine wrote it (the local one chunk by chunk, or executors of a
    cluster), ``Ledger.commit`` takes it the same way."""

    file: str  # final name, relative to the ledger directory (parts/run-NNNNNN.parquet)
    tmp: Path  # where it is now
    rows: int
    _sealing: Future | None = None

    def seal(self) -> "PreparedPart":
        """Start syncing and hashing the file and summing its totals in a second thread (while the
        run's accumulator is merged and its summary made); ``sealed`` takes the result."""
        self._sealing = soon(self._seal, name="medclaim-part")
        return self

    def _seal(self) -> FileRef:
        from ..ledger_check import entry_totals

        return synced_ref(self.file, self.tmp, self.rows, totals=entry_totals(pl.scan_parquet(self.tmp)))  # one streaming pass

    def sealed(self) -> FileRef:
        """The file synced, its reference (hash, size, row count, totals) for HEAD — the same
        once the commit renames it to ``file``; raises what went wrong in the second thread."""
        if self._sealing is None:
            self.seal()
        return self._sealing.result()

    def place(self, root: Path) -> FileRef:
        """Rename the sealed file to ``file`` in the ledger ``root``."""
        ref = self.sealed()
        os.replace(self.tmp, root / self.file)
        return ref

    def discard(self) -> None:
        """Remove the uncommitted file (nothing once the commit has renamed it)."""
        if self._sealing is not None:
            wait_for([self._sealing])
        self.tmp.unlink(missing_ok=True)


class PreparedAccumulator(PreparedPart):
    """A run's new accumulator (``acc``: the frame, or a function that returns it), worked out,
    written and sealed under a temporary name in a second thread while the run is summarised and
    its part sealed; ``Ledger.commit`` renames it into place.  (Merging and writing it was a sixth
    of a month's run against a large ledger.)  With ``stream`` (``AccumulatorStream``, writing to
    the same temporary file while the run settled), only its rest is written, unless it gave up."""

    def __init__(self, root: Path, generation: int, acc: pl.DataFrame | Callable[[], pl.DataFrame],
                 stream: AccumulatorStream | None = None):
        file = accumulator_name(generation)
        super().__init__(file, atomic_path(root / file), rows=0)
        self._sealing = soon(self._write, acc, stream, name="medclaim-accumulator")

    def _write(self, acc: pl.DataFrame | Callable[[], pl.DataFrame], stream: AccumulatorStream | None) -> FileRef:
        rows = stream.finish() if stream is not None else None
        if rows is None:
            acc = acc() if callable(acc) else acc
            write_frame(acc, self.tmp)
            rows = acc.height
        return synced_ref(self.file, self.tmp, rows)


def synced_ref(file: str, tmp: Path, rows: int, totals: dict[str, int] | None = None) -> FileRef:
    """``tmp`` synced to disk, and its reference for HEAD under its final name ``file``."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    return FileRef(file=file, rows=rows, sha256=sha256_file(tmp), bytes=tmp.stat().st_size, totals=totals)


class PartWriter:
    """Writes a run's entries chunk by chunk to a temporary part file in ``parts/`` (``partition``:
    one of the run's several part files, written by one executor of a cluster)."""

    def __init__(self, root: Path, run: int, schema: pl.Schema | Callable[[], pl.Schema], partition: int | None = None):
        """``schema``: the ledger's columns, or how to work them out (``settle.ledger_schema`` runs
        the engine on no claims: done at the first write, in the writing thread, while the engine
        settles the first chunks)."""
        (root / PARTS).mkdir(parents=True, exist_ok=True)
        self.file = part_name(run, partition)
        self._schema = schema
        self.stream: ParquetStream | None = None
        self.tmp = atomic_path(root / self.file)

    def write(self, chunk: pl.DataFrame) -> None:
        if self.stream is None:  # descriptive columns the rule book's schema cannot know come last
            schema = self._schema() if callable(self._schema) else self._schema
            schema = {**schema, **ENTRY_COLUMNS}
            extra = {c: t for c, t in chunk.schema.items() if c not in schema}
            self.stream = ParquetStream(self.tmp, pl.Schema({**schema, **extra}))
        self.stream.write(chunk)

    def close(self) -> PreparedPart | None:
        if self.stream is None:
            return None
        if self.stream.rows == 0:  # nothing settled: no part
            self.stream.abort()
            return None
        self.stream.close()
        return PreparedPart(self.file, self.tmp, self.stream.rows)

    @property
    def rows(self) -> int:
        """Entries written so far."""
        return self.stream.rows if self.stream is not None else 0

    def abort(self) -> None:
        if self.stream is not None:
            self.stream.abort()


class EntryCounter:
    """Stands in for a ``PartWriter`` in a run planned only to be looked at (``medclaim audit``):
    the entries are counted (so they are numbered as the run would number them), never written —
    nothing is written into the ledger directory, which the reviewer may not be allowed to write."""

    rows = 0

    def write(self, chunk: pl.DataFrame) -> None:
        self.rows += chunk.height

    def close(self) -> None:
        return None

    def abort(self) -> None:
        pass


def prepared_part(root: Path, run: int, entries: pl.DataFrame) -> PreparedPart | None:
    """A run's entries held in memory (reversals: a handful) as a prepared part."""
    if entries.height == 0:
        return None
    writer = PartWriter(root, run, entries.schema)
    writer.write(entries)
    return writer.close()


@dataclass
class RunPlan:
    """One run's outcome before it is committed: its entries are written to prepared parts
    (never all held in memory), the accumulator after the run is computed."""

    run: int
    kind: str  # settle | reverse
    parts: list[PreparedPart]  # the run's entries, settlement order, store columns stamped
    rejects: pl.DataFrame  # rows not settled (incl. already_settled / already_reversed)
    accumulator: pl.DataFrame | Callable[[], pl.DataFrame] | None  # the accumulator after the run, or how to work it out (None: unchanged)
    settlement: Settlement  # rejects and closing balances (its ledger is empty for a streamed run)
    counts: dict[str, int] = field(default_factory=dict)
    late_examples: list[str] = field(default_factory=list)  # a few setl_ids of late claims
    prepared_accumulator: PreparedAccumulator | None = None  # the accumulator being written ahead of the commit

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts)

    def read_entries(self) -> pl.DataFrame:
        """The run's entries (reads the prepared parts: for small runs and tests)."""
        if not self.parts:
            return pl.DataFrame()
        return pl.concat([pl.read_parquet(p.tmp) for p in self.parts], how="diagonal_relaxed")

    def discard(self) -> None:
        """Remove what the run wrote and will not commit (nothing once committed)."""
        for p in self.parts:
            p.discard()
        if self.prepared_accumulator is not None:
            self.prepared_accumulator.discard()


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

    Reads only the parts' row groups whose id range could hold one of the ids (``parts_holding``).
    """
    schema = {"setl_id": pl.String, "net": pl.Int64, "claim_entry": pl.Int64, "claim_run": pl.Int32, "reversal_run": pl.Int32}
    if not head.parts or ids.height == 0:
        return pl.DataFrame(schema=schema)
    hits = parts_holding(root, head, "setl_id", ids.get_column("setl_id"), ["setl_id", "is_reversal", "entry_no", "run"])
    if hits.height == 0:
        return pl.DataFrame(schema=schema)
    rev = pl.col("is_reversal")
    return (
        hits.lazy().group_by("setl_id")
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
    the counts ``already_settled``, ``resettled`` (settled before, reversed, now settled anew) —
    for every engine that plans a settle run."""
    state = settled_state(root, head, claims.select("setl_id"))
    active = state.filter(pl.col("net") > 0)
    if active.height:
        repeated = claims.join(active, on="setl_id", how="inner")
        fresh = claims.join(active, on="setl_id", how="anti")
    else:  # the usual monthly run: nothing repeated, no copy of the claims
        repeated, fresh = claims.clear().join(active, on="setl_id", how="inner"), claims
    resettled = fresh.join(state.filter(pl.col("net") <= 0), on="setl_id", how="semi").height
    rejects = _reject(
        repeated,
        RejectReason.ALREADY_SETTLED,
        pl.format("settlement id already settled in run {} (entry {}); not paid again", pl.col("claim_run"), pl.col("claim_entry")),
    )
    return fresh, rejects, {"already_settled": repeated.height, "resettled": resettled, "reversals": 0}


def plan_settle(root: Path, head: Head, claims: pl.DataFrame | Handover, book: RuleBook,
                on_chunk: Callable[[pl.DataFrame], None] | None = None, roster=None, acc: pl.DataFrame | None = None,
                write_part: bool = True) -> RunPlan:
    """Settle new claims after everything the ledger holds, writing the run's part chunk by chunk.

    Claims whose setl_id is already settled (and not reversed) are rejected as ``already_settled``;
    each person-year opens with the accumulator's running totals; a claim that sorts before the
    person-year's last settled claim is flagged ``late`` (it is still settled after it).  Each
    settled chunk (whole person-years) is flagged, numbered, written and handed to ``on_chunk``
    (e.g. the run summary; with the engine's working figures, which the part does not keep), then dropped: memory holds the claims, the accumulator and one chunk.

    ``write_part=False``: the run is only looked at (``medclaim audit``): every chunk is settled,
    flagged, numbered and handed to ``on_chunk`` exactly as above, but nothing is written into the
    ledger directory; the plan has no part and no accumulator, and cannot be committed.
    """
    run = head.run + 1
    claims = take(claims)
    acc = acc if acc is not None else read_accumulator(root, head)  # (the pre-append check has read it)
    openings = openings_from(acc)  # (with the last claims: the engine flags late claims)
    writer = PartWriter(root, run, lambda: ledger_schema(book)) if write_part else EntryCounter()
    late = {"n": 0, "examples": []}

    def sink(chunk: pl.DataFrame) -> None:
        chunk = stamp(late_flag(chunk, acc), run, head.entries + writer_rows())
        writer.write(lean(chunk))  # the engine's working figures go to on_chunk (audit), not to the ledger
        flagged = chunk.filter(pl.col("late"))
        late["n"] += flagged.height
        late["examples"] += flagged["setl_id"].head(5 - len(late["examples"])).to_list()
        if on_chunk is not None:
            on_chunk(chunk)

    def writer_rows() -> int:
        return writer.rows

    ahead: list[PreparedAccumulator] = []
    # the next accumulator, written chunk by chunk as the run settles (``store.acc_stream``)
    stream = AccumulatorStream(atomic_path(root / accumulator_name(head.generation + 1)), acc) \
        if write_part and not isinstance(claims, SpilledClaims) else None

    def start_accumulator(settlement: Settlement) -> None:
        # the rest merged and written while the sink still writes the last chunks (``Ledger.prepare``
        # would start it once the part is closed)
        if write_part and settlement.changed.height:
            ahead.append(PreparedAccumulator(root, head.generation + 1, lambda: next_accumulator(acc, settlement.changed), stream))

    try:
        if isinstance(claims, SpilledClaims):  # bucket by bucket, each set aside against the ledger on its own
            counts = dict.fromkeys(("already_settled", "resettled", "reversals"), 0)

            def screen(bucket: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
                fresh, screened, bucket_counts = split_already_settled(root, head, bucket)
                for k, v in bucket_counts.items():
                    counts[k] += v
                return fresh, screened

            rejects = empty_rejects()
            settlement = settle_buckets(claims, book, openings, sink=sink, roster=roster, screen=screen)
        else:
            fresh, rejects, counts = split_already_settled(root, head, claims)
            del claims
            settlement = settle_claims(Handover(fresh), book, openings, sink=sink, roster=roster, settled=start_accumulator,
                                       closed=stream.add if stream is not None else None)
        part = writer.close()
    except BaseException:
        writer.abort()
        _drop(ahead, stream)
        raise
    if part is None:  # nothing written: the ledger keeps its accumulator
        _drop(ahead, stream)
        ahead.clear()
    # worked out, written and hashed in a second thread while the part is hashed (``Ledger.prepare``)
    new_acc = (lambda: next_accumulator(acc, settlement.changed)) if part is not None else None
    return RunPlan(
        run=run,
        kind="settle",
        parts=[part.seal()] if part is not None else [],
        rejects=pl.concat([rejects, settlement.rejects]),
        accumulator=new_acc,
        settlement=settlement,
        counts=counts | {"late_claims": late["n"]},
        late_examples=late["examples"],
        prepared_accumulator=ahead[0] if ahead else None,
    )


def _drop(ahead: list[PreparedAccumulator], stream: AccumulatorStream | None) -> None:
    """Remove the accumulator a failed (or empty) run started writing."""
    for prepared in ahead:
        prepared.discard()  # (it owns the stream once started)
    if not ahead and stream is not None:
        stream.abort()


def reversal_claims(originals: pl.DataFrame, reason: str | None) -> pl.DataFrame:
    """Reversal records built from the original ledger rows: same person, dates, codes and class;
    amounts negated; the original's figures taken back as they were (which of them the engine
    uses depends on the rule set's rounding: ``medclaim.engine.reversal_fixed_amounts``)."""
    amounts = [c for c in REVERSED_AMOUNTS if c in originals.columns]
    keep = [c for c in CLAIM_COLUMNS if c not in amounts]
    # a roster's coverage end and identity flag stay with the claim (the reversal is settled as it was)
    roster = [c for c in ("coverage_end", "identity_mismatch") if c in originals.columns]
    return originals.select(
        *[pl.col(c) for c in keep + roster if c not in ("source_file", "source_row")],
        *[(-pl.col(c)).alias(c) for c in amounts],
        source_file=pl.lit("reversal"),
        source_row=pl.col("entry_no"),
        is_reversal=pl.lit(True),
        **reversal_fixed(originals, negate=True),
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
            [pl.scan_parquet(p).filter(pl.col("entry_no").is_in(entries)) for r in runs for p in part_paths(root, head, r)],
            how="diagonal_relaxed",
        ).collect()
        if runs
        else None
    )
    acc = read_accumulator(root, head)
    counts = {"reversals": 0, "already_reversed": refused.height, "already_settled": 0, "late_claims": 0, "resettled": 0}
    if originals is None or originals.height == 0:
        nothing = Settlement(ledger=pl.DataFrame(), rejects=refused, changed=pl.DataFrame(), openings=None)
        return RunPlan(run, "reverse", [], refused, None, nothing, counts)
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
    ledger = stamp(lean(settlement.ledger).with_columns(late=pl.lit(False)), run, head.entries)
    new_acc = next_accumulator(acc, settlement.changed)
    return RunPlan(
        run=run,
        kind="reverse",
        parts=[prepared_part(root, run, ledger)],
        rejects=refused,
        accumulator=new_acc,
        settlement=settlement,
        counts=counts | {"reversals": ledger.height},
    )


