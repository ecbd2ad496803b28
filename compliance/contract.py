"""The published schemas: the centre profile and the rule-set layer.

The profile schema is a file (``schemas/profile.schema.json``); other systems
validate against it. The rule-set meta-schema is the file
``schemas/ruleset.schema.json`` with each check type's parameters filled in
from its record in :mod:`compliance.checks`, so a new check type brings its own
schema. ``compliance schema`` and ``compliance schema ruleset`` print them.
"""
from __future__ import annotations

import ast
import copy
import functools
import json
import re
from pathlib import Path
from typing import Any, Mapping

from .checks import CHECK_TYPES
from .fields import CHOICES, dotted, named
from .i18n import Joined, Message, msg, quote
from .model import FrozenDict
from .wording import code_hint, hinted

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


def reconciliation_schema() -> dict[str, Any]:
    """The published JSON Schema of the reconciliation document (``reconcile --format json``; a fresh copy)."""
    return _read("reconciliation.schema.json")


def waivers_schema() -> dict[str, Any]:
    """The published JSON Schema of a waiver file (``--waivers``; a fresh copy)."""
    return _read("waivers.schema.json")


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
def closed_profile_validator() -> Validator:
    """The profile schema with every object the contract lists keys for closed to other keys: a document it
    accepts is valid and has no key that :func:`compliance.profile.unknown_keys` would warn about, in one pass
    of the compiled validator (the common case; anything else is checked and explained the careful way)."""
    import copy

    def close(node: dict[str, Any]) -> None:
        for sub in node.get("properties", {}).values():
            items = sub.get("items") if sub.get("type") == "array" else None
            if sub.get("type") == "object" and "properties" in sub:
                sub["additionalProperties"] = False
                close(sub)
            elif isinstance(items, dict) and items.get("type") == "object":
                items["additionalProperties"] = False
                close(items)

    schema = copy.deepcopy(dict(_profile_schema()))
    schema["additionalProperties"] = False
    close(schema)
    return Validator(schema)


@functools.lru_cache(maxsize=None)
def ruleset_validator() -> Validator:
    return Validator(_ruleset_schema())


def show(value: Any, limit: int = 40) -> Message | str:
    """A value as a message quotes it, cut short: text and numbers as written (``'约500'``, ``-40``), JSON's
    own words for the rest (``null``, ``true``, "a list"), which the catalogue words in Chinese."""
    if value is None:
        return msg("null")
    if isinstance(value, bool):
        return msg("true") if value else msg("false")
    if isinstance(value, Mapping):
        return msg("a mapping")
    if isinstance(value, (list, tuple)):
        return msg("a list")
    return quote(value, limit)


def kind_of(value: Any) -> Message:
    """What a value is, in JSON's words: 'a number', 'text', 'a list'…"""
    if value is None:
        return msg("null")
    if isinstance(value, bool):
        return msg("true or false")
    if isinstance(value, (int, float)):
        return msg("a number")
    if isinstance(value, str):
        return msg("text")
    if isinstance(value, (list, tuple)):
        return msg("a list")
    if isinstance(value, Mapping):
        return msg("a mapping")
    return msg("a {type}", type=type(value).__name__)


_TYPES = {"string": msg("text"), "number": msg("a number"), "integer": msg("a whole number"),
          "boolean": msg("true or false"), "array": msg("a list"), "object": msg("a mapping"), "null": msg("null")}


def missing_keys(message: Message) -> tuple[str, ...]:
    """The required keys a schema problem says are missing (none for any other problem)."""
    if message.msgid != "required key {field} is missing":
        return ()
    keys: tuple[str, ...] = dict(message.params).get("keys", ())
    return keys


