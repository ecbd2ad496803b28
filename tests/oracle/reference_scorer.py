"""Reference scorer for the audit of community convenience service centres.

This is a straightforward scorer written directly from the specification of
the service standard (clauses, thresholds, statuses, shortfalls, scoring,
rounding and jurisdiction layers) and of the centre profile.  It is
independent of the library: it imports nothing from it and shares no code
with it, so that the two can be compared as a test oracle.  It uses the
Python 3.11 standard library only.

    score(profile, ruleset="national", waivers=None) -> {
        "score": float (one decimal), "grade": str, "verdict": str,
        "categories": {category_id: float or None},
        "findings": {clause: {"status", "credit", "measured", "shortfall"}},
    }

Conventions taken from the specification
- Numbers in the profile are read as the decimals they are written as
  (``Fraction(str(x))``), so every comparison, shortfall and score below is
  exact rational arithmetic; floats appear only in the returned document.
- Thresholds are inclusive and compared with an absolute tolerance of 1e-9
  on the measured quantity of the clause's check:
  ``measured >= threshold - 1e-9`` (or ``<= threshold + 1e-9``).
- Applicability is decided first (a zero denominator gives
  ``not_applicable`` even when the other data is absent); then absent data
  gives ``missing``; then the check itself.
- Scores: 100 * sum(weight * credit) / sum(weight) over the clauses that are
  not ``not_applicable``, rounded to one decimal half-to-even (GB/T 8170-2008)
  on the exact quotient.
"""
from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

__all__ = ["score", "exact_score", "rules_for", "RULESETS", "ZONE_CLASS"]

TOL = Fraction(1, 10**9)
ABSENT = object()  # marks a key the profile does not carry

CATEGORIES = ["signage", "zoning", "amenities", "staffing", "service"]

# Zone kinds and their class (profile.md, "Vocabularies").
ZONE_CLASS = {
    "service_hall": "service", "consultation": "service", "deliberation": "service",
    "activity": "service", "display": "service", "rest_station": "service",
    "reading": "service", "children": "service", "elderly_care": "service",
    "health": "service", "canteen": "service", "social_org": "service",
    "multipurpose": "service",
    "office": "office", "archive": "office", "staff_meeting": "office",
    "storage": "support", "restroom": "support", "equipment": "support",
    "circulation": "support",
}

WALL_NOTICES = ["service_catalogue", "procedure_guide", "service_commitment",
                "staff_board", "complaint_hotline", "opening_hours"]
CORE_ZONES = ["service_hall", "deliberation", "activity", "display"]
HALL_ITEMS = ["writing_materials", "reading_glasses", "drinking_water", "seating"]
FEEDBACK_STAGES = ["collect", "analyse", "handle", "respond", "review"]
KEY_GROUPS = ["elderly", "disabled", "unemployed"]
X_SERVICES = ["health", "elderly_care", "canteen", "children", "social_org"]


# --------------------------------------------------------------------------
# Reading the profile
# --------------------------------------------------------------------------
def _get(profile, *path):
    """The value at ``path``, or ABSENT when any key on the way is absent or null."""
    node = profile
    for key in path:
        if not isinstance(node, dict) or node.get(key) is None:
            return ABSENT
        node = node[key]
    return node


