"""`medclaim settle` as a library call: read the extracts, settle, check, write, summarise.

Two ways to run:

* ``settle_files`` — from scratch into an ``--out`` directory (one-off, as an auditor recomputes a month);
* ``settle_into_ledger`` / ``append_claims`` — a monthly run against a persistent ``--ledger``
  directory (``medclaim.store``): continue each person-year from the ledger's running totals,
  settle only new settlement ids, commit atomically, write a manifest.  ``reverse_claims`` appends
  reversal entries (冲正) for settled claims.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .io import ReadOptions, read_claims
from .output import (
    DEFAULT as DEFAULT_PEOPLE,
    CsvFile,
    LedgerWriter,
    PeopleFiles,
    ledger_order,
    parquet_chunks,
    people_columns,
    workbook_note,
    write_people_workbook,
    write_rejects,
    write_rejects_csv,
    write_summary,
)
from .progress import NONE as NO_PROGRESS, Progress
from .roster import Roster
from .rules import RuleBook, load_rulebook
from .schema import RejectReason, empty_rejects
from .io.spill import SpilledClaims, SpillOptions
from .settle import Settlement, lean, ledger_schema, settle_buckets, settle_claims
from .status import Exit
from .store import Ledger, RunPlan, utc_now
from .audit.compare import Comparison, settle_note
from .summary import SummaryAccumulator, build_summary, render_plain
from .manifest import build_manifest, inputs_manifest, rules_manifest


@dataclass
class RunResult:
    status: Exit
    summary: dict[str, Any]
    settlement: Settlement
    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    run: int | None = None  # ledger runs: the run number committed (None: nothing committed)
    messages: list[str] = field(default_factory=list)  # ledger runs: what to tell the user (late claims, nothing new…)
    errors: list[str] = field(default_factory=list)  # why nothing could be settled (status 10), one line each


def unverified_warning(book, lang: str = "zh") -> list[str]:
    """One warning per rule set holding unverified (placeholder) parameters, in ``lang``."""
    from .labels import load_labels

    L = load_labels(lang)
    return [L("cli.unverified_rules", id=rs.id, n=n) for rs in book.periods if (n := len(rs.unverified()))]


def settle_files(
    inputs: list[Path],
    rules: str,
    out_dir: Path,
    formats: list[str] | None = None,
    encoding: str | None = None,
    people: PeopleFiles = DEFAULT_PEOPLE,
    progress: Progress = NO_PROGRESS,
    read_options: ReadOptions | None = None,
    roster: Roster | None = None,
) -> RunResult:
    """Settle one or more extracts from scratch into ``out_dir``.

    The ledger is written chunk by chunk as the engine settles it (whole person-years per chunk)
    and summarised on the way, so memory stays bounded by the input plus one chunk — and an input
    larger than ``MEDCLAIM_SPILL_ROWS`` claims is spilled to person buckets on disk and settled
    bucket by bucket (``medclaim.io.spill``), so memory stays bounded whatever its size.  Files
    appear only when everything was settled and checked.
    """
    formats = formats or []
    book = load_rulebook(rules)
    progress.stage("reading")
    read = read_claims(inputs, encoding=encoding, options=spilling(read_options))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        writer = LedgerWriter(out_dir, formats, ledger_schema(book, read.claims_schema), people)
        totals = SummaryAccumulator()
        reported = Comparison()  # the hospitals' own figures, when the extracts carry them
        progress.stage("settling", read.claim_count)

        def sink(chunk: pl.DataFrame) -> None:
            chunk = lean(chunk)  # the engine's working figures are recomputed on demand, not stored
            writer.write(chunk)
            totals.add(chunk)
            reported.add(chunk)
            progress.advance(chunk.height)

        try:
            claims = read.take_claims()
            if isinstance(claims, SpilledClaims):  # a one-off run needs no closing balances
                settlement = settle_buckets(claims, book, sink=sink, roster=roster, closing=False, after_bucket=totals.seal)
            else:
                settlement = settle_claims(claims, book, sink=sink, roster=roster)
            del claims
            written = writer.commit()
        except BaseException:
            writer.abort()
            raise
    finally:
        read.cleanup()
    rejects = settlement.rejects = pl.concat([read.rejects, settlement.rejects])
    summary = totals.result(
        rejects,
        read.rows_read,
        rules=[rs.id for rs in book.periods],
        unverified=sum(len(rs.unverified()) for rs in book.periods),
        extra={"inputs": [str(p) for p in inputs], **read.summary_fields()},
    )
    if "xlsx" in formats:
        summary["workbook_split"] = workbook_note(writer.rows, people)
        progress.stage("writing", writer.rows)
        written += writer.write_workbook(summary, rejects, progress.advance)
    written.append(write_rejects(rejects, out_dir, people))
    note = reported_note(summary, reported, people.lang)
    written += write_summary(summary, render_plain(summary, people.lang) + (note + "\n" if note else ""), out_dir)
    status, errors = no_rule_status(summary, rejects, book, people.lang)
    if status is None:
        status = Exit.REJECTS if rejects.height else Exit.OK
    return RunResult(status=status, summary=summary, settlement=settlement, written=written, warnings=unverified_warning(book, people.lang),
                     errors=errors, messages=[note] if note else [])


def spilling(options: ReadOptions | None) -> ReadOptions:
    """Read options for a settle run: it spills an input larger than memory to disk unless told
    where already (``--spill-dir``); ``$MEDCLAIM_SPILL_ROWS`` says how large is too large."""
    options = options or ReadOptions()
    return options if options.spill is not None else dataclasses.replace(options, spill=SpillOptions())


def reported_note(summary: dict[str, Any], reported: Comparison, lang: str) -> str | None:
    """Settling never ignores the hospitals' reported amounts: how many claims differ, by how much
    (``summary["reported"]``, and one line pointing to ``medclaim audit``)."""
    note = settle_note(reported, lang)
    if note:
        summary["reported"] = reported.to_dict()
    return note


def no_rule_status(summary: dict[str, Any], rejects: pl.DataFrame, book: RuleBook, lang: str) -> tuple[Exit | None, list[str]]:
    """When nothing settled because the rule set covers none of the claims' dates: status 10 and
    one line naming the years found and the shipped rule sets that would cover them."""
    if not covers_none(summary["claims_settled"], summary.get("already_settled") or 0, rejects):
        return None, []
    return Exit.NO_RULE_PERIOD, [no_rule_line(rejects, book, lang)]


def covers_none(claims: int, already: int, rejects: pl.DataFrame) -> bool:
    """Nothing was settled (or audited: ``claims``) because no period of the rule set covers the
    claims' dates: no claim went through, none was in the ledger already, and rows were rejected
    as ``no_rule_in_force`` — status 10 for ``settle`` and ``audit`` alike."""
    return not claims and not already and bool((rejects["reason_code"] == RejectReason.NO_RULE_IN_FORCE.value).any())


def no_rule_line(rejects: pl.DataFrame, book: RuleBook, lang: str, words: str = "summary") -> str:
    """The one line of status 10: the years the claims end in, the periods of the rule set given,
    the shipped rule sets that would cover them (labels ``<words>.no_rule_period``)."""
    from .labels import load_labels
    from .rules import list_rulesets, load_ruleset_file

    code = RejectReason.NO_RULE_IN_FORCE.value
    dates = rejects.filter(pl.col("reason_code") == code)["raw"].str.slice(0, 10).str.to_date(strict=False).drop_nulls().unique()
    years = sorted(set(dates.dt.year().to_list()))
    covering = []
    for rid, path in list_rulesets():
        try:
            m = load_ruleset_file(path).ruleset
        except Exception:  # a broken shipped file is not a suggestion
            continue
        if dates.is_between(m.effective_from, m.effective_to).any():
            covering.append(f"--rules {rid} ({m.effective_from}..{m.effective_to})")
    L = load_labels(lang)
    periods = ", ".join(f"{rs.ruleset.effective_from}..{rs.ruleset.effective_to}" for rs in book.periods)
    kw = {"years": ", ".join(map(str, years)) or "?", "rules": book.name, "periods": periods}
    return (L(f"{words}.no_rule_period", covering="; ".join(covering), **kw) if covering
            else L(f"{words}.no_rule_period_none", **kw))


# ------------------------------------------------------------------ ledger runs


def _csv_copy(parts: list[Path], path: Path, people: PeopleFiles) -> None:
    """The run's entries as CSV for people, streamed from its part: never all in memory."""
    f = CsvFile(path, people_columns(pl.read_parquet_schema(parts[0])), people)
    try:
        for part in parts:
            for chunk in parquet_chunks(part):
                f.write(ledger_order(chunk))
    finally:
        f.close()