def _bound(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def describe(error: Any) -> Message:
    """A JSON Schema error in words, by its keyword: the offending value (cut short), then the expectation.
    Fields are named as a person knows them (:func:`compliance.fields.named`)."""
    v = error.validator
    value = error.instance
    expected = error.validator_value
    if v == "required":
        said = re.match(r"^(.*) is a required property$", str(error.message))     # one error per missing key
        try:
            missing = [str(ast.literal_eval(said.group(1)))] if said else []
        except (ValueError, SyntaxError):
            missing = []
        missing = missing or [k for k in expected if isinstance(value, Mapping) and k not in value][:1]
        path = tuple(error.absolute_path)
        return msg("required key {field} is missing", field=tuple(named(path + (k,)) for k in missing),
                   keys=tuple(missing))
    if v == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        if kinds == ["boolean"]:
            if isinstance(value, (str, int)):
                return msg("{value} is not true or false; write true or false", value=show(value))
            return msg("{value} is not true or false", value=show(value))
        if kinds in (["number"], ["integer"]) and isinstance(value, str):
            return msg("{value} is not a number", value=show(value))
        if kinds == ["integer"] and isinstance(value, float):
            return msg("{value} is not a whole number", value=show(value))
        return msg("{value} is not {kind}", value=show(value),
                   kind=Joined([_TYPES.get(k, msg("{key}", key=quote(k))) for k in kinds], "or"))
    if v == "enum":
        names = CHOICES.get(dotted(tuple(error.absolute_path)))
        if names is not None and set(names) == set(expected):     # a choice a workbook offers by its name (城市)
            return code_hint(msg("{value} is not one of the choices", value=show(value)), value, names)
        return hinted(msg("{value} is not one of {options}", value=show(value),
                          options=tuple(quote(x) for x in expected)), value, expected)
    if v == "const":
        return msg("{value} is not {expected}", value=show(value), expected=quote(expected))
    if v == "minimum":
        return msg("the value {value} is out of range; it must be at least {bound}", value=show(value), bound=_bound(expected))
    if v == "maximum":
        return msg("the value {value} is out of range; it must be at most {bound}", value=show(value), bound=_bound(expected))
    if v == "exclusiveMinimum":
        return msg("the value {value} is out of range; it must be more than {bound}", value=show(value), bound=_bound(expected))
    if v == "exclusiveMaximum":
        return msg("the value {value} is out of range; it must be less than {bound}", value=show(value), bound=_bound(expected))
    if v == "additionalProperties" and isinstance(value, Mapping):
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in value if k not in allowed]
        return Joined([hinted(msg("unknown key {key}", key=show(k)), k, allowed) for k in extra[:5]], "sentences") \
            if extra else msg("unknown key")
    if v == "minLength":
        if value == "":
            return msg("is empty; leave the key out, or write a value")
        return msg("{value} is {length:,} characters long; it must be at least {expected}", value=show(value),
                   length=len(value), expected=expected)
    if v == "maxLength":
        return msg("{value} is {length:,} characters long; it must be at most {expected}", value=show(value),
                   length=len(value), expected=expected)
    if v == "minItems":
        return msg("a list of {length:,} items; it must have at least {expected}", length=len(value), expected=expected)
    if v == "maxItems":
        return msg("a list of more than {expected:,} items; it must have at most {expected:,}", expected=expected)
    if v == "minProperties":
        return msg("a mapping of {length:,} keys; it must have at least {expected}", length=len(value),
                   expected=expected)
    if v == "maxProperties":
        return msg("a mapping of {length:,} keys; it must have at most {expected}", length=len(value),
                   expected=expected)
    if v == "uniqueItems":
        return msg("lists a value twice")
    if v == "pattern":
        return msg("{value} does not have the expected form", value=show(value))
    if v == "format":
        return msg("{value} does not have the expected form", value=show(value))
    if v == "propertyNames":
        return msg("a key does not have the expected form")
    if v in ("oneOf", "anyOf"):
        return msg("{value} matches none of the allowed forms", value=show(value))
    if v == "not":
        return msg("{value} is not allowed here", value=show(value))
    return msg("{value} does not match the schema (the rule {keyword})", value=show(value), keyword=quote(v))
