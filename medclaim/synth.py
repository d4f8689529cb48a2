"""Synthetic settlement records shaped like a county HIS / national-platform export.

``generate_claims`` draws claims with numpy and assembles them with polars, one chunk of
``CHUNK_ROWS`` rows at a time, so ten million rows take seconds and a few GiB.  The output is
*raw-export shaped*: national field-code column names, benefit classes and hospital levels as
the exports write them (names mostly, codes sometimes), 转诊标志 as 是/否, and amounts as
``Decimal(12, 2)`` yuan as a data-warehouse Parquet export would hold them.  No float ever
reaches an amount column: amounts are drawn, rounded to integer fen, split into parts in
integer fen, and only then written out as decimals, so

    medfee_sumamt = fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt

holds exactly on every row.

Everything is deterministic in ``seed`` (each chunk has its own ``SeedSequence`` child, so the
result does not depend on the machine).  The data is synthetic; ids carry the 东至县 area code
341721 only to look like the real thing.
"""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

__all__ = [
    "AMOUNT_COLUMNS",
    "AMOUNT_DTYPE",
    "BENEFIT_CLASSES",
    "CHUNK_ROWS",
    "HOSP_LV_NAMES",
    "IDENTITIES",
    "MED_TYPE_CLASS",
    "PLACES",
    "fen_to_decimal",
    "generate_claims",
]

#: Rows drawn per chunk: bounds the numpy temporaries (~0.3 GiB per chunk).
CHUNK_ROWS = 1_000_000

AMOUNT_DTYPE = pl.Decimal(12, 2)
AMOUNT_COLUMNS = [
    "medfee_sumamt",
    "fulamt_ownpay_amt",
    "overlmt_selfpay",
    "preselfpay_amt",
    "inscp_scp_amt",
]

#: Assisted identities seen in Anhui county data ("" = ordinary resident), with the share each
#: has among the ~15 % of people who hold one.
IDENTITIES: dict[str, float] = {
    "农村特困供养": 0.07,
    "城市特困供养": 0.02,
    "农村低保": 0.25,
    "城市低保": 0.08,
    "低保边缘户": 0.08,
    "监测户": 0.10,
    "稳定脱贫人口": 0.30,
    "致贫返贫人口": 0.08,
    "孤儿": 0.02,
}

#: National hospital-level codes and their names.
HOSP_LV_NAMES: dict[str, str] = {
    "01": "三级特等",
    "02": "三级甲等",
    "03": "三级乙等",
    "04": "三级丙等",
    "05": "二级甲等",
    "06": "二级乙等",
    "07": "二级丙等",
    "08": "一级甲等",
    "09": "一级乙等",
    "10": "一级丙等",
    "11": "无等级",
}

PLACES = ["本地", "市内异地", "省内异地", "跨省异地"]

#: The generator's benefit classes, in the order of the internal class index.
#: (name as exported, national/provincial code or None, canonical class)
BENEFIT_CLASSES: list[tuple[str, str | None, str]] = [
    ("普通门诊", "11", "outpatient"),
    ("两病门诊", None, "two_diseases"),
    ("门诊慢特病", "14", "chronic"),
    ("普通住院", "21", "inpatient"),
    ("外伤住院", "22", "inpatient"),
    ("急诊转住院", "24", "inpatient"),
    ("定点药店购药", "41", "outpatient"),
]

#: Every med_type value the generator writes → canonical class (for tests and samples).
MED_TYPE_CLASS: dict[str, str] = {}
for _name, _code, _cls in BENEFIT_CLASSES:
    MED_TYPE_CLASS[_name] = _cls
    if _code:
        MED_TYPE_CLASS[_code] = _cls

_OUTPATIENT, _TWO, _CHRONIC, _INPATIENT, _TRAUMA, _EMERGENCY, _PHARMACY = range(7)
_INPATIENT_CLASSES = (_INPATIENT, _TRAUMA, _EMERGENCY)

# ------------------------------------------------------------------ people

