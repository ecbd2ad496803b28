"""Centre profiles: read, copy into plain values, validate against the published schema, check semantics.

A profile may come from a YAML or JSON file or from a mapping another system
built (database rows welcome: ``decimal.Decimal`` numbers, ``datetime.date``
dates, tuples for lists). :func:`load_profile` first copies it into plain,
read-only JSON values — so nothing the caller changes later can change a
result — then validates in two gears. Valid documents, the common case in a
bureau's batch, go through the compiled ``jsonschema_rs`` validator and the
semantic checks in a few microseconds. A document that fails is validated
again with ``jsonschema`` for precise paths, and the user sees the problems
with their ``$.json.path`` and line at once (the first 100, and their number).
"""
from __future__ import annotations

import datetime
import decimal
import enum
import fractions
import functools
import hashlib
import math
import numbers
import os
import uuid
from typing import Any, Mapping, TypeGuard

import orjson

from . import reading
from .checks import Facts
from .contract import SCAN_LIMIT, closed_profile_validator, describe, kind_of, profile_schema, profile_validator, show
from .fields import VOCABULARY_NAMES, named
from .i18n import Message, msg, quote
from .errors import MAX_PROBLEMS, WARNING, PathItem, Problem, ProfileError, problems_message
from .model import FrozenDict, FrozenList, Profile, RuleSet, RuleSource, Vocabulary, make_profile, plain_document
from .wording import code_hint, hinted, vocabulary_names

__all__ = ["Profile", "load_profile", "profile_schema", "default_vocabulary"]

SCHEMA_VERSION = 1
AREA_TOLERANCE_M2 = 0.5
MAX_VALUES = 50_000         # a profile holds a few hundred values; a hostile one is refused at once
MAX_DEPTH = 64
_CODE_LISTS = (
    (("signage",), "signage"),
    (("amenities",), "amenities"),
    (("services", "feedback_loop"), "feedback_stages"),
    (("services", "key_group_register"), "key_groups"),
)
_LIST_NAMES = tuple((".".join(keys), keys, vocab) for keys, vocab in _CODE_LISTS)     # as Facts.lists names them
MAX_EVIDENCE_ITEMS = 200   # evidence items in one profile (files and hashes together)
_NUMBER_LIMIT = 1e12        # beyond the schema's ranges: such a value is reported by the schema, not summed
_INT_LIMIT = 2 ** 63        # integers beyond 64 bits are refused before validation


@functools.lru_cache(maxsize=None)
def default_vocabulary() -> Vocabulary:
    """The national rule set's vocabularies, read from its layer alone (no rule set is compiled)."""
    from .layers import bundled_dir, read_layer

    layer = read_layer(bundled_dir() / "national.yaml", bundled=True)
    return Vocabulary.of(layer.data.get("vocabularies", {}))


def _plain_copy(document: Any) -> Any:
    """A plain JSON copy made by orjson, or None when the document holds anything orjson will not take.

    orjson refuses what is not plainly JSON (Decimal, sets, non-string keys, lone
    surrogates, integers beyond 64 bits, date-times); the precise copier then
    explains. A NaN becomes null here, which the schema then refuses where it matters.
    """
    try:
        return orjson.loads(orjson.dumps(document, default=_date_only, option=_PASSTHROUGH))
    except (TypeError, ValueError, OverflowError, RecursionError):
        return None


# Anything but plain JSON values goes to the careful copier: subclasses (a str Enum, a dict that
# overrides items()), dataclasses and date-times, so both ways read a mapping the same.
_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS


def _date_only(value: Any) -> Any:
    if type(value) is datetime.date:
        return value.isoformat()
    raise TypeError


# --------------------------------------------------------------------------- plain values

