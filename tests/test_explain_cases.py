"""`medclaim explain` on hand-made claims settled with rules/anhui/dongzhi-2021.yaml.

Worked figures (yuan) for the heavy patient H, an ordinary resident at a local secondary hospital:
  A1 inpatient, scope 120,000: deductible 500, ratio 80 % → basic 95,600;
     大病 base 24,400 → (24,400 − 15,000) × 60 % = 5,640; patient 18,760.
  A2 inpatient, 2nd admission, scope 150,000 (+ 2,000 fully self-paid): deductible 500 × 50 % = 250;
     raw (150,000 − 250) × 80 % = 119,800; the 200,000 inpatient+chronic cap has 104,400 left
     → basic 104,400, cut 15,400; 大病 base 150,000 − 104,400 = 45,600, cumulative 24,400 → 70,000:
     25,600 × 60 % + 20,000 × 65 % = 15,360 + 13,000 = 28,360; patient 152,000 − 132,760 = 19,240.
  A3 chronic outpatient, scope 2,000: annual deductible 500, raw 1,500 × 65 % = 975, all cut by the
     full inpatient+chronic cap; 大病 2,000 × 65 % = 1,300; patient 700.
The 低保 patient D: inpatient scope 40,000, deductible 500 × 0.5 = 250, ratio 80 % + 5 = 85 %
  → basic 33,787.50; 大病 base 6,212.50 below the tilted threshold 15,000 × 0.5 = 7,500 → 0;
  assistance 6,212.50 × 75 % = 4,659.38 (limit 30,000, 25,340.62 left); patient 1,553.12.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from helpers import claim, claims_frame, settle
from medclaim import explain as ex
from medclaim.cli import app
from medclaim.output import write_ledger
from medclaim.rules import load_rulebook
from medclaim.status import Exit

RULES = "anhui/dongzhi-2021"
H = "341721000000000433"  # heavy patient
D = "341721000000009876"  # 低保 patient
U = "341721000000005555"  # uncovered visits
FILE = "rules/anhui/dongzhi-2021.yaml"


def heavy_rows() -> list[dict]:
    return [
        claim(setl_id="A1", psn_no=H, inscp_scp_amt=120_000_00, begndate="2021-01-05", enddate="2021-01-20"),
        claim(setl_id="A2", psn_no=H, inscp_scp_amt=150_000_00, fulamt_ownpay_amt=2_000_00, begndate="2021-03-01", enddate="2021-03-15"),
        claim(setl_id="A3", psn_no=H, med_type="14", inscp_scp_amt=2_000_00, begndate="2021-04-01", enddate="2021-04-01"),
    ]


def dibao_rows() -> list[dict]:
    return [claim(setl_id="D1", psn_no=D, psn_idet_type="低保对象", inscp_scp_amt=40_000_00)]


def uncovered_rows() -> list[dict]:
    return [
        # benefits start on 1 June; the visit began in May
        claim(setl_id="U1", psn_no=U, med_type="11", hosp_lv="10", inscp_scp_amt=300_00, begndate="2021-05-10", enddate="2021-05-10", benefit_start="2021-06-01"),
        # 定点药店购药 is excluded by the rule set
        claim(setl_id="U2", psn_no=U, med_type="41", hosp_lv="11", inscp_scp_amt=80_00, begndate="2021-07-01", enddate="2021-07-01", benefit_start="2021-06-01"),
    ]


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory) -> Path:
    """A `medclaim settle --out` directory holding the three people's ledger."""
    s = settle(heavy_rows() + dibao_rows() + uncovered_rows(), RULES)
    assert s.rejects.height == 0
    out = tmp_path_factory.mktemp("out")
    write_ledger(s.ledger, out, [])
    return out


def doc_for(ledger_dir: Path, psn: str, **kw) -> dict:
    rows = ex.person_rows_from_ledger(ledger_dir, psn)
    year = ex.choose_year(rows, psn, None, str(ledger_dir), False)
    return ex.explain_person(rows, psn, year, ex.rules_for_ledger(rows["ruleset_id"].to_list()), **kw)


