"""Read one file into a table of cells, by format (``load_table``).  No meaning is given to any
column here.

The formats live in ``source_csv``, ``source_excel`` and ``source_parquet``; what they share (the
``RawTable`` every loader returns, the row-number conventions) in ``table``.
"""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path

import polars as pl
import pyarrow as pa

from medclaim.io.errors import InputFileError
from medclaim.io.table import (  # noqa: F401 — the names callers import from here
    BATCH_ROWS,
    RawTable,
    TableOptions,
    check_regular_file,
    column_name,
    first_line,
)


#: File suffix → the module of ``medclaim.io`` that reads it: its ``load`` reads the file, its
#: ``READ_ERRORS`` are its library's errors that mean "cannot read the file" (besides OSError,
#: polars' and pyarrow's).
FORMATS = {
    ".csv": "source_csv", ".txt": "source_csv",
    ".xlsx": "source_excel", ".xlsm": "source_excel", ".xls": "source_excel",
    ".parquet": "source_parquet", ".pq": "source_parquet",
}


def load_table(path: Path, name: str, options: TableOptions | str | None = None) -> list[RawTable]:
    """Dispatch on the file extension; every failure to read becomes an InputFileError.  An
    Excel workbook may give several tables (sheets with the same header)."""
    if not isinstance(options, TableOptions):  # (an encoding given bare)
        options = TableOptions(encoding=options)
    check_regular_file(path, name)
    suffix = path.suffix.lower()
    module = FORMATS.get(suffix)
    if module is None:
        accepted = ", ".join(FORMATS)
        raise InputFileError(name, f"unknown file type '{suffix or '(none)'}'; save it as one of {accepted}")
    # a format's reader (and what it builds on: pyarrow's CSV reader, fastexcel) is imported when
    # a file of that format is read, not by every run
    source = importlib.import_module(f"medclaim.io.{module}")
    try:
        tables = source.load(path, name, options)
    except InputFileError:
        raise
    except (OSError, pl.exceptions.PolarsError, pa.ArrowException, zipfile.BadZipFile, *source.READ_ERRORS) as exc:
        kind = suffix[1:]
        raise InputFileError(
            name, f"cannot read the file as {kind} ({first_line(exc)}); check that it is complete and really a {kind} file"
        ) from exc
    return tables if isinstance(tables, list) else [tables]
