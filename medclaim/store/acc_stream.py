"""The next accumulator written while a run settles, piece by piece, instead of after it.

The engine settles a run's claims in person-hash order, chunk by chunk, and the accumulator is
kept in that order.  So once a chunk is settled, every person-year whose hash lies below the
chunk's last person is final: the old accumulator's rows up to there and the chunk's closing
balances are merged (``next_accumulator`` on the two slices) and written as a row group of the
new accumulator file.  When the engine is done, only the rest of the old rows is left to copy:
the month's run no longer waits for the whole accumulator to be merged and written after its
last chunk (on a 1M-row accumulator: about a second's work).

A person's years may be split between two chunks (a chunk ends at a person-year), so the rows
of a chunk's last person wait for the next piece.  When the closings do not come in person-hash
order — two rule-set periods in one run, or a hash collision that made the engine sort on the
id — the stream gives up (``ok`` false) and the run merges the whole accumulator at the end as
before; nothing written by the stream is kept.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..overlap import BackgroundSink, enabled as overlap_enabled
from ..parquet import ParquetStream
from ..person import person_hash

from ..engine import KEYS

from .accumulator import LAST_TYPES, next_accumulator, ytd_columns


class AccumulatorStream:
    """Writes the accumulator after a run to ``tmp`` as the run's chunks are settled (``add``:
    each chunk's closing balances with its last claims, in settlement order)."""

    def __init__(self, tmp: Path, old: pl.DataFrame | None):
        self.tmp = tmp
        self.old = old
        self.hashes = person_hash(old.get_column("psn_no")) if old is not None else pl.Series(dtype=pl.UInt64)
        self.ok = old is None or self.hashes.is_sorted()  # (an accumulator of an older version may not be)
        self.pos = 0  # old rows before this are written
        self.carry: pl.DataFrame | None = None  # closing rows of the last person seen (its next year may follow)
        self.floor: int | None = None  # the hash of the carried person: what the next chunk may not go below
        self.stream: ParquetStream | None = None
        self.schema: pl.Schema | None = None  # the new accumulator's columns, fixed by the first chunk
        self.rows = 0
        self._background = BackgroundSink(self._add) if overlap_enabled() else None

    def add(self, closing: pl.DataFrame) -> None:
        """A chunk's closing balances (``Settlement.changed`` of the chunk), in settlement order."""
        if not self.ok or closing.height == 0:
            return
        if self._background is not None:
            self._background(closing)
        else:
            self._add(closing)

    def _add(self, closing: pl.DataFrame) -> None:
        if not self.ok:
            return
        hashes = person_hash(closing.get_column("psn_no"))
        if self.schema is None:
            ytd = sorted(set(ytd_columns(closing)) | set(ytd_columns(self.old) if self.old is not None else []))
            self.schema = pl.Schema({"psn_no": pl.String, "year": pl.Int32, **{c: pl.Int64 for c in ytd}, **LAST_TYPES})
        if (not hashes.is_sorted() or (self.floor is not None and hashes[0] < self.floor)
                or not set(ytd_columns(closing)) <= set(self.schema) or self._again(closing, hashes)):
            self.ok = False  # not in person-hash order (two rule periods): the run merges the whole accumulator instead
            return
        pending = closing if self.carry is None else pl.concat([self.carry, closing], how="diagonal_relaxed")
        # (the carried rows are all of one person: the floor's hash)
        pending_hashes = hashes if self.carry is None else pl.concat([pl.repeat(self.floor, self.carry.height, dtype=hashes.dtype, eager=True), hashes])
        top = hashes[-1]
        keep_back = pending_hashes == top
        self.carry, self.floor = pending.filter(keep_back), top
        self._write(pending.filter(~keep_back), int(self.hashes.search_sorted(top, side="left")) if self.old is not None else 0,
                    pending_hashes.filter(~keep_back))

    def _again(self, closing: pl.DataFrame, hashes: pl.Series) -> bool:
        """Whether ``closing`` holds a person-year the carried rows hold (a second rule period)."""
        if self.carry is None or hashes[0] != self.floor:
            return False
        return closing.filter(hashes == self.floor).join(self.carry, on=KEYS, how="semi").height > 0

    def _write(self, changed: pl.DataFrame, upto: int, hashes: pl.Series | None = None) -> None:
        """Merge the old rows up to ``upto`` with ``changed`` (``hashes``: its person hashes, when
        known) and write them."""
        old = self.old.slice(self.pos, upto - self.pos) if self.old is not None else None
        known = (self.hashes.slice(self.pos, upto - self.pos), hashes) if old is not None and hashes is not None else None
        self.pos = upto
        if changed.height == 0 and (old is None or old.height == 0):
            return
        piece = next_accumulator(old, changed, known)
        piece = piece.select([pl.col(c) if c in piece.columns else pl.lit(0 if c.startswith("ytd_") else None, dtype=t).alias(c)
                              for c, t in self.schema.items()])
        if self.stream is None:
            self.stream = ParquetStream(self.tmp, piece.schema)
        self.stream.write(piece)
        self.rows += piece.height

    def finish(self) -> int | None:
        """Write what is left (the carried person, the old rows after it) and close the file;
        the rows written, or None when the stream gave up (the file is then removed)."""
        if self._background is not None:
            self._background.drain()
            self._background.stop()
        if self.schema is None:  # no chunk came
            self.ok = False
        if self.ok:
            end = self.old.height if self.old is not None else 0
            if self.carry is not None or end > self.pos:
                self._write(self.carry if self.carry is not None else pl.DataFrame(schema=self.schema), end)
        if not self.ok or self.stream is None:
            self.abort()
            return None
        self.stream.close()
        return self.rows

    def abort(self) -> None:
        if self._background is not None:
            self._background.stop()
        if self.stream is not None:
            self.stream.abort()  # (removes the file)
            self.stream = None
        self.tmp.unlink(missing_ok=True)
