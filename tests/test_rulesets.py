"""Layers, overrides and their provenance, and rule-set errors."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import compliance
from compliance import RuleSetError
from compliance import reading

from conftest import EXAMPLES, profile


def layer(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


@pytest.mark.parametrize("name, clause, threshold, origin", [
    ("national", "7.1", 18, "national"),
    ("ningbo", "7.1", 22, "ningbo"),
    ("ningbo", "7.3", 0.7, "ningbo"),
    ("ningbo", "5.1", 30, "national"),
    ("yinzhou", "5.1", 40, "yinzhou"),
    ("yinzhou", "7.1", 22, "ningbo"),
    ("yinzhou", "7.3", 0.7, "ningbo"),
    ("yinzhou", "7.2", 250, "national"),
    ("beijing", "7.1", 18, "national"),
    ("beijing", "5.6", True, "national"),
])
def test_bundled_layers_carry_the_spec_thresholds_and_their_origin(name, clause, threshold, origin):
    c = compliance.load_ruleset(name).clause(clause)
    assert c.threshold == threshold
    assert c.threshold_from == origin


@pytest.mark.parametrize("name, clause, level, weight, set_by", [
    ("yinzhou", "7.2", "shall", 3, "yinzhou"),
    ("ningbo", "7.2", "should", 2, "national"),
    ("beijing", "5.6", "shall", 2, "beijing"),
    ("beijing", "6.4", "shall", 2, "beijing"),
])
def test_layers_change_levels_and_weights(name, clause, level, weight, set_by):
    c = compliance.load_ruleset(name).clause(clause)
    assert (c.level.value, c.weight, c.set_by["level"]) == (level, weight, set_by)


def test_layer_chains():
    assert compliance.load_ruleset("yinzhou").layers == ("national", "ningbo", "yinzhou")
    assert compliance.load_ruleset("beijing").layers == ("national", "beijing")


def test_local_thresholds_change_the_shortfall():
    # 海创: 15,000 residents, 20 workers, 11 certified.
    doc = compliance.load_profile(EXAMPLES / "haichuang-large-community.yaml")
    national = compliance.evaluate(doc, "national")
    ningbo = compliance.evaluate(doc, "ningbo")
    assert national.finding("7.1").shortfall.amount == 7     # ceil(18 × 1.5) − 20
    assert ningbo.finding("7.1").shortfall.amount == 13      # ceil(22 × 1.5) − 20
    assert national.finding("7.3").shortfall.amount == 1     # ceil(0.6 × 20) − 11
    assert ningbo.finding("7.3").shortfall.amount == 3       # ceil(0.7 × 20) − 11
    assert ningbo.to_dict()["findings"][17]["threshold_from"] == "ningbo"


def test_yinzhou_makes_households_per_worker_a_shall_of_weight_3():
    # 7.2 partial (275 households per worker) costs 1 point of 2 nationally and 1.5 of 3 in Yinzhou.
    doc = compliance.load_profile(EXAMPLES / "haichuang-large-community.yaml")
    f = compliance.evaluate(doc, "yinzhou").finding("7.2")
    assert (f.status.value, f.credit, f.clause.weight) == ("partial", 0.5, 3)


def test_a_rule_set_is_compiled_once_and_never_rereads_yaml(monkeypatch):
    rules = compliance.load_ruleset("yinzhou")
    monkeypatch.setattr(reading, "load", lambda *a, **k: pytest.fail("evaluation read a file"))
    monkeypatch.setattr(reading, "parse", lambda *a, **k: pytest.fail("evaluation parsed YAML"))
    for households in range(1000, 1010):
        compliance.evaluate(profile(population__households=households), rules)
    assert compliance.load_ruleset("yinzhou") is rules


def test_a_district_layer_that_tightens_needs_no_reason(tmp_path):
    path = layer(tmp_path, "district", """\
        ruleset: district
        extends: yinzhou
        version: "1"
        title: {zh: 某区, en: A district}
        overrides:
          "8.3": {threshold: 50}
          "5.2": {threshold: 0.85}
        """)
    rules = compliance.load_ruleset(path)
    assert rules.layers == ("national", "ningbo", "yinzhou", "district")
    assert rules.clause("8.3").threshold == 50 and rules.clause("8.3").threshold_from == "district"
    assert compliance.evaluate(profile(), rules).finding("8.3").shortfall.amount == 5


@pytest.mark.parametrize("override, words", [
    ('"5.2": {threshold: 0.7}', "threshold from 0.8 to 0.7"),
    ('"7.2": {threshold: 300}', "threshold from 250 to 300"),
    ('"4.4": {threshold: [service_catalogue]}', "threshold"),
    ('"8.1": {veto: false}', "veto"),
    ('"6.1": {level: should}', "shall to should"),
    ('"6.3": {not_applicable_when: [{field: center.setting, in: [rural]}]}', "does not apply"),
])
def test_a_layer_that_loosens_without_a_reason_is_refused(tmp_path, override, words):
    path = layer(tmp_path, "loose", f"""\
        ruleset: loose
        extends: national
        version: "1"
        title: {{zh: 宽松, en: Loose}}
        overrides:
          {override}
        """)
    with pytest.raises(RuleSetError) as info:
        compliance.load_ruleset(path)
    problem = info.value.problems[0]
    assert words in problem.message and "without a reason" in problem.message
    assert problem.file == str(path) and problem.line == 6
    assert problem.clause == override.split('"')[1]


def test_a_loosening_with_a_reason_is_recorded(tmp_path):
    path = layer(tmp_path, "mountain", """\
        ruleset: mountain
        extends: national
        version: "1"
        title: {zh: 山区, en: Mountain}
        overrides:
          "8.3": {threshold: 30, reason: 山区村落分散，按季节开放}
        disable:
          "6.2": {reason: 山区无稳定网络}
        """)
    rules = compliance.load_ruleset(path)
    assert rules.clause("8.3").threshold == 30
    assert rules.clause("8.3").notes == ("mountain: 山区村落分散，按季节开放",)
    assert [(d.clause, d.layer) for d in rules.disabled] == [("6.2", "mountain")]
    with pytest.raises(KeyError):
        rules.clause("6.2")
    result = compliance.evaluate(profile(services__weekly_opening_hours=30), rules)
    assert result.score == 100.0 and len(result.findings) == 29


def test_a_layer_adds_clauses_and_vocabulary(tmp_path):
    path = layer(tmp_path, "plus", """\
        ruleset: plus
        extends: national
        version: "1"
        title: {zh: 扩展, en: Plus}
        vocabularies:
          amenities:
            umbrella: {zh: 爱心雨伞, en: umbrella}
        clauses:
          - clause: "6.5"
            category: amenities
            level: should
            weight: 1
            title: {zh: 爱心雨伞, en: Umbrellas}
            requirement: {zh: 宜提供爱心雨伞。, en: Umbrellas are lent.}
            check: {type: has_code, list: amenities, code: umbrella}
            shortfall: {unit: items, text: {zh: "配备{items}", en: "Provide {items}"}}
        """)
    rules = compliance.load_ruleset(path)
    f = compliance.evaluate(compliance.load_profile(profile(), rules=rules), rules).finding("6.5")
    assert f.status.value == "fail" and f.message("zh") == "配备爱心雨伞"
    ok = compliance.load_profile(profile(amenities=["umbrella"]), rules=rules)
    assert compliance.evaluate(ok, rules).finding("6.5").passed
    with pytest.raises(compliance.ProfileError):
        compliance.load_profile(profile(amenities=["umbrella"]))      # national does not know it


@pytest.mark.parametrize("body, message, clause", [
    ('clauses: [{clause: "9.1", category: service, level: shall, weight: 1, title: {zh: a, en: a}, '
     'requirement: {zh: a, en: a}, check: {type: treshold, field: services.single_window}}]',
     "'treshold' is not one of", "9.1"),
    ('clauses: [{clause: "9.1", category: service, level: shall, weight: 1, title: {zh: a, en: a}, '
     'requirement: {zh: a, en: a}, check: {type: flag, field: services.single_windw}}]',
     "did you mean 'services.single_window'?", "9.1"),
    ('clauses: [{clause: "9.1", category: servce, level: shall, weight: 1, title: {zh: a, en: a}, '
     'requirement: {zh: a, en: a}, check: {type: flag, field: services.single_window}}]',
     "did you mean 'service'?", "9.1"),
    ('overrides: {"5.9": {weight: 2}}', "not in the parent", "5.9"),
    ('overrides: {"5.5": {threshold: 2, reason: x}, "5.6": {threshold: 3}}', "has no threshold", "5.6"),
    ('clauses: [{clause: "4.1", category: signage, level: shall, weight: 1, title: {zh: a, en: a}, '
     'requirement: {zh: a, en: a}, check: {type: flag, field: space.open_plan}}]', "already defined by 'national'", "4.1"),
    ('disable: {"6.2": {}}', "required key 'reason' is missing", "6.2"),
    ('overrides: {"8.3": {shortfall: {unit: hours, text: {zh: "{amount.__class__}", en: x}}}}', "no format specification, index or attribute",
     "8.3"),
    ('vocabularies: {zone_kinds: {office: {class: service, zh: 办公, en: office}}}', "not reclassify", None),
])
def test_rule_set_errors_name_the_clause_and_the_problem(tmp_path, body, message, clause):
    path = layer(tmp_path, "bad", """\
        ruleset: bad
        extends: national
        version: "1"
        title: {zh: 坏, en: Bad}
        """)
    path.write_text(path.read_text() + body + "\n", encoding="utf-8")
    with pytest.raises(RuleSetError) as info:
        compliance.load_ruleset(path)
    assert any(message in p.message and p.clause == clause for p in info.value.problems), info.value.problems


def test_an_unknown_rule_set_name_suggests_the_nearest():
    with pytest.raises(RuleSetError, match="did you mean 'ningbo'"):
        compliance.load_ruleset("ningpo")


def test_layers_that_extend_each_other_in_a_loop_are_refused(tmp_path):
    for a, b in (("a", "b"), ("b", "a")):
        layer(tmp_path, a, f"""\
            ruleset: {a}
            extends: {b}
            version: "1"
            title: {{zh: x, en: x}}
            """)
    with pytest.raises(RuleSetError, match="loop"):
        compliance.load_ruleset(tmp_path / "a.yaml")


def test_a_folder_of_layers_loads_its_leaf(tmp_path):
    layer(tmp_path, "city", """\
        ruleset: city
        extends: national
        version: "1"
        title: {zh: 市, en: City}
        overrides: {"8.3": {threshold: 42}}
        """)
    layer(tmp_path, "street", """\
        ruleset: street
        extends: city
        version: "1"
        title: {zh: 街道, en: Street}
        overrides: {"8.3": {threshold: 44}}
        """)
    rules = compliance.load_ruleset(tmp_path)
    assert rules.layers == ("national", "city", "street")
    assert rules.clause("8.3").threshold_from == "street"


@pytest.mark.parametrize("name, added", [
    ("national", []), ("beijing", []), ("nanxing", ["5.7"]), ("ningbo", ["7.7", "8.8", "8.9"]),
    ("yinzhou", ["7.7", "7.8", "8.8", "8.9", "8.10", "8.11", "8.12"]),
])
def test_the_bundled_rule_sets_carry_the_national_clauses_and_their_own(name, added):
    rules = compliance.load_ruleset(name)
    national = [c.clause for c in compliance.load_ruleset("national").clauses]
    numbers = [c.clause for c in rules.clauses]
    assert sorted(numbers, key=compliance.model.clause_key) == numbers          # 7.8 after 7.7, 8.10 after 8.9
    assert set(numbers) == set(national) | set(added) and len(rules.content_hash) == 64


def test_content_hash_changes_with_the_rules(tmp_path):
    path = layer(tmp_path, "strict", """\
        ruleset: strict
        extends: national
        version: "2026.1"
        title: {zh: 严, en: Strict}
        overrides: {"8.3": {threshold: 41}}
        """)
    assert compliance.load_ruleset(path).content_hash != compliance.load_ruleset("national").content_hash


def test_the_reference_district_layer_loads_as_documented(tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "docs" / "reference.md").read_text(encoding="utf-8")
    block = readme.split("# rules for 某某区, saved as district.yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "district.yaml"
    path.write_text(block, encoding="utf-8")
    rules = compliance.load_ruleset(path)
    assert rules.layers == ("national", "ningbo", "yinzhou", "district")
    assert rules.clause("7.2").threshold == 300 and rules.clause("7.2").threshold_from == "district"
    assert rules.clause("6.4").level.value == "shall"
    assert [d.clause for d in rules.disabled] == ["4.7"]
    assert rules.clause("6.5").check_type == "has_code"
