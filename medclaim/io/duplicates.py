"""Duplicate settlement ids across all rows of all files of one run.

The rule does not depend on the order of files or rows:

* every row with that id carries the same canonical values and all of them pass their checks →
  the row first in (file name, row number) order is kept, the others are rejected as exact repeats;
* otherwise (values differ, or any copy is itself bad) → *none* is settled: rows that are fine on
  their own are rejected as duplicate_setl_id, rows with their own problem keep that reason and
  get a note about the duplicate.

Only rows whose id occurs more than once are examined (found by sorting id hashes, before the
rows are read: ``repeated_hashes``), so the check stays cheap on large runs.
"""

from __future__ import annotations

import polars as pl

from medclaim.schema import RejectReason

_MAX_LISTED = 3  # other occurrences named in a message before "and N more"

#: What ``find_duplicates`` returns for every row that shares its id with another row.
DUPLICATE_SCHEMA = {
    "_file": pl.Int64(),
    "_row": pl.Int64(),
    "_dup_reason": pl.String(),  # null for the kept copy and for rows with their own reason
    "_dup_message": pl.String(),  # message (dup reason) or note to append (own reason); null if kept
}


#: Seed of the settlement-id hash the duplicate check sorts.
_ID_SEED = 0


def id_hashes(ids: pl.Series) -> pl.Series:
    """64-bit hashes of the non-blank settlement ids (canonical text)."""
    return ids.filter(ids != "").hash(seed=_ID_SEED)


def is_repeated(ids: pl.Expr, repeated: pl.Series) -> pl.Expr:
    """Whether a row's id hash is one of ``repeated`` (never for a blank id)."""
    return (ids != "") & ids.hash(seed=_ID_SEED).is_in(repeated.implode())


def repeated_hashes(hashes: list[pl.Series]) -> pl.Series:
    """The id hashes that occur more than once over all files (``id_hashes`` of every batch).

    Only ids are looked at, as 64-bit hashes: sorting them is several times faster than hashing
    strings into a table, and 100 million of them take 800 MB.  A hash collision only makes two
    different ids candidates; the exact check on the (few) candidate rows drops it."""
    if not hashes:
        return pl.Series("h", [], pl.UInt64)
    ordered = pl.concat(hashes).sort()
    return ordered.filter(ordered == ordered.shift(1)).unique()


def find_duplicates(rows: pl.DataFrame, value_columns: list[str]) -> pl.DataFrame:
    """Decide every duplicated row.  ``rows`` holds only rows whose setl_id is duplicated, with
    _file (run order index), source_file, _row, _ok (passed its own checks) and the canonical
    ``value_columns``."""
    if rows.height == 0:
        return pl.DataFrame(schema=DUPLICATE_SCHEMA)
    group = pl.col("setl_id")
    # (file name, row) order, not run order: the kept copy must not depend on argument order.
    frame = rows.sort("setl_id", "source_file", "_row", "_file").with_columns(
        pl.concat_str([pl.col("source_file"), pl.lit(" row "), pl.col("_row").cast(pl.String)]).alias("_where"),
        pl.int_range(pl.len()).alias("_order"),
        (pl.struct(value_columns).n_unique().over(group) == 1).alias("_same"),
        pl.col("_ok").all().over(group).alias("_all_ok"),
    )
    frame = frame.with_columns(
        (pl.col("_same") & pl.col("_all_ok")).alias("_exact"),
        (pl.col("_order") == pl.col("_order").min().over(group)).alias("_first"),
        pl.col("_where").first().over(group).alias("_kept_where"),
    ).join(_other_copies(frame), on=["_file", "_row"], how="left")

    quoted_id = pl.concat_str([pl.lit("setl_id '"), pl.col("setl_id"), pl.lit("'")])
    repeat = pl.concat_str(
        [
            quoted_id,
            pl.lit(" is an exact repeat of "),
            pl.col("_kept_where"),
            pl.lit("; only that row is settled — delete this repeat"),
        ]
    )
    conflict = pl.concat_str(
        [
            quoted_id,
            pl.lit(" also appears in "),
            pl.col("_others"),
            pl.lit(" with different values; none of them is settled — keep one correct row and remove the others"),
        ]
    )
    note = pl.concat_str([pl.lit(" (also: "), quoted_id, pl.lit(" appears in "), pl.col("_others"), pl.lit(" too)")])
    is_repeat = pl.col("_exact") & ~pl.col("_first")
    is_conflict = ~pl.col("_exact") & pl.col("_ok")
    reason = pl.lit(RejectReason.DUPLICATE_SETL_ID.value)
    return frame.select(
        "_file",
        "_row",
        pl.when(is_repeat | is_conflict).then(reason).alias("_dup_reason"),
        pl.when(is_repeat).then(repeat).when(is_conflict).then(conflict).when(~pl.col("_ok")).then(note).alias("_dup_message"),
    )


def _other_copies(frame: pl.DataFrame) -> pl.DataFrame:
    """Per row: 'b.csv row 7, c.csv row 2 and 3 more' — the other rows with its setl_id, in
    (file name, row) order."""
    me = frame.select("setl_id", "_file", "_row", "_order")
    other = frame.select("setl_id", pl.col("_order").alias("_other_order"), pl.col("_where").alias("_other_where"))
    pairs = me.join(other, on="setl_id").filter(pl.col("_order") != pl.col("_other_order")).sort("_other_order")
    listed = pairs.group_by("_file", "_row").agg(
        pl.col("_other_where").head(_MAX_LISTED).str.join(", ").alias("_listed"), pl.len().cast(pl.Int64).alias("_count")
    )
    more = pl.col("_count") - _MAX_LISTED
    return listed.select(
        "_file",
        "_row",
        pl.when(more > 0)
        .then(pl.concat_str([pl.col("_listed"), pl.lit(" and "), more.cast(pl.String), pl.lit(" more")]))
        .otherwise(pl.col("_listed"))
        .alias("_others"),
    )
