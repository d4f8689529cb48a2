"""Review rules: claims a reviewer should look at, whatever the arithmetic says.

Each rule is a whole-frame polars expression (window functions, an as-of join, group counts) —
no loop over claims or people.  A flag names its code, the claim, the claims it links, the
parameters it used and the rule-file key they come from.  Codes (docs/audit.md):

* ``overlapping_stays`` — an inpatient stay of a person that starts before another of their
  stays has ended (a transfer on the discharge day is not an overlap);
* ``outpatient_in_stay`` — an outpatient, chronic-outpatient or two-diseases claim dated strictly
  inside an inpatient stay of the same person (admission and discharge days are allowed);
* ``quick_readmission`` — 分解住院: an admission at the same hospital within ``readmission_days``
  days of the previous discharge there;
* ``same_day_repeat`` — more than ``same_day_max`` settlements of one person at one hospital on one
  (end) date;
* ``zero_day_stay`` — an inpatient stay shorter than ``min_stay_days`` days (end − start);
* ``cost_outlier`` — a total cost above median + ``outlier_k`` × MAD × 1.4826 of the claims of the
  same benefit class and hospital tier in the audited input (groups of fewer than
  ``outlier_min_peers`` claims, or with MAD 0, are not judged);
* ``frequent_outpatient`` — more than ``outpatient_visits_per_month`` outpatient claims of one
  person in a calendar month (by start date), the classes in ``outpatient_classes``.

The hospital is ``fixmedins_code`` where the input has it, else the input file (one file per
hospital, as the monthly extracts arrive).
"""

from __future__ import annotations

import polars as pl

from ..person import person_hash
from ..rules.audit import ReviewRules

FLAG_SCHEMA = {
    "code": pl.String,
    "setl_id": pl.String,
    "psn_no": pl.String,
    "hospital_code": pl.String,
    "hospital_name": pl.String,
    "benefit_class": pl.String,
    "begndate": pl.Date,
    "enddate": pl.Date,
    "medfee_sumamt": pl.Int64,
    "linked_setl_ids": pl.String,
    "parameters": pl.String,
    "rule_key": pl.String,
    "message": pl.String,
}
OUTPATIENT_IN_STAY_CLASSES = ["general_outpatient", "chronic_outpatient", "two_diseases"]
MAD_SCALE = 1.4826  # MAD × 1.4826 estimates the standard deviation of normally distributed costs


def hospital_columns(frame: pl.DataFrame) -> list[pl.Expr]:
    """``hospital_code`` and ``hospital_name``: the input's 定点医药机构 columns, else the file."""
    code = pl.col("source_file").fill_null("")
    if "fixmedins_code" in frame.columns:
        code = pl.when(pl.col("fixmedins_code").fill_null("") != "").then(pl.col("fixmedins_code")).otherwise(code)
    name = pl.col("fixmedins_name").fill_null("") if "fixmedins_name" in frame.columns else pl.lit("")
    return [code.alias("hospital_code"), name.alias("hospital_name")]


#: The columns the review rules read (``review_rows``), one row per claim.
ROW_SCHEMA = {
    "setl_id": pl.String, "psn_no": pl.String, "hospital_code": pl.String, "hospital_name": pl.String,
    "benefit_class": pl.String, "begndate": pl.Date, "enddate": pl.Date, "medfee_sumamt": pl.Int64, "tier": pl.String,
    "_pk": pl.UInt64,
}


def review_rows(ledger: pl.DataFrame | None) -> pl.DataFrame:
    """The few columns of the settled claims (not the reversal entries) the review rules read,
    from a whole ledger or one chunk of it (``None``: no claims)."""
    if ledger is None or ledger.height == 0:
        return pl.DataFrame(schema=ROW_SCHEMA)
    frame = ledger.lazy().filter(~pl.col("is_reversal")) if "is_reversal" in ledger.columns else ledger.lazy()
    return frame.select(  # selected before the filter runs: it copies these columns, not the wide ledger
        "setl_id", "psn_no", *hospital_columns(ledger), "benefit_class", "begndate", "enddate", "medfee_sumamt",
        pl.col("tier").cast(pl.String),
        # sorting and grouping on a 64-bit hash of the person id is much cheaper than on the string
        _pk=person_hash(pl.col("psn_no")),
    ).collect()


def _keyed(w: pl.DataFrame) -> pl.DataFrame:
    """``review_rows`` grouped by person on the hash, or on the id itself if two people share one.

    In one piece: rows gathered chunk by chunk come in several, and polars (1.44) panics
    ("assertion failed: i < self.len()") formatting text from columns cut differently."""
    w = w.rechunk()
    if w.select(pl.col("_pk").n_unique() != pl.col("psn_no").n_unique()).item():
        w = w.with_columns(_pk=pl.col("psn_no"))  # two people share a hash: group on the id itself
    return w