def _run_files(root: Path, plan: RunPlan, summary: dict[str, Any], manifest: dict[str, Any], formats: list[str],
               people: PeopleFiles = DEFAULT_PEOPLE) -> dict[str, Any]:
    import json

    if plan.rows and "xlsx" in formats:
        summary["workbook_split"] = workbook_note(plan.rows, people)
    text = render_plain(summary, people.lang)
    files = {
        "rejects.csv": lambda p: write_rejects_csv(plan.rejects, p, people),
        "summary.json": lambda p: p.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8"),
        "summary.txt": lambda p: p.write_text(text, encoding="utf-8"),
        "manifest.json": manifest,  # completed and written by the commit
    }
    # copies for people, read back in batches from the run's part once the commit has put it in place
    parts = [root / part.file for part in plan.parts]
    if plan.rows and "csv" in formats:
        files["ledger.csv"] = lambda p: _csv_copy(parts, p, people)
    if plan.rows and "xlsx" in formats:
        files["ledger.xlsx"] = lambda p: write_people_workbook(
            p, (ledger_order(c) for part in parts for c in parquet_chunks(part)), plan.rows, pl.read_parquet_schema(parts[0]),
            summary,
            plan.rejects, people)
    return files


def _commit(lg: Ledger, plan: RunPlan, summary: dict[str, Any], manifest: dict[str, Any], formats: list[str],
            people: PeopleFiles = DEFAULT_PEOPLE) -> list[Path]:
    import json

    files = _run_files(lg.root, plan, summary, manifest, formats, people)

    def write_manifest(p: Path) -> None:
        manifest["ended_utc"] = utc_now()
        manifest["ledger_after"] = {"run": plan.run, "entries": lg.head.entries + plan.rows}
        p.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")

    files["manifest.json"] = write_manifest
    lg.commit(plan, files)
    run_dir = lg.root / "runs" / f"run-{plan.run:06d}"
    written = [run_dir / name for name in files]
    written[:0] = [lg.root / part.file for part in plan.parts]
    return written