# Person profiles: ordinary, two-diseases (hypertension/diabetes), chronic/special disease,
# heavy (several large admissions a year).  Shares of non-heavy profiles; heavy is a parameter.
_PROFILE_SHARE = {"two": 0.15, "chronic": 0.10}
# Relative visit frequency by profile.
_PROFILE_ACTIVITY = np.array([1.0, 2.0, 3.0, 1.5])
# Class probabilities by profile (rows) over the 7 classes (columns).
_CLASS_PROB = np.array(
    [
        # 门诊   两病   慢特   住院   外伤   急诊   药店
        [0.800, 0.000, 0.000, 0.100, 0.015, 0.015, 0.070],  # ordinary
        [0.350, 0.500, 0.000, 0.100, 0.010, 0.020, 0.020],  # two diseases
        [0.250, 0.100, 0.450, 0.150, 0.010, 0.020, 0.020],  # chronic
        [0.150, 0.050, 0.150, 0.550, 0.030, 0.050, 0.020],  # heavy
    ]
)

# ------------------------------------------------------------------ hospital level
# Level probabilities (columns = codes 01..11) by claim group (rows).
_LV_PROB = np.array(
    [
        # 01    02    03    04    05    06    07    08    09    10    11
        [0.00, 0.02, 0.01, 0.00, 0.08, 0.03, 0.01, 0.25, 0.15, 0.05, 0.40],  # outpatient
        [0.00, 0.01, 0.00, 0.00, 0.06, 0.03, 0.00, 0.30, 0.15, 0.05, 0.40],  # two diseases
        [0.02, 0.20, 0.05, 0.00, 0.35, 0.08, 0.02, 0.15, 0.08, 0.02, 0.03],  # chronic
        [0.02, 0.18, 0.06, 0.01, 0.33, 0.10, 0.03, 0.15, 0.08, 0.02, 0.02],  # inpatient
        [0.05, 0.45, 0.10, 0.00, 0.30, 0.05, 0.00, 0.05, 0.00, 0.00, 0.00],  # heavy inpatient
        [0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.00],  # pharmacy
    ]
)
# Inpatient cost multiplier by level 01..11.
_LV_COST = np.array([2.6, 2.0, 1.7, 1.5, 1.0, 0.9, 0.8, 0.45, 0.4, 0.35, 0.35])
# Place-of-care probabilities (本地, 市内异地, 省内异地, 跨省异地) by group.
_PLACE_PROB = np.array(
    [
        [0.985, 0.010, 0.004, 0.001],  # outpatient-like, any level
        [0.960, 0.025, 0.010, 0.005],  # inpatient/chronic, level 二级 and below
        [0.200, 0.450, 0.270, 0.080],  # inpatient/chronic, level 三级
        [1.000, 0.000, 0.000, 0.000],  # pharmacy
    ]
)

_SHARE_CODE = 0.10  # share of rows whose med_type is written as a code (main classes)
_SHARE_CODE_RARE = 0.70  # ... for 外伤住院 / 急诊转住院 / 定点药店购药
_SHARE_LV_NAME = 0.05  # share of rows whose hosp_lv is written as a name


def _cum(prob: np.ndarray) -> np.ndarray:
    c = np.cumsum(prob / prob.sum(axis=-1, keepdims=True), axis=-1)
    c[..., -1] = 1.0 + 1e-9  # guard against rounding so `u < c` always hits the last column
    return c


def _pick(rng: np.random.Generator, cum_rows: np.ndarray) -> np.ndarray:
    """Per-row categorical draw: ``cum_rows`` is (m, k) cumulative probabilities."""
    u = rng.random(cum_rows.shape[0])
    return (u[:, None] >= cum_rows).sum(axis=1).astype(np.int64)


def fen_to_decimal(name: str, fen: np.ndarray) -> pl.Series:
    """Integer fen → Decimal(12,2) yuan, exactly (the fen *are* the unscaled decimal)."""
    fen = np.ascontiguousarray(fen, dtype=np.int64)
    buf = np.empty((fen.shape[0], 2), dtype=np.int64)
    buf[:, 0] = fen
    buf[:, 1] = fen >> 63  # two's-complement sign extension to 128 bits
    arr = pa.Array.from_buffers(pa.decimal128(12, 2), fen.shape[0], [None, pa.py_buffer(buf)])
    return pl.Series(name, arr)


