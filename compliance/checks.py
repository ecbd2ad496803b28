"""The check types of the rule language: one factory per type, one table.

Each factory takes a compiled :class:`~compliance.ruleset.Clause` and the rule
set's vocabulary and returns ``check(facts) -> Finding``. The factories do the
work that does not depend on a profile (paths split, thresholds read, the
findings of finite outcomes built) so that evaluating a profile is only
lookups and arithmetic.

Boundaries are inclusive and compared with a tolerance of ``TOL``: 160/200
passes 0.8. A zero denominator is a status, never a ``ZeroDivisionError``.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .result import Finding, Shortfall, Status, fast_constructor

if TYPE_CHECKING:  # pragma: no cover
    from .ruleset import Clause, Vocabulary

TOL = 1e-9
_CACHE_LIMIT = 4096

PASS, PARTIAL, FAIL = Status.PASS, Status.PARTIAL, Status.FAIL
MISSING, NA = Status.MISSING, Status.NOT_APPLICABLE

Check = Callable[["Facts"], Finding]

#: Finding(clause, status, credit, measured, shortfall, reason) without the frozen ``__init__``.
_finding = fast_constructor(Finding)
_shortfall = fast_constructor(Shortfall)


class Facts:
    """What every check of one profile reads, computed in one pass per profile.

    ``load_profile`` builds it while running the semantic checks, and
    ``evaluate`` reuses it when the rule set's vocabulary is the same object.
    """

    __slots__ = ("data", "lists", "class_area", "total_area", "zone_sum", "zone_class")

    def __init__(self, data: Mapping[str, Any], zone_class: Mapping[str, str]) -> None:
        self.data = data
        self.zone_class = zone_class
        space = data["space"]
        class_area: dict[str | None, float] = {}
        kinds = set()
        zone_sum = 0.0
        for zone in space["zones"]:
            kind = zone["kind"]
            area = zone["area_m2"]
            kinds.add(kind)
            cls = zone_class.get(kind)
            class_area[cls] = class_area.get(cls, 0.0) + area
            zone_sum += area
        self.class_area = class_area
        self.zone_sum = zone_sum
        self.total_area = space["total_area_m2"]
        services = data.get("services")
        signage = data.get("signage")
        amenities = data.get("amenities")
        feedback = services.get("feedback_loop") if services is not None else None
        self.lists = {
            "signage": None if signage is None else set(signage),
            "amenities": None if amenities is None else set(amenities),
            "services.feedback_loop": None if feedback is None else set(feedback),
            "zones": kinds,
        }


def split(field: str) -> tuple[str, ...]:
    return tuple(field.split("."))


def get(data: Any, keys: tuple[str, ...]) -> Any:
    """The value at a dotted path, or None where any step is absent or not a mapping."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
        if data is None:
            return None
    return data


def getter(field: str) -> Callable[[Mapping[str, Any]], Any]:
    """A fast reader of one dotted field of a *validated* profile (None where absent).

    The schema guarantees every step that is present is a mapping, so the common
    one- and two-step paths need no type checks.
    """
    keys = split(field)
    if len(keys) == 1:
        (a,) = keys
        return lambda data: data.get(a)
    if len(keys) == 2:
        a, b = keys

        def two(data: Mapping[str, Any]) -> Any:
            node = data.get(a)
            return None if node is None else node.get(b)

        return two
    return lambda data: get(data, keys)


def amount_to_reach(unit: str, target: float, current: float) -> float | int:
    """The shortfall from ``current`` to ``target``: persons whole, m² rounded up to 0.1."""
    if unit == "persons":
        return max(0, math.ceil(target - TOL) - int(current))
    if unit == "m2":
        return max(0.0, math.ceil((target - current) * 10 - 1e-6) / 10)
    return max(0.0, round(target - current, 6))


def banded(measured: float, threshold: float, bands: tuple[tuple[float, float], ...], higher_is_better: bool) -> tuple[Status, float]:
    """Pass at the threshold, partial credit in a band, fail beyond (inclusive, with tolerance)."""
    if higher_is_better:
        if measured >= threshold - TOL:
            return PASS, 1.0
        for bound, credit in bands:
            if measured >= bound - TOL:
                return PARTIAL, credit
    else:
        if measured <= threshold + TOL:
            return PASS, 1.0
        for bound, credit in bands:
            if measured <= bound + TOL:
                return PARTIAL, credit
    return FAIL, 0.0


