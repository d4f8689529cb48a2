"""Every failure of the process ends in a documented status with one clear line: a bug or a native
panic in 70 (with a crash log), the machine refusing a read or write in 12 (naming the path)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import medclaim.pipeline
from medclaim.cli import app
from medclaim.status import Exit

ROOT = Path(__file__).resolve().parent.parent
B = ROOT / "sample_data" / "dongzhi-2021-03-hospital-b.parquet"
RULES = "anhui/dongzhi-2021"


class PanicException(BaseException):
    """What pyo3 raises when Rust code panics: a BaseException, not an Exception."""


def panic(*args, **kwargs):
    raise PanicException("called `Option::unwrap()` on a `None` value")


def invoke(*argv):
    return CliRunner().invoke(app, [str(a) for a in argv], catch_exceptions=False)


@pytest.mark.parametrize("mode", ["--out", "--ledger"])
def test_a_base_exception_from_a_native_library_is_an_internal_error(mode, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    target = "medclaim.pipeline.settle_claims" if mode == "--out" else "medclaim.store.settle_claims"
    monkeypatch.setattr(target, panic)
    r = invoke("settle", B, "--rules", RULES, mode, tmp_path / "dir")
    assert r.exit_code == Exit.INTERNAL
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: internal error (PanicException: called `Option::unwrap()`")
    crash = next(tmp_path.glob("medclaim-crash-*.log"))
    assert "PanicException" in crash.read_text() and str(crash) in errors[0]
    assert not (tmp_path / "dir" / "ledger.parquet").exists() and not (tmp_path / "dir" / "HEAD.json").exists()


#: A panic outside any command (here: listing the rule sets), through the installed entry point.
OUTSIDE = """
import sys
import medclaim.rules
class PanicException(BaseException):
    pass
def boom(*a, **k):
    raise PanicException("boom")
medclaim.rules.list_rulesets = boom
from medclaim.cli import run
sys.argv = ["medclaim", "rules", "list"]
run()
"""


def test_a_panic_outside_a_guarded_command_still_ends_in_70(tmp_path):
    p = subprocess.run([sys.executable, "-c", OUTSIDE], capture_output=True, text=True, env={"TMPDIR": str(tmp_path), "PATH": ""})
    assert p.returncode == Exit.INTERNAL, p.stderr
    assert p.stderr.startswith("error: internal error (PanicException: boom); details in ") and "Traceback" not in p.stderr
