"""A damaged ledger directory: every kind of damage is refused with exit 9 and the damaged file
named, nothing in the directory is deleted or changed, and `ledger rebuild` recovers what can be
recovered (docs/ledger.md lists the cases)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from medclaim import store
from medclaim.cli import app
from medclaim.status import Exit

ROOT = Path(__file__).resolve().parent.parent
A = ROOT / "sample_data" / "dongzhi-2021-03-hospital-a.csv"
B = ROOT / "sample_data" / "dongzhi-2021-03-hospital-b.parquet"
RULES = "anhui/dongzhi-2021"
MEDCLAIM = str(Path(sys.executable).parent / "medclaim")


def run(*argv):
    return CliRunner().invoke(app, [str(a) for a in argv], catch_exceptions=False)


def files(d: Path) -> dict[str, str]:
    """Every file of the directory with its sha256 (the lock file's holder note aside)."""
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file() and p.name != store.LOCK_FILE}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("damage") / "ledger"
    assert run("settle", A, "--rules", RULES, "--ledger", d, "-q").exit_code == Exit.REJECTS
    shutil.copy(d / "HEAD.json", d.parent / "HEAD-after-run-1.json")
    assert run("settle", B, "--rules", RULES, "--ledger", d, "-q").exit_code == Exit.REJECTS
    assert store.verify(d) == []
    return d


@pytest.fixture
def ledger(two_runs, tmp_path) -> Path:
    d = tmp_path / "ledger"
    shutil.copytree(two_runs, d)
    return d


def next_month(d: Path) -> Path:
    """Claims the ledger has not seen: hospital B's month under new settlement ids."""
    p = d.parent / "next-month.parquet"
    if not p.exists():
        pl.read_parquet(B).with_columns(setl_id=pl.lit("N") + pl.col("setl_id")).write_parquet(p)
    return p


def settle_again(d: Path):
    return run("settle", next_month(d), "--rules", RULES, "--ledger", d)


def refused(d: Path, *names: str):
    before = files(d)
    r = settle_again(d)
    assert r.exit_code == Exit.LEDGER_CORRUPT, r.output
    assert "Traceback" not in r.output
    for n in names:
        assert n in r.output, r.output
    assert files(d) == before  # nothing deleted, nothing written
    return r


# ------------------------------------------------------------------ HEAD


def test_head_removed_is_a_damaged_ledger_not_a_new_one(ledger):
    entries = store.read_head(ledger).entries
    (ledger / "HEAD.json").unlink()
    r = refused(ledger, "damaged ledger", "no HEAD.json", "2 part(s)", "ledger rebuild")
    assert "nothing was changed" in r.output
    assert run("ledger", "verify", "--ledger", ledger).exit_code == Exit.LEDGER_CORRUPT
    assert run("explain", "P1", "--ledger", ledger).exit_code == Exit.LEDGER_CORRUPT
    # rebuild reconstructs HEAD from the parts and manifests; the month is then already settled
    rb = run("ledger", "rebuild", "--ledger", ledger)
    assert rb.exit_code == Exit.OK, rb.output
    assert "HEAD rebuilt from 2 run(s)" in rb.output
    assert store.read_head(ledger).entries == entries and store.verify(ledger) == []
    assert run("settle", B, "--rules", RULES, "--ledger", ledger).exit_code == Exit.NOTHING_NEW


def test_an_older_head_restored_does_not_resettle_or_delete_the_newer_run(ledger, two_runs):
    shutil.copy(two_runs.parent / "HEAD-after-run-1.json", ledger / "HEAD.json")
    refused(ledger, "runs 2 were committed", "older copy", "ledger rebuild")
    assert (ledger / "parts" / "run-000002.parquet").exists() and (ledger / "runs" / "run-000002" / "manifest.json").exists()
    v = run("ledger", "verify", "--ledger", ledger)
    assert v.exit_code == Exit.LEDGER_CORRUPT and "restored from an older copy" in v.output
    assert run("ledger", "rebuild", "--ledger", ledger).exit_code == Exit.OK
    assert store.read_head(ledger).run == 2 and store.verify(ledger) == []


@pytest.mark.parametrize("garbage", [b"\x00\xff\xfe garbage", b"[]", b'{"format": "medclaim.ledger/1"}', b""])
def test_garbage_in_head_names_it(ledger, garbage):
    (ledger / "HEAD.json").write_bytes(garbage)
    refused(ledger, "HEAD.json: unreadable", "ledger rebuild")
    assert run("ledger", "verify", "--ledger", ledger).exit_code == Exit.LEDGER_CORRUPT
    assert run("ledger", "runs", "--ledger", ledger).exit_code == Exit.LEDGER_CORRUPT
    assert run("ledger", "rebuild", "--ledger", ledger).exit_code == Exit.OK
    assert store.verify(ledger) == []


