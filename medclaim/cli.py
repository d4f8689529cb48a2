"""The command line: a thin shell over the library (pipeline, settle, explain, ledger).

Pretty output only on a terminal; plain, parseable text when piped; ``--quiet`` prints errors only.
Exit statuses are the ``medclaim.status.Exit`` enum, documented in the README.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .status import DESCRIPTIONS, Exit

app = typer.Typer(
    name="medclaim",
    help="Settle urban-rural resident medical-insurance claims: basic insurance (统筹基金), "
    "critical-illness insurance (大病保险) and medical assistance (医疗救助), to the fen.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    epilog="Exit statuses: " + "; ".join(f"{int(k)} {v}" for k, v in DESCRIPTIONS.items()),
)
rules_app = typer.Typer(help="List and check rule sets.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rules_app, name="rules")

log = logging.getLogger("medclaim")


class Format(str, Enum):
    csv = "csv"
    xlsx = "xlsx"


class Out:
    """Where messages go: rich on a terminal, plain otherwise, nothing but errors when quiet."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stdout.isatty()

    def result(self, renderable_rich, plain: str) -> None:
        if self.quiet:
            return
        if self.tty:
            from rich.console import Console

            Console().print(renderable_rich)
        else:
            sys.stdout.write(plain)

    def info(self, msg: str) -> None:
        log.info(msg)
        if not self.quiet:
            print(msg, file=sys.stderr)

    def warn(self, msg: str) -> None:
        log.warning(msg)
        if not self.quiet:
            print(f"warning: {msg}", file=sys.stderr)

    def error(self, msg: str) -> None:
        log.error(msg)
        print(f"error: {msg}", file=sys.stderr)


def setup_logging(log_file: Path | None) -> None:
    if log_file is None:
        return
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)


def guarded(fn):
    """Turn every known failure into a clear message and its exit status; never a bare traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .io import InputFileError
        from .rules import RuleSetError
        from .settle import InvariantError

        out = Out(kwargs.get("quiet", False))
        try:
            status = fn(*args, **kwargs)
        except typer.Exit:
            raise
        except RuleSetError as e:
            for p in e.problems:
                out.error(p)
            status = Exit.INVALID_RULES
        except InputFileError as e:
            out.error(str(e))
            status = Exit.INVALID_INPUT
        except InvariantError as e:
            out.error("settlement invariant broken — nothing was written:")
            for p in e.problems:
                out.error(f"  {p}")
            status = Exit.INVARIANT
        except Exception as e:  # a bug: say so plainly, keep the traceback for the report
            tb = traceback.format_exc()
            log.error(tb)
            crash = Path.cwd() / "medclaim-crash.log"
            try:
                crash.write_text(tb, encoding="utf-8")
                where = f"; details in {crash}"
            except OSError:
                where = ""
            out.error(f"internal error ({type(e).__name__}: {e}){where} — please report it")
            status = Exit.INTERNAL
        raise typer.Exit(int(status))

    return wrapper


def version_callback(value: bool) -> None:
    if value:
        print(f"medclaim {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")
    ] = None,
) -> None:
    """medclaim — resident medical-insurance settlement."""


@app.command()
@guarded
def settle(
    inputs: Annotated[list[Path], typer.Argument(help="Extract files: .csv (UTF-8 or GBK), .parquet, .xlsx. Several files = one month from several hospitals.", exists=True, dir_okay=False)],
    rules: Annotated[str, typer.Option("--rules", "-r", help="Rule set: an id under rules/ (anhui/dongzhi-2021), a .yaml file, or a region directory of periods.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for ledger.parquet, rejects.csv, summary.txt/json.")],
    format: Annotated[Optional[list[Format]], typer.Option("--format", "-f", help="Also write the ledger as CSV and/or Excel (repeatable).")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="Force the CSV encoding (utf-8, gb18030, gbk); detected if omitted.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only (for cron).")] = False,
    log_file: Annotated[Optional[Path], typer.Option("--log-file", help="Append a log of the run to this file.")] = None,
) -> Exit:
    """Settle claims through basic insurance, 大病 and medical assistance and write the ledger.

    Example: medclaim settle sample_data/dongzhi-2021-03-hospital-a.csv --rules anhui/dongzhi-2021 --out out/2021-03

    Exit status 0 when every row settled, 1 when some rows were rejected (see rejects.csv).
    """
    from .pipeline import settle_files
    from .summary import render_plain, render_rich

    setup_logging(log_file)
    o = Out(quiet)
    result = settle_files(inputs, rules, out, [f.value for f in format or []], encoding)
    for w in result.warnings:
        o.warn(w)
    s = result.summary
    o.result(render_rich(s), render_plain(s))
    log.info("settled %s claims, rejected %s rows into %s", s["claims_settled"], s["rows_rejected"], out)
    if s["rows_rejected"]:
        o.warn(f"{s['rows_rejected']} row(s) rejected — see {out / 'rejects.csv'}")
    return result.status


@rules_app.command("list")
def rules_list() -> None:
    """List the rule sets shipped under rules/ with their periods and unverified-parameter counts."""
    from .rules import list_rulesets, load_ruleset_file

    for rid, path in list_rulesets():
        try:
            rs = load_ruleset_file(path)
            m = rs.ruleset
            print(f"{rid}\t{m.effective_from}..{m.effective_to}\t{m.name}\tunverified={len(rs.unverified())}")
        except Exception as e:  # a broken file is listed, not fatal
            print(f"{rid}\tINVALID\t{str(e).splitlines()[0]}")


@rules_app.command("check")
@guarded
def rules_check(
    ruleset: Annotated[str, typer.Argument(help="Rule-set id, file or region directory.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
) -> Exit:
    """Validate a rule set and list each unverified (placeholder) parameter with its source."""
    from .rules import load_rulebook

    book = load_rulebook(ruleset)
    for rs, path in zip(book.periods, book.files):
        if quiet:
            continue
        un = rs.unverified()
        print(f"{path}: valid; {rs.ruleset.effective_from}..{rs.ruleset.effective_to}; {len(un)} unverified parameter block(s)")
        blocks = dict(rs.cited_blocks())
        for p in un:
            print(f"  unverified  {p}  — {rs.cite(blocks[p])}")
    return Exit.OK


# Commands defined in their own modules register themselves on `app` when imported.
from . import cli_explain, cli_ledger  # noqa: E402,F401

if __name__ == "__main__":  # pragma: no cover
    app()
