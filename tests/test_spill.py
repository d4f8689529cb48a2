"""Inputs larger than memory: read in batches, spilled to person buckets, settled bucket by bucket.

A spilled run must equal the same run in memory entry for entry (same ledger, same order, same
entry numbers, same rejects and totals), in ``--out`` and ``--ledger`` mode, and leave no scratch
files behind whether it succeeds or fails.  Small thresholds (``MEDCLAIM_SPILL_ROWS``, the
reader's batch size) make a few thousand claims spill into many buckets.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
from itertools import accumulate
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

import medclaim.io.reader as reader
import medclaim.io.spill as spill
import medclaim.pipeline as pipeline
import medclaim.settle as settle_module
from medclaim.io import ReadOptions, read_claims
from medclaim.io.source_parquet import row_slices
from medclaim.io.spill import SPILL_ROWS_ENV, SpillOptions
from medclaim.pipeline import settle_files, settle_into_ledger
from medclaim.synth import generate_claims

RULES = "anhui/dongzhi-2021"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A year of claims in two files (Parquet and CSV), with rows refused on their own, an exact
    repeat and a conflicting copy across the files, and a totals footer in the CSV."""
    folder = tmp_path_factory.mktemp("spill-inputs")
    claims = generate_claims(3000, 260, seed=11)
    first, second = claims.head(1800), claims.tail(1200)
    first.write_parquet(folder / "a.parquet")
    text = second.with_columns(pl.all().cast(pl.String))
    broken = text.head(3).with_columns(
        setl_id=pl.Series(["X1", "X2", first["setl_id"][5]]),  # two refused rows; a copy of a.parquet's row 6 …
        medfee_sumamt=pl.Series(["abc", "", text["medfee_sumamt"][0]]),  # … with other amounts: a conflict
    )
    repeat = text.slice(10, 1)  # an exact repeat of a row of this file
    body = pl.concat([text, broken, repeat])
    csv = folder / "b.csv"
    body.write_csv(csv)
    with csv.open("a", encoding="utf-8") as fh:
        fh.write("合计" + "," * (body.width - 1) + "\n")
    return {"parquet": folder / "a.parquet", "csv": csv}


def _spill(monkeypatch, rows: int = 400, batch: int = 250) -> None:
    monkeypatch.setenv(SPILL_ROWS_ENV, str(rows))
    monkeypatch.setattr(reader, "BATCH_ROWS", batch)


def _same_rejects(a: pl.DataFrame, b: pl.DataFrame) -> None:
    key = ["source_file", "source_row", "reason_code"]
    assert a.sort(key).equals(b.sort(key))


def test_reading_in_batches_changes_nothing(inputs, monkeypatch):
    files = [inputs["parquet"], inputs["csv"]]
    whole = read_claims(files)
    monkeypatch.setattr(reader, "BATCH_ROWS", 7)
    batched = read_claims(files)
    assert batched.claims.equals(whole.claims)
    assert batched.rejects.equals(whole.rejects)
    assert batched.footers.equals(whole.footers)
    assert batched.rows_read == whole.rows_read == 3000 + 3 + 1 + 1
    reasons = whole.rejects["reason_code"].value_counts().sort("reason_code").rows()
    # X1 (bad amount), X2 (missing), the conflicting pair (the CSV copy has a wrong scope of its
    # own: its reason, with a note on the duplicate), the exact repeat
    assert reasons == [("bad_amount", 1), ("duplicate_setl_id", 2), ("inconsistent_amounts", 1), ("missing_field", 1)]
    assert whole.footers["kind"].to_list() == ["totals"]


