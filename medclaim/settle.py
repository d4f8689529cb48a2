"""Settle parsed claims against a rule book: choose the period, map codes, run the engine, check.

This is the library entry point (no files, no terminal): ``settle_claims`` takes the canonical
claims frame and returns the ledger, the rows it had to reject and each person-year's closing
running totals.  ``medclaim settle``, ``medclaim explain`` and the tests all call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

import polars as pl

from . import engine
from .engine import CLASS_ID, KEYS, PLACE_ID
from .io.spill import SpilledClaims, rows_from_env
from .roster import Roster, apply_roster
from .rules import RuleBook, RuleSet
from .schema import RejectReason, empty_rejects
from .balances import after_period, later_openings, merge_balances
from .overlap import background, in_order, then
from .person import ByPerson, repeats_person_year

ID_COLUMNS = ["cls", "tier", "place", "ident"]


class InvariantError(Exception):
    """A settlement invariant broke.  Nothing may be written; this is a bug or corrupt rules."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Settlement:
    ledger: pl.DataFrame  # one row per settled claim, in settlement order, with intermediate columns
    rejects: pl.DataFrame  # rows the rule book could not place (no period, unknown code)
    changed: pl.DataFrame  # psn_no, year, ytd_*, last_* — each person-year it settled: running totals after the run, last claim
    openings: pl.DataFrame | None = None  # the running totals the run opened from

    @cached_property
    def closing(self) -> pl.DataFrame:
        """psn_no, year, ytd_* — each person-year's running totals after the run: the openings,
        those of the person-years the run settled replaced.  Computed when asked for: a ledger
        run merges only what it ``changed`` into its accumulator (``store.next_accumulator``)."""
        last = list(engine.LAST_COLUMNS)  # (the accumulator's, not running totals)
        openings = self.openings.drop(last, strict=False) if self.openings is not None else None
        return merge_balances(openings, self.changed.drop(last, strict=False))


# ------------------------------------------------------------------ period and codes


def period_index(book: RuleBook) -> pl.Expr:
    """Index of the rule-set period in force for each claim (null when none is)."""
    expr = pl.lit(None, dtype=pl.Int32)
    for i, rs in enumerate(book.periods):
        m = rs.ruleset
        d = pl.col(m.benefit_year_by)
        expr = pl.when(d.is_between(m.effective_from, m.effective_to)).then(pl.lit(i, dtype=pl.Int32)).otherwise(expr)
    return expr


def reject_rows(frame: pl.DataFrame, column: pl.Expr, reason: RejectReason | pl.Expr, message: pl.Expr, raw: pl.Expr) -> pl.DataFrame:
    return frame.select(
        pl.col("source_file"),
        pl.col("source_row"),
        pl.col("setl_id"),
        column.alias("column"),
        (pl.lit(reason.value) if isinstance(reason, RejectReason) else reason).alias("reason_code"),
        message.alias("message"),
        raw.alias("raw"),
    ).cast(empty_rejects().schema)


def reject_unmapped(frame: pl.DataFrame, rs: RuleSet, rules_file: str) -> pl.DataFrame:
    """Reject rows whose code is not in the rule set's tables, saying where to add it."""
    col = pl.col("unmapped_column")
    value = pl.coalesce(
        [pl.when(col == c).then(pl.col(c).fill_null("")) for c in ("med_type", "hosp_lv", "pay_loc", "psn_idet_type")]
    )
    table = (
        pl.when(col == "psn_idet_type").then(pl.lit("identity")).otherwise(col)
    )
    message = pl.format(
        "{} '{}' is not mapped by rule set {} — add it under codes.{} in {} or correct the row",
        col, value, pl.lit(rs.id), table, pl.lit(rules_file),
    )
    return reject_rows(frame, col, RejectReason.UNKNOWN_CODE, message, pl.format("{}={}", col, value))


def reject_not_enrolled(frame: pl.DataFrame, roster: Roster) -> pl.DataFrame:
    message = pl.format(
        "person {} is not on the enrollment roster ({}) — check the person number, or add the person's enrollment to the roster",
        pl.col("psn_no"), pl.lit(", ".join(roster.files)),
    )
    return reject_rows(frame, pl.lit("psn_no"), RejectReason.NOT_ENROLLED, message, pl.col("psn_no"))


