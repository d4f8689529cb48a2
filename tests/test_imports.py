"""Every medclaim module imports on its own, first, in an interpreter that has not imported medclaim:
no module works only because another one happened to be imported before it.  A circular import
shows up only in such an order: the audit block's models, once in the audit package, could not be
imported before `medclaim.rules`, nor `medclaim.cli_report` before `medclaim.cli`.

One helper interpreter imports the third-party libraries once, then forks a child per module; a
child starts without any medclaim module loaded, as `python -c "import medclaim.x.y"` would, and
imports just that module.  Modules are found by walking the package's files, not by importing it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "medclaim"

FORK_EACH = textwrap.dedent("""
    import json, os, sys, traceback
    import polars, pyarrow, pyarrow.parquet, pydantic, rich, typer, yaml  # third-party only: the same in every child
    assert not [m for m in sys.modules if m.split(".")[0] == "medclaim"]
    todo, running, failed = json.loads(sys.argv[1]), {}, {}
    while todo or running:
        while todo and len(running) < 2:  # two children at a time
            name = todo.pop()
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                try:
                    __import__(name)
                    os._exit(0)
                except BaseException:
                    os.write(w, traceback.format_exc()[-3000:].encode())  # less than a pipe holds: never blocks
                    os._exit(1)
            os.close(w)
            running[pid] = (name, r)
        pid, status = os.wait()
        name, r = running.pop(pid)
        with os.fdopen(r, "rb") as f:
            text = f.read().decode()
        if status != 0:
            failed[name] = text or f"wait status {status}"
    print(json.dumps(failed))
""")


def module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_walk_finds_the_modules_known_to_have_failed_alone():
    names = module_names()
    assert {"medclaim", "medclaim.rules.audit", "medclaim.audit.review", "medclaim.cli_report", "medclaim.spark.ledger"} <= set(names)
    assert len(names) > 80


def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = module_names()
    if importlib.util.find_spec("pyspark") is None:
        names = [n for n in names if not n.startswith("medclaim.spark")]
    run = subprocess.run([sys.executable, "-c", FORK_EACH, json.dumps(names)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    failed = json.loads(run.stdout.strip().splitlines()[-1])
    assert failed == {}, "\n\n".join(f"import {n} failed:\n{tb}" for n, tb in failed.items())
