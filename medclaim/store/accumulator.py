"""The accumulator: each person-year's running totals and last settled claim, late claims."""

from __future__ import annotations

import polars as pl

from ..engine import KEYS, late_claim, sorts_before
from ..person import person_hash, person_year_key, strictly_increasing

from .layout import LAST_COLUMNS


# ------------------------------------------------------------------ the accumulator


def ytd_columns(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    return [c for c in names if c.startswith("ytd_")]


def last_claims(entries: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Per person-year, the (enddate, begndate, setl_id) of its last settled claim (not reversals),
    whatever the order of ``entries``."""
    keys = list(LAST_COLUMNS.values())
    narrow = entries.lazy().filter(~pl.col("is_reversal")).select(KEYS + keys).collect()
    # sorting on a hash of the person id is much cheaper than on the string; a collision between
    # two people only interleaves their rows, each person-year's own rows stay in key order
    return (
        narrow.with_columns(_psn=person_hash(pl.col("psn_no")))
        .sort(["_psn", "year", *keys])
        .group_by(KEYS, maintain_order=True)
        .last()
        .drop("_psn")
        .rename({c: a for a, c in LAST_COLUMNS.items()})
    )


def accumulator_from_entries(entries: pl.LazyFrame) -> pl.DataFrame:
    """Rebuild the accumulator from the ledger: each person-year's running totals after its last
    entry (by ``entry_no``) and its last settled claim."""
    ytd = ytd_columns(entries)
    frame = entries.select(KEYS + ytd + ["entry_no"]).collect().sort("entry_no")
    closing = frame.group_by(KEYS).agg([pl.col(c).last().fill_null(0) for c in ytd])
    del frame
    return next_accumulator(None, closing.join(last_claims(entries), on=KEYS, how="left"))


def next_accumulator(old: pl.DataFrame | None, changed: pl.DataFrame, hashes: tuple[pl.Series, pl.Series] | None = None) -> pl.DataFrame:
    """The accumulator after a run.  A person-year the run settled nothing of keeps its row as it
    was; one it did takes its running totals from ``changed`` (``Settlement.changed``) and, as its
    last settled claim, the later of the old one and the run's (``changed``'s ``LAST_COLUMNS``;
    null where the run settled only reversals of it).

    No join: the old rows and the run's are sorted together by person hash, year and source
    (the run's after the old), so a person-year's old row, if any, comes just before its new
    one — which replaces it.  The result is in person-hash order (``person.ByPerson`` then slices
    it for each chunk instead of gathering); a running total one side lacks (another period's
    cap) is 0 there.

    When both sides are already in that order — as a month's run hands them over — the rows of
    the run find their old rows by binary search instead (``_merge_in_order``); ``hashes``: the
    person hashes of ``old`` and ``changed`` when the caller has them."""
    last = list(LAST_COLUMNS)
    ytd = sorted(set(ytd_columns(changed)) | set(ytd_columns(old) if old is not None else []))
    columns = KEYS + ytd + last
    if old is not None and old.height and changed.height:
        merged = _merge_in_order(_complete(old, ytd), _complete(changed, ytd), hashes, ytd, columns)
        if merged is not None:
            return merged
    frames = [changed.lazy().with_columns(_run=pl.lit(True))]
    if old is not None and old.height:
        frames.insert(0, old.lazy().with_columns(_run=pl.lit(False)))
    both = (
        pl.concat(frames, how="diagonal_relaxed")
        .with_columns(*[pl.lit(None, dtype=t).alias(a) for a, t in LAST_TYPES.items() if a not in _names(frames)])
        .with_columns(_psn=person_hash(pl.col("psn_no")))
    )
    merged = _replace_old_rows(both.sort("_psn", "year", "_run"), last)
    if merged.select(_collision()).item():  # two people share a hash: sort on the id itself
        merged = _replace_old_rows(both.sort("_psn", "psn_no", "year", "_run"), last)
    return merged.select([pl.col(c).fill_null(0) if c in ytd else pl.col(c) for c in columns])


def _complete(frame: pl.DataFrame, ytd: list[str]) -> pl.DataFrame:
    """``frame`` with every running total in ``ytd`` (0 where it lacks one) and the last-claim columns."""
    missing = [pl.lit(0, dtype=pl.Int64).alias(c) for c in ytd if c not in frame.columns]
    missing += [pl.lit(None, dtype=t).alias(a) for a, t in LAST_TYPES.items() if a not in frame.columns]
    return frame.with_columns(missing) if missing else frame


def _hashes(frame: pl.DataFrame) -> pl.Series:
    # (as an expression over the frame, so that a hash given as a constant broadcasts: the
    # collision tests replace ``person_hash`` by one)
    return frame.select(pl.col("psn_no")).with_columns(_psn=person_hash(pl.col("psn_no"))).get_column("_psn")


def _merge_in_order(old: pl.DataFrame, changed: pl.DataFrame, hashes: tuple[pl.Series, pl.Series] | None,
                    ytd: list[str], columns: list[str]) -> pl.DataFrame | None:
    """``next_accumulator`` of two sides each in strict (person hash, year) order: each row of the
    run finds the old row it replaces by binary search, the old rows left and the run's are put
    in order by one integer key.  The same rows in the same order as the sort-and-replace path;
    None (that path then runs) when a side is out of order or holds a key twice, or two people's
    hashes meet."""
    old_h, new_h = hashes if hashes is not None else (_hashes(old), _hashes(changed))
    old_key, new_key = person_year_key(old_h, old.get_column("year")), person_year_key(new_h, changed.get_column("year"))
    if not (strictly_increasing(old_key) and strictly_increasing(new_key)):
        return None
    last = list(LAST_COLUMNS)
    pos = old_key.search_sorted(new_key, side="left")  # where each run row's key is, or would be, among the old
    found = (pos < old.height) & (old_key.gather(pos.clip(upper_bound=old.height - 1)) == new_key)
    before = old.select("psn_no", *last).select(pl.all().gather(pos.clip(upper_bound=old.height - 1)))
    if (found & (before.get_column("psn_no") != changed.get_column("psn_no"))).any():
        return None  # two people share a hash and a year
    old_last = [f"{a}__old" for a in last]
    # the run's row keeps the old last claim unless its own is later (as ``_replace_old_rows``)
    take_run = pl.col(last[0]).is_not_null() & (pl.col(old_last[0]).is_null() | sorts_before(old_last, last))
    new = (
        changed.select(columns)
        .with_columns(*[pl.when(pl.lit(found)).then(pl.lit(before.get_column(a))).alias(o) for a, o in zip(last, old_last)])
        .with_columns([pl.when(take_run).then(pl.col(a)).otherwise(pl.col(o)).alias(a) for a, o in zip(last, old_last)])
        .select(columns)
        .with_columns(_k=new_key, _psn=new_h)
    )
    replaced = pl.zeros(old.height, dtype=pl.Boolean, eager=True).scatter(pos.filter(found), True)
    kept = old.select(columns).with_columns(_k=old_key, _psn=old_h).filter(~replaced)
    merged = pl.concat([kept, new], how="vertical_relaxed").sort("_k")
    if merged.select(_collision()).item():  # two people's hashes meet: the general path orders them by id
        return None
    return merged.select([pl.col(c).fill_null(0) if c in ytd else pl.col(c) for c in columns])


#: The types of ``LAST_COLUMNS`` (for an old accumulator or a run that lacks them).
LAST_TYPES = {"last_enddate": pl.Date, "last_begndate": pl.Date, "last_setl_id": pl.String}


def _names(frames: list[pl.LazyFrame]) -> set[str]:
    return set().union(*(f.collect_schema().names() for f in frames))


def _same_person_year(shift: int) -> pl.Expr:
    return ((pl.col("psn_no") == pl.col("psn_no").shift(shift)) & (pl.col("year") == pl.col("year").shift(shift))).fill_null(False)


def _collision() -> pl.Expr:
    """Rows of two people with the same hash next to each other (the order is then not by person)."""
    return ((pl.col("_psn") == pl.col("_psn").shift(1)) & (pl.col("psn_no") != pl.col("psn_no").shift(1))).any()


def _replace_old_rows(ordered: pl.LazyFrame, last: list[str]) -> pl.DataFrame:
    """Rows sorted by person, year and source: an old row followed by its person-year's new row is
    dropped; the new row keeps the old last claim unless its own is later."""
    old_last = [f"{a}__old" for a in last]
    after_old = pl.col("_run") & _same_person_year(1)
    take_run = pl.col(last[0]).is_not_null() & (pl.col(old_last[0]).is_null() | sorts_before(old_last, last))
    return (
        ordered.with_columns(
            [pl.when(after_old).then(pl.col(a).shift(1)).alias(o) for a, o in zip(last, old_last)],
            _replaced=~pl.col("_run") & _same_person_year(-1),
        )
        .with_columns([pl.when(take_run).then(pl.col(a)).otherwise(pl.when(after_old).then(pl.col(o)).otherwise(pl.col(a))).alias(a)
                       for a, o in zip(last, old_last)])
        .filter(~pl.col("_replaced"))
        .collect()
    )


def openings_from(acc: pl.DataFrame | None) -> pl.DataFrame | None:
    """An accumulator's rows as a run's openings: each person-year's running totals and, where
    the accumulator keeps it, its last settled claim — with which the engine flags late claims
    in the join that opens them (``engine.join_openings``)."""
    if acc is None:
        return None
    return acc.select(KEYS + ytd_columns(acc) + [c for c in LAST_COLUMNS if c in acc.columns])


def late_flag(ledger: pl.DataFrame, acc: pl.DataFrame | None) -> pl.DataFrame:
    """``late``: a claim that sorts before the person-year's last already-settled claim.  A ledger
    the engine flagged already (its openings carried the last claims: ``openings_from``) is
    returned as it is; this join serves an accumulator of an older version, without them."""
    if "late" in ledger.columns:
        return ledger
    if acc is None or "last_enddate" not in acc.columns or ledger.height == 0:
        return ledger.with_columns(late=pl.lit(False))
    flag = (
        ledger.lazy().select(KEYS + list(LAST_COLUMNS.values()) + ["is_reversal"])
        .join(acc.lazy().select(KEYS + list(LAST_COLUMNS)), on=KEYS, how="left", maintain_order="left")
        .select(late_claim(list(LAST_COLUMNS)))
        .collect()
    )
    return ledger.with_columns(flag["late"])


