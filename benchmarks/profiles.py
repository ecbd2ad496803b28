"""Deterministic, varied, valid centre profiles for benchmarks and differential tests."""
from __future__ import annotations

import copy
import random
from pathlib import Path

import compliance

# The example of profile.md, as bundled.
BASE = compliance.load_profile(Path(__file__).resolve().parent.parent / "examples" / "haiyue.yaml").data
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
