"""Crash safety and locking of ``medclaim settle --ledger`` (real subprocesses, real SIGKILL).

* A run killed at any moment leaves the ledger and its accumulator exactly as before the run or
  exactly as after it (compared with an uninterrupted reference run), and the next run cleans up
  what the killed one left and completes.
* A run killed at each step of the commit protocol (``MEDCLAIM_CRASH_AT``) likewise.
* A second run on a locked ledger exits with status 6 at once, or waits with ``--wait``.
* Ctrl-C (SIGINT) ends a run with status 130 and leaves the ledger as a kill at that moment would.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from medclaim import store
from medclaim.status import Exit
from medclaim.synth import generate_claims

MEDCLAIM = str(Path(sys.executable).parent / "medclaim")
RULES = "anhui/dongzhi-2021"
KILLS = int(os.environ.get("LEDGER_CRASH_KILLS", "20"))
N = int(os.environ.get("LEDGER_CRASH_CLAIMS", "60000"))


def settle_argv(month: Path, ledger: Path, *extra: str) -> list[str]:
    return [MEDCLAIM, "settle", str(month), "--rules", RULES, "--ledger", str(ledger), "--quiet", *extra]


def snapshot(d: Path) -> dict:
    """What a reader sees: HEAD's content (without its timestamp and checksums), entries, accumulator."""
    head = store.read_head(d)
    if head is None:
        return {"head": None}
    return {
        "head": (head.run, head.entries, [(p.file, p.rows) for p in head.parts],
                 head.accumulator.rows if head.accumulator else None),
        "ledger": store.read_ledger(d).sort("entry_no"),
        "accumulator": store.read_accumulator(d).sort(store.KEYS) if head.accumulator else None,
    }


def same(a: dict, b: dict) -> bool:
    if a["head"] != b["head"]:
        return False
    if a["head"] is None:
        return True
    return a["ledger"].equals(b["ledger"]) and (
        (a["accumulator"] is None and b["accumulator"] is None) or a["accumulator"].equals(b["accumulator"])
    )


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    """January–June as the settled ledger, July–December as the run to kill; same people."""
    root = tmp_path_factory.mktemp("crash")
    people = N // 8
    jan = root / "jan-jun.parquet"
    jul = root / "jul-dec.parquet"
    generate_claims(N, people, month=(1, 6), seed=11).write_parquet(jan)
    generate_claims(N, people, month=(7, 12), seed=12, setl_start=N).write_parquet(jul)
    before = root / "before"
    assert subprocess.run(settle_argv(jan, before)).returncode == Exit.OK
    after = root / "after"
    shutil.copytree(before, after)
    t0 = time.monotonic()
    assert subprocess.run(settle_argv(jul, after)).returncode == Exit.OK
    duration = time.monotonic() - t0
    return {"root": root, "jul": jul, "before": before, "after": after, "duration": duration,
            "snap_before": snapshot(before), "snap_after": snapshot(after)}


def fresh_copy(m: dict, name: str) -> Path:
    d = m["root"] / name
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(m["before"], d)
    return d


def test_reference_runs_differ(months):
    """The two states the kills are compared with really are different (and each verifies)."""
    assert not same(months["snap_before"], months["snap_after"])
    assert store.verify(months["before"]) == [] and store.verify(months["after"]) == []
    late = months["snap_after"]["ledger"].filter(pl.col("run") == 2)["late"].sum()
    assert months["snap_after"]["ledger"].height == 2 * N and late == 0


