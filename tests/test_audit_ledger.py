"""`medclaim audit --ledger`: each person-year continues from the ledger, and the ledger directory
is only read — no file written into it, not even a temporary one, so a reviewer with read-only
access can audit and a settle run working on the ledger meanwhile finds nothing of the audit's.

Worked by hand (东至 2021, anhui/dongzhi-2021: secondary hospital, local, ordinary resident;
basic.inpatient deductible by_tier.secondary 500, ratio 80 %, repeat_admission {2: 0.5}; 大病 from a
cumulative policy-scope base of 15,000):

  S1 (in the ledger), 2021-03-01→05, scope 10,000: deductible 500; basic (10,000 − 500) × 80 % = 7,600.
  S2 (audited), 2021-03-15→19, scope 8,000, P1's 2nd admission of the year: deductible 500 × 0.5
    = 250; basic (8,000 − 250) × 80 % = 6,200; 大病 base 2,400 + 1,800 = 4,200 < 15,000 → 0.
    The hospital reported deductible 500 and basic (8,000 − 500) × 80 % = 6,000: the reduction for
    the 2nd admission not applied (cause ``deductible``, basic.inpatient.repeat_admission).
  Without the ledger S2 would be P1's first admission (500, 6,000): nothing would differ.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import medclaim.audit.run as audit_run
from medclaim.cli import app
from medclaim.status import Exit

HEADER = "结算ID,个人编号,医疗类别,医院等级,开始日期,结束日期,总费用,范围内费用,起付线,统筹基金支出,大病保险支出,医疗救助支出,基金支付总额"
S1 = "S1,P1,21,05,2021-03-01,2021-03-05,10000,10000,500,7600,0,0,7600"
S2 = "S2,P1,21,05,2021-03-15,2021-03-19,8000,8000,500,6000,0,0,6000"  # the full deductible on a 2nd admission


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def extract(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def ledger(tmp_path) -> Path:
    """A ledger holding S1 (one run)."""
    root = tmp_path / "ledger"
    r = cli("settle", extract(tmp_path / "feb.csv", S1), "--rules", "anhui/dongzhi-2021", "--ledger", root, "-q")
    assert r.exit_code == Exit.OK, r.output
    return root


def state(root: Path) -> dict[str, tuple]:
    """Every file and directory under ``root``: kind, size, mtime (ns) and, for files, sha256.  A
    directory's mtime changes when a file is created in it, even one removed again."""
    out = {".": ("dir", root.stat().st_mtime_ns)}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(root))
        if p.is_dir():
            out[rel] = ("dir", st.st_mtime_ns)
        else:
            out[rel] = ("file", st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def read_only(root: Path, on: bool) -> None:
    for p in [root, *root.rglob("*")]:
        if p.is_dir():
            p.chmod(0o555 if on else 0o755)
        else:
            p.chmod(0o444 if on else 0o644)


def test_audit_continues_from_the_ledger_and_writes_nothing_into_it(ledger, tmp_path, monkeypatch):
    month = extract(tmp_path / "mar.csv", S1, S2)  # S1 again: already settled, not audited again
    before = state(ledger)
    seen: list[dict[str, tuple]] = []

    class Watching(audit_run.ChunkAudit):
        def __call__(self, chunk):  # the ledger as it is while the audit settles each chunk
            seen.append(state(ledger))
            return super().__call__(chunk)

    monkeypatch.setattr(audit_run, "ChunkAudit", Watching)
    # the reviewer may only read the ledger (chmod means nothing to root: then the snapshots,
    # taken while each chunk is audited and after the run, are what shows it)
    read_only(ledger, True)
    try:
        r = cli("audit", month, "--rules", "anhui/dongzhi-2021", "--ledger", ledger, "--out", tmp_path / "out", "--headers", "code")
    finally:
        read_only(ledger, False)
    assert r.exit_code == Exit.AUDIT_FINDINGS, r.output
    assert seen and all(s == before for s in seen), "the audit wrote into the ledger directory while it ran"
    assert state(ledger) == before  # (chmod changes no mtime)

    d = pl.read_csv(tmp_path / "out" / "differences.csv", infer_schema=False)
    got = {row["field"]: (row["reported"], row["computed"], row["difference"], row["cause"], row["rule_key"])
           for row in d.iter_rows(named=True)}
    assert set(d["setl_id"]) == {"S2"}
    assert got == {
        "act_pay_dedc": ("500.00", "250.00", "250.00", "deductible", "basic.inpatient.repeat_admission"),  # 500 × 0.5
        "hifp_pay": ("6000.00", "6200.00", "-200.00", "deductible", "basic.inpatient.repeat_admission"),  # (8,000 − 250) × 80 %
        "fund_pay_sumamt": ("6000.00", "6200.00", "-200.00", "deductible", "basic.inpatient.repeat_admission"),
    }
    s = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert (s["claims_audited"], s["already_settled"], s["rejects_by_reason"]) == (1, 1, {"already_settled": 1})

    # the next settle run finds no leftovers to set aside, and settles S2 as the audit computed it
    r = cli("settle", extract(tmp_path / "s2.csv", S2), "--rules", "anhui/dongzhi-2021", "--ledger", ledger, "-q")
    assert r.exit_code == Exit.OK, r.output
    assert not (ledger / "uncommitted").exists()
    entries = pl.read_parquet(sorted((ledger / "parts").glob("*.parquet"))[-1])
    assert entries.select("setl_id", "act_pay_dedc", "hifp_pay", "hifmi_pay").rows() == [("S2", 250_00, 6_200_00, 0)]


def test_without_the_ledger_the_second_admission_is_a_first_one(tmp_path):
    r = cli("audit", extract(tmp_path / "mar.csv", S2), "--rules", "anhui/dongzhi-2021", "--out", tmp_path / "out")
    assert r.exit_code == Exit.OK, r.output  # 500 and (8,000 − 500) × 80 % = 6,000: as the hospital reported


def test_a_part_missing_is_named(ledger, tmp_path):
    """The audit reads what HEAD.json names; a part missing is named (status 9), as explain and report name it."""
    [part] = (ledger / "parts").glob("*.parquet")
    part.unlink()
    r = cli("audit", extract(tmp_path / "mar.csv", S2), "--rules", "anhui/dongzhi-2021", "--ledger", ledger, "--out", tmp_path / "out")
    assert r.exit_code == Exit.LEDGER_CORRUPT, r.output
    assert part.name in r.output


def test_no_rule_period_in_a_ledger_audit_is_status_10_too(ledger, tmp_path):
    r = cli("audit", extract(tmp_path / "mar.csv", S2), "--rules", "shanxi/wenshui-2024", "--ledger", ledger,
            "--out", tmp_path / "out", "--lang", "en", "-q")
    assert r.exit_code == Exit.NO_RULE_PERIOD, r.output
    assert "nothing audited: the claims end in 2021" in r.stderr and "--rules anhui/dongzhi-2021" in r.stderr


def test_a_month_wholly_in_the_ledger_already_is_status_5_as_for_settle(ledger, tmp_path):
    """S1 is the ledger's own claim: nothing is left to audit, and the run says so (status 5, as a
    settle run of the same file ends), instead of a clean 'some rows rejected' (1)."""
    month = extract(tmp_path / "feb-again.csv", S1)
    settled = cli("settle", month, "--rules", "anhui/dongzhi-2021", "--ledger", ledger, "-q")
    assert settled.exit_code == Exit.NOTHING_NEW, settled.output
    for lang, words in (("en", "nothing audited: all 1 claim(s) are settled in ledger"), ("zh", "没有一笔可审核：1 笔结算已全部在台账")):
        r = cli("audit", month, "--rules", "anhui/dongzhi-2021", "--ledger", ledger, "--out", tmp_path / lang, "--lang", lang, "-q")
        assert r.exit_code == Exit.NOTHING_NEW, r.output
        assert words in r.stderr and str(ledger) in r.stderr
        s = json.loads((tmp_path / lang / "summary.json").read_text(encoding="utf-8"))
        assert (s["claims_audited"], s["already_settled"]) == (0, 1)
    # one claim new beside it: audited as usual (S2 differs, status 11)
    both = extract(tmp_path / "both.csv", S1, S2)
    r = cli("audit", both, "--rules", "anhui/dongzhi-2021", "--ledger", ledger, "--out", tmp_path / "both", "-q")
    assert r.exit_code == Exit.AUDIT_FINDINGS, r.output


def test_people_the_ledger_does_not_hold_yet_start_their_year_afresh(tmp_path):
    """A ledger of other people: S2 is P1's first admission of the year (500, (8,000 − 500) × 80 %
    = 6,000, as the hospital reported) — nothing differs, and nothing is carried over."""
    root = tmp_path / "ledger"
    other = S1.replace("S1,P1,", "S9,P9,")
    assert cli("settle", extract(tmp_path / "feb.csv", other), "--rules", "anhui/dongzhi-2021", "--ledger", root, "-q").exit_code == Exit.OK
    r = cli("audit", extract(tmp_path / "mar.csv", S2), "--rules", "anhui/dongzhi-2021", "--ledger", root, "--out", tmp_path / "out")
    assert r.exit_code == Exit.OK, r.output
    s = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert (s["claims_audited"], s["claims_differing"], s["already_settled"]) == (1, 0, 0)