class _Copier:
    """Copies caller data into read-only JSON values, noting what cannot be one."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.budget = MAX_VALUES

    def problem(self, message: Message, path: tuple[PathItem, ...]) -> None:
        self.problems.append(Problem(message, path, self.file))

    def copy(self, value: Any, path: tuple[PathItem, ...]) -> Any:
        """A read-only copy of ``value``; plain scalars are handled inline, the rest one level at a time."""
        kind = type(value)
        if kind is dict or (kind is not list and kind is not tuple and isinstance(value, Mapping)):
            return self._mapping(value, path)
        if kind is list or kind is tuple or isinstance(value, (list, tuple)):
            return self._sequence(value, path)
        return self._item(value, path)

    def _spend(self, n: int, path: tuple[PathItem, ...]) -> bool:
        """Count ``n`` values against the budget; False (and one problem) once it is spent."""
        self.budget -= n
        if self.budget >= 0:
            return True
        if self.budget + n >= 0:       # the first time only
            where = next((path[:i] for i, item in enumerate(path) if isinstance(item, int)), path)
            self.problem(msg("the document holds more than {limit:,} values, the most allowed (a profile has a few "
                             "hundred); refused", limit=MAX_VALUES), where)
        return False

    def _mapping(self, value: Mapping[Any, Any], path: tuple[PathItem, ...]) -> Any:
        if len(path) >= MAX_DEPTH:
            self.problem(msg("nested more than {limit} levels deep", limit=MAX_DEPTH), path)
            return None
        if not self._spend(len(value), path):
            return None
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                self.problem(msg("key {key} is not text", key=quote(key)), path)
                continue
            if not key.isascii():
                self._text(key, path)
            kind = type(item)
            if kind is str:
                if not item.isascii():
                    self._text(item, path + (key,))
                out[key] = item
            elif kind is bool or item is None or (kind is int and -_INT_LIMIT < item < _INT_LIMIT) \
                    or (kind is float and math.isfinite(item)):
                out[key] = item
            else:
                out[key] = self.copy(item, path + (key,))
        return FrozenDict(out)

    def _sequence(self, value: Any, path: tuple[PathItem, ...]) -> Any:
        if len(path) >= MAX_DEPTH:
            self.problem(msg("nested more than {limit} levels deep", limit=MAX_DEPTH), path)
            return None
        if not self._spend(len(value), path):
            return None
        items = []
        for i, item in enumerate(value):
            kind = type(item)
            if kind is str:
                if not item.isascii():
                    self._text(item, path + (i,))
                items.append(item)
            elif kind is bool or item is None or (kind is int and -_INT_LIMIT < item < _INT_LIMIT) \
                    or (kind is float and math.isfinite(item)):
                items.append(item)
            else:
                items.append(self.copy(item, path + (i,)))
        return FrozenList(items)

    def _item(self, value: Any, path: tuple[PathItem, ...]) -> Any:
        kind = type(value)
        if kind is str:
            if not value.isascii():
                self._text(value, path)
            return value
        if kind is float and not math.isfinite(value):
            self.problem(msg("{value} is not a finite number", value=quote(value)), path)
            return value
        if kind is int and not -_INT_LIMIT < value < _INT_LIMIT:
            if abs(value) < 10 ** 4000:
                self.problem(msg("a number of {digits:,} digits is too large", digits=len(str(abs(value)))), path)
            else:
                self.problem(msg("a number of thousands of digits is too large"), path)
            return None
        if kind is int or kind is float or kind is bool or value is None:
            return value
        return self._scalar(value, path)

    def _text(self, text: str, path: tuple[PathItem, ...]) -> None:
        half = reading.half_character(text)
        if half is not None:
            self.problem(msg("holds {char}, a lone surrogate, which is not text", char=quote(half)), path)

    def _scalar(self, value: Any, path: tuple[PathItem, ...]) -> Any:
        """Numbers, dates, enum members and ids as database drivers and ORMs return them."""
        if isinstance(value, enum.Enum):
            return self.copy(value.value, path)
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, str):
            text = str(value)
            if not text.isascii():
                self._text(text, path)
            return text
        if isinstance(value, numbers.Integral):
            return self._item(int(value), path)
        if isinstance(value, decimal.Decimal):
            if not value.is_finite():
                self.problem(msg("{value} is not a finite number", value=quote(str(value))), path)
                return None
            if value.adjusted() >= 18:
                self.problem(msg("{value} is too large a number", value=quote(str(value))), path)
                return None
            if value.adjusted() < -30:
                return 0.0 if value.is_zero() or abs(value) < decimal.Decimal("1e-300") else float(value)
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, (fractions.Fraction, numbers.Real)):
            number = float(value)
            if not math.isfinite(number):
                self.problem(msg("{value} is not a finite number", value=quote(value)), path)
            return number
        if isinstance(value, datetime.datetime):
            self.problem(msg("{value} is a date and time; give the date only, as 2026-11-01",
                             value=quote(value.isoformat())), path)
            return None
        if isinstance(value, datetime.date):
            return value.isoformat()
        item = getattr(value, "item", None)            # a NumPy scalar: numpy.bool_, numpy.int64, …
        if callable(item) and type(value).__module__ == "numpy":
            plain = item()
            if type(plain) in (bool, int, float, str):
                return self.copy(plain, path)
        self.problem(msg("a value of type {type} is not text, a number, true or false, a list or a mapping",
                         type=quote(type(value).__name__)), path)
        return None


# --------------------------------------------------------------------------- semantic checks

def _is_number(x: Any) -> TypeGuard[float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and abs(x) <= _NUMBER_LIMIT


def _real_date(text: Any) -> bool:
    """A YYYY-MM-DD date in the calendar (and nothing else: no time, no trailing newline)."""
    if type(text) is not str or len(text) != 10:
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def semantic_problems(data: Any, codes: Mapping[str, frozenset[str]], file: str,
                      vocabulary: Vocabulary | None = None) -> list[Problem]:
    """The checks of the profile contract beyond the schema. Tolerant of ill-typed input. With the ``vocabulary``,
    a code that is not known is answered with the close one by its name, or the codes there are."""
    problems: list[Problem] = []

    def hint(problem: Message, code: str, vocab: str) -> Message:
        if len(problems) >= MAX_PROBLEMS:
            return problem
        if vocabulary is None:
            return hinted(problem, code, codes[vocab])
        return code_hint(problem, code, vocabulary_names(vocabulary, vocab))

    if not isinstance(data, dict):
        return problems
    center = data.get("center")
    if isinstance(center, dict):
        date = center.get("assessed_on")
        if isinstance(date, str) and not _real_date(date):
            problems.append(Problem(msg("{value} is not a date in the calendar (write it as 2026-11-01)", value=show(date)),
                                    ("center", "assessed_on"), file))
    space = data.get("space")
    if isinstance(space, dict):
        zones = space.get("zones")
        total = space.get("total_area_m2")
        if isinstance(zones, list):
            areas: list[float] = []
            known = codes["zone_kinds"]
            for i, zone in enumerate(zones):
                if not isinstance(zone, dict):
                    continue
                area = zone.get("area_m2")
                if _is_number(area):
                    areas.append(area)
                kind = zone.get("kind")
                if isinstance(kind, str) and kind not in known:
                    problem = msg("{value} is not a zone type", value=quote(kind, 60))
                    problems.append(Problem(hint(problem, kind, "zone_kinds"), ("space", "zones", i, "kind"), file))
            zone_sum = math.fsum(areas)
            if _is_number(total) and zone_sum > total + AREA_TOLERANCE_M2 + 1e-9:
                problems.append(Problem(
                    msg("the zones' areas add up to {sum} m², more than the total floor area ({total} m²)",
                        sum=format(zone_sum, ".1f"), total=total),
                    ("space", "zones"), file))
    staff = data.get("staff")
    if isinstance(staff, dict):
        workers = staff.get("community_workers")
        if _is_number(workers):
            for key in ("certified_social_workers", "college_educated"):
                value = staff.get(key)
                if _is_number(value) and value > workers:
                    problems.append(Problem(
                        msg("{value} is more than the {workers} full-time community workers: {field} counts some of "
                            "them", value=value, workers=workers, field=named(("staff", key))), ("staff", key), file))
    problems += audit_problems(data, file)
    for keys, vocab in _CODE_LISTS:
        node: Any = data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, list):
            continue
        known = codes[vocab]
        seen: dict[str, int] = {}
        for i, code in enumerate(node):
            if not isinstance(code, str):
                continue
            path = keys + (i,)
            if code in seen:
                problems.append(Problem(msg("{value} is listed twice (first at [{index}])", value=quote(code, 60),
                                            index=seen[code]), path, file))
            else:
                seen[code] = i
            if code not in known:
                problem = msg("{value} is not a known {vocabulary} code", value=quote(code, 60),
                              vocabulary=VOCABULARY_NAMES[vocab])
                problems.append(Problem(hint(problem, code, vocab), path, file))
    return problems


_CONTROL = frozenset(chr(c) for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)))


def file_problem(name: str) -> Message | None:
    """What is wrong with an evidence file's path as written, or None: it must name a file inside the
    profile's folder, so never absolute, never ``..``, never a control character."""
    if any(c in _CONTROL for c in name):
        return msg("{value} holds a control character; name the file with letters, digits and punctuation",
                   value=quote(name.translate({ord(c): "?" for c in _CONTROL}), 80))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":" and name[0].isascii() and name[0].isalpha()):
        return msg("{value} is an absolute path; give the file's path relative to the profile's folder "
                   "(as photos/hall.jpg)", value=quote(name, 80))
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return msg("{value} goes up out of the profile's folder ({dots}); evidence files are kept in the profile's "
                   "folder or below it", value=quote(name, 80), dots=quote(".."))
    if not parts[-1] or parts[-1] == ".":
        return msg("{value} names a folder, not a file", value=quote(name, 80))
    return None


