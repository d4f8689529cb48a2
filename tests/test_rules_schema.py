"""The rule-set schema: units, and bad files reported as 'file: key.path: what — fix', never a traceback."""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from medclaim.rules import RuleSet, RuleSetError, _parse_ruleset, load_rulebook, load_ruleset_file

FIX = Path(__file__).resolve().parent / "fixtures" / "rules"
BASE = FIX / "base.yaml"


def problems_of(spec: Path | str) -> list[str]:
    with pytest.raises(RuleSetError) as ei:
        load_rulebook(spec)
    e = ei.value
    assert e.problems and str(e) == "\n".join(e.problems)
    return e.problems


def base_data() -> dict:
    return yaml.safe_load(BASE.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict, name: str = "rules.yaml") -> Path:
    f = tmp_path / name
    f.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return f


# ------------------------------------------------------------------ the good base and units


def test_base_fixture_loads():
    rs = load_ruleset_file(BASE)
    assert rs.id == "test/base-2024"
    assert rs.basic.inpatient.ratio.by_tier == {"primary": 8500, "secondary": 7500}  # "85%" and 0.75
    assert rs.basic.inpatient.deductible.by_tier == {"primary": 10000, "secondary": 40000}  # yuan → fen
    assert rs.critical.segments.bands[0].from_ == 1_000_000
    assert rs.critical.segments.bands[1].to is None


@pytest.mark.parametrize(
    "written, fen",
    [(800, 80000), (1500.5, 150050), ("1500.50", 150050), ("1,500.05", 150005), (0, 0), (0.01, 1)],
)
def test_amounts_are_yuan_loaded_as_fen(tmp_path, written, fen):
    d = base_data()
    d["basic"]["annual_caps"][0]["value"] = written
    assert load_ruleset_file(write(tmp_path, d)).basic.annual_caps[0].value == fen


@pytest.mark.parametrize("written, bp", [(0.7, 7000), ("70%", 7000), ("72.5%", 7250), (1, 10000), (0, 0), ("0.05%", 5)])
def test_ratios_are_loaded_as_basis_points(tmp_path, written, bp):
    d = base_data()
    d["basic"]["inpatient"]["ratio"]["by_tier"]["primary"] = written
    assert load_ruleset_file(write(tmp_path, d)).basic.inpatient.ratio.by_tier["primary"] == bp


def test_points_and_factors(tmp_path):
    d = base_data()
    d["basic"]["inpatient"]["identity"] = {
        "dibao": {"source": "doc", "status": "unverified", "deductible_factor": "50%", "ratio_points": -2.5}
    }
    d["critical"]["identity_tilt"] = {
        "dibao": {"source": "doc", "status": "unverified", "threshold_factor": 0.5, "ratio_points": 5, "no_cap": True}
    }
    rs = load_ruleset_file(write(tmp_path, d))
    adj = rs.basic.inpatient.identity["dibao"]
    assert (adj.deductible_factor, adj.ratio_points) == (5000, -250)
    tilt = rs.critical.identity_tilt["dibao"]
    assert (tilt.threshold_factor, tilt.ratio_points, tilt.no_cap) == (5000, 500, True)


def test_cited_block_paths_use_file_key_names():
    rs = load_ruleset_file(BASE)
    paths = [p for p, _ in rs.cited_blocks()]
    assert "basic.inpatient.ratio" in paths and "basic.annual_caps[0]" in paths and "critical.segments" in paths
    assert "assistance.schemes.dibao" in paths
    assert rs.unverified() == ["assistance.schemes.dibao"]
    assert rs.cite(rs.basic.inpatient.ratio) == "测试〔2024〕1号, verified"


# ------------------------------------------------------------------ bad files (tests/fixtures/rules/bad)

