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

    ledger = pl.from_arrow(result.ledger.toArrow())
    assert ledger.height == local.ledger.height > 1000
    kept = lean(local.ledger)  # a ledger keeps no working figures
    assert ledger.columns == kept.columns
    assert_frame_equal(by_claim(ledger, kept), kept.sort("setl_id"))
    rejects = pl.from_arrow(result.rejects.toArrow())
    assert_frame_equal(by_claim(rejects, local.rejects), local.rejects.sort("setl_id"))
    closing = pl.from_arrow(result.closing.toArrow())
    assert_frame_equal(closing.select(local.closing.columns).cast(local.closing.schema).sort("psn_no", "year"),
                       local.closing.sort("psn_no", "year"))
    result.output.unpersist()


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


def test_without_spark_the_command_says_what_to_install(monkeypatch, tmp_path):
    import medclaim.spark.ledger as spark_ledger
    from medclaim.spark import SparkUnavailable

    def no_spark():
        raise SparkUnavailable("--engine spark needs pyspark: pyspark is not installed — install the spark extra: "
                               "pip install 'medclaim[spark]' (and a Java 17+ runtime)")

    monkeypatch.setattr(spark_ledger, "session", no_spark)
    out = CliRunner().invoke(app, ["settle", str(next(SAMPLE.glob("dongzhi-2021-03-hospital-a.*"))), "--rules", RULES,
                                   "--ledger", str(tmp_path / "l"), "--engine", "spark"])
    assert out.exit_code == Exit.USAGE
    assert "pip install 'medclaim[spark]'" in out.output
    assert not (tmp_path / "l" / "HEAD.json").exists()
