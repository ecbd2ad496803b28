"""The renovation check: what a plan fixes, leaves short and breaks."""
from __future__ import annotations

import json
import subprocess

import pytest

import compliance
from compliance import Change

from conftest import BASE, DELETE, EXAMPLES, profile, run_cli, without

SIG = BASE["signage"]
BEFORE = str(EXAMPLES / "renovation" / "before.yaml")
AFTER = str(EXAMPLES / "renovation" / "after.yaml")


@pytest.mark.parametrize("before, after, clause, change", [
    ({"services__single_window": False}, {}, "8.1", Change.FIXED),
    ({}, {"services__weekly_opening_hours": 35}, "8.3", Change.BROKEN),
    ({"signage": without(SIG, "staff_board", "opening_hours", "complaint_hotline", "procedure_guide")},
     {"signage": without(SIG, "staff_board", "opening_hours")}, "4.4", Change.IMPROVED),
    ({"signage": without(SIG, "staff_board")}, {"signage": without(SIG, "staff_board", "opening_hours")},
     "4.4", Change.WORSENED),
    ({"space__open_plan": False}, {"space__open_plan": False}, "5.6", Change.STILL_SHORT),
    ({"space__open_plan": DELETE}, {"space__open_plan": True}, "5.6", Change.FIXED),
    ({}, {}, "5.5", Change.UNCHANGED),
    ({"center__setting": "rural"}, {"center__setting": "rural"}, "6.2", Change.NOT_APPLICABLE),
    ({"population__households": 2000}, {"population__households": 2000, "space__total_area_m2": 600}, "5.1",
     Change.FIXED),
])
def test_each_clause_is_classified_by_what_the_plan_does(before, after, clause, change):
    comparison = compliance.compare(profile(**before), profile(**after))
    found = next(c for c in comparison.changes if c.clause == clause)
    assert found.change is change


def test_the_bundled_renovation_pair():
    comparison = compliance.compare(BEFORE, AFTER, "national")
    assert (comparison.before.score, comparison.after.score) == (45.2, 93.1)
    assert comparison.score_change == 47.9
    assert comparison.before.verdict.value == "non_conforming" and comparison.after.verdict.value == "conforming"
    assert {"5.2", "5.5", "8.1"} <= {c.clause for c in comparison.fixed}
    assert [c.clause for c in comparison.still_short] == ["5.1", "7.4"]
    assert comparison.broken == ()
    still = comparison.still_short[0].after
    assert still.shortfall.amount == 69.0 and still.action("zh") == "增加 69.0 m² 用房面积"


def test_comparison_document_lists_every_clause():
    doc = compliance.compare(BEFORE, AFTER, "yinzhou").to_dict()
    assert doc["comparison_version"] == 1 and doc["same_center"] is True
    assert len(doc["clauses"]) == 37       # the 30 national clauses and Ningbo's and Yinzhou's seven
    assert doc["before"]["verdict"] == "non_conforming" and doc["after"]["verdict"] == "conforming"
    assert set(doc["fixed"]) | set(doc["still_short"]) | set(doc["broken"]) <= {c["clause"] for c in doc["clauses"]}


def test_audit_results_can_be_compared_directly():
    before = compliance.evaluate(compliance.load_profile(BEFORE), "national")
    after = compliance.evaluate(compliance.load_profile(AFTER), "national")
    comparison = compliance.compare(before, after, "national")
    assert comparison.before is before and comparison.after is after


def test_different_centres_are_flagged():
    comparison = compliance.compare(profile(), profile(center__id="OTHER-1"))
    assert comparison.same_center is False
    assert "中心编码不同" in compliance.render(comparison, "text", lang="zh")


def test_compare_on_the_command_line(tmp_path):
    out = run_cli("compare", BEFORE, AFTER, "--format", "text", lang=None)       # Chinese, the default
    assert out.returncode == 0
    assert "改造解决的问题" in out.stdout and "增加 69.0 m² 用房面积" in out.stdout
    doc = json.loads(run_cli("compare", BEFORE, AFTER).stdout)
    assert doc["score_change"] == 47.9
    target = tmp_path / "renovation.pdf"
    assert run_cli("compare", BEFORE, AFTER, "--format", "pdf", "-o", str(target), "--lang", "en").returncode == 0
    text = subprocess.run(["pdftotext", str(target), "-"], capture_output=True, text=True).stdout
    assert "What the plan fixes" in text and "Add 69.0 m² of floor area" in text
    worse = run_cli("compare", AFTER, BEFORE, "--format", "text", lang=None)
    assert worse.returncode == 1 and "改造带来的新问题" in worse.stdout and "8.1" in worse.stdout
    assert run_cli("compare", BEFORE, "missing.yaml").returncode == 2
