"""read_claims: files in, canonical claims and one reject row per refused input row out.

Per file: load cells and find the header row (``sources``, ``headerrow``) → match headers
(``headers``, a site mapping from ``sitemap``) → parse and check every row (``checks``) → set
footer rows aside (``footers``).  Then, over all files together, settle duplicate settlement ids
(``duplicates``), and finally describe each rejected row.
Invariant: ``rows_read == claims.height + rejects.height + footers.height``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from medclaim.io.checks import (
    AMOUNT_FIELDS,
    AMOUNT_PARTS,
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
from medclaim.io.footers import FOOTER_SCHEMA, find_footers, footer_lines
from medclaim.io.headers import CLAIMS, DESCRIPTIVE_FIELDS, HeaderMap, Vocabulary
from medclaim.io.parse import clean_text
from medclaim.io.sources import RawTable, TableOptions, column_name, load_table
from medclaim.schema import CLAIM_SCHEMA, DESCRIPTIVE_SCHEMA, RejectReason, empty_claims, empty_rejects

#: Canonical values compared when deciding whether two rows with one setl_id are the same claim.
_COMPARED = [f for f in PARSED_FIELDS if f != "setl_id"]
_WHOLE_LINE = "(whole line)"


#: Amount columns the policy-scope amount is derived from (符合政策范围金额 = 总费用 − these) when
#: the file has no scope column: absent, each claim would count them as zero and the funds would
#: pay on too much — so such a file is refused unless --assume-zero says the absence is meant.
SCOPE_AMOUNTS = AMOUNT_PARTS


@dataclass(frozen=True)
class ReadOptions:
    """How to read the input files (the ``settle`` / ``explain`` options of the same names)."""

    encoding: str | None = None  # --encoding: force the CSV text encoding
    header_row: int | None = None  # --header-row: 1-based line / sheet row of the header (found if None)
    sheet: str | None = None  # --sheet: the Excel sheet to read
    columns: Path | str | None = None  # --columns: site mapping file (YAML, header: field)
    assume_zero: tuple[str, ...] = ()  # --assume-zero: amount columns absent on purpose (fields or headers)

    def vocabulary(self) -> Vocabulary:
        if self.columns is None:
            return CLAIMS
        from medclaim.io.sitemap import load_column_map

        return load_column_map(self.columns)

    def assumed_fields(self, vocabulary: Vocabulary = CLAIMS) -> tuple[str, ...]:
        """--assume-zero names as fields; raises InputFileError for a name that is not one of
        the scope-changing amount columns."""
        fields = []
        for name in self.assume_zero:
            field = vocabulary.field_of(name)
            if field not in SCOPE_AMOUNTS:
                raise InputFileError(
                    "--assume-zero", f"'{name}' is not an amount column that may be assumed zero; use one of {', '.join(SCOPE_AMOUNTS)}"
                )
            fields.append(field)
        return tuple(dict.fromkeys(fields))


@dataclass
class FileStats:
    path: str  # as given (an Excel sheet read with others: "book.xlsx [sheet]")
    format: str  # csv | xlsx | xls | parquet
    encoding: str | None  # detected or forced text encoding (CSV only)
    rows_read: int  # data rows, blank lines not counted (footer rows counted)
    rows_rejected: int
    footer_rows: int = 0  # 合计 / 小计 rows set aside: neither claims nor rejects
    header_row: int = 1  # line / sheet row of the header
    title_rows: list[str] = field(default_factory=list)  # non-blank rows above the header (skipped)
    sheet: str | None = None  # Excel: the sheet read
    sheets_not_read: list[str] = field(default_factory=list)  # Excel: each other sheet, with why
    unrecognised_columns: list[str] = field(default_factory=list)  # headers that match no field: not read
    ignored_columns: list[str] = field(default_factory=list)  # headers not read on purpose (mapping ~, second copies)
    person_key: str = "psn_no"  # certno when the ID-card number identifies the person
    assumed_zero: list[str] = field(default_factory=list)  # absent amount columns taken as 0 (--assume-zero)


@dataclass
class ReadResult:
    claims: pl.DataFrame  # CLAIM_SCHEMA (+ the descriptive columns some file has), valid rows only
    rejects: pl.DataFrame  # empty_rejects() schema, one row per refused input row
    rows_read: int
    files: list[FileStats]
    footers: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FOOTER_SCHEMA))  # rows set aside
    columns_file: str | None = None  # the --columns mapping used

    def summary_fields(self) -> dict:
        """What the run summary says about reading (see ``medclaim.io.notes``)."""
        from medclaim.io.notes import read_summary

        return read_summary(self)

    def take_claims(self) -> pl.DataFrame:
        """Hand the claims over (the result keeps none): lets a large run free them early."""
        claims, self.claims = self.claims, self.claims.clear()
        return claims


@dataclass
class _File:
    """One file after parsing, before duplicates are settled."""

    index: int  # position in the run's list of tables
    name: str
    table: RawTable
    headers: HeaderMap
    rows: pl.DataFrame  # _row, in.<field> raw cells, canonical columns, _ok
    footers: pl.DataFrame  # FOOTER_SCHEMA
    assumed_zero: tuple[str, ...]


def read_claims(paths: list[Path | str], encoding: str | None = None, options: ReadOptions | None = None) -> ReadResult:
    """Read claim files (.csv/.txt, .xlsx/.xls, .parquet).  Raises InputFileError for a file
    that cannot be used at all; every row problem becomes a reject instead."""
    if isinstance(paths, (str, Path)):  # one path given bare: not a list of characters
        paths = [paths]
    options = options or ReadOptions(encoding=encoding)
    if encoding and not options.encoding:
        options = ReadOptions(encoding, options.header_row, options.sheet, options.columns, options.assume_zero)
    vocabulary = options.vocabulary()
    assumed = options.assumed_fields(vocabulary)
    table_options = TableOptions(options.encoding, options.header_row, options.sheet, vocabulary)
    tables = [table for path in paths for table in load_table(Path(path), str(path), table_options)]
    files = [_parse_table(index, table, assumed) for index, table in enumerate(tables)]
    decisions = _settle_duplicates(files)
    claims, rejects, stats = [], [], []
    for f in files:
        file_claims, file_rejects = _split(f, decisions.filter(pl.col("_file") == f.index))
        claims.append(file_claims)
        rejects.append(file_rejects)
        stats.append(_stats(f, file_rejects.height))
    all_claims = pl.concat(claims, how="diagonal_relaxed") if claims else empty_claims()
    all_rejects = pl.concat(rejects) if rejects else empty_rejects()
    footers = pl.concat([f.footers for f in files]) if files else pl.DataFrame(schema=FOOTER_SCHEMA)
    rows_read = sum(s.rows_read for s in stats)
    if rows_read != all_claims.height + all_rejects.height + footers.height:  # a bug here must never lose a claim quietly
        raise AssertionError(
            f"rows read {rows_read} != claims {all_claims.height} + rejects {all_rejects.height} + footers {footers.height}"
        )
    return ReadResult(
        claims=all_claims, rejects=all_rejects, rows_read=rows_read, files=stats, footers=footers,
        columns_file=None if options.columns is None else str(options.columns),
    )


def _stats(f: _File, rejected: int) -> FileStats:
    t, h = f.table, f.headers
    return FileStats(
        path=f.name,
        format=t.format,
        encoding=t.encoding,
        rows_read=f.rows.height + t.bad_lines.height + f.footers.height,
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


# ---------------------------------------------------------------- per file


def _check_dtypes(table: RawTable, headers: HeaderMap, name: str) -> None:
    for field, pos in headers.columns.items():
        dtype = table.dtypes.get(pos, pl.String())
        if dtype.is_nested():
            raise InputFileError(
                name, f"column '{headers.label(field)}' ({field}) holds {dtype}, not single values; export it as text or numbers"
            )


def _raw_frame(table: RawTable, headers: HeaderMap) -> pl.DataFrame:
    """Only the recognised columns, renamed in.<field> (the rest is never converted, and for
    Parquet never even read)."""
    positions = list(dict.fromkeys(headers.columns.values()))  # a stand-in shares its column
    frame = table.read(positions)
    return frame.select("_row", *(pl.col(column_name(pos)).alias(raw_col(field)) for field, pos in headers.columns.items()))


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


def _parse_table(index: int, table: RawTable, assumed: tuple[str, ...]) -> _File:
    name, headers = table.name, table.headers
    _check_dtypes(table, headers, name)
    zeroed = _check_scope_amounts(table, headers, assumed)
    try:
        raw = _raw_frame(table, headers)
    except (pl.exceptions.PolarsError, OSError) as exc:  # e.g. a damaged Parquet page
        raise InputFileError(name, f"cannot read the data ({str(exc).splitlines()[0][:200]}); export the file again") from exc
    parsed = canonical_frame(raw, _traits(table))
    descriptive = [f for f in DESCRIPTIVE_FIELDS if f in headers.columns]
    rows = parsed.select(
        "_row",
        *(raw_col(f) for f in headers.columns),
        *PARSED_FIELDS,
        *(pl.lit(clean_text(parsed[raw_col(f)], invisible=table.may_hide_invisible)).alias(f) for f in descriptive),
        row_ok(row_checks(headers)).alias("_ok"),
    )
    footers = find_footers(rows, headers, table.row_texts, AMOUNT_FIELDS, name)
    if footers.height:
        rows = rows.filter(~pl.col("_row").is_in(footers["source_row"].implode()))
    if table.bad_lines.height:
        ragged, table.bad_lines = footer_lines(table.bad_lines, rows["_row"].max(), name)
        footers = pl.concat([footers, ragged]).sort("source_row")
    return _File(index=index, name=name, table=table, headers=headers, rows=rows, footers=footers, assumed_zero=zeroed)


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
        *(pl.col(c).cast(t) for c, t in DESCRIPTIVE_SCHEMA.items() if c in f.rows.columns),
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
