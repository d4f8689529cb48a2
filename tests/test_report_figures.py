"""medclaim report: figures of a hand-worked ledger (tests/report_ledger.py), summed by hand."""

from __future__ import annotations

import json

import pytest

from medclaim.report import ReportError, build_report
from medclaim.report.budget import load_budget, project

from report_ledger import report_with_budget, rules_with_assisted_target, write_out_dir


@pytest.fixture
def report(tmp_path):
    out = report_with_budget(tmp_path, rules=str(rules_with_assisted_target(tmp_path)))
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_totals_of_the_year(report):
    t = report["totals_fen"]
    # 2021 rows 1–7; row 8 is benefit year 2020; row 7 reverses row 6
    assert t["claims"] == 6 and t["reversals"] == 1 and t["people"] == 4
    assert t["medfee_sumamt"] == 1_000_000 + 3_000_000 + 10_000 + 500_000 + 2_000_000 + 20_000 - 20_000 == 6_510_000
    assert t["inscp_scp_amt"] == 5_610_000
    assert t["hifp_pay"] == 500_000 + 1_500_000 + 6_000 + 400_000 + 1_000_000 == 3_406_000
    assert t["hifmi_pay"] == 500_000
    assert t["maf_pay"] == 162_000
    assert t["fund_pay_sumamt"] == 4_068_000
    assert t["psn_part_amt"] == 2_442_000
    assert report["as_of"] == "2021-04-28" and report["months"] == 4


def test_months_and_year_to_date(report):
    m = {r["month"]: r for r in report["monthly"]}
    assert sorted(m) == [1, 2, 3, 4]  # March had no claim: a row of zeros, not a gap
    assert (m[1]["hifp_pay"], m[1]["maf_pay"], m[1]["psn_part_amt"], m[1]["claims"], m[1]["people"]) == (506_000, 2_000, 502_000, 2, 2)
    assert (m[2]["hifp_pay"], m[2]["hifmi_pay"], m[2]["claims"], m[2]["reversals"], m[2]["people"]) == (1_500_000, 200_000, 2, 1, 2)
    assert m[3]["fund_pay_sumamt"] == 0 and m[3]["ytd_hifp_pay"] == 2_006_000
    assert (m[4]["hifp_pay"], m[4]["hifmi_pay"], m[4]["maf_pay"]) == (1_400_000, 300_000, 160_000)
    assert m[4]["ytd_hifp_pay"] == 3_406_000 and m[4]["ytd_fund_pay_sumamt"] == 4_068_000
    # distinct people to date: P1, P2 in January; P4 in February; P3 in April
    assert [m[i]["ytd_people"] for i in (1, 2, 3, 4)] == [2, 3, 3, 4]


def test_by_tier_hospital_identity_place(report):
    tier = {r["tier"]: r for r in report["by"]["tier"]}
    assert [r["tier"] for r in report["by"]["tier"]] == ["primary", "secondary", "tertiary"]  # the rule set's order
    assert (tier["primary"]["hifp_pay"], tier["secondary"]["hifp_pay"], tier["tertiary"]["hifp_pay"]) == (406_000, 500_000, 2_500_000)
    hosp = report["by"]["hospital"]
    assert [(h["fixmedins_code"], h["fund_pay_sumamt"]) for h in hosp] == [("H2", 1_700_000), ("H3", 1_400_000), ("H1", 968_000)]
    assert hosp[0]["fixmedins_name"] == "省立医院" and hosp[1]["fixmedins_name"] is None
    ident = {r["identity"]: r for r in report["by"]["identity"]}
    assert (ident["ordinary"]["claims"], ident["ordinary"]["reversals"], ident["ordinary"]["people"]) == (3, 1, 2)
    assert (ident["tekun"]["maf_pay"], ident["dibao"]["maf_pay"]) == (62_000, 100_000)
    place = {r["place"]: r["medfee_sumamt"] for r in report["by"]["place"]}
    assert place == {"local": 1_510_000, "in_province": 3_000_000, "out_of_province": 2_000_000}
    cls = {r["benefit_class"]: r["hifp_pay"] for r in report["by"]["benefit_class"]}
    assert cls == {"inpatient": 3_400_000, "general_outpatient": 6_000}


def test_rates_beside_targets(report):
    rates = {r["key"]: r for r in report["rates"]}
    ip = rates["inpatient_fund_ratio"]
    # basic 3,400,000 / scope 5,600,000 = 60.714… % → 6071 bp; target ≥ 70 %
    assert (ip["paid_fen"], ip["scope_fen"], ip["rate_bp"], ip["target_bp"], ip["met"]) == (3_400_000, 5_600_000, 6071, 7000, False)
    assert "东医保〔2021〕6号" in ip["source"] and "70%以上" in ip["quote"]
    go = rates["general_outpatient_ratio"]
    # 6,000 + 4,000 − 4,000 over 10,000 + 16,000 − 16,000: the reversal takes its claim back out
    assert (go["paid_fen"], go["scope_fen"], go["rate_bp"], go["met"]) == (6_000, 10_000, 6000, True)
    a = rates["assisted_inpatient_compliant_ratio"]
    # row 4 only: tekun, local; row 5 (dibao) is out of province
    assert (a["paid_fen"], a["scope_fen"], a["rate_bp"], a["met"], a["claims"]) == (460_000, 500_000, 9200, True, 1)


