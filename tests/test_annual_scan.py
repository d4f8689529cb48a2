"""The running maximum within a person-year (annual.running_max) against a plain grouped one."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings, strategies as st

from medclaim.annual import RUN_START, running_max

I64_MAX = 2**63 - 1


def grouped(frame: pl.DataFrame) -> list[int]:
    """The same quantity computed the obvious way: a run id, then a grouped running maximum."""
    return frame.select(pl.col("x").cum_max().over(pl.col(RUN_START).cum_sum()))["x"].to_list()


def test_running_max_restarts_at_each_person_year():
    # runs: [3, 1, 5] [0, 2] [7] [1, 1, 9, 4]
    x = [3, 1, 5, 0, 2, 7, 1, 1, 9, 4]
    start = [True, False, False, True, False, True, True, False, False, False]
    frame = pl.DataFrame({RUN_START: start, "x": x}, schema={RUN_START: pl.Boolean, "x": pl.Int64})
    assert frame.select(running_max(pl.col("x")))["x"].to_list() == [3, 3, 5, 0, 2, 7, 1, 1, 9, 9]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, I64_MAX)), min_size=1, max_size=60))
def test_running_max_equals_the_grouped_one_for_any_int64(rows):
    """Exact over the whole Int64 range (the packing is 128-bit): the extremes included."""
    rows[0] = (True, rows[0][1])  # a frame starts a person-year
    frame = pl.DataFrame({RUN_START: [r[0] for r in rows], "x": [r[1] for r in rows]},
                         schema={RUN_START: pl.Boolean, "x": pl.Int64})
    assert frame.select(running_max(pl.col("x")))["x"].to_list() == grouped(frame)