def _late_message(plan: RunPlan) -> list[str]:
    n = plan.counts.get("late_claims", 0)
    if not n:
        return []
    return [
        f"{n} late claim(s): they ended before a claim of the same person-year settled in an earlier run, "
        f"so they were settled after the year's settled claims (ledger column late=true), e.g. {', '.join(plan.late_examples)}"
    ]


def assumed_zero(read_info: dict[str, Any] | None) -> list[str]:
    """Amount columns some input file lacked and --assume-zero took as zero (for the manifest)."""
    files = (read_info or {}).get("reading", {}).get("files", [])
    return sorted({c for f in files for c in f.get("assumed_zero", [])})


def spill_note(read_info: dict[str, Any] | None) -> dict[str, Any]:
    """``{"spilled": …}`` when the input was spilled to disk (for the manifest), else nothing."""
    spilled = (read_info or {}).get("reading", {}).get("spilled")
    return {"spilled": spilled} if spilled else {}


def append_claims(
    ledger_dir: Path | str,
    claims: pl.DataFrame,
    book: RuleBook,
    *,
    rules: str | Path | None = None,
    read_rejects: pl.DataFrame | None = None,
    rows_read: int | None = None,
    inputs: list[dict[str, Any]] | None = None,
    formats: list[str] | None = None,
    wait: float = 0.0,
    lock: Ledger | None = None,
    started: str | None = None,
    people: PeopleFiles = DEFAULT_PEOPLE,
    read_info: dict[str, Any] | None = None,
    roster: Roster | None = None,
) -> RunResult:
    """Settle canonical ``claims`` into the ledger at ``ledger_dir`` as one run (library entry point).

    ``lock``: an already opened ``Ledger`` (the caller holds its lock); otherwise it is opened here.
    """
    started = started or utc_now()
    if lock is None:
        with Ledger.open(ledger_dir, wait, "medclaim settle") as lg:
            return _append(lg, claims, book, rules, read_rejects, rows_read, inputs, formats, started, people, read_info, roster)
    return _append(lock, claims, book, rules, read_rejects, rows_read, inputs, formats, started, people, read_info, roster)


