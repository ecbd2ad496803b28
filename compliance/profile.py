"""Centre profiles: read, validate against the published schema, check semantics.

Validation runs in two gears. Valid documents — the common case in a bureau's
batch — go through the compiled ``jsonschema_rs`` validator and the semantic
checks, a few microseconds each. A document the compiled validator rejects
is validated again with ``jsonschema`` for its precise error paths, so the
user sees every problem with its ``$.json.path`` at once.
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jsonschema_rs

from . import reading
from .checks import Facts
from .errors import PathItem, Problem, ProfileError
from .ruleset import RuleSet, load_ruleset

SCHEMA_VERSION = 1
AREA_TOLERANCE_M2 = 0.5
_CODE_LISTS = (
    (("signage",), "signage"),
    (("amenities",), "amenities"),
    (("services", "feedback_loop"), "feedback_stages"),
)


@functools.lru_cache(maxsize=None)
def profile_schema() -> dict:
    """The published JSON Schema (draft 2020-12) of a centre profile."""
    path = Path(__file__).parent / "schemas" / "profile.schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _fast_validator() -> Any:
    return jsonschema_rs.validator_for(profile_schema())


@functools.lru_cache(maxsize=None)
def _precise_validator() -> Any:
    import jsonschema   # only invalid documents need its precise error paths

    return jsonschema.Draft202012Validator(profile_schema())


@dataclass(frozen=True)
class Profile:
    """A validated centre profile. ``data`` is the document as read; treat it as read-only."""

    data: Mapping[str, Any]
    source: str
    raw_sha256: str | None = None
    facts: Facts | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def sha256(self) -> str:
        """SHA-256 of the file's bytes, or of the canonical JSON of a dict given in memory."""
        if self.raw_sha256 is not None:
            return self.raw_sha256
        canonical = json.dumps(self.data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def id(self) -> str:
        return self.data["center"]["id"]

    @property
    def name(self) -> str:
        return self.data["center"]["name"]


def _schema_problem(error: Any, file: str) -> Problem:
    path = tuple(error.absolute_path)
    v = error.validator
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return Problem(f"required key {missing!r} is missing", path, file)
    if v == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Problem(f"{_show(error.instance)} is not of type {expected}", path, file)
    if v == "enum":
        options = error.validator_value
        return Problem(f"{_show(error.instance)} is not one of {', '.join(map(repr, options))}"
                       f"{_suggest(error.instance, options)}", path, file)
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": "at least", "maximum": "at most",
                 "exclusiveMinimum": "more than", "exclusiveMaximum": "less than"}[v]
        return Problem(f"{_show(error.instance)} is out of range; it must be {words} {error.validator_value}", path, file)
    if v == "pattern" and path and path[-1] == "assessed_on":
        return Problem(f"{_show(error.instance)} is not an ISO date (YYYY-MM-DD)", path, file)
    if v == "const" and path == ("schema_version",):
        return Problem(f"{_show(error.instance)} is not a supported schema_version; expected {SCHEMA_VERSION}", path, file)
    return Problem(error.message if len(error.message) < 200 else error.message[:197] + "...", path, file)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(value: Any, options: Any) -> str:
    if not isinstance(value, str):
        return ""
    match = difflib.get_close_matches(value, [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def semantic_problems(data: Any, codes: Mapping[str, frozenset[str]], file: str) -> list[Problem]:
    """The checks of ``profile.md`` beyond the schema. Tolerant of ill-typed input."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return problems
    space = data.get("space")
    if isinstance(space, dict):
        zones = space.get("zones")
        total = space.get("total_area_m2")
        if isinstance(zones, list):
            zone_sum = 0.0
            known = codes["zone_kinds"]
            for i, zone in enumerate(zones):
                if not isinstance(zone, dict):
                    continue
                area = zone.get("area_m2")
                if _is_number(area) and math.isfinite(area):
                    zone_sum += area
                kind = zone.get("kind")
                if isinstance(kind, str) and kind not in known:
                    problems.append(Problem(f"{kind!r} is not a zone kind{_suggest(kind, known)}",
                                            ("space", "zones", i, "kind"), file))
            if _is_number(total) and math.isfinite(total) and zone_sum > total + AREA_TOLERANCE_M2:
                problems.append(Problem(
                    f"zone areas add up to {zone_sum:.1f} m², more than total_area_m2 ({total} m²)",
                    ("space", "zones"), file))
    staff = data.get("staff")
    if isinstance(staff, dict):
        workers = staff.get("community_workers")
        if _is_number(workers):
            for key, words in (("certified_social_workers", "certified workers"), ("college_educated", "college-educated workers")):
                value = staff.get(key)
                if _is_number(value) and value > workers:
                    problems.append(Problem(
                        f"{value} {words} is more than the {workers} community_workers", ("staff", key), file))
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
                problems.append(Problem(f"{code!r} is listed twice (first at index {seen[code]})", path, file))
            else:
                seen[code] = i
            if code not in known:
                problems.append(Problem(f"{code!r} is not a known {vocab.replace('_', ' ')} code{_suggest(code, known)}", path, file))
    return problems


def _passes_semantics(facts: Facts, codes: Mapping[str, frozenset[str]]) -> bool:
    """The semantic checks for the common, valid case, on facts already gathered."""
    data = facts.data
    if None in facts.class_area or facts.zone_sum > facts.total_area + AREA_TOLERANCE_M2:
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
    for keys, vocab in _CODE_LISTS:
        present = lists[".".join(keys)]
        if present is not None:
            raw = data[keys[0]] if len(keys) == 1 else data[keys[0]][keys[1]]
            if len(present) != len(raw) or not present <= codes[vocab]:
                return False
    return True


def check(data: Any, vocabulary: Any, file: str = "<dict>") -> tuple[list[Problem], Facts | None]:
    """Validate a document; returns its problems, or no problems and its evaluation facts."""
    try:
        fast_ok = _fast_validator().is_valid(data)
    except (ValueError, TypeError, OverflowError):
        fast_ok = False   # types the compiled validator cannot take: let jsonschema explain
    codes = vocabulary.codes
    if fast_ok:
        facts = Facts(data, vocabulary.zone_class)
        if _passes_semantics(facts, codes):
            return [], facts
        return semantic_problems(data, codes, file), None
    try:
        schema_errors = list(_precise_validator().iter_errors(data))
    except RecursionError:
        return [Problem("the document is nested too deeply", (), file)], None
    problems = [_schema_problem(e, file) for e in schema_errors]
    problems += _non_finite(data, (), file)
    problems.sort(key=lambda p: [str(x) for x in p.path])
    return problems + semantic_problems(data, codes, file), None


def _non_finite(node: Any, path: tuple[PathItem, ...], file: str, depth: int = 0) -> list[Problem]:
    """NaN and infinities, which range keywords cannot catch (NaN compares false to everything)."""
    if isinstance(node, float):
        return [] if math.isfinite(node) else [Problem(f"{node!r} is not a finite number", path, file)]
    if depth > 64:
        return []
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _non_finite(v, path + (str(k),), file, depth + 1)]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _non_finite(v, path + (i,), file, depth + 1)]
    return []


def load_profile(
    source: "str | os.PathLike[str] | Mapping[str, Any] | Profile",
    *,
    rules: Any = None,
) -> Profile:
    """Read and validate one centre profile from a path (YAML or JSON) or a dict.

    Codes are checked against the vocabularies of ``rules`` (a RuleSet or a
    name; the national baseline by default). Raises :class:`ProfileError`
    carrying every problem with its JSON path and, where known, its line.
    """
    if isinstance(source, Profile):
        return source
    vocabulary = (rules if isinstance(rules, RuleSet) else load_ruleset(rules or "national")).vocabulary
    raw: bytes | None = None
    if isinstance(source, dict):
        data: Any = source
        name = "<dict>"
    elif isinstance(source, Mapping):
        data = dict(source)
        name = "<dict>"
    elif isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        data, raw = reading.load(source, ProfileError)
    else:
        raise ProfileError(f"cannot read a profile from a {type(source).__name__}; pass a path or a dict")
    if data is None or not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}, not a mapping"
        raise ProfileError(f"the document is {what}; a profile is a mapping with center, population and space",
                           file=name, problems=[Problem("not a mapping", (), name, line=1)])
    problems, facts = check(data, vocabulary, name)
    if problems:
        raise ProfileError(f"{len(problems)} problem(s) in profile", file=name,
                           problems=reading.locate(problems, raw))
    digest = hashlib.sha256(raw).hexdigest() if raw is not None else None
    return _profile(data, name, digest, facts)


def _profile(data: Mapping[str, Any], source: str, raw_sha256: str | None, facts: Facts | None) -> Profile:
    """Profile(...) without the frozen ``__init__``: the batch hot path builds one per centre."""
    obj = object.__new__(Profile)
    obj.__dict__.update(data=data, source=source, raw_sha256=raw_sha256, facts=facts)
    return obj
