"""`medclaim audit` as a library call: read, settle as `settle` would, compare, review, write.

Nothing is written to a ledger: with ``ledger_dir`` the claims are settled exactly as the next
``medclaim settle --ledger`` run would settle them (each person-year continuing from the ledger's
running totals, settlement ids already in it refused as ``already_settled``) by the same
planning code, told to write no part — not even a temporary file: the ledger directory may be
read-only to the reviewer, and a settle run working on it meanwhile finds nothing of the audit's.
Like ``explain`` and ``report``, the audit takes no lock: it reads ``HEAD.json`` once and only the
files that HEAD names (committed files are never rewritten), so it sees one committed state even
while a settle run commits the next.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..io import InputFileError, read_claims
from .. import xlsx
from ..xlsx import display_width
from ..columns import Unit
from ..money import fen_to_yuan_display
from ..output import DEFAULT, PeopleFiles, key_words, write_atomic, write_people_csv, write_rejects
from ..roster import Roster
from ..rules import RuleBook, load_rulebook
from ..schema import empty_rejects
from ..pipeline import covers_none
from ..settle import Handover, settle_claims, take
from ..status import Exit
from ..engine import KEYS
from .burden import burden_lists, with_prior
from .chunks import ChunkAudit
from .compare import FIELDS, FUNDS, coverage_by_file, present_fields, reported
from ..rules.audit import DEFAULT_REVIEW, ReviewRules
from .review import CODES

CAUSES = ["not_covered", "inconsistent", "deductible", "ratio", "tier", "annual_cap", "critical_threshold",
          "critical_segment", "assistance_ratio", "assistance_limit", "identity", "rounding", "unexplained"]
#: Columns of a differing claim carried into differences.csv.
CLAIM_CONTEXT = ["psn_no", "benefit_class", "tier", "identity", "begndate", "enddate", "ruleset_id", "source_file", "source_row"]


@dataclass
class AuditResult:
    status: Exit
    summary: dict[str, Any]
    differences: pl.DataFrame
    flags: pl.DataFrame
    burden: pl.DataFrame
    rejects: pl.DataFrame
    written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # why the status is what it is, when it is not the findings'


class NoReportedAmounts(InputFileError):
    """No input carries any reported amount: there is nothing to audit."""


def review_parameters(book: RuleBook) -> tuple[ReviewRules, str]:
    """The review rules of the latest period that has them (else the placeholder defaults)."""
    for rs in reversed(book.periods):
        if rs.audit and rs.audit.review:
            return rs.audit.review, f"{rs.id}: audit.review — {rs.cite(rs.audit.review)}"
    return DEFAULT_REVIEW, "no audit.review block in the rule set: the project's placeholder defaults (docs/audit.md)"


def settle_audited(claims: Handover, book: RuleBook, ledger_dir: Path | None, audit: Callable[[pl.DataFrame | None], ChunkAudit],
                   roster: Roster | None = None) -> tuple[ChunkAudit, pl.DataFrame, pl.DataFrame | None, int]:
    """Settle as ``settle`` would (with the enrollment roster, as ``settle --roster``), each chunk
    audited as the engine hands it over (``audit(openings)`` makes the sink): (the audit, rejects,
    prior scope burden, already settled)."""
    if ledger_dir is None:
        chunks = audit(None)
        s = settle_claims(claims, book, roster=roster, sink=chunks)
        return chunks, s.rejects, None, 0
    from ..store import NotALedger, check_ledger_dir, check_parts, plan_settle, read_accumulator, read_head, scan_parts

    root = Path(ledger_dir)
    check_ledger_dir(root)
    head = read_head(root)  # one committed state: everything below reads only what it names
    if head is None or head.run == 0:
        raise NotALedger(f"{root}: no ledger here (nothing has been settled into it) — audit without --ledger, or give the ledger directory")
    check_parts(root, head)  # a part missing or truncated is named (status 9), as explain and report name it
    acc = read_accumulator(root, head)
    chunks = audit(acc)
    plan = plan_settle(root, head, claims, book, on_chunk=chunks, roster=roster, acc=acc, write_part=False)
    prior = None
    people = chunks.year_totals().select(KEYS)
    rows = scan_parts(root, head).join(people.lazy(), on=KEYS, how="semi").collect() if head.parts and people.height else pl.DataFrame()
    if rows.height:  # else none of the audited person-years is in the ledger: no burden before them
        if "scope" not in rows.columns:  # a stored ledger keeps no working figures
            from ..recompute import RecomputeError, recompute as settle_again
            from ..settle import with_scope

            try:
                rows = settle_again(rows, {rs.id: rs for rs in book.periods}).rows
            except RecomputeError:  # settled with rule sets not given here: scope as stored, pre at most
                rows = with_scope(rows)
        prior = (
            rows.lazy()
            .group_by("psn_no", "year")
            .agg((pl.col("scope") + pl.col("pre") - pl.col("fund_pay_sumamt")).sum().alias("scope_burden"))
            .collect()
        )
    return chunks, plan.rejects, prior, plan.counts["already_settled"]


#: Called with the flags, the burden lists and the rejects while the last causes are replayed
#: (``audit_files`` writes their files meanwhile).
Meanwhile = Callable[[pl.DataFrame, pl.DataFrame, pl.DataFrame], None]


def audit_claims(claims: pl.DataFrame | Handover, book: RuleBook, *, ledger_dir: Path | None = None, tolerance_fen: int = 0,
                 read_rejects: pl.DataFrame | None = None, rows_read: int | None = None, roster: Roster | None = None,
                 meanwhile: Meanwhile | None = None) -> AuditResult:
    """Audit canonical claims (the library entry point: no files written).

    Each settled chunk is compared, its differences attributed to their causes and its year
    totals taken as the engine hands it over (``chunks.ChunkAudit``, in the settle pipeline's
    sink thread); the review rules and the burden lists run once all chunks are in.  ``claims``
    may be handed over (``settle.Handover``, a ``ReadResult``): then the run frees them as soon
    as the engine has ordered them, as settle does."""
    claims = take(claims)
    read_rejects = read_rejects if read_rejects is not None else empty_rejects()
    rows_read = rows_read if rows_read is not None else claims.height + read_rejects.height
    fields = present_fields(claims)
    if claims.height and not fields:
        headers = "; ".join(f"{f} ({zh})" for f, zh in FIELDS.items())
        raise NoReportedAmounts(
            ", ".join(sorted(set(claims["source_file"].to_list()))) or "input",
            f"no claim carries a reported amount, so there is nothing to audit — the file needs at least one of the columns {headers}. "
            "To settle claims without comparing, use medclaim settle",
        )
    keep = CLAIM_CONTEXT + ["hospital_code", "hospital_name"]
    review, review_source = review_parameters(book)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="medclaim-audit") as pool:
        # which reported columns each file carries: counted beside the settlement
        coverage = pool.submit(coverage_by_file, claims)
        handed = Handover(claims)
        del claims  # the settlement takes them over
        chunks, rejects, prior, already = settle_audited(
            handed, book, ledger_dir, lambda openings: ChunkAudit(book, openings, tolerance_fen, keep, review), roster)
        rejects = pl.concat([read_rejects, rejects])
        presence = coverage.result()
        # the last replays (causes) and the review rules read nothing of each other: side by
        # side, in two threads (polars releases the GIL)
        causes = pool.submit(chunks.differences)
        flags = chunks.review.flags()
        burden = burden_lists(with_prior(chunks.year_totals(), prior), list(book.periods))
        if meanwhile is not None:
            meanwhile(flags, burden, rejects)
        diffs = causes.result()
    summary = build_summary(chunks.claims, diffs, flags, burden, rejects, chunks.comparison, presence, fields, book,
                            rows_read=rows_read, already=already, review=review, review_source=review_source,
                            ledger_dir=ledger_dir)
    found = diffs.height > 0 or flags.height > 0
    if covers_none(chunks.claims, already, rejects):  # nothing audited: as settle, status 10
        status = Exit.NO_RULE_PERIOD
    elif not chunks.claims and already:  # every claim is in the ledger already: as settle, status 5
        status = Exit.NOTHING_NEW
    else:
        status = Exit.AUDIT_FINDINGS if found else (Exit.REJECTS if rejects.height else Exit.OK)
    return AuditResult(status=status, summary=summary, differences=diffs, flags=flags, burden=burden, rejects=rejects)


def audit_files(inputs: list[Path], rules: str, out_dir: Path, *, ledger_dir: Path | None = None, formats: list[str] | None = None,
                encoding: str | None = None, tolerance_fen: int = 0, people: PeopleFiles = DEFAULT,
                roster: Roster | None = None) -> AuditResult:
    """``medclaim audit``: read the extracts, audit them (with the enrollment roster when given),
    write the files into ``out_dir``."""
    book = load_rulebook(rules)
    read = read_claims(inputs, encoding=encoding)
    out_dir.mkdir(parents=True, exist_ok=True)
    early: dict[str, Path] = {}

    def meanwhile(flags: pl.DataFrame, burden: pl.DataFrame, rejects: pl.DataFrame) -> None:
        early.update(write_lists({"flags": (flags, FLAG_COLUMNS), "high_burden": (burden, BURDEN_COLUMNS)}, out_dir, people))
        early["rejects"] = write_rejects(rejects, out_dir, people)

    result = audit_claims(read, book, ledger_dir=ledger_dir, tolerance_fen=tolerance_fen,
                          read_rejects=read.rejects, rows_read=read.rows_read, roster=roster, meanwhile=meanwhile)
    result.summary["inputs"] = [str(p) for p in inputs]
    if roster is not None:
        result.summary["roster"] = list(roster.files)
    result.written = write_outputs(result, out_dir, formats or [], people, written=early)
    from ..pipeline import no_rule_line, unverified_warning

    result.warnings += unverified_warning(book, people.lang)
    if result.status == Exit.NO_RULE_PERIOD:
        result.errors.append(no_rule_line(result.rejects, book, people.lang, words="audit"))
    elif result.status == Exit.NOTHING_NEW:
        from ..labels import load_labels

        result.errors.append(load_labels(people.lang)("audit.nothing_new", n=f"{result.summary['already_settled']:,}", ledger=ledger_dir))
    return result


# ------------------------------------------------------------------ files for people

T, F, D, C = Unit.TEXT, Unit.FEN, Unit.DATE, Unit.COUNT
#: The columns of each file, in order, with their units (yuan, dates … for people).
DIFF_COLUMNS: dict[str, Unit] = {
    "setl_id": T, "hospital_code": T, "hospital_name": T, "psn_no": T, "benefit_class": T, "tier": T, "identity": T,
    "begndate": D, "enddate": D, "field": T, "field_zh": T, "reported": F, "computed": F, "difference": F,
    "cause": T, "rule_key": T, "message": T, "ruleset_id": T, "source_file": T, "source_row": C,
}
FLAG_COLUMNS: dict[str, Unit] = {
    "code": T, "setl_id": T, "psn_no": T, "hospital_code": T, "hospital_name": T, "benefit_class": T, "begndate": D,
    "enddate": D, "medfee_sumamt": F, "linked_setl_ids": T, "parameters": T, "rule_key": T, "message": T,
}
BURDEN_COLUMNS: dict[str, Unit] = {
    "list": T, "psn_no": T, "year": Unit.YEAR, "identity": T, "claims": C, "medfee_sumamt": F, "hifp_pay": F,
    "hifmi_pay": F, "maf_pay": F, "psn_part_amt": F, "burden": F, "threshold": F, "basis": T, "rule_key": T, "source": T,
}


def differences_for_people(diffs: pl.DataFrame) -> pl.DataFrame:
    """Sorted by hospital, claim and field, with the field's Chinese name."""
    return diffs.sort("hospital_code", "setl_id", "field_order").with_columns(
        field_zh=pl.col("field").replace_strict(FIELDS, return_dtype=pl.String),
    )


