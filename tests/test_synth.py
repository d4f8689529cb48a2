"""The synthetic claim generator (medclaim.synth) and the bundled sample month (sample_data/)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medclaim import synth
from medclaim.synth import AMOUNT_COLUMNS, IDENTITIES, MED_TYPE_CLASS, generate_claims

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
SAMPLE_FILES = [
    "dongzhi-2021-03-hospital-a.csv",
    "dongzhi-2021-03-hospital-b.parquet",
    "dongzhi-2021-03-hospital-c.xlsx",
]
PARTS = ["fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt"]


def fen(df: pl.DataFrame) -> pl.DataFrame:
    """Decimal(12,2) yuan → Int64 fen, exactly."""
    return df.with_columns([(pl.col(c) * 100).cast(pl.Int64) for c in AMOUNT_COLUMNS])


def with_class(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.col("med_type").replace_strict(MED_TYPE_CLASS).alias("cls"))


@pytest.fixture(scope="module")
def year_claims() -> pl.DataFrame:
    return generate_claims(60_000, seed=11)


# ------------------------------------------------------------------ generator


def test_deterministic_in_seed():
    a = generate_claims(5_000, seed=3)
    b = generate_claims(5_000, seed=3)
    c = generate_claims(5_000, seed=4)
    assert a.equals(b)
    assert not a.equals(c)


def test_schema(year_claims):
    s = year_claims.schema
    assert list(s) == [
        "setl_id", "psn_no", "psn_idet_type", "med_type", "hosp_lv", "pay_loc", "refl_flag",
        "begndate", "enddate", *AMOUNT_COLUMNS, "benefit_start",
    ]
    for c in AMOUNT_COLUMNS:
        assert s[c] == pl.Decimal(12, 2)
    for c in ("begndate", "enddate", "benefit_start"):
        assert s[c] == pl.Date
    for c in ("setl_id", "psn_no", "psn_idet_type", "med_type", "hosp_lv", "pay_loc", "refl_flag"):
        assert s[c] == pl.String
    assert year_claims.height == 60_000
    assert year_claims.select(pl.exclude("benefit_start").null_count()).sum_horizontal().item() == 0


def test_scope_is_total_minus_parts_exactly(year_claims):
    d = fen(year_claims)
    assert d.filter(
        pl.col("inscp_scp_amt") != pl.col("medfee_sumamt") - pl.sum_horizontal(PARTS)
    ).height == 0
    assert d.select(pl.min_horizontal(AMOUNT_COLUMNS).min()).item() >= 0
    # parts are a few % up to ~20 % of the total
    share = d.select((pl.sum_horizontal(PARTS) / pl.col("medfee_sumamt")).max()).item()
    assert 0.05 < share <= 0.25


def test_every_class_and_form_present(year_claims):
    d = with_class(year_claims)
    assert set(d["cls"].unique()) == {"outpatient", "two_diseases", "chronic", "inpatient"}
    assert set(d["med_type"].unique()) == set(MED_TYPE_CLASS)  # names and codes 11/14/21/22/24/41
    lv = set(d["hosp_lv"].unique())
    assert {f"{i:02d}" for i in range(1, 12)} <= lv and lv & set(synth.HOSP_LV_NAMES.values())
    assert set(d["pay_loc"].unique()) == set(synth.PLACES)
    assert set(d["refl_flag"].unique()) == {"是", "否"}
    assert d.filter(pl.col("pay_loc") == "本地").height / d.height > 0.85


def test_amounts_by_class(year_claims):
    d = with_class(fen(year_claims))
    r = {c: (lo, hi) for c, lo, hi in d.group_by("cls").agg(
        pl.col("medfee_sumamt").min().alias("lo"), pl.col("medfee_sumamt").max().alias("hi")).rows()}
    assert 2_000 <= r["outpatient"][0] and r["outpatient"][1] <= 60_000
    assert 3_000 <= r["two_diseases"][0] and r["two_diseases"][1] <= 30_000
    assert 20_000 <= r["chronic"][0] and r["chronic"][1] <= 500_000
    assert r["inpatient"][1] <= 40_000_000
    med = d.filter(pl.col("cls") == "inpatient")["medfee_sumamt"].median()
    assert 400_000 < med < 1_500_000  # median in the several-thousand-yuan range


def test_identity_and_benefit_start_constant_per_person(year_claims):
    per = year_claims.group_by("psn_no").agg(
        pl.col("psn_idet_type").n_unique().alias("ni"),
        pl.col("benefit_start").n_unique().alias("nb"),
        pl.col("psn_idet_type").first().alias("idet"),
    )
    assert per["ni"].max() == 1 and per["nb"].max() == 1
    ordinary = (per["idet"] == "").mean()
    assert 0.78 < ordinary < 0.92
    assert set(per["idet"].unique()) - {""} <= set(IDENTITIES)


def test_unique_ids_and_offsets():
    a = generate_claims(3_000, seed=1)
    b = generate_claims(3_000, seed=2, setl_start=3_000)
    assert a["setl_id"].is_unique().all()
    assert set(a["setl_id"]).isdisjoint(set(b["setl_id"]))
    assert a["setl_id"].str.starts_with("341721").all()


def test_chunks_share_people(monkeypatch):
    """Several chunks: ids stay unique and a person keeps one identity across chunks."""
    monkeypatch.setattr(synth, "CHUNK_ROWS", 1_000)
    d = generate_claims(4_500, n_people=300, seed=5)
    assert d.height == 4_500 and d["setl_id"].is_unique().all()
    assert d.group_by("psn_no").agg(pl.col("psn_idet_type").n_unique())["psn_idet_type"].max() == 1
    assert d.slice(0, 1_000)["psn_no"].is_in(d.slice(3_000, 1_500)["psn_no"].implode()).any()


def test_dates_within_period():
    d = with_class(generate_claims(20_000, year=2021, month=2, seed=9))
    assert d["begndate"].min() >= dt.date(2021, 2, 1) and d["enddate"].max() <= dt.date(2021, 2, 28)
    los = d.with_columns((pl.col("enddate") - pl.col("begndate")).dt.total_days().alias("los"))
    assert los.filter(pl.col("cls") != "inpatient")["los"].max() == 0
    inp = los.filter(pl.col("cls") == "inpatient")["los"]
    assert inp.min() >= 0 and inp.max() <= 27 and inp.max() > 10
    y = generate_claims(5_000, year=2022, seed=9)
    assert y["begndate"].min() >= dt.date(2022, 1, 1) and y["enddate"].max() <= dt.date(2022, 12, 31)


def test_heavy_patients_and_late_enrollers(year_claims):
    d = with_class(fen(year_claims))
    inp = d.filter(pl.col("cls") == "inpatient").group_by("psn_no").agg(
        pl.len().alias("stays"), pl.col("inscp_scp_amt").sum().alias("scope"))
    # some people pass the annual caps (≈300,000 yuan of policy scope ≈ 200,000 of fund payment)
    assert inp.filter((pl.col("scope") > 30_000_000) & (pl.col("stays") >= 3)).height >= 5
    # … and the cumulative 大病 base crosses each segment bound somewhere
    for bound in (1_500_000, 5_000_000, 10_000_000):
        assert inp.filter(pl.col("scope") > bound).height > 0
    late = d.filter(pl.col("benefit_start").is_not_null())
    n_late = late["psn_no"].n_unique()
    assert 0 < n_late < 0.05 * d["psn_no"].n_unique()
    assert late.filter(pl.col("enddate") < pl.col("benefit_start")).height > 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 3_000),
    people=st.integers(1, 500),
    seed=st.integers(0, 2**32 - 1),
    month=st.one_of(st.none(), st.integers(1, 12)),
)
def test_invariants_hold_for_any_seed(n, people, seed, month):
    d = generate_claims(n, n_people=people, year=2024, month=month, seed=seed)
    assert d.height == n
    if n == 0:
        return
    f = fen(d)
    assert f.filter(pl.col("inscp_scp_amt") != pl.col("medfee_sumamt") - pl.sum_horizontal(PARTS)).height == 0
    assert f.select(pl.min_horizontal(AMOUNT_COLUMNS).min()).item() >= 0
    assert d["setl_id"].is_unique().all()
    assert (d["enddate"] >= d["begndate"]).all()
    assert d["psn_no"].n_unique() <= people
    assert d["begndate"].min().year == 2024 and d["enddate"].max().year == 2024


# ------------------------------------------------------------------ sample data


def test_sample_files_exist():
    for name in SAMPLE_FILES + ["make_sample_data.py", "README.md"]:
        assert (SAMPLE / name).is_file(), name


def test_sample_csv_is_really_gbk():
    raw = (SAMPLE / SAMPLE_FILES[0]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gbk")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    assert header[:4] == ["结算ID", "就诊ID", "个人编号", "人员姓名"]
    assert {"人员身份类别", "转诊标志", "待遇开始日期", "医疗类别", "范围内费用"} <= set(header)
    assert all(len(r) == len(header) for r in rows)
    assert rows[-1][0] == "合计"
    ids = [r[0] for r in rows[1:]]
    for k in range(1, 11):  # BAD11/12 reuse earlier ids, BAD13 is the 合计 line
        assert sum(1 for i in ids if i.endswith(f"BAD{k:02d}")) == 1, k
    assert sum(1 for i in ids if i.endswith("ODD01")) == 1
    assert len(ids) - len(set(ids)) == 2  # BAD11 and BAD12 repeat earlier 结算IDs


def test_sample_valid_rows_are_consistent():
    b = pl.read_parquet(SAMPLE / SAMPLE_FILES[1])
    assert b.schema["medfee_sumamt"] == pl.Decimal(12, 2) and b.schema["enddate"] == pl.Date
    f = fen(b)
    assert f.filter(pl.col("inscp_scp_amt") != pl.col("medfee_sumamt") - pl.sum_horizontal(PARTS)).height == 0
    assert b["psn_no"].null_count() == 1  # BAD14
    assert b["enddate"].min() >= dt.date(2021, 3, 1) and b["enddate"].max() <= dt.date(2021, 3, 31)
    c = pl.read_excel(SAMPLE / SAMPLE_FILES[2])
    assert c.schema["医疗费总额"] == pl.Float64 and c.schema["入院日期"] == pl.Date
    assert (c["全自费金额"] < 0).sum() == 1  # BAD15
    people = set(b["psn_no"].drop_nulls()) & set(c["人员编号"])
    assert len(people) > 50  # people appear across hospitals


def test_sample_regenerates_identically(tmp_path):
    subprocess.run(
        [sys.executable, str(SAMPLE / "make_sample_data.py"), "--out", str(tmp_path), "--quiet"],
        check=True, cwd=ROOT,
    )
    for name in SAMPLE_FILES:
        assert (tmp_path / name).read_bytes() == (SAMPLE / name).read_bytes(), name
