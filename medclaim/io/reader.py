"""read_claims: files in, canonical claims and one reject row per refused input row out.

Per file: load cells (``sources``) → match headers (``headers``) → parse and check every row
(``checks``).  Then, over all files together, settle duplicate settlement ids (``duplicates``),
and finally describe each rejected row.  Invariant: ``rows_read == claims.height + rejects.height``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from medclaim.io.checks import (
    PARSED_FIELDS,
    SourceTraits,
    canonical_frame,
    describe_rejects,
    raw_col,
    raw_excerpt,
    row_checks,
    row_ok,
)
from medclaim.io.duplicates import duplicated_ids, find_duplicates
from medclaim.io.errors import InputFileError
from medclaim.io.headers import HeaderMap, map_headers
from medclaim.io.sources import RawTable, column_name, load_table
from medclaim.schema import CLAIM_SCHEMA, RejectReason, empty_claims, empty_rejects

#: Canonical values compared when deciding whether two rows with one setl_id are the same claim.
_COMPARED = [f for f in PARSED_FIELDS if f != "setl_id"]
_WHOLE_LINE = "(whole line)"


@dataclass
class FileStats:
    path: str  # as given
    format: str  # csv | xlsx | parquet
    encoding: str | None  # detected or forced text encoding (CSV only)
    rows_read: int  # data rows, blank lines not counted
    rows_rejected: int


@dataclass
class ReadResult:
    claims: pl.DataFrame  # exactly CLAIM_SCHEMA, valid rows only
    rejects: pl.DataFrame  # empty_rejects() schema, one row per refused input row
    rows_read: int
    files: list[FileStats]

    def take_claims(self) -> pl.DataFrame:
        """Hand the claims over (the result keeps none): lets a large run free them early."""
        claims, self.claims = self.claims, self.claims.clear()
        return claims


@dataclass
class _File:
    """One file after parsing, before duplicates are settled."""

    index: int  # position in the run's file list
    name: str
    table: RawTable
    headers: HeaderMap
    rows: pl.DataFrame  # _row, in.<field> raw cells, canonical columns, _ok


def read_claims(paths: list[Path | str], encoding: str | None = None) -> ReadResult:
    """Read claim files (.csv/.txt, .xlsx, .parquet).  Raises InputFileError for a file that
    cannot be used at all; every row problem becomes a reject instead."""
    if isinstance(paths, (str, Path)):  # one path given bare: not a list of characters
        paths = [paths]
    files = [_parse_file(index, path, encoding) for index, path in enumerate(paths)]
    decisions = _settle_duplicates(files)
    claims, rejects, stats = [], [], []
    for f in files:
        file_claims, file_rejects = _split(f, decisions.filter(pl.col("_file") == f.index))
        claims.append(file_claims)
        rejects.append(file_rejects)
        stats.append(
            FileStats(
                path=f.name,
                format=f.table.format,
                encoding=f.table.encoding,
                rows_read=f.rows.height + f.table.bad_lines.height,
                rows_rejected=file_rejects.height,
            )
        )
    all_claims = pl.concat(claims) if claims else empty_claims()
    all_rejects = pl.concat(rejects) if rejects else empty_rejects()
    rows_read = sum(s.rows_read for s in stats)
    if rows_read != all_claims.height + all_rejects.height:  # a bug here must never lose a claim quietly
        raise AssertionError(f"rows read {rows_read} != claims {all_claims.height} + rejects {all_rejects.height}")
    return ReadResult(claims=all_claims, rejects=all_rejects, rows_read=rows_read, files=stats)


# ---------------------------------------------------------------- per file


def _check_dtypes(table: RawTable, headers: HeaderMap, name: str) -> None:
    for field, pos in headers.columns.items():
        dtype = table.dtypes.get(pos, pl.String())
        if dtype.is_nested():
            raise InputFileError(
                name, f"column '{headers.label(field)}' ({field}) holds {dtype}, not single values; export it as text or numbers"
            )


def _raw_frame(table: RawTable, headers: HeaderMap) -> pl.DataFrame:
    """Only the recognised columns, renamed in.<field> (the rest — names, ID numbers — is never
    converted, and for Parquet never even read)."""
    positions = list(headers.columns.values())
    frame = table.read(positions)
    return frame.select("_row", *(pl.col(column_name(pos)).alias(raw_col(field)) for field, pos in headers.columns.items()))


def _traits(table: RawTable) -> SourceTraits:
    return SourceTraits(excel=table.format == "xlsx", invisible=table.may_hide_invisible)


def _parse_file(index: int, path: Path | str, encoding: str | None) -> _File:
    name = str(path)
    table = load_table(Path(path), name, encoding)
    headers = map_headers(table.labels, name)
    _check_dtypes(table, headers, name)
    try:
        raw = _raw_frame(table, headers)
    except (pl.exceptions.PolarsError, OSError) as exc:  # e.g. a damaged Parquet page
        raise InputFileError(name, f"cannot read the data ({str(exc).splitlines()[0][:200]}); export the file again") from exc
    parsed = canonical_frame(raw, _traits(table))
    rows = parsed.select(
        "_row", *(raw_col(f) for f in headers.columns), *PARSED_FIELDS, row_ok(row_checks(headers)).alias("_ok")
    )
    return _File(index=index, name=name, table=table, headers=headers, rows=rows)


# ---------------------------------------------------------------- across files


def _settle_duplicates(files: list[_File]) -> pl.DataFrame:
    ids = duplicated_ids([f.rows["setl_id"] for f in files])
    candidates = [
        f.rows.filter(pl.col("setl_id").is_in(ids.implode())).select(
            pl.lit(f.index, pl.Int64).alias("_file"), pl.lit(f.name).alias("source_file"), "_row", "_ok", "setl_id", *_COMPARED
        )
        for f in files
    ]
    return find_duplicates(pl.concat(candidates) if candidates else pl.DataFrame(), _COMPARED)


# ---------------------------------------------------------------- split into claims and rejects


def _split(f: _File, decisions: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    affected = decisions.filter(pl.col("_dup_message").is_not_null())  # kept copies are not affected
    refused = f.rows.select(~pl.col("_ok") | pl.col("_row").is_in(affected["_row"].implode())).to_series()
    claims = f.rows.select(
        *(pl.col(c).cast(t) for c, t in CLAIM_SCHEMA.items() if c not in ("source_file", "source_row")),
        pl.lit(f.name, pl.String).alias("source_file"),
        pl.col("_row").cast(pl.Int64).alias("source_row"),
    )
    if not refused.any():  # the usual case: no copy of a large file
        return claims, _describe_bad_lines(f)
    claims = claims.filter(~refused)
    rejects = pl.concat([_describe_refused(f, f.rows.filter(refused), affected), _describe_bad_lines(f)])
    return claims, rejects.sort("source_row")


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