def audit_problems(data: Mapping[str, Any], file: str) -> list[Problem]:
    """The checks of the ``audit`` block and of ``evidence`` beyond the schema (tolerant of ill-typed input)."""
    problems: list[Problem] = []
    audit = data.get("audit")
    if isinstance(audit, dict):
        inspectors = audit.get("inspectors")
        if isinstance(inspectors, list):
            for i, name in enumerate(inspectors):
                if isinstance(name, str) and name and not name.strip():
                    problems.append(Problem(msg("is blank; write the inspector's name"), ("audit", "inspectors", i), file))
        for key in ("responsible", "round"):
            value = audit.get(key)
            if isinstance(value, str) and value and not value.strip():
                problems.append(Problem(msg("is blank; write the value, or leave the key out"), ("audit", key), file))
    evidence = data.get("evidence")
    if not isinstance(evidence, dict):
        return problems
    count = 0
    for clause, items in evidence.items():
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            count += 1
            name = item.get("file")
            if isinstance(name, str) and name:
                wrong = file_problem(name)
                if wrong is not None:
                    problems.append(Problem(wrong, ("evidence", clause, i, "file"), file))
            taken = item.get("taken_on")
            if isinstance(taken, str) and not _real_date(taken):
                problems.append(Problem(msg("{value} is not a date in the calendar (write it as 2026-11-01)",
                                            value=show(taken)), ("evidence", clause, i, "taken_on"), file))
    if count > MAX_EVIDENCE_ITEMS:
        problems.append(Problem(msg("{count:,} evidence items; a profile may have at most {limit}",
                                    count=count, limit=MAX_EVIDENCE_ITEMS), ("evidence",), file))
    return problems


