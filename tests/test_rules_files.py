"""The rule files shipped under rules/: they load, cite what they claim, and map real export values."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medclaim.rules import BENEFIT_CLASSES, PLACES, RULES_DIR, list_rulesets, load_rulebook, load_ruleset_file

SHIPPED = list_rulesets()
IDS = [rid for rid, _ in SHIPPED]


def test_the_expected_files_are_shipped():
    assert {"anhui/dongzhi-2021", "shandong/critical-illness-2014", "shanxi/wenshui-2024"} <= set(IDS)


def test_rules_list_shows_every_file_of_the_repositorys_rules_directory():
    """`rules/` at the top of the repository (what the README points to) and what the program lists
    are the same files: the package data the wheel ships (tests/test_plain_install.py installs it)."""
    from typer.testing import CliRunner

    from medclaim.cli import app

    top = Path(__file__).resolve().parent.parent / "rules"
    files = {str(Path(d, f).relative_to(top).with_suffix("")) for d, _, fs in os.walk(top, followlinks=True)
             for f in fs if f.endswith(".yaml")}
    r = CliRunner().invoke(app, ["rules", "list"])
    assert r.exit_code == 0, r.output
    assert {line.split("\t")[0] for line in r.output.splitlines()} == files
    assert top.resolve() == RULES_DIR


@pytest.mark.parametrize("rid", IDS)
def test_every_shipped_file_loads_and_its_id_is_its_path(rid):
    book = load_rulebook(rid)
    (rs,) = book.periods
    assert rs.id == rid
    assert book.files[0] == (RULES_DIR / rid).with_suffix(".yaml")


@pytest.mark.parametrize("region_dir", sorted({p.parent for _, p in SHIPPED}))
def test_every_region_directory_loads_as_a_book(region_dir):
    # one region per directory, periods contiguous
    assert load_rulebook(region_dir).periods


@pytest.mark.parametrize("rid", IDS)
def test_every_cited_block_names_a_listed_source(rid):
    rs = load_ruleset_file((RULES_DIR / rid).with_suffix(".yaml"))
    blocks = rs.cited_blocks()
    assert blocks
    for path, block in blocks:
        assert block.source in rs.sources, (path, block.source)
        assert rs.sources[block.source].doc_no
        assert block.status in ("verified", "unverified")
    # every source listed is cited at least once
    assert {b.source for _, b in blocks} == set(rs.sources)


@pytest.mark.parametrize("rid", IDS)
def test_every_hospital_level_code_and_name_maps(rid):
    rs = load_ruleset_file((RULES_DIR / rid).with_suffix(".yaml"))
    for code in [f"{i:02d}" for i in range(1, 12)]:
        assert rs.codes.hosp_lv.get(code) in rs.tiers, code
    for name in ["三级特等", "三级甲等", "三级乙等", "三级丙等", "二级甲等", "二级乙等", "二级丙等", "一级甲等", "一级乙等", "一级丙等", "无等级"]:
        assert rs.codes.hosp_lv.get(name) in rs.tiers, name


# ------------------------------------------------------------------ 文水 2024

WENSHUI = "shanxi/wenshui-2024"


@pytest.fixture(scope="module")
def ws():
    (rs,) = load_rulebook(WENSHUI).periods
    return rs


def test_wenshui_period_and_region(ws):
    m = ws.ruleset
    assert (str(m.effective_from), str(m.effective_to), m.region, m.benefit_year_by) == ("2024-01-01", "2024-12-31", "shanxi/wenshui", "enddate")
    assert ws.sources["wy-2023-10"].doc_no == "文医保发〔2023〕10号"


def test_wenshui_general_outpatient_limit_is_300_yuan_and_verified(ws):
    (cap,) = [c for c in ws.basic.annual_caps if c.classes == ["general_outpatient"]]
    assert cap.value == 30_000  # fen
    assert cap.status == "verified" and cap.source == "wy-2023-10"
    assert "300" in cap.ref and "二" in cap.ref
    assert ws.cite(cap).startswith("文医保发〔2023〕10号 二")


def test_wenshui_chronic_outpatient_counts_toward_critical_verified(ws):
    assert ws.critical.classes == ["inpatient", "chronic_outpatient"]
    assert ws.critical.basis.status == "verified" and ws.critical.basis.source == "wy-2023-10"
    assert ws.critical.include_preselfpay is None


def test_wenshui_assistance_one_limit_shared_by_outpatient_and_inpatient(ws):
    a = ws.assistance
    assert set(a.classes) == set(BENEFIT_CLASSES)
    assert a.basis.status == "verified" and a.basis.source == "wy-2023-10"
    assert set(a.schemes) == {"tekun", "dibao", "fanpin", "monitored", "edge"}
    for name, scheme in a.schemes.items():
        assert scheme.annual_limit is not None and scheme.status == "unverified", name
    # 国办发〔2021〕42号: no less than 70 % for 低保 and 特困
    assert a.schemes["tekun"].ratio >= 7000 and a.schemes["dibao"].ratio >= 7000


def test_wenshui_verified_blocks_are_exactly_what_the_document_fixes(ws):
    verified = sorted(p for p, b in ws.cited_blocks() if b.status == "verified")
    assert verified == ["assistance.basis", "basic.annual_caps[2]",
                        "contributions", "contributions.aid.dibao", "contributions.aid.fanpin",
                        "contributions.aid.monitored", "contributions.aid.tekun", "critical.basis",
                        "enrollment.collection_period", "enrollment.late_enrollment",
                        "targets.assisted_inpatient_compliant_ratio", "targets.inpatient_fund_ratio"]
    for p, b in ws.cited_blocks():
        if b.status == "verified":
            assert b.source == "wy-2023-10" and b.ref, p
        else:
            assert b.source != "wy-2023-10", p  # nothing is passed off as the county document


def test_wenshui_city_placeholders(ws):
    ip = ws.basic.inpatient
    assert ip.deductible.source == ip.ratio.source == "lv-2024-19"
    assert ip.deductible.status == ip.ratio.status == "unverified"
    assert ip.deductible.by_tier == {"primary": 10_000, "secondary": 40_000, "tertiary": 100_000}
    assert ip.ratio.by_tier == {"primary": 8500, "secondary": 7500, "tertiary": 6000}
    # 二级 outside the county = 市级二类 500 / 70 %; nothing else differs by place
    for place in ("in_city", "in_province", "out_of_province"):
        assert ip.deductible.by_place[place] == {"secondary": 50_000}
        assert ip.ratio.by_place[place] == {"secondary": 7000}
    assert ip.repeat_admission.deductible_factor_by_nth == {2: 5000}
    (cap,) = [c for c in ws.basic.annual_caps if "inpatient" in c.classes]
    assert cap.value == 7_000_000 and cap.status == "unverified"
    assert ws.basic.general_outpatient.ratio.by_tier == {"primary": 6000, "secondary": 5500, "tertiary": 4500}
    bands = ws.critical.segments.bands
    assert [(b.from_, b.to, b.ratio) for b in bands] == [
        (1_000_000, 5_000_000, 6000), (5_000_000, 10_000_000, 6500), (10_000_000, None, 7500)
    ]
    assert ws.critical.annual_cap.value == 40_000_000 and ws.critical.annual_cap.status == "unverified"


def test_wenshui_critical_tilt_recipients_with_placeholder_numbers(ws):
    tilt = ws.critical.identity_tilt
    assert set(tilt) == {"tekun", "dibao", "fanpin"}  # 晋医保发〔2021〕14号: 特困 (incl. orphans), 低保, 返贫致贫
    for t in tilt.values():
        assert t.source == "jin-2021-14" and t.status == "unverified"
        assert (t.threshold_factor, t.ratio_points, t.no_cap) == (5000, 500, True)


def test_wenshui_tier_mapping(ws):
    hl = ws.codes.hosp_lv
    assert {hl[c] for c in ["01", "02", "03", "04"]} == {"tertiary"}
    assert {hl[c] for c in ["05", "06", "07"]} == {"secondary"}
    assert {hl[c] for c in ["08", "09", "10", "11"]} == {"primary"}


@pytest.mark.parametrize(
    "value, cls",
    [("11", "general_outpatient"), ("普通门诊", "general_outpatient"), ("14", "chronic_outpatient"), ("门诊慢特病", "chronic_outpatient"),
     ("21", "inpatient"), ("普通住院", "inpatient"), ("22", "inpatient"), ("外伤住院", "inpatient"), ("23", "inpatient"),
     ("转外诊治住院", "inpatient"), ("24", "inpatient"), ("急诊转住院", "inpatient"), ("两病门诊", "two_diseases"),
     ("41", "excluded"), ("定点药店购药", "excluded"), ("51", "excluded"), ("生育门诊", "excluded"), ("52", "excluded"), ("生育住院", "excluded")],
)
def test_wenshui_med_types(ws, value, cls):
    assert ws.codes.med_type[value] == cls


def test_wenshui_places(ws):
    assert {ws.codes.pay_loc[k] for k in ["", "本地"]} == {"local"}
    assert [ws.codes.pay_loc[k] for k in ["市内异地", "省内异地", "跨省异地"]] == ["in_city", "in_province", "out_of_province"]
    assert set(ws.codes.pay_loc.values()) <= set(PLACES)


@pytest.mark.parametrize(
    "name, ident",
    [
        # 文医保发〔2023〕10号 一(二)
        ("特困人员", "tekun"), ("低保对象", "dibao"), ("返贫致贫人口", "fanpin"), ("乡村振兴部门监测对象", "monitored"),
        ("脱贫不稳定人口", "monitored"), ("边缘易致贫人口", "monitored"), ("突发严重困难人口", "monitored"),
        # Anhui-style export names
        ("农村特困供养", "tekun"), ("城市特困供养", "tekun"), ("农村低保", "dibao"), ("城市低保", "dibao"), ("低保边缘户", "edge"),
        ("监测户", "monitored"), ("稳定脱贫人口", "stable_exit"), ("致贫返贫人口", "fanpin"), ("孤儿", "tekun"),
        ("事实无人抚养儿童", "tekun"), ("重度残疾人", "disabled"), ("", "ordinary"),
        # 文医保发〔2023〕10号 三 names 脱贫人口 (参保全覆盖): its own identity, no special treatment
        ("脱贫人口", "tuopin"),
    ],
)
def test_wenshui_identities(ws, name, ident):
    assert ws.codes.identity[name] == ident


def test_wenshui_unverified_count_is_reported(ws):
    blocks = ws.cited_blocks()
    assert len(ws.unverified()) == len(blocks) - 12 > 0


# ------------------------------------------------------------------ 东至 2021 and 山东 2014


def test_dongzhi_tilt_is_verified_half_threshold_plus_five_no_cap():
    (rs,) = load_rulebook("anhui/dongzhi-2021").periods
    tilt = rs.critical.identity_tilt
    # 特困人员、低保对象、脱贫人口（不含稳定脱贫人口）: verified; 返贫致贫人口 is not named (placeholder)
    assert set(tilt) == {"tekun", "dibao", "tuopin", "fanpin"}
    for name, t in tilt.items():
        assert t.status == ("unverified" if name == "fanpin" else "verified")
        assert rs.sources[t.source].doc_no == "东医保〔2021〕6号"
        assert (t.threshold_factor, t.ratio_points, t.no_cap) == (5000, 500, True)
    assert "stable_exit" not in tilt


def test_dongzhi_maps_poverty_exit_tilted_and_stable_exit_not():
    (rs,) = load_rulebook("anhui/dongzhi-2021").periods
    assert rs.codes.identity["脱贫人口"] == "tuopin" and "tuopin" in rs.critical.identity_tilt
    assert rs.codes.identity["稳定脱贫人口"] == "stable_exit" and "stable_exit" not in rs.critical.identity_tilt


@pytest.mark.parametrize("rid", ["anhui/dongzhi-2021", "shanxi/wenshui-2024"])
def test_shipped_rule_sets_round_per_claim(rid):
    (rs,) = load_rulebook(rid).periods
    assert rs.ruleset.rounding == "per_claim"


@pytest.mark.parametrize("rid, source", [("anhui/dongzhi-2021", "cz-2019-15"), ("shanxi/wenshui-2024", "lv-2024-19")])
def test_placeholder_sources_say_where_the_figures_come_from(rid, source):
    (rs,) = load_rulebook(rid).periods
    note = " ".join(rs.sources[source].note.split())
    assert "unofficial, machine-compiled collection that contradicts itself" in note
    assert "third-party" not in note
    assert all(b.status == "unverified" for _, b in rs.cited_blocks() if b.source == source)


def test_dongzhi_9901_mapping_is_flagged_unverified():
    (rs,) = load_rulebook("anhui/dongzhi-2021").periods
    (cav,) = [c for c in rs.codes.caveats if c.table == "med_type" and c.code == "9901"]
    assert cav.status == "unverified" and "重大疾病门诊" in cav.note
    assert "codes.caveats[0]" in rs.unverified()


def test_shandong_2014_bands_and_cap_are_verified():
    (rs,) = load_rulebook("shandong/critical-illness-2014").periods
    seg = rs.critical.segments
    assert seg.status == "verified" and rs.critical.annual_cap.status == "verified"
    assert [(b.from_, b.to, b.ratio) for b in seg.bands] == [(1_000_000, 10_000_000, 5000), (10_000_000, None, 6000)]
    assert rs.critical.annual_cap.value == 20_000_000
    assert rs.basic.reported is not None
