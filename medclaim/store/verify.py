"""Checking a ledger against itself and its accumulator; rebuilding the accumulator."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..engine import KEYS
from ..settle import check_invariants

from .accumulator import accumulator_from_entries
from .layout import HEAD_FILE, Head, LedgerCorrupt, NotALedger, read_head, run_dir_name
from .ledger import Ledger
from .read import read_accumulator, scan_parts


# ------------------------------------------------------------------ verify and rebuild


def _compare_frames(committed: pl.DataFrame, rebuilt: pl.DataFrame, what: str) -> list[str]:
    cols = sorted((set(committed.columns) | set(rebuilt.columns)) - set(KEYS))
    a = committed.select(KEYS + [c for c in cols if c in committed.columns])
    b = rebuilt.select(KEYS + [c for c in cols if c in rebuilt.columns])
    problems = []
    only_a = a.join(b, on=KEYS, how="anti").height
    only_b = b.join(a, on=KEYS, how="anti").height
    if only_a:
        problems.append(f"{what}: {only_a} person-year(s) in the accumulator have no ledger entries")
    if only_b:
        problems.append(f"{what}: {only_b} person-year(s) with ledger entries are missing from the accumulator")
    j = a.join(b, on=KEYS, how="inner", suffix="__rebuilt")
    for c in cols:
        left = pl.col(c) if c in a.columns else pl.lit(None)
        right = pl.col(f"{c}__rebuilt") if c in b.columns else pl.lit(None)
        if c.startswith("ytd_"):
            left, right = left.fill_null(0), right.fill_null(0)
        bad = j.filter(left.ne_missing(right))
        if bad.height:
            r = bad.row(0, named=True)
            problems.append(
                f"{what}: {c} differs for {bad.height} person-year(s), e.g. {r['psn_no']} {r['year']}: "
                f"accumulator {r.get(c)} ≠ ledger {r.get(c + '__rebuilt', r.get(c))}"
            )
    return problems


#: Columns ``settle.check_invariants`` looks at (verify reads only these, part by part; should the
#: check come to need another column, verify falls back to reading whole parts).
INVARIANT_COLUMNS = [
    "setl_id", "is_reversal", "not_covered", "medfee_sumamt", "inscp_scp_amt", "preselfpay_amt", "act_pay_dedc", "hifp_pay", "hifmi_pay",
    "maf_pay", "fund_pay_sumamt", "psn_part_amt", "ytd_medfee", "ytd_hifp", "ytd_hifmi", "ytd_maf",
    "ytd_critical_base", "ytd_assist_base",
]


def verify(root: str | Path) -> list[str]:
    """Check the ledger against itself and its accumulator.  Returns the problems (empty: all good).

    Reads narrow column sets only (never the whole ledger at once), so it runs on a year of claims.
    """
    root = Path(root)
    head = read_head(root)
    if head is None:
        raise NotALedger(f"{root}: no ledger here ({HEAD_FILE} missing)")
    from .. import ledger_check

    problems: list[str] = []
    committed, _ = ledger_check.beyond_head(head, ledger_check.inventory(root))
    if committed:
        problems.append(f"{HEAD_FILE}: names runs up to {head.run}, but runs {', '.join(map(str, committed))} were committed "
                        f"— it looks restored from an older copy; `medclaim ledger rebuild` reconstructs it")
    for ref in head.parts:
        problems += ledger_check.check_file(root, ref, "part")
    if head.accumulator:
        problems += ledger_check.check_file(root, head.accumulator, "accumulator")
    problems += ledger_check.check_runs(root, head)
    if problems:
        return problems
    ids = scan_parts(root, head, ["entry_no", "setl_id", "is_reversal", "reverses_entry"]).collect()
    if ids.height != head.entries:
        problems.append(f"ledger: {ids.height} entries ≠ {head.entries} recorded in {HEAD_FILE}")
    if ids.height == 0:
        if head.accumulator is not None and read_accumulator(root, head).height:
            problems.append("accumulator: not empty, but the ledger holds no entries")
        return problems
    if not ids["entry_no"].equals(pl.int_range(1, ids.height + 1, dtype=pl.Int64, eager=True).alias("entry_no")):
        problems.append("ledger: entry_no is not 1, 2, … in file order, without gaps or repeats")
    # conservation and the other run-time invariants, part by part
    for ref in head.parts:
        lf = pl.scan_parquet(root / ref.file)
        have = lf.collect_schema().names()
        try:
            try:
                check_invariants(lf.select([c for c in INVARIANT_COLUMNS if c in have]).collect())
            except pl.exceptions.ColumnNotFoundError:
                check_invariants(lf.collect())
        except Exception as e:  # InvariantError, or a column the ledger lacks
            problems += [f"{ref.file}: invariant {p}" for p in getattr(e, "problems", [str(e)])]
    # every reversal takes back one claim entry of the same id, once; an id stands settled at most once
    revs = ids.filter(pl.col("is_reversal"))
    if revs.height:
        target = revs.join(ids.select("entry_no", t_id="setl_id", t_rev="is_reversal"), left_on="reverses_entry",
                           right_on="entry_no", how="left")
        orphan = target.filter(pl.col("t_id").is_null() | (pl.col("t_id") != pl.col("setl_id")) | pl.col("t_rev"))
        if orphan.height:
            problems.append(f"ledger: {orphan.height} reversal(s) do not point at a claim entry of the same setl_id")
        twice = revs.group_by("reverses_entry").len().filter(pl.col("len") > 1)
        if twice.height:
            problems.append(f"ledger: {twice.height} claim entr(y/ies) reversed more than once")
    repeated = ids.filter(pl.col("setl_id").hash(7).is_duplicated())  # a superset of repeated ids (hash)
    net = repeated.group_by("setl_id").agg(n=pl.when(pl.col("is_reversal")).then(-1).otherwise(1).sum())
    bad_net = net.filter(~pl.col("n").is_in([0, 1]))
    if bad_net.height:
        problems.append(f"ledger: {bad_net.height} settlement id(s) settled more than once net, e.g. {bad_net['setl_id'][0]}")
    del ids, revs, repeated
    # running totals: the last entry's ytd_* per person-year, and the sums of the contributions
    entries = scan_parts(root, head)
    rebuilt = accumulator_from_entries(entries)
    sums = (
        scan_parts(root, head, KEYS + ["is_reversal", "medfee_sumamt", "hifp_pay", "hifmi_pay", "maf_pay", "psn_part_amt"])
        .group_by(KEYS)
        .agg(
            ytd_claims=pl.when(pl.col("is_reversal")).then(-1).otherwise(1).sum().cast(pl.Int64),
            ytd_medfee=pl.col("medfee_sumamt").sum(),
            ytd_hifp=pl.col("hifp_pay").sum(),
            ytd_hifmi=pl.col("hifmi_pay").sum(),
            ytd_maf=pl.col("maf_pay").sum(),
            ytd_psn_part=pl.col("psn_part_amt").sum(),
        )
        .collect()
    )
    problems += _compare_frames(rebuilt.select(sums.columns), sums, "running totals vs sums of entries")
    committed = read_accumulator(root, head)
    if committed is None:
        problems.append("accumulator: missing, but the ledger holds entries — run `medclaim ledger rebuild`")
    else:
        problems += _compare_frames(committed, rebuilt, "accumulator vs ledger")
    return problems


def rebuild(root: str | Path, wait: float = 0.0, notes: list[str] | None = None) -> Head:
    """Recompute the accumulator from the ledger entries and commit it (under the lock).

    When HEAD.json is missing, unreadable, or older than the runs committed in the directory, HEAD
    is first reconstructed from the parts, manifests and commit records (``ledger_check``); the
    entries themselves are never touched.  What was done is appended to ``notes``.
    """
    from .. import ledger_check

    root = Path(root)
    notes = notes if notes is not None else []

    def current_or_rebuilt() -> Head:
        try:
            head = read_head(root)
        except LedgerCorrupt:
            head = None  # missing with ledger files present, or unreadable: rebuilt below
        else:
            if head is None:
                raise NotALedger(f"{root}: no ledger here ({HEAD_FILE} missing, and no parts)")
            if not ledger_check.beyond_head(head, ledger_check.inventory(root))[0]:
                return head
        rebuilt, found = ledger_check.reconstruct_head(root)
        notes.extend(found)
        return rebuilt

    with Ledger.open(root, wait, "medclaim ledger rebuild", head=current_or_rebuilt) as lg:
        if lg.head.run == 0 and not lg.head.parts:
            raise NotALedger(f"{root}: no ledger here ({HEAD_FILE} missing)")
        acc = accumulator_from_entries(scan_parts(lg.root, lg.head))
        head = lg.commit_accumulator(acc)
        for run in range(1, head.run + 1):
            if (lg.root / run_dir_name(run)).is_dir() and not (lg.root / run_dir_name(run) / ledger_check.COMMITTED).exists():
                lg.record_commit(run)
        notes.extend(lg.notes)
        return head
