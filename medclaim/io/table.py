"""The table of cells every loader returns (``RawTable``), and what all formats share.  No
meaning is given to any column here.

Every loader returns a ``RawTable``: the header labels, and ``batches(positions, size)``, which
yields just the requested columns (named ``c<position>``) plus ``_row``, a batch of rows at a time.  Asking for columns by position
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

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from medclaim.io.errors import InputFileError
from medclaim.io.headers import CLAIMS, HeaderMap, Vocabulary


#: Lines that could not be cut into the header's columns (CSV only).
BAD_LINE_SCHEMA = {"_row": pl.Int64(), "_raw": pl.String(), "_message": pl.String()}


@dataclass(frozen=True)
class TableOptions:
    """How to find the table in a file (``--encoding``, ``--header-row``, ``--sheet``, ``--columns``)."""

    encoding: str | None = None
    header_row: int | None = None  # 1-based line / sheet row of the header; found if None
    sheet: str | None = None  # Excel: read this sheet only
    vocabulary: Vocabulary = CLAIMS


#: Rows parsed and checked at a time: the raw text of a file never exists for whole columns
#: beyond what its format forces (Excel and a small or damaged CSV are loaded whole; Parquet and a
#: large CSV are read batch by batch).
BATCH_ROWS = 100_000

#: positions, batch size -> frames of "_row" + "c<pos>" columns, blank rows dropped, in row order
Batches = Callable[[list[int], int], Iterator[pl.DataFrame]]


@dataclass
class RawTable:
    labels: list[str]  # header cells as written
    batches: Batches  # the requested columns, batch by batch
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
    rows: int = 0  # data rows in the file (blank rows included): how large the input is before it is read

    @property
    def excel(self) -> bool:
        return self.format in ("xlsx", "xls")

    def read(self, positions: list[int]) -> pl.DataFrame:
        """Every row of the requested columns at once (small files: rosters, tests)."""
        frames = list(self.batches(positions, BATCH_ROWS))
        return pl.concat(frames) if len(frames) > 1 else frames[0]


def frame_batches(frame: pl.DataFrame, size: int) -> Iterator[pl.DataFrame]:
    """``frame`` in slices of ``size`` rows (at least one, possibly empty, slice)."""
    if frame.height == 0:
        yield frame
    for start in range(0, frame.height, size):
        yield frame.slice(start, size)


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


def drop_positions(frame: pl.DataFrame, positions: pl.Series) -> pl.DataFrame:
    if positions.len() == 0:
        return frame
    return frame.with_row_index("_pos").filter(~pl.col("_pos").is_in(positions.implode())).drop("_pos")

