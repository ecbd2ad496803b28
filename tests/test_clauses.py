"""Every national clause at its edges, with expectations worked out from standard.md."""
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


# (clause, profile changes, status, credit, measured, shortfall (amount, unit, missing) or None)
CASES = [
    # 4.x signage: one code
    ("4.1", {}, P, 1, 1.0, None),
    ("4.1", {"signage": without(SIG, "facade_nameplate")}, F, 0, 0.0, (1, "items", ["facade_nameplate"])),
    ("4.1", {"signage": DELETE}, M, 0, None, None),
    ("4.2", {"signage": without(SIG, "party_emblem")}, F, 0, 0.0, (1, "items", ["party_emblem"])),
    ("4.3", {"signage": without(SIG, "hall_guidance")}, F, 0, 0.0, (1, "items", ["hall_guidance"])),
    ("4.5", {"signage": without(SIG, "zone_signs")}, F, 0, 0.0, (1, "items", ["zone_signs"])),
    ("4.6", {"signage": without(SIG, "accessibility_signs")}, F, 0, 0.0, (1, "items", ["accessibility_signs"])),
    ("4.7", {"signage": without(SIG, "grid_map")}, F, 0, 0.0, (1, "items", ["grid_map"])),
    ("4.7", {"signage": []}, F, 0, 0.0, (1, "items", ["grid_map"])),
    # 4.4: all six wall notices, credit by share
    ("4.4", {}, P, 1, 1.0, None),
    ("4.4", {"signage": without(SIG, "service_commitment", "opening_hours")}, PT, 4 / 6, 4 / 6,
     (2, "items", ["service_commitment", "opening_hours"])),
    ("4.4", {"signage": ["facade_nameplate"]}, F, 0, 0.0,
     (6, "items", ["service_catalogue", "procedure_guide", "service_commitment", "staff_board", "complaint_hotline", "opening_hours"])),
    ("4.4", {"signage": DELETE}, M, 0, None, None),
    # 5.1: T / H × 100 ≥ 30; m² to add rounded up to 0.1
    ("5.1", {"population__households": 1800, "space__total_area_m2": 540}, P, 1, 30.0, None),
    ("5.1", {"population__households": 1800, "space__total_area_m2": 539.9}, F, 0, 539.9 / 1800 * 100, (0.1, "m2", [])),
    ("5.1", {"population__households": 1230, "space__total_area_m2": 300, "space__zones": zones(("service_hall", 200))},
     F, 0, 300 / 1230 * 100, (69.0, "m2", [])),
    ("5.1", {"population__households": 1000, "space__total_area_m2": 299.01, "space__zones": zones(("service_hall", 200))},
     F, 0, 29.901, (1.0, "m2", [])),
    ("5.1", {"population__households": 0}, NA, None, None, None),
    # 5.2: S / (S + O) ≥ 0.8; m² of office to convert
    ("5.2", {}, P, 1, 400 / 490, None),
    ("5.2", {"space__zones": zones(("service_hall", 48.3), ("activity", 31.7), ("deliberation", 32.1),
                                    ("display", 12.3), ("office", 31.1))}, P, 1, 124.4 / 155.5, None),
    ("5.2", {"space__zones": zones(("service_hall", 150), ("office", 50))}, F, 0, 0.75, (10.0, "m2", [])),
    ("5.2", {"space__zones": zones(("service_hall", 100), ("office", 20), ("archive", 10), ("staff_meeting", 3))},
     F, 0, 100 / 133, (6.4, "m2", [])),
    ("5.2", {"space__zones": zones(("restroom", 30))}, F, 0, None, None),
    ("5.2", {"space__zones": []}, F, 0, None, None),
    # 5.3: S / T ≥ 0.6; m² to turn to resident use
    ("5.3", {}, P, 1, 400 / 560, None),
    ("5.3", {"space__total_area_m2": 500, "space__zones": zones(("service_hall", 300), ("office", 50))}, P, 1, 0.6, None),
    ("5.3", {"space__total_area_m2": 560, "space__zones": zones(("service_hall", 300), ("office", 60))},
     F, 0, 300 / 560, (36.0, "m2", [])),
    # 5.4: core zones, credit by share
    ("5.4", {}, P, 1, 1.0, None),
    ("5.4", {"space__zones": zones(("service_hall", 100), ("activity", 50), ("deliberation", 30))},
     PT, 0.75, 0.75, (1, "items", ["display"])),
    ("5.4", {"space__zones": zones(("office", 100))}, F, 0, 0.0,
     (4, "items", ["service_hall", "deliberation", "activity", "display"])),
    # 5.5: hall on the ground floor
    ("5.5", {}, P, 1, 1, None),
    ("5.5", {"space__service_hall_floor": 2}, F, 0, 2, None),
    ("5.5", {"space__service_hall_floor": -1}, F, 0, -1, None),
    ("5.5", {"space__service_hall_floor": DELETE}, M, 0, None, None),
    # 5.6 open plan
    ("5.6", {"space__open_plan": False}, F, 0, False, None),
    ("5.6", {"space__open_plan": DELETE}, M, 0, None, None),
    # 6.1 convenience items by share
    ("6.1", {"amenities": without(AM, "reading_glasses")}, PT, 0.75, 0.75, (1, "items", ["reading_glasses"])),
    ("6.1", {"amenities": DELETE}, M, 0, None, None),
    # 6.2 terminal, urban only
    ("6.2", {"amenities": without(AM, "self_service_terminal")}, F, 0, 0.0, (1, "items", ["self_service_terminal"])),
    ("6.2", {"center__setting": "rural", "amenities": without(AM, "self_service_terminal")}, NA, None, None, None),
    ("6.2", {"center__setting": "rural", "amenities": DELETE}, NA, None, None, None),
    ("6.2", {"amenities": DELETE}, M, 0, None, None),
    # 6.3, 6.4
    ("6.3", {"amenities": without(AM, "accessible_entrance")}, F, 0, 0.0, (1, "items", ["accessible_entrance"])),
    ("6.4", {"space__zones": [z for z in ZONES if z["kind"] != "rest_station"]}, F, 0, 0.0, (1, "items", ["rest_station"])),
    # 7.1: W / R × 10000 ≥ 18; persons ceil(18R/10000) − W
    ("7.1", {"population__residents": 10000, "staff__community_workers": 18}, P, 1, 18.0, None),
    ("7.1", {"staff__community_workers": 9, "staff__certified_social_workers": 6, "staff__college_educated": 9},
     F, 0, 9 / 5200 * 10000, (1, "persons", [])),
    ("7.1", {"population__residents": 15000, "staff__community_workers": 20, "staff__certified_social_workers": 12,
             "staff__college_educated": 20}, F, 0, 20 / 15000 * 10000, (7, "persons", [])),
    ("7.1", {"population__residents": 0}, NA, None, None, None),
    ("7.1", {"staff__community_workers": 0, "staff__certified_social_workers": 0, "staff__college_educated": 0},
     F, 0, 0.0, (10, "persons", [])),
    ("7.1", {"staff": {"uniform_badges": True}}, M, 0, None, None),
    # 7.2: H / W ≤ 250 pass, ≤ 300 partial 0.5, above fail; persons ceil(H/250) − W
    ("7.2", {"population__households": 4500}, P, 1, 250.0, None),
    ("7.2", {"population__households": 4518}, PT, 0.5, 251.0, (1, "persons", [])),
    ("7.2", {"population__households": 5400}, PT, 0.5, 300.0, (4, "persons", [])),
    ("7.2", {"population__households": 5418}, F, 0, 301.0, (4, "persons", [])),
    ("7.2", {"staff__community_workers": 0, "staff__certified_social_workers": 0, "staff__college_educated": 0},
     F, 0, None, (8, "persons", [])),
    ("7.2", {"population__households": 0, "staff__community_workers": 0, "staff__certified_social_workers": 0,
             "staff__college_educated": 0}, NA, None, None, None),
    ("7.2", {"staff": {"uniform_badges": True}}, M, 0, None, None),
    # 7.3: certified / W ≥ 0.6; persons ceil(0.6W) − certified
    ("7.3", {"staff__community_workers": 10, "staff__certified_social_workers": 6, "staff__college_educated": 10},
     P, 1, 0.6, None),
    ("7.3", {"staff__community_workers": 5, "staff__certified_social_workers": 2, "staff__college_educated": 5},
     F, 0, 0.4, (1, "persons", [])),
    ("7.3", {"staff__community_workers": 20, "staff__certified_social_workers": 11, "staff__college_educated": 20},
     F, 0, 0.55, (1, "persons", [])),
    ("7.3", {"staff__community_workers": 0, "staff__certified_social_workers": 0, "staff__college_educated": 0},
     NA, None, None, None),
    ("7.3", {"staff__certified_social_workers": DELETE}, M, 0, None, None),
    # 7.4: college / W ≥ 0.9
    ("7.4", {"staff__community_workers": 10, "staff__certified_social_workers": 6, "staff__college_educated": 9},
     P, 1, 0.9, None),
    ("7.4", {"staff__community_workers": 20, "staff__certified_social_workers": 12, "staff__college_educated": 17},
     F, 0, 0.85, (1, "persons", [])),
    ("7.4", {"staff__community_workers": 0, "staff__certified_social_workers": 0, "staff__college_educated": 0},
     NA, None, None, None),
    # 7.5, 7.6 flags
    ("7.5", {"staff__uniform_badges": False}, F, 0, False, None),
    ("7.6", {"staff__ab_backup": False}, F, 0, False, None),
    ("7.6", {"staff__ab_backup": DELETE}, M, 0, None, None),
    # 8.x services
    ("8.1", {"services__single_window": False}, F, 0, False, None),
    ("8.1", {"services__single_window": DELETE}, M, 0, None, None),
    ("8.2", {"services__first_inquiry_responsibility": False}, F, 0, False, None),
    ("8.3", {"services__weekly_opening_hours": 40}, P, 1, 40, None),
    ("8.3", {"services__weekly_opening_hours": 37.5}, F, 0, 37.5, (2.5, "hours", [])),
    ("8.3", {"services__weekly_opening_hours": DELETE}, M, 0, None, None),
    ("8.4", {"services__after_hours_service": False}, F, 0, False, None),
    ("8.5", {"services__feedback_loop": ["collect", "handle", "respond"]}, PT, 0.6, 0.6,
     (2, "items", ["analyse", "review"])),
    ("8.5", {"services__feedback_loop": []}, F, 0, 0.0, (5, "items", FB)),
    ("8.5", {"services__feedback_loop": DELETE}, M, 0, None, None),
    ("8.6", {"services__grid_coverage": 1.0}, P, 1, 1.0, None),
    ("8.6", {"services__grid_coverage": 0.95}, F, 0, 0.95, (0.05, "ratio", [])),
    ("8.7", {"services__satisfaction_rate": 0.9}, P, 1, 0.9, None),
    ("8.7", {"services__satisfaction_rate": 0.85}, F, 0, 0.85, (0.05, "ratio", [])),
    ("8.7", {"services": {}}, M, 0, None, None),
]