# file → (key path, words the message must hold: what is wrong and the fix)
BAD = {
    "missing-key.yaml": ("basic.inpatient.ratio.status", ["required key `status` is missing", "add it"]),
    "unknown-key.yaml": ("basic.anual_caps", ["unknown key `anual_caps`", "did you mean 'annual_caps'", "keys allowed here"]),
    "ratio-1.5.yaml": ("basic.inpatient.ratio.by_tier.primary", ["ratio 1.5 is outside 0–100 %", "'70%'"]),
    "amount-abc.yaml": ("basic.inpatient.deductible.by_tier.primary", ["expected an amount in yuan, got 'abc'", "write a number"]),
    "amount-3-decimals.yaml": ("basic.annual_caps[0].value", ["more than two decimals", "yuan to the fen"]),
    "tier-missing.yaml": ("basic.inpatient.ratio.by_tier", ["no value for tier(s) ['secondary']", "one value per tier"]),
    "code-unknown-tier.yaml": ("codes.hosp_lv.05", ["tier 'secundary' is not in `tiers`", "did you mean 'secondary'", "map it to one of"]),
    "code-unknown-class.yaml": ("codes.med_type.21", ["'inpatients' is not a benefit class", "did you mean 'inpatient'", "use one of"]),
    "source-unknown.yaml": ("basic.annual_caps[0].source", ["'docs' is not a key of `sources`", "did you mean 'doc'", "add it to `sources`"]),
    "bands-gap.yaml": ("critical.segments.bands[1].from", ["60000.00 leaves a gap after bands[0].to 50000.00", "contiguous"]),
    "unquoted-code.yaml": ("codes.hosp_lv.7", ["is a number, but codes are text", '"07"']),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_names_file_path_and_fix(name):
    path, words = BAD[name]
    problems = problems_of(FIX / "bad" / name)
    assert len(problems) == 1, problems
    line = problems[0]
    assert line.startswith(f"{FIX / 'bad' / name}: {path}: "), line
    assert " — " in line  # what is wrong — how to fix it
    for w in words:
        assert w in line, (w, line)
    assert "Traceback" not in line and "pydantic" not in line and "Value error" not in line


def test_band_written_as_from_underscore_is_reported_with_the_yaml_name():
    problems = problems_of(FIX / "bad" / "from-underscore.yaml")
    assert any(p.endswith("(keys here: from, to, ratio); see docs/rules.md") and ".bands[0].from: required key `from`" in p for p in problems)
    assert any(".bands[0].from_: unknown key `from_` (did you mean 'from'?)" in p for p in problems)
    assert not any("from_:" in p and "required" in p for p in problems)


def test_invalid_yaml_gives_line_and_column():
    (line,) = problems_of(FIX / "bad" / "invalid-yaml.yaml")
    assert line.startswith(f"{FIX / 'bad' / 'invalid-yaml.yaml'}: line 15, column 11: not valid YAML")
    assert "at line 14" in line and "fix the syntax" in line


def test_duplicate_key_is_an_error_not_silently_overwritten():
    (line,) = problems_of(FIX / "bad" / "duplicate-key.yaml")
    assert line.startswith(f"{FIX / 'bad' / 'duplicate-key.yaml'}: line 16, column 1: duplicate key 'tiers' (first at line 14)")
    assert "keep one of them" in line


def test_all_problems_are_reported_at_once(tmp_path):
    d = base_data()
    d["basic"]["inpatient"]["ratio"]["by_tier"]["primary"] = 1.5
    d["basic"]["inpatient"]["deductible"]["by_tier"]["secondary"] = "abc"
    d["ruleset"]["benefit_year_by"] = "discharge"
    d["ruleset"]["effective_to"] = "2024-13-01"
    problems = problems_of(write(tmp_path, d))
    assert len(problems) == 4
    joined = "\n".join(problems)
    assert "ruleset.benefit_year_by: 'discharge' is not allowed — use 'enddate' or 'begndate'" in joined
    assert "ruleset.effective_to: expected a date, got '2024-13-01' — write YYYY-MM-DD" in joined


@pytest.mark.parametrize(
    "edit, path, words",
    [
        (lambda d: d["ruleset"].update(effective_to=dt.date(2023, 12, 31)), "ruleset.effective_to", ["before effective_from", "swap"]),
        (lambda d: d.update(identities=["dibao"]), "identities", ["'ordinary' is missing", "add it"]),
        (lambda d: d.update(tiers=["primary", "secondary", "primary"]), "tiers", ["listed twice"]),
        (lambda d: d["codes"]["identity"].update({"特困": "tekun"}), "codes.identity.特困", ["not in `identities`"]),
        (lambda d: d["codes"].update(pay_loc={"": "locale"}), "codes.pay_loc.", ["did you mean 'local'"]),
        (lambda d: d["codes"]["med_type"].update({"14": "chronic_outpatient"}), "codes.med_type",
         ["basic.chronic_outpatient is not defined", "map those codes to 'excluded'"]),
        (lambda d: d["basic"]["annual_caps"].append(dict(d["basic"]["annual_caps"][0])), "basic.annual_caps[1].name", ["used twice"]),
        (lambda d: d["basic"]["annual_caps"][0].update(classes=["inpatient", "outpatient"]), "basic.annual_caps[0].classes[1]",
         ["'outpatient' is not a benefit class"]),
        (lambda d: d["assistance"]["schemes"].update(tekun=dict(d["assistance"]["schemes"]["dibao"])), "assistance.schemes.tekun",
         ["identity not in `identities`"]),
        (lambda d: d["basic"]["inpatient"]["ratio"].update(by_place={"abroad": {"primary": 0.5}}), "basic.inpatient.ratio.by_place.abroad",
         ["unknown place of care"]),
        (lambda d: d["basic"]["inpatient"]["deductible"]["by_tier"].update(tertiary=1000), "basic.inpatient.deductible.by_tier.tertiary",
         ["unknown tier"]),
        (lambda d: d["basic"]["inpatient"].update(repeat_admission={"source": "doc", "status": "verified", "deductible_factor_by_nth": {1: 0.5}}),
         "basic.inpatient.repeat_admission.deductible_factor_by_nth.1", ["2 or more"]),
        (lambda d: d["basic"]["inpatient"].update(identity={"dibao": {"source": "doc", "status": "verified", "deductible_factor": 1.5}}),
         "basic.inpatient.identity.dibao.deductible_factor", ["factor 1.5 is outside 0–1"]),
        (lambda d: d["basic"]["inpatient"]["ratio"]["by_tier"].update(primary=85), "basic.inpatient.ratio.by_tier.primary",
         ["did you mean '85%'"]),
        (lambda d: d["basic"]["inpatient"]["deductible"]["by_tier"].update(primary=-100), "basic.inpatient.deductible.by_tier.primary",
         ["negative"]),
        (lambda d: d["basic"]["inpatient"]["deductible"]["by_tier"].update(primary="1万"), "basic.inpatient.deductible.by_tier.primary",
         ["no 万"]),
        (lambda d: d["critical"]["segments"].update(bands=[{"from": 10000, "ratio": 0.6}, {"from": 50000, "ratio": 0.65}]),
         "critical.segments.bands[0].to", ["only the last band may be open", "to: 50000.00"]),
        (lambda d: d["critical"]["segments"].update(bands=[{"from": 10000, "to": 5000, "ratio": 0.6}]),
         "critical.segments.bands[0].to", ["is not above `from`"]),
        (lambda d: d["critical"]["segments"].update(bands=[]), "critical.segments.bands", ["at least one band"]),
        (lambda d: d["sources"]["doc"].pop("doc_no"), "sources.doc.doc_no", ["required key `doc_no`"]),
        (lambda d: d["basic"].update(annual_caps={"name": "x"}), "basic.annual_caps", ["expected a list"]),
        (lambda d: d["critical"]["segments"].update(status="checked"), "critical.segments.status",
         ["'checked' is not allowed — use 'verified' or 'unverified'"]),
        (lambda d: d["ruleset"].update(rounding="per_visit"), "ruleset.rounding", ["'per_claim' or 'cumulative'"]),
        (lambda d: d["basic"]["inpatient"].update(referral={"source": "doc", "status": "unverified",
                                                            "by_place": {"abroad": {"unreferred": -10}}}),
         "basic.inpatient.referral.by_place.abroad", ["unknown place of care", "out_of_province"]),
        (lambda d: d["basic"]["inpatient"].update(referral={"source": "doc", "status": "unverified",
                                                            "by_place": {"local": {"unrefered": -10}}}),
         "basic.inpatient.referral.by_place.local", ["unknown key `unrefered`", "did you mean 'unreferred'"]),
        (lambda d: d["codes"].update(caveats=[{"table": "med_type", "code": "9902", "source": "doc", "status": "unverified"}]),
         "codes.caveats[0].code", ["'9902' is not a key of codes.med_type"]),
    ],
)
def test_cross_checks_and_values(tmp_path, edit, path, words):
    d = base_data()
    edit(d)
    f = write(tmp_path, d)
    problems = problems_of(f)
    hits = [p for p in problems if p.startswith(f"{f}: {path}")]
    assert hits, problems
    for w in words:
        assert any(w in p for p in hits), (w, hits)
    assert all(" — " in p for p in problems), problems


# ------------------------------------------------------------------ files that are not rule sets


@pytest.mark.parametrize(
    "content, words",
    [
        ("", "expected a mapping with keys ruleset"),
        ("- a\n- b\n", "expected a mapping with keys ruleset"),
        ("just text", "expected a mapping with keys ruleset"),
    ],
)
def test_not_a_mapping(tmp_path, content, words):
    f = tmp_path / "x.yaml"
    f.write_text(content, encoding="utf-8")
    (line,) = problems_of(f)
    assert line.startswith(f"{f}: ") and words in line


def test_not_utf8(tmp_path):
    f = tmp_path / "gbk.yaml"
    f.write_bytes("ruleset: 文水".encode("gb18030"))
    (line,) = problems_of(f)
    assert line.startswith(f"{f}: not UTF-8 text") and "save the rule file as UTF-8" in line


def test_no_such_rule_set():
    (line,) = problems_of("nowhere/nothing-1999")
    assert "no such rule-set file or directory" in line and "medclaim rules list" in line


def test_empty_directory(tmp_path):
    (line,) = problems_of(tmp_path)
    assert "holds no *.yaml rule sets" in line


# ------------------------------------------------------------------ region directories of periods


def test_contiguous_periods_load_in_date_order():
    book = load_rulebook(FIX / "periods-ok")
    assert [str(rs.ruleset.effective_from) for rs in book.periods] == ["2023-01-01", "2024-01-01"]
    assert [f.name for f in book.files] == ["2023.yaml", "2024.yaml"]


def test_overlapping_periods():
    (line,) = problems_of(FIX / "periods-overlap")
    assert line.startswith(f"{FIX / 'periods-overlap' / '2024.yaml'}: ruleset.effective_from: 2024-01-01 overlaps 2023.yaml")
    assert "must not overlap" in line and "start this period on 2024-04-01 or end the other on 2023-12-31" in line


def test_periods_with_a_gap():
    (line,) = problems_of(FIX / "periods-gap")
    assert line.startswith(f"{FIX / 'periods-gap' / '2024.yaml'}: ruleset.effective_from: 2024-01-01 leaves a gap after 2023.yaml")
    assert "2023-12-01..2023-12-31 has no rules" in line and "start this period on 2023-12-01" in line


def test_mixed_regions_in_one_directory():
    (line,) = problems_of(FIX / "periods-mixed")
    assert line.startswith(f"{FIX / 'periods-mixed'}: ruleset.region: the directory mixes regions")
    assert "2023.yaml: 'test/base'" in line and "2024.yaml: 'test/other'" in line and "one region's periods per directory" in line


def test_bad_file_in_a_directory_is_named(tmp_path):
    shutil.copy(FIX / "periods-ok" / "2023.yaml", tmp_path / "2023.yaml")
    shutil.copy(FIX / "bad" / "ratio-1.5.yaml", tmp_path / "2024.yaml")
    (line,) = problems_of(tmp_path)
    assert line.startswith(f"{tmp_path / '2024.yaml'}: basic.inpatient.ratio.by_tier.primary: ")


# ------------------------------------------------------------------ never a traceback

DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
GARBAGE = ["abc", -1, 1.555, True, None, [1], {"x": 1}, float("inf"), float("nan"), dt.date(2024, 1, 1), 10**30, "", "1e400"]


def _paths(node, pre=()):
    if pre:
        yield pre
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, pre + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, pre + (i,))


