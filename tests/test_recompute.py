"""A stored ledger is lean; the engine's working figures come back, exactly, by settling again.

The ledger keeps what was paid, the running totals and flags, not the deductible parts, ratio
parts, cap inputs, 大病 per band … (``settle.lean``).  ``medclaim.recompute`` settles a
person-year's rows again from the openings the ledger holds.  Proved here against what settle
itself computed, run by run (random claim sets split over monthly runs, late claims and a
reversal included): every working figure is equal, and no kept figure differs.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import book, claim, claims_frame
from medclaim import store
from medclaim.pipeline import append_claims, reverse_claims
from medclaim.recompute import RecomputeError, recompute
from medclaim.schema import CLAIM_SCHEMA
from medclaim.settle import engine_schema, is_working_column, ledger_schema, settle_claims
from test_ledger_continuation import claim_sets

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_stored_ledger_keeps_what_a_ledger_is_for():
    """The exact column list for the 东至 rule set: a new engine column must be placed on purpose."""
    cols = list(ledger_schema(book("anhui/dongzhi-2021")))
    # the claim as read (whatever the input schema holds), then what the engine adds and the ledger keeps
    assert [c for c in cols if c in CLAIM_SCHEMA] == list(CLAIM_SCHEMA)
    assert [c for c in cols if c not in CLAIM_SCHEMA] == [
        "tier", "place", "is_reversal", "year", "not_covered_reason",
        "hifp_raw", "ytd_admissions", "ytd_chronic_scope", "hifp_pay", "ytd_cap_chronic_outpatient",
        "ytd_cap_inpatient_and_chronic", "ytd_cap_general_outpatient", "ytd_cap_two_diseases", "ytd_critical_base",
        "hifmi_pay", "ytd_assist_base", "maf_pay", "act_pay_dedc", "fund_pay_sumamt", "psn_part_amt", "ytd_claims",
        "ytd_medfee", "ytd_hifp", "ytd_hifmi", "ytd_maf", "ytd_psn_part", "basic_cap_reached", "critical_cap_reached",
        "critical_threshold_reached", "not_covered", "benefit_class", "identity", "ruleset_id", "ruleset_version",
    ]
    working = [c for c in engine_schema(book("anhui/dongzhi-2021")) if c not in cols]
    assert all(is_working_column(c) for c in working) and "ip_deductible" in working and "ci_band2_pay" in working


def _reference(ledger_dir: Path, rows: list[dict], rb) -> pl.DataFrame:
    """What settle computes for this run: the library call the store makes, with the same openings."""
    acc = store.read_accumulator(ledger_dir)
    openings = acc.select(store.KEYS + store.ytd_columns(acc)) if acc is not None else None
    return settle_claims(claims_frame(rows), rb, openings).ledger


def _by_entry(frame: pl.DataFrame) -> dict[tuple, dict]:
    return {(r["setl_id"], r["is_reversal"], r["run"]): r for r in frame.iter_rows(named=True)}


@pytest.mark.parametrize("rules_name", ["full", "anhui/dongzhi-2021"])
@SETTINGS
@given(data=st.data())
def test_recomputed_figures_equal_what_settle_computed(rules_name, data):
    rows = data.draw(claim_sets(rules_name))
    rb = book(rules_name)
    # each claim goes to one of three monthly runs at random: late claims happen
    runs = [data.draw(st.integers(0, 2)) for _ in rows]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "ledger"
        reference = []
        run_no = 0
        for k in range(3):
            batch = [r for r, k_ in zip(rows, runs) if k_ == k]
            if not batch:
                continue
            ref = _reference(d, batch, rb)
            run_no += 1
            assert append_claims(d, claims_frame(batch), rb).run == run_no
            reference.append(ref.with_columns(run=pl.lit(run_no, pl.Int32)))
            if k == 1:  # take back the first claim of the ledger, through the same engine
                rev = reverse_claims(d, [rows[runs.index(0)]["setl_id"] if 0 in runs else batch[0]["setl_id"]], rb)
                run_no += 1
                reference.append(rev.settlement.ledger.with_columns(run=pl.lit(run_no, pl.Int32)))
        stored = store.read_ledger(d)
        assert not [c for c in stored.columns if is_working_column(c)]
        again = recompute(stored, {rs.id: rs for rs in rb.periods})
        assert again.differences.height == 0, again.differences
        expected = _by_entry(pl.concat(reference, how="diagonal_relaxed"))
        got = _by_entry(again.rows)
        assert got.keys() == expected.keys()
        working = [c for c in pl.concat(reference, how="diagonal_relaxed").columns if is_working_column(c)
                   and c not in ("run_start", "entry_rank")]
        for key, row in expected.items():
            for c in working:
                assert got[key][c] == row[c], (key, c, got[key][c], row[c])


def test_a_changed_figure_is_reported_not_hidden(tmp_path):
    rb = book("anhui/dongzhi-2021")
    append_claims(tmp_path, claims_frame([claim(setl_id="A", inscp_scp_amt=50_000_00)]), rb)
    stored = store.read_ledger(tmp_path).with_columns(hifp_pay=pl.col("hifp_pay") + 1)
    again = recompute(stored, {rs.id: rs for rs in rb.periods})
    assert again.differences.filter(pl.col("column") == "hifp_pay").height == 1
    # a 10,000-yuan-deductible-free admission: (50,000 − 500 deductible at a secondary hospital) × ratio
    assert again.rows["ip_deductible"][0] > 0


def test_a_code_the_rule_set_no_longer_maps_is_an_error(tmp_path):
    rb = book("anhui/dongzhi-2021")
    append_claims(tmp_path, claims_frame([claim(setl_id="A")]), rb)
    stored = store.read_ledger(tmp_path).with_columns(hosp_lv=pl.lit("99"))
    with pytest.raises(RecomputeError, match="hosp_lv '99' is no longer mapped"):
        recompute(stored, {rs.id: rs for rs in rb.periods})


def test_dates_do_not_matter_for_grouping_runs(tmp_path):
    """Two runs of the same person-year: the second opens where the first closed."""
    rb = book("anhui/dongzhi-2021")
    first = [claim(setl_id="A", inscp_scp_amt=150_000_00, enddate=dt.date(2021, 3, 10))]
    second = [claim(setl_id="B", inscp_scp_amt=150_000_00, begndate="2021-02-01", enddate="2021-02-05")]  # late
    append_claims(tmp_path, claims_frame(first), rb)
    append_claims(tmp_path, claims_frame(second), rb)
    again = recompute(store.read_ledger(tmp_path), {rs.id: rs for rs in rb.periods})
    b = again.rows.filter(pl.col("setl_id") == "B").row(0, named=True)
    assert b["late"] and b["ip_admission_no"] == 2  # the second admission of the year, though it ended first
    assert again.differences.height == 0
