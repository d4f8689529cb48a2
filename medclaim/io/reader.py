"""read_claims: files in, canonical claims and one reject row per refused input row out.

Per file: load cells and find the header row (``sources``, ``headerrow``) → match headers
(``headers``, a site mapping from ``sitemap``) → then batch by batch (``RawTable.batches``): parse
and check every row (``checks``), describe the rejected rows, hand the valid claims over (kept in
memory, or spilled to person buckets on disk for an input larger than memory: ``spill``).  Raw
cells are kept only for the rows that need them later: rejects, footer candidates (``footers``:
judged once the whole file is read) and rows whose settlement id occurs more than once.
Duplicate settlement ids are settled over all files together (``duplicates``): a first pass hashes
the id column of every file (ids only), so the main pass knows which rows to hold back.
Invariant: ``rows_read == claims.height + rejects.height + footers.height``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from medclaim.io.checks import (
    AMOUNT_FIELDS,
    NULL_WHEN_ABSENT,
    PARSED_FIELDS,
    SourceTraits,
    canonical_frame,
    parse_field,
    describe_rejects,
    raw_col,
    raw_excerpt,
    row_checks,
    row_ok,
)
from medclaim.io.duplicates import DUPLICATE_SCHEMA, find_duplicates, id_hashes, is_repeated, repeated_hashes
from medclaim.io.errors import InputFileError
from medclaim.io.footers import FOOTER_SCHEMA, find_footers, footer_lines, is_candidate as is_footer_candidate
from medclaim.io.headers import DESCRIPTIVE_FIELDS, HeaderMap
from medclaim.io.parse import clean_text
from medclaim.io.sources import BATCH_ROWS, RawTable, TableOptions, column_name, load_table
from medclaim.io.read_result import SCOPE_AMOUNTS, FileStats, ReadOptions, ReadResult
from medclaim.io.spill import SpillWriter
from medclaim.overlap import ahead
from medclaim.schema import CLAIM_SCHEMA, DESCRIPTIVE_SCHEMA, RejectReason, empty_claims, empty_rejects

#: Canonical values compared when deciding whether two rows with one setl_id are the same claim.
_COMPARED = [f for f in PARSED_FIELDS if f != "setl_id"]
_WHOLE_LINE = "(whole line)"


@dataclass
class _File:
    """One table being read: what is decided per batch, and what waits for the whole run."""

    index: int  # position in the run's list of tables
    name: str
    table: RawTable
    headers: HeaderMap
    assumed_zero: tuple[str, ...]
    rows: int = 0  # data rows parsed (footer rows included, bad lines not)
    bad_lines: int = 0  # lines that could not be cut into columns (CSV), footer lines among them
    rejects: list[pl.DataFrame] = field(default_factory=list)
    footers: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FOOTER_SCHEMA))
    held: list[pl.DataFrame] = field(default_factory=list)  # rows whose setl_id is repeated: decided over all files


class _Claims:
    """Where the valid claims go: frames in memory, or — for an input larger than memory — the
    spill writer's person buckets on disk.  Every frame carries ``_file`` (its table's index) so
    that the claims stay in file and row order."""

    def __init__(self, spill: SpillWriter | None):
        self.spill = spill
        self.frames: list[pl.DataFrame] = []
        self.rows = 0
        self.out_of_order = False

    def add(self, frame: pl.DataFrame, *, late: bool = False) -> None:
        self.rows += frame.height
        if self.spill is not None:
            if frame.height:
                self.spill.add(frame)  # (the bucket files keep ``_file``, not the file's name in every row)
            return
        self.frames.append(frame)
        self.out_of_order |= late and frame.height > 0

    def result(self) -> tuple[pl.DataFrame, SpilledClaims | None]:
        if self.spill is not None:
            return empty_claims(), self.spill.close()
        if not self.frames:
            return empty_claims(), None
        claims = pl.concat(self.frames, how="diagonal_relaxed")
        self.frames = []
        if self.out_of_order:  # a row decided at the end of its file or of the run (rare)
            claims = claims.sort("_file", "source_row", maintain_order=True)
        return claims.drop("_file"), None

    def abort(self) -> None:
        if self.spill is not None:
            self.spill.abort()


def read_claims(paths: list[Path | str], encoding: str | None = None, options: ReadOptions | None = None) -> ReadResult:
    """Read claim files (.csv/.txt, .xlsx/.xls, .parquet).  Raises InputFileError for a file
    that cannot be used at all; every row problem becomes a reject instead.  With
    ``options.spill`` an input of more rows than its threshold is spilled to person buckets on
    disk (``ReadResult.spilled``; the caller removes them with ``ReadResult.cleanup``)."""
    if isinstance(paths, (str, Path)):  # one path given bare: not a list of characters
        paths = [paths]
    options = options or ReadOptions(encoding=encoding)
    if encoding and not options.encoding:
        options = dataclasses.replace(options, encoding=encoding)
    vocabulary = options.vocabulary()
    assumed = options.assumed_fields(vocabulary)
    table_options = TableOptions(options.encoding, options.header_row, options.sheet, vocabulary)
    tables = [table for path in paths for table in load_table(Path(path), str(path), table_options)]
    files = [_open_file(index, table, assumed) for index, table in enumerate(tables)]
    repeated = _repeated_ids(files)
    claims = _Claims(_spill_writer(options.spill, files))
    try:
        for f in files:
            _read_file(f, repeated, claims)
        _settle_duplicates(files, claims)
        all_claims, spilled = claims.result()
    except BaseException:
        claims.abort()
        raise
    stats, rejects = [], []
    for f in files:
        file_rejects = pl.concat(f.rejects).sort("source_row") if f.rejects else empty_rejects()
        rejects.append(file_rejects)
        stats.append(_stats(f, file_rejects.height))
    all_rejects = pl.concat(rejects) if rejects else empty_rejects()
    footers = pl.concat([f.footers for f in files]) if files else pl.DataFrame(schema=FOOTER_SCHEMA)
    rows_read = sum(s.rows_read for s in stats)
    if rows_read != claims.rows + all_rejects.height + footers.height:  # a bug here must never lose a claim quietly
        if spilled is not None:
            spilled.cleanup()
        raise AssertionError(
            f"rows read {rows_read} != claims {claims.rows} + rejects {all_rejects.height} + footers {footers.height}"
        )
    return ReadResult(
        claims=all_claims, rejects=all_rejects, rows_read=rows_read, files=stats, footers=footers,
        columns_file=None if options.columns is None else str(options.columns), spilled=spilled,
    )


def _stats(f: _File, rejected: int) -> FileStats:
    t, h = f.table, f.headers
    return FileStats(
        path=f.name,
        format=t.format,
        encoding=t.encoding,
        rows_read=f.rows + f.bad_lines,
        rows_rejected=rejected,
        footer_rows=f.footers.height,
        header_row=t.header_row,
        title_rows=list(t.title_rows),
        sheet=t.sheet,
        sheets_not_read=list(t.sheets_not_read),
        unrecognised_columns=list(h.unrecognised),
        ignored_columns=list(h.ignored),
        person_key=h.stood_in.get("psn_no", "psn_no"),
        assumed_zero=list(f.assumed_zero),
    )


def _spill_writer(spill: SpillOptions | None, files: list[_File]) -> SpillWriter | None:
    """A writer to person buckets when the input has more rows than ``spill`` allows in memory."""
    if spill is None:
        return None
    bits = spill.bucket_bits(sum(f.table.rows for f in files))
    if not bits:
        return None
    descriptive: dict[str, pl.DataType] = {}  # (the columns an in-memory read would have, in its order)
    for f in files:
        descriptive.update({c: t for c, t in DESCRIPTIVE_SCHEMA.items() if c in f.headers.columns and c not in descriptive})
    absent = frozenset(c for c in NULL_WHEN_ABSENT if not any(c in f.headers.columns for f in files))
    return SpillWriter(spill, bits, pl.Schema({**CLAIM_SCHEMA, **descriptive}), [f.name for f in files], absent)


# ---------------------------------------------------------------- per file


def _check_dtypes(table: RawTable, headers: HeaderMap, name: str) -> None:
    for field, pos in headers.columns.items():
        dtype = table.dtypes.get(pos, pl.String())
        if dtype.is_nested():
            raise InputFileError(
                name, f"column '{headers.label(field)}' ({field}) holds {dtype}, not single values; export it as text or numbers"
            )


def _traits(table: RawTable) -> SourceTraits:
    return SourceTraits(excel=table.excel, invisible=table.may_hide_invisible)


def _check_scope_amounts(table: RawTable, headers: HeaderMap, assumed: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse a file lacking an amount column that changes the policy scope, unless assumed zero.
    (With a scope column the parts only serve the consistency check: absent, they are zero.)"""
    missing = [f for f in SCOPE_AMOUNTS if f not in headers.columns]
    if "inscp_scp_amt" in headers.columns:
        return tuple(missing)
    unassumed = [f for f in missing if f not in assumed]
    if unassumed:
        from medclaim.io.headers import accepted_headers

        wanted = "; ".join(f"{f} (one of {accepted_headers(f)})" for f in unassumed)
        odd = f" Columns not recognised: {', '.join(repr(u) for u in headers.unrecognised[:20])}." if headers.unrecognised else ""
        flags = " ".join(f"--assume-zero {f}" for f in unassumed)
        raise InputFileError(
            table.name,
            f"amount column(s) missing: {wanted}. Without them every claim's policy-scope amount would be too high, "
            f"so the run stops.{odd} If a column is misspelled, rename it or map it with --columns FILE; if the file "
            f"really has no such column because the amounts are zero, say so with {flags}",
        )
    return tuple(f for f in missing if f in assumed)



