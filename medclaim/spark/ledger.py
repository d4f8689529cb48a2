"""A run of a persistent ledger settled on Spark (``medclaim settle --engine spark --ledger DIR``).

The driver takes the ledger's lock first and holds it for the whole run, as a local run does: a
run that finds the ledger locked is refused before Spark starts or any extract is read.  Then:

1. claims already in the ledger are set aside (``already_settled``), as locally;
2. the new claims and the accumulator rows of their persons are repartitioned by person;
3. pass 1 — each task settles its partition (``partition.settle_partition``: the library's own
   engine) and reports how many entries it makes, its closing balances, its rejects and its
   summary figures (small files in a staging directory);
4. the driver numbers the entries: partition *p* starts after the entries of partitions < *p*;
5. pass 2 — each task settles its partition again (the engine is deterministic; the count is
   checked) and writes its entries, numbered and lean, as the part file ``parts/run-NNNNNN-PPPPP.parquet`` (under a temporary name until the commit);
6. the driver merges the accumulator, writes rejects, summary and manifest, and commits by
   replacing ``HEAD.json`` — the store's commit protocol: until then no reader sees the run, and
   a run that dies leaves files the next run removes.

Settling twice costs less than writing the entries twice would (a ledger's write dominates), and
keeps every part file exactly as a local run writes it.  The ledger directory must be one shared
POSIX file system path for the driver and every executor (see docs/spark.md).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import polars as pl

from ..audit.compare import Comparison
from ..io import ReadOptions, read_claims
from ..output import DEFAULT as DEFAULT_PEOPLE
from ..output import TMP_MARK, PeopleFiles
from ..manifest import inputs_manifest
from ..pipeline import RunResult, finish_settle_run
from ..progress import NONE as NO_PROGRESS
from ..progress import Progress
from ..roster import Roster
from ..rules import RuleBook, load_rulebook
from ..schema import empty_rejects
from ..settle import InvariantError, Settlement, empty_ledger, lean, ledger_schema
from ..store import (
    Ledger,
    PartWriter,
    PreparedPart,
    RunPlan,
    late_flag,
    next_accumulator,
    split_already_settled,
    stamp,
    utc_now,
    write_new,
)
from ..summary import SummaryAccumulator
from .dataframe import by_person, canonical_claims, with_openings_and_roster
from .partition import Layout, read_partition, settle_partition
from .session import memory_not_applied, session

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

#: Claims per partition when the caller does not say (a partition is settled in one Python worker).
ROWS_PER_PARTITION = 500_000
PLAN_SCHEMA = "pid int, entries bigint, info string"
PART_SCHEMA = "pid int, file string, tmp string, rows bigint"  # a PreparedPart, for the driver's commit
LATE_EXAMPLES = 5
#: Who holds the lock, as a run refused meanwhile names it.
LOCK_COMMAND = "medclaim settle --engine spark"


def staging_dir(root: Path, run: int) -> Path:
    # the temporary mark makes the store's clean-up remove it should the run die
    return root / f".spark-run-{run:06d}{TMP_MARK}{os.getpid()}"


def _plan_task(book: RuleBook, layout: Layout, staging: str):
    """Pass 1 for one partition: settle, keep the small results in ``staging``, report counts (and
    how the hospitals' reported amounts compare, as a local run's summary says)."""

    def plan(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        pid = TaskContext.get().partitionId()
        part = read_partition(batches, layout)
        settlement = settle_partition(part, book)
        ledger = late_flag(settlement.ledger, part.accumulator)
        info: dict[str, Any] = {"late": 0, "late_examples": []}
        out = Path(staging)
        if settlement.rejects.height:
            write_new(out / f"rejects-{pid:05d}.parquet", settlement.rejects.write_parquet)
        if ledger.height:
            closing = settlement.changed  # (with each person-year's last settled claim)
            write_new(out / f"closing-{pid:05d}.parquet", closing.write_parquet)
            totals = SummaryAccumulator()
            totals.add(ledger)
            groups, info["people"] = totals.partial()
            write_new(out / f"summary-{pid:05d}.parquet", groups.write_parquet)
            late = ledger.filter(pl.col("late"))
            info["late"] = late.height
            info["late_examples"] = late["setl_id"].head(LATE_EXAMPLES).to_list()
            reported = Comparison()
            reported.add(ledger)
            info["reported"] = {"claims": reported.claims, "differing": reported.differing, "by_field": reported.by_field}
        yield pa.RecordBatch.from_pydict(
            {"pid": [pid], "entries": [ledger.height], "info": [json.dumps(info)]},
            schema=pa.schema([("pid", pa.int32()), ("entries", pa.int64()), ("info", pa.string())]),
        )

    return plan


def _write_task(book: RuleBook, layout: Layout, root: str, run: int, first_entry: dict[int, int], expected: dict[int, int]):
    """Pass 2 for one partition: settle again, number the entries, write the part file under a
    temporary name (lean, as a local run writes it) and hand it back as a ``PreparedPart``; the
    driver's ``Ledger.commit`` renames it and records its totals."""

    def write(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        pid = TaskContext.get().partitionId()
        part = read_partition(batches, layout)
        settlement = settle_partition(part, book)
        if settlement.ledger.height != expected.get(pid, 0):
            raise InvariantError([f"partition {pid} settled {settlement.ledger.height} claims in pass 2 but "
                                  f"{expected.get(pid, 0)} in pass 1 — the partition's input changed during the run"])
        rows: dict[str, list] = {"pid": [], "file": [], "tmp": [], "rows": []}
        if settlement.ledger.height:
            entries = stamp(late_flag(settlement.ledger, part.accumulator), run, first_entry[pid])
            writer = PartWriter(Path(root), run, ledger_schema(book), partition=pid)
            try:
                writer.write(lean(entries))  # the engine's working figures are recomputed, not stored
                prepared = writer.close()
            except BaseException:
                writer.abort()
                raise
            rows["pid"].append(pid)
            rows["file"].append(prepared.file)
            rows["tmp"].append(str(prepared.tmp))
            rows["rows"].append(prepared.rows)
        schema = pa.schema([("pid", pa.int32()), ("file", pa.string()), ("tmp", pa.string()), ("rows", pa.int64())])
        yield pa.RecordBatch.from_pydict(rows, schema=schema)

    return write


def _spark_failure(e: Exception) -> Exception:
    """A task's InvariantError arrives wrapped in Spark's exception: give it back its type."""
    text = str(e)
    if "InvariantError" in text:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        tail = [ln for ln in lines if "InvariantError" in ln][-1:]
        return InvariantError([f"in a Spark task: {tail[0] if tail else lines[-1]}"])
    return e


def add_compared(total: Comparison, part: dict[str, Any]) -> None:
    """Add one partition's comparison (its ``claims``, ``differing`` and ``by_field`` counts) to the run's."""
    total.claims += part["claims"]
    total.differing += part["differing"]
    for f, counts in part["by_field"].items():
        acc = total.by_field.setdefault(f, dict.fromkeys(counts, 0))
        for k, v in counts.items():
            acc[k] += v


def _read_staged(staging: Path, prefix: str) -> pl.DataFrame | None:
    files = sorted(staging.glob(f"{prefix}-*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed") if files else None


def plan_settle_spark(lg: Ledger, claims: pl.DataFrame, book: RuleBook, spark: "SparkSession",
                      partitions: int | None = None, roster: Roster | None = None, progress: Progress = NO_PROGRESS,
                      ) -> tuple[RunPlan, SummaryAccumulator, Comparison]:
    """Settle new claims into the next run of the ledger ``lg`` (locked by the caller) on Spark,
    with the enrollment ``roster`` applied as a local run applies it; ``progress`` is told of the
    two passes (settling: the claims of pass 1; writing: the claims of pass 2, which writes the parts).

    Returns the run's plan (its entries written as prepared parts, not yet committed), the
    summary figures and the comparison with the hospitals' reported amounts."""
    from pyspark import StorageLevel

    acc = lg.accumulator()  # (waits for the ledger's check, which ran while the extracts were read)
    root, head = lg.root, lg.head
    run = head.run + 1
    fresh, already, counts = split_already_settled(root, head, claims)
    staging = staging_dir(root, run)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    totals = SummaryAccumulator()
    reported = Comparison()  # the hospitals' own figures, when the extracts carry them
    try:
        parts: list[PreparedPart] = []
        closing = rejects = None
        late = 0
        examples: list[str] = []
        if fresh.height:
            fresh.write_parquet(staging / "claims.parquet")
            claims_df = canonical_claims(spark.read.parquet(str(staging / "claims.parquet")), "ledger run")
            openings = None
            if head.accumulator is not None:
                openings = spark.read.parquet(str(root / head.accumulator.file)).join(
                    claims_df.select("psn_no").distinct(), on="psn_no", how="left_semi")
            prepared, layout = with_openings_and_roster(claims_df, openings, roster)
            n = partitions or max(1, math.ceil(fresh.height / ROWS_PER_PARTITION))
            # kept for pass 2 on the executors' disks, not in their heaps: a JVM heap filled with
            # cached claims ran out of memory building the next partition's cache (10M claims,
            # local mode, 1 GiB heap); reading the cache back from local disk costs little
            prepared = by_person(prepared, n).persist(StorageLevel.DISK_ONLY)
            try:
                progress.stage("settling", fresh.height)
                planned = prepared.mapInArrow(_plan_task(book, layout, str(staging)), PLAN_SCHEMA).collect()
                progress.advance(fresh.height)
                expected = {r.pid: r.entries for r in planned}
                first_entry, next_entry = {}, head.entries
                for pid in sorted(expected):
                    first_entry[pid] = next_entry
                    next_entry += expected[pid]
                progress.stage("writing", fresh.height)
                written = prepared.mapInArrow(
                    _write_task(book, layout, str(root), run, first_entry, expected), PART_SCHEMA
                ).collect()
                progress.advance(fresh.height)
            except Exception as e:
                raise _spark_failure(e) from e
            finally:
                prepared.unpersist()
            parts = [PreparedPart(r.file, Path(r.tmp), r.rows) for r in sorted(written, key=lambda r: r.pid)]
            if sum(p.rows for p in parts) != sum(expected.values()):
                raise InvariantError([f"the run's part files hold {sum(p.rows for p in parts)} entries, pass 1 settled {sum(expected.values())}"])
            for r in sorted(planned, key=lambda r: r.pid):
                info = json.loads(r.info)
                late += info["late"]
                examples += info["late_examples"]
                if "people" in info:
                    totals.merge_partial(None, info["people"])
                if "reported" in info:
                    add_compared(reported, info["reported"])
            summary_groups = _read_staged(staging, "summary")
            if summary_groups is not None:
                totals.merge_partial(summary_groups, {})
            closing = _read_staged(staging, "closing")
            rejects = _read_staged(staging, "rejects")
        new_acc = None
        run_closing = closing if closing is not None else pl.DataFrame(schema={"psn_no": pl.String, "year": pl.Int32})
        if parts:
            new_acc = next_accumulator(acc, run_closing)
        run_rejects = pl.concat([already, rejects.cast(empty_rejects().schema)]) if rejects is not None else already
        settlement = Settlement(ledger=empty_ledger(), rejects=run_rejects, changed=run_closing)
        plan = RunPlan(run=run, kind="settle", parts=parts, rejects=run_rejects, accumulator=new_acc, settlement=settlement,
                       counts=counts | {"late_claims": late}, late_examples=examples[:LATE_EXAMPLES])
        return plan, totals, reported
    except BaseException:
        for p in parts:  # written but never to be committed
            p.tmp.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def append_claims_spark(
    ledger_dir: Path | str,
    claims: pl.DataFrame,
    book: RuleBook,
    *,
    spark: "SparkSession | None" = None,
    partitions: int | None = None,
    rules: str | Path | None = None,
    read_rejects: pl.DataFrame | None = None,
    rows_read: int | None = None,
    inputs: list[dict[str, Any]] | None = None,
    wait: float = 0.0,
    started: str | None = None,
    people: PeopleFiles = DEFAULT_PEOPLE,
    read_info: dict[str, Any] | None = None,
    roster: Roster | None = None,
) -> RunResult:
    """``pipeline.append_claims`` on Spark: settle canonical ``claims`` into the ledger as one run
    (with the enrollment ``roster`` applied as ``settle --roster`` applies it)."""
    started = started or utc_now()
    with Ledger.open(ledger_dir, wait, LOCK_COMMAND) as lg:
        return _append_locked(lg, claims, book, spark or session(), partitions, rules, read_rejects, rows_read, inputs,
                              started, people, read_info, roster, NO_PROGRESS)


def _append_locked(lg: Ledger, claims: pl.DataFrame, book: RuleBook, spark: "SparkSession", partitions: int | None,
                   rules: str | Path | None, read_rejects: pl.DataFrame | None, rows_read: int | None,
                   inputs: list[dict[str, Any]] | None, started: str, people: PeopleFiles, read_info: dict[str, Any] | None,
                   roster: Roster | None, progress: Progress) -> RunResult:
    """One run of the ledger ``lg``, whose lock the caller holds."""
    read_rejects = read_rejects if read_rejects is not None else empty_rejects()
    rows_read = rows_read if rows_read is not None else claims.height + read_rejects.height
    head_before = {"run": lg.head.run, "entries": lg.head.entries}
    plan, totals, reported = plan_settle_spark(lg, claims, book, spark, partitions, roster, progress)
    import pyspark

    engine = {"engine": {"name": "spark", "pyspark": pyspark.__version__, "master": spark.sparkContext.master,
                         "driver_memory": spark.sparkContext.getConf().get("spark.driver.memory", None),
                         "part_files": len(plan.parts)}}
    try:
        return finish_settle_run(lg, plan, totals, reported, book, rules, read_rejects, rows_read, inputs, [], started,
                                 head_before, engine, people, read_info)
    except BaseException:
        if lg.head.run < plan.run:  # not committed: its prepared parts go
            plan.discard()
        raise


def settle_into_ledger_spark(
    inputs: list[Path],
    rules: str,
    ledger_dir: Path,
    encoding: str | None = None,
    wait: float = 0.0,
    partitions: int | None = None,
    spark: "SparkSession | None" = None,
    people: PeopleFiles = DEFAULT_PEOPLE,
    read_options: ReadOptions | None = None,
    roster: Roster | Callable[[], Roster | None] | None = None,
    driver_memory: str | None = None,
    warn: Callable[[str], None] | None = None,
    progress: Progress = NO_PROGRESS,
) -> RunResult:
    """``pipeline.settle_into_ledger`` on Spark: the extracts are read (and rows rejected) on the
    driver exactly as locally (``read_options`` as ``--header-row``, ``--columns`` … give them),
    then settled on Spark, with the enrollment ``roster`` (read on the driver) applied.

    As a local run, it takes the ledger's lock first: a run that finds the ledger locked is refused
    (``LedgerLocked``, exit 6, or waits ``wait`` seconds) before Spark starts or the extracts are read.

    ``driver_memory`` (``4g``, checked by ``session.driver_memory``) is the heap of a local-mode
    driver medclaim starts; a session already running keeps its own, which is said at once to ``warn``
    (else in the result's warnings: a run that then fails for want of heap would not say it).

    ``progress`` is told the stages once Spark has started (reading, settling, writing), as a local
    run tells them."""
    if read_options is not None and read_options.spill is not None:
        # a spilled read hands its claims over in person buckets, which this run does not take
        raise ValueError("spilling the input to disk (ReadOptions.spill, --spill-dir) is for the local engine: "
                         "a Spark run stages the claims for Spark itself")
    started = utc_now()
    book = load_rulebook(rules)  # bad rules fail before the lock is taken
    # the ledger's check runs while Spark starts and the extracts are read, under the lock
    with Ledger.open(ledger_dir, wait, LOCK_COMMAND, check_meanwhile=True) as lg:
        roster = roster() if callable(roster) else roster  # (read under the lock, as a local run reads it)
        spark = spark or session(driver_memory=driver_memory)
        unapplied = memory_not_applied(spark, driver_memory)
        for w in unapplied if warn else []:
            warn(w)
        progress.stage("reading")
        read = read_claims(inputs, encoding=encoding, options=read_options)
        meta = inputs_manifest(inputs, read.files)
        result = _append_locked(lg, read.claims, book, spark, partitions, rules, read.rejects, read.rows_read, meta, started,
                                people, read.summary_fields(), roster, progress)
    if not warn:
        result.warnings[:0] = unapplied
    return result