def _exact(x) -> Fraction:
    """A profile number as the exact decimal it is written as."""
    if isinstance(x, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(x, (int, Fraction, Decimal)):
        return Fraction(x)
    return Fraction(repr(float(x)))


def _num(profile, *path):
    value = _get(profile, *path)
    return ABSENT if value is ABSENT else _exact(value)


def _zones(profile):
    zones = _get(profile, "space", "zones")
    return [] if zones is ABSENT else list(zones)


def _zone_kinds(profile) -> set:
    return {z.get("kind") for z in _zones(profile) if isinstance(z, dict)}


def _class_area(profile, cls) -> Fraction:
    return sum((_exact(z.get("area_m2", 0)) for z in _zones(profile)
                if ZONE_CLASS.get(z.get("kind")) == cls), Fraction(0))


# --------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------
def _finding(status, credit=None, measured=None, shortfall=None):
    if credit is None and status != "not_applicable":
        credit = Fraction(1) if status == "pass" else Fraction(0)
    return {"status": status, "credit": credit, "measured": measured, "shortfall": shortfall}


def _na():
    return _finding("not_applicable")


def _missing():
    return _finding("missing")


def _short(amount, unit, missing=()):
    return {"amount": amount, "unit": unit, "missing": list(missing)}


def _at_least(value: Fraction, threshold: Fraction) -> bool:
    return value >= threshold - TOL


def _at_most(value: Fraction, threshold: Fraction) -> bool:
    return value <= threshold + TOL


def _tenths_at_least(need: Fraction) -> Fraction:
    """The smallest positive multiple of 0.1 that is >= need (need > 0)."""
    return Fraction(max(1, math.ceil(need * 10)), 10)


def _plain_difference(threshold: Fraction, value: Fraction) -> float:
    """threshold - value rounded (half to even) to 6 decimals, never 0.0."""
    amount = round(threshold - value, 6)
    return float(amount) if amount > 0 else 1e-6


def _area(x: Fraction) -> float:
    return float(x)


# --------------------------------------------------------------------------
# Check kinds shared by several clauses
# --------------------------------------------------------------------------
def check_has_code(profile, rule):
    """One code in a list (signage / amenities).  measured: 1.0 present, 0.0 absent."""
    items = _get(profile, *rule["path"])
    if items is ABSENT:
        return _missing()
    code = rule["codes"][0]
    if code in items:
        return _finding("pass", measured=1.0)
    return _finding("fail", measured=0.0, shortfall=_short(1, "items", [code]))


def check_has_all(profile, rule):
    """All codes in a list; credit = share present.  measured: that share (0..1)."""
    items = _get(profile, *rule["path"])
    if items is ABSENT:
        return _missing()
    return _share_result(rule["codes"], set(items))


def _share_result(codes, present):
    missing = [c for c in codes if c not in present]
    share = Fraction(len(codes) - len(missing), len(codes))
    if not missing:
        return _finding("pass", share, float(share))
    status = "fail" if share == 0 else "partial"
    return _finding(status, share, float(share), _short(len(missing), "items", missing))


def check_zone_has_all(profile, rule):
    """Each kind has a zone (the zones list is always present).  measured: share present.
    A single kind (6.4) reports 1.0 / 0.0 the same way."""
    return _share_result(rule["codes"], _zone_kinds(profile))


def check_flag(profile, rule):
    """A boolean key is true.  measured: the boolean.  No shortfall."""
    value = _get(profile, *rule["path"])
    if value is ABSENT:
        return _missing()
    return _finding("pass" if value is True else "fail", measured=bool(value))


def check_at_least_value(profile, rule):
    """A number >= threshold (8.3 hours, 8.6 coverage, 8.7 satisfaction).
    measured: the value itself (hours per week, or a share 0..1).
    shortfall: the plain difference threshold - value, 6 decimals."""
    value = _num(profile, *rule["path"])
    if value is ABSENT:
        return _missing()
    threshold = rule["threshold"]
    if _at_least(value, threshold):
        return _finding("pass", measured=float(value))
    return _finding("fail", measured=float(value),
                    shortfall=_short(_plain_difference(threshold, value), rule["unit"]))


def check_count_at_least(profile, rule):
    """A whole count >= threshold (8.11 sessions, 8.12 days).  measured: the count.
    shortfall: the smallest whole number to add."""
    value = _num(profile, *rule["path"])
    if value is ABSENT:
        return _missing()
    threshold = rule["threshold"]
    if _at_least(value, threshold):
        return _finding("pass", measured=_plain(value))
    return _finding("fail", measured=_plain(value),
                    shortfall=_short(math.ceil(threshold - TOL - value), rule["unit"]))


def check_count_at_most(profile, rule):
    """A whole count <= threshold (8.9 tasks outside the list).  measured: the count.
    shortfall: the smallest whole number to hand back."""
    value = _num(profile, *rule["path"])
    if value is ABSENT:
        return _missing()
    threshold = rule["threshold"]
    if _at_most(value, threshold):
        return _finding("pass", measured=_plain(value))
    return _finding("fail", measured=_plain(value),
                    shortfall=_short(math.ceil(value - threshold - TOL), rule["unit"]))


def _plain(x: Fraction):
    return int(x) if x.denominator == 1 else float(x)


# --------------------------------------------------------------------------
# Clauses with their own arithmetic (one function each)
# --------------------------------------------------------------------------
def check_5_1(profile, rule):
    """Facility area per 100 households T/H*100 >= threshold (m2).
    measured: m2 per 100 households.  H = 0 -> not_applicable.
    shortfall: smallest multiple of 0.1 m2 to add to T."""
    households = _num(profile, "population", "households")
    area = _num(profile, "space", "total_area_m2")
    if households is not ABSENT and households == 0:
        return _na()
    if households is ABSENT or area is ABSENT:
        return _missing()
    threshold = rule["threshold"]
    measured = area * 100 / households
    if _at_least(measured, threshold):
        return _finding("pass", measured=float(measured))
    need = (threshold - TOL) * households / 100 - area
    return _finding("fail", measured=float(measured),
                    shortfall=_short(_area(_tenths_at_least(need)), "m2"))


def check_5_2(profile, rule):
    """Service to office space S/(S+O) >= 0.8.  measured: the ratio as a fraction.
    S + O = 0 -> fail (measured null, nothing to convert: shortfall null).
    shortfall: smallest multiple of 0.1 m2 of office turned to service use
    (S + O stays), never more than O."""
    service = _class_area(profile, "service")
    office = _class_area(profile, "office")
    if service + office == 0:
        return _finding("fail")
    threshold = rule["threshold"]
    measured = service / (service + office)
    if _at_least(measured, threshold):
        return _finding("pass", measured=float(measured))
    need = (threshold - TOL) * (service + office) - service
    amount = min(_tenths_at_least(need), office)
    return _finding("fail", measured=float(measured), shortfall=_short(_area(amount), "m2"))


def check_5_3(profile, rule):
    """Resident-use area S/T >= 0.6.  measured: the ratio as a fraction.
    shortfall: smallest multiple of 0.1 m2 turned to resident use (T stays),
    never more than the area not yet in resident use, T - S."""
    area = _num(profile, "space", "total_area_m2")
    if area is ABSENT:
        return _missing()
    if area == 0:  # T > 0 by the profile schema; kept total for robustness
        return _na()
    service = _class_area(profile, "service")
    threshold = rule["threshold"]
    measured = service / area
    if _at_least(measured, threshold):
        return _finding("pass", measured=float(measured))
    need = (threshold - TOL) * area - service
    amount = min(_tenths_at_least(need), area - service)
    return _finding("fail", measured=float(measured), shortfall=_short(_area(amount), "m2"))


def check_5_5(profile, rule):
    """The service hall is on floor 1.  measured: the floor number.  No shortfall."""
    floor = _get(profile, "space", "service_hall_floor")
    if floor is ABSENT:
        return _missing()
    return _finding("pass" if floor == 1 else "fail", measured=floor)


def check_5_7(profile, rule):
    """At least N different X services have a zone (any area).
    measured: the count present.  credit = min(count, N) / N.
    shortfall: the number still to add; missing = every candidate not present."""
    kinds = _zone_kinds(profile)
    codes = rule["codes"]
    needed = rule["threshold"]
    count = sum(1 for c in codes if c in kinds)
    credit = Fraction(min(count, needed), needed)
    if count >= needed:
        return _finding("pass", credit, count)
    status = "fail" if count == 0 else "partial"
    missing = [c for c in codes if c not in kinds]
    return _finding(status, credit, count, _short(needed - count, "items", missing))


def check_6_2(profile, rule):
    """Self-service terminal, urban centres only (rural -> not_applicable first)."""
    if _get(profile, "center", "setting") == "rural":
        return _na()
    return check_has_code(profile, rule)


def check_7_1(profile, rule):
    """Workers per 10,000 residents W/R*10000 >= threshold.
    measured: workers per 10,000 residents.  R = 0 -> not_applicable (even with no staff).
    shortfall: the smallest whole number of persons to add."""
    residents = _num(profile, "population", "residents")
    workers = _num(profile, "staff", "community_workers")
    if residents is not ABSENT and residents == 0:
        return _na()
    if residents is ABSENT or workers is ABSENT:
        return _missing()
    threshold = rule["threshold"]
    measured = workers * 10000 / residents
    if _at_least(measured, threshold):
        return _finding("pass", measured=float(measured))
    add = math.ceil((threshold - TOL) * residents / 10000) - workers
    return _finding("fail", measured=float(measured), shortfall=_short(int(add), "persons"))


def check_7_2(profile, rule):
    """Households per worker H/W: <= 250 pass, <= 300 partial (credit 0.5), above fail.
    measured: households per worker (null when W = 0).
    W = 0: not_applicable when H = 0, fail when H > 0.  W absent -> missing.
    shortfall (partial or fail): the smallest whole number of persons so that H/W <= 250."""
    households = _num(profile, "population", "households")
    workers = _num(profile, "staff", "community_workers")
    if workers is ABSENT or households is ABSENT:
        return _missing()
    threshold, band = rule["threshold"], rule["partial_threshold"]
    add = math.ceil(households / (threshold + TOL)) - workers
    if workers == 0:
        if households == 0:
            return _na()
        return _finding("fail", shortfall=_short(int(add), "persons"))
    measured = households / workers
    if _at_most(measured, threshold):
        return _finding("pass", measured=float(measured))
    if _at_most(measured, band):
        return _finding("partial", Fraction(1, 2), float(measured), _short(int(add), "persons"))
    return _finding("fail", measured=float(measured), shortfall=_short(int(add), "persons"))


def check_worker_share(profile, rule):
    """7.3 / 7.4: a share of the workers, count/W >= threshold.
    measured: the share as a fraction.  W absent -> missing; W = 0 -> not_applicable
    (even when the count is absent); count absent -> missing.
    shortfall: the smallest whole number of such persons to add (W stays)."""
    workers = _num(profile, "staff", "community_workers")
    if workers is ABSENT:
        return _missing()
    if workers == 0:
        return _na()
    count = _num(profile, *rule["path"])
    if count is ABSENT:
        return _missing()
    threshold = rule["threshold"]
    measured = count / workers
    if _at_least(measured, threshold):
        return _finding("pass", measured=float(measured))
    add = math.ceil((threshold - TOL) * workers) - count
    return _finding("fail", measured=float(measured), shortfall=_short(int(add), "persons"))


def check_7_7(profile, rule):
    """Grid workers per grid grid_workers/grids >= 1.  measured: that ratio.
    grids = 0 -> not_applicable (even when grid_workers is absent); else either absent
    -> missing.  shortfall: the smallest whole number of grid workers to add."""
    grids = _num(profile, "services", "grids")
    if grids is ABSENT:
        return _missing()
    if grids == 0:
        return _na()
    grid_workers = _num(profile, "staff", "grid_workers")
    if grid_workers is ABSENT:
        return _missing()
    threshold = rule["threshold"]
    measured = grid_workers / grids
    if _at_least(measured, threshold):
        return _finding("pass", measured=float(measured))
    add = math.ceil((threshold - TOL) * grids) - grid_workers
    return _finding("fail", measured=float(measured), shortfall=_short(int(add), "persons"))


def check_7_8(profile, rule):
    """Volunteers per resident V/R >= 0.18.  measured: the ratio as a fraction.
    R = 0 -> not_applicable (even with no volunteers key).
    shortfall: the smallest whole number of volunteers to recruit."""
    residents = _num(profile, "population", "residents")
    if residents is not ABSENT and residents == 0:
        return _na()
    volunteers = _num(profile, "services", "volunteers")
    if residents is ABSENT or volunteers is ABSENT:
        return _missing()
    threshold = rule["threshold"]
    measured = volunteers / residents
    if _at_least(measured, threshold):
        return _finding("pass", measured=float(measured))
    add = math.ceil((threshold - TOL) * residents) - volunteers
    return _finding("fail", measured=float(measured), shortfall=_short(int(add), "persons"))


# --------------------------------------------------------------------------
# Rule sets: the national table and the jurisdiction layers
# --------------------------------------------------------------------------
def _rule(clause, category, level, weight, check, veto=False, **params):
    return dict(clause=clause, category=category, level=level, weight=weight,
                veto=veto, check=check, **params)


def _national():
    sig, amen, svc = ("signage",), ("amenities",), ("services",)
    F = Fraction
    return [
        # 4.1-4.3, 4.5-4.7, 6.3 (single code): measured 1.0 present / 0.0 absent
        _rule("4.1", "signage", "shall", 3, check_has_code, veto=True, path=sig, codes=["facade_nameplate"]),
        _rule("4.2", "signage", "shall", 2, check_has_code, path=sig, codes=["party_emblem"]),
        _rule("4.3", "signage", "shall", 2, check_has_code, path=sig, codes=["hall_guidance"]),
        # 4.4: list: measured = share of the six notices present (0..1)
        _rule("4.4", "signage", "shall", 3, check_has_all, path=sig, codes=WALL_NOTICES),
        _rule("4.5", "signage", "should", 1, check_has_code, path=sig, codes=["zone_signs"]),
        _rule("4.6", "signage", "should", 1, check_has_code, path=sig, codes=["accessibility_signs"]),
        _rule("4.7", "signage", "should", 1, check_has_code, path=sig, codes=["grid_map"]),
        # 5.1: measured = m2 of facility per 100 households
        _rule("5.1", "zoning", "shall", 3, check_5_1, threshold=F(30)),
        # 5.2: measured = S/(S+O) as a fraction
        _rule("5.2", "zoning", "shall", 3, check_5_2, veto=True, threshold=F(8, 10)),
        # 5.3: measured = S/T as a fraction
        _rule("5.3", "zoning", "shall", 2, check_5_3, threshold=F(6, 10)),
        # 5.4: measured = share of the four core zone kinds present
        _rule("5.4", "zoning", "shall", 2, check_zone_has_all, codes=CORE_ZONES),
        # 5.5: measured = the service hall's floor number
        _rule("5.5", "zoning", "shall", 2, check_5_5, veto=True),
        # 5.6: flag: measured = the boolean
        _rule("5.6", "zoning", "should", 1, check_flag, path=("space", "open_plan")),
        # 6.1: measured = share of the four hall items present
        _rule("6.1", "amenities", "shall", 2, check_has_all, path=amen, codes=HALL_ITEMS),
        # 6.2: single code (urban only): 1.0 / 0.0
        _rule("6.2", "amenities", "shall", 2, check_6_2, path=amen, codes=["self_service_terminal"]),
        _rule("6.3", "amenities", "shall", 2, check_has_code, path=amen, codes=["accessible_entrance"]),
        # 6.4: single zone kind: 1.0 / 0.0
        _rule("6.4", "amenities", "should", 1, check_zone_has_all, codes=["rest_station"]),
        # 7.1: measured = workers per 10,000 residents
        _rule("7.1", "staffing", "shall", 3, check_7_1, threshold=F(18)),
        # 7.2: measured = households per worker
        _rule("7.2", "staffing", "should", 2, check_7_2, threshold=F(250), partial_threshold=F(300)),
        # 7.3: measured = certified / W as a fraction
        _rule("7.3", "staffing", "shall", 3, check_worker_share,
              path=("staff", "certified_social_workers"), threshold=F(6, 10)),
        # 7.4: measured = college-educated / W as a fraction
        _rule("7.4", "staffing", "should", 1, check_worker_share,
              path=("staff", "college_educated"), threshold=F(9, 10)),
        # 7.5, 7.6 (flags): measured = the boolean; no shortfall
        _rule("7.5", "staffing", "shall", 1, check_flag, path=("staff", "uniform_badges")),
        _rule("7.6", "staffing", "shall", 2, check_flag, path=("staff", "ab_backup")),
        # 8.1, 8.2, 8.4 (flags): measured = the boolean; no shortfall
        _rule("8.1", "service", "shall", 3, check_flag, veto=True, path=svc + ("single_window",)),
        _rule("8.2", "service", "shall", 2, check_flag, path=svc + ("first_inquiry_responsibility",)),
        # 8.3: measured = weekly opening hours
        _rule("8.3", "service", "shall", 2, check_at_least_value,
              path=svc + ("weekly_opening_hours",), threshold=F(40), unit="hours"),
        _rule("8.4", "service", "should", 1, check_flag, path=svc + ("after_hours_service",)),
        # 8.5: measured = share of the five stages present
        _rule("8.5", "service", "should", 2, check_has_all, path=svc + ("feedback_loop",), codes=FEEDBACK_STAGES),
        # 8.6: measured = grid coverage (a fraction); shortfall 1.0 - coverage
        _rule("8.6", "service", "should", 1, check_at_least_value,
              path=svc + ("grid_coverage",), threshold=F(1), unit="ratio"),
        # 8.7: measured = satisfaction rate (a fraction); shortfall 0.9 - rate
        _rule("8.7", "service", "should", 2, check_at_least_value,
              path=svc + ("satisfaction_rate",), threshold=F(9, 10), unit="ratio"),
    ]


def _change(rules, clause, **changes):
    for r in rules:
        if r["clause"] == clause:
            r.update(changes)
            return rules
    raise KeyError(clause)


def _ningbo():
    rules = _national()
    _change(rules, "7.1", threshold=Fraction(22))
    _change(rules, "7.3", threshold=Fraction(7, 10))
    rules += [
        # 7.7: measured = grid workers per grid
        _rule("7.7", "staffing", "shall", 2, check_7_7, threshold=Fraction(1)),
        # 8.8: flag: measured = the boolean
        _rule("8.8", "service", "shall", 2, check_flag, path=("services", "task_list_posted")),
        # 8.9: measured = the count of tasks outside the list
        _rule("8.9", "service", "shall", 1, check_count_at_most,
              path=("services", "tasks_outside_list"), threshold=Fraction(0), unit="tasks"),
    ]
    return rules


def _yinzhou():
    rules = _ningbo()
    _change(rules, "5.1", threshold=Fraction(40))
    _change(rules, "7.2", level="shall", weight=3)
    rules += [
        # 7.8: measured = volunteers / residents as a fraction
        _rule("7.8", "staffing", "should", 1, check_7_8, threshold=Fraction(18, 100)),
        # 8.10: measured = share of the three key groups registered
        _rule("8.10", "service", "shall", 2, check_has_all,
              path=("services", "key_group_register"), codes=KEY_GROUPS),
        # 8.11: measured = the count of sessions in 12 months
        _rule("8.11", "service", "should", 1, check_count_at_least,
              path=("services", "deliberation_sessions_12m"), threshold=Fraction(12), unit="sessions"),
        # 8.12: measured = the count of lawyer days in 12 months
        _rule("8.12", "service", "should", 1, check_count_at_least,
              path=("services", "legal_service_days_12m"), threshold=Fraction(12), unit="days"),
    ]
    return rules


def _beijing():
    rules = _national()
    _change(rules, "5.6", level="shall", weight=2)
    _change(rules, "6.4", level="shall", weight=2)
    return rules


def _nanxing():
    rules = _national()
    _change(rules, "5.4", weight=3)
    # 5.7: measured = the count of X services present
    rules.append(_rule("5.7", "zoning", "shall", 2, check_5_7, codes=X_SERVICES, threshold=3))
    return rules


RULESETS = {"national": _national, "ningbo": _ningbo, "yinzhou": _yinzhou,
            "beijing": _beijing, "nanxing": _nanxing}


def _clause_key(clause: str):
    return tuple(int(part) for part in clause.split("."))


def rules_for(ruleset: str) -> list:
    """The clauses of a rule set, in numeric clause order."""
    try:
        build = RULESETS[ruleset]
    except KeyError:
        raise ValueError(f"unknown rule set {ruleset!r}") from None
    return sorted(build(), key=lambda r: _clause_key(r["clause"]))


# --------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------
def _weighted(rules, findings, waived=frozenset()):
    """Exact 100 * sum(weight * credit) / sum(weight) over applicable, unwaived clauses, or None."""
    num = den = Fraction(0)
    for r in rules:
        f = findings[r["clause"]]
        if f["status"] == "not_applicable" or r["clause"] in waived:
            continue
        num += r["weight"] * f["credit"]
        den += r["weight"]
    return None if den == 0 else 100 * num / den


def _round1(x: Fraction) -> Fraction:
    """One decimal, a tie to the even digit (GB/T 8170-2008), on the exact value."""
    return round(x, 1)  # Fraction.__round__ rounds half to even, exactly


def _grade(rounded: Fraction) -> str:
    if rounded >= 90:
        return "excellent"
    if rounded >= 80:
        return "good"
    if rounded >= 60:
        return "qualified"
    return "unqualified"


def _evaluate(profile, ruleset):
    rules = rules_for(ruleset)
    findings = {r["clause"]: r["check"](profile, r) for r in rules}
    return rules, findings


def exact_score(profile: dict, ruleset: str = "national") -> Fraction:
    """The unrounded overall score as an exact fraction."""
    rules, findings = _evaluate(profile, ruleset)
    return _weighted(rules, findings)


# --------------------------------------------------------------------------
# Waivers (workflow.md, "Waivers"): a waiver for this centre and clause whose
# approved_on <= assessment date <= expires_on takes a clause that fails, is
# partly met or is missing out of the score (as not_applicable) and out of the
# veto; its status stays. One that does not cover the date changes nothing.
# --------------------------------------------------------------------------
def _day(text):
    import datetime

    return datetime.date.fromisoformat(text) if isinstance(text, str) else text


def _waivers_for(profile, waivers, today):
    """clause -> (covering waiver or None, expired waiver or None) for the profile's centre."""
    centre = profile["center"]["id"]
    assessed = profile["center"].get("assessed_on")
    day = _day(assessed) if assessed else today
    out = {}
    for w in waivers or ():
        if w["centre"] != centre:
            continue
        covering, expired = out.get(w["clause"], (None, None))
        key = lambda x: (_day(x["expires_on"]), _day(x["approved_on"]))   # noqa: E731 - the longest running wins
        if _day(w["approved_on"]) <= day <= _day(w["expires_on"]):
            if covering is None or key(w) > key(covering):
                covering = w
        elif expired is None or key(w) > key(expired):
            expired = w
        out[w["clause"]] = (covering, expired)
    return out


def _verdict(rules, findings, waived):
    total = _weighted(rules, findings, waived)
    rounded = _round1(total) if total is not None else None
    veto_hit = any(r["veto"] and findings[r["clause"]]["status"] in ("fail", "missing") and r["clause"] not in waived
                   for r in rules)
    conforming = rounded is not None and rounded >= 60 and not veto_hit
    verdict = "conforming" if conforming else "non_conforming"
    grade = _grade(rounded) if conforming else "unqualified"
    return rounded, grade, verdict


def score(profile: dict, ruleset: str = "national", waivers=None, today=None) -> dict:
    """``waivers``: the entries of a waiver file (dates as text); ``today``: the audit's day when the profile
    has no assessed_on."""
    rules, findings = _evaluate(profile, ruleset)
    by_clause = _waivers_for(profile, waivers, today)
    waived = frozenset(c for c, (covering, _) in by_clause.items()
                       if covering is not None and findings[c]["status"] in ("fail", "partial", "missing"))
    rounded, grade, verdict = _verdict(rules, findings, waived)

    categories = {}
    for cat in CATEGORIES:
        in_cat = [r for r in rules if r["category"] == cat]
        value = _weighted(in_cat, findings, waived)
        categories[cat] = None if value is None else float(_round1(value))

    def shown(w):
        return {k: str(w[k]) for k in ("reason", "approved_by", "approved_on", "expires_on")}

    out_findings = {}
    for r in rules:
        f = findings[r["clause"]]
        out_findings[r["clause"]] = {
            "status": f["status"],
            "credit": None if f["credit"] is None else float(f["credit"]),
            "measured": f["measured"],
            "shortfall": f["shortfall"],
        }
        covering, expired = by_clause.get(r["clause"], (None, None))
        if r["clause"] in waived:
            out_findings[r["clause"]]["waiver"] = shown(covering)
        if covering is None and expired is not None:
            out_findings[r["clause"]]["waiver_expired"] = shown(expired)
    out = {
        "score": None if rounded is None else float(rounded),
        "grade": grade,
        "verdict": verdict,
        "categories": categories,
        "findings": out_findings,
    }
    if waived:
        plain, plain_grade, plain_verdict = _verdict(rules, findings, frozenset())
        out["unwaived"] = {"score": None if plain is None else float(plain), "grade": plain_grade,
                           "verdict": plain_verdict}
    return out
