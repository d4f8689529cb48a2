"""CSV (and .txt) exports: encoding, header line, separator, ragged and damaged lines.

A file below ``csv_stream.STREAM_BYTES`` (and a large one whose repair needs it) is decoded and
cut into records whole (``pyarrow.csv``, ``load_whole_csv``): finding the header below title lines,
numbering records by physical line, telling a value spanning lines from an unclosed quote, and
rescuing trailing separators are decided on the whole text.  Its cells are then handed out batch
by batch (``RawTable.batches``), so only the requested columns of one batch are ever converted.
A larger file is read as a stream with the same answers (``csv_stream``), from the pieces here.
"""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from medclaim.io.errors import InputFileError
from medclaim.io.headerrow import SCAN_ROWS, HeaderRow, locate_header
from medclaim.io.table import RawTable, TableOptions, drop_positions, blank_row_positions, column_name

SEPARATORS = (",", "\t", ";", "|")  # candidates, sniffed from the header line

_UTF8_BOM = b"\xef\xbb\xbf"
INVISIBLE_UTF8 = (_UTF8_BOM, "\u200b".encode())  # BOM / zero-width space inside the data
MAX_COLUMNS = 4096  # more header cells than this is not a claims export
_RAW_LINE_CHARS = 400

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


#: The encoding plan of a file without a BOM or look of UTF-16: UTF-8 if all of it is valid, else GB18030.
AUTO = "utf-8, else gb18030"
_NOT_TEXT_HINT = None  # (the GB18030 guess failed too: the message says both were tried)


def encoding_plan(head: bytes, name: str, encoding: str | None) -> tuple[str, str | None]:
    """The encoding to decode a file with, judged from its first bytes (or ``encoding`` if given),
    and the advice for a file that turns out not to be valid in it.  ``AUTO``: strict UTF-8 (with
    or without BOM) if valid, else GB18030 (a superset of GBK / GB2312)."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise InputFileError(name, f"unknown encoding '{encoding}'; use e.g. utf-8 or gb18030") from exc
        return encoding, "check the encoding option (try utf-8 or gb18030)"
    resave = "export it again, or re-save it as UTF-8 CSV"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel "Unicode text" export
        return "utf-16", resave
    utf16 = _utf16_without_bom(head)
    if utf16:
        return utf16, resave
    return AUTO, _NOT_TEXT_HINT


def decode_error(name: str, encoding: str, start: int, size: int, hint: str | None) -> InputFileError:
    """The file is not valid ``encoding`` text at byte ``start`` (of ``size``)."""
    if hint is _NOT_TEXT_HINT:
        return InputFileError(
            name,
            f"neither UTF-8 nor GB18030/GBK text (bad byte at offset {start}); "
            "re-save the file as UTF-8 CSV or pass the right encoding",
        )
    odd = " (it has an odd number of bytes: the file is cut short)" if encoding.startswith("utf-16") and size % 2 else ""
    return InputFileError(name, f"not valid {encoding} text at byte {start}{odd}; {hint}")


def decode_to_utf8(data: bytes, name: str, encoding: str | None) -> tuple[bytes, str]:
    """Bytes as UTF-8 (no BOM) plus the encoding used (``encoding_plan``)."""
    used, hint = encoding_plan(data, name, encoding)
    if used == AUTO:
        if _is_utf8(data):
            return (data[len(_UTF8_BOM) :], "utf-8-sig") if data.startswith(_UTF8_BOM) else (data, "utf-8")
        used = "gb18030"
    try:
        text = data.decode(used)
    except UnicodeDecodeError as exc:
        raise decode_error(name, used, exc.start, len(data), hint) from exc
    return (text if hint is _NOT_TEXT_HINT else text.removeprefix("\ufeff")).encode("utf-8"), used


def sniff_separator(header_line: str) -> str:
    """The candidate separator that occurs most in the header line (comma on a tie or none)."""
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


@dataclass
class _Parsed:
    table: pa.Table  # every record with the header's field count, as text (record 1 = header)
    invalid: pl.DataFrame  # records with another field count: _record, _fields, _text


def parse_options(sep: str, on_invalid, *, newlines: bool) -> pacsv.ParseOptions:
    """How every CSV is cut into records: lenient about stray quotes, ragged lines reported to
    ``on_invalid`` (and skipped) instead of failing or truncating."""
    return pacsv.ParseOptions(
        delimiter=sep,
        quote_char='"',
        double_quote=True,
        newlines_in_values=newlines,
        ignore_empty_lines=False,  # keep blank lines so record numbers match lines
        invalid_row_handler=on_invalid,
    )


#: Every column as text (the checks parse them), empty cells as "" rather than null.
CONVERT_OPTIONS = pacsv.ConvertOptions(
    column_types={f"f{i}": pa.string() for i in range(MAX_COLUMNS)},
    strings_can_be_null=False,
    quoted_strings_can_be_null=False,
)


def invalid_frame(invalid: list[tuple[int | None, int, str]]) -> pl.DataFrame:
    """Records with another field count than the header's: _record, _fields, _text."""
    schema = {"_record": pl.Int64(), "_fields": pl.Int64(), "_text": pl.String()}
    return pl.DataFrame(invalid, schema=schema, orient="row")


