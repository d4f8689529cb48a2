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

The header row need not be the first: title rows, blank rows and merged title cells above it are
skipped (``headerrow``), and the row numbers above then count from the header row found
(``RawTable.header_row`` says where it is).  CSV damage never merges or invents records: an
unclosed quote or a bare carriage return inside a line rejects that line only (``_by_line``).
"""

from __future__ import annotations

import codecs
import html
import csv
import os
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import fastexcel
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from medclaim.io.errors import InputFileError
from medclaim.io.headerrow import SCAN_ROWS, HeaderRow, locate_header, try_locate_header
from medclaim.io.headers import CLAIMS, HeaderMap, Vocabulary, map_headers

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


@dataclass(frozen=True)
class TableOptions:
    """How to find the table in a file (``--encoding``, ``--header-row``, ``--sheet``, ``--columns``)."""

    encoding: str | None = None
    header_row: int | None = None  # 1-based line / sheet row of the header; found if None
    sheet: str | None = None  # Excel: read this sheet only
    vocabulary: Vocabulary = CLAIMS


@dataclass
class RawTable:
    labels: list[str]  # header cells as written
    read: Callable[[list[int]], pl.DataFrame]  # positions -> "_row" + "c<pos>" columns, blank rows dropped
    format: str  # "csv" | "xlsx" | "xls" | "parquet"
    headers: HeaderMap  # where each field's column is
    name: str = ""  # how rows of this table are named in rejects (file, or "file [sheet]")
    encoding: str | None = None  # text encoding detected / used (CSV only)
    bad_lines: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=BAD_LINE_SCHEMA))
    may_hide_invisible: bool = True  # cells may carry a BOM / zero-width space to strip
    dtypes: dict[int, pl.DataType] = field(default_factory=dict)  # position -> dtype, if not all text
    header_row: int = 1  # 1-based line (CSV) / sheet row (Excel) of the header; Parquet: 1
    title_rows: tuple[str, ...] = ()  # text of the non-blank rows above the header, skipped
    sheet: str | None = None  # Excel: the sheet read
    sheets_not_read: tuple[str, ...] = ()  # Excel: the other sheets, each with why
    row_texts: Callable[[list[int]], dict[int, list[str]]] | None = None  # _row -> every cell, as text

    @property
    def excel(self) -> bool:
        return self.format in ("xlsx", "xls")


def column_name(position: int) -> str:
    return f"c{position}"


def check_regular_file(path: Path, name: str, max_bytes: int | None = None, what: str = "file") -> os.stat_result:
    """Refuse what is not an ordinary file before opening it: a FIFO would block forever and
    /dev/zero never ends."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputFileError(name, f"{what} not found; check the path") from None
    except OSError as exc:
        raise InputFileError(name, f"cannot open the {what} ({exc.strerror}); check the path and its permissions") from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(name, "is a directory; pass the claim files inside it")
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "a device or socket, not a regular file"
        raise InputFileError(name, f"is {kind}; medclaim reads regular files only — save the data to a file and pass that")
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputFileError(name, f"the {what} is {info.st_size:,} bytes, more than a {what} can be ({max_bytes:,}); check the path")
    return info


