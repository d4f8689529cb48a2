"""The figures of a report, from a ledger: outlay per month and per dimension, rates, caps reached.

Only the ledger's stable columns are read — the national output fields, year and dates, class,
tier, place, identity, rule set, the flags and (when present) the hospital's code and name —
never the engine's intermediate columns, which a lean ledger does not keep.  Everything is a
polars aggregation over whole columns; amounts stay integer fen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ..failures import refusal_errno
from ..money import BP
from ..person import person_hash
from ..rules import BENEFIT_CLASSES, EXCLUDED, FUNDS, PLACES, RuleSet, Target
from ..store import LedgerCorrupt, LedgerError, raise_if_damaged, scan_ledger

#: The four layers of a claim's cost: three funds and the patient (they add up to medfee_sumamt).
LAYERS = ["hifp_pay", "hifmi_pay", "maf_pay", "psn_part_amt"]
AMOUNTS = ["medfee_sumamt", "inscp_scp_amt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]
FLAGS = {"basic_cap": "basic_cap_reached", "critical_threshold": "critical_threshold_reached", "critical_cap": "critical_cap_reached"}
REQUIRED = ["psn_no", "year", "enddate", "benefit_class", "tier", "place", "identity", "ruleset_id", *AMOUNTS, *FLAGS.values()]
OPTIONAL = ["is_reversal", "not_covered", "fixmedins_code", "fixmedins_name"]
#: Dimensions a manager reads outlay by (ledger column → report key).
DIMENSIONS = ["benefit_class", "tier", "hospital", "identity", "place"]


class ReportError(Exception):
    """A ledger the report cannot use (missing column, no such year…); the message says what to do."""


def rate_bp(num: int, den: int) -> int | None:
    """num ÷ den in basis points, half-up (None when there is nothing to divide by)."""
    if den == 0:
        return None
    return (2 * num * BP + den) // (2 * den) if num >= 0 else -((2 * -num * BP + den) // (2 * den))


def load_entries(ledger: Path, year: int | None) -> tuple[pl.DataFrame, int, list[int]]:
    """The ledger entries of the benefit year (the latest year when none is given), narrow columns.

    A damaged ledger directory is refused naming the damaged file (``LedgerCorrupt``, exit 9)."""
    try:
        return year_entries(ledger, year)
    except LedgerCorrupt:
        raise
    except LedgerError as e:
        raise ReportError(f"{e} — give --ledger a ledger directory or the --out directory of a settle run") from None
    except (OSError, pl.exceptions.PolarsError) as e:
        if refusal_errno(e) is not None:
            raise  # the machine refused the read: status 12, naming the path
        raise_if_damaged(ledger)  # a part changed in place fails the read: name it
        raise ReportError(f"{ledger}: cannot read the ledger ({e}) — give a --ledger directory or the --out directory of a settle run") from None


def year_entries(ledger: Path, year: int | None) -> tuple[pl.DataFrame, int, list[int]]:
    lf = scan_ledger(ledger)
    names = lf.collect_schema().names()
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ReportError(
            f"{ledger}: the ledger lacks column(s) {', '.join(missing)} — it was not written by `medclaim settle` "
            "(or by an older version); settle the claims again into a new ledger"
        )
    years = sorted(y for y in lf.select(pl.col("year").unique()).collect()["year"].to_list() if y is not None)
    if not years:
        raise ReportError(f"{ledger}: the ledger holds no settled claim — nothing to report")
    if year is None:
        year = years[-1]
    elif year not in years:
        raise ReportError(f"{ledger}: no claims of benefit year {year} — the ledger holds {', '.join(map(str, years))}; choose one with --year")
    cols = REQUIRED + [c for c in OPTIONAL if c in names]
    frame = lf.filter(pl.col("year") == year).select(cols).collect()
    fill = {
        "is_reversal": pl.lit(False),
        "not_covered": pl.lit(False),
        "fixmedins_code": pl.lit(None, dtype=pl.String),
        "fixmedins_name": pl.lit(None, dtype=pl.String),
    }
    frame = frame.with_columns([e.alias(c) for c, e in fill.items() if c not in frame.columns])
    return frame.with_columns(month=pl.col("enddate").dt.month().cast(pl.Int8), _person=person_key(frame)), year, years


def person_key(frame: pl.DataFrame) -> pl.Series:
    """People are counted on a 64-bit hash of the person number (counting distinct integers is
    several times cheaper than distinct strings); if two numbers ever share a hash, on the numbers."""
    key = person_hash(frame["psn_no"])
    if key.n_unique() != frame["psn_no"].n_unique():
        return frame["psn_no"]
    return key


def _sums() -> list[pl.Expr]:
    return [
        (~pl.col("is_reversal")).sum().cast(pl.Int64).alias("claims"),
        pl.col("is_reversal").sum().cast(pl.Int64).alias("reversals"),
        pl.col("_person").n_unique().cast(pl.Int64).alias("people"),
        *[pl.col(c).sum().cast(pl.Int64) for c in AMOUNTS],
    ]


def monthly_queries(entries: pl.LazyFrame) -> list[pl.LazyFrame]:
    """Sums per month, and the number of people whose first claim of the year is in each month."""
    return [
        entries.group_by("month").agg(_sums()),
        entries.group_by("_person").agg(pl.col("month").min()).group_by("month").agg(pl.len().cast(pl.Int64).alias("new_people")),
    ]


def monthly(per: pl.DataFrame, first: pl.DataFrame, months: int) -> pl.DataFrame:
    """One row per month 1..months (months without claims as zeros) with the year-to-date sums."""
    grid = pl.DataFrame({"month": pl.Series(range(1, months + 1), dtype=pl.Int8)})
    out = grid.join(per, on="month", how="left").join(first, on="month", how="left").fill_null(0).sort("month")
    # people to date are distinct people, not a sum of the months' people
    return out.with_columns(
        pl.col("new_people").cum_sum().cast(pl.Int64).alias("ytd_people"),
        pl.col("claims").cum_sum().alias("ytd_claims"),
        *[pl.col(c).cum_sum().alias(f"ytd_{c}") for c in AMOUNTS],
    ).drop("new_people")


def dimension_query(entries: pl.LazyFrame, dim: str) -> pl.LazyFrame:
    """Outlay grouped by one dimension; the hospital by its code, with its (last seen) name."""
    if dim == "hospital":
        return entries.filter(pl.col("fixmedins_code").is_not_null() | pl.col("fixmedins_name").is_not_null()).group_by(
            "fixmedins_code").agg(pl.col("fixmedins_name").drop_nulls().last(), *_sums())
    return entries.group_by(dim).agg(_sums())


def dimension_order(out: pl.DataFrame, dim: str, order: list[str] | None) -> pl.DataFrame:
    if dim == "hospital":
        return out.sort("fund_pay_sumamt", "fixmedins_code", descending=[True, False], nulls_last=True)
    if order:
        rank = {k: i for i, k in enumerate(order)}
        out = out.with_columns(_o=pl.col(dim).replace_strict(rank, default=len(rank), return_dtype=pl.Int32))
        return out.sort("_o", dim).drop("_o")
    return out.sort(dim)


def people_query(entries: pl.LazyFrame) -> pl.LazyFrame:
    """People with at least one claim that reached each threshold or cap."""
    per = entries.filter(~pl.col("is_reversal")).group_by("_person").agg([pl.col(c).any() for c in FLAGS.values()])
    return per.select([pl.col(c).sum().cast(pl.Int64).alias(k) for k, c in FLAGS.items()])


def target_mask(t: Target) -> pl.Expr:
    mask = pl.col("benefit_class").is_in(t.classes)
    if t.identities is not None:
        mask &= pl.col("identity").is_in(t.identities)
    if t.places is not None:
        mask &= pl.col("place").is_in(t.places)
    return mask


@dataclass
class RateResult:
    key: str
    target: Target
    paid: int  # fen: the counted funds of the selected claims
    scope: int  # fen: their policy-scope (合规) costs
    claims: int

    @property
    def rate(self) -> int | None:
        return rate_bp(self.paid, self.scope)

    @property
    def met(self) -> bool | None:
        r = self.rate
        if r is None:
            return None
        t = self.target
        if t.comparison == "about":
            return abs(r - t.value) <= t.tolerance_points
        return r >= t.value


def rates_query(entries: pl.LazyFrame, targets: dict[str, Target]) -> pl.LazyFrame:
    """Each target's paid and scope sums over the year so far, all in one pass over the entries."""
    exprs = [pl.len().alias("_rows")]
    for i, t in enumerate(targets.values()):
        m = target_mask(t)
        paid = pl.sum_horizontal([pl.col(FUNDS[f]) for f in t.funds])
        exprs += [
            pl.when(m).then(paid).otherwise(0).sum().cast(pl.Int64).alias(f"p{i}"),
            pl.when(m).then(pl.col("inscp_scp_amt")).otherwise(0).sum().cast(pl.Int64).alias(f"s{i}"),
            (m & ~pl.col("is_reversal")).sum().cast(pl.Int64).alias(f"n{i}"),
        ]
    return entries.select(exprs)


