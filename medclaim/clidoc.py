"""Generate the CLI reference (docs/cli.md) from the commands' own --help.

`python -m medclaim.clidoc > docs/cli.md` regenerates it; a test fails when a command is missing
from the reference or the reference is stale.
"""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from .cli import app

WIDTH = 100


def command_paths(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under a typer/click group, depth first (groups expose `.commands`)."""
    paths = [prefix]
    if getattr(group, "commands", None):
        for name in sorted(group.commands):
            paths += command_paths(group.commands[name], prefix + (name,))
    return paths


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=WIDTH, env={"COLUMNS": str(WIDTH), "NO_COLOR": "1"})
    return "\n".join(line.rstrip() for line in result.output.splitlines()).strip() + "\n"


def render() -> str:
    root = typer.main.get_command(app)
    out = [
        "# medclaim command reference",
        "",
        "Generated from each command's `--help` by `python -m medclaim.clidoc > docs/cli.md`;",
        "the test suite fails when this file is stale or a command is missing.",
        "",
    ]
    for path in command_paths(root):
        title = " ".join(("medclaim",) + path)
        out += [f"## `{title}`", "", "```text", help_text(path).rstrip(), "```", ""]
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
