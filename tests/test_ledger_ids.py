"""Finding settlement ids in a ledger's parts by row-group statistics (store.read.parts_holding):
it must find exactly what a full scan finds, whatever the ids' order."""

from __future__ import annotations

import pyarrow.parquet as pq
import polars as pl
from hypothesis import given, settings, strategies as st

from medclaim.store.layout import FileRef, Head
from medclaim.store.read import parts_holding


def _ledger(tmp_path, groups: list[list[str]], statistics: bool = True) -> Head:
    (tmp_path / "parts").mkdir(exist_ok=True)
    rows = [(i, g) for g in groups for i in g]
    frame = pl.DataFrame({"setl_id": [r[0] for r in rows], "run": [1] * len(rows)}, schema={"setl_id": pl.String, "run": pl.Int32})
    with pq.ParquetWriter(tmp_path / "parts" / "run-000001.parquet", frame.to_arrow().schema, write_statistics=statistics) as w:
        at = 0
        for g in groups:
            w.write_table(frame.slice(at, len(g)).to_arrow())
            at += len(g)
    head = Head()
    head.parts = [FileRef.of(tmp_path, "parts/run-000001.parquet", len(rows))]
    return head


def test_ids_beyond_every_row_group_read_nothing(tmp_path, monkeypatch):
    head = _ledger(tmp_path, [["A001", "A005"], ["A002", "A009"]])
    read = []
    real = pq.ParquetFile.read_row_groups
    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", lambda self, g, **kw: read.append(list(g)) or real(self, g, **kw))
    assert parts_holding(tmp_path, head, "setl_id", pl.Series(["B001", "B002"]), ["setl_id", "run"]).height == 0
    assert read == []  # no row group could hold B…: none was read
    found = parts_holding(tmp_path, head, "setl_id", pl.Series(["A009", "B001"]), ["setl_id", "run"])
    assert found["setl_id"].to_list() == ["A009"]
    assert read == [[1]]  # only the group whose range A002–A009 holds A009


def _check(tmp_path, groups, wanted, statistics):
    head = _ledger(tmp_path, groups, statistics)
    found = parts_holding(tmp_path, head, "setl_id", pl.Series(wanted, dtype=pl.String), ["setl_id", "run"])
    expected = sorted(i for g in groups for i in g if i in set(wanted))
    assert (sorted(found["setl_id"].to_list()) if found.height else []) == expected


ids = st.text(alphabet="AB01é", min_size=1, max_size=4)


@settings(max_examples=40, deadline=None)
@given(groups=st.lists(st.lists(ids, min_size=1, max_size=6), min_size=1, max_size=5),
       wanted=st.lists(ids, max_size=8), statistics=st.booleans())
def test_finds_exactly_what_a_full_scan_finds(tmp_path_factory, groups, wanted, statistics):
    _check(tmp_path_factory.mktemp("ledger"), groups, wanted, statistics)


def test_a_part_whose_rows_are_read_is_checked_against_its_sha256_first(tmp_path):
    """The pre-append check looks at each part's size and footer only; rows a run does read must
    be the committed rows: a same-size change inside the data is refused (exit 9), naming the part."""
    import pytest

    from medclaim.store.layout import LedgerCorrupt

    head = _ledger(tmp_path, [["A001", "A005"], ["A002", "A009"]])
    p = tmp_path / "parts" / "run-000001.parquet"
    data = bytearray(p.read_bytes())
    at = data.find(b"A009")
    data[at:at + 4] = b"A00X"  # same size, footer intact
    p.write_bytes(bytes(data))
    assert parts_holding(tmp_path, head, "setl_id", pl.Series(["B001"]), ["setl_id"]).height == 0  # nothing read: no hash
    with pytest.raises(LedgerCorrupt, match="parts/run-000001.parquet.*sha256"):
        parts_holding(tmp_path, head, "setl_id", pl.Series(["A003"]), ["setl_id"])