def _open_file(index: int, table: RawTable, assumed: tuple[str, ...]) -> _File:
    """Check what can be checked before any row is read (nested columns, scope amounts)."""
    name, headers = table.name, table.headers
    _check_dtypes(table, headers, name)
    zeroed = _check_scope_amounts(table, headers, assumed)
    return _File(index=index, name=name, table=table, headers=headers, assumed_zero=zeroed)


def _batches(table: RawTable, positions: list[int]) -> Iterator[pl.DataFrame]:
    """The table's raw batches; a file that fails half way (a damaged Parquet page) is refused."""
    batches = ahead(iter(table.batches(positions, BATCH_ROWS)))  # the next batch is read while this one is parsed
    try:
        while True:
            try:
                raw = next(batches)
            except StopIteration:
                return
            except (pl.exceptions.PolarsError, OSError, pa.ArrowException) as exc:
                raise InputFileError(table.name, f"cannot read the data ({str(exc).splitlines()[0][:200]}); export the file again") from exc
            yield raw
    finally:
        batches.close()  # (stopped early: the reading thread stops too)


def _repeated_ids(files: list[_File]) -> pl.Series:
    """First pass, over the settlement-id column of every file only: the hashes of ids that occur
    more than once.  The main pass holds those rows back until every file is read."""
    hashes = []
    for f in files:
        pos = f.headers.columns.get("setl_id")
        if pos is None:
            continue

        def hashed(raw: pl.DataFrame, f: _File = f, pos: int = pos) -> pl.Series:
            return id_hashes(parse_field("setl_id", raw.get_column(column_name(pos)), raw.height, _traits(f.table)).value)

        hashes.extend(_stage(hashed, _batches(f.table, [pos])))
    return repeated_hashes(hashes)


