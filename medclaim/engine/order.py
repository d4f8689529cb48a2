"""Before any fund pays: the exported codes as the rule set's keys, the settlement order, and
the running totals each person-year opens with.

Claims are sorted once (integer person hash, year, end date, start date, settlement id) and every
annual quantity is a cumulative sum over that order (``medclaim.annual``).  Each person-year may
start from opening running totals (the ``ytd_*`` accumulator columns) left by earlier runs, and
closes with the totals the next run opens with.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..annual import RUN_START, last_in_run
from ..person import person_hash
from ..rules import BENEFIT_CLASSES, EXCLUDED, PLACES, RuleSet

I64 = pl.Int64
KEYS = ["psn_no", "year"]

# Class ids are fixed (0..3 = BENEFIT_CLASSES, 9 = excluded) so ledgers of different rule sets agree.
CLASS_ID = {name: i for i, name in enumerate(BENEFIT_CLASSES)} | {EXCLUDED: 9}
PLACE_ID = {name: i for i, name in enumerate(PLACES)}


def fixed_accumulators() -> list[str]:
    return [
        "ytd_claims",
        "ytd_admissions",
        "ytd_chronic_scope",
        "ytd_critical_base",
        "ytd_assist_base",
        "ytd_medfee",
        "ytd_hifp",
        "ytd_hifmi",
        "ytd_maf",
        "ytd_psn_part",
    ]


def cap_accumulator(name: str) -> str:
    return f"ytd_cap_{name}"


def accumulator_columns(rs: RuleSet) -> list[str]:
    """The per-person-year running totals this rule set needs (and the ledger keeps)."""
    return fixed_accumulators() + [cap_accumulator(c.name) for c in rs.basic.annual_caps]


# ------------------------------------------------------------------ codes → rule-set keys


@dataclass(frozen=True)
class CodeProblem:
    column: str
    value: str


def map_codes(claims: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Translate exported codes/names into the rule set's keys as small integers.

    Unmapped values become null ids; ``unmapped_column`` names the first one (for the reject).
    """
    c = rs.codes
    tier_id = {t: i for i, t in enumerate(rs.tiers)}
    ident_id = {t: i for i, t in enumerate(rs.identities)}

    def lookup(col: str, table: dict[str, str], ids: dict[str, int]) -> pl.Expr:
        mapping = {code.strip(): ids[key] for code, key in table.items()}
        return (
            pl.col(col).fill_null("").str.strip_chars().replace_strict(mapping, default=None, return_dtype=pl.UInt8)
        )

    lf = claims.with_columns(
        cls=lookup("med_type", c.med_type, CLASS_ID),
        tier=lookup("hosp_lv", c.hosp_lv, tier_id),
        place=lookup("pay_loc", c.pay_loc, PLACE_ID),
        ident=lookup("psn_idet_type", c.identity, ident_id),
    )
    unmapped = pl.coalesce(
        *[pl.when(pl.col(k).is_null()).then(pl.lit(src)) for k, src in
          [("cls", "med_type"), ("tier", "hosp_lv"), ("place", "pay_loc"), ("ident", "psn_idet_type")]]
    )
    return lf.with_columns(unmapped_column=unmapped)


# ------------------------------------------------------------------ order and openings


def benefit_year(rs: RuleSet) -> pl.Expr:
    return pl.col(rs.ruleset.benefit_year_by).dt.year().cast(pl.Int32)


#: Optional columns of a reversal entry (冲正): the original claim's figures, negated.  With
#: ``rounding: cumulative`` only the raw basic payment and deductible of the per-claim classes are
#: taken as they were (annual figures are recomputed); with ``per_claim`` everything is — a
#: reversal gives back exactly what its receipt paid (``fixed_cap_<name>``: what it paid under each
#: annual cap).
REVERSAL_DEFAULTS = {
    "is_reversal": pl.lit(False),
    "fixed_hifp_raw": pl.lit(None, dtype=I64),
    "fixed_dedc": pl.lit(None, dtype=I64),
    "fixed_hifp_pay": pl.lit(None, dtype=I64),
    "fixed_hifmi_pay": pl.lit(None, dtype=I64),
    "fixed_maf_pay": pl.lit(None, dtype=I64),
}
SORT_KEYS = ["year", "entry_rank", "enddate", "begndate", "setl_id"]


#: Columns a roster adds (``medclaim.roster.apply_roster``); without one, these defaults.
ROSTER_DEFAULTS = {
    "coverage_end": pl.lit(None, dtype=pl.Date),
    "identity_mismatch": pl.lit(False),
    "claim_idet_type": pl.lit(None, dtype=pl.String),
}


