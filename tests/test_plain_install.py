"""Installed the way a user installs it — `pip install .`, no extras — medclaim finds its shipped
rule sets by id, settles a month of several chunks, and a native panic ends in the internal-error
status, never in 0 or 1.

The test extras (numpy among them) are installed for every other test, so only a fresh virtual
environment can see a runtime dependency that is missing from ``dependencies``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from medclaim.settle import CHUNK_ROWS_ENV
from medclaim.status import Exit

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
FILES = [SAMPLE / "dongzhi-2021-03-hospital-a.csv", SAMPLE / "dongzhi-2021-03-hospital-b.parquet",
         SAMPLE / "dongzhi-2021-03-hospital-c.xlsx"]
RULES = ROOT / "rules" / "anhui" / "dongzhi-2021.yaml"
RULES_ID = "anhui/dongzhi-2021"  # the same file, by the id a user gives
SMALL_CHUNK = "97"  # the sample month is ~3,000 claims: dozens of chunks


def declared_dependencies() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {d.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower() for d in meta["dependencies"]}


@pytest.fixture(scope="module")
def plain_env(tmp_path_factory) -> Path:
    """A fresh virtual environment with `pip install .` (a copy of the sources, so the build leaves
    nothing in the working tree)."""
    base = tmp_path_factory.mktemp("plain")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "medclaim", src / "medclaim", ignore=shutil.ignore_patterns("__pycache__"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    p = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(src)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    return venv


def in_env(venv: Path, argv: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", CHUNK_ROWS_ENV)}
    e.update(TMPDIR=str(tmp_path), **env)
    return subprocess.run(argv, capture_output=True, text=True, env=e, cwd=tmp_path, timeout=300)


def test_the_plain_install_has_no_test_extras(plain_env, tmp_path):
    """The point of the environment: what the tests install besides the dependencies is absent."""
    declared = declared_dependencies()
    for module in ("numpy", "pytest", "hypothesis", "psutil"):
        if module in declared:
            continue
        p = in_env(plain_env, [str(plain_env / "bin" / "python"), "-c", f"import {module}"], tmp_path)
        assert p.returncode != 0 and "ModuleNotFoundError" in p.stderr, f"{module} is installed without being declared"


def shipped_ids() -> set[str]:
    """The rule sets of the repository's rules/ directory, as ids (region/file without .yaml)."""
    top = ROOT / "rules"
    return {str(Path(d, f).relative_to(top).with_suffix("")) for d, _, files in os.walk(top, followlinks=True)
            for f in files if f.endswith(".yaml")}


def test_the_shipped_rule_sets_are_installed_and_found_by_id(plain_env, tmp_path):
    """The working directory holds no rules/: the ids resolve to the installed package's copies."""
    medclaim = str(plain_env / "bin" / "medclaim")
    listed = in_env(plain_env, [medclaim, "rules", "list"], tmp_path)
    assert listed.returncode == Exit.OK, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert {r[0] for r in rows} == shipped_ids() and len(shipped_ids()) >= 3
    assert not [r for r in rows if r[1] == "INVALID"]
    check = in_env(plain_env, [medclaim, "rules", "check", RULES_ID], tmp_path)
    assert check.returncode == Exit.OK, check.stderr
    installed = Path(check.stdout.split(": valid")[0])
    assert installed.is_relative_to(plain_env) and installed.read_bytes() == RULES.read_bytes()


def test_a_month_of_many_chunks_settles_in_a_plain_install(plain_env, tmp_path):
    medclaim = str(plain_env / "bin" / "medclaim")
    out = tmp_path / "out"
    p = in_env(plain_env, [medclaim, "settle", *map(str, FILES), "--rules", RULES_ID, "--out", str(out),
                           "--format", "csv", "--format", "xlsx"], tmp_path, **{CHUNK_ROWS_ENV: SMALL_CHUNK})
    assert p.returncode == Exit.REJECTS, p.stderr  # the sample month holds deliberately bad rows
    assert "Traceback" not in p.stderr and "panicked" not in p.stderr
    chunked = pl.read_parquet(out / "ledger.parquet")
    assert chunked.height > 10 * int(SMALL_CHUNK)
    assert (out / "ledger.csv").exists() and (out / "ledger.xlsx").exists()

    # the same month settled in one chunk (this environment, with the test extras) pays the same
    from medclaim.pipeline import settle_files

    whole = tmp_path / "whole"
    settle_files(FILES, str(RULES), whole)
    assert_frame_equal(chunked.sort("setl_id"), pl.read_parquet(whole / "ledger.parquet").sort("setl_id"))

    # and as monthly runs of a persistent ledger
    ledger = tmp_path / "ledger"
    first = in_env(plain_env, [medclaim, "settle", str(FILES[0]), "--rules", RULES_ID, "--ledger", str(ledger)],
                   tmp_path, **{CHUNK_ROWS_ENV: SMALL_CHUNK})
    assert first.returncode == Exit.REJECTS, first.stderr
    second = in_env(plain_env, [medclaim, "settle", str(FILES[1]), "--rules", str(RULES), "--ledger", str(ledger)],
                    tmp_path, **{CHUNK_ROWS_ENV: SMALL_CHUNK})
    assert second.returncode in (Exit.OK, Exit.REJECTS), second.stderr
    verify = in_env(plain_env, [medclaim, "ledger", "verify", "--ledger", str(ledger)], tmp_path)
    assert verify.returncode == Exit.OK, verify.stdout + verify.stderr


#: A settle run in which the engine hits a genuine pyo3 panic (polars asked for a NumPy array
#: where there is no numpy) — the failure of this issue, provoked on purpose.
PANIC = """
import sys
import polars as pl
import medclaim.pipeline
def panicking_settle(*args, **kwargs):
    return pl.Series([True, False]).arg_true().to_numpy()
medclaim.pipeline.settle_claims = panicking_settle
from medclaim.cli import run
sys.argv = ["medclaim", *sys.argv[1:]]
run()
"""


def test_a_native_panic_ends_in_status_70_with_one_line_and_a_crash_log(plain_env, tmp_path):
    out = tmp_path / "out"
    p = in_env(plain_env, [str(plain_env / "bin" / "python"), "-c", PANIC, "settle", str(FILES[1]), "--rules",
                           str(RULES), "--out", str(out)], tmp_path)
    assert p.returncode == Exit.INTERNAL, p.stderr
    ours = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert len(ours) == 1 and "internal error (PanicException:" in ours[0] and "please report it" in ours[0]
    assert "Traceback" not in p.stderr
    crash = Path(ours[0].split("details in ")[1].split(" — ")[0])
    assert crash.parent == tmp_path and "PanicException" in crash.read_text()
    assert not (out / "ledger.parquet").exists()
