"""Contributions (筹资) from the enrollment roster with the 文水 2024 figures of 文医保发〔2023〕10号 一:
1,020 yuan per person = 640 public finance + 380 individual; medical assistance pays 特困人员 in
full, 低保对象 304 (pays 76), 返贫致贫人口 342 (pays 38), 乡村振兴部门监测对象 280 (pays 100)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from medclaim.cli import app
from medclaim.contributions import NoContributionRules, compute_contributions
from medclaim.roster import ROSTER_SCHEMA, Roster
from medclaim.rules import load_rulebook
from medclaim.status import Exit

Y = 100
D = dt.date
(WS,) = load_rulebook("shanxi/wenshui-2024").periods


def roster(*rows: dict) -> Roster:
    base = {k: None for k in ROSTER_SCHEMA} | {"psn_idet_type": "", "source_file": "r.csv", "pay_date": D(2023, 12, 1)}
    return Roster(rows=pl.DataFrame([base | {"source_row": i + 1} | r for i, r in enumerate(rows)], schema=ROSTER_SCHEMA), files=["r.csv"])


def test_the_wenshui_2024_figures_are_in_the_rule_set_verified():
    c = WS.contributions
    assert (c.per_person, c.fiscal, c.individual) == (1_020 * Y, 640 * Y, 380 * Y)
    assert c.status == "verified" and WS.sources[c.source].doc_no == "文医保发〔2023〕10号"
    assert c.aid["tekun"].full and [c.aid[k].amount for k in ("dibao", "fanpin", "monitored")] == [304 * Y, 342 * Y, 280 * Y]
    assert all(a.status == "verified" and a.ref for a in c.aid.values())


def test_per_person_aid_and_own_payment_by_identity():
    ros = roster(
        {"psn_no": "P1"},
        {"psn_no": "P2", "psn_idet_type": "特困人员"},
        {"psn_no": "P3", "psn_idet_type": "低保对象"},
        {"psn_no": "P4", "psn_idet_type": "返贫致贫人口"},
        {"psn_no": "P5", "psn_idet_type": "乡村振兴部门监测对象"},
        # 低保 only from April; paid in December: the identity on the day of payment counts → none
        {"psn_no": "P6", "psn_idet_type": "", "idet_enddate": D(2024, 3, 31)},
        {"psn_no": "P6", "psn_idet_type": "低保对象", "idet_begndate": D(2024, 4, 1)},
    )
    r = compute_contributions(ros, WS)
    got = {p["psn_no"]: (p["identity"], p["assistance_aid"], p["person_pays"]) for p in r.people.iter_rows(named=True)}
    assert got == {
        "P1": ("ordinary", 0, 380 * Y),
        "P2": ("tekun", 380 * Y, 0),  # full aid: the whole 380
        "P3": ("dibao", 304 * Y, 76 * Y),
        "P4": ("fanpin", 342 * Y, 38 * Y),
        "P5": ("monitored", 280 * Y, 100 * Y),
        "P6": ("ordinary", 0, 380 * Y),
    }
    assert set(r.people["contribution"]) == {1_020 * Y} and set(r.people["fiscal"]) == {640 * Y}
    # totals: 6 people × 1,020 = 6,120 = 6 × 640 (3,840) + aid 380 + 304 + 342 + 280 (1,306) + own 974
    assert r.total == {"people": 6, "contribution": 6_120 * Y, "fiscal": 3_840 * Y, "individual": 2_280 * Y,
                       "assistance_aid": 1_306 * Y, "person_pays": 974 * Y}
    by = {x["identity"]: x for x in r.by_identity.iter_rows(named=True)}
    assert (by["ordinary"]["people"], by["ordinary"]["person_pays"]) == (2, 760 * Y)


def test_rule_set_without_contributions_says_so():
    (dz,) = load_rulebook("anhui/dongzhi-2021").periods
    with pytest.raises(NoContributionRules, match="contributions"):
        compute_contributions(roster({"psn_no": "P1"}), dz)


def test_unmapped_roster_identity_is_an_error_naming_it():
    with pytest.raises(ValueError, match="外星人"):
        compute_contributions(roster({"psn_no": "P1", "psn_idet_type": "外星人"}), WS)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(idents=st.lists(st.sampled_from(sorted(WS.codes.identity)), min_size=1, max_size=30))
def test_contributions_add_up_for_any_roster(idents):
    r = compute_contributions(roster(*[{"psn_no": f"P{i}", "psn_idet_type": v} for i, v in enumerate(idents)]), WS)
    n = len(idents)
    t = r.total
    assert t["contribution"] == n * 1_020 * Y == t["fiscal"] + t["assistance_aid"] + t["person_pays"]
    assert 0 <= t["assistance_aid"] <= n * 380 * Y
    assert r.by_identity["people"].sum() == n


def test_contributions_command(tmp_path):
    f = tmp_path / "roster.csv"
    f.write_bytes("人员编号,人员身份类别,缴费日期\nP1,,2023-12-01\nP2,低保对象,2023-12-01\n".encode("gbk"))
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["contributions", "--roster", str(f), "--rules", "shanxi/wenshui-2024", "--out", str(out), "--lang", "en"])
    assert r.exit_code == Exit.OK, r.output
    assert "2,040.00" in r.output and "304.00" in r.output and "456.00" in r.output  # 380 + 76
    s = json.loads((out / "contributions-summary.json").read_text(encoding="utf-8"))
    assert s["total_fen"]["person_pays"] == 456 * Y
    csv = (out / "contributions.csv").read_text(encoding="utf-8-sig")
    assert "P2,低保对象,dibao" in csv and "304.00" in csv


def test_contributions_command_without_figures_exits_3(tmp_path):
    f = tmp_path / "roster.csv"
    f.write_text("人员编号\nP1\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["contributions", "--roster", str(f), "--rules", "anhui/dongzhi-2021"])
    assert r.exit_code == Exit.INVALID_RULES and "contributions" in r.output
