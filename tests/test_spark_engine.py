"""Spark (local mode) runs the local engine per partition of persons: the results must equal the
local engine's, claim for claim — as a library call on DataFrames and as runs of a ledger fed by
both engines.  One SparkSession for the module (the JVM start costs seconds); small data."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e '.[spark,test]')")

from medclaim import store  # noqa: E402
from medclaim.cli import app  # noqa: E402
from medclaim.io import read_claims  # noqa: E402
from medclaim.pipeline import append_claims, reverse_claims  # noqa: E402
from medclaim.rules import load_rulebook  # noqa: E402
from medclaim.settle import lean, settle_claims  # noqa: E402
from medclaim.spark import append_claims_spark, local_session, settle_dataframe  # noqa: E402
from medclaim.spark.dataframe import ClaimsSchemaError  # noqa: E402
from medclaim.status import Exit  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
RULES = "anhui/dongzhi-2021"
MONEY = ["medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"]


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime for Spark (install a JDK 17+)")
    s = local_session(cores=2, shuffle_partitions=2)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def book():
    return load_rulebook(RULES)


@pytest.fixture(scope="module")
def months():
    """The sample month's three hospitals as three canonical claim sets (rows with problems rejected)."""
    return {h: read_claims([next(SAMPLE.glob(f"dongzhi-2021-03-hospital-{h}.*"))]).claims for h in "abc"}


def by_claim(frame: pl.DataFrame, like: pl.DataFrame) -> pl.DataFrame:
    return frame.select(like.columns).cast(like.schema).sort("setl_id")


def test_dataframe_in_dataframes_out_equals_the_local_engine(spark, book, months, tmp_path):
    """Hospital b's claims continue from hospital a's running totals.  The DataFrame holds amounts
    as yuan decimal(16,2), as a Hive table would; they are taken exactly as fen."""
    opening = settle_claims(months["a"], book)
    local = settle_claims(months["b"], book, opening.closing)

    months["b"].write_parquet(tmp_path / "claims.parquet")
    opening.closing.write_parquet(tmp_path / "openings.parquet")
    from pyspark.sql import functions as F

    claims = spark.read.parquet(str(tmp_path / "claims.parquet"))
    claims = claims.select(*[(F.col(c) / 100).cast("decimal(16,2)").alias(c) if c in MONEY else F.col(c) for c in claims.columns])
    result = settle_dataframe(claims, RULES, openings=spark.read.parquet(str(tmp_path / "openings.parquet")), partitions=3).cache()

    ledger = assert_same_settlement(result, local)
    assert ledger.height > 1000
    assert ledger.columns == lean(local.ledger).columns


def assert_same_settlement(result, local) -> pl.DataFrame:
    """The Spark frames equal the local engine's settlement claim for claim (the ledger without its
    working figures, as a ledger keeps it); returns the Spark ledger."""
    ledger = pl.from_arrow(result.ledger.toArrow())
    kept = lean(local.ledger)
    assert sorted(ledger.columns) == sorted(kept.columns)
    assert_frame_equal(by_claim(ledger, kept), kept.sort("setl_id"))
    rejects = pl.from_arrow(result.rejects.toArrow())
    assert_frame_equal(by_claim(rejects, local.rejects), local.rejects.sort("setl_id"))
    closing = pl.from_arrow(result.closing.toArrow())
    assert_frame_equal(closing.select(local.closing.columns).cast(local.closing.schema).sort("psn_no", "year"),
                       local.closing.sort("psn_no", "year"))
    result.output.unpersist()
    return ledger


def test_a_claims_dataframe_missing_a_column_or_with_float_money_is_refused(spark):
    from pyspark.sql import functions as F

    df = spark.range(1).select(F.lit("S1").alias("setl_id"), F.lit("P1").alias("psn_no"))
    with pytest.raises(ClaimsSchemaError, match="lacks med_type, hosp_lv, begndate, enddate, medfee_sumamt, inscp_scp_amt"):
        settle_dataframe(df, RULES)
    df = df.select("*", F.lit("21").alias("med_type"), F.lit("01").alias("hosp_lv"), F.current_date().alias("begndate"),
                   F.current_date().alias("enddate"), F.lit(12.5).alias("medfee_sumamt"), F.lit(1000).alias("inscp_scp_amt"))
    with pytest.raises(ClaimsSchemaError, match="medfee_sumamt: double — money must be integer fen"):
        settle_dataframe(df, RULES)