def _append(lg: Ledger, claims: pl.DataFrame, book: RuleBook, rules, read_rejects, rows_read, inputs, formats, started,
            people: PeopleFiles = DEFAULT_PEOPLE, read_info: dict[str, Any] | None = None,
            roster: Roster | None = None) -> RunResult:
    read_rejects = read_rejects if read_rejects is not None else empty_rejects()
    rows_read = rows_read if rows_read is not None else claims.height + read_rejects.height
    head_before = {"run": lg.head.run, "entries": lg.head.entries}
    totals = SummaryAccumulator()
    reported = Comparison()  # the hospitals' own figures, when the extracts carry them

    def on_chunk(chunk: pl.DataFrame) -> None:
        totals.add(chunk)
        reported.add(chunk)

    plan = lg.plan_settle(claims, book, on_chunk=on_chunk, roster=roster)
    try:
        return finish_settle_run(lg, plan, totals, reported, book, rules, read_rejects, rows_read, inputs, formats, started,
                                 head_before, people=people, read_info=read_info)
    except BaseException:  # (Ctrl-C between the settling and the commit): no half-run's part left behind
        plan.discard()  # only temporary files: a part already renamed into place is the commit protocol's
        raise


def finish_settle_run(lg: Ledger, plan: RunPlan, totals: SummaryAccumulator, reported: Comparison | None, book: RuleBook,
                      rules, read_rejects: pl.DataFrame, rows_read: int, inputs, formats, started: str,
                      head_before: dict[str, Any], manifest_extra: dict[str, Any] | None = None,
                      people: PeopleFiles = DEFAULT_PEOPLE, read_info: dict[str, Any] | None = None) -> RunResult:
    """Summarise a planned settle run and commit it (or say there is nothing new), whichever engine
    wrote its parts: ``totals`` holds the run's entries, ``reported`` the hospitals' own figures
    compared (None: not compared), ``read_info`` how the input was read."""
    rejects = pl.concat([read_rejects, plan.rejects])
    plan.rejects = rejects
    plan.settlement.rejects = rejects
    c = plan.counts
    summary = totals.result(
        rejects,
        rows_read,
        rules=[rs.id for rs in book.periods],
        unverified=sum(len(rs.unverified()) for rs in book.periods),
        extra={
            "inputs": [i["path"] for i in inputs or []],
            "ledger": str(lg.root),
            "run": plan.run,
            "already_settled": c["already_settled"],
            "late_claims": c["late_claims"],
            "resettled": c["resettled"],
            **(read_info or {}),  # how the input was read: header rows, footers, sheets, columns
        },
    )
    messages = _late_message(plan)
    note = reported_note(summary, reported, people.lang) if reported is not None else None
    if note:
        messages = [*messages, note]
    warnings = lg.notes + unverified_warning(book, people.lang)
    if plan.rows == 0 and (c["already_settled"] or rows_read == 0):
        others = rejects.height - c["already_settled"]
        msg = (f"nothing new: {c['already_settled']} claim(s) already settled in ledger {lg.root}; nothing written"
               if rows_read else f"nothing new: the input holds no claims; ledger {lg.root} unchanged")
        if others:
            msg += f" ({others} other row(s) rejected again: " + ", ".join(
                f"{k} {v}" for k, v in summary["rejects_by_reason"].items() if k != RejectReason.ALREADY_SETTLED.value
            ) + ")"
        summary["run"] = None
        return RunResult(status=Exit.NOTHING_NEW, summary=summary, settlement=plan.settlement, warnings=warnings,
                         run=None, messages=[msg])
    manifest = build_manifest(plan, summary, started, rules_manifest(rules, book), inputs or [], head_before,
                              extra={"assume_zero": assumed_zero(read_info), **spill_note(read_info), **(manifest_extra or {})})
    written = _commit(lg, plan, summary, manifest, formats or [], people)
    status, errors = no_rule_status(summary, rejects, book, people.lang)
    if status is None:
        status = Exit.REJECTS if rejects.height else Exit.OK
    messages.insert(0, f"run {plan.run} committed to ledger {lg.root}: {plan.rows} entries")
    return RunResult(status=status, summary=summary, settlement=plan.settlement, written=written, warnings=warnings,
                     run=plan.run, messages=messages, errors=errors)


