"""The CLI reference is generated from --help; it must be complete and current."""

from pathlib import Path

import typer

from medclaim.cli import app
from medclaim.clidoc import command_paths, render

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def test_every_command_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for path in command_paths(typer.main.get_command(app)):
        title = " ".join(("medclaim",) + path)
        assert f"## `{title}`" in text, f"{title} is missing from docs/cli.md — run: python -m medclaim.clidoc > docs/cli.md"


def test_reference_is_current():
    assert DOC.read_text(encoding="utf-8") == render(), "docs/cli.md is stale — run: python -m medclaim.clidoc > docs/cli.md"


def test_every_command_has_help_text():
    root = typer.main.get_command(app)
    for path in command_paths(root)[1:]:
        cmd = root
        for name in path:
            cmd = cmd.commands[name]
        assert (cmd.help or "").strip(), f"medclaim {' '.join(path)} has no help text"