def clause_problems(data: Mapping[str, Any], ruleset: RuleSet, file: str) -> list[Problem]:
    """An evidence key that is not a clause of ``ruleset``, each at ``$.evidence['9.9']`` with the nearest clause."""
    evidence = data.get("evidence")
    if not isinstance(evidence, Mapping):
        return []
    ids = [c.clause for c in ruleset.clauses]
    known = set(ids)
    return [Problem(msg("{value} is not a clause of the rule set {ruleset}; the nearest clause is {nearest}",
                        value=quote(key, 40), ruleset=quote(ruleset.id), nearest=quote(nearest_clause(key, ids))),
                    ("evidence", key), file)
            for key in evidence if key not in known][:MAX_PROBLEMS]


def nearest_clause(word: str, ids: list[str]) -> str:
    """The clause id closest to ``word``: a close spelling (5.55 → 5.5), else the same section's nearest number
    (4.9 → 4.7), else the nearest section's nearest clause (9.9 → 8.7)."""
    from .wording import suggestion

    near = suggestion(word, ids)
    if near is not None:
        return near

    def numbers(text: str) -> tuple[float, ...]:
        out = []
        for part in text.replace("．", ".").split("."):
            digits = "".join(c for c in part if c.isdigit())
            out.append(float(digits) if digits else math.inf)
        return tuple(out) or (math.inf,)

    target = numbers(word)

    def distance(clause: str) -> tuple[float, ...]:
        have = numbers(clause)
        return tuple(abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.inf
                     for a, b in zip(have + (0.0,) * 4, target + (0.0,) * 4))

    return min(ids, key=lambda c: (distance(c), ids.index(c)))