def rates(row: dict[str, Any], targets: dict[str, Target]) -> list[RateResult]:
    return [RateResult(k, t, int(row[f"p{i}"] or 0), int(row[f"s{i}"] or 0), int(row[f"n{i}"] or 0)) for i, (k, t) in enumerate(targets.items())]


@dataclass
class Figures:
    """Everything a report shows, before words and layout."""

    ledger: str
    year: int
    years: list[int]
    as_of: dt.date  # the latest end date in the year's claims
    months: int  # months of the year so far (the month of ``as_of``)
    ruleset_ids: list[str]
    totals: dict[str, int]
    monthly: pl.DataFrame
    by: dict[str, pl.DataFrame]
    people_reaching: dict[str, int]
    rates: list[RateResult]
    ruleset: RuleSet | None  # the rule set the targets and names come from
    warnings: list[str]


def dimension_orders(rs: RuleSet | None) -> dict[str, list[str]]:
    return {
        "benefit_class": [*BENEFIT_CLASSES, EXCLUDED],
        "place": list(PLACES),
        "tier": list(rs.tiers) if rs else [],
        "identity": list(rs.identities) if rs else [],
    }


def ruleset_ids(entries: pl.DataFrame) -> list[str]:
    """The rule sets the year's claims were settled with, in the order their periods ended."""
    return entries.group_by("ruleset_id").agg(pl.col("enddate").max()).drop_nulls().sort("enddate")["ruleset_id"].to_list()


