"""Read one file into a table of cells, by format.  No meaning is given to any column here.

Every loader returns a ``RawTable``: the header labels, and ``read(positions)``, which returns
just the requested columns (named ``c<position>``) plus ``_row``.  Asking for columns by position
keeps personal data (names, ID numbers) out of memory for Parquet, and avoids converting unused
CSV columns.  For CSV the table also holds the lines that could not be cut into the header's
columns (``bad_lines``), which the reader turns into rejects.

Row numbers (``source_row``): 1-based, counted from the line / sheet row right after the header.

* CSV: physical lines, blank lines included, so ``source_row + 1`` is the line number in an editor
  when the header is on line 1 (blank lines before the header shift that by their number; a row
  whose quoted value spans lines points at its first line).
* Excel: sheet rows after the header row, empty rows included (Excel row = header row + source_row).
* Parquet: position in the file (1 = first row).

Fully blank lines / sheet rows (every cell empty or white space) are skipped and not counted as
read.  Parquet rows are never skipped: a row of nulls there is data, and gets rejected.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import fastexcel
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from medclaim.io.errors import InputFileError
from medclaim.io.headers import map_headers

CSV_SUFFIXES = (".csv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
PARQUET_SUFFIXES = (".parquet", ".pq")
SEPARATORS = (",", "\t", ";", "|")  # candidates, sniffed from the header line

_UTF8_BOM = b"\xef\xbb\xbf"
_INVISIBLE_UTF8 = (_UTF8_BOM, "\u200b".encode())  # BOM / zero-width space inside the data
_MAX_COLUMNS = 4096  # more header cells than this is not a claims export
_RAW_LINE_CHARS = 400

#: Lines that could not be cut into the header's columns (CSV only).
BAD_LINE_SCHEMA = {"_row": pl.Int64(), "_raw": pl.String(), "_message": pl.String()}


@dataclass
class RawTable:
    labels: list[str]  # header cells as written
    read: Callable[[list[int]], pl.DataFrame]  # positions -> "_row" + "c<pos>" columns, blank rows dropped
    format: str  # "csv" | "xlsx" | "parquet"
    encoding: str | None = None  # text encoding detected / used (CSV only)
    bad_lines: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=BAD_LINE_SCHEMA))
    may_hide_invisible: bool = True  # cells may carry a BOM / zero-width space to strip
    dtypes: dict[int, pl.DataType] = field(default_factory=dict)  # position -> dtype, if not all text


def column_name(position: int) -> str:
    return f"c{position}"


def load_table(path: Path, name: str, encoding: str | None) -> RawTable:
    """Dispatch on the file extension; every failure to read becomes an InputFileError."""
    if not path.exists():
        raise InputFileError(name, "file not found; check the path")
    if path.is_dir():
        raise InputFileError(name, "is a directory; pass the claim files inside it")
    suffix = path.suffix.lower()
    loaders = {
        **dict.fromkeys(CSV_SUFFIXES, load_csv),
        **dict.fromkeys(EXCEL_SUFFIXES, load_excel),
        **dict.fromkeys(PARQUET_SUFFIXES, load_parquet),
    }
    loader = loaders.get(suffix)
    if loader is None:
        accepted = ", ".join(loaders)
        raise InputFileError(name, f"unknown file type '{suffix or '(none)'}'; save it as one of {accepted}")
    try:
        return loader(path, name, encoding)
    except InputFileError:
        raise
    except (OSError, pl.exceptions.PolarsError, pa.ArrowException, fastexcel.FastExcelError) as exc:
        kind = suffix[1:]
        raise InputFileError(
            name, f"cannot read the file as {kind} ({first_line(exc)}); check that it is complete and really a {kind} file"
        ) from exc


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _is_blank(cells: pl.Series) -> pl.Series:
    return cells.is_null() | (cells.str.strip_chars() == "")


def blank_row_positions(columns: list[pl.Series]) -> pl.Series:
    """Row positions where every given text column is blank.  Column by column on a shrinking
    set of candidates: after the first well-filled column almost nothing is left to look at."""
    if not columns:
        return pl.Series("_pos", [], pl.UInt32)
    candidates = _is_blank(columns[0]).arg_true()
    for cells in columns[1:]:
        if candidates.len() == 0:
            break
        candidates = candidates.filter(_is_blank(cells.gather(candidates)))
    return candidates


def _drop_positions(frame: pl.DataFrame, positions: pl.Series) -> pl.DataFrame:
    if positions.len() == 0:
        return frame
    return frame.with_row_index("_pos").filter(~pl.col("_pos").is_in(positions.implode())).drop("_pos")


# ---------------------------------------------------------------- CSV


def _is_utf8(data: bytes) -> bool:
    """Strict UTF-8 check of the whole file (Arrow's validator: ~10× faster than bytes.decode)."""
    offsets = pa.py_buffer(pa.array([0, len(data)], pa.int64()).buffers()[1])
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def decode_to_utf8(data: bytes, name: str, encoding: str | None) -> tuple[bytes, str]:
    """Bytes as UTF-8 (no BOM) plus the encoding used.  Without ``encoding``: UTF-16 if it
    starts with a UTF-16 BOM, strict UTF-8 (with or without BOM) if valid, else GB18030 (a
    superset of GBK / GB2312)."""
    if encoding:
        try:
            text = data.decode(encoding)
        except LookupError as exc:
            raise InputFileError(name, f"unknown encoding '{encoding}'; use e.g. utf-8 or gb18030") from exc
        except UnicodeDecodeError as exc:
            raise InputFileError(
                name, f"not valid {encoding} at byte {exc.start}; check the encoding option (try utf-8 or gb18030)"
            ) from exc
        return text.removeprefix("\ufeff").encode("utf-8"), encoding
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel "Unicode text" export
        return data.decode("utf-16").encode("utf-8"), "utf-16"
    if _is_utf8(data):
        return (data[len(_UTF8_BOM) :], "utf-8-sig") if data.startswith(_UTF8_BOM) else (data, "utf-8")
    try:
        return data.decode("gb18030").encode("utf-8"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InputFileError(
            name,
            f"neither UTF-8 nor GB18030/GBK text (bad byte at offset {exc.start}); "
            "re-save the file as UTF-8 CSV or pass the right encoding",
        ) from exc


def _strip_leading_blank_lines(data: bytes) -> bytes:
    lead = re.match(rb"(?:[ \t\r]*\n)*", data)
    return data[lead.end() :] if lead else data


def sniff_separator(header_line: str) -> str:
    """The candidate separator that occurs most in the header line (comma on a tie or none)."""
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


@dataclass
class _Parsed:
    table: pa.Table  # every record with the header's field count, as text (record 1 = header)
    invalid: pl.DataFrame  # records with another field count: _record, _fields, _text


def _parse_csv(data: bytes, sep: str, *, numbered: bool) -> _Parsed:
    """Parse with pyarrow: lenient about stray quotes, and reports ragged lines instead of
    failing or truncating.  Record numbers of ragged lines are only known single-threaded."""
    invalid: list[tuple[int | None, int, str]] = []

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"  # kept aside and reported as a reject, never lost

    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=not numbered),
        parse_options=pacsv.ParseOptions(
            delimiter=sep,
            quote_char='"',
            double_quote=True,
            newlines_in_values=b'"' in data,  # only possible when something is quoted
            ignore_empty_lines=False,  # keep blank lines so record numbers match lines
            invalid_row_handler=keep_invalid,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={f"f{i}": pa.string() for i in range(_MAX_COLUMNS)},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    schema = {"_record": pl.Int64(), "_fields": pl.Int64(), "_text": pl.String()}
    return _Parsed(table, pl.DataFrame(invalid, schema=schema, orient="row"))


def _rescue_trailing_separators(
    invalid: pl.DataFrame, width: int, sep: str, regular_rows: int
) -> tuple[pa.Table | None, pl.DataFrame]:
    """Some exporters end every data line with extra separators ("a,b,c,,"): then those lines
    are re-parsed and the header's columns kept, provided the extra fields are empty.

    Only when it is the file's convention (more such lines than regular ones): a single line
    with one field too many and an empty last cell is far more likely a value with an unquoted
    comma, whose cells have all shifted one column right.  Returns (rescued records with their
    _row, still-invalid lines).  Loops over distinct field counts, not rows."""
    wide = invalid.filter(pl.col("_fields") > width)
    if wide.height <= regular_rows:
        return None, invalid
    rescued: list[pa.Table] = []
    still_bad = [invalid.filter(pl.col("_fields") <= width)]
    for (count,), group in wide.group_by(["_fields"]):
        body = ("\n".join(group["_text"].to_list()) + "\n").encode("utf-8")
        try:
            table = _parse_csv(body, sep, numbered=False).table
        except pa.ArrowException:
            table = None
        if table is None or table.num_rows != group.height or table.num_columns != count:
            still_bad.append(group)  # quoting made the lines re-split differently: leave as is
            continue
        extras = pl.from_arrow(table.select(table.column_names[width:]))
        ok = pl.Series(extras.select(pl.all_horizontal(pl.all().str.strip_chars() == ""))).alias("_ok")
        kept = table.select(table.column_names[:width]).append_column("_row", group["_row"].to_arrow())
        rescued.append(kept.filter(ok.to_arrow()))
        still_bad.append(group.filter(~ok))
    return (pa.concat_tables(rescued) if rescued else None), pl.concat(still_bad)


def _physical_rows(table: pa.Table, invalid: pl.DataFrame, data: bytes) -> tuple[pl.Series, pl.DataFrame]:
    """source_row of every valid record (aligned with ``table``) and of every invalid one.

    A record's physical line is its record number plus the line breaks inside quoted values of
    earlier records; those are only counted when the file has more lines than records."""
    total = table.num_rows + invalid.height
    numbers = pl.int_range(1, total + 1, dtype=pl.Int64, eager=True)
    valid_records = numbers.filter(~numbers.is_in(invalid["_record"].implode())) if invalid.height else numbers
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines == total:  # no value spans lines: line = record number, header is line 1
        return valid_records - 1, invalid.with_columns((pl.col("_record") - 1).alias("_row"))
    breaks = pl.from_arrow(table).select(
        pl.sum_horizontal(pl.all().str.count_matches("\n", literal=True)).cast(pl.Int64).alias("_nl")
    )
    records = pl.concat(
        [
            breaks.with_columns(valid_records.alias("_record")),
            invalid.select(pl.col("_text").str.count_matches("\n", literal=True).cast(pl.Int64).alias("_nl"), "_record"),
        ]
    ).sort("_record")
    records = records.with_columns((pl.col("_record") + pl.col("_nl").cum_sum() - pl.col("_nl")).alias("_line"))
    header_end = records["_line"][0] + records["_nl"][0]  # the header may itself span lines
    rows = records.select("_record", (pl.col("_line") - header_end).alias("_row"))
    valid_rows = pl.DataFrame({"_record": valid_records}).join(rows, on="_record", how="left", maintain_order="left")["_row"]
    return valid_rows, invalid.join(rows, on="_record", how="left", maintain_order="left")


def load_csv(path: Path, name: str, encoding: str | None) -> RawTable:
    data, used_encoding = decode_to_utf8(path.read_bytes(), name, encoding)
    data = _strip_leading_blank_lines(data)
    if not data or data.isspace():  # (isspace stops at the first printable byte; strip() would copy)
        raise InputFileError(name, "the file is empty; export the claims again")
    header_end = data.find(b"\n")
    sep = sniff_separator(data[: header_end if header_end >= 0 else len(data)].decode("utf-8", errors="replace"))
    parsed = _parse_csv(data, sep, numbered=False)
    if parsed.invalid.height:  # ragged lines: parse again single-threaded to learn where they are
        parsed = _parse_csv(data, sep, numbered=True)
    table, invalid = parsed.table, parsed.invalid
    width = table.num_columns
    if width > _MAX_COLUMNS:
        raise InputFileError(
            name, f"the header has {width} columns; this does not look like a claims export (check the separator)"
        )
    labels = [str(v) for v in table.slice(0, 1).to_pylist()[0].values()]

    rows, invalid = _physical_rows(table, invalid, data)
    table = table.append_column("_row", rows.to_arrow()).slice(1)  # drop the header record
    rescued = None
    if invalid.height:
        rescued, invalid = _rescue_trailing_separators(invalid, width, sep, regular_rows=table.num_rows)
    if rescued is not None:
        table = pa.concat_tables([table, rescued])
    invalid = invalid.filter(pl.col("_text").str.strip_chars(" \t\r\n\u3000" + sep) != "")  # blank ragged lines

    def read(positions: list[int]) -> pl.DataFrame:
        wanted = [f"f{p}" for p in positions]
        frame = pl.from_arrow(table.select([*wanted, "_row"]), rechunk=False)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.rename({f"f{p}": column_name(p) for p in positions})
        blank = blank_row_positions([frame[column_name(p)] for p in positions])
        others = [c for c in table.column_names if c not in (*wanted, "_row")]
        if blank.len() and others:  # blank in the wanted columns: confirm on the others, those rows only
            rest = pl.from_arrow(table.select(others).take(blank.to_arrow()))
            assert isinstance(rest, pl.DataFrame)
            blank = blank.gather(blank_row_positions(rest.get_columns()))
        frame = _drop_positions(frame, blank)
        return frame.sort("_row") if rescued is not None else frame

    return RawTable(
        labels=labels,
        read=read,
        format="csv",
        encoding=used_encoding,
        bad_lines=_describe_bad_lines(invalid, width, sep),
        may_hide_invisible=any(marker in data for marker in _INVISIBLE_UTF8),
    )


def _describe_bad_lines(invalid: pl.DataFrame, width: int, sep: str) -> pl.DataFrame:
    sep_name = {"\t": "tab"}.get(sep, f"'{sep}'")
    spans = pl.col("_text").str.count_matches("\n", literal=True)
    fields = pl.col("_fields").cast(pl.String)
    message = (
        pl.when(spans > 0)
        .then(
            pl.concat_str(
                pl.lit('a quote (") opened in this line is never closed, so the record runs over '),
                (spans + 1).cast(pl.String),
                pl.lit(' lines; fix the quotes (a quote inside a value is written twice: "")'),
            )
        )
        .when(pl.col("_fields") > width)
        .then(
            pl.concat_str(
                pl.lit("line has "),
                fields,
                pl.lit(
                    f" fields but the header has {width}; a value probably contains an unquoted {sep_name} — "
                    "quote that value or remove the extra separator"
                ),
            )
        )
        .otherwise(
            pl.concat_str(
                pl.lit("line has "),
                fields,
                pl.lit(
                    f" fields but the header has {width}; values would land in the wrong columns — "
                    "complete the line or remove it"
                ),
            )
        )
    )
    return invalid.select(
        pl.col("_row").cast(pl.Int64),
        pl.col("_text").str.replace_all("\r", "", literal=True).str.slice(0, _RAW_LINE_CHARS).alias("_raw"),
        message.alias("_message"),
    ).sort("_row")


# ---------------------------------------------------------------- Excel


def _sheet_header(reader: fastexcel.ExcelReader, index: int) -> list[str]:
    head = reader.load_sheet(index, header_row=None, n_rows=1, dtypes="string").to_polars()
    return [str(v) if v is not None else "" for v in head.row(0)] if head.height else []


def _pick_sheet(reader: fastexcel.ExcelReader, name: str) -> int:
    """The first sheet whose first row has every required header (exports often put a cover or
    notes sheet first); else the first sheet, whose header problem is then reported."""
    for index in range(len(reader.sheet_names)):
        try:
            map_headers(_sheet_header(reader, index), name)
            return index
        except InputFileError:
            continue
    return 0


def load_excel(path: Path, name: str, encoding: str | None = None) -> RawTable:
    """All cells as text: fastexcel renders numbers without '.0' (an id 123 stays '123') and
    date cells as 'YYYY-MM-DD HH:MM:SS', and no column is silently re-typed.  Empty rows are
    kept by fastexcel, so row numbers match the sheet."""
    reader = fastexcel.read_excel(path)
    index = _pick_sheet(reader, name)
    sheet = reader.load_sheet(index, header_row=None, dtypes="string").to_polars()
    if sheet.height == 0:
        raise InputFileError(name, f"sheet '{reader.sheet_names[index]}' is empty; export the claims again")
    labels = [str(v) if v is not None else "" for v in sheet.row(0)]
    sheet = sheet.rename({c: column_name(i) for i, c in enumerate(sheet.columns)})
    sheet = sheet.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64)).slice(1)
    sheet = _drop_positions(sheet, blank_row_positions([sheet[c] for c in sheet.columns if c != "_row"]))

    def read(positions: list[int]) -> pl.DataFrame:
        return sheet.select("_row", *(column_name(p) for p in positions))

    return RawTable(labels=labels, read=read, format="xlsx")


# ---------------------------------------------------------------- Parquet


def load_parquet(path: Path, name: str, encoding: str | None = None) -> RawTable:
    """Lazy scan: only the recognised columns are ever read (personal columns stay on disk).
    Typed columns keep their dtype; the parsers handle Int / Decimal / Float / Date natively.
    Parquet comes from programs, not from typing: cells are not searched for a stray BOM."""
    scan = pl.scan_parquet(path)
    schema = scan.collect_schema()
    labels = list(schema.names())

    def read(positions: list[int]) -> pl.DataFrame:
        columns = [pl.col(labels[p]).alias(column_name(p)) for p in positions]
        frame = scan.select(columns).with_row_index("_row", offset=1)
        return frame.with_columns(pl.col("_row").cast(pl.Int64)).collect()

    dtypes = {p: schema[label] for p, label in enumerate(labels)}
    return RawTable(labels=labels, read=read, format="parquet", may_hide_invisible=False, dtypes=dtypes)
