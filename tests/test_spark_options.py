"""`settle --engine spark` options checked before Spark starts: the driver's heap (--spark-memory,
MEDCLAIM_SPARK_MEMORY) and the ledger's lock taken before the extracts are read.  Most of these
need no JVM; the one that does starts a fresh interpreter, since a heap is given as a JVM starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.spark.session import driver_memory
from medclaim.status import Exit

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"
RULES = "anhui/dongzhi-2021"
CSV = str(SAMPLE / "dongzhi-2021-03-hospital-d.csv")
GIB = 1 << 30


def settle(tmp_path, *extra, env=None):
    return CliRunner().invoke(app, ["settle", CSV, "--rules", RULES, "--ledger", str(tmp_path / "l"), *extra], env=env)


# ------------------------------------------------------------------ --spark-memory


@pytest.mark.parametrize("value, expected", [("4g", "4g"), ("1536M", "1536m"), ("512m", "512m"), (" 2G ", "2g")])
def test_a_heap_size_is_a_whole_number_and_a_unit(value, expected):
    assert driver_memory(value) == expected


@pytest.mark.parametrize("value, why", [
    ("4gb", "a whole number and a unit"),  # Spark's own parser takes it, java -Xmx (what the launcher passes) does not
    ("4", "a whole number and a unit"),    # Spark would read MiB, a reader GiB
    ("1.5g", "a whole number and a unit"),
    ("0g", "a whole number and a unit"),
    ("lots", "a whole number and a unit"),
    ("256m", "at least 512m"),             # Spark's driver refuses to start below 450 MiB
    ("1024t", "more than this machine's memory"),
])
def test_a_bad_heap_size_is_refused_before_anything_happens(tmp_path, value, why):
    out = settle(tmp_path, "--engine", "spark", "--spark-memory", value)
    assert out.exit_code == Exit.USAGE, out.output
    assert f"--spark-memory {value}:" in out.output and why in out.output
    assert not (tmp_path / "l").exists()


def test_a_bad_heap_size_in_the_environment_is_named_as_such(tmp_path):
    out = settle(tmp_path, "--engine", "spark", env={"MEDCLAIM_SPARK_MEMORY": "4gb"})
    assert out.exit_code == Exit.USAGE
    assert "MEDCLAIM_SPARK_MEMORY=4gb:" in out.output
    assert not (tmp_path / "l").exists()


def test_the_heap_option_is_refused_for_the_local_engine_but_the_variable_is_left_alone(tmp_path):
    out = settle(tmp_path, "--spark-memory", "4g")
    assert out.exit_code == Exit.USAGE and "is for --engine spark" in out.output
    # a site's profile may set the variable for every run: a local run ignores it, even a bad one
    out = settle(tmp_path, "--quiet", env={"MEDCLAIM_SPARK_MEMORY": "lots"})
    assert out.exit_code == Exit.OK, out.output
    assert (tmp_path / "l" / "HEAD.json").is_file()


def test_the_heap_from_the_environment_reaches_the_session(monkeypatch, tmp_path):
    import medclaim.spark.ledger as spark_ledger
    from medclaim.spark import SparkUnavailable

    asked = {}

    def no_spark(**kw):
        asked.update(kw)
        raise SparkUnavailable("no Spark in this test")

    monkeypatch.setattr(spark_ledger, "session", no_spark)
    out = settle(tmp_path, "--engine", "spark", env={"MEDCLAIM_SPARK_MEMORY": "3G"})
    assert out.exit_code == Exit.USAGE and "no Spark in this test" in out.output
    assert asked == {"driver_memory": "3g"}
    out = settle(tmp_path, "--engine", "spark", "--spark-memory", "1536m", env={"MEDCLAIM_SPARK_MEMORY": "3g"})
    assert asked == {"driver_memory": "1536m"}  # the option wins over the variable


FRESH_DRIVER = textwrap.dedent("""
    import json, sys
    from pyspark.sql import SparkSession
    from typer.main import get_command
    from medclaim.cli import app

    csv, ledger, report = sys.argv[1:]
    def settle(*extra):  # the exit status
        return get_command(app).main(["settle", csv, "--rules", "anhui/dongzhi-2021", "--ledger", ledger, "--engine", "spark",
                                      "--lang", "en", *extra], standalone_mode=False)
    first = settle("--spark-memory", "1536m")
    jvm = SparkSession.getActiveSession().sparkContext._jvm
    heap = jvm.java.lang.Runtime.getRuntime().maxMemory()
    second = settle("--spark-memory", "2g")  # the session of the first run is still active
    json.dump({"first": first, "heap": heap, "second": second}, open(report, "w"))
