"""The enrollment roster (参保登记): who is enrolled, with which identity on which date, since when.

A roster file (CSV in UTF-8 or GBK, Excel, Parquet — read like a claims extract) has one row per
person and identity period: person number, identity with its ``from``/``to`` dates, enrollment
and payment dates, and optionally birth date and end of coverage (death, leaving).  Name and
ID-card columns may be there; they are never read.

``apply_roster(claims, roster, rs)`` is the one entry point every command uses (settle, explain,
audit, the ledger): for each claim it looks up, by a vectorized as-of join on person and date,

* the identity in force on the claim's date (the rule set's date basis): the roster wins over the
  claim row; a claim row that carries another identity is flagged ``identity_mismatch``;
* the benefit start, from the rule set's ``enrollment`` rules (collection period, late enrollment
  with an optional waiting period, newborns covered from birth when enrolled in time);
* the end of coverage; and whether the person is on the roster at all (``enrolled``: a claim of a
  person who is not is rejected as ``not_enrolled``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .io.errors import InputFileError
from .io.headers import Vocabulary, normalise_header
from .io.parse import clean_text, needs_text, parse_date_text, parse_date_typed, parse_id
from .io.sources import TableOptions, column_name, load_table
from .rules import RuleSet

#: roster field -> accepted headers (national-style code first, then Chinese, then English).
ROSTER_ALIASES: dict[str, tuple[str, ...]] = {
    "psn_no": ("psn_no", "人员编号", "个人编号", "person_id", "person_no"),
    "psn_idet_type": ("psn_idet_type", "人员身份类别", "救助对象类别", "特殊人员类型", "身份类别", "人员身份", "identity"),
    "idet_begndate": ("idet_begndate", "身份开始日期", "身份认定日期", "认定日期", "identity_from", "identity_start"),
    "idet_enddate": ("idet_enddate", "身份结束日期", "身份终止日期", "退出日期", "identity_to", "identity_end"),
    "insu_date": ("insu_date", "参保日期", "参保登记日期", "登记日期", "enrollment_date", "enrolled_on"),
    "pay_date": ("pay_date", "缴费日期", "缴费时间", "到账日期", "payment_date", "paid_on"),
    "birth_date": ("brdy", "出生日期", "birth_date", "date_of_birth"),
    "coverage_end": ("coverage_end", "终止日期", "停保日期", "待遇终止日期", "死亡日期", "end_of_coverage"),
}
ROSTER_REQUIRED = ("psn_no",)
DATE_FIELDS = ("idet_begndate", "idet_enddate", "insu_date", "pay_date", "birth_date", "coverage_end")
_LOOKUP = {normalise_header(a): f for f, aliases in ROSTER_ALIASES.items() for a in aliases}
#: how the claims reader finds a roster's header row (title rows, footers, sheets: as for claims)
ROSTER = Vocabulary(ROSTER_ALIASES, ROSTER_REQUIRED, what="roster")

ROSTER_SCHEMA = {
    "psn_no": pl.String,
    "psn_idet_type": pl.String,
    **{f: pl.Date for f in DATE_FIELDS},
    "source_file": pl.String,
    "source_row": pl.Int64,
}
#: far-off bounds for an open identity period
_OPEN_FROM, _OPEN_TO = dt.date(1900, 1, 1), dt.date(9999, 12, 31)


class RosterError(InputFileError):
    """A roster that cannot be used as it is (a missing column, an unreadable date, overlapping
    identity periods): the run stops before anything is settled, naming file, row and fix."""


@dataclass
class Roster:
    rows: pl.DataFrame  # ROSTER_SCHEMA, one row per person and identity period
    files: list[str]

    @property
    def people(self) -> int:
        return self.rows["psn_no"].n_unique()


def read_roster(paths: list[Path | str] | Path | str, encoding: str | None = None) -> Roster:
    """Read one or more roster files; every problem stops the run with file, row and fix."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    frames = [_read_one(Path(p), encoding) for p in paths]
    rows = pl.concat(frames) if frames else pl.DataFrame(schema=ROSTER_SCHEMA)
    _check_periods(rows)
    return Roster(rows=rows, files=[str(p) for p in paths])