def test_any_garbage_anywhere_gives_rule_set_error_with_path_and_fix(tmp_path):
    """Replace every key's value by every kind of garbage, drop every key, add an unknown key to every
    mapping: loading either succeeds or raises RuleSetError whose lines are 'file: path: what — fix'."""
    data = base_data()
    f = tmp_path / "g.yaml"
    cases = 0
    for path in list(_paths(data)):
        variants = [("set", g) for g in GARBAGE] + [("del", None), ("extra", None)]
        for op, value in variants:
            d = copy.deepcopy(data)
            parent = d
            for k in path[:-1]:
                parent = parent[k]
            if op == "set":
                parent[path[-1]] = value
            elif op == "del":
                del parent[path[-1]]
            elif isinstance(parent[path[-1]], dict):
                parent[path[-1]]["zzz_typo"] = 1
            else:
                continue
            # validate the data directly (YAML cannot write every garbage value) and through a file
            try:
                RuleSet.model_validate(d)
            except Exception as e:  # noqa: BLE001 — pydantic's own error is fine here; the loader is tested below
                assert type(e).__name__ == "ValidationError", (path, op, value, e)
            try:
                text = yaml.dump(d, Dumper=DUMPER, allow_unicode=True)
            except yaml.YAMLError:
                continue
            cases += 1
            try:
                _parse_ruleset(text, f)  # what load_ruleset_file does after reading the file
            except RuleSetError as e:
                assert e.problems
                for line in e.problems:
                    assert line.startswith(f"{f}: ") and " — " in line, (path, op, value, line)
                if op == "extra":
                    assert any("zzz_typo" in line for line in e.problems), (path, e.problems)
    assert cases > 500