def _flag(frame: pl.LazyFrame, code: str, linked: pl.Expr, parameters: str, key: str, message: pl.Expr) -> pl.LazyFrame:
    return frame.select(
        pl.lit(code).alias("code"),
        "setl_id", "psn_no", "hospital_code", "hospital_name", "benefit_class", "begndate", "enddate", "medfee_sumamt",
        linked.alias("linked_setl_ids"),
        pl.lit(parameters).alias("parameters"),
        pl.lit(key).alias("rule_key"),
        message.alias("message"),
    ).cast(FLAG_SCHEMA)


def _date(col: str) -> pl.Expr:
    return pl.col(col).dt.to_string("%Y-%m-%d")


#: A person's ordinal is placed above the 32 bits of a day number (``_running_max``).
_PERSON_STEP = 1 << 32
_DAY_OFFSET = 1 << 31


def _new_person() -> pl.Expr:
    """True on the first row of each person (rows sorted by ``_pk``)."""
    return (pl.col("_pk") != pl.col("_pk").shift(1)).fill_null(True)


def _running_max(date: str) -> pl.Expr:
    """The latest ``date`` of the person's rows so far (rows sorted by ``_pk``).

    A running maximum per person without a window: each day number is raised by the person's
    ordinal times 2³², so the values rise from one person to the next and one running maximum
    over all the rows never carries a person's value into the next person."""
    person = _new_person().cum_sum().cast(pl.Int64) * _PERSON_STEP
    day = pl.col(date).cast(pl.Int32).cast(pl.Int64) + _DAY_OFFSET
    return ((day + person).cum_max() - person - _DAY_OFFSET).cast(pl.Int32).cast(pl.Date)


def _stays(w: pl.LazyFrame) -> pl.LazyFrame:
    """Inpatient stays by person and admission date, with the latest discharge of the person's
    stays so far (``_max_end``) and the stay it belongs to (``_max_id``, ``_max_begin``)."""
    ip = w.filter(pl.col("benefit_class") == "inpatient").sort("_pk", "begndate", "enddate", "setl_id").with_row_index("_row")
    ip = ip.with_columns(_max_end=_running_max("enddate"))
    # the row of the latest stay holding that discharge: row numbers rise, and the person's first
    # row always holds its own discharge, so a running maximum stays within the person
    holds = pl.col("enddate") == pl.col("_max_end")
    ip = ip.with_columns(_max_row=pl.when(holds).then(pl.col("_row")).otherwise(0).cum_max())
    return ip.with_columns(
        _max_id=pl.col("setl_id").gather(pl.col("_max_row")),
        _max_begin=pl.col("begndate").gather(pl.col("_max_row")),
    ).drop("_row", "_max_row")


def overlapping_stays(stays: pl.LazyFrame) -> pl.LazyFrame:
    # what the previous stay saw, on every stay but a person's first (rows sorted by person):
    # gathered by its row, not shifted — a shifted column comes in two pieces, and polars (1.44)
    # panics formatting text from columns cut differently ("assertion failed: i < self.len()")
    previous = pl.int_range(pl.len()).sub(1).clip(lower_bound=0)
    prev = {f"_prev{c}": pl.col(c).gather(previous) for c in ("_max_end", "_max_id", "_max_begin")}
    hit = stays.with_columns(_first=_new_person(), **prev).filter(~pl.col("_first") & (pl.col("begndate") < pl.col("_prev_max_end")))
    return _flag(
        hit, "overlapping_stays", pl.col("_prev_max_id"), "", "audit.review",
        pl.format("stay {} → {} starts before the stay {} ({} → {}) of the same person has ended",
                  _date("begndate"), _date("enddate"), pl.col("_prev_max_id"), _date("_prev_max_begin"), _date("_prev_max_end")),
    )


def outpatient_in_stay(w: pl.LazyFrame, stays: pl.LazyFrame) -> pl.LazyFrame:
    visits = w.filter(pl.col("benefit_class").is_in(OUTPATIENT_IN_STAY_CLASSES)).sort("begndate")
    right = stays.select("_pk", pl.col("begndate").alias("_stay_begin"), "_max_end", "_max_id", "_max_begin").sort("_stay_begin")
    joined = visits.join_asof(
        right, left_on="begndate", right_on="_stay_begin", by="_pk", strategy="backward", allow_exact_matches=False, check_sortedness=False,
    )
    hit = joined.filter(pl.col("begndate") < pl.col("_max_end"))
    return _flag(
        hit, "outpatient_in_stay", pl.col("_max_id"), "", "audit.review",
        pl.format("{} claim dated {} lies inside inpatient stay {} ({} → {})",
                  pl.col("benefit_class"), _date("begndate"), pl.col("_max_id"), _date("_max_begin"), _date("_max_end")),
    )


