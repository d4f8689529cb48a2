"""Contributions (筹资) of a benefit year from the enrollment roster.

Per person on the roster: the contribution per person (筹资标准) split into public finance (财政补助)
and the individual contribution (个人缴费); of the individual contribution, the part medical
assistance pays (资助参保) by the person's identity — in full (全额资助) or a fixed amount (定额资助) —
and what the person pays.  The identity is the one in force on the day the person paid (the
enrollment date if no payment date is known, 1 January if neither): aid is decided when the
contribution is collected.  Totals per identity and in all.  Money is integer fen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from .roster import Roster, identity_on
from .rules import RuleSet

I64 = pl.Int64
MONEY = ["contribution", "fiscal", "individual", "assistance_aid", "person_pays"]


class NoContributionRules(ValueError):
    """The rule set has no ``contributions`` block: nothing to compute from."""


@dataclass
class Contributions:
    people: pl.DataFrame  # one row per person
    by_identity: pl.DataFrame  # totals per identity
    total: dict[str, int]  # totals in all (people and fen)
    rs: RuleSet
    year: int


def compute_contributions(roster: Roster, rs: RuleSet, year: int | None = None) -> Contributions:
    """Each person's contribution for the benefit year, vectorized over the roster."""
    c = rs.contributions
    if c is None:
        raise NoContributionRules(
            f"rule set {rs.id} has no `contributions` block — add the year's 筹资 figures (cited) to it, see docs/rules.md"
        )
    year = year or rs.ruleset.effective_from.year
    rows = roster.rows
    people = (
        rows.lazy()
        .group_by("psn_no")
        .agg(pl.col("pay_date").min(), pl.col("insu_date").min())
        .with_columns(_date=pl.coalesce("pay_date", "insu_date", pl.lit(dt.date(year, 1, 1))))
    )
    people = identity_on(people, rows, "_date")
    ident_map = {k.strip(): v for k, v in rs.codes.identity.items()}
    people = people.with_columns(
        identity=pl.col("_roster_code").str.strip_chars().replace_strict(ident_map, default=None),
    )
    full = [k for k, a in c.aid.items() if a.full]
    fixed = {k: a.amount for k, a in c.aid.items() if a.amount is not None}
    individual = pl.lit(c.individual, dtype=I64)
    aid = (
        pl.when(pl.col("identity").is_in(full)).then(individual)
        .otherwise(pl.col("identity").replace_strict(fixed, default=0, return_dtype=I64))
    )
    out = (
        people.with_columns(
            contribution=pl.lit(c.per_person, dtype=I64),
            fiscal=pl.lit(c.fiscal, dtype=I64),
            individual=individual,
            assistance_aid=aid,
        )
        .with_columns(person_pays=pl.col("individual") - pl.col("assistance_aid"))
        .select("psn_no", pl.col("_roster_code").alias("psn_idet_type"), "identity", pl.col("_date").alias("identity_date"), *MONEY)
        .sort("psn_no")
        .collect()
    )
    unmapped = out.filter(pl.col("identity").is_null())
    if unmapped.height:
        r = unmapped.row(0, named=True)
        raise ValueError(
            f"roster identity '{r['psn_idet_type']}' (person {r['psn_no']}, and {unmapped.height - 1} more) is not mapped by rule set "
            f"{rs.id} — add it under codes.identity or correct the roster"
        )
    by_identity = (
        out.group_by("identity").agg(people=pl.len(), **{m: pl.col(m).sum() for m in MONEY}).sort("identity")
    )
    total = {"people": out.height, **{m: int(out[m].sum()) for m in MONEY}}
    check(out, total)
    return Contributions(people=out, by_identity=by_identity, total=total, rs=rs, year=year)


def check(people: pl.DataFrame, total: dict[str, int]) -> None:
    """Every person: contribution = fiscal + individual = fiscal + aid + own payment, no part below
    zero; the totals add up the same way."""
    bad = people.filter(
        (pl.col("contribution") != pl.col("fiscal") + pl.col("individual"))
        | (pl.col("individual") != pl.col("assistance_aid") + pl.col("person_pays"))
        | (pl.min_horizontal(*MONEY) < 0)
    )
    if bad.height:
        raise AssertionError(f"contributions do not add up for {bad.height} person(s), e.g. {bad['psn_no'][0]}")
    if total["contribution"] != total["fiscal"] + total["assistance_aid"] + total["person_pays"]:
        raise AssertionError("contribution totals do not add up")
