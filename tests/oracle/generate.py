"""Deterministic generator of valid centre profiles that sit on the edges of the standard.

    make(n, seed, ruleset="national") -> list[dict]

Every profile is valid under the profile contract (required keys, vocabularies, ranges and the
semantic checks: zone areas add up to no more than the total + 0.5 m², certified and
college-educated workers not more than the workers, shares in 0..1, hours in 0..168, whole
counts >= 0, no repeated codes).  Each profile starts from a plausible centre and is then pushed
onto one "edge": a value exactly at a threshold or one step either side of it, a zero
denominator with and without the rest of its data, an absent section or key, a score whose
exact value is a rounding tie, and so on.  The same (n, seed, ruleset) always gives the same
profiles.  ``validate(profile)`` returns the list of problems (empty when valid).

Standard library only; the tie searches use the sibling reference_scorer module.
"""
from __future__ import annotations

import copy
import math
import random
from fractions import Fraction

try:  # the tie searches need the exact score
    import reference_scorer as _ref
except ImportError:  # pragma: no cover - used as a package
    from . import reference_scorer as _ref

SERVICE_KINDS = ["service_hall", "consultation", "deliberation", "activity", "display",
                 "rest_station", "reading", "children", "elderly_care", "health", "canteen",
                 "social_org", "multipurpose"]
OFFICE_KINDS = ["office", "archive", "staff_meeting"]
SUPPORT_KINDS = ["storage", "restroom", "equipment", "circulation"]
ZONE_KINDS = SERVICE_KINDS + OFFICE_KINDS + SUPPORT_KINDS
CORE = ["service_hall", "deliberation", "activity", "display"]
X_KINDS = ["health", "elderly_care", "canteen", "children", "social_org"]
OTHER_SERVICE = [k for k in SERVICE_KINDS if k not in CORE + X_KINDS + ["rest_station"]]

SIGNAGE = ["facade_nameplate", "party_emblem", "hall_guidance", "service_catalogue",
           "procedure_guide", "service_commitment", "staff_board", "complaint_hotline",
           "opening_hours", "zone_signs", "accessibility_signs", "grid_map"]
AMENITIES = ["writing_materials", "reading_glasses", "drinking_water", "seating",
             "self_service_terminal", "accessible_entrance", "wifi", "charging",
             "first_aid_kit", "baby_care"]
STAGES = ["collect", "analyse", "handle", "respond", "review"]
GROUPS = ["elderly", "disabled", "unemployed", "low_income", "left_behind_children"]

SERVICE_FLAGS = ["single_window", "first_inquiry_responsibility", "after_hours_service",
                 "task_list_posted"]
STAFF_FLAGS = ["uniform_badges", "ab_backup"]


# --------------------------------------------------------------------------
# Thresholds of the rule set the edges aim at
# --------------------------------------------------------------------------
def _t51(ruleset):
    return 40 if ruleset == "yinzhou" else 30


def _t71(ruleset):
    return 22 if ruleset in ("ningbo", "yinzhou") else 18


def _t73(ruleset):
    return Fraction(7, 10) if ruleset in ("ningbo", "yinzhou") else Fraction(6, 10)


def _dec(x: Fraction) -> float | int:
    """A Fraction with a short decimal expansion as the JSON number it is written as."""
    return int(x) if x.denominator == 1 else float(x)


# --------------------------------------------------------------------------
# Zones
# --------------------------------------------------------------------------
def _split(rng, tenths: int, kinds: list) -> list:
    """Split an area given in tenths of m² over kinds (each gets at least 0.1 m²)."""
    kinds = list(kinds)
    if not kinds or tenths <= 0:
        return []
    kinds = kinds[:tenths]
    cuts = sorted(rng.sample(range(1, tenths), len(kinds) - 1)) if len(kinds) > 1 else []
    bounds = [0] + cuts + [tenths]
    return [{"kind": k, "area_m2": _dec(Fraction(bounds[j + 1] - bounds[j], 10))}
            for j, k in enumerate(kinds)]


def _service_kinds(rng, core=None, x_count=None, rest=None):
    core = [k for k in CORE if rng.random() > 0.08] if core is None else core
    if x_count is None:
        x_count = rng.randint(0, 5)
    x = rng.sample(X_KINDS, x_count)
    rest = (rng.random() < 0.8) if rest is None else rest
    other = rng.sample(OTHER_SERVICE, rng.randint(0, len(OTHER_SERVICE)))
    return core + x + (["rest_station"] if rest else []) + other