def load_table(path: Path, name: str, options: TableOptions | str | None = None) -> list[RawTable]:
    """Dispatch on the file extension; every failure to read becomes an InputFileError.  An
    Excel workbook may give several tables (sheets with the same header)."""
    if not isinstance(options, TableOptions):  # (an encoding given bare)
        options = TableOptions(encoding=options)
    check_regular_file(path, name)
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
        tables = loader(path, name, options)
    except InputFileError:
        raise
    except (OSError, pl.exceptions.PolarsError, pa.ArrowException, fastexcel.FastExcelError, zipfile.BadZipFile) as exc:
        kind = suffix[1:]
        raise InputFileError(
            name, f"cannot read the file as {kind} ({first_line(exc)}); check that it is complete and really a {kind} file"
        ) from exc
    return tables if isinstance(tables, list) else [tables]


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


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when the start of the file looks like UTF-16 text without a BOM
    (ASCII-range characters with a zero byte beside each), else None."""
    head = data[:4096]
    if len(head) < 4 or head.count(0) < len(head) // 4:
        return None
    if head[1::2].count(0) > len(head) // 4:
        return "utf-16-le"
    if head[0::2].count(0) > len(head) // 4:
        return "utf-16-be"
    return None


def _decode(data: bytes, encoding: str, name: str, hint: str) -> bytes:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        odd = " (it has an odd number of bytes: the file is cut short)" if encoding.startswith("utf-16") and len(data) % 2 else ""
        raise InputFileError(name, f"not valid {encoding} text at byte {exc.start}{odd}; {hint}") from exc
    return text.removeprefix("\ufeff").encode("utf-8")


def decode_to_utf8(data: bytes, name: str, encoding: str | None) -> tuple[bytes, str]:
    """Bytes as UTF-8 (no BOM) plus the encoding used.  Without ``encoding``: UTF-16 if it
    starts with a UTF-16 BOM (or looks like UTF-16 without one), strict UTF-8 (with or without
    BOM) if valid, else GB18030 (a superset of GBK / GB2312)."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise InputFileError(name, f"unknown encoding '{encoding}'; use e.g. utf-8 or gb18030") from exc
        return _decode(data, encoding, name, "check the encoding option (try utf-8 or gb18030)"), encoding
    resave = "export it again, or re-save it as UTF-8 CSV"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel "Unicode text" export
        return _decode(data, "utf-16", name, resave), "utf-16"
    utf16 = _utf16_without_bom(data)
    if utf16:
        return _decode(data, utf16, name, resave), utf16
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


def sniff_separator(header_line: str) -> str:
    """The candidate separator that occurs most in the header line (comma on a tie or none)."""
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


@dataclass
class _Parsed:
    table: pa.Table  # every record with the header's field count, as text (record 1 = header)
    invalid: pl.DataFrame  # records with another field count: _record, _fields, _text


def _parse_csv(data: bytes, sep: str, *, numbered: bool, newlines: bool = True) -> _Parsed:
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
            newlines_in_values=newlines and b'"' in data,  # only possible when something is quoted
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


def _line_damage(table: pa.Table, invalid: pl.DataFrame, data: bytes, sep: str) -> bool:
    """Whether quoting merged lines that a person sees as separate records, or a bare carriage
    return split one: then the file is read line by line (``_by_line``)."""
    if b"\r" in data and b"\n" in data and re.search(rb"\r(?!\n)", data):
        return True  # (a file with CR line ends only has no LF at all and is read as it is)
    if invalid.height and invalid["_text"].str.contains("\n", literal=True).any():
        return True  # an unclosed quote ran over the following lines
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines == table.num_rows + invalid.height:
        return False  # no value spans lines
    # A value spanning lines is fine in a remarks column; a value holding a line that looks like a
    # whole record is an unclosed quote that swallowed rows (and happened to end with the right count).
    need = max(1, table.num_columns - 1)
    for column in pl.from_arrow(table).get_columns():
        spanning = column.filter(column.str.contains("\n", literal=True))
        if spanning.len() and spanning.str.split("\n").explode(empty_as_null=False).str.count_matches(sep, literal=True).max() >= need:
            return True
    return False


def _by_line(data: bytes, sep: str) -> tuple[pa.Table, pl.DataFrame, pl.Series]:
    """Every physical line one record: a line with an unbalanced quote or a bare carriage return
    is a bad line of its own, never merged with its neighbours.  Returns the parsed records
    (header first), the invalid lines with their _row, and the _row of every parsed record."""
    lines = pl.DataFrame({"_text": pl.Series([data.decode("utf-8")]).str.split("\n").explode(empty_as_null=False).str.strip_suffix("\r")})
    lines = lines.with_row_index("_line").with_columns(pl.col("_line").cast(pl.Int64))
    # a stray CR in the header line is noise (the header was found without it), not a record break
    lines = lines.with_columns(
        pl.when(pl.col("_line") == 0).then(pl.col("_text").str.replace_all("\r", "", literal=True)).otherwise("_text")
    )
    damaged = (pl.col("_line") > 0) & (
        (pl.col("_text").str.count_matches('"', literal=True) % 2 == 1) | pl.col("_text").str.contains("\r", literal=True)
    )
    lines = lines.with_columns(damaged.alias("_damaged"))
    good = lines.filter(~pl.col("_damaged"))
    parsed = _parse_csv(good["_text"].str.join("\n").item().encode("utf-8"), sep, numbered=True, newlines=False)
    line_of = good["_line"]
    numbers = pl.int_range(1, parsed.table.num_rows + parsed.invalid.height + 1, dtype=pl.Int64, eager=True)
    valid = numbers.filter(~numbers.is_in(parsed.invalid["_record"].implode()))
    bad = parsed.invalid.with_columns(line_of.gather(parsed.invalid["_record"] - 1).alias("_row"))
    cut = lines.filter(pl.col("_damaged")).select(
        pl.lit(None, pl.Int64).alias("_record"),
        (pl.col("_text").str.count_matches(re.escape(sep)) + 1).cast(pl.Int64).alias("_fields"),
        "_text",
        pl.col("_line").alias("_row"),
    )
    return parsed.table, pl.concat([bad, cut]), line_of.gather(valid - 1)


