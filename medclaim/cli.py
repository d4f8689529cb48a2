"""The command line: a thin shell over the library (pipeline, settle, explain, ledger).

Pretty output only on a terminal; plain, parseable text when piped; ``--quiet`` prints errors only.
Exit statuses are the ``medclaim.status.Exit`` enum, documented in the README.
"""

from __future__ import annotations

import functools
import logging
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__, cli_input, failures
from .status import DESCRIPTIONS, Exit

app = typer.Typer(
    name="medclaim",
    help="Settle urban-rural resident medical-insurance claims: basic insurance (统筹基金), "
    "critical-illness insurance (大病保险) and medical assistance (医疗救助), to the fen.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    epilog="Exit statuses: " + "; ".join(f"{int(k)} {v}" for k, v in DESCRIPTIONS.items()),
)
rules_app = typer.Typer(help="List and check rule sets.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rules_app, name="rules")

log = logging.getLogger("medclaim")
log.addHandler(logging.NullHandler())  # no stderr echo unless --log-file adds a handler
log.propagate = False


class Format(str, Enum):
    csv = "csv"
    xlsx = "xlsx"


class Headers(str, Enum):
    zh = "zh"
    en = "en"
    code = "code"


class OutputEncoding(str, Enum):
    utf8 = "utf-8"
    gbk = "gbk"


class Engine(str, Enum):
    local = "local"
    spark = "spark"


class Out:
    """Where messages go: rich on a terminal, plain otherwise, nothing but errors when quiet."""

    def __init__(self, quiet: bool = False, lang: str | None = None):
        self.quiet = quiet
        self.tty = sys.stdout.isatty()
        self.lang = lang  # the language of the command's summary: warnings follow it (None: English)

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
            print(self.words("cli.warning", message=msg), file=sys.stderr)

    def words(self, label: str, **kw) -> str:
        """A label of ``medclaim/labels/<lang>.yaml`` in the command's language."""
        from .labels import load_labels

        return load_labels(self.lang or "en")(label, **kw)

    def error(self, msg: str) -> None:
        log.error(msg)
        print(f"error: {msg}", file=sys.stderr)


def language_known(o: Out, lang: str) -> bool:
    """False (and the languages there are, as an error) for a --lang without a labels file."""
    from .labels import load_labels

    try:
        load_labels(lang)
    except ValueError as e:
        o.error(str(e))
        return False
    return True


def setup_logging(log_file: Path | None) -> None:
    """Append INFO and above to ``log_file`` (one handler per file, however often called).

    The command line is logged at once: a log file that cannot be written stops the command
    before it does anything (status 12)."""
    if log_file is None:
        return
    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    target = str(log_file.resolve())
    if any(isinstance(h, logging.FileHandler) and h.baseFilename == target for h in log.handlers):
        return
    handler = failures.LogFile(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("started: %s", " ".join(sys.argv))
    except OSError:
        log.removeHandler(handler)
        try:
            handler.close()  # flushes the record that could not be written: fails the same way
        except OSError:
            pass
        raise


def guarded(fn):
    """Turn every known failure into a clear message and its exit status; never a bare traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .io import InputFileError
        from .output import OutputError
        from .rules import RuleSetError
        from .settle import InvariantError
        from .store import LedgerError

        out = Out(kwargs.get("quiet", False))
        try:
            status = fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt as e:  # a library's own SIGINT handler (pyspark's) raised it
            raise failures.Interrupted() from e
        except RuleSetError as e:
            for p in e.problems:
                out.error(p)
            status = Exit.INVALID_RULES
        except OutputError as e:
            out.error(str(e))
            status = Exit.USAGE
        except InputFileError as e:
            out.error(str(e))
            status = Exit.INVALID_INPUT
        except LedgerError as e:  # a damaged or locked ledger read by any command
            for line in str(e).splitlines():
                out.error(line)
            status = e.status
        except InvariantError as e:
            out.error("settlement invariant broken — nothing was written:")
            for p in e.problems:
                out.error(f"  {p}")
            status = Exit.INVARIANT
        except BaseException as e:  # noqa: BLE001 — a bug, a native panic, or the machine refusing a write
            if not failures.is_failure(e):
                raise
            status, msg = failures.status_for(e, [kwargs.get(k) for k in ("out", "ledger", "log_file")])
            failures.print_error(msg)
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
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Extract files: .csv/.txt (UTF-8, GBK/GB18030 or UTF-16), .xlsx/.xls (Excel, old Excel too), .parquet. Several files = one month from several hospitals.", exists=True, dir_okay=False)],
    rules: Annotated[str, typer.Option("--rules", "-r", help="Rule set: the id of a shipped one (anhui/dongzhi-2021; see `medclaim rules list`), a .yaml file, or a region directory of periods.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="One-off run: directory for ledger.parquet, rejects.csv, summary.txt/json (every person starts the year from zero).", show_default=False)] = None,
    ledger: Annotated[Optional[Path], typer.Option("--ledger", "-l", help="Monthly run: append to the persistent ledger in this directory (created if new), continuing each person's year from it; see docs/ledger.md.", show_default=False)] = None,
    wait: Annotated[float, typer.Option("--wait", help="With --ledger: if another run holds the ledger, wait up to this many seconds for it (default: exit at once with status 6).", min=0)] = 0.0,
    format: Annotated[Optional[list[Format]], typer.Option("--format", "-f", help="Also write the ledger (with --ledger: this run's entries) as CSV and/or Excel (repeatable).")] = None,
    encoding: cli_input.Encoding = None,
    header_row: cli_input.HeaderRow = None,
    columns: cli_input.Columns = None,
    sheet: cli_input.Sheet = None,
    assume_zero: cli_input.AssumeZero = None,
    spill_dir: cli_input.SpillDir = None,
    roster: Annotated[Optional[list[Path]], typer.Option("--roster", help="Enrollment roster (参保登记; .csv/.xlsx/.parquet, repeatable): identity by date, benefit start by the rule set's enrollment rules, end of coverage; a person not on it is rejected (not_enrolled). See docs/rules.md.", exists=True, dir_okay=False, show_default=False)] = None,
    headers: Annotated[Headers, typer.Option("--headers", help="Column headers of ledger.csv/.xlsx and rejects.csv: zh (Chinese, with class/tier/place in words), en, or code (national field codes, values as keys).")] = Headers.zh,
    output_encoding: Annotated[OutputEncoding, typer.Option("--output-encoding", help="CSV files for people: utf-8 (with BOM, opens in Excel) or gbk (written as GB18030, for older Chinese software).")] = OutputEncoding.utf8,
    lang: Annotated[str, typer.Option("--lang", metavar="LANG", help="Language of the summary, its warnings and the progress display: zh or en.")] = "zh",
    show_ids: Annotated[bool, typer.Option("--show-ids", help="Show names and ID numbers in full in rejects.csv (masked as 黄* and 3417**********0093 otherwise); the ledger always keeps them whole.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only (for cron); no progress display.")] = False,
    log_file: Annotated[Optional[Path], typer.Option("--log-file", help="Append a log of the run to this file.")] = None,
    engine: Annotated[Engine, typer.Option("--engine", help="local: this machine (polars). spark: the same engine per partition of persons on Spark (needs --ledger and the spark extra; under spark-submit, its cluster; else local mode); see docs/spark.md.")] = Engine.local,
    spark_partitions: Annotated[Optional[int], typer.Option("--partitions", help="With --engine spark: partitions of persons (default: one per 500,000 claims). Each is settled in one Python worker.", min=1, show_default=False)] = None,
    spark_memory: Annotated[Optional[str], typer.Option("--spark-memory", metavar="SIZE", envvar="MEDCLAIM_SPARK_MEMORY", help="With --engine spark in local mode: the heap of the Spark driver's JVM (spark.driver.memory), e.g. 4g or 512m (Spark's default: 1g; 10M claims need more). Set as the JVM starts; under spark-submit or in a session already running it is not applied (the cluster's settings stand: give spark-submit --driver-memory) and the run says so.", show_default=False)] = None,
) -> Exit:
    """Settle claims through basic insurance, 大病 and medical assistance and write the ledger.

    Give exactly one of --out (a one-off run from scratch) or --ledger (the next monthly run of a
    persistent ledger: claims already in it are not paid again, each person-year continues from it).

    Example: medclaim settle sample_data/dongzhi-2021-03-hospital-a.csv --rules anhui/dongzhi-2021 --out out/2021-03

    Example: medclaim settle extracts/2021-03/*.csv --rules anhui/dongzhi-2021 --ledger /srv/medclaim/ledger --quiet

    Files for people (ledger.csv, ledger.xlsx, rejects.csv) have Chinese headers, money in yuan
    and dates as dates; ledger.xlsx holds the summary, the ledger (split over sheets beyond
    1,048,575 rows) and the rejects.  The Parquet ledger keeps integer fen.

    Exit status 0 when every row settled, 1 when some rows were rejected (see rejects.csv),
    5 when every claim was already in the ledger, 6 when another run holds the ledger,
    10 when nothing settled because the rule set covers none of the claims' dates.
    """
    from .output import PeopleFiles
    from .pipeline import settle_files, settle_into_ledger
    from .progress import for_terminal
    from .store import LedgerError
    from .summary import render_plain, render_rich

    setup_logging(log_file)
    o = Out(quiet)
    if (out is None) == (ledger is None):
        o.error("give exactly one of --out DIR (one-off run) or --ledger DIR (monthly run against a persistent ledger)")
        return Exit.USAGE
    if lang not in ("zh", "en"):
        o.error(f"--lang {lang}: choose zh or en")
        return Exit.USAGE
    o.lang = lang
    formats = [f.value for f in format or []]
    if engine is Engine.spark and (out is not None or formats):
        o.error("--engine spark settles into a --ledger directory (its executors write the run's part files) and writes no "
                "CSV/Excel copy; give --ledger DIR without --out/--format, and read the parts as Parquet (docs/spark.md)")
        return Exit.USAGE
    if spark_memory is not None:
        try:
            from_env = getattr(ctx.get_parameter_source("spark_memory"), "name", "") == "ENVIRONMENT"
            spark_memory = spark_memory_option(spark_memory, engine is Engine.spark, from_env)
        except ValueError as e:
            o.error(str(e))
            return Exit.USAGE
    if engine is Engine.spark and spill_dir is not None:
        o.error("--spill-dir is for the local engine: a Spark run reads the extracts on the driver and stages them for Spark, "
                "which spreads them over its executors by person (docs/spark.md); leave out --spill-dir")
        return Exit.USAGE
    people = PeopleFiles(headers=headers.value, encoding=output_encoding.value, show_ids=show_ids, lang=lang)
    reading = cli_input.read_options(encoding, header_row, columns, sheet, assume_zero, spill_dir)
    log.info("medclaim settle %s --rules %s %s", " ".join(map(str, inputs)), rules, f"--out {out}" if out else f"--ledger {ledger}")
    from .roster import read_roster

    def enrolled():  # a --ledger run reads it under the ledger's lock: a locked ledger is refused first
        return read_roster(roster, encoding) if roster else None

    progress = for_terminal(quiet, lang)
    try:
        if out is not None:
            result = settle_files(inputs, rules, out, formats, None, people, progress, reading, roster=enrolled())
            where = out
        else:
            try:
                if engine is Engine.spark:
                    from .spark import SparkUnavailable, settle_into_ledger_spark

                    try:
                        result = settle_into_ledger_spark(inputs, rules, ledger, None, wait, spark_partitions, people=people,
                                                          read_options=reading, roster=enrolled, driver_memory=spark_memory,
                                                          warn=o.warn, progress=progress)
                    except SparkUnavailable as e:
                        o.error(str(e))
                        return Exit.USAGE
                else:
                    result = settle_into_ledger(inputs, rules, ledger, formats, None, wait, people, progress, reading, roster=enrolled)
            except LedgerError as e:
                progress.close()
                o.error(str(e))
                return e.status
            where = ledger / "runs" / f"run-{result.run:06d}" if result.run else None
    finally:
        progress.close()
    for w in result.warnings:
        o.warn(w)
    s = result.summary
    if result.run is not None or out is not None:
        o.result(render_rich(s, lang), render_plain(s, lang))
    for m in result.messages:
        o.info(m)
    for m in result.errors:
        o.error(m)
    log.info("exit %d: settled %s claims, rejected %s rows%s", int(result.status), s["claims_settled"], s["rows_rejected"],
             f" into {where}" if where else "")
    if s["rows_rejected"] and where is not None:
        o.warn(o.words("cli.rows_rejected", n=f"{s['rows_rejected']:,}", path=where / "rejects.csv"))
    return result.status


def spark_memory_option(value: str, spark: bool, from_env: bool) -> str | None:
    """The checked ``--spark-memory`` (or, ``from_env``, ``MEDCLAIM_SPARK_MEMORY``) value; ``ValueError`` names where it came from."""
    from .spark.session import MEMORY_ENV, driver_memory

    given = f"{MEMORY_ENV}={value}" if from_env else f"--spark-memory {value}"
    if not spark:
        if from_env:  # a site may set the variable for every run: the local engine has no JVM to give it to
            return None
        raise ValueError(f"{given}: the Spark driver's heap is for --engine spark; leave it out for the local engine")
    try:
        return driver_memory(value)
    except ValueError as e:
        raise ValueError(f"{given}: {e}") from None


@rules_app.command("list")
def rules_list() -> None:
    """List the rule sets shipped with medclaim (their ids for --rules) with their periods and unverified-parameter counts."""
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


# Commands defined in their own modules register themselves on `app` when imported, in the order
# --help lists them.
from . import cli_audit, cli_report, cli_compare, cli_contributions, cli_explain, cli_ledger  # noqa: E402,F401,I001

def run() -> None:
    """The ``medclaim`` program: the app, with a last guard for failures outside any command
    (option parsing, imports), and an exit that does not wait for native libraries' teardown."""
    import signal

    # output piped into `head` and closed early: end quietly, as Unix tools do (the ledger's
    # commit protocol makes being killed at any point safe)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Ctrl-C: status 130 and one line (the framework's own handling says "Aborted!" with status 1)
    signal.signal(signal.SIGINT, failures.on_sigint)
    sys.unraisablehook = failures.quiet_unraisable
    try:
        app()
        status = 0
    except (failures.Interrupted, KeyboardInterrupt):
        status = failures.interrupted()
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            failures.print_error(str(e.code))
    except BaseException as e:  # noqa: BLE001
        if not failures.is_failure(e):
            raise
        status, msg = failures.status_for(e)
        failures.print_error(msg)
    failures.exit_now(int(status))


if __name__ == "__main__":  # pragma: no cover
    run()
