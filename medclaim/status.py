"""Exit statuses.  Stable: cron scripts depend on them (documented in the README)."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0  # every row settled (or the command did what it was asked)
    REJECTS = 1  # the run completed; some rows were rejected (see rejects.csv)
    USAGE = 2  # bad invocation: unknown option, missing argument, conflicting options
    INVALID_RULES = 3  # the rule set does not load or validate
    INVALID_INPUT = 4  # an input file cannot be read, or lacks a required column
    NOTHING_NEW = 5  # every claim in the input was already settled in the ledger
    LOCKED = 6  # another medclaim run holds the ledger
    NOT_FOUND = 7  # explain: no such person or year in the ledger / input
    INVARIANT = 8  # a settlement invariant (conservation…) broke: nothing was written
    LEDGER_CORRUPT = 9  # the ledger directory is damaged, or verify found a mismatch
    NO_RULE_PERIOD = 10  # nothing settled: no period of the rule set covers the claims' dates
    AUDIT_FINDINGS = 11  # audit: a reported amount differs from the rules, or a review rule flagged a claim
    MACHINE_REFUSED = 12  # the machine refused a read or write: disk full, read-only, permission denied
    INTERNAL = 70  # a bug: please report it with the log
    INTERRUPTED = 130  # stopped by Ctrl-C (SIGINT; 128 + 2, as shells report it): not 1, which means rows were rejected


DESCRIPTIONS = {
    Exit.OK: "success: every row settled",
    Exit.REJECTS: "completed, some rows rejected (see rejects.csv)",
    Exit.USAGE: "bad invocation (unknown option, missing argument)",
    Exit.INVALID_RULES: "invalid rule set",
    Exit.INVALID_INPUT: "input file unreadable or missing a required column",
    Exit.NOTHING_NEW: "nothing new: every claim was already in the ledger",
    Exit.LOCKED: "ledger locked by another run",
    Exit.NOT_FOUND: "person or year not found",
    Exit.INVARIANT: "settlement invariant broken; nothing written",
    Exit.LEDGER_CORRUPT: "the ledger is damaged or disagrees with its accumulator (the damaged file is named; see docs/ledger.md)",
    Exit.NO_RULE_PERIOD: "nothing settled: the rule set covers none of the claims' dates",
    Exit.AUDIT_FINDINGS: "audit: differences or review flags found (see differences.csv, flags.csv)",
    Exit.MACHINE_REFUSED: "the machine refused a read or write (disk full, read-only, permission denied); the message names the path",
    Exit.INTERNAL: "internal error (a bug)",
    Exit.INTERRUPTED: "interrupted (Ctrl-C): a ledger keeps the run whole or not at all",
}
