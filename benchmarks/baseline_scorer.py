"""The throughput benchmark's baseline: what a team would write first for the national clauses.

Plain dicts, one ``if`` per clause, floating point throughout; it computes
statuses, the score, the grade and the verdict, and nothing of shortfalls.
It is a yardstick for speed only: the oracle the tests compare the library
against is ``tests/oracle/reference_scorer.py``, exact and complete.
"""
from __future__ import annotations

import math

SERVICE = {"service_hall", "consultation", "deliberation", "activity", "display", "rest_station", "reading",
           "children", "elderly_care", "health", "canteen", "social_org", "multipurpose"}
OFFICE = {"office", "archive", "staff_meeting"}
WALL = ["service_catalogue", "procedure_guide", "service_commitment", "staff_board", "complaint_hotline", "opening_hours"]
CORE = ["service_hall", "deliberation", "activity", "display"]
HALL = ["writing_materials", "reading_glasses", "drinking_water", "seating"]
LOOP = ["collect", "analyse", "handle", "respond", "review"]
EPS = 1e-9

# clause: (category, weight, veto)
CLAUSES = {
    "4.1": ("signage", 3, True), "4.2": ("signage", 2, False), "4.3": ("signage", 2, False),
    "4.4": ("signage", 3, False), "4.5": ("signage", 1, False), "4.6": ("signage", 1, False),
    "4.7": ("signage", 1, False), "5.1": ("zoning", 3, False), "5.2": ("zoning", 3, True),
    "5.3": ("zoning", 2, False), "5.4": ("zoning", 2, False), "5.5": ("zoning", 2, True),
    "5.6": ("zoning", 1, False), "6.1": ("amenities", 2, False), "6.2": ("amenities", 2, False),
    "6.3": ("amenities", 2, False), "6.4": ("amenities", 1, False), "7.1": ("staffing", 3, False),
    "7.2": ("staffing", 2, False), "7.3": ("staffing", 3, False), "7.4": ("staffing", 1, False),
    "7.5": ("staffing", 1, False), "7.6": ("staffing", 2, False), "8.1": ("service", 3, True),
    "8.2": ("service", 2, False), "8.3": ("service", 2, False), "8.4": ("service", 1, False),
    "8.5": ("service", 2, False), "8.6": ("service", 1, False), "8.7": ("service", 2, False),
}


def _share(present, required):
    if present is None:
        return "missing", 0.0
    have = sum(1 for code in required if code in present)
    if have == len(required):
        return "pass", 1.0
    return ("partial" if have else "fail"), have / len(required)


def _flag(value):
    if value is None:
        return "missing", 0.0
    return ("pass", 1.0) if value else ("fail", 0.0)


def _at_least(value, threshold):
    if value is None:
        return "missing", 0.0
    return ("pass", 1.0) if value >= threshold - EPS else ("fail", 0.0)


def statuses(p: dict) -> dict[str, tuple[str, float]]:
    """clause → (status, credit)."""
    sig = p.get("signage")
    am = p.get("amenities")
    staff = p.get("staff", {})
    sv = p.get("services", {})
    zones = p["space"]["zones"]
    kinds = {z["kind"] for z in zones}
    S = sum(z["area_m2"] for z in zones if z["kind"] in SERVICE)
    O = sum(z["area_m2"] for z in zones if z["kind"] in OFFICE)
    T = p["space"]["total_area_m2"]
    H = p["population"]["households"]
    R = p["population"]["residents"]
    W = staff.get("community_workers")
    out = {}
    for clause, code in (("4.1", "facade_nameplate"), ("4.2", "party_emblem"), ("4.3", "hall_guidance"),
                         ("4.5", "zone_signs"), ("4.6", "accessibility_signs"), ("4.7", "grid_map")):
        out[clause] = _share(sig, [code])
    out["4.4"] = _share(sig, WALL)
    out["5.1"] = ("not_applicable", 0.0) if H == 0 else _at_least(T / H * 100, 30)
    out["5.2"] = ("fail", 0.0) if S + O == 0 else _at_least(S / (S + O), 0.8)
    out["5.3"] = _at_least(S / T, 0.6)
    out["5.4"] = _share(kinds, CORE)
    floor = p["space"].get("service_hall_floor")
    out["5.5"] = ("missing", 0.0) if floor is None else (("pass", 1.0) if floor == 1 else ("fail", 0.0))
    out["5.6"] = _flag(p["space"].get("open_plan"))
    out["6.1"] = _share(am, HALL)
    out["6.2"] = ("not_applicable", 0.0) if p["center"]["setting"] == "rural" else _share(am, ["self_service_terminal"])
    out["6.3"] = _share(am, ["accessible_entrance"])
    out["6.4"] = _share(kinds, ["rest_station"])
    if W is None:
        out["7.1"] = ("not_applicable", 0.0) if R == 0 else ("missing", 0.0)
        out["7.2"] = out["7.3"] = out["7.4"] = ("missing", 0.0)
    else:
        out["7.1"] = ("not_applicable", 0.0) if R == 0 else _at_least(W / R * 10000, 18)
        if W == 0:
            out["7.2"] = ("not_applicable", 0.0) if H == 0 else ("fail", 0.0)
        else:
            per = H / W
            out["7.2"] = ("pass", 1.0) if per <= 250 + EPS else (("partial", 0.5) if per <= 300 + EPS else ("fail", 0.0))
        for clause, key, rate in (("7.3", "certified_social_workers", 0.6), ("7.4", "college_educated", 0.9)):
            if W == 0:
                out[clause] = ("not_applicable", 0.0)
            elif staff.get(key) is None:
                out[clause] = ("missing", 0.0)
            else:
                out[clause] = _at_least(staff[key] / W, rate)
    out["7.5"] = _flag(staff.get("uniform_badges"))
    out["7.6"] = _flag(staff.get("ab_backup"))
    out["8.1"] = _flag(sv.get("single_window"))
    out["8.2"] = _flag(sv.get("first_inquiry_responsibility"))
    out["8.3"] = _at_least(sv.get("weekly_opening_hours"), 40)
    out["8.4"] = _flag(sv.get("after_hours_service"))
    out["8.5"] = _share(sv.get("feedback_loop"), LOOP)
    out["8.6"] = _at_least(sv.get("grid_coverage"), 1.0)
    out["8.7"] = _at_least(sv.get("satisfaction_rate"), 0.9)
    return out


def score(p: dict) -> dict:
    found = statuses(p)
    earned = total = 0.0
    vetoed = False
    for clause, (status, credit) in found.items():
        category, weight, veto = CLAUSES[clause]
        if status == "not_applicable":
            continue
        earned += weight * credit
        total += weight
        if veto and status in ("fail", "missing"):
            vetoed = True
    value = math.floor(100 * earned / total * 10 + 0.5 + 1e-9) / 10
    conforming = not vetoed and value >= 60
    grade = "unqualified"
    if conforming:
        grade = "excellent" if value >= 90 else "good" if value >= 80 else "qualified"
    return {"score": value, "grade": grade, "verdict": "conforming" if conforming else "non_conforming",
            "statuses": {k: v[0] for k, v in found.items()}}
