"""The run summary's people counts, gathered chunk by chunk.

``SummaryAccumulator`` counts person-years off each chunk's settlement order (``run_start``)
instead of grouping by the person id; the counts must equal a plain group-by over the whole
ledger (the independent reading), whatever the chunks, rule-set periods and flags.
"""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_audit_chunks import RULE_SET, halves
from test_engine_properties import claim_sets
from helpers import claims_frame
from medclaim.rules import load_rulebook, resolve_rules_path
from medclaim.settle import settle_claims
from medclaim.summary import FLAGS, SummaryAccumulator

NONE = pl.DataFrame(schema={"reason_code": pl.String})


def chunk(rows: list[tuple], ruleset: str = "r/1") -> pl.DataFrame:
    """(psn_no, year, run_start, basic_cap_reached, critical_threshold_reached) rows of one chunk."""
    frame = pl.DataFrame(rows, schema={"psn_no": pl.String, "year": pl.Int32, "run_start": pl.Boolean,
                                       "basic_cap_reached": pl.Boolean, "critical_threshold_reached": pl.Boolean}, orient="row")
    return frame.with_columns(
        benefit_class=pl.lit("inpatient"), tier=pl.lit("t"), not_covered=pl.lit(False), critical_cap_reached=pl.lit(False),
        ruleset_id=pl.lit(ruleset), **{c: pl.lit(100, dtype=pl.Int64) for c in
                                      ["medfee_sumamt", "inscp_scp_amt", "hifp_pay", "hifmi_pay", "maf_pay", "fund_pay_sumamt", "psn_part_amt"]},
    )


def counts(*chunks: pl.DataFrame) -> tuple[int, dict[str, int]]:
    acc = SummaryAccumulator()
    for c in chunks:
        acc.add(c)
    r = acc.result(NONE, sum(c.height for c in chunks), [], 0)
    return r["people_settled"], r["people_reaching"]


def test_people_counted_by_hand():
    # P1 2021: two claims, the second cuts at a basic cap; P1 2022 (a person's second year: a
    # person-year of its own); P2: one claim; in the second chunk P3's third claim crosses the
    # 大病 threshold and P4's first and second both cut at a cap (one person, counted once)
    first = chunk([("P1", 2021, True, False, False), ("P1", 2021, False, True, False), ("P1", 2022, True, False, False),
                   ("P2", 2021, True, False, False)])
    second = chunk([("P3", 2021, True, False, False), ("P3", 2021, False, False, False), ("P3", 2021, False, False, True),
                    ("P4", 2021, True, True, False), ("P4", 2021, False, True, False)])
    people, reaching = counts(first, second)
    assert people == 5
    assert reaching == {"a basic annual cap or limit": 2, "大病 threshold": 1, "大病 annual cap": 0}


def test_a_person_year_in_two_rule_periods_is_counted_once():
    # the first half-year's chunk and the second's both hold P1 2021; the cap is reached in the second
    h1 = chunk([("P1", 2021, True, False, False), ("P2", 2021, True, False, False)], ruleset="r/h1")
    h2 = chunk([("P1", 2021, True, True, False)], ruleset="r/h2")
    people, reaching = counts(h1, h2)
    assert people == 2 and reaching["a basic annual cap or limit"] == 1
    # without the settlement order marks (a ledger read back): the same by grouping on the id
    people, reaching = counts(h1.drop("run_start"), h2.drop("run_start"))
    assert people == 2 and reaching["a basic annual cap or limit"] == 1


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(claim_sets(RULE_SET, max_size=24), st.integers(1, 6), st.booleans())
def test_chunked_counts_equal_a_group_by_over_the_ledger(tmp_path_factory, rows, chunk_rows, two_periods):
    rb = halves(tmp_path_factory.mktemp("rules")) if two_periods else load_rulebook(resolve_rules_path(RULE_SET))
    chunks: list[pl.DataFrame] = []
    settle_claims(claims_frame(rows), rb, sink=chunks.append, chunk_rows=chunk_rows)
    if not chunks:
        return
    people, reaching = counts(*chunks)
    ledger = pl.concat(chunks, how="diagonal_relaxed")
    expected = ledger.group_by("psn_no", "year").agg(pl.col(f).any() for f in FLAGS.values())
    assert people == expected.height
    assert reaching == {label: int(expected[flag].sum()) for label, flag in FLAGS.items()}