def _bands(params: Mapping[str, Any], higher_is_better: bool) -> tuple[tuple[float, float], ...]:
    key = "min" if higher_is_better else "max"
    bands = [(b[key], float(b["credit"])) for b in params.get("partial", ()) if key in b]
    # Try the band nearest the threshold first.
    return tuple(sorted(bands, reverse=higher_is_better))


def _missing(clause: "Clause", field: str) -> Finding:
    return Finding(clause, MISSING, 0.0, None, None, field)


def check_codes(clause: "Clause", vocab: "Vocabulary") -> Check:
    """``has_code`` / ``has_all``: codes present in a list; credit is the share present."""
    params = clause.check
    list_name = params["list"]
    codes = tuple(params["codes"]) if "codes" in params else (params["code"],)
    required = frozenset(codes)
    n = len(codes)
    missing = _missing(clause, list_name)
    passed = Finding(clause, PASS, 1.0, 1.0)
    seen: dict[tuple[str, ...], Finding] = {}

    def short(absent: tuple[str, ...]) -> Finding:
        found = seen.get(absent)
        if found is None:
            share = (n - len(absent)) / n
            found = Finding(clause, PARTIAL if share > 0 else FAIL, share, share,
                            Shortfall(len(absent), "items", absent))
            if len(seen) < _CACHE_LIMIT:
                seen[absent] = found
        return found

    if n == 1:
        (code,) = codes
        failed = short(codes)

        def check_one(facts: Facts) -> Finding:
            present = facts.lists[list_name]
            if present is None:
                return missing
            return passed if code in present else failed

        return check_one

    def check(facts: Facts) -> Finding:
        present = facts.lists[list_name]
        if present is None:
            return missing
        if required <= present:
            return passed
        return short(tuple(c for c in codes if c not in present))

    return check


def check_flag(clause: "Clause", vocab: "Vocabulary") -> Check:
    """``flag``: a yes/no practice that must be true."""
    field = clause.check["field"]
    read = getter(field)
    yes = Finding(clause, PASS, 1.0, True)
    no = Finding(clause, FAIL, 0.0, False)
    missing = _missing(clause, field)

    def check(facts: Facts) -> Finding:
        value = read(facts.data)
        if value is None:
            return missing
        return yes if value else no

    return check


def check_compare(clause: "Clause", vocab: "Vocabulary") -> Check:
    """``compare``: a field against a threshold with ``>=``, ``<=`` or ``==``."""
    params = clause.check
    field = params["field"]
    read = getter(field)
    op = params["op"]
    threshold = params["value"]
    unit = clause.shortfall_unit
    missing = _missing(clause, field)
    higher = op == ">="
    bands = _bands(params, higher)

    if op == "==":
        seen: dict[Any, Finding] = {}

        def check_equal(facts: Facts) -> Finding:
            value = read(facts.data)
            if value is None:
                return missing
            found = seen.get(value)
            if found is None:
                ok = abs(value - threshold) <= TOL
                found = Finding(clause, PASS if ok else FAIL, 1.0 if ok else 0.0, value)
                if len(seen) < _CACHE_LIMIT:
                    seen[value] = found
            return found

        return check_equal

    def check(facts: Facts) -> Finding:
        value = read(facts.data)
        if value is None:
            return missing
        if (value >= threshold - TOL) if higher else (value <= threshold + TOL):
            return _finding(clause, PASS, 1.0, value, None, None)
        status, credit = banded(value, threshold, bands, higher) if bands else (FAIL, 0.0)
        shortfall = None
        if unit is not None:
            gap = amount_to_reach(unit, threshold, value) if higher else amount_to_reach(unit, value, threshold)
            shortfall = _shortfall(gap, unit, ())
        return _finding(clause, status, credit, value, shortfall, None)

    return check


