"""Scores, grades, verdicts and the result document; the clause edges themselves are rule tests as data."""
from __future__ import annotations

import pytest

import compliance
from compliance import Status

from conftest import BASE, DELETE, profile, without

P, PT, F, M, NA = "pass", "partial", "fail", "missing", "not_applicable"
SIG, AM, FB = BASE["signage"], BASE["amenities"], BASE["services"]["feedback_loop"]
ZONES = BASE["space"]["zones"]


def zones(*pairs: tuple[str, float]) -> list[dict]:
    return [{"kind": k, "area_m2": a} for k, a in pairs]


def test_every_national_clause_is_exercised_by_the_rule_tests(national):
    """The clause edges live as data in rules/tests/national/ (run by test_ruletests.py)."""
    from compliance import ruletest
    from conftest import ROOT

    covered = set()
    for path in ruletest.find_test_files(ROOT / "rules" / "tests" / "national"):
        import yaml
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
            covered |= set(case["expect"].get("clauses", {}))
    assert {c.clause for c in national.clauses} <= covered


def test_one_finding_per_clause_in_clause_order(national):
    result = compliance.evaluate(profile(center__setting="rural"), national)
    numbers = [f["clause"] for f in result.to_dict()["findings"]]
    assert numbers == ["4.1", "4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "5.1", "5.2", "5.3", "5.4", "5.5", "5.6",
                       "6.1", "6.2", "6.3", "6.4", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6",
                       "8.1", "8.2", "8.3", "8.4", "8.5", "8.6", "8.7"]


def test_shortfall_in_m2_rounds_up_to_a_tenth(national):
    # 0.8 × 200.01 − 150 = 10.008 → 10.1 (never down to 10.0, which would leave the clause short)
    doc = compliance.evaluate(profile(space__zones=zones(("service_hall", 150), ("office", 50.01))), national)
    assert doc.finding("5.2").shortfall.amount == pytest.approx(10.1)


def test_persons_shortfall_is_robust_to_float_products(national):
    # 0.6 × 5 is 3.0000000000000004 in binary; 3 certified of 5 passes and 2 of 5 needs exactly one more.
    ok = compliance.evaluate(profile(staff__community_workers=5, staff__certified_social_workers=3,
                                     staff__college_educated=5), national)
    assert ok.finding("7.3").status is Status.PASS
    short = compliance.evaluate(profile(staff__community_workers=5, staff__certified_social_workers=2,
                                        staff__college_educated=5), national)
    assert short.finding("7.3").shortfall.amount == 1


# ---------------------------------------------------------------- score, grade and verdict

NATIONAL_WEIGHT = 58   # 13 signage + 13 zoning + 7 amenities + 12 staffing + 13 service


def test_full_marks_for_the_spec_example(national):
    result = compliance.evaluate(profile(), national)
    assert (result.score, result.grade, result.verdict.value) == (100.0, "excellent", "conforming")
    assert all(c.score == 100.0 for c in result.categories)


def test_score_is_weighted_credit_over_applicable_weight(national):
    # 4.7 (weight 1) fails and 4.4 (weight 3) earns 4/6: (58 − 1 − 1) / 58
    result = compliance.evaluate(profile(signage=without(SIG, "grid_map", "staff_board", "opening_hours")), national)
    assert result.score == round(100 * 56 / 58, 1) == 96.6
    signage = next(c for c in result.categories if c.id == "signage")
    assert signage.score == round(100 * 11 / 13, 1)


def test_not_applicable_clauses_leave_the_denominator(national):
    # rural: 6.2 (weight 2) drops out; 6.4 (weight 1) fails: 100 × (56 − 1) / 56
    zones_no_rest = [z for z in ZONES if z["kind"] != "rest_station"]
    result = compliance.evaluate(profile(center__setting="rural", space__zones=zones_no_rest), national)
    assert result.score == round(100 * 55 / 56, 1)
    amenities = next(c for c in result.categories if c.id == "amenities")
    assert amenities.score == round(100 * 4 / 5, 1)


def test_missing_counts_as_zero_and_is_reported_apart(national):
    result = compliance.evaluate(profile(staff={}), national)
    statuses = {f.clause.clause: f.status for f in result.findings if f.clause.category == "staffing"}
    assert set(statuses.values()) == {Status.MISSING}
    assert result.score == round(100 * (58 - 12) / 58, 1)
    assert [f.clause.clause for f in result.not_evidenced] == ["7.1", "7.2", "7.3", "7.4", "7.5", "7.6"]
    assert not any(f.status is Status.FAIL for f in result.findings)


@pytest.mark.parametrize("changes, clause", [
    ({"signage": without(SIG, "facade_nameplate")}, "4.1"),
    ({"space__service_hall_floor": 2}, "5.5"),
    ({"space__service_hall_floor": DELETE}, "5.5"),
    ({"services__single_window": False}, "8.1"),
    ({"space__zones": zones(("service_hall", 150), ("office", 50))}, "5.2"),
])
def test_a_failed_or_missing_veto_clause_makes_the_centre_non_conforming(changes, clause, national):
    result = compliance.evaluate(profile(**changes), national)
    assert result.score >= 80          # a score that alone would be "good"
    assert result.verdict.value == "non_conforming"
    assert result.grade == "unqualified"
    assert [f.clause.clause for f in result.vetoed] == [clause]
    assert result.to_dict()["vetoed"] == [clause]


def test_a_score_below_60_is_non_conforming_without_any_veto(national):
    doc = profile(signage=["facade_nameplate"], amenities=[], staff={}, space__open_plan=False,
                  services={"single_window": True})
    result = compliance.evaluate(doc, national)
    assert result.score < 60 and not result.vetoed
    assert (result.verdict.value, result.grade) == ("non_conforming", "unqualified")


@pytest.mark.parametrize("score, grade", [(100, "excellent"), (90.0, "excellent"), (89.9, "good"), (80.0, "good"),
                                          (79.9, "qualified"), (60.0, "qualified"), (59.9, "unqualified"), (0, "unqualified")])
def test_grade_boundaries_are_inclusive(score, grade, national):
    assert national.grade_for(score).id == grade


def test_scores_carry_one_decimal(national):
    result = compliance.evaluate(profile(signage=without(SIG, "grid_map")), national)
    assert result.score == 98.3            # 100 × 57 / 58 = 98.2758…
    assert result.to_dict()["score"] == 98.3


def test_result_document_has_the_documented_shape(national):
    doc = compliance.evaluate(profile(space__zones=zones(("service_hall", 150), ("office", 50))), national).to_dict("zh")
    assert doc["result_version"] == 1
    assert doc["center"]["id"] == "330212-SN-0103"
    assert doc["ruleset"]["id"] == "national" and doc["ruleset"]["layers"] == ["national"]
    assert (doc["grade"], doc["verdict"], doc["score"]) == ("unqualified", "non_conforming", 87.1)   # 58 − 3 − 2 − 1.5 − 1 of 58
    f52 = next(f for f in doc["findings"] if f["clause"] == "5.2")
    assert f52 == {**f52, "category": "zoning", "level": "shall", "veto": True, "status": "fail", "credit": 0.0,
                   "measured": 0.75, "threshold": 0.8, "threshold_from": "national",
                   "shortfall": {"amount": 10.0, "unit": "m2", "missing": []},
                   "message": "将 10.0 m² 办公用房改为服务用房"}
    en = compliance.evaluate(profile(space__zones=zones(("service_hall", 150), ("office", 50))), national).to_dict("en")
    assert next(f for f in en["findings"] if f["clause"] == "5.2")["message"] == "Convert 10.0 m² of office space to service use"
