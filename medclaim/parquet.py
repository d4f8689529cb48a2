"""How medclaim writes Parquet: one compression choice and one streaming writer for every ledger file.

Compression is chosen for speed (bench/README.md, "Parquet compression", has the measurements):
writing the ledger was half of a large run's time with zstd at its default level, and a ledger
is written once per run and read back rarely (explain reads one person, a report a few columns).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

#: Codec and level of every Parquet file medclaim writes (ledger parts, --out ledger, accumulator).
COMPRESSION = "lz4"
COMPRESSION_LEVEL: int | None = None


def codec(schema=None) -> dict:
    """pyarrow's keyword arguments for the chosen compression, and for ``schema`` (an Arrow
    schema) the columns worth a dictionary: text and dates.  A dictionary pays where values
    repeat (class, tier, place, rule set, dates); for the money columns pyarrow would build one,
    find it too large and fall back, a third of the write's time for a few per cent of size
    (bench/README.md, "Parquet compression")."""
    kw = {"compression": COMPRESSION, **({} if COMPRESSION_LEVEL is None else {"compression_level": COMPRESSION_LEVEL})}
    if schema is not None:
        import pyarrow as pa

        kw["use_dictionary"] = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_date(f.type)]
    return kw


def write_frame(frame: pl.DataFrame, path: Path) -> None:
    """A whole frame as one Parquet file, each column's unit in the metadata (``columns``)."""
    from .columns import write_parquet

    write_parquet(frame, path)


class ParquetStream:
    """A Parquet file written chunk by chunk (one row group per chunk) with fixed columns.

    ``schema`` fixes the columns and their order; a chunk lacking a column gets nulls (e.g. the
    cap running total of another period's rule set), a chunk with a column the schema lacks is a
    bug and refused.
    """

    def __init__(self, path: Path, schema: pl.Schema):
        import pyarrow.parquet as pq

        from .columns import arrow_schema

        self.path, self.schema, self.rows = path, schema, 0
        self.arrow_schema = arrow_schema(schema)  # each column's unit in the file's metadata
        self.writer = pq.ParquetWriter(path, self.arrow_schema, write_statistics=True, **codec(self.arrow_schema))

    def align(self, chunk: pl.DataFrame) -> pl.DataFrame:
        extra = set(chunk.columns) - set(self.schema)
        if extra:
            raise ValueError(f"ledger chunk has columns the ledger schema lacks: {sorted(extra)}")
        return chunk.select(
            [(pl.col(c) if c in chunk.columns else pl.lit(None)).cast(t).alias(c) for c, t in self.schema.items()]
        )

    def write(self, chunk: pl.DataFrame) -> pl.DataFrame:
        """Write ``chunk`` (aligned to the schema); returns the aligned chunk."""
        chunk = self.align(chunk)
        self.writer.write_table(chunk.to_arrow().cast(self.arrow_schema))
        self.rows += chunk.height
        return chunk

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        try:
            self.writer.close()
        except Exception:  # closing a half-written file may fail; it is deleted anyway
            pass
        self.path.unlink(missing_ok=True)