def write_lists(tables: dict[str, tuple[pl.DataFrame, dict[str, Unit]]], out_dir: Path, opts: PeopleFiles) -> dict[str, Path]:
    """Lists as CSV files for people (headers, yuan, encoding as ``settle``'s files)."""
    return {
        name: write_atomic(out_dir / f"{name}.csv", lambda p, t=t, cols=cols: write_people_csv(t, p, cols, opts))
        for name, (t, cols) in tables.items()
    }


def write_outputs(result: AuditResult, out_dir: Path, formats: list[str], opts: PeopleFiles = DEFAULT,
                  written: dict[str, Path] | None = None) -> list[Path]:
    """The three lists as CSV for people, rejects, the summary; with ``xlsx`` one workbook holding
    the three lists.  ``written``: the files already written, by name (``flags``, ``rejects`` …)."""
    tables = {
        "differences": (differences_for_people(result.differences), DIFF_COLUMNS),
        "flags": (result.flags, FLAG_COLUMNS),
        "high_burden": (result.burden, BURDEN_COLUMNS),
    }
    done = dict(written or {})
    done.update(write_lists({k: v for k, v in tables.items() if k not in done}, out_dir, opts))
    if "rejects" not in done:
        done["rejects"] = write_rejects(result.rejects, out_dir, opts)
    written = [done[name] for name in (*tables, "rejects")]
    if "xlsx" in formats:
        def workbook(p: Path) -> None:
            sheets = [
                xlsx.Table(opts.sheet(name), cols, [key_words(t, opts)], headers={c: opts.header(c) for c in cols}, flags=opts.flags())
                for name, (t, cols) in tables.items()
            ]
            xlsx.write_workbook(p, sheets)  # a list longer than a sheet holds continues on the next sheet

        written.append(write_atomic(out_dir / "differences.xlsx", workbook))
    text = render_plain(result.summary, opts.lang)
    written.append(write_atomic(out_dir / "summary.json", lambda p: p.write_text(
        json.dumps(result.summary, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")))
    written.append(write_atomic(out_dir / "summary.txt", lambda p: p.write_text(text, encoding="utf-8")))
    return written


# ------------------------------------------------------------------ the summary


def _per(frame: pl.DataFrame, by: str) -> dict[str, dict[str, int]]:
    """Over- and under-payment per fund, in fen, per value of ``by``."""
    funds = frame.filter(pl.col("field").is_in(FUNDS))
    if funds.height == 0:
        return {}
    rows = funds.group_by(by, "field").agg(
        over=pl.col("difference").filter(pl.col("difference") > 0).sum(),
        under=(-pl.col("difference")).filter(pl.col("difference") < 0).sum(),
    ).sort(by, "field")
    out: dict[str, dict[str, int]] = {}
    for r in rows.iter_rows(named=True):  # one row per (hospital, fund): a handful, not per claim
        out.setdefault(str(r[by]), {})[f"{r['field']}.over"] = int(r["over"] or 0)
        out[str(r[by])][f"{r['field']}.under"] = int(r["under"] or 0)
    return out


def build_summary(claims: int, diffs, flags, burden, rejects, comparison, presence, fields, book, *, rows_read, already,
                  review: ReviewRules, review_source: str, ledger_dir) -> dict[str, Any]:
    absent_by_file = {
        r["source_file"]: [f for f in FIELDS if not r.get(f)] for r in presence.iter_rows(named=True)
    }  # one row per input file
    by_cause = diffs.group_by("cause").len().sort("cause") if diffs.height else None
    return {
        "schema": "medclaim.audit/1",
        "rules": [rs.id for rs in book.periods],
        "unverified_parameters": sum(len(rs.unverified()) for rs in book.periods),
        "ledger": str(ledger_dir) if ledger_dir else None,
        "rows_read": rows_read,
        "claims_audited": claims,
        "rows_rejected": rejects.height,
        "already_settled": already,
        "rejects_by_reason": {r["reason_code"]: r["len"] for r in rejects.group_by("reason_code").len().sort("reason_code").iter_rows(named=True)}
        if rejects.height else {},
        "tolerance_fen": comparison.tolerance_fen,
        "fields_compared": fields,
        "fields_not_compared": [f for f in FIELDS if f not in fields],
        "fields_absent_by_file": {k: v for k, v in absent_by_file.items() if v},
        "claims_compared": comparison.claims,
        "claims_differing": diffs["setl_id"].n_unique() if diffs.height else 0,
        "differences": diffs.height,
        "differences_by_field": {f: v["differing"] for f, v in comparison.by_field.items()},
        "differences_by_cause": {r["cause"]: r["len"] for r in by_cause.iter_rows(named=True)} if by_cause is not None else {},
        "paid_fen": {f: {"over": comparison.by_field.get(f, {}).get("over", 0), "under": comparison.by_field.get(f, {}).get("under", 0)}
                     for f in FUNDS if f in fields},
        "paid_by_hospital_fen": _per(diffs, "hospital_code"),
        "flags": flags.height,
        "flags_by_code": {c: int((flags["code"] == c).sum()) for c in CODES},
        "review_parameters": review.model_dump(exclude={"source", "ref", "status", "note"}),
        "review_parameters_source": review_source,
        "high_burden": int((burden["list"] == "high_burden").sum()),
        "tilt_assistance": int((burden["list"] == "tilt_assistance").sum()),
    }


def pad_cells(text: str, width: int, right: bool = False) -> str:
    """``text`` padded to ``width`` terminal cells (a Chinese character takes two)."""
    pad = " " * max(0, width - display_width(text))
    return pad + text if right else text + pad


def render_plain(s: dict[str, Any], lang: str = "zh") -> str:
    """The summary for people, in ``lang`` (``medclaim/labels/<lang>.yaml``, section ``audit``)."""
    from ..labels import load_labels

    L = load_labels(lang)

    def A(key: str, **kw: Any) -> str:
        return L(f"audit.{key}", **kw)

    def names(group: str, keys: list[str]) -> str:
        return L("audit.sep").join(L.name(f"audit.{group}", k) for k in keys)

    def counts(group: str, rows: dict[str, int]) -> list[str]:
        shown = {L.name(f"audit.{group}", k): n for k, n in rows.items() if n}
        width = max([20, *(display_width(k) for k in shown)])
        return [A("count_row", name=pad_cells(k, width), n=f"{n:>8,}") for k, n in shown.items()]

    def yuan(fen: int) -> str:
        return pad_cells(fen_to_yuan_display(fen), 16, right=True)

    lines = [
        A("head", rules=", ".join(s["rules"])) + (A("head_ledger", ledger=s["ledger"]) if s["ledger"] else ""),
        A("counts", read=f"{s['rows_read']:,}", audited=f"{s['claims_audited']:,}", rejected=f"{s['rows_rejected']:,}")
        + (A("already_settled", n=f"{s['already_settled']:,}") if s["already_settled"] else ""),
        A("compared", fields=names("field", s["fields_compared"]), tolerance=fen_to_yuan_display(s["tolerance_fen"])),
    ]
    if s["fields_not_compared"]:
        lines.append(A("not_compared", fields=names("field", s["fields_not_compared"])))
    for f, missing in s["fields_absent_by_file"].items():
        if len(missing) < len(FIELDS):
            lines.append(A("file_lacks", file=f, fields=names("field", missing)))
    lines.append(A("differing", differing=f"{s['claims_differing']:,}", compared=f"{s['claims_compared']:,}",
                   differences=f"{s['differences']:,}"))
    lines += counts("cause", s["differences_by_cause"])
    for fund, v in s["paid_fen"].items():
        lines.append(A("fund_row", fund=pad_cells(L.name("audit.field", fund), 16), over=yuan(v["over"]), under=yuan(v["under"])))
    if s["paid_by_hospital_fen"]:
        lines.append(A("by_hospital"))
        for h, v in s["paid_by_hospital_fen"].items():
            over = sum(x for k, x in v.items() if k.endswith(".over"))
            under = sum(x for k, x in v.items() if k.endswith(".under"))
            lines.append(f"  {pad_cells(h, 40)} {yuan(over)} {yuan(under)}")
    lines.append(A("flags", n=f"{s['flags']:,}"))
    lines += counts("flag", s["flags_by_code"])
    lines.append(A("parameters", source=s["review_parameters_source"]))
    lines.append(A("high_burden", n=f"{s['high_burden']:,}")
                 + (A("tilt_assistance", n=f"{s['tilt_assistance']:,}") if s["tilt_assistance"] else ""))
    return "\n".join(lines) + "\n"


__all__ = ["AuditResult", "CAUSES", "NoReportedAmounts", "audit_claims", "audit_files", "render_plain", "reported"]