def by_setl(doc: dict) -> dict[str, dict]:
    return {c["setl_id"]: c for c in doc["claims"]}


def keys(cites: list[dict]) -> list[str]:
    return [c["key"] for c in cites]


def run(*args: str):
    return CliRunner().invoke(app, ["explain", *args])


# ------------------------------------------------------------------ the heavy patient


def test_heavy_patient_crosses_the_basic_annual_cap(ledger_dir):
    doc = doc_for(ledger_dir, H)
    assert [c["setl_id"] for c in doc["claims"]] == ["A1", "A2", "A3"]
    a2 = by_setl(doc)["A2"]
    b = a2["steps"]["basic"]
    assert b["method"] == "inpatient"
    d = b["deductible"]
    assert (d["base"], d["admission_no"], d["repeat_factor_bp"], d["identity_factor_bp"], d["amount"], d["borne"]) == (
        500_00, 2, 5000, 10_000, 250_00, 250_00
    )
    assert keys(d["cites"]) == ["basic.inpatient.deductible.by_tier.secondary", "basic.inpatient.repeat_admission.deductible_factor_by_nth.2"]
    assert b["ratio"]["applied_bp"] == 8000 and keys(b["ratio"]["cites"]) == ["basic.inpatient.ratio.by_tier.secondary"]
    assert b["raw"] == 119_800_00
    cap = {c["name"]: c for c in b["caps"]}["inpatient_and_chronic"]
    assert (cap["limit"], cap["before"], cap["this_claim"], cap["after"], cap["cut"]) == (
        200_000_00, 95_600_00, 119_800_00, 215_400_00, 15_400_00
    )
    assert keys(cap["cites"]) == ["basic.annual_caps[1]"]
    assert b["pay"] == 104_400_00 and a2["flags"]["basic_cap_reached"]
    assert a2["steps"]["patient"]["psn_part_amt"] == 19_240_00


def test_heavy_patient_crosses_two_critical_segments(ledger_dir):
    a2 = by_setl(doc_for(ledger_dir, H))["A2"]
    k = a2["steps"]["critical"]
    assert k["applies"] and k["tilt"] is None
    assert (k["base"], k["before"], k["after"], k["threshold"], k["cap"]) == (45_600_00, 24_400_00, 70_000_00, 15_000_00, 300_000_00)
    crossed = [(g["index"], g["from"], g["to"], g["ratio_bp"], g["base"]) for g in k["segments"] if g["base"]]
    assert crossed == [(0, 15_000_00, 50_000_00, 6000, 25_600_00), (1, 50_000_00, 100_000_00, 6500, 20_000_00)]
    assert k["pay"] == 28_360_00 and k["cap_cut"] == 0
    assert keys(k["segments"][1]["cites"]) == ["critical.segments.bands[1]"]
    assert keys(k["cap_cites"]) == ["critical.annual_cap"]


def test_chronic_claim_after_the_cap_is_full(ledger_dir):
    a3 = by_setl(doc_for(ledger_dir, H))["A3"]
    b = a3["steps"]["basic"]
    assert b["method"] == "chronic_outpatient"
    d = b["deductible"]
    assert (d["kind"], d["amount"], d["borne"], d["cumulative_before"], d["cumulative_after"]) == ("annual", 500_00, 500_00, 0, 2_000_00)
    assert b["raw"] == 975_00
    caps = {c["name"]: c for c in b["caps"]}
    assert set(caps) == {"chronic_outpatient", "inpatient_and_chronic"}
    assert caps["chronic_outpatient"]["cut"] == 0 and caps["inpatient_and_chronic"]["cut"] == 975_00
    assert b["pay"] == 0
    assert a3["steps"]["critical"]["pay"] == 1_300_00
    assert a3["ytd"]["hifp_pay"] == 200_000_00


