"""The check types of the rule language: one record per type.

Everything the project knows about a check type lives in its class below:

* ``properties`` / ``required`` — its part of the rule-file meta-schema;
* ``threshold_param`` — the parameter a layer's ``threshold:`` override sets;
* ``stricter`` — which way each parameter tightens, so a layer that loosens
  a parent without a ``reason`` is refused;
* ``lint`` — the checks the meta-schema cannot make (fields exist and have the
  right type, codes are in the vocabulary);
* ``compile`` — the evaluation: a closure ``check(facts) -> Finding`` built once
  per rule set, so evaluating a profile is only lookups and arithmetic;
* ``compile_columns`` — the same evaluation over a chunk of centres at once, column
  by column in NumPy (:class:`Columns` in, :class:`Scored` out), for national
  rounds; rows its closed forms cannot settle exactly are marked for ``compile``'s
  closure, so both forms give the same findings;
* ``measured_text`` / ``threshold_text`` — how its figures read in a report.

:data:`CHECK_TYPES` lists the records; adding a check type means adding one
class and its tests. Thresholds are inclusive and compared with ``TOL``; a zero
denominator is a status, never a ``ZeroDivisionError``; a shortfall is the
smallest remedy that makes the clause pass under that same comparison.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext
from itertools import chain
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Mapping, Protocol, Sequence

from .model import CODE_LISTS, TOL, ZONE_CLASSES, Clause, FrozenDict, Status, Vocabulary
from .result import Finding, Shortfall, fast_constructor
from .i18n import Joined, Message, msg, quote
from .wording import PRESENT, YES_NO, code_hint, fill, fmt_measure, fmt_number, fmt_pct, hinted, vocabulary_names

PASS, PARTIAL, FAIL = Status.PASS, Status.PARTIAL, Status.FAIL
MISSING, NA = Status.MISSING, Status.NOT_APPLICABLE

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Floats = NDArray[np.float64]
    Bools = NDArray[np.bool_]
    Codes = NDArray[np.int8]
    Ints = NDArray[Any]             # int64, or Python ints (dtype object) for sets of more than 62 codes

Check = Callable[["Facts"], Finding]
LintProblem = tuple[Message, tuple[Any, ...]]        # message, path inside the clause (("check", "min"), …)

_isfinite = math.isfinite
_finding: Callable[..., Finding] = fast_constructor(Finding)
_shortfall: Callable[..., Shortfall] = fast_constructor(Shortfall)

#: the smallest step of a remedy, as 1/scale: 0.1 m², whole persons, 10⁻⁶ of an hour or a ratio
_SCALE = {"m2": 10, "persons": 1, "items": 1, "tasks": 1, "sessions": 1, "days": 1, "hours": 10 ** 6,
          "ratio": 10 ** 6}
UNITS = tuple(_SCALE)
COUNTED_UNITS = frozenset(u for u, s in _SCALE.items() if s == 1)


# --------------------------------------------------------------------------- facts of one profile

class Facts:
    """What every check of one profile reads, computed in one pass per profile.

    ``load_profile`` builds it while running the semantic checks, and
    ``evaluate`` reuses it when the rule set's vocabulary is the same object.
    Class areas are summed exactly (``math.fsum``), so the order of zones never
    changes a ratio.
    """

    __slots__ = ("data", "lists", "class_area", "total_area", "zone_class", "zones_area")

    def __init__(self, data: Mapping[str, Any], zone_class: Mapping[str, str]) -> None:
        self.data = data
        self.zone_class = zone_class
        space = data["space"]
        by_class: dict[str | None, list[float]] = {}
        kinds = set()
        for zone in space["zones"]:
            kind = zone["kind"]
            kinds.add(kind)
            by_class.setdefault(zone_class.get(kind), []).append(zone["area_m2"])
        self.class_area: dict[str | None, float] = {cls: math.fsum(areas) for cls, areas in by_class.items()}
        self.zones_area = math.fsum(chain.from_iterable(by_class.values()))    # every zone's, summed exactly
        self.total_area = space["total_area_m2"]
        services = data.get("services")
        signage = data.get("signage")
        amenities = data.get("amenities")
        feedback = registers = None
        if services is not None:
            feedback = services.get("feedback_loop")
            registers = services.get("key_group_register")
        self.lists: dict[str, set[str] | None] = {
            "signage": None if signage is None else set(signage),
            "amenities": None if amenities is None else set(amenities),
            "services.feedback_loop": None if feedback is None else set(feedback),
            "services.key_group_register": None if registers is None else set(registers),
            "zones": kinds,
        }


def getter(field: str) -> Callable[[Mapping[str, Any]], Any]:
    """A reader of one dotted field of a *validated* profile (None where absent)."""
    keys = tuple(field.split("."))
    if len(keys) == 1:
        (a,) = keys
        return lambda data: data.get(a)
    if len(keys) == 2:
        a, b = keys

        def two(data: Mapping[str, Any]) -> Any:
            node = data.get(a)
            return None if node is None else node.get(b)

        return two

    def many(data: Mapping[str, Any]) -> Any:
        node: Any = data
        for key in keys:
            if not isinstance(node, Mapping):
                return None
            node = node.get(key)
        return node

    return many


# --------------------------------------------------------------------------- shared arithmetic

def smallest_remedy(passes: Callable[[float], bool], estimate: float, unit: str) -> float | int:
    """The smallest amount, a multiple of the unit's step, for which ``passes(amount)`` holds.

    ``estimate`` is the closed-form answer (``0.8·(S+O) − S`` and the like); it
    can be off by a step either way in floating point, so the answer is checked
    with the evaluator's own comparison and moved a step at a time. A failing
    clause never reports 0.
    """
    scale = _SCALE.get(unit, 1_000_000)
    guess = estimate * scale
    k = math.ceil(guess - 1e-6) if 0 < guess < 1e15 else (1 if not guess >= 1e15 else int(guess))
    if k < 1:
        k = 1
    if passes(k if scale == 1 else k / scale):
        for _ in range(64):                      # the estimate may be a step high
            if k > 1 and passes(k - 1 if scale == 1 else (k - 1) / scale):
                k -= 1
            else:
                break
    else:
        for _ in range(64):                      # or a step low
            k += 1
            if passes(k if scale == 1 else k / scale):
                break
    return k if scale == 1 else k / scale


def banded(measured: float, bands: tuple[tuple[float, float], ...], higher_is_better: bool) -> tuple[Status, float]:
    """Partial credit in a band beyond the threshold (inclusive), else fail."""
    for bound, credit in bands:
        if (measured >= bound - TOL) if higher_is_better else (measured <= bound + TOL):
            return PARTIAL, credit
    return FAIL, 0.0


def _bands(params: Mapping[str, Any], higher_is_better: bool) -> tuple[tuple[float, float], ...]:
    key = "min" if higher_is_better else "max"
    bands = [(float(b[key]), float(b["credit"])) for b in params.get("partial", ()) if key in b]
    return tuple(sorted(bands, reverse=higher_is_better))      # the band nearest the threshold first


def _missing(clause: Clause, field: str) -> Finding:
    return Finding(clause, MISSING, 0.0, None, None, field)


def _sign(op: str) -> str:
    return {">=": "≥", "<=": "≤", "==": "="}[op]


# --------------------------------------------------------------------------- the columnar form

#: a status as a column holds it (int8), and back
S_PASS, S_PARTIAL, S_FAIL, S_MISSING, S_NA = 0, 1, 2, 3, 4
STATUS_OF_CODE = (PASS, PARTIAL, FAIL, MISSING, NA)
CODE_OF_STATUS = {status: code for code, status in enumerate(STATUS_OF_CODE)}


class Columns(Protocol):
    """A chunk of ``n`` validated centres as the columnar checks read it (the round engine gathers each
    column once, when a clause first asks for it, from the rows' :class:`Facts`)."""

    n: int

    def values(self, field: str) -> list[Any]:
        """One dotted field of every row as the profile gives it (None where absent)."""

    def number(self, field: str) -> tuple[Floats, Bools]:
        """A numeric field as float64 (0.0 where absent) and where it is given."""

    def area(self, classes: tuple[str, ...]) -> Floats:
        """The area of some zone classes per row, summed as :func:`_area` sums it."""

    def total(self) -> Floats:
        """``space.total_area_m2`` per row."""

    def sets(self, list_name: str) -> list[set[str] | None]:
        """A profile list's codes per row (None where the list is absent)."""

    def present(self, list_name: str, codes: tuple[str, ...]) -> tuple[Ints, Bools]:
        """Which of ``codes`` each row's list holds, as bits (bit k for ``codes[k]``; int64 up to 62 codes, Python
        ints beyond), and where the list is given."""


@dataclass(frozen=True, slots=True)
class Scored:
    """One clause over a chunk: status codes (``S_PASS`` …), credits, the measured value and the remedy's
    amount as float64 (NaN where there is none; both for columnar outputs), the rows the vector pass could
    not settle exactly (``compile``'s closure decides those), and each settled row's :class:`Finding`. Where
    ``alike`` is given, rows with the same value in it have the same finding: a chunk's consumers then make each
    finding once (a list's clauses: the codes present decide it)."""

    status: Codes
    credit: Floats
    measured: Floats
    amount: Floats
    settle: Bools
    finding: Callable[[int], Finding]
    alike: Ints | None = None


ColumnCheck = Callable[[Columns], Scored]


def _np() -> Any:
    """NumPy, imported when a round first scores columns: one centre's audit never loads it."""
    import numpy

    return numpy


def bit_count(bits: Ints) -> Floats:
    """How many bits each value of :meth:`Columns.present` has set, as float64."""
    np = _np()
    if bits.dtype == object:
        counted: Floats = np.fromiter((int(b).bit_count() for b in bits.tolist()), np.float64, len(bits))
    else:
        counted = np.bitwise_count(bits).astype(np.float64)
    return counted


def remedy_columns(need: Bools, estimate: Floats, passes: Callable[[Floats], Bools],
                   unit: str) -> tuple[Floats, Bools]:
    """:func:`smallest_remedy` over a column: the amount where the closed form is the smallest that passes
    (it passes, and a step less does not), and the rows where it is not (settled one by one)."""
    np = _np()
    scale = _SCALE.get(unit, 1_000_000)
    with np.errstate(all="ignore"):
        guess = estimate * scale
        inside = (guess > 0) & (guess < 1e15)
        k = np.maximum(np.where(inside, np.ceil(guess - 1e-6), 1.0), 1.0)
        a = k if scale == 1 else k / scale
        below = (k - 1) if scale == 1 else (k - 1) / scale
        good = ~(guess >= 1e15) & passes(a) & ((k == 1) | ~passes(below))
    amount = np.where(need & good, a, np.nan)
    settle: Bools = need & ~good
    return amount, settle


def banded_columns(value: Floats, met: Bools, bands: tuple[tuple[float, float], ...],
                   higher_is_better: bool) -> tuple[Codes, Floats]:
    """:func:`banded` over a column: PASS where ``met``, else the first band that holds, else FAIL."""
    np = _np()
    status = np.where(met, S_PASS, S_FAIL).astype(np.int8)
    credit = met.astype(np.float64)
    with np.errstate(invalid="ignore"):
        for bound, band_credit in reversed(bands):      # the band nearest the threshold is written last: it wins
            hit = ~met & ((value >= bound - TOL) if higher_is_better else (value <= bound + TOL))
            status[hit] = S_PARTIAL
            credit[hit] = band_credit
    return status, credit


def _amount(value: float, unit: str) -> float | int:
    """A remedy's amount from its column, typed as :func:`smallest_remedy` types it."""
    return int(value) if _SCALE.get(unit, 1_000_000) == 1 else float(value)


def _shown(value: float) -> float | None:
    return None if value != value else float(value)      # NaN: no measured value


# --------------------------------------------------------------------------- lint context

class LintContext:
    """What a check's lint needs to know: the profile's fields and the rule set's vocabulary."""

    def __init__(self, fields: Mapping[str, str], vocabulary: Vocabulary, shortfall: Mapping[str, Any]) -> None:
        self.fields = fields
        self.vocabulary = vocabulary
        self.shortfall = shortfall

    def field(self, params: Mapping[str, Any], key: str, kinds: tuple[str, ...], what: Message) -> Iterator[LintProblem]:
        name = params[key]
        kind = self.fields.get(name)
        if kind is None:
            yield hinted(msg("{field} is not a profile field", field=quote(name)), name, self.fields), ("check", key)
        elif kind not in kinds:
            yield (msg("{field} is a field of the type {kind}; {what} needs {kinds}", field=quote(name),
                       kind=quote(kind), what=what, kinds=Joined([quote(k) for k in kinds], "or")), ("check", key))

    def codes(self, list_name: str, codes: Sequence[str], key: str) -> Iterator[LintProblem]:
        vocab = CODE_LISTS[list_name]
        known = self.vocabulary.codes.get(vocab, frozenset())
        for i, code in enumerate(codes):
            if code not in known:
                path = ("check", key) if key == "code" else ("check", key, i)
                yield code_hint(msg("{code} is not in the vocabulary {vocabulary}", code=quote(code),
                                    vocabulary=quote(vocab)), code, vocabulary_names(self.vocabulary, vocab)), path


# --------------------------------------------------------------------------- the records

_FIELD = {"type": "string", "pattern": "^[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$", "maxLength": 100}
_CODE = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "maxLength": 64}
_LIST = {"enum": list(CODE_LISTS)}
_BIG = 1_000_000_000
_NUMBER = {"type": "number", "minimum": -_BIG, "maximum": _BIG}
_BANDS = {
    "type": "array", "maxItems": 10,
    "items": {"anyOf": [
        {"type": "object", "required": ["min", "credit"], "additionalProperties": False,
         "properties": {"min": _NUMBER, "credit": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}},
        {"type": "object", "required": ["max", "credit"], "additionalProperties": False,
         "properties": {"max": _NUMBER, "credit": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}},
    ]},
}

