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
    target = "medclaim.pipeline.settle_claims" if mode == "--out" else "medclaim.store.runs.settle_claims"
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


# ------------------------------------------------------------------ the machine refuses (status 12)


def no_traceback(r) -> None:
    assert "Traceback" not in r.output and "Logging error" not in r.output and "internal error" not in r.output


def test_a_log_file_on_a_full_disk_stops_the_run_before_it_starts(tmp_path):
    r = invoke("settle", B, "--rules", RULES, "--out", tmp_path / "out", "--log-file", "/dev/full")
    assert r.exit_code == Exit.MACHINE_REFUSED, r.output
    assert "error: /dev/full: the disk is full (ENOSPC) — free space" in r.output
    no_traceback(r)
    assert not (tmp_path / "out").exists()


def full_disk_on_fsync(monkeypatch) -> None:
    """The disk fills up while the run writes: fsync fails with ENOSPC (no file name, as the kernel says it)."""
    import errno
    import os

    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_full_disk_under_out_is_status_12_naming_the_directory(tmp_path, monkeypatch):
    out = tmp_path / "out"
    full_disk_on_fsync(monkeypatch)
    r = invoke("settle", B, "--rules", RULES, "--out", out)
    assert r.exit_code == Exit.MACHINE_REFUSED, r.output
    assert f"error: {out}" in r.output and "the disk is full (ENOSPC)" in r.output
    no_traceback(r)
    assert not (out / "ledger.parquet").exists() and not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_a_full_disk_during_a_ledger_commit_leaves_the_ledger_as_it_was(tmp_path, monkeypatch):
    from medclaim import store

    d = tmp_path / "ledger"
    assert invoke("settle", B, "--rules", RULES, "--ledger", d, "-q").exit_code == Exit.REJECTS
    before = store.read_head(d)
    monkeypatch.setattr("medclaim.store.fsync_dir", lambda p: None)
    full_disk_on_fsync(monkeypatch)
    r = invoke("settle", ROOT / "sample_data" / "dongzhi-2021-03-hospital-a.csv", "--rules", RULES, "--ledger", d)
    assert r.exit_code == Exit.MACHINE_REFUSED, r.output
    assert f"error: {d}" in r.output and "ENOSPC" in r.output
    no_traceback(r)
    monkeypatch.undo()
    after = store.read_head(d)
    assert (after.run, after.entries, after.parts) == (before.run, before.entries, before.parts)
    assert store.verify(d) == []


def test_a_read_only_ledger_is_status_12_naming_it(tmp_path, monkeypatch):
    """Tests run as root, which ignores file modes: the read-only file system is injected."""
    import errno
    import os

    d = tmp_path / "ledger"
    assert invoke("settle", B, "--rules", RULES, "--ledger", d, "-q").exit_code == Exit.REJECTS
    real_open = os.open

    def read_only(path, flags, *a, **k):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", read_only)
    r = invoke("settle", ROOT / "sample_data" / "dongzhi-2021-03-hospital-a.csv", "--rules", RULES, "--ledger", d)
    assert r.exit_code == Exit.MACHINE_REFUSED, r.output
    assert f"error: {d / '.lock'}: the file system is read-only (EROFS) — remount it read-write" in r.output
    no_traceback(r)


def test_permission_denied_on_out_is_status_12_naming_it(tmp_path, monkeypatch):
    import errno
    import pathlib

    out = tmp_path / "forbidden" / "out"
    real_mkdir = pathlib.Path.mkdir

    def mkdir(self, *a, **k):
        if self == out:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    r = invoke("settle", B, "--rules", RULES, "--out", out)
    assert r.exit_code == Exit.MACHINE_REFUSED, r.output
    assert f"error: {out}: permission denied (EACCES) — give this user access" in r.output
    no_traceback(r)


def test_the_excel_writer_on_a_full_disk_is_status_12(tmp_path, monkeypatch):
    """xlsxwriter wraps the OSError of its zip file in its own exception: still the machine's state."""
    import errno
    import os

    import xlsxwriter.workbook

    class FullZip:
        def __init__(self, *a, **k):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(xlsxwriter.workbook, "ZipFile", FullZip)
    out = tmp_path / "out"
    r = invoke("settle", B, "--rules", RULES, "--out", out, "--format", "xlsx")
    assert r.exit_code == Exit.MACHINE_REFUSED, r.output
    assert "the disk is full (ENOSPC)" in r.output
    no_traceback(r)


# ------------------------------------------------------------------ the end of the process

MEDCLAIM = str(Path(sys.executable).parent / "medclaim")


def test_a_three_byte_file_never_aborts_at_exit(tmp_path):
    """pyarrow's and polars' threads torn down together at interpreter exit aborted about one run
    in four ("terminate called without an active exception", 134) after the right message."""
    (tmp_path / "abc.csv").write_bytes(b"abc")
    argv = [MEDCLAIM, "settle", "abc.csv", "--rules", RULES, "--out", "out"]
    runs = [subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = []
    for i in range(18):
        p = runs[i % 3]
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, err))
        runs[i % 3] = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for p in runs:
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, err))
    assert {code for code, _ in results} == {Exit.INVALID_INPUT}, [r for r in results if r[0] != Exit.INVALID_INPUT][:1]
    assert all(err.startswith("error: abc.csv: ") and "terminate" not in err for _, err in results)


def test_output_closed_early_by_head_ends_quietly(tmp_path):
    """`medclaim ledger runs | head -1`: the reader is gone before medclaim writes."""
    d = tmp_path / "ledger"
    assert invoke("settle", B, "--rules", RULES, "--ledger", d, "-q").exit_code == Exit.REJECTS
    for argv in (["ledger", "runs", "--ledger", str(d)], ["ledger", "runs", "--ledger", str(d), "--json"]):
        p = subprocess.Popen([MEDCLAIM, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        p.stdout.close()  # like `head` that has exited
        err = p.stderr.read().decode()
        p.wait(timeout=60)
        assert "BrokenPipe" not in err and "Traceback" not in err and err == ""
        assert p.returncode in (0, -13)  # done, or ended by SIGPIPE as Unix tools are
    shell = subprocess.run(f"{MEDCLAIM} ledger runs --ledger {d} | head -1", shell=True, capture_output=True, text=True)
    assert shell.stdout.startswith("run\tkind") and shell.stderr == ""