def test_year_totals_are_the_last_claims_running_totals(ledger_dir):
    doc = doc_for(ledger_dir, H)
    t = doc["year_totals"]
    assert t == doc["claims"][-1]["ytd"]
    assert (t["claims"], t["admissions"], t["hifp_pay"], t["hifmi_pay"], t["maf_pay"]) == (3, 2, 200_000_00, 35_300_00, 0)
    assert t["medfee_sumamt"] == 120_000_00 + 152_000_00 + 2_000_00
    # per-claim rounding: the cap's running total is what was paid under it (95,600 + 104,400 + 0)
    assert t["caps"]["inpatient_and_chronic"] == 95_600_00 + 104_400_00 + 0 == 200_000_00


# ------------------------------------------------------------------ the assisted identity


def test_dibao_tilt_identity_adjustment_and_assistance(ledger_dir):
    doc = doc_for(ledger_dir, D)
    c = doc["claims"][0]
    assert c["identity"] == "dibao"
    b = c["steps"]["basic"]
    assert (b["deductible"]["identity_factor_bp"], b["deductible"]["borne"]) == (5000, 250_00)
    assert (b["ratio"]["base_bp"], b["ratio"]["identity_points_bp"], b["ratio"]["applied_bp"]) == (8000, 500, 8500)
    assert "basic.inpatient.identity.dibao" in keys(b["ratio"]["cites"])
    assert b["pay"] == 33_787_50
    k = c["steps"]["critical"]
    assert k["tilt"]["identity"] == "dibao" and k["tilt"]["no_cap"] and k["tilt"]["threshold_factor_bp"] == 5000
    assert keys(k["tilt"]["cites"]) == ["critical.identity_tilt.dibao"]
    assert k["tilt"]["cites"][0]["status"] == "verified"
    assert (k["threshold"], k["cap"], k["ratio_points_bp"], k["base"], k["pay"]) == (7_500_00, None, 500, 6_212_50, 0)
    assert [g["ratio_bp"] for g in k["segments"]] == [6500, 7000, 8000]
    a = c["steps"]["assistance"]
    assert a["applies"] and a["scheme"] == "dibao"
    assert (a["base"], a["ratio_bp"], a["limit"], a["used_before"], a["used_after"], a["left"], a["pay"]) == (
        6_212_50, 7500, 30_000_00, 0, 4_659_38, 25_340_62, 4_659_38
    )
    assert keys(a["cites"]) == ["assistance.schemes.dibao"]
    assert c["steps"]["patient"]["psn_part_amt"] == 1_553_12


# ------------------------------------------------------------------ uncovered visits


def test_uncovered_visits_say_why(ledger_dir):
    doc = doc_for(ledger_dir, U)
    u1, u2 = doc["claims"]
    assert (u1["covered"], u1["not_covered_reason"], u1["benefit_start"]) == (False, "before_benefit_start", "2021-06-01")
    assert (u2["covered"], u2["not_covered_reason"]) == (False, "class_excluded")
    assert u2["not_covered_cite"]["key"] == "codes.med_type.41"
    for c in (u1, u2):
        assert c["steps"]["basic"]["applies"] is False
        assert c["steps"]["critical"]["reason"] == "not_covered"
        assert c["steps"]["assistance"]["reason"] == "no_scheme"
        p = c["steps"]["patient"]
        assert p["fund_pay_sumamt"] == 0 and p["psn_part_amt"] == c["steps"]["costs"]["medfee_sumamt"]
    en = ex.render_plain(doc, ex.load_labels("en"))
    assert "the visit began 2021-05-10, before benefits started on 2021-06-01" in en
    assert "benefit class '41' is excluded by this rule set" in en
    assert f"{FILE}: codes.med_type.41" in en
    zh = ex.render_plain(doc, ex.load_labels("zh"))
    assert "就诊开始于 2021-05-10，早于待遇开始日期 2021-06-01" in zh
    assert "二、不属于保障范围：各项基金均不支付" in zh


# ------------------------------------------------------------------ renderings (via the CLI: output not a TTY → plain)