def test_one_ledger_fed_by_both_engines_equals_a_local_ledger(spark, book, months, tmp_path):
    local_dir, mixed_dir = tmp_path / "local", tmp_path / "mixed"
    local_runs = [append_claims(local_dir, months[h], book) for h in "ab"]
    # run 1 local, run 2 on Spark (3 partitions: 3 part files), run 3 the same claims again
    append_claims(mixed_dir, months["a"], book)
    second = append_claims_spark(mixed_dir, months["b"], book, spark=spark, partitions=3)
    assert second.status is local_runs[1].status and second.run == 2
    head = store.read_head(mixed_dir)
    run2 = [p.file for p in head.parts[1:]]
    assert len(run2) == 3 and all(f.startswith("parts/run-000002-") for f in run2)
    assert store.verify(mixed_dir) == []

    local, mixed = store.read_ledger(local_dir), store.read_ledger(mixed_dir)
    assert mixed.columns == local.columns
    # entry numbers follow each engine's order of persons; everything else is equal claim for claim
    assert_frame_equal(mixed.drop("entry_no").sort("setl_id"), local.drop("entry_no").sort("setl_id"))
    assert_frame_equal(store.read_accumulator(mixed_dir).sort("psn_no", "year"),
                       store.read_accumulator(local_dir).sort("psn_no", "year"))
    manifest = json.loads((mixed_dir / "runs/run-000002/manifest.json").read_text(encoding="utf-8"))
    settled = [r.summary["claims_settled"] for r in local_runs]
    assert manifest["engine"]["name"] == "spark" and manifest["counts"]["entries"] == settled[1] > 1000
    assert manifest["ledger_after"] == {"run": 2, "entries": sum(settled)}
    expected = {k: v for k, v in local_runs[1].summary.items() if k not in ("ledger", "run")}
    assert {k: v for k, v in second.summary.items() if k not in ("ledger", "run")} == expected

    again = append_claims_spark(mixed_dir, months["b"], book, spark=spark)
    assert again.status is Exit.NOTHING_NEW and again.summary["already_settled"] == settled[1]
    assert store.read_head(mixed_dir).run == 2

    # a claim settled on Spark is reversed by the local engine from its part file
    victim = local.filter(pl.col("run") == 2)["setl_id"][0]
    rev = reverse_claims(mixed_dir, [victim], book, reason="test")
    assert rev.status is Exit.OK and store.verify(mixed_dir) == []

    # the command line, and plain Parquet readers of the parts named by HEAD
    third = next(SAMPLE.glob("dongzhi-2021-03-hospital-c.*"))
    out = CliRunner().invoke(app, ["settle", str(third), "--rules", RULES,
                                   "--ledger", str(mixed_dir), "--engine", "spark", "--quiet"])
    assert out.exit_code == Exit.REJECTS, out.output
    head = store.read_head(mixed_dir)
    assert head.run == 4 and store.verify(mixed_dir) == []
    files = [str(mixed_dir / p.file) for p in head.parts]
    assert spark.read.parquet(*files).count() == head.entries == pl.scan_parquet(files).select(pl.len()).collect().item()
    counts = json.loads((mixed_dir / "runs/run-000004/manifest.json").read_text(encoding="utf-8"))["counts"]
    assert counts["rows_rejected"] == read_claims([third]).rejects.height > 0


def test_spark_engine_needs_a_ledger(tmp_path):
    out = CliRunner().invoke(app, ["settle", str(next(SAMPLE.glob("dongzhi-2021-03-hospital-a.*"))), "--rules", RULES,
                                   "--out", str(tmp_path / "o"), "--engine", "spark"])
    assert out.exit_code == Exit.USAGE
    assert "--engine spark settles into a --ledger directory" in out.output


def test_spark_engine_refuses_to_spill_the_input(tmp_path):
    """A Spark run stages the claims for Spark itself: --spill-dir (whose person buckets it would not
    take — it once committed an empty run of a spilled input) is refused before anything is read."""
    out = CliRunner().invoke(app, ["settle", str(next(SAMPLE.glob("dongzhi-2021-03-hospital-a.*"))), "--rules", RULES,
                                   "--ledger", str(tmp_path / "l"), "--engine", "spark", "--spill-dir", str(tmp_path)])
    assert out.exit_code == Exit.USAGE
    assert "--spill-dir is for the local engine" in out.output
    assert not (tmp_path / "l").exists()


def test_without_spark_the_command_says_what_to_install(monkeypatch, tmp_path):
    import medclaim.spark.ledger as spark_ledger
    from medclaim.spark import SparkUnavailable

    def no_spark(**kw):
        raise SparkUnavailable("--engine spark needs pyspark: pyspark is not installed — install the spark extra: "
                               "pip install 'medclaim[spark]' (and a Java 17+ runtime)")

    monkeypatch.setattr(spark_ledger, "session", no_spark)
    out = CliRunner().invoke(app, ["settle", str(next(SAMPLE.glob("dongzhi-2021-03-hospital-a.*"))), "--rules", RULES,
                                   "--ledger", str(tmp_path / "l"), "--engine", "spark"])
    assert out.exit_code == Exit.USAGE
    assert "pip install 'medclaim[spark]'" in out.output
    assert not (tmp_path / "l" / "HEAD.json").exists()


