"""`medclaim ledger …` and `medclaim reverse`: the persistent monthly ledger (registered on the main app)."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli import Out, app, guarded, log, setup_logging
from .status import Exit

ledger_app = typer.Typer(
    help="Inspect, check and repair a persistent ledger (the --ledger directory of `medclaim settle`).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(ledger_app, name="ledger")

LedgerDir = Annotated[Path, typer.Option("--ledger", "-l", help="The ledger directory (as given to `medclaim settle --ledger`).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]
Wait = Annotated[float, typer.Option("--wait", help="If another run holds the ledger, wait up to this many seconds (default: exit at once with status 6).", min=0)]
LogFile = Annotated[Optional[Path], typer.Option("--log-file", help="Append a log of the run to this file.")]


def ledger_errors(fn):
    """Ledger problems (locked, not a ledger, corrupt, refused reversal) → their message and status."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .store import LedgerError

        try:
            return fn(*args, **kwargs)
        except LedgerError as e:
            o = Out(kwargs.get("quiet", False))
            for line in str(e).splitlines():
                o.error(line)
            return e.status

    return wrapper


# ------------------------------------------------------------------ reverse


@app.command()
@guarded
@ledger_errors
def reverse(
    setl_ids: Annotated[Optional[list[str]], typer.Argument(metavar="SETL_ID...", help="Settlement ids (结算ID) of settled claims to reverse.", show_default=False)] = None,
    ledger: LedgerDir = ...,
    rules: Annotated[str, typer.Option("--rules", "-r", help="The rule set the claims were settled with (as given to `medclaim settle`).")] = ...,
    ids_file: Annotated[Optional[Path], typer.Option("--ids-file", help="Also reverse the ids in this file (one per line; blank lines and # comments ignored).", exists=True, dir_okay=False, show_default=False)] = None,
    reason: Annotated[Optional[str], typer.Option("--reason", help="Why (冲正/退费 reason), kept in each reversal entry and the run's manifest.", show_default=False)] = None,
    wait: Wait = 0.0,
    quiet: Quiet = False,
    log_file: LogFile = None,
) -> Exit:
    """Reverse (冲正/退费) settled claims: append a negative entry for each and restore the running totals.

    Each reversal is settled through the same engine after everything already in the ledger: its
    payments are the change of each annual formula, so the person's net totals equal the formula on
    the net claims.  Claims settled after the original are final and are not re-settled.  A corrected
    claim can then be settled anew under the same id with `medclaim settle --ledger`.

    Example: medclaim reverse 3417210000000123 --ledger /srv/medclaim/ledger --rules anhui/dongzhi-2021 --reason "hospital withdrew"

    Exit status 0 when every id was reversed, 1 when some were already reversed (refused), 5 when
    all were, 7 when an id is not in the ledger (nothing is reversed then), 6 when the ledger is locked.
    """
    from .pipeline import reverse_claims
    from .summary import render_plain, render_rich

    setup_logging(log_file)
    o = Out(quiet)
    ids = list(setl_ids or [])
    if ids_file is not None:
        for line in ids_file.read_text(encoding="utf-8-sig").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                ids.append(line)
    if not ids:
        o.error("give the settlement ids to reverse (arguments or --ids-file)")
        return Exit.USAGE
    log.info("medclaim reverse %d id(s) --ledger %s --rules %s", len(ids), ledger, rules)
    result = reverse_claims(ledger, ids, rules, reason, wait)
    for w in result.warnings:
        o.warn(w)
    if result.run is not None:
        o.result(render_rich(result.summary), render_plain(result.summary))
    for m in result.messages:
        o.info(m)
    log.info("exit %d", int(result.status))
    return result.status


# ------------------------------------------------------------------ ledger runs / verify / rebuild


def _yuan(fen) -> str:
    from .money import fen_to_yuan_display

    return fen_to_yuan_display(fen) if isinstance(fen, int) else ""