def compute(entries: pl.DataFrame, ledger: str, year: int, years: list[int], ids: list[str], ruleset: RuleSet | None,
            warnings: list[str]) -> Figures:
    """Every aggregation of the report as one set of lazy queries, collected together (polars runs
    them in parallel over the same columns)."""
    as_of = entries["enddate"].max()
    months = as_of.month
    targets = ruleset.targets if ruleset else {}
    lf = entries.lazy()
    queries = [lf.select(_sums()), *monthly_queries(lf), people_query(lf), rates_query(lf, targets),
               *[dimension_query(lf, d) for d in DIMENSIONS]]
    totals, per_month, first, people, rate_row, *dims = pl.collect_all(queries)
    orders = dimension_orders(ruleset)
    return Figures(
        ledger=ledger,
        year=year,
        years=years,
        as_of=as_of,
        months=months,
        ruleset_ids=ids,
        totals={k: int(v or 0) for k, v in totals.row(0, named=True).items()},
        monthly=monthly(per_month, first, months),
        by={d: dimension_order(frame, d, orders.get(d)) for d, frame in zip(DIMENSIONS, dims)},
        people_reaching={k: int(v or 0) for k, v in people.row(0, named=True).items()},
        rates=rates(rate_row.row(0, named=True), targets),
        ruleset=ruleset,
        warnings=warnings,
    )


def as_json(f: Figures) -> dict[str, Any]:
    return {
        "ledger": f.ledger,
        "year": f.year,
        "as_of": str(f.as_of),
        "months": f.months,
        "rulesets": f.ruleset_ids,
        "totals_fen": f.totals,
        "monthly": f.monthly.to_dicts(),
        "by": {k: v.to_dicts() for k, v in f.by.items()},
        "people_reaching": f.people_reaching,
        "rates": [
            {
                "key": r.key,
                "name": r.target.name,
                "rate_bp": r.rate,
                "target_bp": r.target.value,
                "comparison": r.target.comparison,
                "tolerance_bp": r.target.tolerance_points if r.target.comparison == "about" else None,
                "met": r.met,
                "paid_fen": r.paid,
                "scope_fen": r.scope,
                "claims": r.claims,
                "funds": list(r.target.funds),
                "source": f.ruleset.cite(r.target) if f.ruleset else None,
                "quote": r.target.quote,
            }
            for r in f.rates
        ],
        "warnings": f.warnings,
    }