def quick_readmission(stays: pl.LazyFrame, days: int) -> pl.LazyFrame:
    by = ["_pk", "hospital_code"]
    s = stays.sort(*by, "begndate", "enddate", "setl_id").with_columns(
        _prev_end=pl.col("enddate").shift(1).over(by), _prev_id=pl.col("setl_id").shift(1).over(by),
    ).with_columns(_gap=(pl.col("begndate") - pl.col("_prev_end")).dt.total_days())
    hit = s.filter((pl.col("_gap") >= 0) & (pl.col("_gap") <= days))
    return _flag(
        hit, "quick_readmission", pl.col("_prev_id"), f"readmission_days={days}", "audit.review.readmission_days",
        pl.format("admitted {} day(s) after discharge from the same hospital on {} (stay {}); within {} days: possible 分解住院",
                  pl.col("_gap"), _date("_prev_end"), pl.col("_prev_id"), pl.lit(days)),
    )


def same_day_repeat(w: pl.LazyFrame, most: int) -> pl.LazyFrame:
    by = ["_pk", "hospital_code", "enddate"]
    # (``most`` is at least 1: only a settlement sharing its person, hospital and day can be one
    # too many) count only those, and list the linked ids of the few groups that are flagged
    hit = w.filter(pl.struct(by).is_duplicated()).with_columns(_n=pl.len().over(by)).filter(pl.col("_n") > most)
    hit = hit.with_columns(_ids=pl.col("setl_id").sort().str.join(";").over(by))
    return _flag(
        hit, "same_day_repeat", pl.col("_ids"), f"same_day_max={most}", "audit.review.same_day_max",
        pl.format("{} settlements of this person at this hospital on {} (more than {})", pl.col("_n"), _date("enddate"), pl.lit(most)),
    )


def zero_day_stay(w: pl.LazyFrame, min_days: int) -> pl.LazyFrame:
    days = (pl.col("enddate") - pl.col("begndate")).dt.total_days()
    hit = w.filter((pl.col("benefit_class") == "inpatient") & (days < min_days)).with_columns(_days=days)
    return _flag(
        hit, "zero_day_stay", pl.lit(""), f"min_stay_days={min_days}", "audit.review.min_stay_days",
        pl.format("inpatient stay of {} day(s) ({} → {}), shorter than {}", pl.col("_days"), _date("begndate"), _date("enddate"), pl.lit(min_days)),
    )


def cost_outlier(w: pl.LazyFrame, k: float, min_peers: int) -> pl.LazyFrame:
    from ..money import fen_to_yuan_expr

    by = ["benefit_class", "tier"]
    cost = pl.col("medfee_sumamt").cast(pl.Float64)
    s = w.with_columns(_n=pl.len().over(by), _med=cost.median().over(by)).with_columns(
        _mad=(cost - pl.col("_med")).abs().median().over(by)
    ).with_columns(_limit=pl.col("_med") + k * MAD_SCALE * pl.col("_mad"))
    hit = s.filter((pl.col("_n") >= min_peers) & (pl.col("_mad") > 0) & (cost > pl.col("_limit")))
    # the limit shown rounded down to the fen: the claim is above it either way
    limit_fen = pl.col("_limit").floor().cast(pl.Int64)
    return _flag(
        hit, "cost_outlier", pl.lit(""), f"outlier_k={k:g}; outlier_min_peers={min_peers}", "audit.review.outlier_k",
        pl.format("total cost {} above {} = median {} + {} × MAD {} × 1.4826 of {} {} claims at {} hospitals",
                  fen_to_yuan_expr(pl.col("medfee_sumamt")), fen_to_yuan_expr(limit_fen),
                  fen_to_yuan_expr(pl.col("_med").round(0).cast(pl.Int64)), pl.lit(f"{k:g}"),
                  fen_to_yuan_expr(pl.col("_mad").round(0).cast(pl.Int64)), pl.col("_n"), pl.col("benefit_class"), pl.col("tier")),
    )


