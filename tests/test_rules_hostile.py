"""Hostile rule files and options: a clear refusal (status 3 or 2), never a crash, a hang or a
flood — huge numbers, "billion laughs" aliases, FIFOs and devices, huge values echoed back, and a
`--lang` that is a path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.rules import MAX_RULE_FILE_BYTES, RULES_DIR, RuleSetError, load_rulebook
from medclaim.status import Exit

SHIPPED = (RULES_DIR / "anhui" / "dongzhi-2021.yaml").read_text(encoding="utf-8")
MEDCLAIM = str(Path(sys.executable).parent / "medclaim")


def check(path: Path):
    return CliRunner().invoke(app, ["rules", "check", str(path)], catch_exceptions=False)


def test_a_100000_digit_integer_is_an_invalid_rule_set(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text(SHIPPED.replace("version: ", "version: " + "9" * 100_000 + "  # was ", 1), encoding="utf-8")
    r = check(f)
    assert r.exit_code == Exit.INVALID_RULES, r.output
    assert "a number of 100,000 characters" in r.output and len(r.output) < 1_000


def test_billion_laughs_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    f = tmp_path / "laughs.yaml"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    p = subprocess.run([MEDCLAIM, "rules", "check", str(f)], capture_output=True, text=True, timeout=60)
    assert p.returncode == Exit.INVALID_RULES, p.stderr
    assert "aliases (*name) are expanded" in p.stderr


def test_an_oversized_rule_file_is_refused(tmp_path):
    f = tmp_path / "huge.yaml"
    f.write_text(SHIPPED + "#" * (MAX_RULE_FILE_BYTES + 10), encoding="utf-8")
    r = check(f)
    assert r.exit_code == Exit.INVALID_RULES and "larger than" in r.output


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_a_rule_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path, kind):
    if kind == "fifo":
        target = tmp_path / "rules.yaml"
        os.mkfifo(target)
    else:
        target = Path(kind)
    p = subprocess.run([MEDCLAIM, "rules", "check", str(target)], capture_output=True, text=True, timeout=60)
    assert p.returncode == Exit.INVALID_RULES, p.stderr
    assert "FIFO" in p.stderr or "not a regular file" in p.stderr


def test_validation_errors_echo_only_a_short_excerpt(tmp_path):
    f = tmp_path / "long.yaml"
    f.write_text(SHIPPED.replace("effective_from: ", "effective_from: " + "x" * 3_000 + "  # was ", 1), encoding="utf-8")
    with pytest.raises(RuleSetError) as e:
        load_rulebook(f)
    assert "x" * 60 not in str(e.value) and "xxx" in str(e.value)


def test_explain_lang_accepts_only_the_shipped_languages(tmp_path):
    evil = tmp_path / "x.yaml"
    evil.write_text("a: b\n", encoding="utf-8")
    rel = os.path.relpath(evil.with_suffix(""), Path(__file__).resolve().parent.parent / "medclaim" / "labels")
    r = CliRunner().invoke(app, ["explain", "P1", "--lang", rel, "--ledger", str(tmp_path)], catch_exceptions=False)
    assert r.exit_code == Exit.USAGE
    assert "no labels for language" in r.output and "available: en, zh" in r.output