def _passes_semantics(facts: Facts, codes: Mapping[str, frozenset[str]]) -> bool:
    """The semantic checks for the common, valid case, on facts already gathered."""
    data = facts.data
    if "audit" in data or "evidence" in data:      # rare: the detailed checks decide
        return False
    if None in facts.class_area:
        return False
    if facts.zones_area > facts.total_area + AREA_TOLERANCE_M2 + 1e-9:
        return False
    date = data["center"].get("assessed_on")
    if date is not None and not _real_date(date):
        return False
    staff = data.get("staff")
    if staff is not None:
        workers = staff.get("community_workers")
        if workers is not None:
            for key in ("certified_social_workers", "college_educated"):
                value = staff.get(key)
                if value is not None and value > workers:
                    return False
    lists = facts.lists
    for name, keys, vocab in _LIST_NAMES:
        present = lists[name]
        if present is not None:
            raw = data[keys[0]] if len(keys) == 1 else data[keys[0]][keys[1]]
            if len(present) != len(raw) or not present <= codes[vocab]:
                return False
    return True


def _schema_problem(error: Any, file: str) -> Problem:
    path = tuple(error.absolute_path)
    if error.validator == "oneOf" and len(path) == 3 and path[0] == "evidence" and isinstance(error.instance, Mapping):
        both = "file" in error.instance and "sha256" in error.instance
        return Problem(msg("an evidence item names a file or a SHA-256, not both") if both else
                       msg("an evidence item names its file ({file}: photos/hall.jpg) or its SHA-256 ({sha256})",
                           file=quote("file"), sha256=quote("sha256")), path, file)
    if error.validator == "pattern" and path and path[-1] == "taken_on":
        return Problem(msg("{value} is not a date written as 2026-11-01", value=show(error.instance, 60)), path, file)
    if error.validator == "pattern" and path and path[-1] == "sha256":
        return Problem(msg("{value} is not a SHA-256 (64 digits and letters a to f)", value=show(error.instance, 70)),
                       path, file)
    if error.validator == "pattern" and path and path[-1] == "assessed_on":
        return Problem(msg("{value} is not a date written as 2026-11-01", value=show(error.instance, 60)), path, file)
    value = error.instance
    if error.validator == "maximum" and error.validator_value == 1 and error.schema.get("minimum") == 0 \
            and _is_number(value) and 1 < value <= 100:
        # A share written as a percentage without its sign (95 for 95%): say how to write it.
        share = format(decimal.Decimal(repr(value)) / 100, "f")
        percent = quote(value) + "%"
        return Problem(msg("the value {value} is out of range; it must be at most 1 (a share: write {share}, or {percent} "
                           "in a workbook)", value=show(value), share=share, percent=percent), path, file)
    if error.validator == "const" and path == ("schema_version",):
        return Problem(msg("{value} is not a supported profile format version; expected {expected}",
                           value=show(error.instance, 60), expected=SCHEMA_VERSION), path, file)
    return Problem(describe(error), path, file)


def clean_facts(data: Any, vocabulary: Vocabulary) -> Facts | None:
    """The facts of a document that is valid and has no key the contract does not know (so no warning either),
    found with one pass of the compiled validator; None for any other document, which :func:`check` and
    :func:`unknown_keys` then examine."""
    if not closed_profile_validator().is_valid(data):
        return None
    facts = Facts(data, vocabulary.zone_class)
    return facts if _passes_semantics(facts, vocabulary.codes) else None


def check(data: Any, vocabulary: Vocabulary, file: str = "<dict>") -> tuple[list[Problem], int, Facts | None]:
    """Validate plain data; returns (problems, how many, facts for evaluation when valid).

    The count is a lower bound when it reaches :data:`~compliance.contract.SCAN_LIMIT`."""
    validator = profile_validator()
    codes = vocabulary.codes
    if validator.is_valid(data):
        facts = Facts(data, vocabulary.zone_class)
        if _passes_semantics(facts, codes):
            return [], 0, facts
        problems = semantic_problems(data, codes, file, vocabulary)
        if not problems:        # the two semantic checks disagree: the detailed one decides
            return [], 0, facts
        return problems, len(problems), None
    # Lists far beyond the schema's limits are explained from their first items only: the schema's
    # maxItems already says what is wrong, and walking 40,000 items would cost seconds.
    trimmed, cut = _trim(data)
    errors = validator.errors(trimmed)
    problems = [_schema_problem(e, file) for e in errors]
    problems.sort(key=lambda p: [str(x) for x in p.path])
    located = {p.path for p in problems}
    problems += [p for p in semantic_problems(trimmed, codes, file, vocabulary) if p.path not in located]
    if cut:
        return problems, max(len(problems), SCAN_LIMIT), None
    if not problems:
        # The compiled validator refused what jsonschema accepts (their regular expressions differ at
        # the edges): refuse, and say so, rather than let an unchecked document through.
        problems = [Problem(msg("does not match the published profile schema"), (), file)]
    return problems, len(problems), None


