"""Reading a ledger: only what HEAD names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import polars as pl

from .layout import HEAD_FILE, Head, LedgerCorrupt, NotALedger, part_run, read_head, run_dir_name


# ------------------------------------------------------------------ reading


#: The ledger of a one-off run, in its ``--out`` directory.
ONE_OFF_LEDGER = "ledger.parquet"
_LEDGER_NAMES = re.compile(r"^(HEAD\.json|\.lock|parts|runs|accumulator-\d+\.parquet|\..*\.tmp-\d+)$")


def check_ledger_dir(root: Path) -> None:
    """Refuse a directory that is neither empty nor a ledger (e.g. an ``--out`` directory)."""
    if not root.exists():
        return
    if not root.is_dir():
        raise NotALedger(f"{root} is not a directory")
    if (root / HEAD_FILE).exists():
        return
    if (root / ONE_OFF_LEDGER).exists():
        raise NotALedger(
            f"{root} holds a one-off ledger.parquet written with --out; give --ledger a new (or empty) directory"
        )
    foreign = sorted(p.name for p in root.iterdir() if not _LEDGER_NAMES.match(p.name))
    if foreign:
        raise NotALedger(
            f"{root} is not a medclaim ledger (it holds {', '.join(foreign[:5])}); give --ledger a new or empty directory"
        )


def _empty_ledger_frame() -> pl.LazyFrame:
    from ..settle import empty_ledger

    return empty_ledger().lazy()


def part_paths(root: Path, head: Head, run: int | None = None) -> list[Path]:
    """The committed part files, in HEAD order; ``run``: only those holding that run's entries
    (one, or one per partition for a run written in parallel)."""
    return [Path(root) / p.file for p in head.parts if run is None or part_run(p.file) == run]


def scan_parts(root: Path, head: Head, columns: list[str] | None = None) -> pl.LazyFrame:
    paths = part_paths(root, head)
    if not paths:
        return _empty_ledger_frame()
    frames = [pl.scan_parquet(p) for p in paths]
    if columns is not None:
        frames = [f.select([c for c in columns if c in f.collect_schema().names()]) for f in frames]
    return pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]


def _row_groups_that_may_hold(meta, column: str, values: pl.Series, spans: bool = False) -> list[int]:
    """Row groups of a Parquet file whose ``column`` statistics (min, max) leave room for one of
    the sorted ``values`` (``spans``: for a value between the two ``values``, the smallest and
    the largest); a group without statistics may hold anything."""
    pos = meta.schema.names.index(column)
    keep = []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(pos).statistics
        if stats is None or not stats.has_min_max or not isinstance(stats.min, str) or not isinstance(stats.max, str):
            keep.append(g)  # no usable statistics: the group may hold anything
        elif spans:
            if stats.min <= values[1] and values[0] <= stats.max:
                keep.append(g)
        elif values.search_sorted(stats.min, side="left") < values.search_sorted(stats.max, side="right"):
            keep.append(g)
    return keep


def parts_holding(root: Path, head: Head, column: str, values: pl.Series, columns: list[str]) -> pl.DataFrame:
    """The rows of the ledger's parts whose ``column`` is one of ``values`` (``columns`` of them).

    Reads only the row groups whose min/max statistics of ``column`` could hold one of the values:
    a month's new settlement ids usually lie beyond every id the ledger holds (ids grow with
    time), so a large ledger is not read at all; where the ranges overlap it reads what it must.
    Exact either way: a row group is skipped only when no value can be in it.  A part whose rows
    are read is checked against its sha256 first (``LedgerCorrupt`` if it differs).  No row
    found: an empty frame without columns.
    """
    import pyarrow.parquet as pq

    from .. import ledger_check

    present = values.drop_nulls()
    # first against the values' own range (no sort: a month of new ids usually ends here), then,
    # for the row groups that overlap it, value by value (the values sorted once)
    if not present.len():
        return pl.DataFrame()
    span = pl.Series([present.min(), present.max()], dtype=present.dtype)
    wanted: pl.Series | None = None
    frames = []
    for ref in head.parts:
        path = Path(root) / ref.file
        with pq.ParquetFile(path) as f:
            if not _row_groups_that_may_hold(f.metadata, column, span, spans=True):
                continue
            if wanted is None:
                wanted = present.unique().sort()
            groups = _row_groups_that_may_hold(f.metadata, column, wanted)
            if not groups:
                continue
            # rows this run reads must be the rows committed: the part's sha256 first
            _raise_if_problems(root, ledger_check.check_file(Path(root), ref, "part"), "the ledger was not changed")
            have = [c for c in columns if c in f.schema_arrow.names]
            frame = pl.from_arrow(f.read_row_groups(groups, columns=have))
        frames.append(frame.join(wanted.to_frame(column), on=column, how="semi"))
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()  # (no row: no column either)


def check_parts(root: Path, head: Head, thorough: bool = False) -> None:
    """Raise ``LedgerCorrupt`` (exit 9) naming each part HEAD names that is missing or truncated
    (``thorough``: or changed — sha256 and rows), with its recovery, before a Parquet reader fails
    on it without saying which file it was."""
    from .. import ledger_check

    check = ledger_check.check_file if thorough else ledger_check.check_present
    _raise_if_problems(root, [p for ref in head.parts for p in check(root, ref, "part")])


def _raise_if_problems(root: Path, problems: list[str], *after: str) -> None:
    """``LedgerCorrupt`` (exit 9) naming the ledger and every problem found, if any."""
    if problems:
        raise LedgerCorrupt([f"{root}: a damaged ledger — {problems[0]}", *problems[1:], *after])


def raise_if_damaged(path: str | Path) -> None:
    """After reading a ledger failed: raise ``LedgerCorrupt`` naming the damaged file if the ledger
    holds one — a part of a ledger directory (the full check), or the ledger.parquet of an ``--out``
    directory that is not readable Parquet; return if not, so the caller reports the failure."""
    path = Path(path)
    if path.is_dir() and (head := read_head(path)) is not None:
        check_parts(path, head, thorough=True)
        return
    one_off = path if path.is_file() else path / ONE_OFF_LEDGER
    if one_off.is_file():
        check_readable(one_off)


def check_readable(file: Path) -> None:
    """Decode the whole Parquet file (batch by batch); ``LedgerCorrupt`` naming it, and how to
    recover, if it is not readable Parquet.  A read the machine refuses is raised as it is."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..failures import refusal_errno

    try:
        for _ in pq.ParquetFile(file).iter_batches(batch_size=1 << 16):
            pass
    except (OSError, pa.ArrowException) as e:
        if refusal_errno(e) is not None:
            raise
        why = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        if file.name != ONE_OFF_LEDGER:  # a Parquet file given by its own path: whose, we cannot tell
            raise LedgerCorrupt([f"{file}: a damaged ledger — not readable Parquet ({why}); restore it from a backup"]) from None
        raise LedgerCorrupt([f"{file}: a damaged ledger — this one-off ledger (written by `medclaim settle --out`) is not "
                             f"readable Parquet ({why}); nothing else holds its entries: {resettle_hint(file.parent)}"]) from None