def _stage(step: Callable[[pl.DataFrame], Any], batches: Iterator[pl.DataFrame]) -> Iterator[Any]:
    """``step`` of each batch, in order, worked out in a thread of its own one batch ahead of
    the caller: reading batch k + 2, parsing k + 1 and the caller's bookkeeping of k (and the
    spill writing k - 1) run at the same time.  On batches of 100,000 rows polars keeps each
    step mostly on one core: without this the caller's thread was the reading phase's
    bottleneck, with the second core half idle."""

    def steps() -> Iterator[Any]:
        try:
            for raw in batches:
                yield step(raw)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    return ahead(steps())


def _parse_batch(f: _File, raw: pl.DataFrame, ok: pl.Expr) -> pl.DataFrame:
    """``_row``, the ``in.<field>`` raw cells, the canonical columns and ``_ok`` of one batch."""
    headers = f.headers
    raw = raw.select("_row", *(pl.col(column_name(pos)).alias(raw_col(field)) for field, pos in headers.columns.items()))
    parsed = canonical_frame(raw, _traits(f.table))
    descriptive = [c for c in DESCRIPTIVE_FIELDS if c in headers.columns]
    invisible = f.table.may_hide_invisible
    return parsed.select(
        "_row",
        *(raw_col(c) for c in headers.columns),
        *PARSED_FIELDS,
        *(pl.lit(clean_text(parsed[raw_col(c)], invisible=invisible)).alias(c) for c in descriptive),
        ok.alias("_ok"),
    )


