"""The benchmark's repeated rounds: medians, paired ratios, and the ledger copy each month starts from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import combine, copy_ledger, wall_ratio  # noqa: E402


def run(wall: float, rss: float, status: str = "ok", user: float = 1.0) -> dict:
    return {"name": "s", "status": status, "wall_s": wall, "user_s": user, "sys_s": 0.1, "peak_rss_mib": rss}


def test_combine_takes_medians_and_the_largest_peak():
    rec = combine([run(10.0, 100, user=3), run(30.0, 300, user=1), run(20.0, 200, user=2)], rows=1000)
    assert rec["wall_s"] == 20.0 and rec["user_s"] == 2 and rec["peak_rss_mib"] == 300
    assert rec["wall_runs"] == [10.0, 30.0, 20.0]  # in round order
    assert rec["claims_per_s"] == 50  # 1000 claims / 20 s


def test_combine_reports_a_failed_run():
    bad = run(1.0, 1, status="failed")
    assert combine([run(10.0, 100), bad], rows=10) is bad
    one = run(5.0, 50)
    assert combine([one], rows=10) is one  # a single run is its own record


def test_ratio_is_the_median_of_round_by_round_ratios():
    # rounds: (month, scratch) = (5, 40), (9, 60), (4, 50) → ratios 0.125, 0.15, 0.08 → median 0.125;
    # the ratio of the medians would be 5 / 50 = 0.10
    month = {"wall_s": 5.0, "wall_runs": [5.0, 9.0, 4.0]}
    scratch = {"wall_s": 50.0, "wall_runs": [40.0, 60.0, 50.0]}
    assert wall_ratio(month, scratch) == 0.125
    assert month["ratio_wall_runs"] == [0.125, 0.15, 0.08]
    assert wall_ratio({"wall_s": 5.0}, {"wall_s": 50.0}) == 0.1  # unpaired: the medians


def test_copy_ledger_leaves_the_source_as_it_was(tmp_path):
    src = tmp_path / "base"
    (src / "parts").mkdir(parents=True)
    (src / "parts" / "run-000001.parquet").write_bytes(b"PAR1 entries")
    (src / "HEAD.json").write_text(json.dumps({"run": 1}))
    (src / ".lock").write_text("")
    dst = tmp_path / "copy"
    copy_ledger(src, dst)
    # a run writes in place only the small files (the lock note, HEAD through a rename): those are copies
    (dst / ".lock").write_text("medclaim settle, pid 1")
    (dst / "HEAD.json").write_text(json.dumps({"run": 2}))
    assert (src / ".lock").read_text() == ""
    assert json.loads((src / "HEAD.json").read_text()) == {"run": 1}
    # the Parquet files are the same files (hard links), never rewritten by a run
    assert (dst / "parts" / "run-000001.parquet").stat().st_ino == (src / "parts" / "run-000001.parquet").stat().st_ino


def test_a_target_is_judged_on_the_ratio_not_on_its_rounding():
    from bench.run import fmt_table, fmt_targets

    # 7.52 / 50 = 0.1504: shown as 0.15 in the table, but over the 0.15 target
    records = [
        {"name": "settle-scratch", "status": "ok", "wall_s": 50.0, "peak_rss_mib": 1000.0, "rows": 10},
        {"name": "settle-base", "status": "ok", "wall_s": 40.0, "peak_rss_mib": 2000.0, "rows": 9, "setup": True},
        {"name": "settle-month", "status": "ok", "wall_s": 7.52, "peak_rss_mib": 900.0, "rows": 1, "baseline": "settle-scratch"},
    ]
    assert " 0.15 " in fmt_table(records)
    verdicts = fmt_targets("continuation", records, 10_000_000)
    assert "0.150× — NOT met" in verdicts