def test_english_rendering_reads_out_the_waterfall(ledger_dir):
    r = run(H, "--ledger", str(ledger_dir), "--lang", "en")
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("Person 3417**********0433 · benefit year 2021 · 3 claim(s), in settlement order\n")
    for line in [
        "Claim 2 of 3 · settlement A2 · 2021-03-01 → 2021-03-15",
        "  inpatient · secondary hospital · in the county · ordinary resident",
        "    deductible borne                        250.00  500.00 per admission (secondary hospital, in the county) × 50 % (admission 2 of the year) = 250.00",
        f"      · {FILE}: basic.inpatient.deductible.by_tier.secondary — 池政办〔2019〕15号, unverified placeholder",
        f"      · {FILE}: basic.inpatient.repeat_admission.deductible_factor_by_nth.2 — 池政办〔2019〕15号, unverified placeholder",
        "    ratio applied                             80 %  inpatient, secondary hospital, in the county",
        "    calculated, before caps             119,800.00  (policy scope − deductible) × ratio",
        "    annual cap                          200,000.00  applies to inpatient + chronic/special-disease outpatient",
        "      counted toward it                             95,600.00 before + 119,800.00 this claim = 215,400.00",
        "      cut by the cap                     15,400.00",
        "    basic insurance pays                104,400.00",
        "    cumulative base this year                       24,400.00 before → 70,000.00 after",
        "    segment 15,000.00–50,000.00          15,360.00  25,600.00 of base × 60 %",  # 25,600 × 60 %
        "    segment 50,000.00–100,000.00         13,000.00  20,000.00 of base × 65 %",  # 20,000 × 65 %
        "    critical-illness insurance pays      28,360.00",
        "  4. Medical assistance (医疗救助) — ordinary resident: not an assisted identity",
        "  5. The patient pays                    19,240.00  = total cost 152,000.00 − funds 132,760.00 (basic 104,400.00 + critical illness 28,360.00 + assistance 0.00)",
    ]:
        assert line + "\n" in out, line
    assert H not in r.output


def test_chinese_is_the_default(ledger_dir):
    r = run(D, "--ledger", str(ledger_dir))
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("参保人 3417**********9876 · 2021 年度 · 共 1 笔结算（按结算顺序）\n")
    for line in [
        "    本次承担起付线                          250.00  每次住院 500.00（二级医院，县内就医） × 50 %（低保对象） = 250.00",
        "    报销比例                                  85 %  80 %（按医院等级和就医地） +5 个百分点（低保对象）",
        f"      · {FILE}: basic.inpatient.identity.dibao — 池政办〔2019〕15号，未核实（占位值）",
        "    特殊人群倾斜                                    低保对象；起付线 × 50 %；各段比例 +5 个百分点；取消封顶线",
        f"      · {FILE}: critical.identity_tilt.dibao — 东医保〔2021〕6号 大病保险实施方案 五(二)，已核实",
        "    年度救助限额                         30,000.00  已用 此前 0.00 → 此后 4,659.38；剩余 25,340.62",
        "    医疗救助支付                          4,659.38",
        "  五、个人负担                            1,553.12  = 医疗费总额 40,000.00 − 基金支付 38,446.88（统筹 33,787.50 + 大病 0.00 + 救助 4,659.38）",
    ]:
        assert line + "\n" in out, line


def test_rich_rendering_renders(ledger_dir):
    from rich.console import Console

    console = Console(width=160, record=True, file=open("/dev/null", "w"), force_terminal=True)
    console.print(ex.render_rich(doc_for(ledger_dir, H), ex.load_labels("en")))
    text = console.export_text()
    assert "Claim 2 of 3 · settlement A2" in text and "104,400.00" in text and "critical.segments.bands[1]" in text


def test_claim_option_shows_one_settlement_in_its_year(ledger_dir):
    r = run(H, "--ledger", str(ledger_dir), "--lang", "en", "--claim", "A2", "--json")
    doc = json.loads(r.stdout)
    assert [c["setl_id"] for c in doc["claims"]] == ["A2"] and doc["claims"][0]["seq"] == 2
    assert doc["claims_in_year"] == 3 and doc["only"] == "A2"
    r = run(H, "--ledger", str(ledger_dir), "--claim", "NOPE")
    assert r.exit_code == Exit.NOT_FOUND and "no settlement NOPE" in r.stderr