def unusable_reported() -> pl.Expr:
    """Basic payment as reported: missing, negative, or more than the policy-scope amount."""
    v = pl.col("reported_hifp_pay")
    return v.is_null() | (v < 0) | (v > pl.col("inscp_scp_amt"))


def split_unusable_reported(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    if "reported_hifp_pay" not in frame.columns:
        frame = frame.with_columns(reported_hifp_pay=pl.lit(None, dtype=pl.Int64))
    bad = unusable_reported()
    return frame.filter(~bad), frame.filter(bad)


def reject_unusable_reported(frame: pl.DataFrame, rs: RuleSet) -> pl.DataFrame:
    v = pl.col("reported_hifp_pay")
    missing = v.is_null()
    message = (
        pl.when(missing)
        .then(pl.format("rule set {} takes basic insurance as the basic fund reported it, but 统筹基金支出 (hifp_pay) is empty or not an amount — fill it in", pl.lit(rs.id)))
        .otherwise(pl.format("统筹基金支出 (hifp_pay) {} fen is negative or above the policy-scope amount {} fen — correct the row", v, pl.col("inscp_scp_amt")))
    )
    reason = pl.when(missing).then(pl.lit(RejectReason.MISSING_FIELD.value)).otherwise(pl.lit(RejectReason.INCONSISTENT_AMOUNTS.value))
    return reject_rows(frame, pl.lit("reported_hifp_pay"), reason, message, v.cast(pl.String).fill_null(""))


# ------------------------------------------------------------------ the run


#: Claims settled per engine pass.  People never straddle two chunks, so each chunk is an
#: independent settlement; chunking bounds the memory of the wide intermediate frame (measured on
#: 1M claims: 500,000 → 1.6 GiB peak, 250,000 → 1.1 GiB, 125,000 → 0.9 GiB, the same CPU time).
CHUNK_ROWS = 200_000
#: Chunks settled at a time (each in a thread of its own; memory holds a chunk per worker).
CHUNK_WORKERS = 2
#: Environment variable that overrides ``CHUNK_ROWS`` (tuning, and tests of multi-chunk months).
CHUNK_ROWS_ENV = "MEDCLAIM_CHUNK_ROWS"


def default_chunk_rows() -> int:
    """``CHUNK_ROWS``, or the positive whole number in ``$MEDCLAIM_CHUNK_ROWS``."""
    return rows_from_env(CHUNK_ROWS_ENV, CHUNK_ROWS, "claims per chunk")


class Handover:
    """A large frame handed to the one function that consumes it, the caller keeping no reference
    (so a run can free its input as soon as the claims are ordered)."""

    def __init__(self, frame: pl.DataFrame):
        self._frame: pl.DataFrame | None = frame

    def take_claims(self) -> pl.DataFrame:
        frame, self._frame = self._frame, None
        if frame is None:
            raise RuntimeError("the claims were already taken")
        return frame


def take(claims: pl.DataFrame | Handover) -> pl.DataFrame:
    """The claims frame itself, or taken from whatever hands it over (``Handover``, ``ReadResult``:
    whose claims may be ``SpilledClaims``, in person buckets on disk)."""
    return claims.take_claims() if hasattr(claims, "take_claims") else claims


def settle_claims(
    claims: pl.DataFrame | Handover,
    book: RuleBook,
    openings: pl.DataFrame | None = None,
    sink: Callable[[pl.DataFrame], None] | None = None,
    chunk_rows: int | None = None,
    roster: Roster | None = None,
    settled: Callable[[Settlement], None] | None = None,
    closed: Callable[[pl.DataFrame], None] | None = None,
) -> Settlement:
    """Settle every claim with the rule set in force for it, continuing from ``openings``.

    Periods are settled in date order; a later period of the same year continues from the running
    totals the earlier one left (the claims of a person-year are in end-date order, so every claim
    of an earlier period comes first).  With ``sink``, each checked ledger chunk is handed to it
    (e.g. to be written) instead of being collected into ``Settlement.ledger``.  With ``roster``
    (the enrollment roster), identity, benefit start and end of coverage come from it
    (``medclaim.roster.apply_roster``) and a person not on it is rejected as ``not_enrolled``.
    ``settled`` is given the settlement as soon as the engine is done, while the sink may still be
    writing the last chunks (a ledger run starts its next accumulator then).  ``closed`` is given
    each chunk's closing balances (with its last claims) as it is settled, in settlement order.
    """
    claims = take(claims)
    if isinstance(claims, SpilledClaims):
        return settle_buckets(claims, book, openings, sink, chunk_rows, roster)
    with background(sink) as sink:  # the sink writes chunk k while the engine settles chunk k + 1
        settlement = _settle_claims(claims, book, openings, sink, chunk_rows, roster, closed)
        if settled is not None:
            settled(settlement)
        return settlement


def _settle_claims(claims: pl.DataFrame, book: RuleBook, openings: pl.DataFrame | None, sink: Callable[[pl.DataFrame], None] | None,
                   chunk_rows: int | None, roster: Roster | None, closed: Callable[[pl.DataFrame], None] | None = None) -> Settlement:
    if openings is not None and openings.height and repeats_person_year(openings):
        raise ValueError("opening balances hold the same person-year twice — rebuild the accumulator (medclaim ledger rebuild)")
    claims = claims.with_columns(period=period_index(book))
    no_rule = claims.filter(pl.col("period").is_null())
    rejects = [
        reject_rows(
            no_rule,
            pl.lit("enddate"),
            RejectReason.NO_RULE_IN_FORCE,
            pl.format("no period of rule book {} covers {} — use the rule set for that year", pl.lit(book.name), pl.col("enddate").cast(pl.String)),
            pl.col("enddate").cast(pl.String),
        )
    ]
    periods_present = claims["period"].drop_nulls().unique().to_list()
    single = len(periods_present) == 1 and no_rule.height == 0
    ledgers: list[pl.DataFrame] = []
    changed = None  # running totals after the run of the person-years settled so far
    for i, rs in enumerate(book.periods):
        if i not in periods_present:
            continue
        # (a filter copies every column: skip it when the whole input is one period)
        part = claims if single else claims.filter(pl.col("period") == i)
        if single:
            claims = None  # nothing else needs it: let the ordered copy replace it in memory
        if roster is not None:
            part = apply_roster(part.lazy(), roster, rs).collect()
            absent = part.filter(~pl.col("enrolled"))
            if absent.height:
                rejects.append(reject_not_enrolled(absent, roster))
                part = part.filter(pl.col("enrolled"))
            part = part.drop("enrolled")
        mapped = engine.map_codes(part.lazy(), rs).collect()
        del part
        bad = mapped.filter(pl.col("unmapped_column").is_not_null())
        if bad.height:
            rejects.append(reject_unmapped(bad, rs, str(book.file_of(rs))))
        good = mapped.filter(pl.col("unmapped_column").is_null()) if bad.height else mapped
        del mapped
        if rs.basic.reported is not None:
            good, unusable = split_unusable_reported(good)
            if unusable.height:
                rejects.append(reject_unusable_reported(unusable, rs))
        period_closings = []
        # a later period of the same year opens from what the earlier periods left
        opened = later_openings(openings, changed) if changed is not None else openings
        chunks = settle_period(good, rs, opened, chunk_rows or default_chunk_rows())
        del good  # the generator holds the period's claims until it has ordered them
        for ledger in chunks:
            check_invariants(ledger)
            period_closings.append(engine.closing_balances(ledger.lazy(), rs).collect())
            if closed is not None:
                closed(period_closings[-1])
            if sink is not None:
                sink(ledger)
            else:
                ledgers.append(ledger)
        if period_closings:
            changed = after_period(changed, pl.concat(period_closings, how="diagonal_relaxed"))
    ledger = pl.concat(ledgers, how="diagonal_relaxed") if ledgers else empty_ledger()
    return Settlement(
        ledger=ledger,
        rejects=pl.concat(rejects) if rejects else empty_rejects(),
        changed=changed if changed is not None else no_balances(),
        openings=openings,
    )


def no_balances() -> pl.DataFrame:
    return pl.DataFrame(schema={"psn_no": pl.String, "year": pl.Int32})


def settle_buckets(
    spilled: SpilledClaims,
    book: RuleBook,
    openings: pl.DataFrame | None = None,
    sink: Callable[[pl.DataFrame], None] | None = None,
    chunk_rows: int | None = None,
    roster: Roster | None = None,
    screen: Callable[[pl.DataFrame], tuple[pl.DataFrame, pl.DataFrame]] | None = None,
    closing: bool = True,
    after_bucket: Callable[[], None] | None = None,
) -> Settlement:
    """``settle_claims`` of claims spilled to person buckets (``medclaim.io.spill``), one bucket at
    a time: a bucket holds whole persons, so each is an independent settlement, opening from the
    ``openings`` of its own persons.  The buckets are ranges of the engine's person hash, so the
    chunks reach ``sink`` in the order one settlement of all the claims would give.

    ``screen``: takes a bucket's claims, returns (those to settle, rows it rejects) — a ledger run
    sets aside claims it already holds.  ``closing=False``: the run needs no closing balances
    (``--out``), so none are kept (one row per person-year adds up on a large run).
    ``after_bucket``: called when a bucket's persons are done (e.g. ``SummaryAccumulator.seal``)."""
    own_openings: dict[int, pl.DataFrame] = {}
    if openings is not None and openings.height:
        keyed = openings.with_columns(spilled.bucket_expr().alias("_bucket"))
        own_openings = {int(b): frame for (b,), frame in keyed.partition_by("_bucket", as_dict=True, include_key=False).items()}
        del keyed
    with background(sink) as sink:  # one writing thread for all the buckets (see settle_claims)
        return _settle_buckets(spilled, book, openings, own_openings, sink, chunk_rows, roster, screen, closing, after_bucket)


def _settle_buckets(spilled, book, openings, own_openings, sink, chunk_rows, roster, screen, closing, after_bucket) -> Settlement:
    rejects, closings, ledgers = [], [], []
    # (a bucket is not read ahead: two buckets in memory would be twice the budget the spill
    # threshold sets, and on two cores the engine and the ledger writer already use both)
    for bucket in range(spilled.buckets):
        claims = spilled.take(bucket)
        if screen is not None:
            claims, screened = screen(claims)
            rejects.append(screened)
        if claims.height == 0:
            continue
        own = own_openings.pop(bucket, None) if openings is not None else None
        part = settle_claims(claims, book, own, sink=sink, chunk_rows=chunk_rows, roster=roster)
        del claims
        rejects.append(part.rejects)
        if closing:
            closings.append(part.changed)  # (a bucket's persons are its own: no person-year in two)
        if sink is None:
            ledgers.append(part.ledger)
        if after_bucket is not None:
            then(sink, after_bucket)  # once the bucket's chunks are through the sink
    return Settlement(
        ledger=pl.concat(ledgers, how="diagonal_relaxed") if ledgers else empty_ledger(),
        rejects=pl.concat(rejects) if rejects else empty_rejects(),
        changed=pl.concat(closings, how="diagonal_relaxed") if closings else no_balances(),
        openings=openings,
    )


# ------------------------------------------------------------------ what the ledger keeps

#: The engine's working figures: deductible parts, ratio parts, cap inputs and cuts, 大病 per
#: band, assistance parameters, the compliant amounts the funds looked at, sort helpers.  They are
#: not stored: ``medclaim.recompute`` re-runs the engine on a person's claims from the openings
#: the ledger holds and gets them back exactly (tests/test_recompute.py proves it).
WORKING_COLUMNS = frozenset({
    "entry_rank", "run_start", "run_first", "covered", "scope", "pre", "dedc", "ratio_bp",
})
# ``cap_in_``/``cap_cut_`` stay: what a claim paid under each annual cap is what a reversal gives
# back with per-claim rounding (``recompute.reversal_fixed``)
WORKING_PREFIXES = ("ip_", "co_", "ci_", "ma_", "open_", "fixed_")


def is_working_column(name: str) -> bool:
    return name in WORKING_COLUMNS or name.startswith(WORKING_PREFIXES)


def lean(ledger: pl.DataFrame) -> pl.DataFrame:
    """The columns a ledger keeps: the claim as it came in (national input fields and descriptive
    columns), class, tier, place, identity, year, rule set and version, the national output
    fields, ``hifp_raw`` (a reversal takes it back as it was), the running totals after the claim
    (``ytd_*``), flags, and the store's entry columns.  Everything the engine only works with
    is dropped."""
    return ledger.select([c for c in ledger.columns if not is_working_column(c)])


def engine_schema(book: RuleBook, claims: pl.Schema | None = None) -> pl.Schema:
    """Every column the engine produces for this rule book: the engine run on no claims, every
    period (with the descriptive columns ``claims`` carries, which the engine passes through)."""
    from .schema import DESCRIPTIVE_SCHEMA, empty_claims

    carried = {c: t for c, t in (claims or {}).items() if c in DESCRIPTIVE_SCHEMA}
    schema: dict[str, pl.DataType] = {}
    for rs in book.periods:
        for chunk in settle_period(engine.map_codes(empty_claims().with_columns(**{c: pl.lit(None, t) for c, t in carried.items()}).lazy(), rs).collect(), rs, None):
            schema.update({c: t for c, t in chunk.schema.items() if c not in schema})
    return pl.Schema(schema)


def ledger_schema(book: RuleBook, claims: pl.Schema | None = None) -> pl.Schema:
    """The columns of the ledger written for this rule book (``lean`` of the engine's)."""
    return pl.Schema({c: t for c, t in engine_schema(book, claims).items() if not is_working_column(c)})


def chunk_bounds(run_start: pl.Series, chunk_rows: int) -> list[tuple[int, int]]:
    """Slices of about ``chunk_rows`` rows that begin at a person-year's first claim."""
    n = run_start.len()
    if n <= chunk_rows:
        return [(0, n)]
    # the first person-year start at or after each multiple of chunk_rows (polars only: numpy is
    # not a runtime dependency)
    starts = run_start.arg_true()
    targets = pl.Series(range(chunk_rows, n, chunk_rows), dtype=starts.dtype)
    at = starts.search_sorted(targets, side="left").clip(upper_bound=starts.len() - 1)
    cuts = sorted(set(starts.gather(at).to_list()) - {0})
    edges = [0, *cuts, n]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


#: Each claim's row in the period's input, carried through the sort of the keys.
_ROW = "_claim_row"


def settle_period(claims: pl.DataFrame, rs: RuleSet, openings: pl.DataFrame | None, chunk_rows: int = CHUNK_ROWS) -> Iterator[pl.DataFrame]:
    """Order the period's claims once, then settle them chunk by chunk (whole person-years per chunk).

    Only the sort keys are sorted, with each claim's row number; each chunk's claims are then
    gathered from the input by those numbers.  A run never holds a second, ordered copy of all
    its claims: beyond the input, memory holds the keys and a chunk per worker.  Chunks are
    independent settlements, so two are settled at a time (``overlap.in_order``; a chunk's
    engine pass keeps about one core busy), and handed on in settlement order.
    """
    # a chunk joins only the openings of its own stretch of persons, not a large ledger's all
    by_person = ByPerson(openings) if openings is not None and openings.height > chunk_rows else None
    all_openings = openings.lazy() if openings is not None else None
    wanted = ["psn_no", rs.ruleset.benefit_year_by, "enddate", "begndate", "setl_id", "is_reversal"]
    keys = claims.select(list(dict.fromkeys(c for c in wanted if c in claims.columns))).with_row_index(_ROW)
    ordered = engine.order_claims(keys.lazy(), rs).collect()
    if ordered.height and ordered["psn_hash_collision"][0]:
        # two person ids share a 64-bit hash: fall back to the (slower) string sort
        ordered = engine.order_claims_by_string(keys.lazy().with_columns(year=engine.benefit_year(rs))).collect()
    del keys
    added = [c for c in ordered.columns if c not in claims.columns and c != _ROW]  # year, run_start, defaults …

    def settle_chunk(bounds: tuple[int, int]) -> pl.DataFrame:
        lo, hi = bounds
        part = ordered.slice(lo, hi - lo)
        chunk = claims.select(pl.all().gather(part[_ROW])).hstack(part.select(added))
        own = by_person.covering(chunk.get_column("psn_no")).lazy() if by_person is not None else all_openings
        out = engine.settle_ordered(chunk.lazy(), rs, own).collect()
        passes = engine.CAP_PASSES
        while engine.needs_more_passes(out) and passes < hi - lo + 1:
            # a person-year changed identity to a lower cap more often than the passes covered
            passes *= 2
            out = engine.settle_ordered(chunk.lazy(), rs, own, passes).collect()
        del chunk
        return label(out, rs)

    yield from in_order(settle_chunk, chunk_bounds(ordered["run_start"], chunk_rows), CHUNK_WORKERS)


def label(ledger: pl.DataFrame, rs: RuleSet) -> pl.DataFrame:
    """Replace the engine's small integer ids by the rule set's names, and stamp the rule set."""
    classes = {v: k for k, v in CLASS_ID.items()}
    places = {v: k for k, v in PLACE_ID.items()}
    return ledger.with_columns(
        benefit_class=pl.col("cls").replace_strict(classes, return_dtype=pl.String),
        tier=pl.col("tier").replace_strict(dict(enumerate(rs.tiers)), return_dtype=pl.String),
        place=pl.col("place").replace_strict(places, return_dtype=pl.String),
        identity=pl.col("ident").replace_strict(dict(enumerate(rs.identities)), return_dtype=pl.String),
        ruleset_id=pl.lit(rs.id),
        ruleset_version=pl.lit(rs.ruleset.version),
    ).drop("cls", "ident", "psn_key", "psn_hash_collision", "unmapped_column", "period", "run_first",
           *[c for c in ledger.columns if c.startswith("open_")], strict=False)


def empty_ledger() -> pl.DataFrame:
    return pl.DataFrame(schema={"setl_id": pl.String, "psn_no": pl.String, "year": pl.Int32})


# ------------------------------------------------------------------ run-time invariants


def with_scope(ledger: pl.DataFrame) -> pl.DataFrame:
    """``covered``, ``scope`` and ``pre`` for a stored (lean) ledger, which does not keep them:
    covered = not ``not_covered``; scope = the policy-scope amount of a covered claim; ``pre`` at
    most the claim's class-B first self-pay (whether a region counts it is the rule set's: as an
    upper bound the funds-within-scope check stays sound)."""
    if "covered" not in ledger.columns:
        ledger = ledger.with_columns(covered=~pl.col("not_covered"))
    covered = pl.col("covered")
    if "scope" not in ledger.columns:
        ledger = ledger.with_columns(scope=pl.when(covered).then(pl.col("inscp_scp_amt")).otherwise(0))
    if "pre" not in ledger.columns:
        ledger = ledger.with_columns(pre=pl.when(covered).then(pl.col("preselfpay_amt")).otherwise(0))
    return ledger


def check_invariants(ledger: pl.DataFrame) -> None:
    """Conservation to the fen for every claim and in total; no negative amount; funds within scope."""
    if ledger.height == 0:
        return
    ledger = with_scope(ledger)
    money = ["hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt", "act_pay_dedc"]
    claim = ~pl.col("is_reversal")
    checks = {
        "amounts present": pl.all_horizontal([pl.col(c).is_not_null() for c in ("medfee_sumamt", "inscp_scp_amt", *money)]),
        "fund_pay_sumamt = hifp_pay + hifmi_pay + maf_pay": pl.col("fund_pay_sumamt")
        == pl.col("hifp_pay") + pl.col("hifmi_pay") + pl.col("maf_pay"),
        "psn_part_amt + fund_pay_sumamt = medfee_sumamt": pl.col("psn_part_amt") + pl.col("fund_pay_sumamt")
        == pl.col("medfee_sumamt"),
        "no negative amount": ~claim | pl.all_horizontal([pl.col(c) >= 0 for c in money]),
        "funds ≤ policy scope (+ counted class-B self-pay)": ~claim | (pl.col("fund_pay_sumamt") <= pl.col("scope") + pl.col("pre")),
        "basic ≤ policy scope": ~claim | (pl.col("hifp_pay") <= pl.col("scope")),
        "a reversal never pays out": claim | pl.all_horizontal([pl.col(c) <= 0 for c in ("hifp_pay", "hifmi_pay", "maf_pay")]),
        "not covered pays nothing": pl.col("covered") | (pl.col("fund_pay_sumamt") == 0),
        "running totals never negative": pl.all_horizontal(
            [pl.col(c) >= 0 for c in ("ytd_medfee", "ytd_hifp", "ytd_hifmi", "ytd_maf", "ytd_critical_base", "ytd_assist_base")]
        ),
    }
    problems = []
    bad = ledger.select(**{name: (~expr).sum() for name, expr in checks.items()}).row(0, named=True)
    for name, n in bad.items():
        if n:
            first = ledger.filter(~checks[name]).select("setl_id").head(3)["setl_id"].to_list()
            problems.append(f"{name}: broken for {n} claim(s), e.g. {first}")
    totals = ledger.select(pl.col("medfee_sumamt", "fund_pay_sumamt", "psn_part_amt").sum()).row(0)
    if totals[0] != totals[1] + totals[2]:
        problems.append(f"total conservation: medfee {totals[0]} ≠ funds {totals[1]} + patients {totals[2]}")
    if problems:
        raise InvariantError(problems)