def _csv_header(data: bytes, name: str, options: TableOptions) -> tuple[int, HeaderRow, str]:
    """Byte offset of the header line, the header found, and the separator it uses."""
    wanted = max(SCAN_ROWS, options.header_row or 0)
    pieces = data.split(b"\n", wanted)
    if len(pieces) > wanted:
        pieces = pieces[:wanted]  # (the last piece is the rest of the file)
    rows, seps = [], []
    for piece in pieces:
        line = piece.removesuffix(b"\r").decode("utf-8", errors="replace")
        sep = sniff_separator(line)
        seps.append(sep)
        try:  # a bare carriage return inside a cell is damage the full parse rejects; here it is noise
            rows.append(next(csv.reader([line.replace("\r", "")], delimiter=sep), []))
        except csv.Error:  # (e.g. a field over the csv module's size limit): not a header line
            rows.append([line])
    found = locate_header(rows, name, options.vocabulary, forced=options.header_row)
    offset = sum(len(p) + 1 for p in pieces[: found.index])
    return offset, found, seps[found.index]


def load_csv(path: Path, name: str, options: TableOptions) -> RawTable:
    data, used_encoding = decode_to_utf8(path.read_bytes(), name, options.encoding)
    if not data or data.isspace():  # (isspace stops at the first printable byte; strip() would copy)
        raise InputFileError(name, "the file is empty; export the claims again")
    offset, header, sep = _csv_header(data, name, options)
    data = data[offset:]
    parsed = _parse_csv(data, sep, numbered=False)
    if parsed.invalid.height:  # ragged lines: parse again single-threaded to learn where they are
        parsed = _parse_csv(data, sep, numbered=True)
    table, invalid = parsed.table, parsed.invalid
    width = table.num_columns
    if width > _MAX_COLUMNS:
        raise InputFileError(
            name, f"the header has {width} columns; this does not look like a claims export (check the separator)"
        )
    if _line_damage(table, invalid, data, sep):
        table, invalid, rows = _by_line(data, sep)
        width = table.num_columns
    else:
        rows, invalid = _physical_rows(table, invalid, data)
    labels = [str(v) for v in table.slice(0, 1).to_pylist()[0].values()]
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

    def row_texts(rows: list[int]) -> dict[int, list[str]]:
        picked = table.filter(pc.is_in(table["_row"], pa.array(rows, pa.int64())))
        return {r.pop("_row"): [str(v) for v in r.values()] for r in picked.to_pylist()}

    return RawTable(
        labels=labels,
        read=read,
        format="csv",
        headers=header.headers,
        name=name,
        encoding=used_encoding,
        bad_lines=_describe_bad_lines(invalid, width, sep),
        may_hide_invisible=any(marker in data for marker in _INVISIBLE_UTF8),
        header_row=header.number,
        title_rows=header.title_rows,
        row_texts=row_texts,
    )


