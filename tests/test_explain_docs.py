"""The `medclaim explain` sessions shown in docs/explain.md and README.md are real and current.

Every ```console block whose command starts with `medclaim explain` is run (as a subprocess of the
installed `medclaim`, from the repository root, output piped — so plain text) and its output must
equal the block's text exactly, trailing spaces aside.  A command continues on the next line after
a trailing backslash.  After an intended change of explain's output, regenerate the blocks with

    MEDCLAIM_UPDATE_DOCS=1 .venv/bin/pytest tests/test_explain_docs.py

and review the diff.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "docs" / "explain.md", ROOT / "README.md"]
MEDCLAIM = Path(sys.executable).parent / "medclaim"
UPDATE = os.environ.get("MEDCLAIM_UPDATE_DOCS") == "1"
FENCE = re.compile(r"^```console\n(.*?)^```$", re.S | re.M)


@dataclass
class Session:
    doc: Path
    line: int  # 1-based line of the command in the document
    command: str
    expected: str
    span: tuple[int, int]  # character span of the expected output in the document


def sessions(doc: Path) -> list[Session]:
    if not doc.exists():
        return []
    text = doc.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        body, start = m.group(1), m.start(1)
        lines = body.splitlines(keepends=True)
        i = 0
        offset = start
        while i < len(lines):
            if not lines[i].startswith("$ "):
                offset += len(lines[i])
                i += 1
                continue
            cmd_line = text.count("\n", 0, offset) + 1
            cmd = lines[i][2:].rstrip("\n")
            offset += len(lines[i])
            i += 1
            while cmd.endswith("\\") and i < len(lines):
                cmd = cmd[:-1] + " " + lines[i].strip()
                offset += len(lines[i])
                i += 1
            out_start = offset
            out = []
            while i < len(lines) and not lines[i].startswith("$ "):
                out.append(lines[i])
                offset += len(lines[i])
                i += 1
            if cmd.startswith("medclaim explain"):
                found.append(Session(doc, cmd_line, cmd, "".join(out), (out_start, offset)))
    return found


ALL = [s for d in DOCS for s in sessions(d)]


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines()) + "\n"


def run(command: str) -> str:
    argv = shlex.split(command)
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"}
    r = subprocess.run([str(MEDCLAIM), *argv[1:]], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    return r.stdout + r.stderr


def missing_inputs(command: str) -> list[str]:
    argv = shlex.split(command)
    return [a for a in argv if a.startswith("sample_data/") and not (ROOT / a).exists()]


def test_docs_show_at_least_one_explain_session():
    assert [s for s in ALL if s.doc.name == "explain.md"], "docs/explain.md shows no `medclaim explain` session"


@pytest.mark.parametrize("session", ALL, ids=[f"{s.doc.name}:{s.line}" for s in ALL])
def test_explain_session_is_current(session: Session):
    missing = missing_inputs(session.command)
    if missing:
        pytest.skip(f"sample data not generated yet: {', '.join(missing)} (sample_data/make_sample_data.py)")
    actual = normalise(run(session.command))
    if UPDATE and actual != normalise(session.expected):
        text = session.doc.read_text(encoding="utf-8")
        # spans are recomputed: an earlier update in the same file may have moved this block
        same = [s for s in ALL if s.doc == session.doc and s.command == session.command]
        fresh = [s for s in sessions(session.doc) if s.command == session.command]
        a, b = fresh[same.index(session)].span
        session.doc.write_text(text[:a] + actual + text[b:], encoding="utf-8")
        return
    assert actual == normalise(session.expected), (
        f"{session.doc.name}:{session.line}: `{session.command}` prints something else now — "
        "if the change is intended, regenerate with MEDCLAIM_UPDATE_DOCS=1"
    )


def test_read_aloud_figures_are_in_the_session_above():
    """The prose reading a session out loud quotes only figures the session shows."""
    doc = ROOT / "docs" / "explain.md"
    text = doc.read_text(encoding="utf-8")
    checked = 0
    for m in re.finditer(r"^Read aloud:(.*?)(?:\n\n)", text, re.S | re.M):
        before = text[: m.start()]
        block = FENCE.findall(before)[-1]
        for amount in re.findall(r"\d{1,3}(?:,\d{3})*\.\d{2}", m.group(1)):
            assert amount in block, f"docs/explain.md: {amount} in the prose is not in the session above it"
            checked += 1
    assert checked