""")


def on_a_terminal(argv: list[str]) -> tuple[int, str, str]:
    """Run ``argv`` with stderr on a pseudo-terminal: its exit status, what the terminal showed, stdout."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen, deadline, ended = bytearray(), time.monotonic() + 600, None
    while time.monotonic() < deadline:
        data = b""
        if select.select([master], [], [], 0.5)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal's last writer is gone
                break
            seen += data
        if proc.poll() is not None:
            ended = ended or time.monotonic()
            if not data and time.monotonic() - ended > 2:  # the JVM, a child, may write a little longer
                break
    os.close(master)
    stdout = proc.communicate(timeout=60)[0].decode()
    return proc.returncode, seen.decode(errors="replace"), stdout


def test_a_local_spark_run_on_a_terminal_its_heap_its_stages_and_a_running_session_keeping_its_own(tmp_path):
    """One fresh interpreter, stderr a terminal (one JVM start for the lot, as they are slow):

    * --spark-memory 1536m gives the driver JVM a heap above Spark's default 1g (a JVM reports
      its maximum heap as at most -Xmx, so a 1g JVM cannot report more than 1 GiB), and the
      manifest records it;
    * the terminal shows the run's stages (reading, settling, writing) and none of Spark's own
      console output (log lines, stage progress bars);
    * a second run in the same process finds that session running, keeps its heap and says so."""
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime for Spark")
    report = tmp_path / "report.json"
    status, screen, stdout = on_a_terminal([sys.executable, "-c", FRESH_DRIVER, CSV, str(tmp_path / "l"), str(report)])
    assert status == 0 and report.is_file(), screen
    got = json.loads(report.read_text())
    assert (got["first"], got["second"]) == (Exit.OK, Exit.NOTHING_NEW), screen
    assert 1.2 * GIB < got["heap"] <= 1536 * (1 << 20)
    manifest = json.loads((tmp_path / "l" / "runs" / "run-000001" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"]["driver_memory"] == "1536m"
    for stage in ("reading", "settling", "writing"):
        assert stage in screen, screen
    assert not any(word in screen for word in (" WARN ", " INFO ", "[Stage ", "log4j", "SparkContext")), screen
    assert "rows read 12 = settled 12 + rejected 0" in stdout, stdout  # hospital d: 12 claims; the summary on stdout
    assert "--spark-memory 2g was not applied" in screen and "driver memory 1536m" in screen


# ------------------------------------------------------------------ the ledger's lock comes first


def test_a_spark_run_facing_a_held_lock_is_refused_before_it_reads_or_starts_spark(monkeypatch, tmp_path):
    """Another run holds the ledger: `settle --engine spark` exits 6 naming the holder, without
    reading the extracts (it used to read them whole first) and without starting Spark."""
    import medclaim.spark.ledger as spark_ledger
    from medclaim import store

    touched = []
    monkeypatch.setattr(spark_ledger, "read_claims", lambda *a, **kw: touched.append("read") or pytest.fail("read"))
    monkeypatch.setattr(spark_ledger, "session", lambda **kw: touched.append("spark") or pytest.fail("spark"))
    with store.ledger_lock(tmp_path / "l", command="the March run"):
        out = settle(tmp_path, "--engine", "spark")
        waited = settle(tmp_path, "--engine", "spark", "--wait", "0.3")
    assert out.exit_code == Exit.LOCKED, out.output
    assert "locked by pid" in out.output and "the March run" in out.output
    assert waited.exit_code == Exit.LOCKED and "after waiting 0.3 s" in waited.output
    assert touched == []
    assert not (tmp_path / "l" / "HEAD.json").exists()