def _read_file(f: _File, repeated: pl.Series, claims: _Claims) -> None:
    """Parse and check the file batch by batch: valid claims to ``claims``, rejects described.
    Set aside until the file is read: footer candidates (judged against the whole file's sums);
    until the run is read: rows whose id is repeated (``f.held``)."""
    headers = f.headers
    positions = list(dict.fromkeys(headers.columns.values()))  # a stand-in shares its column
    ok = row_ok(row_checks(headers))
    amounts = [c for c in AMOUNT_FIELDS if c in headers.columns]
    sums, last = dict.fromkeys(amounts, 0), 0  # of every row that cannot be a footer
    maybe = []
    dup = is_repeated(pl.col("setl_id"), repeated) if repeated.len() else pl.lit(False)

    def parsed(raw: pl.DataFrame) -> pl.DataFrame:
        return _parse_batch(f, raw, ok).with_columns(is_footer_candidate().alias("_foot"), dup.alias("_dup"))

    for rows in _stage(parsed, _batches(f.table, positions)):
        f.rows += rows.height
        if rows.height == 0:
            claims.add(_claims_of(f, rows))  # (the columns the file has, for an empty read)
            continue
        foot = rows["_foot"]
        if foot.any():
            maybe.append(rows.filter(foot))
            rows = rows.filter(~foot)
        if rows.height:
            batch_sums = rows.select([pl.col(c).fill_null(0).sum() for c in amounts]).row(0) if amounts else ()
            sums = {c: sums[c] + (v or 0) for c, v in zip(amounts, batch_sums)}
            last = max(last, rows["_row"].max() or 0)
        _hold_or_split(f, rows, claims)
    candidates = pl.concat(maybe) if maybe else None
    if candidates is not None:
        f.footers = find_footers(candidates, sums, last, headers, f.table.row_texts, AMOUNT_FIELDS, f.name)
        if f.footers.height:
            candidates = candidates.filter(~pl.col("_row").is_in(f.footers["source_row"].implode()))
        if candidates.height:  # not footers after all: rows like any other
            last = max(last, candidates["_row"].max() or 0)
            _hold_or_split(f, candidates, claims, late=True)
    bad = f.table.bad_lines
    f.bad_lines = bad.height
    if bad.height:
        ragged, f.table.bad_lines = footer_lines(bad, last or None, f.name)
        f.footers = pl.concat([f.footers, ragged]).sort("source_row")
        f.rejects.append(_describe_bad_lines(f))


def _hold_or_split(f: _File, rows: pl.DataFrame, claims: _Claims, *, late: bool = False) -> None:
    """Rows with a repeated id wait for the run's duplicate decision; the others are decided now."""
    held = rows["_dup"]
    if held.any():
        f.held.append(rows.filter(held))
        rows = rows.filter(~held)
    _split(f, rows, _NO_DUPLICATES, claims, late=late)


# ---------------------------------------------------------------- across files


