from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import compliance

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# The example of profile.md: every national clause passes.
BASE: dict[str, Any] = {
    "schema_version": 1,
    "center": {"id": "330212-SN-0103", "name": "海悦社区便民服务中心", "setting": "urban"},
    "population": {"households": 1800, "residents": 5200},
    "space": {
        "total_area_m2": 560,
        "service_hall_floor": 1,
        "open_plan": True,
        "zones": [
            {"kind": "service_hall", "area_m2": 150},
            {"kind": "deliberation", "area_m2": 40},
            {"kind": "activity", "area_m2": 160},
            {"kind": "display", "area_m2": 30},
            {"kind": "rest_station", "area_m2": 20},
            {"kind": "office", "area_m2": 90},
            {"kind": "restroom", "area_m2": 30},
        ],
    },
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

_DELETE = object()


def profile(**changes: Any) -> dict[str, Any]:
    """A copy of BASE with dotted-path changes; a value of DELETE removes the key."""
    doc = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        keys = dotted.split("__")
        node = doc
        for key in keys[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return doc


DELETE = _DELETE


def without(lst: list[str], *codes: str) -> list[str]:
    return [c for c in lst if c not in codes]


def run_cli(*args: str, input: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "compliance", *args], capture_output=True, input=input,
                         cwd=cwd or ROOT, timeout=120)
    out.stdout, out.stderr = out.stdout.decode("utf-8"), out.stderr.decode("utf-8")
    return out


@pytest.fixture(scope="session")
def national() -> compliance.RuleSet:
    return compliance.load_ruleset("national")
