"""Read one file into a table of cells, by format (``load_table``).  No meaning is given to any
column here.

The formats live in ``source_csv``, ``source_excel`` and ``source_parquet``; what they share (the
``RawTable`` every loader returns, the row-number conventions) in ``table``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import fastexcel
import polars as pl
import pyarrow as pa

from medclaim.io.errors import InputFileError
from medclaim.io.source_csv import CSV_SUFFIXES, load_csv
from medclaim.io.source_excel import EXCEL_SUFFIXES, load_excel
from medclaim.io.source_parquet import PARQUET_SUFFIXES, load_parquet
from medclaim.io.table import (  # noqa: F401 — the names callers import from here
    BATCH_ROWS,
    RawTable,
    TableOptions,
    check_regular_file,
    column_name,
    first_line,
)


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
