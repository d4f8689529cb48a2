"""`medclaim compare --roster` = settling once with A and once with B, each with that roster."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from test_compare_equivalence import FILES, PAYS, SETS, assert_changed_as_settled, run, variant_file

from medclaim.io import read_claims


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp-roster")
    # everyone in the extracts enrolled before the collection period ended; every third person 低保
    # all year whatever the hospital wrote, so the roster changes identities (and so payments)
    people = sorted(set(read_claims([Path(f) for f in FILES]).take_claims()["psn_no"].to_list()))
    roster = tmp / "roster.csv"
    roster.write_text("人员编号,人员身份类别,缴费日期\n" + "".join(
        f"{p},{'低保对象' if i % 3 == 0 else ''},2020-12-01\n" for i, p in enumerate(people)), encoding="utf-8")
    b_file = variant_file(tmp)
    led = {}
    for name, rules in (("a", "anhui/dongzhi-2021"), ("b", str(b_file))):
        r = run("settle", *FILES, "--rules", rules, "--roster", str(roster), "--out", str(tmp / f"settle-{name}"), "-q")
        assert r.exit_code in (0, 1), r.output
        led[name] = pl.read_parquet(tmp / f"settle-{name}" / "ledger.parquet")
    plain = run("settle", *FILES, "--rules", "anhui/dongzhi-2021", "--out", str(tmp / "settle-plain"), "-q")
    led["plain"] = pl.read_parquet(tmp / "settle-plain" / "ledger.parquet")
    sets = [a for s in SETS for a in ("--set", s)]
    for d, extra in (("two-files", ["--rules", str(b_file)]), ("with-set", sets)):
        r = run("compare", *FILES, "--rules", "anhui/dongzhi-2021", *extra, "--roster", str(roster), "--out", str(tmp / d), "-q")
        assert r.exit_code in (0, 1), r.output
    return tmp, led


def test_the_roster_changes_identities_and_payments(runs):
    _, led = runs
    both = led["a"].join(led["plain"], on="setl_id", suffix="_plain")
    assert both.filter((pl.col("identity") == "dibao") & (pl.col("identity_plain") != "dibao")).height > 0
    assert both.filter(pl.col("psn_part_amt") != pl.col("psn_part_amt_plain")).height > 0


def test_compare_with_the_roster_equals_the_two_settlements_with_it(runs):
    tmp, led = runs
    both = led["a"].select("setl_id", *PAYS).join(led["b"].select("setl_id", *PAYS), on="setl_id", suffix="_b")
    differs = both.filter(pl.any_horizontal([pl.col(c) != pl.col(f"{c}_b") for c in PAYS]))
    for d in ("two-files", "with-set"):
        data = json.loads((tmp / d / "compare.json").read_text(encoding="utf-8"))
        assert data["claims_compared"] == led["a"].height == led["b"].height
        for c in PAYS:
            t = data["totals_fen"][c]
            assert (t["a"], t["b"]) == (led["a"][c].sum(), led["b"][c].sum()), (d, c)
        assert_changed_as_settled(pl.read_parquet(tmp / d / "changed.parquet"), led, differs)