def test_a_lock_that_is_a_directory_is_named(ledger):
    (ledger / ".lock").unlink()
    (ledger / ".lock").mkdir()
    r = refused(ledger, ".lock: a directory", "rmdir")
    assert (ledger / ".lock").is_dir()


# ------------------------------------------------------------------ parts and accumulator


@pytest.mark.parametrize("which", ["part", "accumulator"])
def test_a_truncated_file_is_named(ledger, which):
    head = store.read_head(ledger)
    rel = head.parts[0].file if which == "part" else head.accumulator.file
    p = ledger / rel
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    refused(ledger, rel, "truncated")
    v = run("ledger", "verify", "--ledger", ledger)
    assert v.exit_code == Exit.LEDGER_CORRUPT and rel in v.output and "Traceback" not in v.output


def test_a_temporary_file_inside_a_killed_runs_directory_is_removed_not_set_aside(ledger):
    """A run killed while writing a file of its runs/ directory: the next run removes that
    temporary file and moves the rest of the run aside (temporaries are never kept)."""
    run_dir = ledger / "runs" / "run-000003"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text("{}", encoding="utf-8")
    (run_dir / f".rejects.csv{store.TMP_MARK}4242").write_text("half a file", encoding="utf-8")
    with store.Ledger.open(ledger) as lg:
        assert any("did not commit were moved to" in n for n in lg.notes)
    assert not [p for p in ledger.rglob("*") if store.TMP_MARK in p.name]
    kept = [p.relative_to(ledger).parts[2:] for p in (ledger / "uncommitted").rglob("*") if p.is_file()]
    assert kept == [("runs", "run-000003", "manifest.json")]
    assert store.verify(ledger) == []