def _gather(name: str, vocab: list[str], idx: np.ndarray) -> pl.Series:
    return pl.Series(name, vocab, dtype=pl.String).gather(pl.Series(idx.astype(np.uint32))).alias(name)


def _period(year: int, month: int | tuple[int, int] | None) -> tuple[int, int]:
    """(first day as days since 1970-01-01, number of days)."""
    if month is None:
        first_m, last_m = 1, 12
    elif isinstance(month, tuple):
        first_m, last_m = month
    else:
        first_m = last_m = int(month)
    if not (1 <= first_m <= last_m <= 12):
        raise ValueError(f"month must be 1..12 or an increasing (first, last) pair, got {month!r}")
    start = dt.date(year, first_m, 1)
    end = dt.date(year, last_m, calendar.monthrange(year, last_m)[1])
    epoch = dt.date(1970, 1, 1)
    return (start - epoch).days, (end - start).days + 1


def _lognormal_fen(rng, median_yuan, sigma, lo_yuan, hi_yuan) -> np.ndarray:
    x = np.asarray(median_yuan) * np.exp(sigma * rng.standard_normal(np.shape(median_yuan) or None))
    return np.rint(np.clip(x, lo_yuan, hi_yuan) * 100).astype(np.int64)


def generate_claims(
    n_claims: int,
    n_people: int | None = None,
    year: int = 2021,
    month: int | tuple[int, int] | None = None,
    seed: int = 0,
    *,
    heavy_share: float = 0.03,
    late_share: float = 0.01,
    setl_start: int = 0,
    area: str = "341721",
) -> pl.DataFrame:
    """Draw ``n_claims`` settlement records for ``n_people`` people (default ``n_claims // 8``).

    Dates fall within ``year`` (or the single ``month``, or an inclusive ``(first, last)`` month
    range).  ``heavy_share`` of people are heavy patients with several large admissions;
    ``late_share`` are late enrollers whose ``benefit_start`` falls inside the period, so some
    of their visits predate it.  ``setl_start`` offsets the settlement-id counter so that
    several generated batches (e.g. an earlier ledger and a new month) never share an id.

    Columns: setl_id, psn_no, psn_idet_type, med_type, hosp_lv, pay_loc, refl_flag (是/否),
    begndate, enddate (Date), the five amounts (Decimal(12,2) yuan), benefit_start (Date, null
    for most people).
    """
    if n_claims < 0:
        raise ValueError("n_claims must be >= 0")
    if n_people is None:
        n_people = max(1, n_claims // 8)
    if n_people < 1:
        raise ValueError("n_people must be >= 1")
    if not (0.0 <= heavy_share <= 1.0 and 0.0 <= late_share <= 1.0):
        raise ValueError("heavy_share and late_share must be within [0, 1]")
    start_day, plen = _period(year, month)
    root = np.random.SeedSequence(seed)
    people = _draw_people(np.random.default_rng(root.spawn(1)[0]), n_people, heavy_share, late_share, plen)
    chunk_seqs = np.random.SeedSequence(seed, spawn_key=(1,))
    n_chunks = -(-n_claims // CHUNK_ROWS)
    chunks = []
    for k, ss in enumerate(chunk_seqs.spawn(max(n_chunks, 1))):
        lo = k * CHUNK_ROWS
        m = min(CHUNK_ROWS, n_claims - lo)
        if m <= 0:
            break
        chunks.append(
            _draw_chunk(np.random.default_rng(ss), m, setl_start + lo, people, start_day, plen, area)
        )
    if not chunks:
        return _draw_chunk(np.random.default_rng(0), 0, 0, people, start_day, plen, area)
    return pl.concat(chunks, rechunk=False)


def _draw_people(rng: np.random.Generator, n: int, heavy_share: float, late_share: float, plen: int):
    u = rng.random(n)
    two, chronic = _PROFILE_SHARE["two"], _PROFILE_SHARE["chronic"]
    profile = np.zeros(n, dtype=np.int64)
    profile[u < two + chronic + heavy_share] = 1
    profile[u < chronic + heavy_share] = 2
    profile[u < heavy_share] = 3
    # Visit frequency: gamma-skewed (clipped) so some people visit often, many rarely.
    weight = np.clip(rng.gamma(0.8, 1.0, n), 0.05, 4.0) * _PROFILE_ACTIVITY[profile]
    cw = np.cumsum(weight)
    cw /= cw[-1]
    # Assisted identity: ~15 % of people; index 0 = ordinary resident.
    ident_share = np.array(list(IDENTITIES.values()))
    ident = np.where(
        rng.random(n) < 0.15,
        1 + np.searchsorted(np.cumsum(ident_share / ident_share.sum()), rng.random(n), side="right"),
        0,
    )
    ident = np.minimum(ident, len(IDENTITIES))
    # Late enrollers: benefits start 10 %–70 % of the way into the period.
    late = rng.random(n) < late_share
    late_offset = (np.floor(plen * (0.1 + 0.6 * rng.random(n)))).astype(np.int32)
    return {"profile": profile, "cw": cw, "ident": ident, "late": late, "late_offset": late_offset}


def _draw_chunk(rng, m, first_no, people, start_day, plen, area) -> pl.DataFrame:
    n_people = people["profile"].shape[0]
    p = np.minimum(np.searchsorted(people["cw"], rng.random(m), side="right"), n_people - 1)
    prof = people["profile"][p]
    heavy = prof == 3

    # --- benefit class
    cls = _pick(rng, _cum(_CLASS_PROB)[prof])
    inpat = np.isin(cls, _INPATIENT_CLASSES)
    # med_type as exported: name, or code for some rows (always a name for 两病门诊)
    names = [c[0] for c in BENEFIT_CLASSES]
    codes = [c[1] or c[0] for c in BENEFIT_CLASSES]
    rare = np.isin(cls, (_TRAUMA, _EMERGENCY, _PHARMACY))
    as_code = rng.random(m) < np.where(rare, _SHARE_CODE_RARE, _SHARE_CODE)
    med_idx = np.where(as_code, cls + 7, cls)
    med_type = _gather("med_type", names + codes, med_idx)

    # --- hospital level
    group = np.select(
        [cls == _PHARMACY, inpat & heavy, inpat, cls == _CHRONIC, cls == _TWO],
        [5, 4, 3, 2, 1],
        default=0,
    )
    lv = _pick(rng, _cum(_LV_PROB)[group])  # 0..10 → codes 01..11
    lv_codes = list(HOSP_LV_NAMES)
    lv_names = list(HOSP_LV_NAMES.values())
    lv_idx = np.where(rng.random(m) < _SHARE_LV_NAME, lv + 11, lv)
    hosp_lv = _gather("hosp_lv", lv_codes + lv_names, lv_idx)

    # --- place of care and referral
    tier3 = lv <= 3
    pgroup = np.select(
        [cls == _PHARMACY, (inpat | (cls == _CHRONIC)) & tier3, inpat | (cls == _CHRONIC)],
        [3, 2, 1],
        default=0,
    )
    place = _pick(rng, _cum(_PLACE_PROB)[pgroup])
    pay_loc = _gather("pay_loc", PLACES, place)
    p_refl = np.where(inpat & (place > 0), 0.55, np.where(inpat & tier3, 0.05, 0.0))
    refl = (rng.random(m) < p_refl).astype(np.int64)
    refl_flag = _gather("refl_flag", ["否", "是"], refl)

    # --- dates: outpatient same day; inpatient stays 1–30 days, inside the period
    los_median = np.where(heavy, 12.0, 7.0)
    los = np.clip(np.rint(los_median * np.exp(0.6 * rng.standard_normal(m))), 1, 30).astype(np.int64)
    los = np.where(inpat, np.minimum(los, plen), 1)
    begin = start_day + np.floor(rng.random(m) * (plen - los + 1)).astype(np.int64)
    end = begin + los - 1

    # --- amounts in integer fen
    total = np.empty(m, dtype=np.int64)
    for c, (median, sigma, lo_y, hi_y) in {
        _OUTPATIENT: (90.0, 0.8, 20.0, 600.0),
        _PHARMACY: (80.0, 0.8, 20.0, 600.0),
        _TWO: (110.0, 0.5, 30.0, 300.0),
        _CHRONIC: (900.0, 0.8, 200.0, 5000.0),
    }.items():
        sel = cls == c
        total[sel] = _lognormal_fen(rng, np.full(sel.sum(), median), sigma, lo_y, hi_y)
    # Inpatient: log-normal, median ~6,000 yuan at a 二级 hospital, heavy tail to 400,000;
    # heavy patients' admissions are much larger (median ~30,000 before the level factor).
    sel = inpat
    median = np.where(heavy[sel], 30000.0, 6000.0) * _LV_COST[lv[sel]]
    median = median * np.select([cls[sel] == _TRAUMA, cls[sel] == _EMERGENCY], [0.9, 1.3], 1.0)
    sigma = np.where(heavy[sel], 0.8, 0.85)
    total[sel] = _lognormal_fen(rng, median, sigma, 300.0, 400000.0)

    # Parts as fractions of the total, a few % to ~20 % together.
    u = rng.random((4, m))
    big = inpat
    chron = cls == _CHRONIC
    f_own = np.select([big, chron], [0.01 + 0.09 * u[0], 0.06 * u[0]], np.where(u[3] < 0.5, 0.15 * u[0], 0.0))
    f_over = np.select(
        [big, chron],
        [np.where(u[3] < 0.4, 0.03 * u[1], 0.0), np.where(u[3] < 0.2, 0.02 * u[1], 0.0)],
        np.where(u[3] < 0.1, 0.03 * u[1], 0.0),
    )
    f_pre = np.select([big, chron], [0.02 + 0.06 * u[2], 0.06 * u[2]], np.where(u[3] < 0.4, 0.05 * u[2], 0.0))
    own = np.floor(total * f_own).astype(np.int64)
    over = np.floor(total * f_over).astype(np.int64)
    pre = np.floor(total * f_pre).astype(np.int64)
    inscp = total - own - over - pre

    # --- people
    ident_vocab = [""] + list(IDENTITIES)
    late = people["late"][p]
    bstart = pl.Series("benefit_start", start_day + people["late_offset"][p], dtype=pl.Int32)
    bstart = pl.select(
        pl.when(pl.Series(late)).then(bstart).otherwise(None).cast(pl.Date).alias("benefit_start")
    ).to_series()

    ids = pl.DataFrame({"i": np.arange(first_no, first_no + m, dtype=np.int64), "p": p.astype(np.int64)})
    ids = ids.select(
        (pl.lit(area) + pl.col("i").cast(pl.String).str.zfill(10)).alias("setl_id"),
        (pl.lit(area) + pl.col("p").cast(pl.String).str.zfill(12)).alias("psn_no"),
    )
    return pl.DataFrame(
        [
            ids["setl_id"],
            ids["psn_no"],
            _gather("psn_idet_type", ident_vocab, people["ident"][p]),
            med_type,
            hosp_lv,
            pay_loc,
            refl_flag,
            pl.Series("begndate", begin.astype(np.int32)).cast(pl.Date),
            pl.Series("enddate", end.astype(np.int32)).cast(pl.Date),
            fen_to_decimal("medfee_sumamt", total),
            fen_to_decimal("fulamt_ownpay_amt", own),
            fen_to_decimal("overlmt_selfpay", over),
            fen_to_decimal("preselfpay_amt", pre),
            fen_to_decimal("inscp_scp_amt", inscp),
            bstart,
        ]
    )
