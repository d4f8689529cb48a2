"""Label files: every language has every key, with the same {placeholders}; explain uses no other text."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from medclaim import explain as ex
import medclaim.labels as labels_module  # where the loader and LABELS_DIR live
from medclaim.rules import BENEFIT_CLASSES, EXCLUDED, PLACES, list_rulesets, load_ruleset_file

LANGS = ex.available_languages()


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_zh_and_en_are_shipped():
    assert {"zh", "en"} <= set(LANGS)
    assert ex.DEFAULT_LANG == "zh"


@pytest.mark.parametrize("lang", LANGS)
def test_every_language_has_the_same_keys_and_placeholders(lang):
    ref = ex.load_labels("en").text
    other = ex.load_labels(lang).text
    assert sorted(set(ref) - set(other)) == [], f"{lang}.yaml lacks keys"
    assert sorted(set(other) - set(ref)) == [], f"{lang}.yaml has keys en.yaml does not"
    for key, text in ref.items():
        assert placeholders(other[key]) == placeholders(text), f"{lang}.yaml: {key} placeholders differ"


def test_every_literal_label_key_used_by_explain_exists():
    src = "".join(p.read_text(encoding="utf-8") for p in Path(ex.__file__).parent.glob("*.py"))
    used = set(re.findall(r'\bL\("([a-z_.]+)"', src))
    assert used, "no label keys found — has the call style changed?"
    text = ex.load_labels("en").text
    assert sorted(k for k in used if k not in text) == []


@pytest.mark.parametrize("lang", LANGS)
def test_names_of_every_shipped_rule_sets_keys(lang):
    """Each class, tier, place and identity a shipped rule set uses has a name in every language."""
    text = ex.load_labels(lang).text
    needed = {f"class.{c}" for c in (*BENEFIT_CLASSES, EXCLUDED)} | {f"place.{p}" for p in PLACES}
    for _, path in list_rulesets():
        rs = load_ruleset_file(path)
        needed |= {f"tier.{t}" for t in rs.tiers} | {f"identity.{i}" for i in rs.identities}
    assert sorted(needed - set(text)) == []


def test_unknown_language_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="no labels for language 'xx' — available: en, zh"):
        ex.load_labels("xx")


def test_a_third_language_is_a_file(tmp_path, monkeypatch):
    """Dropping a labels file in place is all a new language takes."""
    import yaml

    data = yaml.safe_load((labels_module.LABELS_DIR / "en.yaml").read_text(encoding="utf-8"))
    data["head"]["title"] = "Personne {person} · année {year} · {n} décompte(s)"
    (tmp_path / "en.yaml").write_text((labels_module.LABELS_DIR / "en.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "fr.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(labels_module, "LABELS_DIR", tmp_path)
    ex.load_labels.cache_clear()
    try:
        assert "fr" in ex.available_languages()
        assert ex.load_labels("fr")("head.title", person="3417**0433", year=2021, n=2).startswith("Personne 3417**0433")
    finally:
        ex.load_labels.cache_clear()
