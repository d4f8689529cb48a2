"""The persistent ledger of monthly runs: layout, commit protocol, locking, continuation, reversals.

A ledger directory ``DIR`` holds::

    HEAD.json                        the commit point: the files that make up the ledger, nothing else counts
    parts/run-000001.parquet         one run's entries (claims and reversals) in settlement order; never rewritten
    accumulator-000001.parquet       per person-year running totals after the run (the next run's openings)
    runs/run-000001/manifest.json    what the run read, used and produced (inputs with sha256, rules, counts…)
    runs/run-000001/rejects.csv      rows the run did not settle (incl. ``already_settled``)
    runs/run-000001/summary.json|txt the run's summary
    .lock                            ``flock``-ed by the run that writes

A run writes every new file under a new name (temporary name + fsync + rename), then replaces
``HEAD.json`` atomically (temporary + fsync + ``os.replace`` + fsync of the directory).  Readers
look only at what ``HEAD.json`` names, so a run killed at any moment leaves the ledger exactly as
before it (its leftovers are ignored, and removed by the next run) or exactly as after it.

Entries added to every settled row: ``run`` (run number), ``entry_no`` (1, 2, … over the whole
ledger, in settlement order), ``late`` (the claim ended before the person-year's last settled
claim), ``reverses_entry`` (a reversal: the ``entry_no`` it takes back) and ``reversal_reason``.

The package, by concern: ``layout`` (file names, errors, atomic writes, HEAD, the lock), ``read``
(what HEAD names), ``accumulator`` (running totals, last claims, late claims), ``runs`` (what a
run produces: prepared parts written chunk by chunk, the accumulator after it), ``ledger`` (the
lock held, leftovers, the commit) and ``verify`` (checks and rebuild).  Whatever engine writes a
run's parts — the local one chunk by chunk, or executors of a cluster — hands them to
``Ledger.commit`` as ``PreparedPart``s: one commit protocol for every writer.
"""


from ..engine import KEYS  # noqa: F401  (the person-year key, as readers of a ledger use it)
from ..output import TMP_MARK  # noqa: F401
from .layout import (  # noqa: F401
    ENTRY_COLUMNS,
    FORMAT,
    FileRef,
    HEAD_FILE,
    Head,
    LAST_COLUMNS,
    LOCK_FILE,
    LedgerCorrupt,
    LedgerError,
    LedgerLocked,
    NotALedger,
    PARTS,
    REVERSED_AMOUNTS,
    RUNS,
    ReversalError,
    accumulator_name,
    crash_point,
    fsync_dir,
    ledger_lock,
    lock_holder,
    part_name,
    part_run,
    read_head,
    run_dir_name,
    sha256_file,
    utc_now,
    write_head,
    write_json,
    write_new,
)
from .read import (  # noqa: F401
    check_ledger_dir,
    check_parts,
    list_runs,
    part_paths,
    raise_if_damaged,
    read_accumulator,
    read_ledger,
    scan_ledger,
    scan_parts,
)
from .accumulator import (  # noqa: F401
    accumulator_from_entries,
    last_claims,
    late_flag,
    next_accumulator,
    openings_from,
    sorts_before,
    ytd_columns,
)
from .runs import (  # noqa: F401
    PartWriter,
    PreparedPart,
    RunPlan,
    plan_reverse,
    plan_settle,
    prepared_part,
    reversal_claims,
    settled_state,
    split_already_settled,
    stamp,
)
from .ledger import (  # noqa: F401
    Ledger,
)
from .verify import (  # noqa: F401
    INVARIANT_COLUMNS,
    rebuild,
    verify,
)