def test_kill_9_at_random_moments_leaves_before_or_after(months):
    rng = random.Random(20210426)
    work = fresh_copy(months, "work")
    outcomes = {"before": 0, "after": 0}
    horizon = months["duration"] * 1.15
    for i in range(KILLS):
        delay = rng.uniform(0.15 * horizon, horizon)
        proc = subprocess.Popen(settle_argv(months["jul"], work), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        snap = snapshot(work)
        if same(snap, months["snap_before"]):
            outcomes["before"] += 1
        elif same(snap, months["snap_after"]):
            outcomes["after"] += 1
            assert store.verify(work) == []
            work = fresh_copy(months, "work")
        else:  # pragma: no cover - the failure this test exists to catch
            pytest.fail(f"kill {i} after {delay:.2f}s left the ledger in neither state: HEAD {snap['head']}")
    # kills landed mid-run (before) — and usually some after the commit; both are fine, nothing else is
    assert outcomes["before"] >= 1 and sum(outcomes.values()) == KILLS, outcomes
    # whatever the kills left behind, the next run cleans it up and completes the month
    assert subprocess.run(settle_argv(months["jul"], work)).returncode in (Exit.OK, Exit.NOTHING_NEW)
    assert same(snapshot(work), months["snap_after"])
    assert store.verify(work) == []
    assert not [p for p in work.rglob("*") if store.TMP_MARK in p.name]


@pytest.mark.parametrize("point, expect", [
    ("after-part", "before"),
    ("after-accumulator", "before"),
    ("after-run-files", "before"),
    ("before-head", "before"),
    ("after-commit", "after"),
])
def test_kill_at_each_step_of_the_commit(months, point, expect):
    work = fresh_copy(months, f"point-{point}")
    env = dict(os.environ, MEDCLAIM_CRASH_AT=point)
    p = subprocess.run(settle_argv(months["jul"], work), env=env, capture_output=True)
    assert p.returncode == -signal.SIGKILL
    assert same(snapshot(work), months[f"snap_{expect}"])
    assert [m["run"] for m in store.list_runs(work)] == ([1] if expect == "before" else [1, 2])
    assert store.verify(work) == []
    # the next run (here: opening the ledger for writing) removes what the killed one left behind
    with store.Ledger.open(work):
        pass
    assert not [p for p in work.rglob("*") if store.TMP_MARK in p.name]
    runs = ["run-000001"] if expect == "before" else ["run-000001", "run-000002"]
    assert sorted(x.name for x in (work / "runs").iterdir()) == runs
    assert sorted(x.name for x in (work / "parts").iterdir()) == [f"{r}.parquet" for r in runs]
    assert same(snapshot(work), months[f"snap_{expect}"])


# ------------------------------------------------------------------ locking


def test_a_second_run_on_a_locked_ledger_exits_6_at_once(months):
    work = fresh_copy(months, "locked")
    with store.ledger_lock(work, command="test holder"):
        t0 = time.monotonic()
        p = subprocess.run(settle_argv(months["jul"], work)[:-1], capture_output=True, text=True)  # not --quiet
        elapsed = time.monotonic() - t0
    assert p.returncode == Exit.LOCKED
    assert "locked by pid" in p.stderr and "test holder" in p.stderr
    assert elapsed < 10  # no waiting (the time is interpreter start-up)
    assert same(snapshot(work), months["snap_before"])


def test_a_locked_ledger_is_refused_before_the_roster_is_read(months, tmp_path):
    """A roster (which may hold millions of persons) is read under the lock: a locked ledger
    exits 6 without reading it — here a roster that would fail to read."""
    work = fresh_copy(months, "locked-roster")
    broken = tmp_path / "roster.csv"
    broken.write_text("no roster columns here\n1,2,3\n", encoding="utf-8")
    with store.ledger_lock(work, command="test holder"):
        p = subprocess.run(settle_argv(months["jul"], work, "--roster", str(broken)), capture_output=True, text=True)
    assert p.returncode == Exit.LOCKED, p.stderr
    p = subprocess.run(settle_argv(months["jul"], work, "--roster", str(broken)), capture_output=True, text=True)
    assert p.returncode not in (Exit.OK, Exit.LOCKED) and "roster" in p.stderr.lower(), p.stderr  # unlocked: read, refused
    assert same(snapshot(work), months["snap_before"])


def test_wait_gives_up_with_6_or_proceeds_when_the_lock_is_released(months):
    work = fresh_copy(months, "waiting")
    with store.ledger_lock(work):
        t0 = time.monotonic()
        p = subprocess.run(settle_argv(months["jul"], work, "--wait", "1.5"), capture_output=True, text=True)
        assert p.returncode == Exit.LOCKED and time.monotonic() - t0 >= 1.5
    released = threading.Event()

    def hold():
        with store.ledger_lock(work):
            released.wait(1.0)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.2)
    p = subprocess.run(settle_argv(months["jul"], work, "--wait", "60"), capture_output=True, text=True)
    holder.join()
    assert p.returncode == Exit.OK, p.stderr
    assert same(snapshot(work), months["snap_after"])


