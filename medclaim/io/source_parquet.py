"""Parquet files: only the recognised columns are read, in row batches.

Typed columns keep their dtype; the parsers handle Int / Decimal / Float / Date natively.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from medclaim.io.headers import map_headers
from medclaim.io.table import RawTable, TableOptions, column_name

PARQUET_SUFFIXES = (".parquet", ".pq")


def load_parquet(path: Path, name: str, options: TableOptions) -> RawTable:
    """Only the recognised columns are ever read (personal columns stay on disk), one row batch
    at a time (``ParquetFile.iter_batches``): a file larger than memory is read as easily as a
    small one.  Parquet comes from programs, not from typing: cells are not searched for a stray
    BOM, and no row is skipped as blank (a row of nulls is data, and gets rejected)."""
    scan = pl.scan_parquet(path)
    schema = scan.collect_schema()
    labels = list(schema.names())
    with pq.ParquetFile(path) as f:
        rows = f.metadata.num_rows

    def batches(positions: list[int], size: int) -> Iterator[pl.DataFrame]:
        names = {labels[p]: column_name(p) for p in positions}
        dtypes = {column_name(p): schema[labels[p]] for p in positions}
        first = 1
        with pq.ParquetFile(path) as f:
            for batch in f.iter_batches(batch_size=size, columns=list(names)):
                frame = pl.from_arrow(batch, rechunk=False)
                assert isinstance(frame, pl.DataFrame)
                # the dtypes the header mapping was decided on (e.g. a dictionary column as text)
                frame = frame.rename(names).cast(dtypes)  # type: ignore[arg-type]
                yield frame.select(pl.int_range(first, first + frame.height, dtype=pl.Int64).alias("_row"), *dtypes)
                first += frame.height
        if first == 1:
            yield pl.DataFrame(schema={"_row": pl.Int64, **dtypes})

    def row_texts(rows: list[int]) -> dict[int, list[str]]:
        frame = scan.with_row_index("_row", offset=1).filter(pl.col("_row").is_in(rows)).collect()
        return {row[0]: ["" if v is None else str(v) for v in row[1:]] for row in frame.rows()}

    dtypes = {p: schema[label] for p, label in enumerate(labels)}
    headers = map_headers(labels, name, options.vocabulary)
    return RawTable(labels=labels, batches=batches, format="parquet", headers=headers, name=name, may_hide_invisible=False,
                    dtypes=dtypes, row_texts=row_texts, rows=rows)