# ------------------------------------------------------------------ the enrollment roster on Spark


def sample_roster(claims: pl.DataFrame, files: list[str]):
    """A roster for the claims' persons that changes the settlement: every 9th person is not on it
    (their claims are rejected as not_enrolled), every 4th becomes 低保对象 on 15 March, every 6th
    paid late on 10 March (covered from the 11th), every 10th leaves cover on 20 March; the others
    are ordinary residents enrolled in time (a claim row written with another identity is flagged)."""
    import datetime as dt

    from medclaim.roster import ROSTER_SCHEMA, Roster

    people = claims.select(pl.col("psn_no").unique().sort()).with_row_index("i").with_columns(pl.col("i").cast(pl.Int64))
    i = pl.col("i")
    base = people.filter(i % 9 != 0).with_columns(
        psn_idet_type=pl.lit(""),
        idet_begndate=pl.lit(None, pl.Date),
        idet_enddate=pl.when(i % 4 == 1).then(pl.lit(dt.date(2021, 3, 14))),
        insu_date=pl.lit(dt.date(2020, 11, 20)),
        pay_date=pl.when(i % 6 == 2).then(pl.lit(dt.date(2021, 3, 10))).otherwise(pl.lit(dt.date(2020, 12, 1))),
        birth_date=pl.lit(None, pl.Date),
        coverage_end=pl.when(i % 10 == 3).then(pl.lit(dt.date(2021, 3, 20))),
    )
    dibao = base.filter(i % 4 == 1).with_columns(psn_idet_type=pl.lit("低保对象"), idet_begndate=pl.lit(dt.date(2021, 3, 15)),
                                                 idet_enddate=pl.lit(None, pl.Date))
    rows = pl.concat([base, dibao]).sort("psn_no", "idet_begndate", nulls_last=False).with_row_index("source_row", offset=1)
    rows = rows.with_columns(source_file=pl.lit(files[0]), source_row=pl.col("source_row").cast(pl.Int64))
    absent = people.filter(i % 9 == 0)["psn_no"]
    return Roster(rows=rows.select([pl.col(c).cast(t) for c, t in ROSTER_SCHEMA.items()]), files=files), absent


def test_the_roster_on_spark_equals_the_roster_applied_locally(spark, book, months, tmp_path):
    """settle_dataframe(..., roster=) applies the roster with the local engine's own apply_roster:
    identity by date, late payment, end of coverage, not_enrolled — claim for claim as locally,
    with hospital b continuing from hospital a's running totals."""
    claims = months["b"]
    ros, absent = sample_roster(claims, ["roster.csv"])
    opening = settle_claims(months["a"], book)
    local = settle_claims(claims, book, opening.closing, roster=ros)
    # the roster did change the settlement (otherwise the comparison below would prove little)
    not_enrolled = local.rejects.filter(pl.col("reason_code") == "not_enrolled")
    assert not_enrolled.height == claims.filter(pl.col("psn_no").is_in(absent.implode())).height > 0
    assert (local.ledger["identity"] == "dibao").sum() > 0 and local.ledger["identity_mismatch"].any()
    assert local.ledger["coverage_end"].is_not_null().any()

    claims.write_parquet(tmp_path / "claims.parquet")
    opening.closing.write_parquet(tmp_path / "openings.parquet")
    result = settle_dataframe(spark.read.parquet(str(tmp_path / "claims.parquet")), RULES, roster=ros,
                              openings=spark.read.parquet(str(tmp_path / "openings.parquet")), partitions=3).cache()
    assert assert_same_settlement(result, local).height == local.ledger.height


def test_settle_engine_spark_with_a_roster_file_equals_the_local_run(spark, tmp_path):
    """`settle --engine spark --roster FILE` (refused before): the same ledger, accumulator, rejects
    and summary as `settle --roster FILE` with the local engine."""
    csv = next(SAMPLE.glob("dongzhi-2021-03-hospital-a.*"))
    roster_file = tmp_path / "roster.csv"
    ros, _ = sample_roster(read_claims([csv]).claims, [str(roster_file)])
    ros.rows.drop("source_file", "source_row").rename({"psn_no": "人员编号", "psn_idet_type": "人员身份类别", "idet_begndate": "身份开始日期",
                                                       "idet_enddate": "身份结束日期", "insu_date": "参保日期", "pay_date": "缴费日期",
                                                       "coverage_end": "终止日期", "birth_date": "出生日期"}).write_csv(roster_file)
    runs = {}
    for engine in ("local", "spark"):
        led = tmp_path / engine
        out = CliRunner().invoke(app, ["settle", str(csv), "--rules", RULES, "--ledger", str(led), "--roster", str(roster_file),
                                       "--engine", engine, "--lang", "en"])
        assert out.exit_code == Exit.REJECTS, out.output
        runs[engine] = (led, out.output)
    (loc, loc_out), (spk, spk_out) = runs["local"], runs["spark"]
    assert_frame_equal(store.read_ledger(spk).drop("entry_no").sort("setl_id"), store.read_ledger(loc).drop("entry_no").sort("setl_id"))
    assert_frame_equal(store.read_accumulator(spk).sort("psn_no", "year"), store.read_accumulator(loc).sort("psn_no", "year"))
    assert (pl.read_csv(spk / "runs/run-000001/rejects.csv").sort(pl.all()).equals(
        pl.read_csv(loc / "runs/run-000001/rejects.csv").sort(pl.all())))
    summaries = [json.loads((d / "runs/run-000001/summary.json").read_text(encoding="utf-8")) for d in (loc, spk)]
    assert {k: v for k, v in summaries[1].items() if k != "ledger"} == {k: v for k, v in summaries[0].items() if k != "ledger"}
    assert summaries[0]["rejects_by_reason"]["not_enrolled"] > 0
    assert "not_enrolled" in spk_out