# How a parameter tightens: a higher value, a lower value, a larger set of codes, a smaller set,
# removing it ("drop": partial-credit bands), or "never" (any change loosens, or changes what is
# measured: it needs a reason).
HIGHER, LOWER, SUPERSET, SUBSET, DROP, NEVER = "higher", "lower", "superset", "subset", "drop", "never"
ANY = "any"      # a display setting: any change is neither looser nor stricter


class CheckType:
    """The record of one check type. Subclasses fill in every part."""

    name: ClassVar[str]
    properties: ClassVar[Mapping[str, Any]]
    required: ClassVar[tuple[str, ...]]
    extra_schema: ClassVar[Mapping[str, Any]] = {}
    description: ClassVar[str]

    # -- meta-schema
    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["type", *self.required],
            "properties": {"type": {"const": self.name}, **self.properties},
            "additionalProperties": False,
            **self.extra_schema,
        }

    def placeholders(self, params: Mapping[str, Any], shortfall: Mapping[str, Any]) -> frozenset[str]:
        """The placeholders this clause's shortfall text can fill: an amount only where there is one."""
        return frozenset({"amount", "amount_pct"}) if shortfall.get("unit") else frozenset()

    def param_schema(self, param: str) -> Mapping[str, Any]:
        schema: Mapping[str, Any] = self.properties[param]
        return schema

    # -- thresholds and loosening
    def threshold_param(self, params: Mapping[str, Any]) -> str | None:
        raise NotImplementedError

    def threshold(self, params: Mapping[str, Any]) -> Any:
        """The threshold as the result document shows it."""
        param = self.threshold_param(params)
        return True if param is None else params[param]

    def stricter(self, param: str, params: Mapping[str, Any]) -> str:
        """Which way ``param`` tightens (HIGHER, LOWER, SUPERSET, SUBSET or NEVER)."""
        return NEVER

    def loosening(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Message]:
        """How ``new`` parameters are easier to meet than ``old`` ones, in words; empty when not."""
        out = []
        for key in [k for k in {**old, **new} if k != "type"]:
            a, b = old.get(key), new.get(key)
            if a == b:
                continue
            way = self.stricter(key, old)
            if way == ANY:
                continue
            if way == DROP:          # removing some or all bands never gives more credit
                tightens = b is None or (a is not None and all(band in a for band in b))
            elif a is None or b is None:
                tightens = False
            elif way == HIGHER:
                tightens = b >= a
            elif way == LOWER:
                tightens = b <= a
            elif way == SUPERSET:
                tightens = set(b) >= set(a)
            elif way == SUBSET:
                tightens = set(b) <= set(a)
            else:
                tightens = False
            if not tightens:
                if key == self.threshold_param(old):
                    out.append(msg("its threshold from {old} to {new}", old=_short(a), new=_short(b)))
                else:
                    out.append(msg("its {key} from {old} to {new}", key=quote(key), old=_short(a), new=_short(b)))
        return out

    # -- lint, evaluation, wording
    def lint(self, params: Mapping[str, Any], ctx: LintContext) -> Iterator[LintProblem]:
        return iter(())

    def compile(self, clause: Clause, vocab: Vocabulary) -> Check:
        raise NotImplementedError

    def compile_columns(self, clause: Clause, vocab: Vocabulary) -> ColumnCheck:
        """The clause over a chunk of centres: the same findings as :meth:`compile`, column by column."""
        raise NotImplementedError

    def measured_text(self, finding: Finding, lang: str) -> str:
        return fmt_number(finding.measured)

    def threshold_text(self, clause: Clause, lang: str) -> str:
        return fmt_number(clause.threshold)


