"""Moving frames between Spark and polars: schemas, Arrow batches, the canonical claim columns.

Spark hands a partition to Python as Arrow record batches and takes Arrow batches back; polars
reads and writes Arrow without copying.  Only the types a ledger uses are mapped; anything else
is a bug to report, never a silent conversion.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import polars as pl
import pyarrow as pa

#: polars dtype → (Spark DDL type, Arrow type Spark expects back)
_TYPES: dict[type[pl.DataType], tuple[str, pa.DataType]] = {
    pl.Int64: ("bigint", pa.int64()),
    pl.Int32: ("int", pa.int32()),
    pl.Int16: ("smallint", pa.int16()),
    pl.Int8: ("tinyint", pa.int8()),
    pl.Boolean: ("boolean", pa.bool_()),
    pl.Date: ("date", pa.date32()),
    pl.String: ("string", pa.string()),
}


def _mapped(name: str, dtype: pl.DataType) -> tuple[str, pa.DataType]:
    try:
        return _TYPES[type(dtype)]
    except KeyError:
        raise TypeError(f"column {name}: {dtype} has no Spark counterpart in medclaim.spark.frames") from None


def spark_ddl(schema: pl.Schema | dict[str, pl.DataType]) -> str:
    """The Spark DDL schema string (``a bigint, b string``) of a polars schema."""
    return ", ".join(f"`{name}` {_mapped(name, t)[0]}" for name, t in schema.items())


def arrow_schema(schema: pl.Schema | dict[str, pl.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, _mapped(name, t)[1]) for name, t in schema.items()])


def from_batches(batches: Iterable[pa.RecordBatch]) -> pl.DataFrame:
    """A whole partition as one polars frame (its persons are settled together)."""
    batches = list(batches)
    if not batches:
        return pl.DataFrame()
    return pl.from_arrow(pa.Table.from_batches(batches), rechunk=False)


def to_batches(frame: pl.DataFrame, schema: pa.Schema, rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """``frame`` as Arrow batches of exactly ``schema`` (columns it lacks come as nulls)."""
    missing = [f.name for f in schema if f.name not in frame.columns]
    if missing:
        frame = frame.with_columns([pl.lit(None).alias(c) for c in missing])
    table = frame.select(schema.names).to_arrow().cast(schema)
    yield from table.to_batches(max_chunksize=rows)