def resettle_hint(out_dir: Path) -> str:
    """How to write an ``--out`` directory's ledger anew: with the extracts and the rule set its
    summary.json records (the rule set's id is a ``--rules`` value if it is a shipped one)."""
    from ..rules import list_rulesets

    try:
        summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
        inputs, rules = [str(i) for i in summary["inputs"]], [str(r) for r in summary["rules"]]
    except (OSError, ValueError, KeyError, TypeError):
        inputs, rules = [], []
    if not inputs:
        return f"settle the run's extracts again into that directory: medclaim settle EXTRACTS… --rules RULES --out {out_dir}"
    command = f"medclaim settle {' '.join(inputs)} --rules RULES --out {out_dir}"
    if len(rules) == 1 and rules[0] in {rid for rid, _ in list_rulesets()}:
        return f"settle the same extracts again into that directory: {command.replace('RULES', rules[0])}"
    return f"settle the same extracts again into that directory: {command} (RULES: the rule set(s) {', '.join(rules)})"


def scan_ledger(path: str | Path) -> pl.LazyFrame:
    """Every committed entry of a ledger directory (``--ledger``), or the ledger.parquet of an ``--out``
    directory, or a ledger Parquet file itself.  Entries are in settlement order within each run.

    A part of a ledger directory that is missing or truncated is named at once (``check_parts``);
    one changed in place is found by ``raise_if_damaged`` when reading it fails."""
    path = Path(path)
    if path.is_file():
        return pl.scan_parquet(path)
    head = read_head(path)
    if head is not None:
        check_parts(path, head)
        return scan_parts(path, head)
    if (path / ONE_OFF_LEDGER).exists():
        return pl.scan_parquet(path / ONE_OFF_LEDGER)
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