def test_spilled_out_run_equals_the_run_in_memory(inputs, tmp_path, monkeypatch):
    files = [inputs["parquet"], inputs["csv"]]
    plain = settle_files(files, RULES, tmp_path / "plain")
    scratch = tmp_path / "scratch"
    _spill(monkeypatch)
    spilled = settle_files(files, RULES, tmp_path / "spilled", read_options=ReadOptions(spill=SpillOptions(directory=scratch)))
    a = pl.read_parquet(tmp_path / "plain" / "ledger.parquet")
    b = pl.read_parquet(tmp_path / "spilled" / "ledger.parquet")
    assert a.height == 3000 - 1  # the conflicting pair's parquet row is refused too
    assert b.equals(a)  # same entries, same order
    _same_rejects(spilled.settlement.rejects, plain.settlement.rejects)
    for figure in ("totals_fen", "people_settled", "people_reaching", "claims_settled", "rows_read", "rejects_by_reason"):
        assert spilled.summary[figure] == plain.summary[figure], figure
    assert spilled.status == plain.status
    note = json.loads((tmp_path / "spilled" / "summary.json").read_text(encoding="utf-8"))["reading"]["spilled"]
    assert note == {"claims": 2999, "buckets": 8, "directory": str(scratch)}  # 2999 / 400 → 8 buckets
    assert "spilled" not in plain.summary["reading"]
    assert "2,999" in (tmp_path / "spilled" / "summary.txt").read_text(encoding="utf-8")
    assert list(scratch.iterdir()) == []  # the scratch directory is gone