def _set_zones(p, rng, s10, o10, u10, service_kinds=None):
    """Rebuild the zones with S, O and support areas given in tenths of m²."""
    if service_kinds is None:
        service_kinds = _service_kinds(rng)
    office = ["office"] + rng.sample(OFFICE_KINDS[1:], rng.randint(0, 2))
    support = rng.sample(SUPPORT_KINDS, rng.randint(1, len(SUPPORT_KINDS)))
    zones = (_split(rng, s10, service_kinds) + _split(rng, o10, office)
             + _split(rng, u10, support))
    rng.shuffle(zones)
    for z in zones:
        if rng.random() < 0.15:
            z["name"] = z["kind"].replace("_", " ")
    p["space"]["zones"] = zones


def _fill_zones(p, rng, service_kinds=None, s_share=None):
    """Zones that fit the total area, with a service share of about 62-74 %."""
    t10 = math.floor(Fraction(str(p["space"]["total_area_m2"])) * 10)
    s10 = int(t10 * (s_share if s_share is not None else rng.uniform(0.62, 0.74)))
    o10 = int(s10 * rng.uniform(0.1, 0.25))
    u10 = max(0, t10 - s10 - o10 - rng.randint(0, 50))
    _set_zones(p, rng, s10, o10, u10, service_kinds)


# --------------------------------------------------------------------------
# A plausible centre
# --------------------------------------------------------------------------
def _base(rng) -> dict:
    households = rng.randint(600, 4000)
    residents = int(households * rng.uniform(2.3, 3.1))
    total = _dec(Fraction(int(households * rng.uniform(0.42, 0.6) * 10), 10))
    setting = "urban" if rng.random() < 0.8 else "rural"
    p = {
        "schema_version": 1,
        "center": {"id": f"3302{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
                   "name": f"Centre {rng.randint(1, 999)}", "setting": setting},
        "population": {"households": households, "residents": residents},
        "space": {"total_area_m2": total, "zones": []},
    }
    c = p["center"]
    if rng.random() < 0.7:
        c["community"] = f"Community {rng.randint(1, 99)}"
    if rng.random() < 0.5:
        c["region"] = {"province": "Zhejiang", "city": "Ningbo", "district": "Yinzhou"}
    if rng.random() < 0.6:
        c["housing"] = rng.choice(["old", "commercial", "resettlement", "mixed"])
    if rng.random() < 0.6:
        c["assessed_on"] = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if rng.random() < 0.92:
        p["space"]["service_hall_floor"] = 1 if rng.random() < 0.85 else rng.choice([2, 3, -1])
    if rng.random() < 0.92:
        p["space"]["open_plan"] = rng.random() < 0.85
    _fill_zones(p, rng)

    if rng.random() < 0.95:
        p["signage"] = [s for s in SIGNAGE if rng.random() > 0.08]
    amen = AMENITIES[:6] if setting == "urban" else [a for a in AMENITIES[:6] if rng.random() < 0.6]
    if rng.random() < 0.95:
        p["amenities"] = [a for a in amen if rng.random() > 0.08] + rng.sample(AMENITIES[6:], rng.randint(0, 4))

    if rng.random() < 0.95:
        workers = max(1, round(residents * rng.uniform(16, 27) / 10000))
        staff = {"community_workers": workers,
                 "certified_social_workers": min(workers, math.ceil(workers * rng.uniform(0.5, 0.95))),
                 "college_educated": min(workers, math.ceil(workers * rng.uniform(0.8, 1.0)))}
        for flag in STAFF_FLAGS:
            if rng.random() < 0.93:
                staff[flag] = rng.random() < 0.9
        if rng.random() < 0.7:
            staff["grid_workers"] = rng.randint(2, 12)
        p["staff"] = staff

    if rng.random() < 0.95:
        s = {}
        for flag in SERVICE_FLAGS:
            if rng.random() < 0.92:
                s[flag] = rng.random() < 0.88
        if rng.random() < 0.93:
            s["weekly_opening_hours"] = rng.choice([40, 42, 44.5, 45, 50, 56, 38])
        if rng.random() < 0.93:
            s["feedback_loop"] = [x for x in STAGES if rng.random() > 0.1]
        if rng.random() < 0.93:
            s["grid_coverage"] = rng.choice([1.0, 1.0, 0.98, 0.995])
        if rng.random() < 0.93:
            s["satisfaction_rate"] = round(rng.uniform(0.84, 0.99), 3)
        if rng.random() < 0.75:
            s["grids"] = rng.randint(2, 12)
            if "staff" in p and rng.random() < 0.8:
                p["staff"]["grid_workers"] = max(0, s["grids"] - rng.choice([0, 0, 0, 1, 2]))
        if rng.random() < 0.75:
            s["tasks_outside_list"] = rng.choice([0, 0, 0, 1, 3])
        if rng.random() < 0.75:
            s["key_group_register"] = [g for g in GROUPS if rng.random() < 0.85]
        if rng.random() < 0.75:
            s["deliberation_sessions_12m"] = rng.choice([12, 12, 11, 13, 0, 24])
        if rng.random() < 0.75:
            s["legal_service_days_12m"] = rng.choice([12, 12, 11, 13, 0, 52])
        if rng.random() < 0.75:
            s["volunteers"] = int(residents * rng.uniform(0.1, 0.25))
        p["services"] = s
    for key in ("signage", "amenities"):
        if key in p and rng.random() < 0.5:
            rng.shuffle(p[key])
    return p


