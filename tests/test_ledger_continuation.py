"""Monthly runs against a persistent ledger (``--ledger``): continuation, idempotence, late claims,
the accumulator (rebuild / verify) and manifests.

The central property: settling January then February into a ledger gives, claim for claim, exactly
the ledger that settling January + February in one run gives, whenever no February claim ends
before a January one — proved over random claim sets and random split dates (hypothesis).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import book, claim, claims_frame, full_ledger
from medclaim import store
from medclaim.pipeline import append_claims
from medclaim.schema import RejectReason
from medclaim.settle import settle_claims
from medclaim.status import Exit
from medclaim.output import read_people_csv

SETTINGS = settings(
    max_examples=int(os.environ.get("LEDGER_PROPERTY_EXAMPLES", "30")), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
#: Columns the one-run ledger has and a continued ledger may differ in by construction.
NOT_COMPARED = {"run_start"}  # marks the first claim of a person-year *within a run*


# ------------------------------------------------------------------ random claim sets

PLACES = ["", "本地", "市内异地", "省内异地", "跨省异地"]
amount = st.one_of(
    st.integers(0, 1_000_00), st.integers(0, 30_000_00), st.integers(0, 200_000_00), st.integers(0, 10**10)
)
small = st.one_of(st.just(0), st.integers(0, 3_000_00))


@st.composite
def claim_sets(draw, rules_name: str, max_size: int = 24):
    rs = book(rules_name).periods[0]
    codes = rs.codes
    first, last = rs.ruleset.effective_from, rs.ruleset.effective_to
    # at most two benefit years, so that person-years continue across runs often
    last = min(last, dt.date(first.year + 1, 12, 31))
    span = (last - first).days
    people = [
        {"psn_no": f"P{i}", "psn_idet_type": draw(st.sampled_from(sorted(codes.identity)))}
        for i in range(draw(st.integers(1, 4)))
    ]
    rows = []
    for i in range(draw(st.integers(1, max_size))):
        p = draw(st.sampled_from(people))
        end = first + dt.timedelta(days=draw(st.integers(0, span)))
        rows.append(claim(
            setl_id=f"S{i:03d}", psn_no=p["psn_no"], psn_idet_type=p["psn_idet_type"],
            med_type=draw(st.sampled_from(sorted(codes.med_type))),
            hosp_lv=draw(st.sampled_from(sorted(codes.hosp_lv))),
            pay_loc=draw(st.sampled_from(PLACES)),
            refl_flag=draw(st.sampled_from([True, False])),
            begndate=end - dt.timedelta(days=draw(st.integers(0, 15))), enddate=end,
            inscp_scp_amt=draw(amount), preselfpay_amt=draw(small), fulamt_ownpay_amt=draw(small),
            overlmt_selfpay=draw(small), source_row=i + 1,
        ))
    return rows


def compared_rows(ledger: pl.DataFrame, columns: list[str]) -> dict[str, dict]:
    return {r["setl_id"]: r for r in ledger.select(columns).iter_rows(named=True)}


def assert_same_as_one_run(ledger_dir: Path, rows: list[dict], rules_name: str) -> None:
    whole = settle_claims(claims_frame(rows), book(rules_name))
    continued = store.read_ledger(ledger_dir)
    assert continued.height == whole.ledger.height
    # the stored ledger is lean (the working figures are recomputed: tests/test_recompute.py)
    columns = [c for c in whole.ledger.columns if c not in NOT_COMPARED and c in continued.columns]
    assert any(c.startswith("ytd_") for c in columns) and "hifp_pay" in columns
    assert compared_rows(continued, columns) == compared_rows(whole.ledger, columns)
    # the accumulator is the one run's closing balances, and it verifies against the entries
    acc = store.read_accumulator(ledger_dir)
    closing = whole.closing.select(store.KEYS + sorted(store.ytd_columns(whole.closing)))
    assert acc.select(closing.columns).sort(store.KEYS).equals(closing.sort(store.KEYS))
    assert store.verify(ledger_dir) == []


@pytest.mark.parametrize("rules_name", ["full", "anhui/dongzhi-2021"])
@SETTINGS
@given(data=st.data())
def test_jan_then_feb_equals_one_run(rules_name, data):
    rows = data.draw(claim_sets(rules_name))
    ends = sorted({r["enddate"] for r in rows})
    # split points: any distinct end date (or before all / after all); no later-run claim ends earlier
    cuts = sorted(data.draw(st.lists(st.sampled_from(ends + [ends[-1] + dt.timedelta(days=1)]), min_size=1, max_size=3)))
    rb = book(rules_name)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "ledger"
        lo = None
        for cut in cuts + [None]:
            batch = [r for r in rows if (lo is None or r["enddate"] >= lo) and (cut is None or r["enddate"] < cut)]
            lo = cut
            if not batch:
                continue
            result = append_claims(d, claims_frame(batch), rb)
            assert result.status == Exit.OK, result.summary
            assert result.summary["late_claims"] == 0
        assert_same_as_one_run(d, rows, rules_name)


def test_three_months_via_ledger_equal_one_run(tmp_path):
    rows = [
        claim(setl_id="A1", psn_idet_type="低保对象", inscp_scp_amt=40_000_00, preselfpay_amt=2_000_00, begndate="2021-01-05", enddate="2021-01-15"),
        claim(setl_id="A2", psn_idet_type="低保对象", med_type="14", inscp_scp_amt=2_000_00, begndate="2021-02-01", enddate="2021-02-01"),
        claim(setl_id="A3", psn_idet_type="低保对象", med_type="11", hosp_lv="08", inscp_scp_amt=300_00, begndate="2021-02-15", enddate="2021-02-15"),
        claim(setl_id="A4", psn_idet_type="低保对象", inscp_scp_amt=60_000_00, hosp_lv="02", pay_loc="省内异地", begndate="2021-03-01", enddate="2021-03-20"),
        claim(setl_id="B1", psn_no="P2", inscp_scp_amt=90_000_00, begndate="2021-01-01", enddate="2021-01-09"),
        claim(setl_id="B2", psn_no="P2", inscp_scp_amt=90_000_00, begndate="2021-03-01", enddate="2021-03-09"),
    ]
    rb = book("full")
    for month in (1, 2, 3):
        batch = [r for r in rows if r["enddate"].month == month]
        assert append_claims(tmp_path, claims_frame(batch), rb).status == Exit.OK
    assert_same_as_one_run(tmp_path, rows, "full")
    head = store.read_head(tmp_path)
    assert (head.run, head.entries, len(head.parts)) == (3, 6, 3)
    assert store.read_ledger(tmp_path)["entry_no"].to_list() == [1, 2, 3, 4, 5, 6]


# ------------------------------------------------------------------ idempotence


def month(tmp_path):
    return [
        claim(setl_id="J1", inscp_scp_amt=10_000_00, begndate="2021-01-02", enddate="2021-01-10"),
        claim(setl_id="J2", psn_no="P2", inscp_scp_amt=50_000_00, begndate="2021-01-03", enddate="2021-01-20"),
    ]


def test_rerunning_the_same_month_settles_nothing_and_changes_nothing(tmp_path):
    rb = book("full")
    jan = claims_frame(month(tmp_path))
    first = append_claims(tmp_path, jan, rb)
    assert first.status == Exit.OK and first.run == 1
    before = (tmp_path / "HEAD.json").read_bytes()
    again = append_claims(tmp_path, jan, rb)
    assert again.status == Exit.NOTHING_NEW
    assert again.run is None
    assert again.summary["already_settled"] == 2 and again.summary["claims_settled"] == 0
    assert any("nothing new: 2 claim(s) already settled" in m for m in again.messages)
    assert (tmp_path / "HEAD.json").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["run-000001"]


def test_a_file_repeating_some_ids_settles_only_the_new_ones(tmp_path):
    rb = book("full")
    jan = month(tmp_path)
    append_claims(tmp_path, claims_frame(jan), rb)
    feb = jan + [claim(setl_id="F1", inscp_scp_amt=20_000_00, begndate="2021-02-01", enddate="2021-02-05")]
    r = append_claims(tmp_path, claims_frame(feb), rb)
    assert r.status == Exit.REJECTS  # completed; the repeated ids are reported in rejects.csv
    assert r.summary["claims_settled"] == 1 and r.summary["already_settled"] == 2
    assert r.summary["rows_read"] == r.summary["claims_settled"] + r.summary["rows_rejected"]
    rejects = read_people_csv(tmp_path / "runs" / "run-000002" / "rejects.csv")
    assert sorted(rejects["setl_id"].to_list()) == ["J1", "J2"]
    assert set(rejects["reason_code"]) == {RejectReason.ALREADY_SETTLED.value}
    assert all("already settled in run 1" in m for m in rejects["message"])
    ledger = store.read_ledger(tmp_path)
    assert ledger["setl_id"].to_list() == ["J1", "J2", "F1"] or sorted(ledger["setl_id"].to_list()) == ["F1", "J1", "J2"]
    assert ledger.filter(pl.col("setl_id") == "F1")["ytd_claims"].item() == 2  # continued P1's year
    assert store.verify(tmp_path) == []


def test_nothing_but_bad_rows_is_still_a_run_so_rejects_are_not_lost(tmp_path):
    rb = book("full")
    bad = claims_frame([claim(setl_id="X1", med_type="99")])  # not mapped by the rule set
    r = append_claims(tmp_path, bad, rb)
    assert r.status == Exit.REJECTS and r.run == 1
    assert read_people_csv(tmp_path / "runs" / "run-000001" / "rejects.csv")["reason_code"].to_list() == ["unknown_code"]
    head = store.read_head(tmp_path)
    assert head.entries == 0 and head.parts == []
    assert store.read_ledger(tmp_path).height == 0


# ------------------------------------------------------------------ late claims


def test_a_late_claim_is_settled_after_the_year_and_flagged(tmp_path):
    rb = book("full")
    append_claims(tmp_path, claims_frame([
        claim(setl_id="A", inscp_scp_amt=10_000_00, begndate="2021-03-01", enddate="2021-03-10"),
    ]), rb)
    late = claim(setl_id="B", inscp_scp_amt=10_000_00, begndate="2021-01-01", enddate="2021-01-10")
    on_time = claim(setl_id="C", psn_no="P2", inscp_scp_amt=10_000_00, begndate="2021-01-01", enddate="2021-01-10")
    r = append_claims(tmp_path, claims_frame([late, on_time]), rb)
    assert r.summary["late_claims"] == 1
    assert any("1 late claim" in m and "B" in m for m in r.messages)
    led = {x["setl_id"]: x for x in full_ledger(tmp_path, rb).iter_rows(named=True)}
    assert led["B"]["late"] is True and led["C"]["late"] is False and led["A"]["late"] is False
    # B is the person's 2nd admission (settled after A although it ended earlier): reduced deductible
    assert led["B"]["ip_admission_no"] == 2
    assert led["B"]["ytd_claims"] == 2
    manifest = json.loads((tmp_path / "runs" / "run-000002" / "manifest.json").read_text())
    assert manifest["counts"]["late_claims"] == 1
    assert store.verify(tmp_path) == []


def test_same_day_claim_sorting_before_the_last_one_is_late(tmp_path):
    rb = book("full")
    append_claims(tmp_path, claims_frame([claim(setl_id="M", begndate="2021-03-01", enddate="2021-03-10")]), rb)
    r = append_claims(tmp_path, claims_frame([
        claim(setl_id="L", begndate="2021-03-01", enddate="2021-03-10"),  # same dates, smaller id → late
        claim(setl_id="N", begndate="2021-03-01", enddate="2021-03-10"),  # same dates, larger id → not late
    ]), rb)
    late = dict(store.read_ledger(tmp_path).select("setl_id", "late").iter_rows())
    assert late == {"M": False, "L": True, "N": False}
    assert r.summary["late_claims"] == 1


def test_late_claims_in_a_later_rule_period_compare_with_the_ledgers_last_claim(tmp_path):
    # two half-year periods: the run's July claim opens from the totals its March claim left, but
    # is late against the ledger's August claim all the same (and the September one is not)
    from test_audit_chunks import halves

    rb = halves(tmp_path)
    led = tmp_path / "ledger"
    append_claims(led, claims_frame([claim(setl_id="A", begndate="2021-08-01", enddate="2021-08-10")]), rb)
    r = append_claims(led, claims_frame([
        claim(setl_id="X", begndate="2021-03-01", enddate="2021-03-05"),
        claim(setl_id="Y", begndate="2021-07-10", enddate="2021-07-15"),
        claim(setl_id="Z", begndate="2021-09-01", enddate="2021-09-03"),
        claim(setl_id="Q", psn_no="P2", begndate="2021-07-10", enddate="2021-07-15"),  # no earlier claim
    ]), rb)
    late = dict(store.read_ledger(led).select("setl_id", "late").iter_rows())
    assert late == {"A": False, "X": True, "Y": True, "Z": False, "Q": False}
    assert r.summary["late_claims"] == 2
    assert store.verify(led) == []


# ------------------------------------------------------------------ accumulator, verify, rebuild


def three_runs(tmp_path) -> Path:
    rb = book("full")
    for m, rows in enumerate([
        [claim(setl_id="A1", inscp_scp_amt=30_000_00, begndate="2021-01-01", enddate="2021-01-09"),
         claim(setl_id="B1", psn_no="P2", med_type="14", inscp_scp_amt=3_000_00, begndate="2021-01-05", enddate="2021-01-05")],
        [claim(setl_id="A2", inscp_scp_amt=80_000_00, begndate="2021-02-01", enddate="2021-02-09")],
        [claim(setl_id="B2", psn_no="P2", med_type="14", inscp_scp_amt=5_000_00, begndate="2021-03-05", enddate="2021-03-05")],
    ]):
        append_claims(tmp_path, claims_frame(rows), rb)
    return tmp_path


def test_accumulator_equals_ledger_rebuild(tmp_path):
    d = three_runs(tmp_path)
    acc = store.read_accumulator(d).sort(store.KEYS)
    rebuilt = store.accumulator_from_entries(store.scan_ledger(d)).sort(store.KEYS)  # (kept in person-hash order)
    assert acc.select(rebuilt.columns).equals(rebuilt)
    assert acc.filter(pl.col("psn_no") == "P1").select("last_setl_id").item() == "A2"


def test_verify_catches_a_changed_accumulator_and_rebuild_repairs_it(tmp_path):
    d = three_runs(tmp_path)
    head = store.read_head(d)
    acc_path = d / head.accumulator.file
    wrong = store.read_accumulator(d).with_columns(
        ytd_hifp=pl.when(pl.col("psn_no") == "P1").then(pl.col("ytd_hifp") + 1).otherwise(pl.col("ytd_hifp"))
    )
    wrong.write_parquet(acc_path)
    problems = store.verify(d)
    assert problems and "sha256" in problems[0]
    # a tamperer who also fixes the checksum is still caught by the recomputation
    data = json.loads((d / "HEAD.json").read_text())
    data["accumulator"].update(sha256=store.sha256_file(acc_path), bytes=acc_path.stat().st_size)
    (d / "HEAD.json").write_text(json.dumps(data))
    problems = store.verify(d)
    assert any("ytd_hifp differs for 1 person-year" in p for p in problems), problems
    store.rebuild(d)
    assert store.verify(d) == []
    assert store.read_head(d).run == 3  # a rebuild is not a run


def test_verify_catches_a_changed_part(tmp_path):
    d = three_runs(tmp_path)
    part = d / store.read_head(d).parts[1].file
    pl.read_parquet(part).with_columns(hifp_pay=pl.col("hifp_pay") + 100).write_parquet(part)
    assert any("sha256" in p for p in store.verify(d))


def test_openings_come_from_the_accumulator_not_the_parts(tmp_path):
    """The next run reads the compact accumulator: hiding the parts does not change its result."""
    d = three_runs(tmp_path)
    rb = book("full")
    feb = claims_frame([claim(setl_id="A9", inscp_scp_amt=10_000_00, begndate="2021-04-01", enddate="2021-04-09")])
    with store.Ledger.open(d) as lg:
        full = lg.plan_settle(feb, rb).read_entries()
    # the id lookup reads only setl_id/is_reversal/entry_no/run of the parts; the openings none of them
    head = store.read_head(d)
    for ref in head.parts:
        p = d / ref.file
        pl.read_parquet(p, columns=["setl_id", "is_reversal", "entry_no", "run"]).write_parquet(p)
        ref.sha256, ref.bytes = store.sha256_file(p), p.stat().st_size  # HEAD names the thinned parts
    store.write_head(d, head)
    with store.Ledger.open(d) as lg:
        thin = lg.plan_settle(feb, rb).read_entries()
    assert thin.equals(full)


# ------------------------------------------------------------------ manifests and reading


def test_manifest_records_what_an_auditor_needs(tmp_path):
    d = three_runs(tmp_path)
    runs = store.list_runs(d)
    assert [m["run"] for m in runs] == [1, 2, 3]
    m = runs[1]
    assert m["kind"] == "settle"
    assert m["counts"]["claims_settled"] == 1 and m["counts"]["rows_read"] == 1
    assert m["rules"]["periods"][0]["id"] == "test/full" and len(m["rules"]["periods"][0]["sha256"]) == 64
    assert m["environment"]["medclaim"] and m["environment"]["polars"] == pl.__version__
    assert m["started_utc"] <= m["ended_utc"]
    assert m["ledger_before"] == {"run": 1, "entries": 2} and m["ledger_after"] == {"run": 2, "entries": 3}
    assert sum(m["totals_fen"][k] for k in ("hifp_pay", "hifmi_pay", "maf_pay")) == m["totals_fen"]["fund_pay_sumamt"]
    assert {p.name for p in (d / "runs" / "run-000002").iterdir()} == {"manifest.json", "rejects.csv", "summary.json", "summary.txt",
                                                                  "committed.json"}


def test_read_ledger_reads_an_out_directory_too(tmp_path):
    rb = book("full")
    s = settle_claims(claims_frame([claim(setl_id="Z1")]), rb)
    out = tmp_path / "out"
    out.mkdir()
    s.ledger.write_parquet(out / "ledger.parquet")
    assert store.read_ledger(out)["setl_id"].to_list() == ["Z1"]
    with pytest.raises(store.NotALedger):
        store.read_ledger(tmp_path / "nowhere")


def test_an_out_directory_is_not_taken_for_a_ledger(tmp_path):
    (tmp_path / "ledger.parquet").write_bytes(b"")
    with pytest.raises(store.NotALedger, match="--out"):
        append_claims(tmp_path, claims_frame([claim()]), book("full"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(store.NotALedger, match="not a medclaim ledger"):
        append_claims(other, claims_frame([claim()]), book("full"))


def test_verify_catches_an_id_paid_twice_even_with_consistent_checksums(tmp_path):
    d = three_runs(tmp_path)
    head = json.loads((d / "HEAD.json").read_text())
    part = d / head["parts"][2]["file"]
    frame = pl.read_parquet(part).with_columns(setl_id=pl.lit("A1"))  # run 3's claim under run 1's id
    frame.write_parquet(part)
    head["parts"][2].update(sha256=store.sha256_file(part), bytes=part.stat().st_size)
    (d / "HEAD.json").write_text(json.dumps(head))
    problems = store.verify(d)
    assert any("settled more than once net, e.g. A1" in p for p in problems), problems
