"""Deterministic, varied, valid centre profiles for benchmarks and differential tests."""
from __future__ import annotations

import copy
import random

BASE = {
    "schema_version": 1,
    "center": {"id": "330212-SN-0103", "name": "海悦社区便民服务中心", "community": "海悦社区",
               "region": {"province": "浙江省", "city": "宁波市", "district": "鄞州区", "street": "首南街道"},
               "setting": "urban", "housing": "commercial", "assessed_on": "2026-11-01"},
    "population": {"households": 1800, "residents": 5200},
    "space": {"total_area_m2": 560, "service_hall_floor": 1, "open_plan": True, "zones": [
        {"kind": "service_hall", "area_m2": 150, "name": "综合服务大厅"}, {"kind": "deliberation", "area_m2": 40},
        {"kind": "activity", "area_m2": 160}, {"kind": "display", "area_m2": 30},
        {"kind": "rest_station", "area_m2": 20}, {"kind": "office", "area_m2": 90},
        {"kind": "restroom", "area_m2": 30}]},
    "signage": ["facade_nameplate", "party_emblem", "hall_guidance", "service_catalogue", "procedure_guide",
                "service_commitment", "staff_board", "complaint_hotline", "opening_hours", "zone_signs",
                "accessibility_signs", "grid_map"],
    "amenities": ["writing_materials", "reading_glasses", "drinking_water", "seating", "self_service_terminal",
                  "accessible_entrance"],
    "staff": {"community_workers": 18, "certified_social_workers": 13, "college_educated": 17,
              "uniform_badges": True, "ab_backup": True},
    "services": {"single_window": True, "first_inquiry_responsibility": True, "weekly_opening_hours": 45,
                 "after_hours_service": True, "feedback_loop": ["collect", "analyse", "handle", "respond", "review"],
                 "grid_coverage": 1.0, "satisfaction_rate": 0.93},
}
KINDS = ["service_hall", "consultation", "deliberation", "activity", "display", "rest_station", "reading",
         "children", "elderly_care", "office", "archive", "staff_meeting", "restroom", "storage"]


def make(n: int, seed: int = 20261122) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = copy.deepcopy(BASE)
        p["center"]["id"] = f"330212-{i:06d}"
        p["center"]["setting"] = "rural" if rng.random() < 0.15 else "urban"
        p["population"]["households"] = rng.choice([0, rng.randint(200, 6000)]) if rng.random() < 0.05 else rng.randint(200, 6000)
        p["population"]["residents"] = p["population"]["households"] * rng.randint(2, 3)
        zones = [{"kind": rng.choice(KINDS), "area_m2": round(rng.uniform(5, 200), 1)} for _ in range(rng.randint(0, 12))]
        p["space"]["zones"] = zones
        p["space"]["total_area_m2"] = round(sum(z["area_m2"] for z in zones) + rng.uniform(1, 150), 1)
        p["space"]["service_hall_floor"] = rng.choice([1, 1, 1, 2, -1])
        p["space"]["open_plan"] = rng.random() < 0.7
        for key in ("signage", "amenities"):
            if rng.random() < 0.05:
                del p[key]
            else:
                p[key] = [c for c in p[key] if rng.random() < 0.85]
        w = rng.randint(0, 30)
        p["staff"] = {"community_workers": w, "certified_social_workers": rng.randint(0, w),
                      "college_educated": rng.randint(0, w), "uniform_badges": rng.random() < 0.9,
                      "ab_backup": rng.random() < 0.8}
        if rng.random() < 0.05:
            del p["staff"]["certified_social_workers"]
        sv = p["services"]
        sv["single_window"] = rng.random() < 0.9
        sv["weekly_opening_hours"] = rng.choice([35, 38.5, 40, 44, 48])
        sv["feedback_loop"] = [c for c in sv["feedback_loop"] if rng.random() < 0.85]
        sv["grid_coverage"] = rng.choice([0.8, 0.95, 1.0])
        sv["satisfaction_rate"] = round(rng.uniform(0.8, 1.0), 3)
        if rng.random() < 0.05:
            del sv["satisfaction_rate"]
        out.append(p)
    return out