def _staff(p):
    return p.setdefault("staff", {})


def _services(p):
    return p.setdefault("services", {})


def _set_workers(p, workers, certified=None, college=None):
    st = _staff(p)
    st["community_workers"] = workers
    st["certified_social_workers"] = min(workers, st.get("certified_social_workers", workers)
                                         if certified is None else certified)
    st["college_educated"] = min(workers, st.get("college_educated", workers)
                                 if college is None else college)


# --------------------------------------------------------------------------
# Edges on the facility area (5.1), the 8:2 split (5.2), the 60 % share (5.3), zones
# --------------------------------------------------------------------------
def _area_at(p, rng, households, total: Fraction):
    p["population"]["households"] = households
    p["space"]["total_area_m2"] = _dec(total)
    _fill_zones(p, rng)


def e51_exact(p, rng, rs):
    h = rng.choice([2500, 1234, 800, 3001])
    _area_at(p, rng, h, Fraction(_t51(rs) * h, 100))


def e51_tenth_below(p, rng, rs):
    h = rng.choice([2500, 1234, 800, 3001])
    _area_at(p, rng, h, Fraction(_t51(rs) * h, 100) - Fraction(1, 10))


def e51_tenth_above(p, rng, rs):
    h = rng.choice([2500, 1234, 800])
    _area_at(p, rng, h, Fraction(_t51(rs) * h, 100) + Fraction(1, 10))


def e51_hair_below(p, rng, rs):
    """749.9999999 m² for 2,500 households (national): fails, shortfall 0.1."""
    h = rng.choice([2500, 1000])
    _area_at(p, rng, h, Fraction(_t51(rs) * h, 100) - Fraction(1, 10**7))


def e51_within_tolerance(p, rng, rs):
    """749.99999999 m² for 2,500 households: 29.9999999996 per 100, within 1e-9 of 30."""
    _area_at(p, rng, 2500, Fraction(_t51(rs) * 2500, 100) - Fraction(1, 10**8))


def e51_no_households(p, rng, rs):
    p["population"]["households"] = 0
    if rng.random() < 0.5:
        p["population"]["residents"] = 0