def check_rate(clause: "Clause", vocab: "Vocabulary") -> Check:
    """``rate``: numerator / denominator × per against a minimum or maximum.

    The shortfall adjusts the numerator (add area, hire, certify) or the
    denominator (hire so each worker has fewer households).
    """
    params = clause.check
    read_num, read_den = getter(params["numerator"]), getter(params["denominator"])
    per = params["per"]
    higher = "min" in params
    threshold = params["min"] if higher else params["max"]
    bands = _bands(params, higher)
    zero_fails = params.get("zero_denominator", "not_applicable") == "fail"
    adjust = clause.shortfall_adjust or ("numerator" if higher else "denominator")
    unit = clause.shortfall_unit
    missing_num = _missing(clause, params["numerator"])
    missing_den = _missing(clause, params["denominator"])
    not_applicable = Finding(clause, NA, 0.0, None, None, params["denominator"])

    def shortfall(num: float, den: float) -> Shortfall | None:
        if unit is None:
            return None
        if adjust == "numerator":
            return _shortfall(amount_to_reach(unit, threshold * den / per, num), unit, ())
        return _shortfall(amount_to_reach(unit, num * per / threshold, den), unit, ())

    def check(facts: Facts) -> Finding:
        data = facts.data
        den = read_den(data)
        if den is None:
            return missing_den
        num = read_num(data)
        if den == 0 and not zero_fails:
            return not_applicable
        if num is None:
            return missing_num
        if den == 0:
            if num == 0:
                return not_applicable
            return _finding(clause, FAIL, 0.0, None, shortfall(num, den), None)
        measured = num / den * per
        if (measured >= threshold - TOL) if higher else (measured <= threshold + TOL):
            return _finding(clause, PASS, 1.0, measured, None, None)
        status, credit = banded(measured, threshold, bands, higher) if bands else (FAIL, 0.0)
        return _finding(clause, status, credit, measured, shortfall(num, den), None)

    return check


def check_area_ratio(clause: "Clause", vocab: "Vocabulary") -> Check:
    """``area_ratio``: zone area of some classes over other classes (or the total area)."""
    params = clause.check
    num_classes = tuple(params["numerator"])
    den = params["denominator"]
    den_classes = None if den == "total" else tuple(den)
    threshold = params["min"]
    unit = clause.shortfall_unit or "m2"
    empty = Finding(clause, FAIL, 0.0, None, None, "no_zones")

    def check(facts: Facts) -> Finding:
        areas = facts.class_area
        num = 0.0
        for cls in num_classes:
            num += areas.get(cls, 0.0)
        if den_classes is None:
            total = facts.total_area
        else:
            total = 0.0
            for cls in den_classes:
                total += areas.get(cls, 0.0)
        if total <= 0:
            return empty
        ratio = num / total
        if ratio >= threshold - TOL:
            return _finding(clause, PASS, 1.0, ratio, None, None)
        return _finding(clause, FAIL, 0.0, ratio, _shortfall(amount_to_reach(unit, threshold * total, num), unit, ()), None)

    return check


#: check type → factory. An unknown type is a RuleSetError naming the clause.
CHECKS: dict[str, Callable[["Clause", "Vocabulary"], Check]] = {
    "has_code": check_codes,
    "has_all": check_codes,
    "flag": check_flag,
    "compare": check_compare,
    "rate": check_rate,
    "area_ratio": check_area_ratio,
}

#: the parameter that holds each type's threshold, and which way is stricter.
THRESHOLD_PARAM: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "has_code": lambda p: "code",
    "has_all": lambda p: "codes",
    "flag": lambda p: None,
    "compare": lambda p: "value",
    "rate": lambda p: "min" if "min" in p else "max",
    "area_ratio": lambda p: "min",
}


def loosens(check_type: str, params: Mapping[str, Any], old: Any, new: Any) -> bool:
    """True when changing the threshold from ``old`` to ``new`` makes the clause easier to meet."""
    if check_type == "has_all":
        return not set(new) >= set(old)
    if check_type == "has_code":
        return new != old
    if check_type == "compare":
        op = params["op"]
        if op == ">=":
            return new < old
        if op == "<=":
            return new > old
        return new != old
    if check_type == "rate" and "max" in params:
        return new > old
    return new < old


def with_conditions(clause: "Clause", check: Check) -> Check:
    """Wrap ``check`` so the clause is not applicable when a condition holds."""
    conditions = tuple(
        (getter(c["field"]), tuple(c["in"]) if "in" in c else (c["equals"],))
        for c in clause.not_applicable_when
    )
    if not conditions:
        return check
    not_applicable = Finding(clause, NA, 0.0, None, None, "condition")

    def guarded(facts: Facts) -> Finding:
        data = facts.data
        for read, values in conditions:
            if read(data) in values:
                return not_applicable
        return check(facts)

    return guarded
