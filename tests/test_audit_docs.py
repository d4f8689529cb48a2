"""The `medclaim audit` session in README.md is real and current, and the sample hospital file's
planted mistakes are found with the causes sample_data/README.md promises."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.status import Exit

ROOT = Path(__file__).resolve().parent.parent
MEDCLAIM = Path(sys.executable).parent / "medclaim"
SAMPLE = ROOT / "sample_data" / "dongzhi-2021-03-hospital-d.csv"
SESSION = re.compile(r"^```console\n\$ (medclaim audit [^\n]*)\n(.*?)^```$", re.S | re.M)


def test_readme_audit_session_is_current():
    found = SESSION.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md shows no `medclaim audit` session"
    for command, expected in found:
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"}
        # one pipe for both streams, as a terminal shows them
        r = subprocess.run([str(MEDCLAIM), *shlex.split(command)[1:]], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env=env, timeout=300)
        assert r.returncode == Exit.AUDIT_FINDINGS
        tidy = lambda t: "\n".join(line.rstrip() for line in t.strip("\n").splitlines())  # noqa: E731
        assert tidy(r.stdout) == tidy(expected), f"`{command}` prints something else now: update README.md"


def test_sample_hospital_planted_mistakes(tmp_path):
    r = CliRunner().invoke(app, ["audit", str(SAMPLE), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path), "--headers", "code"])
    assert r.exit_code == Exit.AUDIT_FINDINGS, r.output
    d = pl.read_csv(tmp_path / "differences.csv", infer_schema=False)
    causes = {(row["setl_id"][-2:], row["field"]): row["cause"] for row in d.iter_rows(named=True)}
    assert causes["02", "act_pay_dedc"] == causes["02", "hifp_pay"] == "deductible"  # 2nd admission, full deductible
    assert causes["03", "act_pay_dedc"] == causes["03", "hifp_pay"] == "deductible"  # the tertiary deductible
    assert causes["04", "hifp_pay"] == "not_covered"  # general outpatient at a secondary hospital
    assert causes["06", "hifmi_pay"] == "identity"  # the 特困 tilt for an ordinary resident
    assert causes["07", "hifp_pay"] == "rounding"  # 0.505 truncated
    assert causes["12", "fund_pay_sumamt"] == "inconsistent"
    assert {k[0] for k in causes} == {"02", "03", "04", "06", "07", "12"}  # the right claims are not reported
    f = pl.read_csv(tmp_path / "flags.csv", infer_schema=False)
    assert sorted(zip(f["code"], f["setl_id"].str.slice(-2))) == [
        ("outpatient_in_stay", "04"), ("overlapping_stays", "11"), ("quick_readmission", "02"), ("zero_day_stay", "09")]


def test_settle_says_how_many_claims_differ(tmp_path):
    r = CliRunner().invoke(app, ["settle", str(SAMPLE), "--rules", "anhui/dongzhi-2021", "--out", str(tmp_path), "--lang", "en"])
    assert r.exit_code == Exit.OK, r.output
    # 6 claims differ; funds: +66 (D04) +585 (D06) +100 (D12's total) more, 200 + 240 + 0.01 less
    line = "the hospitals' own figures: 6 of 12 claims differ from the rules (funds paid 751.00 yuan more, 440.01 yuan less)"
    assert line in r.output
    assert "medclaim audit" in r.output
    assert line in (tmp_path / "summary.txt").read_text(encoding="utf-8")
    import json

    assert json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))["reported"]["claims_differing"] == 6