def _split_8_2(p, rng, delta10=0):
    t10 = math.floor(Fraction(str(p["space"]["total_area_m2"])) * 10)
    x10 = max(5, (int(t10 * rng.uniform(0.6, 0.85)) // 5) * 5)
    s10 = x10 * 4 // 5 + delta10
    u10 = max(0, t10 - x10 - rng.randint(0, 30))
    _set_zones(p, rng, s10, x10 - s10, u10)


def e52_exact(p, rng, rs):
    """S : O exactly 8 : 2 (e.g. 160 / 40)."""
    if rng.random() < 0.5:
        p["space"]["total_area_m2"] = max(p["space"]["total_area_m2"], 260)
        _set_zones(p, rng, 1600, 400, 300)
    else:
        _split_8_2(p, rng)


def e52_tenth_below(p, rng, rs):
    """S one tenth of a m² short of 8 : 2: shortfall 0.1."""
    if rng.random() < 0.5:
        p["space"]["total_area_m2"] = max(p["space"]["total_area_m2"], 260)
        _set_zones(p, rng, 1599, 401, 300)
    else:
        _split_8_2(p, rng, -1)


def e52_cap_at_office(p, rng, rs):
    """S = 0.1, O = 0.05: the remedy is capped at the office area."""
    t10 = math.floor(Fraction(str(p["space"]["total_area_m2"])) * 10)
    zones = [{"kind": rng.choice(CORE), "area_m2": 0.1}, {"kind": "office", "area_m2": 0.05}]
    zones += _split(rng, max(0, t10 - 10), rng.sample(SUPPORT_KINDS, 2))
    p["space"]["zones"] = zones


def e52_no_service_or_office(p, rng, rs):
    """S + O = 0: zones only of support kinds, or no zones at all."""
    if rng.random() < 0.5:
        p["space"]["zones"] = []
    else:
        t10 = math.floor(Fraction(str(p["space"]["total_area_m2"])) * 10)
        p["space"]["zones"] = _split(rng, t10 // 2, rng.sample(SUPPORT_KINDS, 2))


def e52_office_only(p, rng, rs):
    t10 = math.floor(Fraction(str(p["space"]["total_area_m2"])) * 10)
    p["space"]["zones"] = _split(rng, t10 // 2, ["office", "archive"]) + _split(rng, t10 // 4, ["restroom"])


def _share_60(p, rng, delta10):
    t10 = (math.floor(Fraction(str(p["space"]["total_area_m2"])) * 10) // 5) * 5
    p["space"]["total_area_m2"] = _dec(Fraction(t10, 10))
    s10 = t10 * 3 // 5 + delta10
    o10 = s10 // 5
    _set_zones(p, rng, s10, o10, max(0, t10 - s10 - o10 - rng.randint(0, 20)))


def e53_exact(p, rng, rs):
    """S exactly 60 % of T (e.g. 300 of 500)."""
    if rng.random() < 0.4:
        p["space"]["total_area_m2"] = 500
    _share_60(p, rng, 0)


def e53_tenth_below(p, rng, rs):
    if rng.random() < 0.4:
        p["space"]["total_area_m2"] = 500
    _share_60(p, rng, -1)


def e53_cap_small_facility(p, rng, rs):
    """A facility of a fraction of a m2 (T < 0.25): 5.3's remedy is capped at the area not yet in resident
    use, T - S, as the decimals are written (0.15 - 0.05 is 0.1); its service area in one or two zones."""
    t100 = rng.randint(2, 24)
    s100 = rng.randint(0, (t100 * 3 - 1) // 5)           # S/T below 60 %
    p["space"]["total_area_m2"] = _dec(Fraction(t100, 100))
    kinds = rng.sample(CORE, 2)
    if s100 >= 2 and rng.random() < 0.5:
        first = rng.randint(1, s100 - 1)
        parts = [first, s100 - first]
    else:
        parts = [s100] if s100 else []
    p["space"]["zones"] = [{"kind": k, "area_m2": _dec(Fraction(a, 100))} for k, a in zip(kinds, parts)]


def e54_core_subset(p, rng, rs):
    core = rng.sample(CORE, rng.randint(0, 3))
    _fill_zones(p, rng, service_kinds=_service_kinds(rng, core=core) or ["reading"])


def e57_x_count(p, rng, rs):
    """0..5 of the X services; sometimes one of them is a 0 m² zone."""
    count = rng.randint(0, 5)
    _fill_zones(p, rng, service_kinds=_service_kinds(rng, core=list(CORE), x_count=count))
    xs = [z for z in p["space"]["zones"] if z["kind"] in X_KINDS]
    if xs and rng.random() < 0.4:
        xs[0]["area_m2"] = 0


def e64_no_rest_station(p, rng, rs):
    _fill_zones(p, rng, service_kinds=_service_kinds(rng, rest=False))


def e55_floor_and_plan(p, rng, rs):
    sp = p["space"]
    choice = rng.choice(["absent", 2, -1, 3, 1])
    if choice == "absent":
        sp.pop("service_hall_floor", None)
    else:
        sp["service_hall_floor"] = choice
    plan = rng.choice(["absent", False, True])
    if plan == "absent":
        sp.pop("open_plan", None)
    else:
        sp["open_plan"] = plan


# --------------------------------------------------------------------------
# Edges on staffing (7.1 - 7.4)
# --------------------------------------------------------------------------
def e71_exact(p, rng, rs):
    r = rng.choice([10000, 5000, 15000])
    p["population"]["residents"] = r
    _set_workers(p, _t71(rs) * r // 10000)


def e71_one_below(p, rng, rs):
    r = rng.choice([10000, 5000, 15000])
    p["population"]["residents"] = r
    _set_workers(p, _t71(rs) * r // 10000 - 1)


def e71_no_residents(p, rng, rs):
    """R = 0, with and without a staff section (7.1 not applicable either way)."""
    p["population"]["residents"] = 0
    if rng.random() < 0.5:
        p.pop("staff", None)


def e72_band(p, rng, rs):
    """H / W exactly 250, just above, exactly 300, just above 300."""
    w = rng.choice([18, 12, 7])
    h = rng.choice([250 * w, 250 * w + 1, 300 * w, 300 * w + 1, 300 * w - 1])
    p["population"]["households"] = h
    _set_workers(p, w)


def e72_no_workers(p, rng, rs):
    """W = 0 with H > 0 (7.2 fails) or H = 0 (not applicable); certificates absent or 0."""
    st = _staff(p)
    st["community_workers"] = 0
    for key in ("certified_social_workers", "college_educated"):
        if rng.random() < 0.5:
            st.pop(key, None)
        else:
            st[key] = 0
    if rng.random() < 0.4:
        p["population"]["households"] = 0


def e73_exact(p, rng, rs):
    w = rng.choice([10, 20, 5])
    c = math.ceil(_t73(rs) * w)
    _set_workers(p, w, certified=c + rng.choice([0, -1, 1]) if c < w else c)


def e73_other_rule_set(p, rng, rs):
    """Exactly 60 % and exactly 70 %: pass / fail depending on the layer."""
    w = rng.choice([10, 20])
    _set_workers(p, w, certified=w * rng.choice([6, 7]) // 10)


def e74_exact(p, rng, rs):
    w = rng.choice([10, 20, 30])
    _set_workers(p, w, college=w * 9 // 10 - rng.choice([0, 1]))


def e7_workers_absent(p, rng, rs):
    """A staff section without community_workers (the denominator itself is absent)."""
    st = _staff(p)
    for key in ("community_workers", "certified_social_workers", "college_educated"):
        st.pop(key, None)
    st.setdefault("uniform_badges", True)


def e7_counts_absent(p, rng, rs):
    st = _staff(p)
    st.setdefault("community_workers", 10)
    st.pop(rng.choice(["certified_social_workers", "college_educated"]), None)


def e7_no_staff(p, rng, rs):
    p.pop("staff", None)


# --------------------------------------------------------------------------
# Light edges: lists, flags, services, local keys (they never break the area or staff counts)
# --------------------------------------------------------------------------
def l_signage(p, rng, rs):
    c = rng.choice(["absent", "empty", "partial", "full", "no_facade"])
    if c == "absent":
        p.pop("signage", None)
    elif c == "empty":
        p["signage"] = []
    elif c == "partial":
        p["signage"] = rng.sample(SIGNAGE, rng.randint(1, len(SIGNAGE) - 1))
    elif c == "full":
        p["signage"] = rng.sample(SIGNAGE, len(SIGNAGE))
    else:
        p["signage"] = [s for s in SIGNAGE if s != "facade_nameplate"]


def l_amenities(p, rng, rs):
    c = rng.choice(["absent", "empty", "partial", "extras"])
    if c == "absent":
        p.pop("amenities", None)
    elif c == "empty":
        p["amenities"] = []
    elif c == "partial":
        p["amenities"] = rng.sample(AMENITIES, rng.randint(1, len(AMENITIES) - 1))
    else:
        p["amenities"] = AMENITIES[:4] + AMENITIES[6:]


def l_rural(p, rng, rs):
    p["center"]["setting"] = rng.choice(["rural", "urban"])
    if "amenities" in p and rng.random() < 0.5:
        p["amenities"] = [a for a in p["amenities"] if a != "self_service_terminal"]


def l_hours(p, rng, rs):
    v = rng.choice(["absent", 40, 39.9, 39.9999999995, 39.999999, 40.0000001, 0, 168])
    if v == "absent":
        _services(p).pop("weekly_opening_hours", None)
    else:
        _services(p)["weekly_opening_hours"] = v


def l_coverage(p, rng, rs):
    v = rng.choice(["absent", 1.0, 1, 0.999, 0.9999999995, 0.0])
    if v == "absent":
        _services(p).pop("grid_coverage", None)
    else:
        _services(p)["grid_coverage"] = v


def l_satisfaction(p, rng, rs):
    v = rng.choice(["absent", 0.9, 0.8999999995, 0.899, 0.8999999, 1.0, 0])
    if v == "absent":
        _services(p).pop("satisfaction_rate", None)
    else:
        _services(p)["satisfaction_rate"] = v


def l_feedback(p, rng, rs):
    c = rng.choice(["absent", "empty", "partial", "full"])
    if c == "absent":
        _services(p).pop("feedback_loop", None)
    elif c == "empty":
        _services(p)["feedback_loop"] = []
    elif c == "partial":
        _services(p)["feedback_loop"] = rng.sample(STAGES, rng.randint(1, 4))
    else:
        _services(p)["feedback_loop"] = rng.sample(STAGES, 5)


def l_flags(p, rng, rs):
    for flag in rng.sample(SERVICE_FLAGS, 2):
        v = rng.choice(["absent", True, False])
        if v == "absent":
            _services(p).pop(flag, None)
        else:
            _services(p)[flag] = v
    flag = rng.choice(STAFF_FLAGS)
    if "staff" in p:
        v = rng.choice(["absent", True, False])
        if v == "absent":
            p["staff"].pop(flag, None)
        else:
            p["staff"][flag] = v


def l_no_services(p, rng, rs):
    p.pop("services", None)


def l_grids(p, rng, rs):
    c = rng.choice(["zero_no_workers", "zero_with_workers", "absent", "equal", "one_short",
                    "none", "workers_absent", "more"])
    s = _services(p)
    g = rng.randint(1, 10)
    if c == "absent":
        s.pop("grids", None)
        _staff(p)["grid_workers"] = g
        return
    s["grids"] = 0 if c.startswith("zero") else g
    st = _staff(p)
    if c in ("zero_no_workers", "workers_absent"):
        st.pop("grid_workers", None)
    else:
        st["grid_workers"] = {"zero_with_workers": 2, "equal": g, "one_short": g - 1,
                              "none": 0, "more": g + 1}[c]


def l_tasks(p, rng, rs):
    s = _services(p)
    v = rng.choice(["absent", 0, 1, 5])
    if v == "absent":
        s.pop("tasks_outside_list", None)
    else:
        s["tasks_outside_list"] = v
    v = rng.choice(["absent", True, False])
    if v == "absent":
        s.pop("task_list_posted", None)
    else:
        s["task_list_posted"] = v


def l_key_groups(p, rng, rs):
    s = _services(p)
    c = rng.choice(["absent", "empty", "partial", "full", "extras_only"])
    if c == "absent":
        s.pop("key_group_register", None)
    elif c == "empty":
        s["key_group_register"] = []
    elif c == "partial":
        s["key_group_register"] = rng.sample(GROUPS[:3], rng.randint(1, 2)) + rng.sample(GROUPS[3:], rng.randint(0, 2))
    elif c == "full":
        s["key_group_register"] = rng.sample(GROUPS, 5)
    else:
        s["key_group_register"] = ["low_income", "left_behind_children"]


def l_sessions_days(p, rng, rs):
    s = _services(p)
    for key in ("deliberation_sessions_12m", "legal_service_days_12m"):
        v = rng.choice(["absent", 12, 11, 13, 0, 366, 1])
        if v == "absent":
            s.pop(key, None)
        else:
            s[key] = v


def l_volunteers(p, rng, rs):
    """V exactly 18 % of R, one short, absent, zero (R made a multiple of 50)."""
    r = p["population"]["residents"]
    if r > 0:
        r = max(50, (r // 50) * 50)
        p["population"]["residents"] = r
    v = rng.choice(["absent", 9 * r // 50, max(0, 9 * r // 50 - 1), 0, 9 * r // 50 + 1])
    if v == "absent":
        _services(p).pop("volunteers", None)
    else:
        _services(p)["volunteers"] = v


def e78_no_residents_no_volunteers(p, rng, rs):
    p["population"]["residents"] = 0
    _services(p).pop("volunteers", None)


LIGHT_EDGES = [l_signage, l_amenities, l_rural, l_hours, l_coverage, l_satisfaction,
               l_feedback, l_flags, l_no_services, l_grids, l_tasks, l_key_groups,
               l_sessions_days, l_volunteers]


# --------------------------------------------------------------------------
# Scores that are exact rounding ties
# --------------------------------------------------------------------------
def tie_56_25() -> dict:
    """National: rural, exactly 56.25 (= 31.5 of 56 weight) -> 56.2."""
    return {
        "schema_version": 1,
        "center": {"id": "TIE-5625", "name": "Tie centre", "setting": "rural"},
        "population": {"households": 5040, "residents": 10000},
        "space": {"total_area_m2": 1600, "service_hall_floor": 1, "open_plan": False,
                  "zones": [{"kind": "service_hall", "area_m2": 700},
                            {"kind": "activity", "area_m2": 400},
                            {"kind": "office", "area_m2": 200},
                            {"kind": "restroom", "area_m2": 100}]},
        "signage": ["facade_nameplate", "party_emblem", "hall_guidance", "service_catalogue",
                    "procedure_guide", "service_commitment", "zone_signs",
                    "accessibility_signs", "grid_map"],
        "staff": {"community_workers": 18, "certified_social_workers": 10,
                  "college_educated": 16, "uniform_badges": False, "ab_backup": True},
        "services": {"single_window": True, "first_inquiry_responsibility": False,
                     "weekly_opening_hours": 30, "after_hours_service": False,
                     "feedback_loop": [], "grid_coverage": 0.5, "satisfaction_rate": 0.5},
    }


def _knobs(p, rng, rs):
    """Random structure for the searches: N/A sets, flags, lists, local keys."""
    for edge in rng.sample(LIGHT_EDGES, rng.randint(3, 8)):
        edge(p, rng, rs)
    for edge in rng.sample([e51_no_households, e71_no_residents, e72_no_workers,
                            e54_core_subset, e72_band, e55_floor_and_plan], rng.randint(0, 3)):
        edge(p, rng, rs)


def _search(rng, rs, accept, distance=None, tries=400):
    """Random valid profiles until one's exact score is accepted; else the nearest one."""
    best, best_d = None, None
    for _ in range(tries):
        p = _base(rng)
        _knobs(p, rng, rs)
        if validate(p):
            continue
        s = _ref.exact_score(p, rs)
        if accept(s):
            return p
        d = distance(s) if distance else 0
        if best is None or d < best_d:
            best, best_d = p, d
    return best


def _is_tie(s: Fraction) -> bool:
    twenty = s * 20  # s*10 ends in exactly .5  <=>  s*20 is an odd integer
    return twenty.denominator == 1 and twenty.numerator % 2 == 1


def t_tie(p, rng, rs):
    if rs == "national" and rng.random() < 0.5:
        return tie_56_25()
    return _search(rng, rs, _is_tie, tries=800)


def t_rounds_to_60(p, rng, rs):
    """An exact score in [59.95, 60): reported 60.0, hence qualified when no veto fails.

    Only rule sets with credits finer than 1/10 of a weight (thirds in 5.7 and 8.10, quarters
    in nanxing's 5.4) can land there; the others aim at exactly 60 (the grade boundary).
    """
    if rs in ("nanxing", "yinzhou"):
        accept = lambda s: Fraction(5995, 100) <= s < 60  # noqa: E731
    else:
        accept = lambda s: s == 60  # noqa: E731
    return _search(rng, rs, accept, distance=lambda s: abs(s - 60))


AREA_EDGES = [e51_exact, e51_tenth_below, e51_tenth_above, e51_hair_below,
              e51_within_tolerance, e51_no_households, e52_exact, e52_tenth_below,
              e52_cap_at_office, e52_no_service_or_office, e52_office_only, e53_exact,
              e53_tenth_below, e53_cap_small_facility, e54_core_subset, e57_x_count, e64_no_rest_station,
              e55_floor_and_plan]
STAFF_EDGES = [e71_exact, e71_one_below, e71_no_residents, e72_band, e72_no_workers,
               e73_exact, e73_other_rule_set, e74_exact, e7_workers_absent,
               e7_counts_absent, e7_no_staff, e78_no_residents_no_volunteers]
EDGES = AREA_EDGES + STAFF_EDGES + LIGHT_EDGES + [t_tie, t_rounds_to_60]


def make(n: int, seed: int, ruleset: str = "national") -> list:
    """n valid profiles, deterministic in (n, seed, ruleset); edge i cycles through EDGES."""
    out = []
    for i in range(n):
        rng = random.Random(f"refscorer/{seed}/{ruleset}/{i}")
        p = _base(rng)
        for edge in rng.sample(LIGHT_EDGES, rng.randint(0, 2)):
            edge(p, rng, ruleset)
        edge = EDGES[(i + seed) % len(EDGES)]
        result = edge(p, rng, ruleset)
        if result is not None:
            p = result
        p = copy.deepcopy(p)
        p["center"]["id"] = f"{p['center']['id']}-{i}"
        if i % 7 == 3:      # an inspection with evidence by hash: who audited and what proves it never change a score
            p["audit"] = {"kind": "inspection", "inspectors": ["王敏"], "round": f"round-{seed}"}
            p["evidence"] = {"5.5": [{"sha256": "%064x" % i, "note": "服务大厅位于一楼"}]}
        problems = validate(p)
        if problems:
            raise AssertionError(f"generated an invalid profile ({edge.__name__}): {problems}")
        out.append(p)
    return out


# --------------------------------------------------------------------------
# The profile contract (required keys, types, vocabularies, semantic checks)
# --------------------------------------------------------------------------
def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def validate(p: dict) -> list:
    problems = []

    def need(cond, path, msg):
        if not cond:
            problems.append(f"{path}: {msg}")

    need(p.get("schema_version") == 1, "$.schema_version", "must be 1")
    c = p.get("center", {})
    need(isinstance(c.get("id"), str) and c["id"], "$.center.id", "required string")
    need(isinstance(c.get("name"), str) and c["name"], "$.center.name", "required string")
    need(c.get("setting") in ("urban", "rural"), "$.center.setting", "urban | rural")
    if "housing" in c:
        need(c["housing"] in ("old", "commercial", "resettlement", "mixed"), "$.center.housing", "vocabulary")
    pop = p.get("population", {})
    for key in ("households", "residents"):
        need(_is_int(pop.get(key)) and pop[key] >= 0, f"$.population.{key}", "integer >= 0")
    sp = p.get("space", {})
    total = sp.get("total_area_m2")
    need(_is_num(total) and total > 0, "$.space.total_area_m2", "number > 0")
    zones = sp.get("zones")
    need(isinstance(zones, list), "$.space.zones", "required list")
    zones = zones if isinstance(zones, list) else []
    for j, z in enumerate(zones):
        need(z.get("kind") in ZONE_KINDS, f"$.space.zones[{j}].kind", "vocabulary")
        need(_is_num(z.get("area_m2")) and z["area_m2"] >= 0, f"$.space.zones[{j}].area_m2", "number >= 0")
    if _is_num(total) and all(_is_num(z.get("area_m2")) for z in zones):
        zsum = math.fsum(z["area_m2"] for z in zones)
        need(zsum <= total + 0.5 + 1e-9, "$.space.zones", f"areas add up to {zsum} > total + 0.5")
    if "service_hall_floor" in sp:
        need(_is_int(sp["service_hall_floor"]) and sp["service_hall_floor"] != 0,
             "$.space.service_hall_floor", "integer floor")
    if "open_plan" in sp:
        need(isinstance(sp["open_plan"], bool), "$.space.open_plan", "boolean")

    for key, vocab in (("signage", SIGNAGE), ("amenities", AMENITIES)):
        if key in p:
            _check_list(need, f"$.{key}", p[key], vocab)

    st = p.get("staff")
    if st is not None:
        for key in ("community_workers", "certified_social_workers", "college_educated", "grid_workers"):
            if key in st:
                need(_is_int(st[key]) and st[key] >= 0, f"$.staff.{key}", "integer >= 0")
        for key in ("certified_social_workers", "college_educated"):
            if key in st and "community_workers" in st:
                need(st[key] <= st["community_workers"], f"$.staff.{key}", "more than community_workers")
        for key in STAFF_FLAGS:
            if key in st:
                need(isinstance(st[key], bool), f"$.staff.{key}", "boolean")

    s = p.get("services")
    if s is not None:
        for key in ("single_window", "first_inquiry_responsibility", "after_hours_service", "task_list_posted"):
            if key in s:
                need(isinstance(s[key], bool), f"$.services.{key}", "boolean")
        for key in ("grid_coverage", "satisfaction_rate"):
            if key in s:
                need(_is_num(s[key]) and 0 <= s[key] <= 1, f"$.services.{key}", "in 0..1")
        if "weekly_opening_hours" in s:
            v = s["weekly_opening_hours"]
            need(_is_num(v) and 0 <= v <= 168, "$.services.weekly_opening_hours", "in 0..168")
        for key in ("grids", "tasks_outside_list", "volunteers"):
            if key in s:
                need(_is_int(s[key]) and s[key] >= 0, f"$.services.{key}", "integer >= 0")
        for key in ("deliberation_sessions_12m", "legal_service_days_12m"):
            if key in s:
                need(_is_int(s[key]) and 0 <= s[key] <= 366, f"$.services.{key}", "integer 0..366")
        if "feedback_loop" in s:
            _check_list(need, "$.services.feedback_loop", s["feedback_loop"], STAGES)
        if "key_group_register" in s:
            _check_list(need, "$.services.key_group_register", s["key_group_register"], GROUPS)
    return problems


def _check_list(need, path, items, vocab):
    need(isinstance(items, list), path, "list")
    if not isinstance(items, list):
        return
    for j, code in enumerate(items):
        need(code in vocab, f"{path}[{j}]", f"unknown code {code!r}")
    need(len(set(items)) == len(items), path, "repeats a code")