def _settle_duplicates(files: list[_File], claims: _Claims) -> None:
    """Decide the held rows of all files together (``duplicates.find_duplicates``)."""
    held = {f.index: pl.concat(f.held) for f in files if f.held}
    if not held:
        return
    by_index = {f.index: f for f in files}
    candidates = pl.concat([
        rows.select(pl.lit(i, pl.Int64).alias("_file"), pl.lit(by_index[i].name).alias("source_file"), "_row", "_ok", "setl_id", *_COMPARED)
        for i, rows in held.items()
    ])
    candidates = candidates.filter(pl.col("setl_id").is_duplicated())  # (a hash collision is no duplicate)
    decisions = find_duplicates(candidates, _COMPARED)
    for i, rows in held.items():
        _split(by_index[i], rows, decisions.filter(pl.col("_file") == i), claims, late=True)


# ---------------------------------------------------------------- split into claims and rejects


_NO_DUPLICATES = pl.DataFrame(schema=DUPLICATE_SCHEMA)


def _claims_of(f: _File, rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(
        *(pl.col(c).cast(t) for c, t in CLAIM_SCHEMA.items() if c not in ("source_file", "source_row")),
        pl.lit(f.name, pl.String).alias("source_file"),
        pl.col("_row").cast(pl.Int64).alias("source_row"),
        *(pl.col(c).cast(t) for c, t in DESCRIPTIVE_SCHEMA.items() if c in rows.columns),
        pl.lit(f.index, pl.Int32).alias("_file"),
    )


def _split(f: _File, rows: pl.DataFrame, decisions: pl.DataFrame, claims: _Claims, *, late: bool = False) -> None:
    """Valid rows to ``claims``; refused rows (own checks, or duplicates as ``decisions`` say)
    described into ``f.rejects``."""
    affected = decisions.filter(pl.col("_dup_message").is_not_null())  # kept copies are not affected
    refused = rows.select(~pl.col("_ok") | pl.col("_row").is_in(affected["_row"].implode())).to_series()
    if not refused.any():  # the usual case
        claims.add(_claims_of(f, rows), late=late)
        return
    claims.add(_claims_of(f, rows.filter(~refused)), late=late)
    f.rejects.append(_describe_refused(f, rows.filter(refused), affected))


def _describe_refused(f: _File, refused: pl.DataFrame, duplicates: pl.DataFrame) -> pl.DataFrame:
    """Reason, column, message and raw excerpt of each refused row.  Parsing is redone on these
    few rows so that pass 1 never had to build a string per row."""
    if refused.height == 0:
        return empty_rejects()
    raw = refused.select("_row", *(raw_col(field) for field in f.headers.columns))
    checks = row_checks(f.headers)
    described = describe_rejects(canonical_frame(raw, _traits(f.table)), checks, f.headers)
    described = described.join(duplicates.select("_row", "_dup_reason", "_dup_message"), on="_row", how="left")
    own = pl.col("_reason").is_not_null()
    setl_id = pl.col("setl_id")
    return described.select(
        pl.lit(f.name).alias("source_file"),
        pl.col("_row").alias("source_row"),
        pl.when(setl_id != "").then(setl_id).otherwise(None).alias("setl_id"),
        pl.when(own).then(pl.col("_column")).otherwise(pl.lit(f.headers.describe("setl_id"))).alias("column"),
        pl.coalesce("_reason", "_dup_reason").alias("reason_code"),
        pl.when(own)
        .then(pl.concat_str([pl.col("_message"), pl.col("_dup_message").fill_null("")]))
        .otherwise(pl.col("_dup_message"))
        .alias("message"),
        raw_excerpt(f.headers).alias("raw"),
    )


def _describe_bad_lines(f: _File) -> pl.DataFrame:
    bad = f.table.bad_lines
    return bad.select(
        pl.lit(f.name).alias("source_file"),
        pl.col("_row").alias("source_row"),
        pl.lit(None, pl.String).alias("setl_id"),
        pl.lit(_WHOLE_LINE).alias("column"),
        pl.lit(RejectReason.BAD_ROW.value).alias("reason_code"),
        pl.col("_message").alias("message"),
        pl.col("_raw").alias("raw"),
    )