def _describe_bad_lines(invalid: pl.DataFrame, width: int, sep: str) -> pl.DataFrame:
    sep_name = {"\t": "tab"}.get(sep, f"'{sep}'")
    spans = pl.col("_text").str.count_matches("\n", literal=True)
    fields = pl.col("_fields").cast(pl.String)
    quotes = pl.col("_text").str.count_matches('"', literal=True)
    message = (
        pl.when(pl.col("_text").str.contains("\r", literal=True) & (spans == 0))
        .then(
            pl.lit(
                "a carriage return (CR) inside this line would split it into two records; the line is refused whole — "
                "remove the stray character and settle the row again"
            )
        )
        .when((spans == 0) & (quotes % 2 == 1))
        .then(
            pl.lit(
                'a quote (") opened in this line is never closed; the line is refused whole and the lines after it are '
                'read on their own — fix the quotes (a quote inside a value is written twice: "")'
            )
        )
        .when(spans > 0)
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


_XML_ATTR = re.compile(r'([\w:]+)="([^"]*)"')
_FIRST_VALUE_CELL = re.compile(rb'<c\b[^>]*?\br="[A-Z]+(\d+)"[^>]*(?<!/)>(?:(?!</c>).)*?<(?:v|is)[\s>]', re.DOTALL)


def _first_used_rows(path: Path) -> dict[str, int]:
    """Sheet name -> the sheet row of its first non-empty cell (xlsx / xlsm).

    fastexcel starts a sheet at its first used row, so a sheet whose row 1 is empty would be
    numbered from the wrong row; this finds the offset.  On any surprise: {} (rows count from 1)."""
    try:
        with zipfile.ZipFile(path) as z:
            book = z.read("xl/workbook.xml").decode("utf-8", "replace")
            rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            targets = {}
            for element in re.findall(r"<Relationship\b[^>]*>", rels):
                attrs = dict(_XML_ATTR.findall(element))
                targets[attrs.get("Id")] = attrs.get("Target", "")
            first = {}
            for element in re.findall(r"<sheet\b[^>]*>", book):
                attrs = dict(_XML_ATTR.findall(element))
                target = targets.get(attrs.get("r:id"), "")
                member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                with z.open(member) as fh:
                    found = _FIRST_VALUE_CELL.search(fh.read(4 << 20))
                if found:
                    first[html.unescape(attrs.get("name", ""))] = int(found.group(1))
            return first
    except Exception:  # noqa: BLE001 — only a row-number nicety: never a reason to fail
        return {}


def _cells(frame: pl.DataFrame) -> list[list[str]]:
    return [["" if v is None else str(v) for v in row] for row in frame.rows()]


@dataclass
class _Sheet:
    index: int
    name: str
    visible: bool
    first_row: int  # sheet row of the first row fastexcel gives
    head: list[list[str]]  # the first rows, as text
    header: int | None  # index in ``head`` of the claims header, if any


def _survey(reader: fastexcel.ExcelReader, first_rows: dict[str, int], vocabulary: Vocabulary) -> list[_Sheet]:
    sheets = []
    for index, sheet_name in enumerate(reader.sheet_names):
        loaded = reader.load_sheet(index, header_row=None, n_rows=SCAN_ROWS, dtypes="string")
        head = _cells(loaded.to_polars())
        visible = getattr(loaded, "visible", "visible") == "visible"
        sheets.append(_Sheet(index, sheet_name, visible, first_rows.get(sheet_name, 1), head, try_locate_header(head, vocabulary)))
    return sheets


def _header_key(sheet: _Sheet) -> list[str]:
    from medclaim.io.headers import normalise_header

    assert sheet.header is not None
    return [normalise_header(c) for c in sheet.head[sheet.header]]


def _choose_sheets(sheets: list[_Sheet], name: str, options: TableOptions) -> tuple[list[_Sheet], list[str]]:
    """The sheets to read and, for each other sheet, why it was not read."""
    names = ", ".join(f"'{s.name}'" for s in sheets)
    if options.sheet is not None:
        chosen = [s for s in sheets if s.name == options.sheet] or [s for s in sheets if s.name.strip() == options.sheet.strip()]
        if not chosen:
            raise InputFileError(name, f"--sheet '{options.sheet}': the workbook has no such sheet; its sheets are {names}")
        return chosen[:1], [f"{s.name} (not the --sheet asked for)" for s in sheets if s is not chosen[0]]
    holding = [s for s in sheets if s.header is not None]
    visible = [s for s in holding if s.visible]
    pick = visible or holding
    if not pick:
        return [next((s for s in sheets if s.visible), sheets[0])], []  # its header problem is reported
    first = pick[0]
    same = [s for s in pick if _header_key(s) == _header_key(first)]
    differing = [s for s in pick if s not in same]
    if differing:
        raise InputFileError(
            name,
            f"sheets '{first.name}' and '{differing[0].name}' both hold claims but under different headers; "
            f"settle them one at a time with --sheet NAME (sheets: {names})",
        )

    def why(s: _Sheet) -> str:
        if s.header is not None and not s.visible:
            return f"{s.name} (hidden; holds claims — read it with --sheet '{s.name}' if it is meant)"
        if not s.visible:
            return f"{s.name} (hidden)"
        return f"{s.name} (no claims header in its first {SCAN_ROWS} rows)" if any(map(any, s.head)) else f"{s.name} (empty)"

    return same, [why(s) for s in sheets if s not in same]


def load_excel(path: Path, name: str, options: TableOptions) -> list[RawTable]:
    """All cells as text: fastexcel renders numbers without '.0' (an id 123 stays '123') and
    date cells as 'YYYY-MM-DD HH:MM:SS', and no column is silently re-typed.  Empty rows are
    kept by fastexcel, so row numbers match the sheet (its first used row is found separately).

    The sheet read is the visible one whose header names the claim fields (a cover or notes
    sheet first is common; a hidden sheet is never preferred to a visible one), or every such
    sheet when several share one header (a month split over sheets), or ``--sheet``."""
    reader = fastexcel.read_excel(path)
    fmt = "xls" if path.suffix.lower() == ".xls" else "xlsx"
    if not reader.sheet_names:
        raise InputFileError(name, "the workbook has no sheets; export the claims again")
    first_rows = _first_used_rows(path) if fmt == "xlsx" else {}
    sheets, not_read = _choose_sheets(_survey(reader, first_rows, options.vocabulary), name, options)
    tables = []
    for sheet in sheets:
        table_name = name if len(sheets) == 1 else f"{name} [{sheet.name}]"
        frame = reader.load_sheet(sheet.index, header_row=None, dtypes="string").to_polars()
        if frame.height == 0:
            raise InputFileError(table_name, f"sheet '{sheet.name}' is empty; export the claims again")
        header = locate_header(_cells(frame.head(max(SCAN_ROWS, options.header_row or 0))), table_name,
                               options.vocabulary, forced=options.header_row, first_number=sheet.first_row)
        frame = frame.rename({c: column_name(i) for i, c in enumerate(frame.columns)})
        frame = frame.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64) - header.index).slice(header.index + 1)
        frame = _drop_positions(frame, blank_row_positions([frame[c] for c in frame.columns if c != "_row"]))

        def read(positions: list[int], frame: pl.DataFrame = frame) -> pl.DataFrame:
            return frame.select("_row", *(column_name(p) for p in positions))

        def row_texts(rows: list[int], frame: pl.DataFrame = frame) -> dict[int, list[str]]:
            picked = frame.filter(pl.col("_row").is_in(rows))
            return {row[0]: ["" if v is None else str(v) for v in row[1:]] for row in picked.rows()}

        tables.append(
            RawTable(
                labels=header.labels, read=read, format=fmt, headers=header.headers, name=table_name,
                header_row=header.number, title_rows=header.title_rows, sheet=sheet.name,
                sheets_not_read=tuple(not_read), row_texts=row_texts,
            )
        )
    return tables


# ---------------------------------------------------------------- Parquet


def load_parquet(path: Path, name: str, options: TableOptions) -> RawTable:
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

    def row_texts(rows: list[int]) -> dict[int, list[str]]:
        frame = scan.with_row_index("_row", offset=1).filter(pl.col("_row").is_in(rows)).collect()
        return {row[0]: ["" if v is None else str(v) for v in row[1:]] for row in frame.rows()}

    dtypes = {p: schema[label] for p, label in enumerate(labels)}
    headers = map_headers(labels, name, options.vocabulary)
    return RawTable(labels=labels, read=read, format="parquet", headers=headers, name=name, may_hide_invisible=False,
                    dtypes=dtypes, row_texts=row_texts)