def test_spark_run_says_how_the_hospitals_reported_amounts_compare(spark, tmp_path):
    """Hospital d reported what it paid (sample_data/make_audit_sample.py, each planted mistake
    worked by hand there).  Six of its twelve claims differ; in 基金支付总额 (reported − rules):
    claim 02 −200.00 (deductible 500 instead of 250), 03 −240.00 (deductible 800 instead of 500),
    04 +66.00 (outpatient not covered), 06 +585.00 (大病 tilt of 特困), 07 −0.01 (truncated, not
    rounded), 12 +100.00 (funds' total inconsistent) — funds paid 751.00 more, 440.01 less.
    A Spark run's summary says so, as a local run's does."""
    csv = next(SAMPLE.glob("dongzhi-2021-03-hospital-d.*"))
    note = ("the hospitals' own figures: 6 of 12 claims differ from the rules (funds paid 751.00 yuan more, 440.01 yuan less)"
            " — run medclaim audit on the same files for each difference and its cause")
    for engine in ("local", "spark"):
        out = CliRunner().invoke(app, ["settle", str(csv), "--rules", RULES, "--ledger", str(tmp_path / engine), "--engine", engine,
                                       "--lang", "en"], terminal_width=400)
        assert out.exit_code == Exit.OK, out.output
        assert note in " ".join(out.output.split()), (engine, out.output)
        summary = json.loads((tmp_path / engine / "runs/run-000001/summary.json").read_text(encoding="utf-8"))
        reported = summary["reported"]
        assert (reported["claims_compared"], reported["claims_differing"]) == (12, 6), engine
        assert reported["by_field_fen"]["fund_pay_sumamt"]["over"] == 751_00 and reported["by_field_fen"]["fund_pay_sumamt"]["under"] == 440_01


def test_a_quiet_spark_run_prints_no_spark_start_up_chatter(spark, tmp_path):
    """`--quiet` is for cron: a local-mode Spark run prints what a local run prints (nothing, when
    every row settles), not the JVM's logging start-up lines (log4j profile, default log level,
    native-hadoop warning).  Only the JVM's own notice of the vector module it is started with
    (printed by Java itself, before any logging) is left."""
    import subprocess
    import sys

    csv = next(SAMPLE.glob("dongzhi-2021-03-hospital-d.*"))
    run = subprocess.run([sys.executable, "-m", "medclaim.cli", "settle", str(csv), "--rules", RULES, "--ledger", str(tmp_path / "l"),
                          "--engine", "spark", "--quiet"], capture_output=True, text=True, timeout=600)
    assert run.returncode == Exit.OK, run.stderr
    assert run.stdout == ""
    lines = [ln for ln in run.stderr.splitlines() if ln.strip() and "incubator modules" not in ln]
    assert lines == [], run.stderr


# ------------------------------------------------------------------ progress


class Recorded:
    """A Progress that notes what it is told."""

    def __init__(self):
        self.told = []

    def stage(self, name, total=None):
        self.told.append((name, total))

    def advance(self, rows):
        self.told.append(("+", rows))

    def close(self):
        pass


def test_a_spark_run_reports_its_stages_as_a_local_run(spark, tmp_path):
    """Reading the extract, settling its claims (pass 1), writing them (pass 2): hospital d's 12
    claims, none rejected (sample_data/README.md)."""
    from medclaim.spark import settle_into_ledger_spark

    progress = Recorded()
    result = settle_into_ledger_spark([SAMPLE / "dongzhi-2021-03-hospital-d.csv"], RULES, tmp_path / "l", spark=spark,
                                      progress=progress)
    assert result.status == Exit.OK
    assert progress.told == [("reading", None), ("settling", 12), ("+", 12), ("writing", 12), ("+", 12)]