def _short(value: Any) -> str:
    text = repr(list(value) if isinstance(value, (list, tuple)) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _quantity(clause: Clause, value: Any, as_share: bool, lang: str, against: Any = None) -> str:
    """A measured value or threshold: the clause's measure text, a percentage, or the number.

    ``against`` is the threshold a failing value misses: the value is then written with as many
    decimals as it takes not to read as the threshold (39.96 hours is not "40.0").
    """
    if not isinstance(against, (int, float)) or isinstance(against, bool):
        against = None
    if clause.measure:
        return fill(clause.measure[lang], {"value": fmt_measure(value, against)})
    if as_share:
        return fmt_pct(value, against)
    if against is not None and isinstance(value, float):
        return fmt_measure(value, against)
    return fmt_number(value)


def _missed(finding: Finding) -> Any:
    """The threshold a finding misses, or None when it is met."""
    return None if finding.status is PASS else finding.clause.threshold


class CodeCheck(CheckType):
    """Shared by ``has_code`` and ``has_all``: codes present in a profile list, credit the share present."""

    def codes_of(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        raise NotImplementedError

    def _findings(self, clause: Clause) -> tuple[Finding, Finding, Callable[[tuple[str, ...]], Finding]]:
        """The clause's findings: the list absent, every code present, and some codes absent."""
        codes = self.codes_of(clause.check)
        n = len(codes)
        # Findings of the same absent codes are shared: keyed by a tuple of strings, never by a number.
        seen: dict[tuple[str, ...], Finding] = {}

        def short(absent: tuple[str, ...]) -> Finding:
            found = seen.get(absent)
            if found is None:
                share = (n - len(absent)) / n
                found = Finding(clause, PARTIAL if share > 0 else FAIL, share, share,
                                Shortfall(len(absent), "items", absent))
                if len(seen) < 4096:
                    seen[absent] = found
            return found

        return _missing(clause, clause.check["list"]), Finding(clause, PASS, 1.0, 1.0), short

    def compile(self, clause: Clause, vocab: Vocabulary) -> Check:
        list_name = clause.check["list"]
        codes = self.codes_of(clause.check)
        required = frozenset(codes)
        missing, passed, short = self._findings(clause)

        def check(facts: Facts) -> Finding:
            present = facts.lists[list_name]
            if present is None:
                return missing
            if required <= present:
                return passed
            return short(tuple(c for c in codes if c not in present))

        return check

    def compile_columns(self, clause: Clause, vocab: Vocabulary) -> ColumnCheck:
        list_name = clause.check["list"]
        codes = self.codes_of(clause.check)
        n = len(codes)
        missing, passed, short = self._findings(clause)

        def score(cols: Columns) -> Scored:
            np = _np()
            bits, given = cols.present(list_name, codes)
            have = bit_count(bits)
            sets = cols.sets(list_name)
            share = have / n
            status = np.where(given, np.where(have == n, S_PASS, np.where(have > 0, S_PARTIAL, S_FAIL)),
                              S_MISSING).astype(np.int8)

            def finding(i: int) -> Finding:
                present = sets[i]
                if present is None:
                    return missing
                if status[i] == S_PASS:
                    return passed
                return short(tuple(c for c in codes if c not in present))

            return Scored(status, np.where(given, share, 0.0), np.where(given, share, np.nan),
                          np.where(given & (have < n), n - have, np.nan), np.zeros(cols.n, bool), finding,
                          np.where(given, bits, -1))

        return score

    def lint(self, params: Mapping[str, Any], ctx: LintContext) -> Iterator[LintProblem]:
        key = "code" if "code" in params else "codes"
        yield from ctx.codes(params["list"], self.codes_of(params), key)

    def placeholders(self, params: Mapping[str, Any], shortfall: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"items", "amount"})


class HasCode(CodeCheck):
    name = "has_code"
    description = "a code is in a profile list (signage, amenities, services.feedback_loop) or among the zone kinds"
    properties = {"list": _LIST, "code": _CODE}
    required = ("list", "code")

    def codes_of(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        return (params["code"],)

    def threshold_param(self, params: Mapping[str, Any]) -> str | None:
        return "code"

    def threshold(self, params: Mapping[str, Any]) -> Any:
        return (params["code"],)

    def measured_text(self, finding: Finding, lang: str) -> str:
        return "—" if finding.measured is None else PRESENT[finding.status is PASS].text(lang)

    def threshold_text(self, clause: Clause, lang: str) -> str:
        return PRESENT[True].text(lang)


class HasAll(CodeCheck):
    name = "has_all"
    description = "every code of a set is present; credit is the share present (partial in between)"
    properties = {"list": _LIST, "codes": {"type": "array", "items": _CODE, "minItems": 1, "maxItems": 200,
                                           "uniqueItems": True}}
    required = ("list", "codes")

    def codes_of(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(params["codes"])

    def threshold_param(self, params: Mapping[str, Any]) -> str | None:
        return "codes"

    def threshold(self, params: Mapping[str, Any]) -> Any:
        return tuple(params["codes"])

    def stricter(self, param: str, params: Mapping[str, Any]) -> str:
        return SUPERSET if param == "codes" else NEVER

    def measured_text(self, finding: Finding, lang: str) -> str:
        if finding.measured is None:
            return "—"
        n = len(finding.clause.threshold)
        have = n - (len(finding.shortfall.missing) if finding.shortfall else 0)
        return msg("{have}/{n}", have=have, n=n).text(lang)

    def threshold_text(self, clause: Clause, lang: str) -> str:
        return msg("all {n}", n=len(clause.threshold)).text(lang)


class AtLeast(CheckType):
    """At least N distinct codes of a set are present: Nanxing's "X" services, N of a street's own list.

    Credit is min(count, N) / N; the shortfall is how many more to add, with every candidate not
    yet present. A larger set or a lower N is looser (more ways to pass); N above the set's size
    could never be met and is refused.
    """

    name = "at_least"
    description = ("at least min different codes of a set are present (e.g. zone kinds); credit is the share of min "
                   "reached, the shortfall how many more, with the candidates not yet present")
    properties = {"list": _LIST, "codes": HasAll.properties["codes"], "min": {"type": "integer", "minimum": 1,
                                                                             "maximum": 200}}
    required = ("list", "codes", "min")

    def threshold_param(self, params: Mapping[str, Any]) -> str | None:
        return "min"

    def stricter(self, param: str, params: Mapping[str, Any]) -> str:
        return {"min": HIGHER, "codes": SUBSET}.get(param, NEVER)

    def lint(self, params: Mapping[str, Any], ctx: LintContext) -> Iterator[LintProblem]:
        yield from ctx.codes(params["list"], tuple(params["codes"]), "codes")
        if params["min"] > len(params["codes"]):
            yield (msg("at least {min} of a set of {count} can never be met", min=params["min"],
                       count=len(params["codes"])), ("check", "min"))

    def placeholders(self, params: Mapping[str, Any], shortfall: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"amount", "items"})

    def _counted(self, clause: Clause) -> Callable[[set[str] | None], Finding]:
        """The finding of a list's codes present (None: the list is absent)."""
        params = clause.check
        codes = tuple(params["codes"])
        need = params["min"]
        missing = _missing(clause, params["list"])
        seen: dict[tuple[str, ...], Finding] = {}     # keyed by the absent codes: strings only

        def counted(present: set[str] | None) -> Finding:
            if present is None:
                return missing
            absent = tuple(c for c in codes if c not in present)
            found = seen.get(absent)
            if found is None:
                count = len(codes) - len(absent)
                if count >= need:
                    found = Finding(clause, PASS, 1.0, count)
                else:
                    found = Finding(clause, PARTIAL if count else FAIL, count / need, count,
                                    Shortfall(need - count, "items", absent))
                if len(seen) < 4096:
                    seen[absent] = found
            return found

        return counted

    def compile(self, clause: Clause, vocab: Vocabulary) -> Check:
        list_name = clause.check["list"]
        counted = self._counted(clause)

        def check(facts: Facts) -> Finding:
            return counted(facts.lists[list_name])

        return check

    def compile_columns(self, clause: Clause, vocab: Vocabulary) -> ColumnCheck:
        list_name = clause.check["list"]
        codes = tuple(clause.check["codes"])
        need = clause.check["min"]
        counted = self._counted(clause)

        def score(cols: Columns) -> Scored:
            np = _np()
            bits, given = cols.present(list_name, codes)
            count = bit_count(bits)
            sets = cols.sets(list_name)
            met = count >= need
            status = np.where(given, np.where(met, S_PASS, np.where(count > 0, S_PARTIAL, S_FAIL)),
                              S_MISSING).astype(np.int8)
            credit = np.where(given, np.where(met, 1.0, count / need), 0.0)
            return Scored(status, credit, np.where(given, count, np.nan), np.where(given & ~met, need - count, np.nan),
                          np.zeros(cols.n, bool), lambda i: counted(sets[i]), np.where(given, bits, -1))

        return score

    def measured_text(self, finding: Finding, lang: str) -> str:
        if finding.measured is None:
            return "—"
        return msg("{count} of the set", count=finding.measured).text(lang)

    def threshold_text(self, clause: Clause, lang: str) -> str:
        return msg("at least {n} of {of}", n=clause.threshold, of=len(clause.check["codes"])).text(lang)


class Flag(CheckType):
    name = "flag"
    description = "a yes/no practice is true"
    properties = {"field": _FIELD}
    required = ("field",)

    def threshold_param(self, params: Mapping[str, Any]) -> str | None:
        return None

    def lint(self, params: Mapping[str, Any], ctx: LintContext) -> Iterator[LintProblem]:
        yield from ctx.field(params, "field", ("boolean",), msg("a yes/no check"))

    def compile(self, clause: Clause, vocab: Vocabulary) -> Check:
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

    def compile_columns(self, clause: Clause, vocab: Vocabulary) -> ColumnCheck:
        field = clause.check["field"]
        by_code = {S_PASS: Finding(clause, PASS, 1.0, True), S_FAIL: Finding(clause, FAIL, 0.0, False),
                   S_MISSING: _missing(clause, field)}

        def score(cols: Columns) -> Scored:
            np = _np()
            status = np.fromiter((S_MISSING if v is None else S_PASS if v else S_FAIL for v in cols.values(field)),
                                 np.int8, cols.n)
            credit = (status == S_PASS).astype(np.float64)
            return Scored(status, credit, np.where(status == S_MISSING, np.nan, credit), np.full(cols.n, np.nan),
                          np.zeros(cols.n, bool), lambda i: by_code[int(status[i])])

        return score

    def measured_text(self, finding: Finding, lang: str) -> str:
        return "—" if finding.measured is None else YES_NO[bool(finding.measured)].text(lang)

    def threshold_text(self, clause: Clause, lang: str) -> str:
        return YES_NO[True].text(lang)


class Compare(CheckType):
    name = "compare"
    description = "a numeric field against a value with >=, <= or ==, optional partial-credit bands"
    properties = {"field": _FIELD, "op": {"enum": [">=", "<=", "=="]}, "value": _NUMBER, "partial": _BANDS}
    required = ("field", "op", "value")

    def threshold_param(self, params: Mapping[str, Any]) -> str | None:
        return "value"

    def placeholders(self, params: Mapping[str, Any], shortfall: Mapping[str, Any]) -> frozenset[str]:
        return frozenset() if params["op"] == "==" else super().placeholders(params, shortfall)

    def stricter(self, param: str, params: Mapping[str, Any]) -> str:
        if param == "value":
            return {">=": HIGHER, "<=": LOWER}.get(params["op"], NEVER)
        return DROP if param == "partial" else NEVER

    def lint(self, params: Mapping[str, Any], ctx: LintContext) -> Iterator[LintProblem]:
        yield from ctx.field(params, "field", ("number", "integer"), msg("a comparison"))
        if params["op"] == "==" and params.get("partial"):
            yield msg("an equality check ({op}) has no partial credit", op=quote("==")), ("check", "partial")
        yield from _lint_bands(params, params["value"], params["op"] == ">=", ctx)

    def compile(self, clause: Clause, vocab: Vocabulary) -> Check:
        params = clause.check
        read = getter(params["field"])
        op = params["op"]
        threshold = params["value"]
        unit = clause.shortfall_unit
        missing = _missing(clause, params["field"])
        higher = op == ">="
        bands = _bands(params, higher)

        if op == "==":
            def check_equal(facts: Facts) -> Finding:
                value = read(facts.data)
                if value is None:
                    return missing
                ok = abs(value - threshold) <= TOL
                return _finding(clause, PASS if ok else FAIL, 1.0 if ok else 0.0, value, None, None)

            return check_equal

        def check(facts: Facts) -> Finding:
            value = read(facts.data)
            if value is None:
                return missing
            if (value >= threshold - TOL) if higher else (value <= threshold + TOL):
                return _finding(clause, PASS, 1.0, value, None, None)
            status, credit = banded(value, bands, higher)
            shortfall = None
            if unit is not None:
                if higher:
                    amount = smallest_remedy(lambda a: value + a >= threshold - TOL, threshold - value, unit)
                else:
                    amount = smallest_remedy(lambda a: value - a <= threshold + TOL, value - threshold, unit)
                shortfall = _shortfall(amount, unit, ())
            return _finding(clause, status, credit, value, shortfall, None)

        return check

    def compile_columns(self, clause: Clause, vocab: Vocabulary) -> ColumnCheck:
        params = clause.check
        field = params["field"]
        op = params["op"]
        threshold = params["value"]
        unit = clause.shortfall_unit
        missing = _missing(clause, field)
        higher = op == ">="
        bands = _bands(params, higher)

        def score(cols: Columns) -> Scored:
            np = _np()
            value, given = cols.number(field)
            raw = cols.values(field)          # the measure as the profile gives it (5, not 5.0)
            nothing = np.full(cols.n, np.nan)
            measured = np.where(given, value, np.nan)
            settle = np.zeros(cols.n, bool)
            if op == "==":
                met = np.abs(value - threshold) <= TOL
                status = np.where(given, np.where(met, S_PASS, S_FAIL), S_MISSING).astype(np.int8)
                credit = (given & met).astype(np.float64)
                amount = nothing
            else:
                met = (value >= threshold - TOL) if higher else (value <= threshold + TOL)
                status, credit = banded_columns(value, met, bands, higher)
                status[~given] = S_MISSING
                credit[~given] = 0.0
                amount = nothing
                if unit is not None:
                    need = given & ~met
                    if higher:
                        amount, settle = remedy_columns(need, threshold - value,
                                                        lambda a: value + a >= threshold - TOL, unit)
                    else:
                        amount, settle = remedy_columns(need, value - threshold,
                                                        lambda a: value - a <= threshold + TOL, unit)

            def finding(i: int) -> Finding:
                code = status[i]
                if code == S_MISSING:
                    return missing
                if code == S_PASS:
                    return _finding(clause, PASS, 1.0, raw[i], None, None)
                shortfall = None if unit is None or op == "==" else _shortfall(_amount(amount[i], unit), unit, ())
                return _finding(clause, STATUS_OF_CODE[code], float(credit[i]), raw[i], shortfall, None)

            return Scored(status, credit, measured, amount, settle, finding)

        return score

    def measured_text(self, finding: Finding, lang: str) -> str:
        if finding.measured is None:
            return "—"
        return _quantity(finding.clause, finding.measured, finding.clause.shortfall_unit == "ratio", lang,
                         _missed(finding))

    def threshold_text(self, clause: Clause, lang: str) -> str:
        share = clause.shortfall_unit == "ratio"
        return f"{_sign(clause.check['op'])} {_quantity(clause, clause.threshold, share, lang)}"


class Rate(CheckType):
    name = "rate"
    description = ("numerator / denominator × per against a min or max (e.g. workers per 10,000 residents); "
                   "the shortfall adjusts the numerator (min) or the denominator (max)")
    properties = {
        "numerator": _FIELD, "denominator": _FIELD,
        "per": {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000},
        "min": {"type": "number", "minimum": 0, "maximum": 1_000_000},
        "max": {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000},
        "partial": _BANDS,
        "zero_denominator": {"enum": ["not_applicable", "fail"]},
        "percent": {"type": "boolean", "description": "show the rate as a percentage (a share of one count in another)"},
    }
    required = ("numerator", "denominator", "per")
    extra_schema = {"oneOf": [{"required": ["min"], "not": {"required": ["max"]}},
                              {"required": ["max"], "not": {"required": ["min"]}}]}

    def threshold_param(self, params: Mapping[str, Any]) -> str | None:
        return "min" if "min" in params else "max"

    def stricter(self, param: str, params: Mapping[str, Any]) -> str:
        if param == "min":
            return HIGHER
        if param == "max":
            return LOWER
        if param == "percent":
            return ANY
        return DROP if param == "partial" else NEVER

    def loosening(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Message]:
        out = super().loosening({k: v for k, v in old.items() if k != "zero_denominator"},
                                {k: v for k, v in new.items() if k != "zero_denominator"})
        before = old.get("zero_denominator", "not_applicable")
        after = new.get("zero_denominator", "not_applicable")
        if before == "fail" and after != "fail":
            out.append(msg("its {key} from {old} to {new}", key=quote("zero_denominator"), old=quote("fail"),
                           new=quote("not_applicable")))
        return out

    def lint(self, params: Mapping[str, Any], ctx: LintContext) -> Iterator[LintProblem]:
        yield from ctx.field(params, "numerator", ("number", "integer"), msg("a rate"))
        yield from ctx.field(params, "denominator", ("number", "integer"), msg("a rate"))
        higher = "min" in params
        adjust = ctx.shortfall.get("adjust")
        wanted = "numerator" if higher else "denominator"
        if adjust and adjust != wanted:
            if higher:
                told = msg("a rate with a minimum is met by raising its numerator; {adjust} cannot close it",
                           adjust=quote(f"adjust: {adjust}"))
            else:
                told = msg("a rate with a maximum is met by raising its denominator; {adjust} cannot close it",
                           adjust=quote(f"adjust: {adjust}"))
            yield told, ("shortfall", "adjust")
        yield from _lint_bands(params, params["min" if higher else "max"], higher, ctx)

    @staticmethod
    def _parts(clause: Clause) -> tuple[Any, bool, Any, tuple[tuple[float, float], ...], bool, str | None, Finding,
                                        Finding, Finding]:
        """per, whether higher is better, the threshold, the bands, whether a zero denominator fails, the remedy's
        unit, and the findings of a missing numerator, a missing denominator and a rate that does not apply."""
        params = clause.check
        higher = "min" in params
        return (params["per"], higher, params["min"] if higher else params["max"], _bands(params, higher),
                params.get("zero_denominator", "not_applicable") == "fail", clause.shortfall_unit,
                _missing(clause, params["numerator"]), _missing(clause, params["denominator"]),
                Finding(clause, NA, 0.0, None, None, params["denominator"]))

    def compile(self, clause: Clause, vocab: Vocabulary) -> Check:
        params = clause.check
        read_num, read_den = getter(params["numerator"]), getter(params["denominator"])
        (per, higher, threshold, bands, zero_fails, unit, missing_num, missing_den,
         not_applicable) = self._parts(clause)

        def shortfall(num: float, den: float) -> Shortfall | None:
            if unit is None or (higher and den == 0):   # no numerator makes a rate of nothing pass
                return None
            if higher:       # raise the numerator: hire, certify, add area
                amount = smallest_remedy(lambda a: (num + a) / den * per >= threshold - TOL,
                                         threshold * den / per - num, unit)
            else:            # raise the denominator: hire so each worker has fewer households
                amount = smallest_remedy(lambda a: num / (den + a) * per <= threshold + TOL,
                                         num * per / threshold - den, unit)
            return _shortfall(amount, unit, ())

        def check(facts: Facts) -> Finding:
            data = facts.data
            den = read_den(data)
            if den is None:
                return missing_den
            if den == 0 and not zero_fails:
                return not_applicable          # applicability first: the numerator may be absent too
            num = read_num(data)
            if num is None:
                return missing_num
            if den == 0:
                if num == 0:
                    return not_applicable
                return _finding(clause, FAIL, 0.0, None, shortfall(num, den), None)
            measured = num / den * per
            shown = measured if _isfinite(measured) else None     # a vanishing denominator: beyond any number
            if (measured >= threshold - TOL) if higher else (measured <= threshold + TOL):
                return _finding(clause, PASS, 1.0, shown, None, None)
            status, credit = banded(measured, bands, higher)
            return _finding(clause, status, credit, shown, shortfall(num, den), None)

        return check

    def compile_columns(self, clause: Clause, vocab: Vocabulary) -> ColumnCheck:
        numerator, denominator = clause.check["numerator"], clause.check["denominator"]
        (per, higher, threshold, bands, zero_fails, unit, missing_num, missing_den,
         not_applicable) = self._parts(clause)
        # how a row is decided before its rate is measured (MEASURED: it is measured)
        MEASURED, NO_DEN, ZERO_NA, NO_NUM, ZERO_FAIL = 0, 1, 2, 3, 4

        def score(cols: Columns) -> Scored:
            np = _np()
            num, num_given = cols.number(numerator)
            den, den_given = cols.number(denominator)
            zero = den_given & (den == 0)
            with np.errstate(all="ignore"):
                measured = num / den * per
                met = (measured >= threshold - TOL) if higher else (measured <= threshold + TOL)
            status, credit = banded_columns(measured, met, bands, higher)
            way = np.zeros(cols.n, np.int8)          # the scalar check's order, the first case written last
            if zero_fails:
                way[zero] = ZERO_FAIL
                way[zero & (num == 0)] = ZERO_NA
            way[~num_given] = NO_NUM
            if not zero_fails:
                way[zero] = ZERO_NA
            way[~den_given] = NO_DEN
            decided = way != MEASURED
            status[decided] = S_MISSING
            status[way == ZERO_NA] = S_NA
            status[way == ZERO_FAIL] = S_FAIL
            credit[decided] = 0.0
            with np.errstate(invalid="ignore"):
                shown = np.where(~decided & np.isfinite(measured), measured, np.nan)
            amount, settle = np.full(cols.n, np.nan), np.zeros(cols.n, bool)
            if unit is not None:
                need = ((way == MEASURED) & ((status == S_FAIL) | (status == S_PARTIAL))) | (
                    (way == ZERO_FAIL) & (not higher))
                with np.errstate(all="ignore"):
                    if higher:      # raise the numerator
                        amount, settle = remedy_columns(need, threshold * den / per - num,
                                                        lambda a: (num + a) / den * per >= threshold - TOL, unit)
                    else:           # raise the denominator
                        amount, settle = remedy_columns(need, num * per / threshold - den,
                                                        lambda a: num / (den + a) * per <= threshold + TOL, unit)

            def finding(i: int) -> Finding:
                how = way[i]
                if how == NO_DEN:
                    return missing_den
                if how == ZERO_NA:
                    return not_applicable
                if how == NO_NUM:
                    return missing_num
                code = status[i]
                if code == S_PASS:
                    return _finding(clause, PASS, 1.0, _shown(shown[i]), None, None)
                owed = amount[i]
                shortfall = None if owed != owed else _shortfall(_amount(owed, unit or ""), unit, ())
                if how == ZERO_FAIL:
                    return _finding(clause, FAIL, 0.0, None, shortfall, None)
                return _finding(clause, STATUS_OF_CODE[code], float(credit[i]), _shown(shown[i]), shortfall, None)

            return Scored(status, credit, shown, amount, settle, finding)

        return score

    @staticmethod
    def _share(clause: Clause) -> bool:
        """A rate the rule file marks ``percent: true`` (a share of workers, 7.3 and 7.4) reads as a percentage."""
        return bool(clause.check.get("percent", False))

    def measured_text(self, finding: Finding, lang: str) -> str:
        if finding.measured is None:
            return "—"
        return _quantity(finding.clause, finding.measured, self._share(finding.clause), lang, _missed(finding))

    def threshold_text(self, clause: Clause, lang: str) -> str:
        sign = _sign(">=" if "min" in clause.check else "<=")
        return f"{sign} {_quantity(clause, clause.threshold, self._share(clause), lang)}"


class AreaRatio(CheckType):
    name = "area_ratio"
    description = "zone area of some classes over other classes (or the total area), at least min"
    _classes = {"type": "array", "items": {"enum": list(ZONE_CLASSES)}, "minItems": 1, "uniqueItems": True}
    properties = {"numerator": _classes, "denominator": {"anyOf": [{"const": "total"}, _classes]},
                  "min": {"type": "number", "minimum": 0, "maximum": 1}}
    required = ("numerator", "denominator", "min")

    def threshold_param(self, params: Mapping[str, Any]) -> str | None:
        return "min"

    def stricter(self, param: str, params: Mapping[str, Any]) -> str:
        return HIGHER if param == "min" else NEVER

    def placeholders(self, params: Mapping[str, Any], shortfall: Mapping[str, Any]) -> frozenset[str]:
        return frozenset({"amount", "amount_pct"})        # the area to turn over, in m²

    def lint(self, params: Mapping[str, Any], ctx: LintContext) -> Iterator[LintProblem]:
        den = params["denominator"]
        if den != "total" and not set(params["numerator"]) <= set(den):
            yield (msg("the numerator's classes must be part of the denominator (a share of a whole): {numerator} is "
                       "not within {denominator}", numerator=quote(list(params["numerator"])), denominator=quote(list(den))),
                   ("check", "denominator"))
        unit = ctx.shortfall.get("unit")
        if unit not in (None, "m2"):
            yield msg("an area ratio's shortfall is in {m2}, not {unit}", m2=quote("m2"), unit=quote(unit)), \
                ("shortfall", "unit")

    @staticmethod
    def _parts(clause: Clause) -> tuple[tuple[str, ...], tuple[str, ...] | None, tuple[str, ...] | None, float, str,
                                        Finding]:
        """The numerator's classes, the denominator's (None: the total area), the denominator's classes not in the
        numerator (None likewise), the threshold, the remedy's unit and the finding of a centre with no area."""
        params = clause.check
        num_classes = tuple(params["numerator"])
        den = params["denominator"]
        den_classes = None if den == "total" else tuple(den)
        rest = None if den_classes is None else tuple(c for c in den_classes if c not in num_classes)
        return (num_classes, den_classes, rest, params["min"], clause.shortfall_unit or "m2",
                Finding(clause, FAIL, 0.0, None, None, "no_zones"))

    def compile(self, clause: Clause, vocab: Vocabulary) -> Check:
        num_classes, den_classes, rest, threshold, unit, empty = self._parts(clause)

        def check(facts: Facts) -> Finding:
            areas = facts.class_area
            num = _area(areas, num_classes)
            total = facts.total_area if den_classes is None else _area(areas, den_classes)
            if total <= 0:
                return empty
            ratio = num / total
            shown = ratio if _isfinite(ratio) else None
            if ratio >= threshold - TOL:
                return _finding(clause, PASS, 1.0, shown, None, None)
            # Area turned over to the numerator's use; the whole (S + O, or T) stays the same.
            amount = smallest_remedy(lambda a: (num + a) / total >= threshold - TOL, threshold * total - num, unit)
            if amount >= (total - num if rest is None else _area(areas, rest)) * _NEAR_CAP:
                amount = min(amount, _remedy_cap(facts, num_classes, rest))
            return _finding(clause, FAIL, 0.0, shown, _shortfall(amount, unit, ()), None)

        return check

    def compile_columns(self, clause: Clause, vocab: Vocabulary) -> ColumnCheck:
        num_classes, den_classes, rest, threshold, unit, empty = self._parts(clause)

        def score(cols: Columns) -> Scored:
            np = _np()
            num = cols.area(num_classes)
            total = cols.total() if den_classes is None else cols.area(den_classes)
            none = total <= 0
            with np.errstate(all="ignore"):
                ratio = num / total
                met = ~none & (ratio >= threshold - TOL)
                shown = np.where(~none & np.isfinite(ratio), ratio, np.nan)
                status = np.where(met, S_PASS, S_FAIL).astype(np.int8)
                # Area turned over to the numerator's use; the whole (S + O, or T) stays the same.
                amount, settle = remedy_columns(~met & ~none, threshold * total - num,
                                                lambda a: (num + a) / total >= threshold - TOL, unit)
                # where the cap may bind (a facility of a fraction of a m²) the scalar check takes the area written
                capped = amount >= (total - num if rest is None else cols.area(rest)) * _NEAR_CAP
                if capped.any():
                    amount = np.where(capped, np.nan, amount)
                    settle = settle | capped

            def finding(i: int) -> Finding:
                if none[i]:
                    return empty
                if status[i] == S_PASS:
                    return _finding(clause, PASS, 1.0, _shown(shown[i]), None, None)
                return _finding(clause, FAIL, 0.0, _shown(shown[i]), _shortfall(_amount(amount[i], unit), unit, ()),
                                None)

            return Scored(status, met.astype(np.float64), shown, amount, settle, finding)

        return score

    def measured_text(self, finding: Finding, lang: str) -> str:
        return "—" if finding.measured is None else fmt_pct(finding.measured, _missed(finding))

    def threshold_text(self, clause: Clause, lang: str) -> str:
        return f"≥ {fmt_pct(clause.threshold)}"


_NEAR_CAP = 1 - 1e-9     # a remedy this close to its cap (a float's error away) is compared with the area written


def _remedy_cap(facts: Facts, num_classes: tuple[str, ...], rest: tuple[str, ...] | None) -> float:
    """The most area a ratio's remedy turns over (turning all of it always passes): the area not yet in the
    numerator's use, ``T − S`` (5.3), or the denominator's other classes, ``O`` (5.2); taken and added as the
    decimals the profile writes, as a person would: 0.15 − 0.05 m² is 0.1, not the float 0.09999999999999999."""
    zones, class_of = facts.data["space"]["zones"], facts.zone_class

    def written(classes: tuple[str, ...]) -> Decimal:
        return sum((Decimal(repr(z["area_m2"])) for z in zones if class_of.get(z["kind"]) in classes), Decimal(0))

    with localcontext(Context(prec=60)):      # not the caller's context: enough digits for any two floats
        if rest is None:
            return float(Decimal(repr(facts.total_area)) - written(num_classes))
        return float(written(rest))


def _area(areas: Mapping[str | None, float], classes: tuple[str, ...]) -> float:
    """The area of some zone classes; two floats add exactly as fsum would, more need fsum."""
    if len(classes) == 1:
        return areas.get(classes[0], 0.0)
    if len(classes) == 2:
        return areas.get(classes[0], 0.0) + areas.get(classes[1], 0.0)
    return math.fsum(areas.get(cls, 0.0) for cls in classes)


def _lint_bands(params: Mapping[str, Any], threshold: float, higher: bool, ctx: LintContext) -> Iterator[LintProblem]:
    key = "min" if higher else "max"
    for i, band in enumerate(params.get("partial", ())):
        if key not in band:
            if higher:
                told = msg("a check met at or above its threshold takes {key} bands", key=quote(key))
            else:
                told = msg("a check met at or below its threshold takes {key} bands", key=quote(key))
            yield told, ("check", "partial", i)


CHECK_TYPES: Mapping[str, CheckType] = FrozenDict({t.name: t for t in (
    HasCode(), HasAll(), AtLeast(), Flag(), Compare(), Rate(), AreaRatio(),
)})


def check_type(name: str) -> CheckType:
    return CHECK_TYPES[name]


def with_conditions(clause: Clause, check: Check) -> Check:
    """Wrap ``check`` so the clause is not applicable when a condition holds (applicability first)."""
    conditions = []
    for c in clause.not_applicable_when:
        values = tuple(c["in"]) if "in" in c else (c["equals"],)
        texts = frozenset(v for v in values if type(v) is str)
        others = tuple(v for v in values if type(v) is not str)
        conditions.append((getter(c["field"]), texts, others))
    if not conditions:
        return check
    not_applicable = Finding(clause, NA, 0.0, None, None, "condition")

    def guarded(facts: Facts) -> Finding:
        data = facts.data
        for read, texts, others in conditions:
            value = read(data)
            if value is None:
                continue
            if type(value) is str:
                if value in texts:
                    return not_applicable
            elif any(_same(value, v) for v in others):
                return not_applicable
        return check(facts)

    return guarded


def condition_columns(clause: Clause) -> Callable[[Columns], Bools] | None:
    """:func:`with_conditions` over a chunk: the rows where a condition makes the clause not applicable (None when
    the clause has no condition)."""
    conditions = []
    for c in clause.not_applicable_when:
        values = tuple(c["in"]) if "in" in c else (c["equals"],)
        conditions.append((c["field"], frozenset(v for v in values if type(v) is str),
                           tuple(v for v in values if type(v) is not str)))
    if not conditions:
        return None

    def holds(value: Any, texts: frozenset[str], others: tuple[Any, ...]) -> bool:
        if value is None:
            return False
        if type(value) is str:
            return value in texts
        return any(_same(value, v) for v in others)

    def applies(cols: Columns) -> Bools:
        np = _np()
        hit: Bools = np.zeros(cols.n, bool)
        for field, texts, others in conditions:
            hit |= np.fromiter((holds(v, texts, others) for v in cols.values(field)), bool, cols.n)
        return hit

    return applies


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 1 equals 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)
