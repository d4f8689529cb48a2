"""docs/rules.md cannot go stale: its example file loads and every schema key is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args, get_origin

from pydantic import BaseModel

from medclaim.rules import RuleSet, _unwrap, load_ruleset_file

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def schema_keys(model: type[BaseModel] = RuleSet, seen: set | None = None) -> set[str]:
    """Every key a rule file may use, as written in the file (aliases, e.g. `from`)."""
    seen = set() if seen is None else seen
    keys: set[str] = set()
    if model in seen:
        return keys
    seen.add(model)
    for name, field in model.model_fields.items():
        keys.add(field.alias or name)
        stack = [field.annotation]
        while stack:
            tp = _unwrap(stack.pop())
            if isinstance(tp, type) and issubclass(tp, BaseModel):
                keys |= schema_keys(tp, seen)
            elif get_origin(tp) in (list, dict, tuple):
                stack.extend(get_args(tp))
    return keys


def test_doc_has_exactly_one_example_and_it_loads(tmp_path):
    blocks = yaml_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 1, "docs/rules.md should hold one ```yaml example"
    f = tmp_path / "example.yaml"
    f.write_text(blocks[0], encoding="utf-8")
    rs = load_ruleset_file(f)
    assert rs.id == "example/county-2024"
    # the example exercises every section the engine reads
    b = rs.basic
    assert b.inpatient and b.inpatient.referral and b.inpatient.repeat_admission and b.inpatient.identity
    assert b.general_outpatient and b.general_outpatient.per_visit_cap and b.chronic_outpatient and b.two_diseases
    assert rs.critical and rs.critical.identity_tilt and rs.critical.annual_cap and rs.assistance
    # units as documented: yuan → fen, ratio → bp, points → bp, factor → bp
    assert b.inpatient.deductible.by_tier["secondary"] == 40000
    assert b.inpatient.deductible.by_place["in_city"] == {"secondary": 50000}
    assert b.inpatient.ratio.by_tier == {"primary": 8500, "secondary": 7500, "tertiary": 6000}
    assert b.inpatient.referral.unreferred_offsite_points == -1000
    assert b.inpatient.repeat_admission.deductible_factor_by_nth == {2: 5000}
    assert [c.value for c in b.annual_caps] == [1_000_000, 7_000_000, 30_000, 30_000]
    assert rs.critical.segments.bands[0].from_ == 1_000_000


def test_every_schema_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(k for k in schema_keys() if f"`{k}`" not in text and not re.search(rf"\b{re.escape(k)}:", text))
    assert not missing, f"keys not described in docs/rules.md: {missing}"