def _runs_table(manifests: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = ["run", "kind", "started (UTC)", "seconds", "inputs", "rules", "read", "settled", "rejected",
            "already", "late", "reversals", "funds (yuan)"]
    rows = []
    for m in manifests:
        if "error" in m:
            rows.append([str(m.get("run")), "?", m["error"]] + [""] * (len(head) - 3))
            continue
        c = m.get("counts", {})
        inputs = m.get("inputs") or []
        names = ", ".join(Path(i["path"]).name for i in inputs if "path" in i) or (
            f"{len(inputs[0].get('setl_ids', []))} id(s)" if inputs and "setl_ids" in inputs[0] else ""
        )
        rules = ", ".join(f"{p['id']} v{p['version']}" for p in m.get("rules", {}).get("periods", []))
        secs = ""
        try:
            import datetime as dt

            a = dt.datetime.fromisoformat(m["started_utc"].replace("Z", "+00:00"))
            b = dt.datetime.fromisoformat(m["ended_utc"].replace("Z", "+00:00"))
            secs = f"{(b - a).total_seconds():.1f}"
        except (KeyError, TypeError, ValueError, AttributeError):
            pass
        rows.append([
            str(m["run"]), m.get("kind", ""), (m.get("started_utc") or "")[:19].replace("T", " "), secs, names, rules,
            str(c.get("rows_read", "")), str(c.get("claims_settled", "")), str(c.get("rows_rejected", "")),
            str(c.get("already_settled", c.get("already_reversed", ""))), str(c.get("late_claims", "")),
            str(c.get("reversals", "")), _yuan(m.get("totals_fen", {}).get("fund_pay_sumamt")),
        ])
    return head, rows


@ledger_app.command("runs")
@guarded
@ledger_errors
def ledger_runs(
    ledger: LedgerDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifests as JSON (one array).")] = False,
    quiet: Quiet = False,
) -> Exit:
    """List the ledger's committed runs from their manifests (plain tab-separated text when piped).

    Each run's full manifest (input files with sha256, rule files with sha256, counts, totals, start
    and end time, versions) is in LEDGER/runs/run-NNNNNN/manifest.json.
    """
    from .store import list_runs, read_head

    manifests = list_runs(ledger)
    if quiet:
        return Exit.OK
    if as_json:
        print(json.dumps(manifests, ensure_ascii=False, indent=2, default=str))
        return Exit.OK
    head, rows = _runs_table(manifests)
    h = read_head(ledger)
    footer = f"{len(manifests)} run(s), {h.entries:,} entries; HEAD updated {h.updated_utc}"
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"ledger {ledger}", caption=footer)
        for i, col in enumerate(head):
            t.add_column(col, justify="right" if i in (0, 3, 6, 7, 8, 9, 10, 11, 12) else "left")
        for r in rows:
            t.add_row(*r)
        Console().print(t)
    else:
        print("\t".join(head))
        for r in rows:
            print("\t".join(r))
        print(f"# {footer}")
    return Exit.OK


@ledger_app.command("verify")
@guarded
@ledger_errors
def ledger_verify(ledger: LedgerDir, quiet: Quiet = False) -> Exit:
    """Check the ledger: checksums of its files, entry numbers, conservation, reversal links, and that
    the accumulator equals the running totals recomputed from the entries.

    Exit status 0 when all agree, 9 when anything disagrees (each problem is printed).
    """
    from .store import verify

    o = Out(quiet)
    problems = verify(ledger)
    if problems:
        for p in problems:
            o.error(p)
        o.error("the ledger does not verify; if only the accumulator disagrees, `medclaim ledger rebuild` recomputes it")
        return Exit.LEDGER_CORRUPT
    from .store import read_head

    h = read_head(ledger)
    if not quiet:
        print(f"ledger {ledger}: OK — {h.run} run(s), {h.entries:,} entries, accumulator {h.accumulator.file if h.accumulator else '(none)'} "
              f"matches the entries")
    return Exit.OK


@ledger_app.command("rebuild")
@guarded
@ledger_errors
def ledger_rebuild(ledger: LedgerDir, wait: Wait = 0.0, quiet: Quiet = False, log_file: LogFile = None) -> Exit:
    """Recompute the accumulator (per person-year running totals) from the ledger entries and commit it.

    The entries are never touched.  Use it when `medclaim ledger verify` reports that only the
    accumulator disagrees, or after restoring the parts from a backup.
    """
    from .store import rebuild

    setup_logging(log_file)
    o = Out(quiet)
    notes: list[str] = []
    head = rebuild(ledger, wait, notes)
    for n in notes:
        o.info(n)
    o.info(f"ledger {ledger}: accumulator rebuilt from {head.entries:,} entries → {head.accumulator.file} "
           f"({head.accumulator.rows:,} person-years)")
    return Exit.OK