def _map_headers(labels: list[str], name: str) -> dict[str, int]:
    columns: dict[str, int] = {}
    for pos, label in enumerate(labels):
        field = _LOOKUP.get(normalise_header(label))
        if field is None:
            continue  # names, ID numbers, anything else: never read
        if field in columns:
            raise RosterError(name, f"columns '{labels[columns[field]]}' and '{label}' both mean {field}; keep one of them")
        columns[field] = pos
    missing = [f for f in ROSTER_REQUIRED if f not in columns]
    if missing:
        wanted = "; ".join(f"{f}: one of {', '.join(ROSTER_ALIASES[f])}" for f in missing)
        raise RosterError(name, f"roster column(s) missing — {wanted}. Headers found: {', '.join(map(repr, labels[:40]))}")
    return columns


def _read_one(path: Path, encoding: str | None) -> pl.DataFrame:
    name = str(path)
    try:
        tables = load_table(path, name, TableOptions(encoding=encoding, vocabulary=ROSTER))
    except RosterError:
        raise
    except InputFileError as exc:
        raise RosterError(exc.file, exc.message) from exc
    return pl.concat([_read_table(table, table.name or name) for table in tables])


def _read_table(table, name: str) -> pl.DataFrame:
    columns = _map_headers(table.labels, name)
    raw = table.read(list(columns.values()))
    out: dict[str, pl.Series] = {}
    problems: list[str] = []
    rows = raw["_row"]
    for field in ROSTER_SCHEMA:
        if field in ("source_file", "source_row"):
            continue
        pos = columns.get(field)
        if pos is None:
            out[field] = pl.Series(field, [None] * raw.height, dtype=ROSTER_SCHEMA[field])
            continue
        cells = raw[column_name(pos)]
        dtype = table.dtypes.get(pos, pl.String())
        if field in DATE_FIELDS:
            parsed = parse_date_text(clean_text(cells), excel=table.excel) if needs_text("date", dtype) else parse_date_typed(cells)
            bad = parsed.bad
            if bad.any():
                first = rows.filter(bad).head(3).to_list()
                problems.append(f"column '{table.labels[pos]}' ({field}): {int(bad.sum())} value(s) not a date, e.g. row(s) {first} — write YYYY-MM-DD")
            out[field] = parsed.value.alias(field)
        else:
            parsed = parse_id(clean_text(cells))
            out[field] = parsed.value.alias(field)
    frame = pl.DataFrame(out).with_columns(source_file=pl.lit(name), source_row=rows.cast(pl.Int64))
    blank = frame["psn_no"] == ""
    if blank.any():
        problems.append(f"{int(blank.sum())} row(s) without a person number, e.g. row(s) {frame.filter(blank)['source_row'].head(3).to_list()} — fill it in or delete the row")
    if problems:
        raise RosterError(name, "; ".join(problems))
    return frame.select(list(ROSTER_SCHEMA))


def _check_periods(rows: pl.DataFrame) -> None:
    """Identity periods of one person must not overlap, and each must end on or after its start."""
    p = rows.with_columns(
        _from=pl.col("idet_begndate").fill_null(_OPEN_FROM), _to=pl.col("idet_enddate").fill_null(_OPEN_TO)
    )
    backwards = p.filter(pl.col("_to") < pl.col("_from"))
    if backwards.height:
        r = backwards.row(0, named=True)
        raise RosterError(r["source_file"], f"row {r['source_row']}: identity period ends ({r['idet_enddate']}) before it starts ({r['idet_begndate']}) — fix the dates")
    p = p.sort("psn_no", "_from").with_columns(prev_to=pl.col("_to").shift(1).over("psn_no"))
    overlap = p.filter(pl.col("prev_to").is_not_null() & (pl.col("_from") <= pl.col("prev_to")))
    if overlap.height:
        r = overlap.row(0, named=True)
        raise RosterError(
            r["source_file"],
            f"row {r['source_row']}: person {r['psn_no']}'s identity period from {r['_from']} overlaps the previous one "
            f"(until {r['prev_to']}); {overlap.height} overlap(s) in all — each date must have one identity: end the earlier period the day before",
        )


# ------------------------------------------------------------------ claims ← roster


def person_enrollment(rows: pl.DataFrame) -> pl.LazyFrame:
    """One row per person: first payment and enrollment dates, birth date, earliest end of coverage."""
    return rows.lazy().group_by("psn_no").agg(
        pl.col("pay_date").min(), pl.col("insu_date").min(), pl.col("birth_date").drop_nulls().first(),
        pl.col("coverage_end").min(),
    )