@pytest.mark.parametrize("damage", ["truncated", "changed in place"])
@pytest.mark.parametrize("command", ["explain", "report"])
def test_explain_and_report_name_a_damaged_part(ledger, tmp_path, command, damage):
    """Readers name the damaged part and its recovery (exit 9) as settle and verify do — not a
    Parquet reader's error without a file name, an internal error or "give a --ledger directory"."""
    head = store.read_head(ledger)
    rel = head.parts[0].file
    p = ledger / rel
    data = bytearray(p.read_bytes())
    if damage == "truncated":
        p.write_bytes(bytes(data[: len(data) // 2]))
        says = "truncated"
    else:  # same size, the Parquet footer overwritten: only the sha256 tells
        data[-60:-8] = bytes(52)
        p.write_bytes(bytes(data))
        says = "sha256"
    before = files(ledger)
    person = pl.read_parquet(ledger / head.parts[1].file)["psn_no"][0]
    argv = ["explain", person, "--ledger", ledger] if command == "explain" else ["report", "--ledger", ledger, "--out", tmp_path / "r"]
    r = run(*argv)
    assert r.exit_code == Exit.LEDGER_CORRUPT, r.output
    assert f"{ledger}: a damaged ledger — {rel}" in r.output and says in r.output and "restore it from a backup" in r.output
    assert "Traceback" not in r.output and "internal error" not in r.output and "give a --ledger" not in r.output
    assert files(ledger) == before


def test_a_stale_accumulator_is_refused_before_anything_is_paid(ledger, two_runs):
    """The accumulator of run 1 put in place of run 2's, with HEAD made to agree with it: the
    checksums match, but its totals do not add up to the parts — the month would be paid from
    stale openings."""
    head = store.read_head(ledger)
    stale = ledger / "stale.parquet"
    pl.read_parquet(ledger / head.accumulator.file).filter(pl.int_range(pl.len()) % 2 == 0).write_parquet(stale)
    os.replace(stale, ledger / head.accumulator.file)
    data = json.loads((ledger / "HEAD.json").read_text())
    p = ledger / head.accumulator.file
    data["accumulator"].update(sha256=store.sha256_file(p), bytes=p.stat().st_size, rows=pl.read_parquet(p).height)
    (ledger / "HEAD.json").write_text(json.dumps(data))
    refused(ledger, head.accumulator.file, "stale", "ledger rebuild")
    assert run("ledger", "rebuild", "--ledger", ledger).exit_code == Exit.OK
    assert store.verify(ledger) == []


def test_a_swapped_accumulator_is_refused_by_its_checksum(ledger):
    head = store.read_head(ledger)
    acc = ledger / head.accumulator.file
    pl.read_parquet(acc).with_columns(ytd_hifp=pl.col("ytd_hifp") // 2).write_parquet(acc)
    refused(ledger, head.accumulator.file, "ledger rebuild")


# ------------------------------------------------------------------ runs/ and manifests


@pytest.mark.parametrize("damage", ["manifest removed", "run directory removed", "manifest edited"])
def test_verify_checks_the_runs_and_their_manifests(ledger, damage):
    d = ledger / "runs" / "run-000001"
    if damage == "manifest removed":
        (d / "manifest.json").unlink()
    elif damage == "run directory removed":
        shutil.rmtree(d)
    else:
        m = json.loads((d / "manifest.json").read_text())
        m["counts"]["claims_settled"] += 1
        (d / "manifest.json").write_text(json.dumps(m))
    v = run("ledger", "verify", "--ledger", ledger)
    assert v.exit_code == Exit.LEDGER_CORRUPT and "runs/run-000001" in v.output, v.output


# ------------------------------------------------------------------ a killed run's files


def test_a_killed_runs_files_are_set_aside_not_deleted(ledger):
    env = dict(os.environ, MEDCLAIM_CRASH_AT="before-head")
    p = subprocess.run([MEDCLAIM, "settle", str(next_month(ledger)), "--rules", RULES, "--ledger", str(ledger), "-q"], env=env)
    assert p.returncode < 0  # killed
    left = files(ledger)
    assert "parts/run-000003.parquet" in left and "runs/run-000003/manifest.json" in left
    assert store.verify(ledger) == []  # HEAD still says run 2: the ledger is as before
    r = settle_again(ledger)
    assert r.exit_code in (Exit.OK, Exit.REJECTS), r.output
    assert "did not commit were moved to" in r.output
    kept = [p for p in (ledger / "uncommitted").rglob("*") if p.is_file()]
    assert {p.relative_to(next((ledger / "uncommitted").iterdir())).as_posix() for p in kept} >= {
        "parts/run-000003.parquet", "runs/run-000003/manifest.json"}
    assert store.verify(ledger) == []


@pytest.fixture(scope="module")
def one_off(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("one-off") / "out"
    assert run("settle", A, "--rules", RULES, "--out", d, "-q").exit_code == Exit.REJECTS
    return d


@pytest.mark.parametrize("damage", ["truncated", "not Parquet"])
@pytest.mark.parametrize("command", ["explain", "report"])
def test_explain_and_report_name_a_damaged_one_off_ledger(one_off, tmp_path, command, damage):
    """The ledger.parquet of an --out directory cut short, or not Parquet at all: exit 9 naming the
    file and how to write it anew (it is the run's only copy) — not an internal error, nor "give a
    --ledger directory".  Settling the same extract into the directory as told makes it readable."""
    out = tmp_path / "out"
    shutil.copytree(one_off, out)
    p = out / "ledger.parquet"
    person = pl.read_parquet(p)["psn_no"][0]
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2] if damage == "truncated" else "结算单据号,金额\n1,2\n".encode())
    before = files(out)
    argv = ["explain", person, "--ledger", out] if command == "explain" else ["report", "--ledger", out, "--out", tmp_path / "r"]
    r = run(*argv)
    assert r.exit_code == Exit.LEDGER_CORRUPT, r.output
    assert f"{p}: a damaged ledger" in r.output and "not readable Parquet" in r.output
    assert f"settle the same extracts again into that directory: medclaim settle {A} --rules {RULES} --out {out}" in r.output
    assert "Traceback" not in r.output and "internal error" not in r.output and "give a --ledger" not in r.output
    assert files(out) == before
    assert run("settle", A, "--rules", RULES, "--out", out, "-q").exit_code == Exit.REJECTS
    assert run(*argv).exit_code == Exit.OK


def test_the_way_to_write_a_one_off_ledger_anew_names_the_runs_extracts_and_rules(tmp_path):
    """The command given to recover is the run's own (summary.json): a shipped rule set by its id,
    a rule file of the site's own as RULES with the rule set named; a Parquet file given by a path
    of its own is named, but cannot be told to be an --out directory's ledger."""
    from medclaim.store.read import check_readable, resettle_hint

    (tmp_path / "summary.json").write_text(json.dumps({"inputs": ["in/a.csv", "in/b.xlsx"], "rules": ["site/own-2024"]}))
    assert resettle_hint(tmp_path) == (f"settle the same extracts again into that directory: medclaim settle in/a.csv in/b.xlsx "
                                       f"--rules RULES --out {tmp_path} (RULES: the rule set(s) site/own-2024)")
    (tmp_path / "summary.json").write_text(json.dumps({"inputs": ["in/a.csv"], "rules": [RULES]}))
    assert resettle_hint(tmp_path).endswith(f"medclaim settle in/a.csv --rules {RULES} --out {tmp_path}")
    (tmp_path / "summary.json").unlink()
    assert resettle_hint(tmp_path).endswith(f"medclaim settle EXTRACTS… --rules RULES --out {tmp_path}")
    part = tmp_path / "run-000001.parquet"
    part.write_bytes(b"PAR1 not really")
    with pytest.raises(store.LedgerCorrupt, match="run-000001.parquet: a damaged ledger — not readable Parquet .*backup"):
        check_readable(part)
