"""The published schemas: the centre profile and the rule-set layer.

The profile schema is a file (``schemas/profile.schema.json``); other systems
validate against it. The rule-set meta-schema is the file
``schemas/ruleset.schema.json`` with each check type's parameters filled in
from its record in :mod:`compliance.checks`, so a new check type brings its own
schema. ``compliance schema`` and ``compliance schema ruleset`` print them.
"""
from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any, Mapping

from .checks import CHECK_TYPES
from .model import FrozenDict
from .wording import nearest

_SCHEMAS = Path(__file__).resolve().parent / "schemas"


def _read(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((_SCHEMAS / name).read_text(encoding="utf-8"))
    return data


@functools.lru_cache(maxsize=None)
def _profile_schema() -> dict[str, Any]:
    return _read("profile.schema.json")


def profile_schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of a centre profile (a fresh copy)."""
    return copy.deepcopy(_profile_schema())


def result_schema() -> dict[str, Any]:
    """The published JSON Schema of the result document (``audit --format json``; a fresh copy)."""
    return _read("result.schema.json")


def check_schema() -> dict[str, Any]:
    """The ``check`` part of the rule-set meta-schema, from the check-type records."""
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": sorted(CHECK_TYPES)}},
        "allOf": [
            {"if": {"properties": {"type": {"const": name}}, "required": ["type"]}, "then": record.schema()}
            for name, record in sorted(CHECK_TYPES.items())
        ],
    }


@functools.lru_cache(maxsize=None)
def _ruleset_schema() -> dict[str, Any]:
    schema = _read("ruleset.schema.json")
    schema["$defs"]["check"] = check_schema()
    return schema


def ruleset_schema() -> dict[str, Any]:
    """The JSON Schema of one rule-set layer, check types included (a fresh copy)."""
    return copy.deepcopy(_ruleset_schema())


def field_schema(dotted: str) -> Mapping[str, Any] | None:
    """The schema of one dotted profile field (``center.setting``), or None when there is no such field."""
    node: Mapping[str, Any] | None = _profile_schema()
    for key in dotted.split("."):
        node = node.get("properties", {}).get(key) if node is not None else None
    return node


@functools.lru_cache(maxsize=None)
def profile_fields() -> Mapping[str, str]:
    """Dotted profile field → its JSON type (``number``, ``integer``, ``boolean``, ``array``…)."""
    out: dict[str, str] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            kind = sub.get("type", "enum" if "enum" in sub or "const" in sub else "any")
            out[path] = kind
            if kind == "object":
                walk(sub, path + ".")

    walk(_profile_schema(), "")
    return FrozenDict(out)


# --------------------------------------------------------------------------- validation and messages

SCAN_LIMIT = 1000
"""Schema errors examined per document: enough to list the first 100 problems, cheap on a hostile file."""


class Validator:
    """The compiled validator for valid documents; jsonschema, imported only then, to explain invalid ones."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        import jsonschema_rs

        self.schema = schema
        self.fast = jsonschema_rs.validator_for(dict(schema))
        self._precise: Any = None

    def is_valid(self, instance: Any) -> bool:
        try:
            return bool(self.fast.is_valid(instance))
        except (ValueError, TypeError, OverflowError):
            return False     # a value the compiled validator cannot take: let jsonschema explain

    def errors(self, instance: Any, limit: int = SCAN_LIMIT) -> list[Any]:
        """The first ``limit`` errors, in document order (lazily found: a huge bad list costs little)."""
        import itertools

        if self._precise is None:
            import jsonschema

            self._precise = jsonschema.Draft202012Validator(self.schema)
        return list(itertools.islice(self._precise.iter_errors(instance), limit))


@functools.lru_cache(maxsize=None)
def profile_validator() -> Validator:
    return Validator(_profile_schema())


@functools.lru_cache(maxsize=None)
def ruleset_validator() -> Validator:
    return Validator(_ruleset_schema())


def show(value: Any, limit: int = 40) -> str:
    """A value as a message quotes it, in JSON's words (null, true, a list), cut short."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kind_of(value: Any) -> str:
    """What a value is, in JSON's words: 'a number', 'text', 'a list'…"""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


_BOOLEAN_WORDS = {"yes", "no", "y", "n", "on", "off", "true", "false", "是", "否", "有", "无", "对", "错", "1", "0"}


def describe(error: Any) -> str:
    """A JSON Schema error in words: the offending value (cut short), then the expectation."""
    v = error.validator
    value = error.instance
    expected = error.validator_value
    if v == "required":
        named = re.match(r"^(.*) is a required property$", str(error.message))
        return f"required key {named.group(1)} is missing" if named else "a required key is missing"
    if v == "type":
        kinds = " or ".join(expected) if isinstance(expected, list) else str(expected)
        if kinds == "boolean":
            hint = "; write true or false" if isinstance(value, (str, int)) else ""
            return f"{show(value)} is not a boolean{hint}"
        return f"{show(value)} is not of type {kinds}"
    if v == "enum":
        options = ", ".join(map(repr, expected))
        return f"{show(value)} is not one of {options}{nearest(value, expected)}"
    if v == "const":
        return f"{show(value)} is not {expected!r}"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": "at least", "maximum": "at most",
                 "exclusiveMinimum": "more than", "exclusiveMaximum": "less than"}[v]
        bound = int(expected) if isinstance(expected, float) and expected.is_integer() else expected
        return f"{show(value)} is out of range; it must be {words} {bound}"
    if v == "additionalProperties" and isinstance(value, Mapping):
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in value if k not in allowed]
        return "; ".join(f"unknown key {show(k)}{nearest(k, allowed)}" for k in extra[:5]) or "unknown key"
    if v in ("minLength", "maxLength"):
        words = "at least" if v == "minLength" else "at most"
        return f"{show(value)} is {len(value):,} characters long; it must be {words} {expected}"
    if v == "minItems":
        return f"a list of {len(value):,} items; it must have at least {expected}"
    if v == "maxItems":
        return f"a list of more than {expected:,} items; it must have at most {expected:,}"
    if v in ("minProperties", "maxProperties"):
        words = "at least" if v == "minProperties" else "at most"
        return f"a mapping of {len(value):,} keys; it must have {words} {expected}"
    if v == "uniqueItems":
        return "lists a value twice"
    if v == "pattern":
        return f"{show(value)} does not have the expected form ({expected})"
    if v == "propertyNames":
        return f"a key does not have the expected form: {error.message[:120]}"
    if v in ("oneOf", "anyOf"):
        return f"{show(value)} matches none of the allowed forms"
    message = str(error.message)
    return message if len(message) <= 160 else message[:157] + "..."
