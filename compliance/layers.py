"""Rule-set layers: find them, read them, merge them — treating every district's file as untrusted.

A layer is a YAML file (``schemas/ruleset.schema.json``). It may ``extends``
another and then ``overrides`` a clause's threshold, level, weight, veto flag,
texts or check parameters, adds ``clauses`` and vocabulary codes, or
``disable``s a clause with a reason. This module turns a chain of layers into
one :class:`Merged` description, collecting every problem before it raises:

* ``extends`` names a bundled rule set or a file in the layer's own folder;
  a path outside that folder, or a URL, is refused, and no message ever quotes
  another file's content;
* a layer may not take a bundled rule set's name;
* a layer that loosens its parent — a lower minimum or a higher maximum,
  fewer required codes, other check parameters, shall → should, a dropped
  veto, a lower weight, a new not-applicable condition, a lower pass score
  or lower grade bands — must say why (``reason``, or ``reasons`` for the
  pass score and grades);
* the merged description records which layer set each clause's threshold,
  level, weight and veto.

:mod:`compliance.compile` turns a :class:`Merged` into a :class:`~compliance.model.RuleSet`.
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import reading
from .checks import CHECK_TYPES
from .contract import SCAN_LIMIT, describe, kind_of, ruleset_validator
from .errors import PathItem, Problem, RuleSetError, problems_message
from .model import VOCABULARIES, ZONE_CLASSES, Disabled
from .i18n import Joined, Message, msg, quote
from .wording import hinted

MAX_CHAIN = 16
_OVERRIDABLE = ("level", "weight", "veto", "title", "requirement", "source", "shortfall", "not_applicable_when",
                "measure")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def bundled_dir() -> Path:
    return reading.data_dir("rules")


def bundled_names() -> tuple[str, ...]:
    """The rule sets shipped with the library, in the order ``rules list`` shows them."""
    names = sorted(p.stem for p in bundled_dir().glob("*.yaml"))
    order = {"national": 0}
    return tuple(sorted(names, key=lambda n: (order.get(n, 1), n)))


@dataclass(frozen=True)
class Layer:
    """One layer file as read and checked against the meta-schema."""

    path: Path
    data: Mapping[str, Any]
    raw: bytes
    bundled: bool

    @property
    def id(self) -> str:
        return str(self.data["ruleset"])


# --------------------------------------------------------------------------- finding layers

def _bundled_path(name: str) -> Path:
    return bundled_dir() / f"{name}.yaml"


def resolve(ref: str) -> tuple[Path, bool]:
    """A rule set named by a user or a program → (file, bundled?): a bundled name, a file or a folder."""
    if ref in bundled_names():
        return _bundled_path(ref), True
    if not ref:
        raise RuleSetError(msg("no rule set was named (an empty name or path)"), file=repr(ref))
    path = Path(ref)
    if path.is_symlink() and not path.exists():
        raise RuleSetError(msg("is a symbolic link that leads nowhere (a loop, or a missing file)"), file=ref)
    if not path.exists():
        looks_like_name = os.sep not in ref and "/" not in ref and not ref.endswith((".yaml", ".yml"))
        if looks_like_name:
            told = hinted(msg("no such rule set (the bundled ones: {names})",
                              names=[quote(n) for n in bundled_names()]), ref, bundled_names())
            raise RuleSetError(told, file=ref)          # located at the name, as a missing file is at its path
        raise RuleSetError(msg("no such rule set file"), file=ref)
    if path.is_dir():
        return leaf_of_folder(path), False
    try:
        real = path.resolve()
    except (OSError, RuntimeError):
        raise RuleSetError(msg("is a symbolic link that leads nowhere (a loop?)"), file=ref) from None
    return path, real.parent == bundled_dir().resolve() and real.stem in bundled_names()


def resolve_extends(ref: str, layer: Layer) -> tuple[Path, bool]:
    """What a layer's ``extends`` names: a bundled rule set, or a file in the layer's own folder."""
    if ref in bundled_names():
        return _bundled_path(ref), True
    where = ("extends",)
    if layer.bundled:
        raise _one(layer, msg("extends {name}, which is not a bundled rule set", name=quote(ref)), where)
    if _URL.match(ref) or ref.startswith(("/", "\\", "~")) or os.path.isabs(ref):
        raise _one(layer, msg("extends must name a bundled rule set ({names}) or a layer file in the same folder, "
                              "not {name}", names=[quote(n) for n in bundled_names()], name=quote(ref, 80)), where)
    folder = layer.path.parent.resolve()
    candidates = [folder / ref] if ref.endswith((".yaml", ".yml")) else [folder / f"{ref}.yaml", folder / f"{ref}.yml"]
    for candidate in candidates:
        try:
            real = candidate.resolve()
        except (OSError, RuntimeError):        # a loop of symbolic links
            raise _one(layer, msg("extends {name}, a symbolic link that leads nowhere (a loop?)", name=quote(ref, 80)),
                       where) from None
        if not real.is_relative_to(folder):
            raise _one(layer, msg("extends {name}, which lies outside the layer's folder; refused", name=quote(ref, 80)),
                       where)
        if real.is_file():
            return real, False
    raise _one(layer, hinted(msg("extends {name}, but there is no such bundled rule set nor a file {file} in the "
                                 "layer's folder", name=quote(ref, 80), file=quote(candidates[0].name)),
                             ref, bundled_names()), where)


def leaf_of_folder(folder: Path) -> Path:
    """The one layer of a folder that no other layer of it extends.

    Only files that are rule-set layers count (a mapping with a ``ruleset`` key): a folder may
    also hold the district's profiles and test files.
    """
    files = sorted(list(folder.glob("*.yaml")) + list(folder.glob("*.yml")))
    layers = [read_layer(f, bundled=False) for f in files if _looks_like_layer(f)]
    if not layers:
        raise RuleSetError(msg("the folder holds no rule-set layer (a {suffix} file with the key {key})",
                               suffix=quote(".yaml"), key=quote("ruleset")), file=str(folder))
    real = folder.resolve()
    parents = set()
    for layer in layers:
        ref = layer.data.get("extends")
        if isinstance(ref, str):
            target = Path(ref) if ref.endswith((".yaml", ".yml")) else Path(f"{ref}.yaml")
            parents.add(os.path.normpath(real / target))
            parents.add(os.path.normpath(real / Path(f"{ref}.yml")))
    leaves = [layer.path for layer in layers if os.path.normpath(layer.path.resolve()) not in parents]
    if len(leaves) != 1:
        raise RuleSetError(
            msg("the folder holds {count} rule sets that no other extends ({names}); name the file to use",
                count=len(leaves), names=[quote(p.name) for p in leaves]), file=str(folder))
    return leaves[0]


def _looks_like_layer(path: Path) -> bool:
    """A cheap first look: does the file hold a top-level ``ruleset:`` key? (Test files and profiles do not.)"""
    if path.name.endswith(".test.yaml"):
        return False
    try:
        head = path.read_bytes()[: reading.MAX_BYTES]
    except OSError:
        return True                      # let read_layer say what is wrong with it
    return any(line.startswith((b"ruleset:", b'"ruleset":', b"{ruleset:", b'{"ruleset":'))
               for line in head.splitlines())


def _one(layer: Layer, message: Message, path: tuple[PathItem, ...]) -> RuleSetError:
    problem = reading.locate([Problem(message, path, str(layer.path))], layer.raw)[0]
    return RuleSetError(message, file=str(layer.path), problems=[problem])


# --------------------------------------------------------------------------- reading one layer

def read_layer(path: Path, *, bundled: bool) -> Layer:
    """Read one layer file and check it against the meta-schema; every problem at once."""
    name = str(path)
    data, raw = reading.load(path, RuleSetError)
    if not isinstance(data, dict):
        what = msg("empty") if data is None else msg("{kind}, not a mapping", kind=kind_of(data))
        raise RuleSetError(msg("is not a rule set layer (the document is {what})", what=what), file=name,
                           problems=[Problem(msg("not a mapping"), (), name, line=1)])
    validator = ruleset_validator()
    problems: list[Problem] = []
    total = 0
    if not validator.is_valid(data):
        errors = validator.errors(data)
        total = len(errors)
        errors.sort(key=lambda e: [str(x) for x in e.absolute_path])
        problems = [Problem(describe(e), tuple(e.absolute_path), name, clause=_clause_of(data, tuple(e.absolute_path)))
                    for e in errors]
    layer_id = data.get("ruleset")
    if not bundled and isinstance(layer_id, str) and layer_id in bundled_names():
        problems.append(Problem(msg("{name} is the name of a bundled rule set; give this layer its own name and "
                                    "extend {name} instead", name=quote(layer_id)), ("ruleset",), name))
        total += 1
    if problems:
        complete = total < SCAN_LIMIT
        raise RuleSetError(problems_message(total, msg("the rule set"), complete), file=name, total=total, complete=complete,
                           problems=reading.locate(problems[:100], raw))
    return Layer(path, data, raw, bundled)


def _clause_of(data: Any, path: tuple[PathItem, ...]) -> str | None:
    if len(path) >= 2 and path[0] == "clauses" and isinstance(data, dict):
        try:
            return str(data["clauses"][path[1]].get("clause"))
        except (IndexError, KeyError, TypeError, AttributeError):
            return None
    if len(path) >= 2 and path[0] in ("overrides", "disable"):
        return str(path[1])
    return None


def chain(path: Path, bundled: bool) -> list[Layer]:
    """The layers from the root (``national``) to ``path``."""
    layers: list[Layer] = []
    seen: list[Path] = []
    current: tuple[Path, bool] | None = (path, bundled)
    while current is not None:
        where, is_bundled = current
        try:
            real = where.resolve()
        except (OSError, RuntimeError):
            raise RuleSetError(msg("is a symbolic link that leads nowhere (a loop?)"), file=str(where)) from None
        if real in seen:
            names = " → ".join(quote(p.name) for p in seen + [real])
            raise RuleSetError(msg("rule sets extend each other in a loop: {names}", names=names), file=str(path))
        if len(seen) >= MAX_CHAIN:
            raise RuleSetError(msg("more than {limit} layers extend each other; refused", limit=MAX_CHAIN),
                               file=str(path))
        seen.append(real)
        layer = read_layer(where, bundled=is_bundled)
        layers.append(layer)
        parent = layer.data.get("extends")
        current = resolve_extends(parent, layer) if parent else None
    layers.reverse()
    return layers


# --------------------------------------------------------------------------- merging

@dataclass
class Merged:
    """Every layer applied in order: what :mod:`compliance.compile` turns into a RuleSet."""

    id: str = ""
    version: str = ""
    title: Mapping[str, str] = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    titles: dict[str, Mapping[str, str]] = field(default_factory=dict)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    grades: list[dict[str, Any]] = field(default_factory=list)
    pass_score: float = 60
    vocab: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {n: {} for n in VOCABULARIES})
    clauses: dict[str, dict[str, Any]] = field(default_factory=dict)
    disabled: list[Disabled] = field(default_factory=list)
    raws: dict[str, bytes] = field(default_factory=dict)
    leaf: str = ""
    files: list[str] = field(default_factory=list)


class Merger:
    """Applies layers root first, collecting every problem before raising."""

    def __init__(self) -> None:
        self.merged = Merged()
        self.problems: list[Problem] = []
        self.file = ""

    def problem(self, message: Message, path: tuple[PathItem, ...], clause: str | None = None) -> None:
        self.problems.append(Problem(message, path, self.file, clause=clause))

    def apply(self, layer: Layer) -> None:
        m = self.merged
        data = layer.data
        self.file = str(layer.path)
        m.raws[self.file] = layer.raw
        m.files.append(self.file)
        root = not m.layers
        start = len(self.problems)
        if layer.id in m.layers:
            self.problem(msg("the layer id {name} is used twice in the chain", name=quote(layer.id)), ("ruleset",))
        m.layers.append(layer.id)
        m.versions[layer.id] = str(data["version"])
        m.titles[layer.id] = data["title"]
        m.id, m.version, m.title = layer.id, str(data["version"]), data["title"]
        if root:
            if "overrides" in data or "disable" in data:
                self.problem(msg("a rule set that extends nothing has nothing to override or disable"), ("overrides",))
            if not data.get("clauses"):
                self.problem(msg("a base rule set needs clauses"), ("clauses",))
        self._vocabularies(data.get("vocabularies", {}))
        for i, cat in enumerate(data.get("categories", [])):
            if cat["id"] in m.categories:
                self.problem(msg("the category {name} is already defined", name=quote(cat["id"])), ("categories", i, "id"))
            m.categories[cat["id"]] = dict(cat)
        reasons = data.get("reasons", {})
        if "grades" in data:
            self._grades(data["grades"], root, reasons.get("grades"))
        if "pass_score" in data:
            new = data["pass_score"]
            if not root and new < m.pass_score and not reasons.get("pass_score"):
                self.problem(msg("{name} lowers the pass score ({key}) from {old} to {new} without a reason; add "
                                 "{reasons}", name=quote(layer.id), key=quote("pass_score"), old=m.pass_score, new=new,
                                 reasons=quote("reasons: {pass_score: …}")), ("pass_score",))
            m.pass_score = new
        for number, change in data.get("overrides", {}).items():
            self._override(layer.id, number, change)
        for number, spec in data.get("disable", {}).items():
            if number not in m.clauses:
                self.problem(hinted(msg("cannot disable the clause {clause}: it is not in the parent",
                                        clause=quote(number)), number, m.clauses), ("disable", number), number)
                continue
            del m.clauses[number]
            m.disabled.append(Disabled(number, spec["reason"], layer.id))
        for i, spec in enumerate(data.get("clauses", [])):
            self._add(layer.id, i, spec)
        if len(self.problems) > start:
            self.problems[start:] = reading.locate(self.problems[start:], layer.raw)

    def _vocabularies(self, vocabs: Mapping[str, Mapping[str, Any]]) -> None:
        for name, entries in vocabs.items():
            for code, entry in entries.items():
                old = self.merged.vocab[name].get(code)
                if name == "zone_kinds" and "class" not in entry:
                    self.problem(msg("the zone type {code} needs a class ({classes})", code=quote(code),
                                     classes=Joined([quote(c) for c in ZONE_CLASSES], "or")), ("vocabularies", name, code))
                    continue
                if name != "zone_kinds" and "class" in entry:
                    self.problem(msg("only zone types have a class"), ("vocabularies", name, code, "class"))
                    continue
                if old is not None and name == "zone_kinds" and old.get("class") != entry.get("class"):
                    self.problem(msg("the zone type {code} is already of the class {old}; a layer may add types, not "
                                     "reclassify them", code=quote(code), old=quote(old.get("class"))),
                                 ("vocabularies", name, code, "class"))
                    continue
                self.merged.vocab[name][code] = dict(entry)

    def _grades(self, grades: list[Mapping[str, Any]], root: bool, reason: str | None) -> None:
        m = self.merged
        ids = [g["id"] for g in grades]
        mins = [g["min"] for g in grades]
        ok = True
        if len(set(ids)) != len(ids):
            self.problem(msg("a grade id is listed twice"), ("grades",))
            ok = False
        if len(set(mins)) != len(mins):
            self.problem(msg("two grades start at the same score"), ("grades",))
            ok = False
        if 0 not in mins:
            self.problem(msg("one grade must start at 0 (the grade of a non-conforming centre)"), ("grades",))
            ok = False
        if not root and ok and not reason:
            old = {g["id"]: g["min"] for g in m.grades}
            if set(ids) != set(old):
                self.problem(msg("replaces the grades ({old} → {new}) without a reason; add {reasons}",
                                 old=[quote(g) for g in sorted(old)], new=[quote(g) for g in ids],
                                 reasons=quote("reasons: {grades: …}")), ("grades",))
            else:
                lowered = [msg("{grade} from {old} to {new}", grade=quote(g["id"]), old=old[g["id"]], new=g["min"])
                           for g in grades if g["min"] < old[g["id"]]]
                if lowered:
                    self.problem(msg("lowers the grade bands ({changes}) without a reason; add {reasons}",
                                     changes=Joined(lowered, "sentences"), reasons=quote("reasons: {grades: …}")),
                                 ("grades",))
        if ok:
            m.grades = sorted((dict(g) for g in grades), key=lambda g: -g["min"])

    def _add(self, layer: str, i: int, spec: Mapping[str, Any]) -> None:
        number = spec["clause"]
        if number in self.merged.clauses:
            owner = self.merged.clauses[number]["_set_by"]["clause"]
            self.problem(msg("the clause {clause} is already defined by {owner}; change it under {key}",
                             clause=quote(number), owner=quote(owner), key=quote("overrides")),
                         ("clauses", i, "clause"), number)
            return
        entry = copy.deepcopy(dict(spec))
        entry.setdefault("veto", False)
        entry.setdefault("source", [])
        entry.setdefault("shortfall", {})
        entry.setdefault("not_applicable_when", [])
        entry["_set_by"] = {k: layer for k in ("clause", "threshold", "level", "weight", "veto")}
        entry["_notes"] = []
        entry["_path"] = ("clauses", i)
        entry["_file"] = self.file
        self.merged.clauses[number] = entry

    def _override(self, layer: str, number: str, change: Mapping[str, Any]) -> None:
        path: tuple[PathItem, ...] = ("overrides", number)
        entry = self.merged.clauses.get(number)
        if entry is None:
            self.problem(hinted(msg("cannot override the clause {clause}: it is not in the parent", clause=quote(number)),
                                number, self.merged.clauses), path, number)
            return
        reason = change.get("reason")
        old = entry["check"]
        ctype = old["type"]
        record = CHECK_TYPES[ctype]
        new = dict(old)
        if "check" in change:
            if change["check"].get("type", ctype) != ctype:
                self.problem(msg("cannot change the check type of the clause {clause} from {type}; disable it and add "
                                 "a new clause", clause=quote(number), type=quote(ctype)), path + ("check", "type"), number)
                return
            new.update(change["check"])
        if "threshold" in change:
            param = record.threshold_param(new)
            if param is None:
                self.problem(msg("the clause {clause} ({type}) has no threshold to override", clause=quote(number),
                                 type=quote(ctype)), path + ("threshold",), number)
                return
            bad = _schema_problems(record.param_schema(param), change["threshold"])
            if bad:
                for sub, message in bad:
                    self.problem(message, path + ("threshold",) + sub, number)
                return
            new[param] = change["threshold"]
            entry["_set_by"]["threshold"] = layer
        bad = _schema_problems(record.schema(), new)
        if bad:
            for sub, message in bad:
                self.problem(message, path + ("check",) + sub, number)
            return
        loosened = list(record.loosening(old, new))
        if change.get("level") == "should" and entry["level"] == "shall":
            loosened.append(msg("its level from shall to should"))
        if change.get("veto") is False and entry["veto"]:
            loosened.append(msg("its veto"))
        if "weight" in change and change["weight"] < entry["weight"]:
            loosened.append(msg("its weight from {old} to {new}", old=format(entry["weight"], "g"), new=format(change["weight"], "g")))
        if "not_applicable_when" in change:
            before = {_condition_key(c) for c in entry["not_applicable_when"]}
            widened = [c for c in change["not_applicable_when"] if _condition_key(c) not in before]
            if widened:
                loosened.append(msg("the conditions under which it does not apply"))
        if loosened and not reason:
            self.problem(msg("{layer} loosens the clause {clause} ({changes}) without a reason; add {reason}",
                             layer=quote(layer), clause=quote(number), changes=Joined(loosened, "sentences"),
                             reason=quote("reason: …")), path, number)
        entry["check"] = new
        for key in _OVERRIDABLE:
            if key in change:
                entry[key] = copy.deepcopy(change[key])
                if key in ("level", "weight", "veto"):
                    entry["_set_by"][key] = layer
        if reason:
            entry["_notes"].append(f"{layer}: {reason}")
        entry["_path"] = path
        entry["_file"] = self.file


def _condition_key(condition: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    values = condition["in"] if "in" in condition else [condition["equals"]]
    return condition["field"], tuple(sorted(repr(v) for v in values))


def _schema_problems(schema: Mapping[str, Any], value: Any) -> list[tuple[tuple[PathItem, ...], Message]]:
    """What is wrong with ``value`` under ``schema``: (the path inside it, the message) each."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    return [(tuple(e.absolute_path), describe(e)) for e in list(validator.iter_errors(value))[:10]]


def merge(layers: list[Layer]) -> tuple[Merged, list[Problem]]:
    """Apply the layers root first; returns the merged description and every problem found."""
    merger = Merger()
    for layer in layers:
        merger.apply(layer)
    merger.merged.leaf = str(layers[-1].path)
    return merger.merged, merger.problems
