"""Nanxing's "3+X" through the at_least check type: the layer, its loosening rules, another street's own set,
and the example reports. Its clause edges are rule tests as data in rules/tests/nanxing/."""
from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import pytest

import compliance
from compliance import RuleSetError

from conftest import BASE, EXAMPLES, run_cli

HEAD = 'ruleset: street\nextends: nanxing\nversion: "1"\ntitle: {zh: 街道, en: Street}\n'
REMEDY = "再增设 2 项配套服务（可选：长者照护区、老年食堂、儿童活动区、社会组织空间）"
BEFORE = str(EXAMPLES / "mantoushan-before-2019.yaml")
CENTRE = str(EXAMPLES / "mantoushan-neighbourhood-centre.yaml")


def layer(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "street.yaml"
    path.write_text(HEAD + body + "\n", encoding="utf-8")
    return path


def test_the_nanxing_layer_adds_5_7_and_weighs_the_core_zones_more():
    rules = compliance.load_ruleset("nanxing")
    clause = rules.clause("5.7")
    assert rules.layers == ("national", "nanxing") and len(rules.clauses) == 31
    assert (clause.category, clause.level.value, clause.weight, clause.veto) == ("zoning", "shall", 2, False)
    assert clause.check_type == "at_least" and clause.threshold == 3 and clause.threshold_from == "nanxing"
    assert list(clause.check["codes"]) == ["health", "elderly_care", "canteen", "children", "social_org"]
    assert rules.clause("5.4").weight == 3 and rules.clause("5.4").set_by["weight"] == "nanxing"


@pytest.mark.parametrize("override", [
    '"5.7": {threshold: 2}',
    '"5.7": {check: {codes: [health, elderly_care, canteen, children, social_org, reading]}}',
])
def test_a_lower_n_or_a_larger_set_loosens_and_needs_a_reason(tmp_path, override):
    with pytest.raises(RuleSetError, match="without a reason"):
        compliance.load_ruleset(layer(tmp_path, f"overrides: {{{override}}}"))
    loose = compliance.load_ruleset(layer(tmp_path, f"overrides: {{{override[:-1]}, reason: 本街道配套较少}}}}"))
    assert loose.clause("5.7").notes == ("street: 本街道配套较少",)


@pytest.mark.parametrize("override", [
    '"5.7": {threshold: 4}',
    '"5.7": {check: {codes: [health, elderly_care, canteen]}}',
])
def test_a_higher_n_or_a_smaller_set_tightens(tmp_path, override):
    assert compliance.load_ruleset(layer(tmp_path, f"overrides: {{{override}}}")).id == "street"


@pytest.mark.parametrize("override, words", [
    ('"5.7": {threshold: 6}', "at least 6 of a set of 5 can never be met"),
    ('"5.7": {check: {codes: [health, canteen], min: 3}, reason: x}', "at least 3 of a set of 2 can never be met"),
    ('"5.7": {check: {codes: [health, cantene]}}', "'cantene' is not in the vocabulary 'zone_kinds'; did you mean 'canteen'?"),
    ('"5.7": {threshold: 2.5, reason: x}', "2.5 is not a whole number"),
])
def test_impossible_or_misspelt_sets_are_refused_at_lint(tmp_path, override, words):
    out = run_cli("rules", "lint", str(layer(tmp_path, f"overrides: {{{override}}}")))
    assert out.returncode == 2 and words in out.stderr, out.stderr


def test_another_street_names_its_own_set_and_minimum_with_the_same_check(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text(
        'ruleset: other\nextends: national\nversion: "1"\ntitle: {zh: 另一街道, en: Another street}\n'
        "clauses:\n  - clause: '5.8'\n    category: zoning\n    level: should\n    weight: 1\n"
        "    title: {zh: 一老一小, en: Old and young}\n    requirement: {zh: 宜设置长者或儿童服务中的至少一项。, en: x}\n"
        "    check: {type: at_least, list: zones, codes: [elderly_care, children], min: 1}\n"
        "    shortfall: {unit: items, text: {zh: '增设{amount}项（可选：{items}）', en: 'Add {amount} ({items})'}}\n",
        encoding="utf-8")
    rules = compliance.load_ruleset(path)
    finding = compliance.evaluate(BASE, rules).finding("5.8")
    assert (finding.status.value, finding.measured, finding.message("zh")) == ("fail", 0, "增设1项（可选：长者照护区、儿童活动区）")
    doc = copy.deepcopy(BASE)
    doc["space"]["zones"].append({"kind": "children", "area_m2": 0})
    assert compliance.evaluate(doc, rules).finding("5.8").passed


def test_the_mantoushan_centre_meets_3_plus_x_and_the_old_rooms_did_not():
    before = compliance.evaluate(compliance.load_profile(BEFORE), "nanxing")
    after = compliance.evaluate(compliance.load_profile(CENTRE), "nanxing")
    assert before.finding("5.7").action("zh") == REMEDY and before.finding("5.7").measured == 1
    assert after.finding("5.7").passed and after.finding("5.7").measured == 3
    assert (after.score, after.verdict.value) == (97.7, "conforming")
    text = run_cli("audit", BEFORE, "--rules", "nanxing", "--format", "text", lang=None).stdout
    assert "5.7   [应] X项配套服务（3+X）  部分符合（实测 1 项，要求值 至少 3 项（5 项可选））" in text
    assert f"→ {REMEDY}" in text
    plan = compliance.compare(BEFORE, CENTRE, "nanxing")
    assert "5.7" in [c.clause for c in plan.fixed] and plan.score_change == 49.6


def test_the_pdf_report_shows_the_clause_and_its_remedy_in_words(tmp_path):
    target = tmp_path / "before.pdf"
    out = run_cli("audit", BEFORE, "--rules", "nanxing", "--format", "pdf", "-o", str(target), lang=None)
    assert out.returncode == 1, out.stderr
    text = re.sub(r"\s+", "", subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True,
                                              check=True).stdout)
    assert REMEDY.replace(" ", "") in text and "5.7X项配套服务（3+X）" in text and "至少3项（5项可选）" in text
