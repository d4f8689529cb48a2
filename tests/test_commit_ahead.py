"""What a run writes ahead of its commit in second threads: the next accumulator (merged, written,
hashed) and the part's hash and totals.  A failure there stops the commit before anything is
renamed into the ledger, and leaves no file behind."""

from __future__ import annotations

import datetime as dt

import pytest

from helpers import book, claim, claims_frame
from medclaim import store
from medclaim.output import TMP_MARK
from medclaim.overlap import soon
from medclaim.pipeline import append_claims


def test_soon_hands_over_result_and_error(monkeypatch):
    assert soon(sum, [1, 2, 3]).result() == 6
    with pytest.raises(ZeroDivisionError):
        soon(lambda: 1 // 0).result()
    monkeypatch.setenv("MEDCLAIM_OVERLAP", "0")  # in the caller's thread, the error kept for result()
    late = soon(lambda: 1 // 0)
    assert late.done()
    with pytest.raises(ZeroDivisionError):
        late.result()


def month(m: int) -> list[dict]:
    return [claim(setl_id=f"M{m}-{p}", psn_no=p, begndate=dt.date(2021, m, 1), enddate=dt.date(2021, m, 3))
            for p in ("P1", "P2", "P3")]


def files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("fails", ["next_accumulator", "entry_totals"])
def test_a_failure_ahead_of_the_commit_leaves_the_ledger_as_it_was(tmp_path, monkeypatch, fails):
    rb = book("full")
    append_claims(tmp_path, claims_frame(month(1)), rb)
    before = files(tmp_path)
    head = store.read_head(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    # (the accumulator is merged chunk by chunk as the run settles, else whole at the end)
    targets = ["medclaim.store.runs.next_accumulator", "medclaim.store.acc_stream.next_accumulator"] \
        if fails == "next_accumulator" else ["medclaim.ledger_check.entry_totals"]
    for target in targets:
        monkeypatch.setattr(target, broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        append_claims(tmp_path, claims_frame(month(2)), rb)
    assert files(tmp_path) == before  # no part renamed into place, no temporary file left
    assert not [f for f in files(tmp_path) if TMP_MARK in f]
    assert store.read_head(tmp_path).run == head.run
    monkeypatch.undo()
    # and the next run commits as if nothing had happened
    result = append_claims(tmp_path, claims_frame(month(2)), rb)
    assert result.run == 2 and store.verify(tmp_path) == []