def _name(case: tuple) -> str:
    clause, changes, status = case[:3]
    what = ", ".join(f"{k.replace('__', '.')}" for k in changes) or "the spec's example"
    return f"{clause} is {status} with {what}"


@pytest.mark.parametrize("case", CASES, ids=[_name(c) for c in CASES])
def test_clause_edges(case, national):
    clause, changes, status, credit, measured, shortfall = case
    result = compliance.evaluate(profile(**changes), national)
    doc = next(f for f in result.to_dict()["findings"] if f["clause"] == clause)
    assert doc["status"] == status
    if credit is None:
        assert doc["credit"] is None
    else:
        assert doc["credit"] == pytest.approx(credit)
    if measured is None or isinstance(measured, bool):
        assert doc["measured"] == measured
    else:
        assert doc["measured"] == pytest.approx(measured)
    if shortfall is None:
        assert doc["shortfall"] is None
    else:
        amount, unit, missing = shortfall
        assert doc["shortfall"]["unit"] == unit
        assert doc["shortfall"]["amount"] == pytest.approx(amount)
        assert doc["shortfall"]["missing"] == missing
        if unit == "persons":
            assert isinstance(doc["shortfall"]["amount"], int)


def test_every_national_clause_is_exercised(national):
    assert {c.clause for c in national.clauses} == {case[0] for case in CASES}


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
    doc = compliance.evaluate(profile(space__zones=zones(("service_hall", 150), ("office", 50))), national).to_dict()
    assert doc["result_version"] == 1
    assert doc["center"]["id"] == "330212-SN-0103"
    assert doc["ruleset"]["id"] == "national" and doc["ruleset"]["layers"] == ["national"]
    assert doc["grade"] in {"excellent", "good", "qualified", "unqualified"}
    f52 = next(f for f in doc["findings"] if f["clause"] == "5.2")
    assert f52 == {**f52, "category": "zoning", "level": "shall", "veto": True, "status": "fail", "credit": 0.0,
                   "measured": 0.75, "threshold": 0.8, "threshold_from": "national",
                   "shortfall": {"amount": 10.0, "unit": "m2", "missing": []},
                   "message": "将 10.0 m² 办公用房改为服务用房"}
    en = compliance.evaluate(profile(space__zones=zones(("service_hall", 150), ("office", 50))), national).to_dict("en")
    assert next(f for f in en["findings"] if f["clause"] == "5.2")["message"] == "Convert 10.0 m² of office space to service use"