def benefit_start_expr(rs: RuleSet, year: pl.Expr) -> pl.Expr:
    """Benefit start by the rule set's ``enrollment`` rules, per claim (needs pay_date, insu_date,
    birth_date).  Without rules, a person on the roster is covered from the start of the year."""
    year_start = pl.date(year, 1, 1)
    en = rs.enrollment
    if en is None:
        return year_start
    paid = pl.coalesce("pay_date", "insu_date")
    # paid in the collection period for this benefit year (or before the year): from 1 January
    cp = en.collection_period
    month, day = (int(x) for x in cp.ends.split("-"))
    # the day as MM-DD of the benefit year or the year before (02-29 of a common year is 03-01)
    collection_end = pl.date(year - (1 if cp.in_ == "previous_year" else 0), month, 1) + pl.duration(days=day - 1)
    on_time = paid.is_null() | (paid <= collection_end)
    late = en.late_enrollment
    late_start = paid + pl.duration(days=1 if late.starts == "day_after_payment" else 0)
    if late.waiting_months:
        late_start = late_start.dt.offset_by(f"{late.waiting_months}mo")
    start = pl.when(on_time).then(year_start).otherwise(pl.max_horizontal(late_start, year_start))
    if en.newborn is not None:
        window = pl.col("birth_date").dt.offset_by(f"{en.newborn.enroll_within_months}mo")
        newborn = pl.col("birth_date").is_not_null() & (pl.col("birth_date") >= year_start) & paid.is_not_null() & (paid <= window)
        start = pl.when(newborn).then(pl.col("birth_date")).otherwise(start)
    return start


def identity_on(lf: pl.LazyFrame, rows: pl.DataFrame, date_col: str) -> pl.LazyFrame:
    """``lf`` (with ``psn_no`` and the date column) with ``_roster_code``: the roster identity (as
    written) in force on that date, "" where no identity period covers it.  An as-of join by
    person and date; the rows of ``lf`` come back sorted by the date."""
    periods = rows.lazy().select(
        "psn_no",
        _from=pl.col("idet_begndate").fill_null(_OPEN_FROM),
        _to=pl.col("idet_enddate").fill_null(_OPEN_TO),
        _code=pl.col("psn_idet_type").fill_null(""),
    )
    joined = lf.sort(date_col).join_asof(
        periods.sort("_from"), left_on=date_col, right_on="_from", by="psn_no", strategy="backward",
        check_sortedness=False,  # both sorted by the date globally, as join_asof needs
    )
    # the period that started last on or before the date, if it still runs then
    code = pl.when(pl.col("_to") >= pl.col(date_col)).then(pl.col("_code")).otherwise(pl.lit(""))
    return joined.with_columns(_roster_code=code).drop("_from", "_to", "_code")


def apply_roster(claims: pl.LazyFrame, roster: Roster | pl.DataFrame, rs: RuleSet) -> pl.LazyFrame:
    """Claims with identity, benefit start and flags from the roster (the claims' order is kept).

    Adds ``claim_idet_type`` (the identity the claim row carried), ``identity_mismatch``,
    ``benefit_start`` (replaced), ``coverage_end`` and ``enrolled``; ``psn_idet_type`` becomes the
    roster's identity on the claim's date (the rule set's ``benefit_year_by`` date), empty
    (ordinary) where no identity period covers that date.
    """
    rows = roster.rows if isinstance(roster, Roster) else roster
    date_col = rs.ruleset.benefit_year_by
    lf = claims.with_row_index("_claim_order").with_columns(_date=pl.col(date_col))
    joined = identity_on(lf, rows, "_date")
    identity = pl.col("_roster_code")
    joined = joined.join(person_enrollment(rows), on="psn_no", how="left").join(
        rows.lazy().select("psn_no").unique().with_columns(enrolled=pl.lit(True)), on="psn_no", how="left"
    )
    ident_map = {k.strip(): v for k, v in rs.codes.identity.items()}
    key = lambda c: pl.col(c).fill_null("").str.strip_chars().replace_strict(ident_map, default=None)  # noqa: E731
    year = pl.col(date_col).dt.year()
    out = (
        joined.with_columns(claim_idet_type=pl.col("psn_idet_type"), psn_idet_type=identity)
        .with_columns(
            identity_mismatch=(pl.col("claim_idet_type").fill_null("").str.strip_chars() != "")
            & key("claim_idet_type").ne_missing(key("psn_idet_type")),
            enrolled=pl.col("enrolled").fill_null(False),
            benefit_start=benefit_start_expr(rs, year),
        )
        .sort("_claim_order")
    )
    keep = claims.collect_schema().names()
    extra = ["claim_idet_type", "identity_mismatch", "coverage_end", "enrolled"]
    return out.select([c for c in keep if c not in extra] + extra)