def frequent_outpatient(w: pl.LazyFrame, most: int, classes: list[str]) -> pl.LazyFrame:
    by = ["_pk", "_month"]
    month = pl.col("begndate").dt.year().cast(pl.Int32) * 12 + pl.col("begndate").dt.month().cast(pl.Int32)
    s = (
        w.filter(pl.col("benefit_class").is_in(classes))
        .with_columns(_month=month)
        .with_columns(_n=pl.len().over(by))
        .filter(pl.col("_n") > most)  # the few busy person-months only from here on
        .sort(*by, "begndate", "setl_id")
        .with_columns(_i=pl.int_range(1, pl.len() + 1).over(by), _ids=pl.col("setl_id").str.join(";").over(by))
    )
    hit = s.filter(pl.col("_i") == most + 1).with_columns(_month=pl.col("begndate").dt.strftime("%Y-%m"))
    # one flag per person-month, on the first visit beyond the limit
    return _flag(
        hit, "frequent_outpatient", pl.col("_ids"), f"outpatient_visits_per_month={most}", "audit.review.outpatient_visits_per_month",
        pl.format("{} outpatient claims of this person in {} (more than {})", pl.col("_n"), pl.col("_month"), pl.lit(most)),
    )


def review_flags(ledger: pl.DataFrame, p: ReviewRules) -> pl.DataFrame:
    """Every review rule over the settled claims; one row per flag, in code order."""
    return flags_of(review_rows(ledger), p)


def _person_rules(rows: pl.DataFrame, p: ReviewRules) -> list[pl.LazyFrame]:
    """The rules that look at one person's claims at a time (all but ``cost_outlier``)."""
    w = _keyed(rows).lazy()
    stays = _stays(w)
    return [
        overlapping_stays(stays),
        outpatient_in_stay(w, stays),
        quick_readmission(stays, p.readmission_days),
        same_day_repeat(w, p.same_day_max),
        zero_day_stay(w, p.min_stay_days),
        frequent_outpatient(w, p.outpatient_visits_per_month, p.outpatient_classes),
    ]


def _in_order(parts: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(parts).sort("code", "psn_no", "begndate", "setl_id")


def flags_of(rows: pl.DataFrame, p: ReviewRules) -> pl.DataFrame:
    """Every review rule over ``review_rows`` of all the settled claims."""
    # the seven rules as one set of lazy queries collected together: polars runs them side by side
    # and computes the stays they share once
    return _in_order(pl.collect_all([*_person_rules(rows, p), cost_outlier(rows.lazy(), p.outlier_k, p.outlier_min_peers)]))


class Review:
    """The review rules over the settled claims as the engine hands them over, chunk by chunk.

    The rules that look at one person at a time run on each chunk's persons as soon as the chunk
    is in (in the settle pipeline's sink thread, beside the engine): the engine settles persons
    in the order of their hash, so a chunk holds whole persons but its last, whose next year may
    open the next chunk — that person waits for it.  ``cost_outlier`` compares each claim with
    all its peers: it runs when every chunk is in, over the few columns kept of every claim.
    Should the chunks ever not come in person order (several rule periods: each is settled in
    turn), the person rules run again over all the claims at the end."""

    def __init__(self, p: ReviewRules):
        self.p = p
        self._rows: list[pl.DataFrame] = []  # review_rows of every chunk
        self._flags: list[pl.DataFrame] = []  # of the persons done
        self._waiting: pl.DataFrame | None = None  # the last person so far, whose claims may go on
        self._last: int | None = None  # the hash of that person
        self._in_order = True

    def add(self, rows: pl.DataFrame) -> None:
        """``review_rows`` of the next chunk in settlement order."""
        if rows.height == 0:
            return
        self._rows.append(rows)
        if not self._in_order:
            return
        pk = rows.get_column("_pk")
        if not pk.is_sorted() or (self._last is not None and pk[0] < self._last):
            self._in_order = False  # the chunks do not come person after person: all at the end
            self._flags, self._waiting = [], None
            return
        self._last = pk[-1]
        rows = pl.concat([self._waiting, rows]) if self._waiting is not None else rows
        last = pl.col("_pk") == self._last
        done, self._waiting = rows.filter(~last), rows.filter(last)
        if done.height:
            self._flags += pl.collect_all(_person_rules(done, self.p))

    def flags(self) -> pl.DataFrame:
        """Every flag, in code order (as ``flags_of`` over all the claims)."""
        rows = pl.concat(self._rows) if self._rows else review_rows(None)
        if not self._in_order:
            return flags_of(rows, self.p)
        waiting = self._waiting if self._waiting is not None else review_rows(None)
        last = pl.collect_all([*_person_rules(waiting, self.p), cost_outlier(rows.lazy(), self.p.outlier_k, self.p.outlier_min_peers)])
        return _in_order([*self._flags, *last])


CODES = ["overlapping_stays", "outpatient_in_stay", "quick_readmission", "same_day_repeat", "zero_day_stay",
         "cost_outlier", "frequent_outpatient"]