def settle_into_ledger(
    inputs: list[Path],
    rules: str,
    ledger_dir: Path,
    formats: list[str] | None = None,
    encoding: str | None = None,
    wait: float = 0.0,
    people: PeopleFiles = DEFAULT_PEOPLE,
    progress: Progress = NO_PROGRESS,
    read_options: ReadOptions | None = None,
    roster: Roster | Callable[[], Roster | None] | None = None,
) -> RunResult:
    """Settle extracts as the next run of the persistent ledger in ``ledger_dir`` (``roster``: the
    enrollment roster, or how to read it once the ledger is locked)."""
    started = utc_now()
    book = load_rulebook(rules)  # bad rules fail before the lock is taken
    # the ledger's check (a hash of every part) runs while the input is read, under the lock
    with Ledger.open(ledger_dir, wait, "medclaim settle", check_meanwhile=True) as lg:
        roster = roster() if callable(roster) else roster
        progress.stage("reading")
        read = read_claims(inputs, encoding=encoding, options=spilling(read_options))
        try:
            meta = inputs_manifest(inputs, read.files)
            progress.stage("settling")
            # the reader hands its claims over: the run frees them as soon as they are ordered
            return _append(lg, read, book, rules, read.rejects, read.rows_read, meta, formats, started, people,
                           read.summary_fields(), roster)
        finally:
            read.cleanup()


def reverse_claims(
    ledger_dir: Path,
    setl_ids: list[str],
    rules: str | RuleBook,
    reason: str | None = None,
    wait: float = 0.0,
) -> RunResult:
    """Append reversal entries (冲正) for settled claims as one run of the ledger."""
    started = utc_now()
    book = rules if isinstance(rules, RuleBook) else load_rulebook(rules)
    with Ledger.open(ledger_dir, wait, "medclaim reverse") as lg:
        if lg.head.run == 0:
            from .store import NotALedger

            raise NotALedger(f"{ledger_dir}: no ledger here (nothing has been settled into it)")
        head_before = {"run": lg.head.run, "entries": lg.head.entries}
        plan = lg.plan_reverse(setl_ids, book, reason)
        ids = list(dict.fromkeys(setl_ids))
        summary = build_summary(
            plan.read_entries() if plan.rows else pl.DataFrame(),
            plan.rejects,
            len(ids),
            rules=[rs.id for rs in book.periods],
            unverified=sum(len(rs.unverified()) for rs in book.periods),
            extra={"ledger": str(lg.root), "run": plan.run, "reversals": plan.counts["reversals"],
                   "already_reversed": plan.counts["already_reversed"], "reason": reason},
        )
        if plan.rows == 0:
            summary["run"] = None
            return RunResult(status=Exit.NOTHING_NEW, summary=summary, settlement=plan.settlement, run=None,
                             messages=[f"nothing new: {plan.rejects.height} claim(s) already reversed; nothing written"])
        rules_spec = None if isinstance(rules, RuleBook) else rules
        manifest = build_manifest(plan, summary, started, rules_manifest(rules_spec, book),
                                  [{"setl_ids": ids, "reason": reason}], head_before)
        written = _commit(lg, plan, summary, manifest, [])
        msgs = [f"run {plan.run} committed to ledger {lg.root}: {plan.rows} reversal(s)"]
        if plan.rejects.height:
            msgs.append(f"{plan.rejects.height} id(s) refused: already reversed (see {written[-1].parent / 'rejects.csv'})")
        return RunResult(status=Exit.REJECTS if plan.rejects.height else Exit.OK, summary=summary,
                         settlement=plan.settlement, written=written, warnings=lg.notes + unverified_warning(book), run=plan.run,
                         messages=msgs)