def with_entry_defaults(lf: pl.LazyFrame) -> pl.LazyFrame:
    have = set(lf.collect_schema().names())
    defaults = REVERSAL_DEFAULTS | ROSTER_DEFAULTS
    lf = lf.with_columns([v.alias(k) for k, v in defaults.items() if k not in have])
    lf = lf.with_columns([pl.col(k).cast(I64) for k in REVERSAL_DEFAULTS if k != "is_reversal"])
    # within a run, reversals of earlier claims come before the run's new claims
    return lf.with_columns(entry_rank=pl.when("is_reversal").then(0).otherwise(1).cast(pl.Int8))


def order_claims(lf: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Settlement order within each person-year: end date, start date, settlement id.

    Sorting by an integer hash of the person id instead of the string keeps the one sort cheap;
    ``run_start`` marks each person-year's first claim.  A hash collision between two people is
    detected (``psn_hash_collision``) and the caller re-sorts on the string.
    """
    lf = with_entry_defaults(lf).with_columns(year=benefit_year(rs), psn_key=person_hash(pl.col("psn_no")))
    lf = lf.sort(["psn_key", *SORT_KEYS])
    return mark_runs(lf, "psn_key")


def order_claims_by_string(lf: pl.LazyFrame) -> pl.LazyFrame:
    return mark_runs(with_entry_defaults(lf).sort(["psn_no", *SORT_KEYS]), "psn_no")


def mark_runs(lf: pl.LazyFrame, person_col: str) -> pl.LazyFrame:
    new_person = pl.col(person_col) != pl.col(person_col).shift(1)
    new_year = pl.col("year") != pl.col("year").shift(1)
    start = (new_person | new_year).fill_null(True)
    collision = ((pl.col("psn_no") != pl.col("psn_no").shift(1)).fill_null(False) & ~start).any()
    return lf.with_columns(start.alias(RUN_START)).with_columns(psn_hash_collision=collision)


#: The last claim a ledger settled of a person-year, in settlement order (an accumulator column
#: each, holding that claim's column): a new claim that sorts before it is ``late``.
LAST_COLUMNS = {"last_enddate": "enddate", "last_begndate": "begndate", "last_setl_id": "setl_id"}


def sorts_before(a: list[str], b: list[str]) -> pl.Expr:
    """(enddate, begndate, setl_id) ``a`` < ``b`` in settlement order (null when ``b`` is null)."""
    (e, bg, s), (le, lb, ls) = [pl.col(c) for c in a], [pl.col(c) for c in b]
    return (e < le) | ((e == le) & ((bg < lb) | ((bg == lb) & (s < ls))))


def late_claim(last: list[str]) -> pl.Expr:
    """``late``: a claim (not a reversal) that sorts before the person-year's last already-settled
    claim (its enddate, begndate, setl_id in the columns ``last``)."""
    return (~pl.col("is_reversal") & sorts_before(list(LAST_COLUMNS.values()), last)).fill_null(False).alias("late")


def join_openings(lf: pl.LazyFrame, openings: pl.LazyFrame | None, columns: list[str]) -> pl.LazyFrame:
    """Attach each person-year's opening running totals as ``open_*`` columns (0 if none).

    Openings that hold the person-year's last settled claim (``LAST_COLUMNS``: an accumulator's)
    flag ``late`` claims in the same join."""
    opened = [f"open_{c.removeprefix('ytd_')}" for c in columns]
    if openings is None:
        return lf.with_columns([pl.lit(0, dtype=I64).alias(o) for o in opened])
    have = set(openings.collect_schema().names())
    last = [f"open_{c}" for c in LAST_COLUMNS] if have.issuperset(LAST_COLUMNS) else []
    sel = openings.select(
        [pl.col("psn_no"), pl.col("year").cast(pl.Int32)]
        + [(pl.col(c) if c in have else pl.lit(0)).cast(I64).alias(o) for c, o in zip(columns, opened)]
        + [pl.col(c.removeprefix("open_")).alias(c) for c in last]
    )
    # A left join keeps the sort order of the claims (maintain_order="left").
    joined = lf.join(sel, on=KEYS, how="left", maintain_order="left")
    return joined.with_columns([pl.col(o).fill_null(0) for o in opened] + ([late_claim(last)] if last else []))


def opening(name: str) -> pl.Expr:
    return pl.col(f"open_{name.removeprefix('ytd_')}")


def per_claim_rounding(rs: RuleSet) -> bool:
    return rs.ruleset.rounding == "per_claim"


def closing_balances(ledger: pl.LazyFrame, rs: RuleSet) -> pl.LazyFrame:
    """Each person-year's running totals after its last entry (in settlement order), and the
    last claim settled of it (``LAST_COLUMNS``: that entry's, null when it is a reversal — they
    sort first within a person-year, so only reversals of it were settled)."""
    claim = ~pl.col("is_reversal")
    return last_in_run(ledger, KEYS, [*accumulator_columns(rs), *[pl.when(claim).then(pl.col(c)).alias(a) for a, c in LAST_COLUMNS.items()]])