#: Bytes parsed at a time by the whole-file read (pyarrow's own default).
WHOLE_BLOCK_BYTES = 1 << 20


def block_end(data: bytes, end: int) -> int:
    """Where a block of ``data[:end]`` may end: never between a CR and its LF.  pyarrow's parser
    drops the LF of a quoted value's CRLF when a block boundary splits the two (the value loses a
    line break, and every record after it is numbered a line too early)."""
    if 1 < end < len(data) and data[end - 1 : end + 1] == b"\r\n":
        return end - 1
    return end


class _Blocks:
    """``data`` as a file for ``pyarrow.csv.read_csv``, read in blocks that end where
    ``block_end`` allows."""

    closed = False

    def __init__(self, data: bytes):
        self._data, self._at = memoryview(data), 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def read(self, size: int = -1) -> bytes:
        rest = self._data[self._at :]
        end = len(rest) if size < 0 else block_end(rest, min(size, len(rest)))
        self._at += end
        return bytes(rest[:end])


def _parse_csv(data: bytes, sep: str, *, numbered: bool, newlines: bool = True) -> _Parsed:
    """Parse with pyarrow: lenient about stray quotes, and reports ragged lines instead of
    failing or truncating.  Record numbers of ragged lines are only known single-threaded."""
    invalid: list[tuple[int | None, int, str]] = []

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"  # kept aside and reported as a reject, never lost

    table = pacsv.read_csv(
        _Blocks(data),
        read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=not numbered, block_size=WHOLE_BLOCK_BYTES),
        parse_options=parse_options(sep, keep_invalid, newlines=newlines and b'"' in data),  # (only possible when something is quoted)
        convert_options=CONVERT_OPTIONS,
    )
    return _Parsed(table, invalid_frame(invalid))


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
    return swallows_records(table, sep)


def swallows_records(table: pa.Table, sep: str) -> bool:
    """Whether a value of ``table`` spans lines one of which looks like a whole record.  A value
    spanning lines is fine in a remarks column; one holding a line with (nearly) the header's
    separators is an unclosed quote that swallowed rows (and happened to end with the right count)."""
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


def cell_frame(piece: pa.Table, positions: list[int]) -> pl.DataFrame:
    """The requested columns of parsed records (``f<i>`` text columns and ``_row``) as
    ``c<position>`` columns and ``_row``, fully blank records dropped."""
    wanted = [f"f{p}" for p in positions]
    others = [c for c in piece.column_names if c not in (*wanted, "_row")]
    frame = pl.from_arrow(piece.select([*wanted, "_row"]), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.rename({f"f{p}": column_name(p) for p in positions})
    blank = blank_row_positions([frame[column_name(p)] for p in positions])
    if blank.len() and others:  # blank in the wanted columns: confirm on the others, those rows only
        rest = pl.from_arrow(piece.select(others).take(blank.to_arrow()))
        assert isinstance(rest, pl.DataFrame)
        blank = blank.gather(blank_row_positions(rest.get_columns()))
    return drop_positions(frame, blank)


def load_csv(path: Path, name: str, options: TableOptions) -> RawTable:
    """A CSV file's table: a large file is read as a stream (``csv_stream``) where that gives the
    same answers, anything else whole (``load_whole_csv``)."""
    from medclaim.io.csv_stream import load_streamed  # (it builds on this module)

    return load_streamed(path, name, options) or load_whole_csv(path, name, options)


def load_whole_csv(path: Path, name: str, options: TableOptions) -> RawTable:
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
    if width > MAX_COLUMNS:
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
        table = pa.concat_tables([table, rescued]).sort_by("_row")

    def batches(positions: list[int], size: int):
        for start in range(0, max(table.num_rows, 1), size):
            yield cell_frame(table.slice(start, size), positions)

    def row_texts(rows: list[int]) -> dict[int, list[str]]:
        picked = table.filter(pc.is_in(table["_row"], pa.array(rows, pa.int64())))
        return {r.pop("_row"): [str(v) for v in r.values()] for r in picked.to_pylist()}

    return RawTable(
        labels=labels,
        batches=batches,
        format="csv",
        headers=header.headers,
        name=name,
        encoding=used_encoding,
        bad_lines=describe_bad_lines(invalid, width, sep),
        may_hide_invisible=any(marker in data for marker in INVISIBLE_UTF8),
        header_row=header.number,
        title_rows=header.title_rows,
        row_texts=row_texts,
        rows=table.num_rows,
    )


def describe_bad_lines(invalid: pl.DataFrame, width: int, sep: str) -> pl.DataFrame:
    """BAD_LINE_SCHEMA rows, one per line that could not be cut into the header's columns (blank
    ragged lines left out: they are blank lines, not damage)."""
    invalid = invalid.filter(pl.col("_text").str.strip_chars(" \t\r\n\u3000" + sep) != "")
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


#: This format's entry in ``medclaim.io.sources.FORMATS``: its reader, and its library's "cannot read" errors.
load = load_csv
READ_ERRORS: tuple[type[Exception], ...] = ()
