"""Large CSV (and .txt) files read as a stream, so that reading keeps memory bounded.

A file of at least ``STREAM_BYTES`` (``$MEDCLAIM_CSV_STREAM_BYTES``) is never held whole: its
encoding is judged and its header found from its first lines (as ``source_csv`` does with the
whole text), then the text from the header on is decoded block by block (``csv_text``; ``BLOCK_BYTES``,
``$MEDCLAIM_CSV_BLOCK_BYTES``) and cut into records by ``pyarrow.csv.open_csv`` — the same parser
with the same options as the whole-file read.  Every answer is the same as reading the file
whole:

* a first pass (``_survey``) reads every record once: it finds the lines that cannot be cut into
  the header's columns (with their physical line numbers), counts the rows, and checks, over the
  whole text, what the whole-file read decides on the whole text: whether the file is valid UTF-8
  (else it is GB18030, read again as such), whether a bare carriage return or an unclosed quote
  damaged the line structure, whether ragged lines with trailing separators are the file's
  convention;
* each ``RawTable.batches`` call is one more pass, batch by batch: a record's physical line is its
  record number plus the line breaks inside quoted values before it, counted as the pass goes
  (``_Lines``);
* ``RawTable.row_texts`` (the footer candidates' cells) answers from the rows a pass kept aside
  because their settlement-id cell is blank or holds a 合计-like word, and reads the file again
  for any other row asked for.

Where the stream cannot give the whole-file read's answer without the whole text — a file whose
line structure is damaged (read line by line, ``source_csv._by_line``), whose ragged lines are
rescued as trailing separators, whose record is longer than a block, or whose first lines are
blank — the file is read whole, as a smaller file is.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from medclaim.io.errors import InputFileError
from medclaim.io.headerrow import SCAN_ROWS, HeaderRow
from medclaim.io.source_csv import (
    AUTO,
    CONVERT_OPTIONS,
    MAX_COLUMNS,
    _csv_header,
    _is_utf8,
    cell_frame,
    describe_bad_lines,
    encoding_plan,
    invalid_frame,
    parse_options,
    swallows_records,
)
from medclaim.io.csv_text import TextPlan, Utf8Text, utf8_cut
from medclaim.io.spill import rows_from_env
from medclaim.io.table import RawTable, TableOptions

#: Files of at least this many bytes are streamed; smaller ones are read whole (memory is no concern).
STREAM_BYTES = 64 << 20
STREAM_BYTES_ENV = "MEDCLAIM_CSV_STREAM_BYTES"
#: Bytes decoded and parsed at a time (a record may not be longer).  pyarrow's streaming reader
#: holds several blocks and their columns: 1 MiB blocks keep it near 100 MB, 16 MiB near 500 MB.
BLOCK_BYTES = 1 << 20
BLOCK_BYTES_ENV = "MEDCLAIM_CSV_BLOCK_BYTES"
_HEAD_BYTES = 1 << 20  # read for the header at first (more if its lines are longer)
_KEPT_ROWS = 20_000  # footer-candidate rows kept aside per pass at most (more: read again when asked)
_UTF8_BOM = codecs.BOM_UTF8
_BLANKS = "[\\s\ufeff\u200b]"  # white space, BOM, zero-width space


def stream_bytes() -> int:
    return rows_from_env(STREAM_BYTES_ENV, STREAM_BYTES, "bytes")


def block_bytes() -> int:
    return rows_from_env(BLOCK_BYTES_ENV, BLOCK_BYTES, "bytes")


# ---------------------------------------------------------------- physical lines


class _Lines:
    """Physical line numbers of records met in order.  A record's line is its record number
    plus the line breaks inside the records before it (``source_csv._physical_rows``, batch by
    batch).  ``invalid``: the ragged records' numbers and line breaks, in order."""

    def __init__(self, invalid_records: pl.Series | None = None, invalid_breaks: pl.Series | None = None):
        self._records = _NONE if invalid_records is None else invalid_records.cast(pl.Int64)
        self._breaks = _NONE if invalid_breaks is None else invalid_breaks.cast(pl.Int64)
        self._next = 1  # next record number
        self._before = 0  # line breaks inside all records before it

    def add(self, invalid_records: pl.Series, invalid_breaks: pl.Series) -> None:
        """More invalid records (after those given before), as a pass meets them."""
        self._records = pl.concat([self._records, invalid_records.cast(pl.Int64)])
        self._breaks = pl.concat([self._breaks, invalid_breaks.cast(pl.Int64)])

    def place(self, breaks: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Lines of a batch's valid records (``breaks``: the line breaks inside each), and of
        the invalid records among or before them (all that are left, if ``breaks`` is empty)."""
        n, records = breaks.len(), self._records
        between = records - self._next - _count(records.len())  # valid records before each invalid one
        before = between.search_sorted(_count(n), side="right").cast(pl.Int64)  # invalid records before each valid one
        invalid_sums = pl.concat([_ZERO, self._breaks.cum_sum()])
        valid_sums = pl.concat([_ZERO, breaks.cast(pl.Int64).cum_sum()])
        lines = self._next + _count(n) + before + self._before + valid_sums.head(n) + invalid_sums.gather(before)
        passed = int(before[-1] if n else between.search_sorted(0, side="right"))  # (those before the next valid one)
        invalid_lines = (records.head(passed) + self._before + valid_sums.gather(between.head(passed))
                         + invalid_sums.head(passed))  # fmt: skip
        if n:
            self._next = int(self._next + n - 1 + before[-1]) + 1
        else:  # (a block of ragged records only)
            self._next += passed
        self._before += int(valid_sums[-1] + invalid_sums[passed])
        self._records, self._breaks = records.slice(passed), self._breaks.slice(passed)
        return lines, invalid_lines


_NONE = pl.Series([], dtype=pl.Int64)
_ZERO = pl.Series([0], dtype=pl.Int64)


def _count(n: int) -> pl.Series:
    return pl.int_range(0, n, dtype=pl.Int64, eager=True)


def _text_breaks(invalid: pl.DataFrame) -> pl.Series:
    return invalid["_text"].str.count_matches("\n", literal=True).cast(pl.Int64)


def _line_breaks(batch: pa.RecordBatch) -> pl.Series:
    """Line breaks inside each record (all its cells)."""
    total = pa.nulls(batch.num_rows, pa.int32()).fill_null(0)
    for column in batch.columns:  # (counted in Arrow: the cells are not converted)
        total = pc.add(total, pc.count_substring(column, "\n"))
    return pl.Series(total).cast(pl.Int64)


# ---------------------------------------------------------------- the stream


@dataclass
class _Head:
    plan: TextPlan
    offset: int  # byte of the header line in the UTF-8 text
    header: HeaderRow
    sep: str


@dataclass
class _Survey:
    labels: list[str]
    width: int
    rows: int  # data records with the header's field count
    invalid: pl.DataFrame  # _record, _fields, _text, _row
    spans: bool  # some value spans lines (count line breaks in each pass)
    header_end: int  # physical line where the header record ends
    invisible: bool
    kept: dict[int, list[str]] = field(default_factory=dict)


class _Whole(Exception):
    """The stream cannot give the whole-file read's answer: read the file whole."""


def load_streamed(path: Path, name: str, options: TableOptions) -> RawTable | None:
    """The table of a large CSV file read as a stream, or None when it is small or must be
    read whole (see the module's doc)."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size < stream_bytes():
        return None
    chunk = block_bytes()
    try:
        head = _head(path, name, options, chunk)
        survey = _survey(path, name, head, chunk)
        if survey is None:  # not UTF-8 after all: the GB18030 guess, from the header on
            head = _head(path, name, options, chunk, TextPlan("gb18030", None))
            survey = _survey(path, name, head, chunk)
            assert survey is not None
    except _Whole:
        return None
    return _table(path, name, head, survey, chunk)


def _head(path: Path, name: str, options: TableOptions, chunk: int, plan: TextPlan | None = None) -> _Head:
    """The encoding plan and the header, from the first lines of the file."""
    wanted = max(SCAN_ROWS, options.header_row or 0)
    with open(path, "rb") as f:
        first = f.read(_HEAD_BYTES)
    if plan is None:
        plan = TextPlan(*encoding_plan(first, name, options.encoding))
        if plan.encoding == AUTO:
            bom = len(_UTF8_BOM) if first.startswith(_UTF8_BOM) else 0
            if not _is_utf8(first[: utf8_cut(first)]):
                plan = TextPlan("gb18030", None)
            else:
                plan = TextPlan(AUTO, None, bom)
    size, text = _HEAD_BYTES, b""
    while True:
        with Utf8Text(path, name, plan, 0, chunk, watch=plan.encoding == AUTO) as stream:
            text = stream.read(size)
            ended, error, not_utf8 = stream.at_end, stream.error, stream.not_utf8
        if error is not None:
            raise error
        if not_utf8:  # (e.g. a file cut short inside a character): the GB18030 guess
            plan = TextPlan("gb18030", None)
            continue
        if ended or text.count(b"\n") >= wanted:
            break
        size *= 4
    if not text or text.isspace():  # (the whole read says whether the file is empty)
        raise _Whole
    try:
        offset, header, sep = _csv_header(text, name, options)
    except InputFileError:
        _check_all(path, name, plan, chunk)  # a damaged encoding later in the file is said first, as whole
        raise
    return _Head(plan, offset, header, sep)


def _check_all(path: Path, name: str, plan: TextPlan, chunk: int) -> None:
    """Decode the whole file; raise what the whole-file read would raise first."""
    if plan.encoding == AUTO:
        with Utf8Text(path, name, plan, 0, chunk, watch=True) as stream:
            while stream.read(chunk):
                pass
            if not stream.not_utf8:
                return
        plan = TextPlan("gb18030", None)
    with Utf8Text(path, name, plan, 0, chunk) as stream:
        while stream.read(chunk):
            pass
        if stream.error is not None:
            raise stream.error


def _source(path: Path, name: str, head: _Head, chunk: int, survey: _Survey) -> Utf8Text | pa.NativeFile:
    """The text from the header on, for a pass after the survey.  A UTF-8 file whose values span
    no lines is read by pyarrow itself (its blocks may then end anywhere: the CR and LF they could
    split are between records)."""
    if head.plan.encoding != AUTO or survey.spans:
        return Utf8Text(path, name, head.plan, head.offset, chunk)
    native = pa.OSFile(str(path))
    native.seek(head.plan.bom + head.offset)
    return native


def _reader(stream: Utf8Text | pa.NativeFile, sep: str, chunk: int, on_invalid, *, threads: bool) -> pacsv.CSVStreamingReader:
    return pacsv.open_csv(
        stream,
        read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=threads, block_size=chunk),
        parse_options=parse_options(sep, on_invalid, newlines=True),  # (the same cut as without quotes, if none)
        convert_options=CONVERT_OPTIONS,
    )


class _Ragged(Exception):
    """A ragged record met by a survey on several threads, which cannot number it."""


def _survey(path: Path, name: str, head: _Head, chunk: int) -> _Survey | None:
    """Read every record once (see the module's doc).  None: the file is not UTF-8 after all.
    On several threads first; a file with ragged records again on one, which numbers them."""
    try:
        return _survey_once(path, name, head, chunk, threads=True)
    except _Ragged:
        return _survey_once(path, name, head, chunk, threads=False)


def _survey_once(path: Path, name: str, head: _Head, chunk: int, *, threads: bool) -> _Survey | None:
    invalid: list[tuple[int | None, int, str]] = []

    def keep_invalid(row: pacsv.InvalidRow) -> str:
        if threads:
            invalid.append((None, 0, ""))
            return "error"  # (stops the parse: see _survey)
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"

    labels: list[str] | None = None
    rows, spans, header_end, told = 0, False, 1, 0
    lines = _Lines()
    placed: list[pl.Series] = []  # the invalid records' lines

    def tell_lines() -> None:
        nonlocal told
        if threads and invalid:
            raise _Ragged
        new = invalid_frame(invalid[told:])
        told = len(invalid)
        lines.add(new["_record"], _text_breaks(new))

    with Utf8Text(path, name, head.plan, head.offset, chunk, watch=True) as stream:
        try:
            for batch in _reader(stream, head.sep, chunk, keep_invalid, threads=threads):
                breaks = _line_breaks(batch)
                if labels is None:
                    labels = [str(v) for v in batch.slice(0, 1).to_pylist()[0].values()]
                    if batch.num_columns > MAX_COLUMNS:
                        raise InputFileError(
                            name, f"the header has {batch.num_columns} columns; this does not look like a claims export (check the separator)"
                        )
                    header_end = 1 + int(breaks[0])  # (the header may itself span lines)
                if breaks.max() or 0:
                    spans = True
                    if swallows_records(pa.Table.from_batches([batch]), head.sep):
                        raise _Whole
                tell_lines()
                placed.append(lines.place(breaks)[1])
                rows += batch.num_rows
        except pa.ArrowException:
            if threads and invalid:
                raise _Ragged from None
            if stream.error is None and not stream.not_utf8:
                raise _Whole from None  # e.g. a record longer than a block: an unclosed quote ran on
        if stream.error is not None:
            raise stream.error
        if stream.not_utf8:
            return None
        if stream.bare_cr and stream.lf:
            raise _Whole  # line damage: read line by line, whole
        invisible = stream.invisible
    pa.default_memory_pool().release_unused()
    assert labels is not None  # (the header line is there: it was found)
    tell_lines()
    placed.append(lines.place(_NONE)[1])  # the invalid records after the last valid one
    bad = invalid_frame(invalid)
    if bad.height and bad["_text"].str.contains("\n", literal=True).any():
        raise _Whole  # an unclosed quote ran over the following lines
    width = len(labels)
    if bad.filter(pl.col("_fields") > width).height > rows - 1:
        raise _Whole  # trailing separators are the file's convention: rescued on the whole text
    bad = bad.with_columns((pl.concat(placed) - header_end).alias("_row"))
    return _Survey(labels, width, rows - 1, bad, spans, header_end, invisible)


def _table(path: Path, name: str, head: _Head, survey: _Survey, chunk: int) -> RawTable:
    invalid_records, invalid_breaks = survey.invalid["_record"], _text_breaks(survey.invalid)
    setl = head.header.headers.columns.get("setl_id")

    def pieces() -> Iterator[pa.Table]:
        """Every data record with its ``_row``, in order."""
        lines = _Lines(invalid_records, invalid_breaks)
        first = True
        with _source(path, name, head, chunk, survey) as stream:
            # single-threaded when there are ragged records: their numbers place the others
            for batch in _reader(stream, head.sep, chunk, lambda row: "skip", threads=survey.invalid.height == 0):
                breaks = _line_breaks(batch) if survey.spans else pl.repeat(0, batch.num_rows, dtype=pl.Int64, eager=True)
                rows, _ = lines.place(breaks)
                piece = pa.Table.from_batches([batch]).append_column("_row", (rows - survey.header_end).to_arrow())
                if first:
                    piece, first = piece.slice(1), False
                yield piece
            if getattr(stream, "error", None) is not None:
                raise stream.error
        pa.default_memory_pool().release_unused()  # (the pass's blocks: give them back before the next step)

    def keep_aside(piece: pa.Table) -> None:
        """Rows whose settlement-id cell is blank or holds a 合计-like word: the footer candidates
        (``footers.is_candidate``) are among them, and ``row_texts`` is asked for those."""
        if setl is None or len(survey.kept) >= _KEPT_ROWS:
            return
        cells = pl.Series(piece[f"f{setl}"]).str.replace_all(_BLANKS, "")
        maybe = (cells == "") | cells.str.contains("计", literal=True)
        if maybe.any():
            for row in piece.filter(maybe.to_arrow()).to_pylist()[: _KEPT_ROWS - len(survey.kept)]:
                at = row.pop("_row")  # (before the cells are listed)
                survey.kept[at] = [str(v) for v in row.values()]

    def batches(positions: list[int], size: int) -> Iterator[pl.DataFrame]:
        """The parser's blocks gathered into batches of ``size`` rows (the last one may be short)."""
        survey.kept = {}
        given, held, empty = 0, [], None
        for piece in pieces():
            keep_aside(piece)
            held.append(piece)
            empty = piece.slice(0, 0)
            while sum(p.num_rows for p in held) >= size:
                gathered = pa.concat_tables(held)
                held = [gathered.slice(size)]
                given += 1
                yield cell_frame(gathered.slice(0, size), positions)
        rest = pa.concat_tables(held) if held else None
        if rest is not None and (rest.num_rows or not given):
            yield cell_frame(rest, positions)
        elif not given:
            assert empty is not None  # (the header record's block)
            yield cell_frame(empty, positions)

    def row_texts(rows: list[int]) -> dict[int, list[str]]:
        found = {r: survey.kept[r] for r in rows if r in survey.kept}
        missing = [r for r in rows if r not in found]
        if missing:
            wanted = pa.array(missing, pa.int64())
            for piece in pieces():
                picked = piece.filter(pc.is_in(piece["_row"], wanted))
                found.update({r.pop("_row"): [str(v) for v in r.values()] for r in picked.to_pylist()})
        return found

    return RawTable(
        labels=survey.labels,
        batches=batches,
        format="csv",
        headers=head.header.headers,
        name=name,
        encoding=head.plan.reported,
        bad_lines=describe_bad_lines(survey.invalid, survey.width, head.sep),
        may_hide_invisible=survey.invisible,
        header_row=head.header.number,
        title_rows=head.header.title_rows,
        row_texts=row_texts,
        rows=survey.rows,
    )
