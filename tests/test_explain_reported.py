"""`medclaim explain` shows the hospital's own settlement beside the computed figures.

sample_data/dongzhi-2021-03-hospital-d.csv, person 341721000000900001 (汪建华), two inpatient
stays at 东至县第二人民医院 (二级乙等 → secondary, 本地 → local, ordinary resident), rules
anhui/dongzhi-2021 (basic.inpatient: deductible by_tier.secondary 500, ratio by_tier.secondary
80 %, repeat_admission.deductible_factor_by_nth {2: 0.5}; 大病 from a cumulative 15,000):

  claim …01, 2021-03-01→06, cost 10,800, policy scope 10,000 (600 fully self-paid, 200 over the
    limit): deductible 500; basic (10,000 − 500) × 80 % = 7,600; 大病 base 10,000 − 7,600 = 2,400;
    patient 10,800 − 7,600 = 3,200 — exactly what the hospital reported.
  claim …02, 2021-03-15→19, cost = policy scope = 8,000, the 2nd admission of the year:
    deductible 500 × 0.5 = 250; basic (8,000 − 250) × 80 % = 6,200; 大病 cumulative base
    2,400 + (8,000 − 6,200) = 4,200 < 15,000 → 0; no assistance (ordinary); funds 6,200;
    patient 8,000 − 6,200 = 1,800.
    The hospital reported deductible 500, basic 6,000, 大病 0, assistance 0, funds 6,000, patient
    2,000: the full deductible, (8,000 − 500) × 80 % = 6,000 — the 2nd-admission reduction not
    applied (audit cause ``deductible``, key basic.inpatient.repeat_admission).
    Differences (reported − computed): +250, −200, 0, 0, −200, +200.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import claim
from medclaim import explain as ex
from medclaim.cli import app
from medclaim.output import write_ledger

RULES = "anhui/dongzhi-2021"
D = "sample_data/dongzhi-2021-03-hospital-d.csv"
PSN = "341721000000900001"
FIRST, SECOND = "3417212103900001", "3417212103900002"


def run(*args: str):
    return CliRunner().invoke(app, ["explain", *args])


def fields(c: dict) -> dict[str, dict]:
    return {f["field"]: f for f in c["reported"]["fields"]}


def explained(*extra: str) -> dict:
    r = run(PSN, "--input", D, "--rules", RULES, "--json", *extra)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_second_admission_settled_with_the_full_deductible():
    doc = explained("--claim", SECOND)
    [c] = doc["claims"]
    got = {k: (v["reported"], v["computed"], v["difference"]) for k, v in fields(c).items()}
    yuan = 100
    assert got == {
        "act_pay_dedc": (500 * yuan, 250 * yuan, 250 * yuan),  # 500 × 0.5 = 250
        "hifp_pay": (6_000 * yuan, 6_200 * yuan, -200 * yuan),  # (8,000 − 250) × 80 %
        "hifmi_pay": (0, 0, 0),  # 大病 base 4,200 < 15,000
        "maf_pay": (0, 0, 0),
        "fund_pay_sumamt": (6_000 * yuan, 6_200 * yuan, -200 * yuan),
        "psn_part_amt": (2_000 * yuan, 1_800 * yuan, 200 * yuan),  # 8,000 − 6,200
    }
    assert c["reported"]["differing"] == 4
    assert c["reported"]["not_reported"] == []
    for f in ("act_pay_dedc", "hifp_pay", "fund_pay_sumamt", "psn_part_amt"):
        assert fields(c)[f]["cause"] == "deductible"
        assert fields(c)[f]["rule_key"] == "basic.inpatient.repeat_admission"
        assert "reduced deductible for admission 2" in fields(c)[f]["message"]
    for f in ("hifmi_pay", "maf_pay"):
        assert fields(c)[f]["cause"] is None and fields(c)[f]["message"] is None


def test_the_cause_is_the_audits_own(tmp_path):
    """explain names, field by field, what `medclaim audit` writes in differences.csv."""
    from medclaim.audit.run import audit_files

    result = audit_files([D], RULES, tmp_path / "audit")
    audit = {r["field"]: (r["cause"], r["rule_key"], r["message"])
             for r in result.differences.filter(result.differences["setl_id"] == SECOND).to_dicts()}
    [c] = explained("--claim", SECOND)["claims"]
    mine = {k: (v["cause"], v["rule_key"], v["message"]) for k, v in fields(c).items() if v["difference"]}
    assert mine == audit


def test_a_claim_the_hospital_settled_right_agrees():
    doc = explained()
    first = next(c for c in doc["claims"] if c["setl_id"] == FIRST)
    assert first["reported"]["differing"] == 0
    # (10,000 − 500) × 80 % = 7,600; patient 10,800 − 7,600 = 3,200
    assert fields(first)["hifp_pay"]["reported"] == fields(first)["hifp_pay"]["computed"] == 7_600_00
    assert fields(first)["psn_part_amt"]["computed"] == 3_200_00
    assert all(f["difference"] == 0 and f["cause"] is None for f in first["reported"]["fields"])


@pytest.mark.parametrize("lang, expected", [
    ("en", ["6. The hospital's own settlement beside the rules (yuan)",
            "deductible (起付线)                     500.00  computed 250.00 · difference +250.00",
            "basic insurance (统筹基金)            6,000.00  computed 6,200.00 · difference -200.00",
            "critical illness (大病保险)               0.00  computed 0.00 · agrees",
            "cause: deductible (basic.inpatient.repeat_admission) — the reduced deductible for admission 2 of the year was not applied",
            "4 of 6 reported figure(s) differ"]),
    ("zh", ["六、医院结算与按规则计算对照（元）",
            "实际支付起付线                           500.00  计算 250.00 · 差额 +250.00",
            "个人负担总金额                        2,000.00  计算 1,800.00 · 差额 +200.00",
            "原因：起付线（basic.inpatient.repeat_admission）",
            "6 项上报金额中有 4 项与规则计算不符"]),
])
def test_text_shows_reported_beside_computed(lang, expected):
    r = run(PSN, "--input", D, "--rules", RULES, "--claim", SECOND, "--lang", lang)
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())  # column padding aside
    for line in expected:
        assert " ".join(line.split()) in text, line
    assert r.stdout.count({"en": "cause: ", "zh": "原因："}[lang]) == 1  # one cause for all four: said once


def test_claims_without_reported_amounts_show_no_reported_section():
    """hospital-a's export carries none of the reported columns: nothing changes."""
    psn, setl = "341721000000000093", "3417212103002925"
    a = ["--input", "sample_data/dongzhi-2021-03-hospital-a.csv", "--input", "sample_data/dongzhi-2021-03-hospital-b.parquet",
         "--input", "sample_data/dongzhi-2021-03-hospital-c.xlsx", "--rules", RULES]
    doc = json.loads(run(psn, *a, "--json").stdout)
    assert doc["claims"] and all("reported" not in c for c in doc["claims"])
    for lang, title in (("en", "The hospital's own settlement"), ("zh", "医院结算与按规则计算对照")):
        text = run(psn, *a, "--claim", setl, "--lang", lang).stdout
        assert "Year 2021 totals" in text or "2021 年度合计" in text
        assert title not in text


