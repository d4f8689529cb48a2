"""medclaim.io: duplicate settlement ids, within and across files, independent of order."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import medclaim.io.reader as reader
from medclaim.io import read_claims

HEADER = "setl_id,psn_no,med_type,hosp_lv,begndate,enddate,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt"


def read(paths):
    result = read_claims(paths)
    assert result.rows_read == result.claims.height + result.rejects.height
    return result


def csv(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def line(setl_id: str, total: str = "100", person: str = "P1", end: str = "2021-03-02") -> str:
    return f"{setl_id},{person},21,02,2021-03-01,{end},{total},0,0,0"


def test_exact_repeat_keeps_one(tmp_path):
    # "100" and "100.00" are the same amount: the rows are identical in canonical values
    result = read([csv(tmp_path / "a.csv", line("S1"), line("S2"), line("S1", total="100.00"))])
    assert sorted(result.claims["setl_id"].to_list()) == ["S1", "S2"]
    assert result.claims.filter(pl.col("setl_id") == "S1")["source_row"].to_list() == [1]
    reject = result.rejects.row(0, named=True)
    got = (reject["setl_id"], reject["reason_code"], reject["source_row"], reject["column"])
    assert got == ("S1", "duplicate_setl_id", 3, "setl_id")
    assert reject["message"].startswith(f"setl_id 'S1' is an exact repeat of {tmp_path / 'a.csv'} row 1")


def test_conflicting_copies_are_all_rejected(tmp_path):
    path = csv(tmp_path / "a.csv", line("S1"), line("S2"), line("S1", total="101"))
    result = read([path])
    assert result.claims["setl_id"].to_list() == ["S2"]
    got = result.rejects.select("setl_id", "reason_code", "source_row").rows()
    assert got == [("S1", "duplicate_setl_id", 1), ("S1", "duplicate_setl_id", 3)]
    messages = result.rejects["message"].to_list()
    assert f"also appears in {path} row 3 with different values" in messages[0]
    assert f"also appears in {path} row 1 with different values" in messages[1]


def test_copy_with_its_own_problem_rejects_all(tmp_path):
    result = read([csv(tmp_path / "a.csv", line("S1"), line("S1", total="abc"))])
    assert result.claims.height == 0
    got = {r["source_row"]: (r["reason_code"], r["message"]) for r in result.rejects.to_dicts()}
    assert got[1][0] == "duplicate_setl_id"
    assert got[2][0] == "bad_amount" and "setl_id 'S1' appears in" in got[2][1]  # the note is appended


def test_many_copies_are_listed_briefly(tmp_path):
    result = read([csv(tmp_path / "a.csv", *(line("S1", total=str(100 + i)) for i in range(6)))])
    assert result.claims.height == 0 and result.rejects.height == 6
    assert "and 2 more" in result.rejects["message"][0]


def test_blank_ids_are_not_duplicates_of_each_other(tmp_path):
    result = read([csv(tmp_path / "a.csv", line(""), line(""))])
    assert result.rejects["reason_code"].to_list() == ["missing_field", "missing_field"]


def _both_orders(tmp_path, a_lines, b_lines):
    a = csv(tmp_path / "a.csv", *a_lines)
    b = csv(tmp_path / "b.csv", *b_lines)
    forward, backward = read([a, b]), read([b, a])
    key = ["source_file", "source_row"]
    assert forward.claims.sort(key).equals(backward.claims.sort(key))
    assert forward.rejects.sort(key).equals(backward.rejects.sort(key))
    return forward, a, b


def test_identical_across_files_same_result_in_both_orders(tmp_path):
    result, a, b = _both_orders(tmp_path, [line("X"), line("S1")], [line("S1"), line("Y")])
    assert sorted(result.claims["setl_id"].to_list()) == ["S1", "X", "Y"]
    kept = result.claims.filter(pl.col("setl_id") == "S1").row(0, named=True)
    assert (kept["source_file"], kept["source_row"]) == (str(a), 2)  # first by file name, then row
    reject = result.rejects.row(0, named=True)
    assert (reject["source_file"], reject["source_row"]) == (str(b), 1)
    assert f"exact repeat of {a} row 2" in reject["message"]


def test_conflicting_across_files_same_result_in_both_orders(tmp_path):
    result, a, b = _both_orders(tmp_path, [line("S1")], [line("S1", person="P2")])
    assert result.claims.height == 0
    assert result.rejects.select("source_file", "reason_code").sort("source_file").rows() == [
        (str(a), "duplicate_setl_id"),
        (str(b), "duplicate_setl_id"),
    ]
    assert f"also appears in {b} row 1" in result.rejects.filter(pl.col("source_file") == str(a))["message"][0]


def test_same_file_given_twice(tmp_path):
    a = csv(tmp_path / "a.csv", line("S1"), line("S2"))
    result = read([a, a])
    assert sorted(result.claims["setl_id"].to_list()) == ["S1", "S2"]
    assert result.rejects["reason_code"].to_list() == ["duplicate_setl_id"] * 2
    assert [f.rows_rejected for f in result.files] == [0, 2]


# ---------------------------------------------------------------- order independence, at random

ROWS = [
    line("A"),
    line("B"),
    line("B"),  # exact repeat
    line("C"),
    line("C", total="99"),  # conflict
    line("D", total="x"),  # bad on its own
    line("E"),
    line("E", end="2021-03-03"),
    line("E"),  # conflict among three
    line("F", total="50.5"),
    line("F", total="50.50"),  # repeat, spelled differently
    line("G", end="2021-02-01"),  # end before start
    line("H"),
]


def _claims_without_position(result) -> list[tuple]:
    return sorted(result.claims.drop("source_file", "source_row").rows())


def _rejects_without_position(result) -> list[tuple]:
    return sorted(result.rejects.select("setl_id", "column", "reason_code").rows())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(ROWS), split=st.integers(min_value=0, max_value=len(ROWS)), batch=st.integers(1, 6))
def test_shuffled_rows_give_the_same_result(tmp_path_factory, order, split, batch):
    """Whatever the order of rows and files, and however the reader cuts them into batches
    (copies of one id in different batches are decided together)."""
    folder = tmp_path_factory.mktemp("shuffle")
    reference = read([csv(folder / "ref.csv", *ROWS)])
    saved, reader.BATCH_ROWS = reader.BATCH_ROWS, batch
    try:
        shuffled = read([csv(folder / "one.csv", *order[:split]), csv(folder / "two.csv", *order[split:])])
    finally:
        reader.BATCH_ROWS = saved
    assert _claims_without_position(shuffled) == _claims_without_position(reference)
    assert _rejects_without_position(shuffled) == _rejects_without_position(reference)
    assert sorted(reference.claims["setl_id"].to_list()) == ["A", "B", "F", "H"]