# ------------------------------------------------------------------ JSON


def test_json_output_validates_against_the_schema(ledger_dir):
    for psn in (H, D, U):
        r = run(psn, "--ledger", str(ledger_dir), "--json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert doc["schema"] == "medclaim.explain/1"
        assert ex.validate(doc) == []
        # money in fen as integers, never floats or strings
        assert isinstance(doc["claims"][0]["steps"]["costs"]["medfee_sumamt"], int)


def test_the_validator_catches_a_broken_document(ledger_dir):
    doc = doc_for(ledger_dir, H)
    assert ex.validate(doc) == []
    doc["claims"][0]["steps"]["basic"]["pay"] = "104400.00"
    del doc["year_totals"]["claims"]
    doc["extra"] = 1
    problems = ex.validate(doc)
    assert any(p.startswith("$.claims[0].steps.basic.pay: ") and "integer" in p for p in problems), problems
    assert "$.year_totals.claims: Field required" in problems
    assert "$.extra: Extra inputs are not permitted" in problems


def test_documents_validate_against_the_printed_schema_with_an_independent_validator(ledger_dir):
    """The schema --json-schema prints (generated from the models) accepts real documents and
    rejects broken ones when checked by a JSON-Schema implementation that is not ours."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(run("--json-schema").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for psn in (H, D, U):
        doc = json.loads(run(psn, "--ledger", str(ledger_dir), "--json").stdout)
        assert [e.message for e in validator.iter_errors(doc)] == []
    doc["claims"][0]["steps"]["basic"]["pay"] = 104400.5
    doc["claims"][0]["steps"]["critical"]["segments"] = [{"index": 0}]
    assert len(list(validator.iter_errors(doc))) >= 2


def test_json_schema_option_prints_the_schema():
    r = run("--json-schema")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["$id"] == "medclaim.explain/1"


# ------------------------------------------------------------------ masking


@pytest.mark.parametrize(
    "raw, masked",
    [
        ("341721000000000433", "3417**********0433"),
        ("3417210000", "3417**0000"),
        ("P123456", "*****56"),
        ("P1", "**"),
        ("", ""),
    ],
)
def test_mask_id(raw, masked):
    assert ex.mask_id(raw) == masked


def test_ids_are_masked_unless_show_ids(ledger_dir, tmp_path):
    log = tmp_path / "explain.log"
    for extra in ([], ["--json"], ["--lang", "en"]):
        r = run(H, "--ledger", str(ledger_dir), "--log-file", str(log), *extra)
        assert r.exit_code == 0
        assert H not in r.output and "3417**********0433" in r.output
    assert H not in log.read_text(encoding="utf-8") and "3417**********0433" in log.read_text(encoding="utf-8")
    r = run(H, "--ledger", str(ledger_dir), "--show-ids", "--json")
    doc = json.loads(r.stdout)
    assert doc["person"] == H and doc["person_masked"] is False
    assert run(H, "--ledger", str(ledger_dir), "--show-ids").stdout.startswith(f"参保人 {H} ")


# ------------------------------------------------------------------ not found, usage


def test_unknown_person_exits_7_with_a_masked_id(ledger_dir):
    r = run("341721000000000999", "--ledger", str(ledger_dir))
    assert r.exit_code == Exit.NOT_FOUND == 7
    assert f"error: no claims for person 3417**********0999 in {ledger_dir} — check the id" in r.stderr
    assert "Traceback" not in r.output and "341721000000000999" not in r.output


def test_masked_id_given_gets_a_hint(ledger_dir):
    r = run("3417**********0433", "--ledger", str(ledger_dir))
    assert r.exit_code == 7 and "give the full person number" in r.stderr


def test_unknown_year_lists_the_years(ledger_dir):
    r = run(H, "--ledger", str(ledger_dir), "--year", "2020")
    assert r.exit_code == 7
    assert "person 3417**********0433 has no claims in benefit year 2020" in r.stderr
    assert "years available: 2021" in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        ([H], "give either --ledger DIR or --input FILE --rules RULESET"),
        (["--ledger", "x"], "give the person number"),
        ([H, "--ledger", "x", "--lang", "fr"], "no labels for language 'fr' — available: en, zh"),
    ],
)
def test_usage_errors(args, message):
    r = run(*args)
    assert r.exit_code == Exit.USAGE and message in r.stderr


def test_input_without_rules_is_a_usage_error(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("setl_id\n", encoding="utf-8")
    r = run(H, "--input", str(f))
    assert r.exit_code == Exit.USAGE and "--input needs --rules" in r.stderr


def test_missing_ledger_directory(tmp_path):
    r = run(H, "--ledger", str(tmp_path / "nope"))
    assert r.exit_code == Exit.INVALID_INPUT and "no such ledger" in r.stderr


# ------------------------------------------------------------------ --input: the same engine without a saved ledger


def test_input_mode_equals_the_saved_ledger(ledger_dir, tmp_path):
    """Settling only that person's rows gives the same explanation as the whole run's ledger."""
    from medclaim.settle import settle_claims

    rows = claims_frame(heavy_rows() + dibao_rows() + uncovered_rows())
    book = load_rulebook(RULES)
    for psn in (H, D, U):
        mine = settle_claims(rows.filter(pl.col("psn_no") == psn), book).ledger
        direct = ex.explain_person(mine, psn, 2021, ex.rule_index([book]))
        assert direct == doc_for(ledger_dir, psn)


# ------------------------------------------------------------------ a persistent ledger (medclaim.store)


def test_persistent_ledger_runs_and_a_reversal(tmp_path):
    store = pytest.importorskip("medclaim.store")
    book = load_rulebook(RULES)
    root = tmp_path / "ledger"
    rows = heavy_rows()
    for month in (rows[:1], rows[1:]):
        with store.Ledger.open(root) as lg:
            lg.commit(lg.plan_settle(claims_frame(month), book), run_files={})
    with store.Ledger.open(root) as lg:
        lg.commit(lg.plan_reverse(["A3"], book, "wrong patient"), run_files={})
    doc = doc_for(root, H)
    assert [(c["setl_id"], c["is_reversal"], c["run"]) for c in doc["claims"]] == [
        ("A1", False, 1), ("A2", False, 2), ("A3", False, 2), ("A3", True, 3)
    ]
    a2 = by_setl(doc)["A2"]
    # the second run continued from the first run's running totals
    assert a2["steps"]["basic"]["caps"][0]["before"] == 95_600_00 and a2["steps"]["critical"]["before"] == 24_400_00
    rev = doc["claims"][-1]
    assert rev["reverses_entry"] == 3 and rev["reversal_reason"] == "wrong patient"
    assert rev["steps"]["critical"]["pay"] == -1_300_00
    assert doc["year_totals"]["claims"] == 2 and doc["year_totals"]["hifmi_pay"] == 5_640_00 + 28_360_00
    assert ex.validate(doc) == []
    text = ex.render_plain(doc, ex.load_labels("en"))
    assert "Claim 4 of 4 · settlement A3 · 2021-04-01 → 2021-04-01 · REVERSAL of an earlier settlement (amounts taken back) — ledger entry 3, reason: wrong patient" in text


def test_a_ledger_naming_a_missing_rule_set(ledger_dir, tmp_path):
    ledger = pl.read_parquet(ledger_dir / "ledger.parquet").with_columns(ruleset_id=pl.lit("anhui/nowhere-2021"))
    ledger.write_parquet(tmp_path / "ledger.parquet")
    r = run(H, "--ledger", str(tmp_path))
    assert r.exit_code == Exit.INVALID_RULES
    assert "the ledger was settled with rule set anhui/nowhere-2021, which does not load here — give its file with --rules" in r.stderr
    r = run(H, "--ledger", str(tmp_path), "--rules", "anhui/dongzhi-2021")
    assert r.exit_code == Exit.INVALID_RULES  # that file holds anhui/dongzhi-2021, not the id the ledger names


def test_a_changed_rule_file_version_is_flagged(ledger_dir, tmp_path):
    ledger = pl.read_parquet(ledger_dir / "ledger.parquet").with_columns(ruleset_version=pl.lit("2020.9"))
    ledger.write_parquet(tmp_path / "ledger.parquet")
    doc = doc_for(tmp_path, H)
    assert doc["warnings"] == [
        {"code": "ruleset_version_changed", "ruleset_id": RULES, "ledger_version": "2020.9", "file_version": "2021.1"}
    ]
    assert "the ledger was settled with anhui/dongzhi-2021 version 2020.9, the rule file now holds version 2021.1" in (
        ex.render_plain(doc, ex.load_labels("en"))
    )


CSV = """setl_id,psn_no,psn_idet_type,med_type,hosp_lv,pay_loc,refl_flag,begndate,enddate,medfee_sumamt,fulamt_ownpay_amt,overlmt_selfpay,preselfpay_amt,inscp_scp_amt
A1,{h},,21,05,本地,否,2021-01-05,2021-01-20,120000.00,0,0,0,120000.00
X1,341721000000000777,,21,05,本地,否,2021-01-05,2021-01-20,5000.00,0,0,0,5000.00
A2,{h},,21,05,本地,否,2021-03-01,2021-03-15,152000.00,2000.00,0,0,150000.00
A3,{h},,14,05,本地,否,2021-04-01,2021-04-01,2000.00,0,0,0,2000.00
"""


def test_input_mode_settles_the_persons_claims_from_a_file(ledger_dir, tmp_path):
    f = tmp_path / "extract.csv"
    f.write_text(CSV.format(h=H), encoding="utf-8")
    r = run(H, "--input", str(f), "--rules", RULES, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["source"] == {"kind": "input", "paths": [str(f)], "rules": RULES}
    saved = doc_for(ledger_dir, H)
    assert doc["claims"] == saved["claims"] and doc["year_totals"] == saved["year_totals"]
    r = run("341721000000000888", "--input", str(f), "--rules", RULES)
    assert r.exit_code == Exit.NOT_FOUND and f"no claims for person 3417**********0888 in {f}" in r.stderr


# ------------------------------------------------------------------ every shipped rule set


def shipped():
    from medclaim.rules import list_rulesets

    return list_rulesets()


@pytest.mark.parametrize("rid, path", shipped(), ids=[rid for rid, _ in shipped()])
def test_every_shipped_rule_set_explains(rid, path):
    """Any rule set's ledger explains, validates and renders in every language (no missing key)."""
    book = load_rulebook(path)
    rs = book.periods[0]
    y = rs.ruleset.effective_from.year
    rows = []
    kinds = [("21", ""), ("21", "低保对象"), ("14", ""), ("11", ""), ("9901", ""), ("21", "特困人员"), ("41", "")]
    for i, (med_type, ident) in enumerate(kinds):
        r = claim(
            setl_id=f"S{i}", psn_no=H, med_type=med_type, psn_idet_type=ident, hosp_lv="05",
            inscp_scp_amt=90_000_00 if med_type == "21" else 1_000_00, begndate=f"{y}-03-0{i + 1}", enddate=f"{y}-03-0{i + 2}",
        )
        if rs.basic.reported is not None:
            r["reported_hifp_pay"] = r["inscp_scp_amt"] // 2
        rows.append(r)
    ledger = settle(rows, book).ledger
    assert ledger.height
    doc = ex.explain_person(ledger, H, y, ex.rule_index([book]))
    assert ex.validate(doc) == []
    for lang in ex.available_languages():
        text = ex.render_plain(doc, ex.load_labels(lang))
        assert "3417**********0433" in text and H not in text