def test_json_with_reported_validates_against_the_generated_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(run("--json-schema").stdout)
    assert "reported" in schema["$defs"]["Claim"]["properties"]
    validator = jsonschema.Draft202012Validator(schema)
    doc = explained()
    assert all("reported" in c for c in doc["claims"])
    assert [e.message for e in validator.iter_errors(doc)] == []
    assert ex.validate(doc) == []
    doc["claims"][1]["reported"]["fields"][0]["difference"] = "250.00"
    assert list(validator.iter_errors(doc)) and ex.validate(doc)


def test_from_a_saved_ledger_too(tmp_path):
    """A stored ledger keeps the claim as it came in, reported columns included: explain --ledger
    shows the same figures and cause as explain --input."""
    from medclaim.pipeline import settle_files

    settle_files([Path(D)], RULES, tmp_path / "out")
    r = run(PSN, "--ledger", str(tmp_path / "out"), "--claim", SECOND, "--json")
    assert r.exit_code == 0, r.output
    [c] = json.loads(r.stdout)["claims"]
    [want] = explained("--claim", SECOND)["claims"]
    assert c["reported"] == want["reported"]


def test_no_reported_object_for_a_settlement_without_reported_columns(tmp_path):
    from helpers import settle

    s = settle([claim(setl_id="X1", psn_no=PSN, inscp_scp_amt=8_000_00)], RULES)
    write_ledger(s.ledger, tmp_path, [])
    rows = ex.person_rows_from_ledger(tmp_path, PSN)
    doc = ex.explain_person(rows, PSN, 2021, ex.rules_for_ledger(rows["ruleset_id"].to_list()))
    assert "reported" not in doc["claims"][0]


@pytest.mark.parametrize("lang", ex.available_languages())
def test_every_audit_cause_code_has_a_name(lang):
    from medclaim.audit.run import CAUSES

    text = ex.load_labels(lang).text
    assert sorted(c for c in CAUSES if f"cause.{c}" not in text) == []