def test_spilled_ledger_runs_equal_the_runs_in_memory(inputs, tmp_path, monkeypatch):
    """Two monthly runs (the second repeating claims of the first): parts, entry numbers,
    accumulator and counts as in memory; the manifest says the run spilled."""
    claims = pl.read_parquet(inputs["parquet"])
    early, late = claims.filter(pl.col("enddate") < dt.date(2021, 7, 1)), claims.filter(pl.col("enddate") >= dt.date(2021, 7, 1))
    early.write_parquet(tmp_path / "m1.parquet")
    pl.concat([late, early.head(20)]).write_parquet(tmp_path / "m2.parquet")
    months = [tmp_path / "m1.parquet", tmp_path / "m2.parquet"]
    plain = [settle_into_ledger([m], RULES, tmp_path / "plain") for m in months]
    _spill(monkeypatch, rows=300, batch=100)
    scratch = tmp_path / "scratch"
    options = ReadOptions(spill=SpillOptions(directory=scratch))
    spilled = [settle_into_ledger([m], RULES, tmp_path / "spilled", read_options=options) for m in months]
    for run in (1, 2):
        a = pl.read_parquet(tmp_path / "plain" / "parts" / f"run-{run:06d}.parquet")
        b = pl.read_parquet(tmp_path / "spilled" / "parts" / f"run-{run:06d}.parquet")
        assert b.equals(a), run
    acc = [sorted((tmp_path / d).glob("accumulator-*.parquet"))[-1] for d in ("plain", "spilled")]
    a, b = (pl.read_parquet(p).sort("psn_no", "year") for p in acc)
    assert b.equals(a)
    assert spilled[1].summary["already_settled"] == plain[1].summary["already_settled"] == 20
    _same_rejects(spilled[1].settlement.rejects, plain[1].settlement.rejects)
    manifest = json.loads((tmp_path / "spilled" / "runs" / "run-000002" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["spilled"]["claims"] == late.height + 20 and manifest["spilled"]["buckets"] >= 2
    assert "spilled" not in json.loads((tmp_path / "plain" / "runs" / "run-000002" / "manifest.json").read_text(encoding="utf-8"))
    assert list(scratch.iterdir()) == []


def test_a_failed_run_removes_its_scratch_files(inputs, tmp_path, monkeypatch):
    _spill(monkeypatch)
    scratch = tmp_path / "scratch"
    seen = []

    def broken(claims, *args, **kwargs):
        seen.append(sorted(p.name for d in scratch.iterdir() for p in d.iterdir()))
        raise RuntimeError("settlement failed")

    monkeypatch.setattr(settle_module, "settle_claims", broken)
    with pytest.raises(RuntimeError):
        settle_files([inputs["parquet"]], RULES, tmp_path / "out", read_options=ReadOptions(spill=SpillOptions(directory=scratch)))
    assert seen and seen[0][0] == "bucket-0001.arrow"  # it did spill (bucket 0's file went as it was read)
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "out" / "ledger.parquet").exists()


def test_the_spill_threshold_must_be_a_number(monkeypatch):
    monkeypatch.setenv(SPILL_ROWS_ENV, "lots")
    with pytest.raises(ValueError, match=SPILL_ROWS_ENV):
        SpillOptions().bucket_bits(10)


@settings(max_examples=60, deadline=None)
@given(groups=st.lists(st.integers(0, 40), max_size=12), size=st.integers(1, 15))
def test_parquet_batches_cover_every_row_once_along_row_groups(groups, size):
    """Batches follow the row groups: whole small groups up to ``size`` rows, or a piece of
    one large group; together every row once, in order."""
    slices = list(row_slices(groups, size))
    assert all(n > 0 for _, n in slices)
    assert [first for first, _ in slices] == [0, *accumulate(n for _, n in slices)][: len(slices)]
    assert sum(n for _, n in slices) == sum(groups)
    edges = set(accumulate(groups))
    for first, n in slices:
        inside = [e for e in edges if first < e < first + n]  # group edges within the batch
        assert not inside or n <= size  # several groups only when together they fit


def test_parquet_row_groups_of_any_size_give_the_file_in_order(tmp_path, monkeypatch):
    """A file with row groups of 1 to 700 rows, read in batches of 50: every row once, in file
    order, numbered from 1, as the file itself reads."""
    claims = generate_claims(1200, 150, seed=5)
    path = tmp_path / "groups.parquet"
    table = claims.to_arrow()
    with pq.ParquetWriter(path, table.schema) as w:
        first = 0
        for size in (1, 3, 30, 700, 20, 20, 426):
            w.write_table(table.slice(first, size), row_group_size=size)
            first += size
    assert pq.ParquetFile(path).metadata.num_row_groups == 7
    monkeypatch.setattr(reader, "BATCH_ROWS", 50)
    read = read_claims([path])
    assert read.rejects.height == 0
    assert read.claims["source_row"].to_list() == list(range(1, 1201))
    assert read.claims["setl_id"].equals(pl.read_parquet(path)["setl_id"])


def test_spilled_claims_read_back_as_read(inputs, tmp_path, monkeypatch):
    """The bucket files hold a table index instead of each row's file name, and no column that
    is null in every row; read back, the buckets give exactly the claims read in memory — with
    a reported amount and a descriptive column in one file only, and absent from every file."""
    claims = pl.read_parquet(inputs["parquet"])
    reported = tmp_path / "reported.parquet"
    claims.head(700).with_columns(
        统筹基金支出=pl.col("inscp_scp_amt"), 科室=pl.lit("内科"), setl_id=pl.col("setl_id") + "R"
    ).write_parquet(reported)
    for files in ([inputs["parquet"], reported, inputs["csv"]], [inputs["parquet"], inputs["csv"]]):
        whole = read_claims(files)
        _spill(monkeypatch)
        spilled = read_claims(files, options=ReadOptions(spill=SpillOptions(directory=tmp_path / "scratch")))
        monkeypatch.undo()
        try:
            buckets = spilled.spilled
            assert buckets is not None and buckets.buckets > 1
            back = pl.concat([buckets.take(b) for b in range(buckets.buckets)])
            assert not any(p.exists() for p in buckets.files)  # each file removed as it was read
        finally:
            spilled.cleanup()
        assert back.schema == whole.claims.schema
        assert back.sort("source_file", "source_row").equals(whole.claims.sort("source_file", "source_row"))
    assert whole.claims["reported_hifp_pay"].null_count() == whole.claims.height  # (the second run: absent everywhere)


def _record_batches(path: Path) -> list[int]:
    with pa.ipc.open_file(path) as f:
        return [f.get_batch(i).num_rows for i in range(f.num_record_batches)]


@pytest.mark.parametrize("flush_rows, buffer_bytes", [(1, 1 << 30), (40, 1 << 30), (10**9, 20_000), (10**9, 1 << 30)])
def test_buckets_written_in_pieces_give_back_what_was_read(inputs, tmp_path, monkeypatch, flush_rows, buffer_bytes):
    """A bucket's claims are held and written as one record batch when the bucket has
    ``FLUSH_ROWS`` of them, when all the held claims pass ``BUFFER_BYTES`` (the bucket holding
    most goes first), or at the end.  Every way, the buckets give back exactly the claims read."""
    files = [inputs["parquet"], inputs["csv"]]
    whole = read_claims(files)
    monkeypatch.setattr(spill, "FLUSH_ROWS", flush_rows)
    monkeypatch.setattr(spill, "BUFFER_BYTES", buffer_bytes)
    _spill(monkeypatch)  # 8 buckets, batches of 250 claims: about 31 claims of a batch per bucket
    spilled = read_claims(files, options=ReadOptions(spill=SpillOptions(directory=tmp_path / "scratch")))
    try:
        buckets = spilled.spilled
        sizes = [_record_batches(p) for p in buckets.files]
        back = pl.concat([buckets.take(b) for b in range(buckets.buckets)])
    finally:
        spilled.cleanup()
    assert back.sort("source_file", "source_row").equals(whole.claims.sort("source_file", "source_row"))
    assert sum(map(sum, sizes)) == whole.claims.height
    if flush_rows == 1:  # each batch's share written at once: 13 batches of input, 8 buckets
        assert all(len(s) >= 12 for s in sizes)
    elif flush_rows == 40:  # written on reaching 40 claims: every record batch but a file's last holds 40 or more
        assert all(n >= 40 for s in sizes for n in s[:-1]) and all(len(s) > 1 for s in sizes)
    elif buffer_bytes == 20_000:  # the buffer (about 170 claims) forces writes before the end
        assert all(len(s) > 1 for s in sizes) and all(n < 400 for s in sizes for n in s)
    else:  # all held to the end: one record batch per bucket
        assert all(len(s) == 1 for s in sizes)


def test_empty_buckets_change_nothing(inputs, tmp_path, monkeypatch):
    """More buckets than persons: most buckets get no claim and have no file; the run equals
    the run in memory."""
    plain = settle_files([inputs["parquet"]], RULES, tmp_path / "plain")
    _spill(monkeypatch, rows=15, batch=500)  # 1,799 claims of about 160 persons in 128 buckets
    scratch = tmp_path / "scratch"
    seen = {}
    real = pipeline.settle_buckets

    def counting(spilled, *args, **kwargs):
        seen["buckets"], seen["files"] = spilled.buckets, sum(p.exists() for p in spilled.files)
        return real(spilled, *args, **kwargs)

    monkeypatch.setattr(pipeline, "settle_buckets", counting)
    spilled = settle_files([inputs["parquet"]], RULES, tmp_path / "spilled", read_options=ReadOptions(spill=SpillOptions(directory=scratch)))
    assert seen["buckets"] == 128 and 0 < seen["files"] < 128
    assert pl.read_parquet(tmp_path / "spilled" / "ledger.parquet").equals(pl.read_parquet(tmp_path / "plain" / "ledger.parquet"))
    assert spilled.summary["totals_fen"] == plain.summary["totals_fen"]
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("flush_rows", [1, 10**9])  # refused while reading / at the last writes
def test_a_refused_spill_write_removes_the_scratch_files(inputs, tmp_path, monkeypatch, flush_rows):
    """The disk fills up while the buckets are written: the error reaches the caller and the
    scratch directory is removed."""
    monkeypatch.setattr(spill, "FLUSH_ROWS", flush_rows)
    _spill(monkeypatch)
    real, opened = pa.ipc.new_file, []

    def filling(path, *args, **kwargs):
        opened.append(path)
        if len(opened) > 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(spill.pa.ipc, "new_file", filling)
    scratch = tmp_path / "scratch"
    with pytest.raises(OSError, match="No space left"):
        read_claims([inputs["parquet"], inputs["csv"]], options=ReadOptions(spill=SpillOptions(directory=scratch)))
    assert len(opened) == 4
    assert list(scratch.iterdir()) == []