def test_people_reaching_thresholds_and_caps(report):
    assert report["people_reaching"] == {"basic_cap": 1, "critical_threshold": 2, "critical_cap": 1}


def test_budget_projection_and_risk_warning(report):
    b = report["budget"]
    assert b["projection"]["method"] == "linear_run_rate" and b["projection"]["months_elapsed"] == 4
    funds = {f["fund"]: f for f in b["funds"]}
    # basic: 3,406,000 to date over 4 months → × 12 / 4 = 10,218,000 > budget 10,000,000
    assert (funds["basic"]["projected_fen"], funds["basic"]["risk_warning"]) == (10_218_000, True)
    assert funds["basic"]["used_bp"] == 3406
    # 大病: 500,000 → 1,500,000 ≤ 2,000,000
    assert (funds["critical"]["projected_fen"], funds["critical"]["risk_warning"]) == (1_500_000, False)
    assert "assistance" not in funds
    p = b["critical_premium"]
    # premium 1,800,000; paid 500,000 = 27.78 %; projected 1,500,000; surplus 300,000
    assert (p["premium_fen"], p["paid_fen"], p["payout_bp"], p["projected_paid_fen"], p["projected_result_fen"]) == (
        1_800_000, 500_000, 2778, 1_500_000, 300_000)
    assert len(report["alerts"]) == 1 and "基金风险预警" in report["alerts"][0] and "统筹基金" in report["alerts"][0]


def test_projection_rounds_half_up_and_stops_at_december():
    assert project(1, 7) == 2  # 12/7 = 1.714… → 2
    assert project(7, 8) == 11  # 10.5 → 11
    assert project(123, 12) == 123


def test_other_year_and_unknown_year(tmp_path):
    ledger = write_out_dir(tmp_path)
    r = build_report(ledger, tmp_path / "o2020", year=2020)
    assert r.figures.totals["hifp_pay"] == 90_000 and r.figures.months == 12
    with pytest.raises(ReportError, match="no claims of benefit year 2019"):
        build_report(ledger, tmp_path / "o", year=2019)


def test_ledger_without_hospital_columns(tmp_path):
    ledger = write_out_dir(tmp_path, hospital=False)
    r = build_report(ledger, tmp_path / "o")
    assert r.figures.year == 2021  # the latest year by default
    assert r.figures.by["hospital"].height == 0
    assert all(t.key != "hospital" for t in r.document.tables)


def test_missing_column_is_a_clear_error(tmp_path):
    from report_ledger import hand_ledger

    d = tmp_path / "bad"
    d.mkdir()
    hand_ledger().drop("hifmi_pay").write_parquet(d / "ledger.parquet")
    with pytest.raises(ReportError, match="lacks column.*hifmi_pay"):
        build_report(d, tmp_path / "o")


def test_bad_budget_file_names_the_key(tmp_path):
    ledger = write_out_dir(tmp_path)
    b = tmp_path / "b.yaml"
    b.write_text("budget:\n  basik: 100\n", encoding="utf-8")
    with pytest.raises(ReportError, match="basik"):
        build_report(ledger, tmp_path / "o", budget=b)


@pytest.mark.parametrize("text, says", [
    ("budget:\n  basik: 100\n", "budget.basik: unknown key `basik` (did you mean 'basic'?)"),  # a budget key, not a rule-file key
    ("premium: 100\n", "premium: unknown key `premium` (did you mean 'critical_premium'?)"),
    ("year: soon\nbudget: {basic: 1}\n", "year: expected a whole number, got 'soon'"),
    ("budget: 5\n", "budget: expected a mapping"),
    ("- 1\n", "expected a mapping with keys year, budget"),
    ("year: 2021\n", "gives neither a budget"),
])
def test_budget_file_errors_name_the_budget_file_and_the_report_docs(tmp_path, text, says):
    """A budget file is not a rule file: its errors say "budget file …" and point to the report's
    documentation of it, never to the rule files' page."""
    b = tmp_path / "budget-2021.yaml"
    b.write_text(text, encoding="utf-8")
    with pytest.raises(ReportError) as e:
        load_budget(b)
    lines = str(e.value).splitlines()
    assert all(ln.startswith(f"budget file {b}: ") for ln in lines), lines
    assert says in str(e.value)
    assert "rules.md" not in str(e.value) and "rule file" not in str(e.value)
    if "keys allowed here" not in str(e.value):  # a misspelt key is answered with the keys allowed there
        assert "docs/report.md" in str(e.value)
