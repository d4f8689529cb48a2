"""The `targets` block of a rule file: validated like every other block, with the key path."""

from __future__ import annotations

import pytest

from medclaim.rules import RuleSetError, load_rulebook

from report_ledger import rules_with_assisted_target


def test_shipped_targets_are_cited_and_verified():
    (dz,) = load_rulebook("anhui/dongzhi-2021").periods
    ip = dz.targets["inpatient_fund_ratio"]
    assert (ip.value, ip.comparison, ip.funds, ip.status) == (7000, "at_least", ["basic"], "verified")
    assert dz.cite(ip).startswith("东医保〔2021〕6号") and "70%以上" in ip.quote
    assert dz.targets["general_outpatient_ratio"].value == 5000
    (ws,) = load_rulebook("shanxi/wenshui-2024").periods
    a = ws.targets["assisted_inpatient_compliant_ratio"]
    assert (a.value, a.funds, a.places) == (8000, ["basic", "critical", "assistance"], ["local", "in_city", "in_province"])
    assert "平均达到80%" in a.quote and ws.cite(a).startswith("文医保发〔2023〕10号")
    assert (ws.targets["inpatient_fund_ratio"].comparison, ws.targets["inpatient_fund_ratio"].tolerance_points) == ("about", 200)


@pytest.mark.parametrize("bad, expected", [
    ("identities: [tekun, dibao, fanpin, monitored]", "targets.assisted_inpatient_compliant_ratio.identities.tekunn: identity not in `identities`"),
    ("places: [local, in_city, in_province]", "targets.assisted_inpatient_compliant_ratio.places[0]: 'locall' is not a place of care"),
    ("classes: [inpatient]\n    funds", "targets.assisted_inpatient_compliant_ratio.classes[0]: 'inpatiant' is not a benefit class"),
    ("value: 80%", "targets.assisted_inpatient_compliant_ratio.value: ratio '800%' is outside 0–100 %"),
    ("funds: [basic, critical, assistance]", "targets.assisted_inpatient_compliant_ratio.funds[1]"),
])
def test_a_bad_target_names_its_key_path(tmp_path, bad, expected):
    path = rules_with_assisted_target(tmp_path)
    text = path.read_text(encoding="utf-8")
    head, tail = text.rsplit("  assisted_inpatient_compliant_ratio:", 1)
    broken = {
        "identities": tail.replace("[tekun,", "[tekunn,"),
        "places": tail.replace("[local,", "[locall,"),
        "classes": tail.replace("classes: [inpatient]", "classes: [inpatiant]"),
        "value": tail.replace("value: 80%", "value: 800%"),
        "funds": tail.replace("[basic, critical,", "[basic, critic,"),
    }[bad.split(":")[0]]
    path.write_text(head + "  assisted_inpatient_compliant_ratio:" + broken, encoding="utf-8")
    with pytest.raises(RuleSetError) as e:
        load_rulebook(path)
    assert any(expected in p for p in e.value.problems), e.value.problems