_LONGEST = 1001          # one more than any maxItems of the profile schema


def _trim(value: Any, depth: int = 0) -> tuple[Any, bool]:
    """``value`` with every list cut to its first _LONGEST items, and whether anything was cut."""
    if depth > MAX_DEPTH:
        return value, False
    if isinstance(value, dict):
        cut = False
        out = {}
        for key, item in value.items():
            out[key], sub = _trim(item, depth + 1)
            cut = cut or sub
        return (out, True) if cut else (value, False)
    if isinstance(value, list):
        items = [_trim(item, depth + 1) for item in value[:_LONGEST]]
        cut = len(value) > _LONGEST or any(sub for _, sub in items)
        return ([item for item, _ in items], True) if cut else (value, False)
    return value, False


def _vocabulary(rules: Any, vocabulary: Vocabulary | None) -> Vocabulary:
    if vocabulary is not None:
        if not isinstance(vocabulary, Vocabulary):
            raise TypeError(f"vocabulary must be a Vocabulary, not a {type(vocabulary).__name__}")
        return vocabulary
    if rules is None:
        return default_vocabulary()
    if isinstance(rules, RuleSet):
        return rules.vocabulary
    from .compile import load_ruleset

    return load_ruleset(rules).vocabulary


def _ruleset(rules: Any) -> RuleSet | None:
    """The rule set named by ``rules`` (already compiled by :func:`_vocabulary`; cached), or None."""
    if rules is None:
        return None
    if isinstance(rules, RuleSet):
        return rules
    from .compile import load_ruleset

    return load_ruleset(rules)