def test_concurrent_runs_never_interleave(months):
    """Two runs of the same month started together: one settles, the other is locked out or finds
    nothing new — never two runs of the same claims."""
    work = fresh_copy(months, "race")
    procs = [subprocess.Popen(settle_argv(months["jul"], work, "--wait", "120"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for _ in range(2)]
    codes = sorted(p.wait() for p in procs)
    assert codes == [Exit.OK, Exit.NOTHING_NEW]
    assert same(snapshot(work), months["snap_after"])
    head = json.loads((work / "HEAD.json").read_text())
    assert head["run"] == 2


# ------------------------------------------------------------------ Ctrl-C (SIGINT)


def ledger_verify(d: Path) -> subprocess.CompletedProcess:
    return subprocess.run([MEDCLAIM, "ledger", "verify", "--ledger", str(d)], capture_output=True, text=True, timeout=300)


def test_ctrl_c_mid_run_exits_130_and_leaves_the_ledger_as_before(months):
    """A real SIGINT from outside while the month is settled chunk by chunk: status 130 (not the
    framework's "Aborted!" and 1, which means rows were rejected), one line, the ledger as before."""
    work = fresh_copy(months, "sigint")
    env = dict(os.environ, MEDCLAIM_CHUNK_ROWS="3000")  # many chunks: the part is being written long before the end
    proc = subprocess.Popen(settle_argv(months["jul"], work), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while proc.poll() is None and not list((work / "parts").glob(f".*{store.TMP_MARK}*")) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run ended before its part file was started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == Exit.INTERRUPTED, err
    assert err.startswith("error: interrupted (Ctrl-C)") and len(err.splitlines()) == 1, err
    assert same(snapshot(work), months["snap_before"])
    assert not [p for p in work.rglob("*") if store.TMP_MARK in p.name]  # the half-written part went with the run
    verify = ledger_verify(work)
    assert verify.returncode == Exit.OK, verify.stdout + verify.stderr
    assert subprocess.run(settle_argv(months["jul"], work)).returncode == Exit.OK
    assert same(snapshot(work), months["snap_after"])


@pytest.mark.parametrize("point, expect", [("after-part", "before"), ("after-commit", "after")])
def test_ctrl_c_during_the_commit_leaves_what_a_kill_leaves(months, point, expect):
    """Ctrl-C at a step of the commit protocol: status 130, and the ledger as a kill there leaves
    it — before the run (its part already renamed: the next run moves it into uncommitted/ and
    says so) or after it."""
    work = fresh_copy(months, f"sigint-{point}")
    env = dict(os.environ, MEDCLAIM_CRASH_AT=point, MEDCLAIM_CRASH_SIGNAL="INT")
    p = subprocess.run(settle_argv(months["jul"], work), env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == Exit.INTERRUPTED, p.stderr
    assert "interrupted (Ctrl-C)" in p.stderr and "Traceback" not in p.stderr
    assert same(snapshot(work), months[f"snap_{expect}"])
    verify = ledger_verify(work)
    assert verify.returncode == Exit.OK, verify.stdout + verify.stderr
    nxt = subprocess.run(settle_argv(months["jul"], work)[:-1], capture_output=True, text=True, timeout=300)  # not --quiet
    if expect == "before":
        assert nxt.returncode == Exit.OK, nxt.stderr
        assert "did not commit were moved to" in nxt.stderr
        kept = [p.relative_to(work).parts[2:] for p in (work / "uncommitted").rglob("*") if p.is_file()]
        assert ("parts", "run-000002.parquet") in kept
    else:
        assert nxt.returncode == Exit.NOTHING_NEW, nxt.stderr
    assert same(snapshot(work), months["snap_after"])
    assert ledger_verify(work).returncode == Exit.OK