@functools.lru_cache(maxsize=None)
def _known_keys() -> Mapping[str, Any]:
    """The keys the profile contract names, as a tree: key → the keys below it (a list's items' keys for a list
    of mappings), or None for a value."""
    def tree(node: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, sub in node.get("properties", {}).items():
            items = sub.get("items") if sub.get("type") == "array" else None
            if sub.get("type") == "object" and "properties" in sub:
                out[key] = tree(sub)
            elif isinstance(items, Mapping) and items.get("type") == "object":
                out[key] = tree(items)
            else:
                out[key] = None
        return out

    return FrozenDict(tree(profile_schema()))


def unknown_keys(data: Any, file: str) -> list[Problem]:
    """A warning for every key the contract does not know, with the nearest known key: additions are allowed, but
    a misspelt ``staf:`` leaves its clauses not evidenced without a word otherwise."""
    found: list[Problem] = []

    def walk(node: Any, known: Mapping[str, Any], path: tuple[PathItem, ...]) -> None:
        # type() first: a parsed document is plain dicts and lists, and the ABC check costs ten times as much
        if type(node) is list or (type(node) is not dict and isinstance(node, list)):
            for i, item in enumerate(node):
                if type(item) is dict or isinstance(item, (Mapping, list)):
                    walk(item, known, path + (i,))
            return
        if type(node) is not dict and not isinstance(node, Mapping):
            return
        for key, value in node.items():
            if key in known:
                below = known[key]
                if below is not None and (type(value) is dict or type(value) is list
                                          or isinstance(value, (Mapping, list))):
                    walk(value, below, path + (key,))
            elif len(found) < MAX_PROBLEMS:
                found.append(Problem(hinted(msg("unknown key {key}", key=quote(key, 60)), key, known),
                                     path + (key,), file, severity=WARNING))

    walk(data, _known_keys(), ())
    return found


def _strict(warnings: list[Problem]) -> list[Problem]:
    return [Problem(w.text, w.path, w.file, w.line, w.clause) for w in warnings]


def load_profile(
    source: str | os.PathLike[str] | Mapping[str, Any] | Profile,
    *,
    rules: RuleSource | None = None,
    vocabulary: Vocabulary | None = None,
    strict: bool = False,
) -> Profile:
    """Read and validate one centre profile from a path (YAML or JSON, ``-`` for standard input) or a mapping.

    Codes are checked against ``vocabulary``, or the vocabulary of ``rules`` (a
    RuleSet, a bundled name or a path), or the national vocabulary. A mapping is
    copied, so changing it afterwards changes nothing here. Raises
    :class:`~compliance.ProfileError` with the problems found, each with its
    JSON path and, for files, its line.

    A key the contract does not know is a warning (``Profile.warnings``), not a problem: other systems may
    add their own keys. With ``strict=True`` it is a problem, and the profile is refused.
    """
    if isinstance(source, Profile):
        return source
    ruleset = _ruleset(rules) if vocabulary is None else None
    vocab = _vocabulary(ruleset, vocabulary)
    raw: bytes | None = None
    if isinstance(source, Mapping):
        name = "<dict>"
        document: Any = source
    elif isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        document, raw = reading.load(source, ProfileError)
    else:
        raise TypeError(f"load_profile takes a path or a mapping, not a {type(source).__name__}")
    if not isinstance(document, Mapping):
        what = msg("empty") if document is None else msg("{kind}, not a mapping", kind=kind_of(document))
        raise ProfileError(msg("the document is {what}; a profile is a mapping with the keys center, population and "
                               "space", what=what), file=name, problems=[Problem(msg("not a mapping"), (), name, line=1)])
    data = _plain_copy(document)
    problems: list[Problem] = []
    facts = None if data is None else clean_facts(data, vocab)
    if facts is not None and not (ruleset is not None and isinstance(data.get("evidence"), Mapping)):
        digest = hashlib.sha256(raw).hexdigest() if raw is not None else None
        return make_profile(data, name, digest, facts, vocab, ())
    if data is not None:
        problems, total, facts = check(data, vocab, name)
    if data is None or problems:
        # The slow, careful way: every value checked, every problem with its path.
        copier = _Copier(name)
        careful = copier.copy(document, ())
        if copier.problems:
            problems, total = copier.problems, len(copier.problems)
        elif data is None:
            problems, total, facts = check(careful, vocab, name)
        data = careful
    if ruleset is not None and isinstance(data, Mapping) and isinstance(data.get("evidence"), Mapping):
        unknown = clause_problems(data, ruleset, name)
        if unknown:
            total = (total if problems else 0) + len(unknown)
            problems = problems + unknown
    warnings = unknown_keys(data, name) if not problems else []
    if strict and warnings:
        problems, total, warnings = _strict(warnings), len(warnings), []
    if problems:
        complete = total < SCAN_LIMIT
        raise ProfileError(problems_message(total, msg("the profile"), complete), file=name, total=total, complete=complete,
                           problems=reading.locate(problems[:100], raw))
    digest = hashlib.sha256(raw).hexdigest() if raw is not None else None
    return make_profile(data, name, digest, facts, vocab, tuple(reading.locate(warnings, raw)))


def load_parsed(document: dict[str, Any], name: str, raw_sha256: str | None, vocabulary: Vocabulary,
                strict: bool = False) -> Profile:
    """A document this library has just parsed from JSON (plain values that nobody else holds): validated
    like :func:`load_profile`, without its defensive copy. A round reads hundreds of thousands."""
    facts = clean_facts(document, vocabulary)
    if facts is not None:
        return make_profile(document, name, raw_sha256, facts, vocabulary, ())
    problems, _, facts = check(document, vocabulary, name)
    warnings = unknown_keys(document, name) if not problems else []
    if problems or (strict and warnings):
        load_profile(document, vocabulary=vocabulary, strict=strict)   # raises the careful error, every problem located
    return make_profile(document, name, raw_sha256, facts, vocabulary, tuple(warnings))


def revalidate(profile: Profile, vocabulary: Vocabulary, ruleset: str = "this rule set") -> Profile:
    """The same profile checked against another rule set's vocabulary (a district may add codes)."""
    problems, total, facts = check(plain_document(profile), vocabulary, profile.source)
    if problems:
        raise ProfileError(problems_message(total, msg("the profile under the rule set {name}", name=quote(ruleset))),
                           file=profile.source,
                           total=total, problems=problems)
    checked = make_profile(plain_document(profile), profile.source, profile.raw_sha256, facts, vocabulary,
                           profile.warnings)
    if "_evidence" in profile.__dict__:       # evidence files already read (compliance.read_evidence) stay read
        checked.__dict__["_evidence"] = profile.__dict__["_evidence"]
    return checked
