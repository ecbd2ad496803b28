"""Rule sets: YAML layers → one compiled, immutable :class:`RuleSet`.

A rule set file is validated against the published meta-schema
(``schemas/ruleset.schema.json``). A layer may ``extends`` another and then
``overrides`` a clause's threshold, level, weight, veto flag or texts, adds
``clauses``, or ``disable``s one with a reason. A change that loosens the
parent (a lower minimum, a higher maximum, fewer required codes, shall → should,
a veto dropped, a new not-applicable condition) must state a ``reason``.

The merged rule set records which layer set every clause's threshold
(``Clause.threshold_from``) and its level, weight and veto (``Clause.set_by``).
Loading compiles every clause once; evaluation never re-reads YAML.
"""
from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import jsonschema_rs

from . import checks, reading
from .errors import PathItem, Problem, RuleSetError
from .result import Level, Status

BUNDLED = ("national", "ningbo", "yinzhou", "beijing")
LIST_VOCAB = {
    "signage": "signage",
    "amenities": "amenities",
    "services.feedback_loop": "feedback_stages",
    "zones": "zone_kinds",
}
VOCABULARIES = ("zone_kinds", "signage", "amenities", "feedback_stages")
ZONE_CLASSES = ("service", "office", "support")
_OVERRIDABLE = ("level", "weight", "veto", "title", "requirement", "source", "shortfall", "not_applicable_when", "measure")
_PLACEHOLDERS = {"amount", "amount_pct", "items"}


def _schema(name: str) -> dict:
    return json.loads((Path(__file__).parent / "schemas" / name).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def meta_schema() -> dict:
    """The published JSON Schema of a rule set file."""
    return _schema("ruleset.schema.json")


class _Validator:
    """The compiled validator for valid files; jsonschema, imported only then, to explain invalid ones."""

    def __init__(self, schema: dict) -> None:
        self.schema = schema
        self.fast = jsonschema_rs.validator_for(schema)

    def iter_errors(self, instance: Any) -> list:
        if self.fast.is_valid(instance):
            return []
        import jsonschema

        return list(jsonschema.Draft202012Validator(self.schema).iter_errors(instance))


@functools.lru_cache(maxsize=None)
def _meta_validator() -> _Validator:
    return _Validator(meta_schema())


@functools.lru_cache(maxsize=None)
def _check_validator() -> _Validator:
    schema = meta_schema()
    return _Validator({**schema["$defs"]["check"], "$defs": schema["$defs"]})


@functools.lru_cache(maxsize=None)
def profile_fields() -> dict[str, str]:
    """Dotted profile field → JSON type, read from the profile schema."""
    out: dict[str, str] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            kind = sub.get("type", "enum" if "enum" in sub or "const" in sub else "any")
            out[path] = kind
            if kind == "object":
                walk(sub, path + ".")

    walk(_schema("profile.schema.json"), "")
    return out


def nearest(word: str, choices: Any) -> str:
    """'; did you mean 'x'?' or ''."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


@dataclass(frozen=True)
class Vocabulary:
    """The codes a profile may use, with their labels; zone kinds carry a class."""

    entries: Mapping[str, Mapping[str, Mapping[str, str]]]

    @functools.cached_property
    def zone_class(self) -> dict[str, str]:
        return {k: v["class"] for k, v in self.entries["zone_kinds"].items()}

    @functools.cached_property
    def codes(self) -> dict[str, frozenset[str]]:
        return {name: frozenset(self.entries.get(name, {})) for name in VOCABULARIES}

    def label(self, vocab: str, code: str, lang: str) -> str:
        entry = self.entries.get(vocab, {}).get(code)
        return entry[lang] if entry else code


@dataclass(frozen=True)
class Category:
    id: str
    title: Mapping[str, str]


@dataclass(frozen=True)
class Grade:
    id: str
    min: float
    title: Mapping[str, str]


@dataclass(frozen=True)
class Disabled:
    clause: str
    reason: str
    layer: str


@dataclass(frozen=True, eq=False)
class Clause:
    """One clause after all layers are merged."""

    clause: str
    category: str
    level: Level
    weight: float
    veto: bool
    title: Mapping[str, str]
    requirement: Mapping[str, str]
    source: tuple[str, ...]
    check: Mapping[str, Any]
    shortfall: Mapping[str, Any]
    not_applicable_when: tuple[Mapping[str, Any], ...]
    threshold: Any
    threshold_from: str
    set_by: Mapping[str, str]
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    measure: Mapping[str, str] | None = None

    @property
    def check_type(self) -> str:
        return self.check["type"]

    @property
    def shortfall_unit(self) -> str | None:
        return self.shortfall.get("unit")

    @property
    def shortfall_adjust(self) -> str | None:
        return self.shortfall.get("adjust")

    def shortfall_text(self, lang: str) -> str | None:
        text = self.shortfall.get("text")
        return text[lang] if text else None

    def label(self, code: str, lang: str) -> str:
        entry = self.labels.get(code)
        return entry[lang] if entry else code


def compile_scorer(check_fns: tuple, clauses: list[Clause], category_ids: tuple[str, ...]) -> Callable:
    """Generate one straight-line function that runs every check and sums the score.

    ``scorer(facts) -> (findings, total_weight, earned, category_weights, category_earned, vetoed)``.
    Looping over 30 clauses with their weights costs more than the checks
    themselves; unrolled, each clause is a call and a few local additions. The
    source is built only from indices: checks, weights and flags are bound as
    names, never pasted in as text.
    """
    env: dict[str, Any] = {"_NA": Status.NOT_APPLICABLE, "_FAIL": Status.FAIL, "_MISSING": Status.MISSING}
    lines = ["def scorer(facts):", "    tw = te = 0.0", "    vetoed = False"]
    ncat = len(category_ids)
    lines += [f"    cw{j} = ce{j} = 0.0" for j in range(ncat)]
    for i, (fn, clause) in enumerate(zip(check_fns, clauses)):
        env[f"c{i}"] = fn
        env[f"w{i}"] = float(clause.weight)
        j = category_ids.index(clause.category)
        lines += [
            f"    f{i} = c{i}(facts)",
            f"    s = f{i}.status",
            "    if s is not _NA:",
            f"        e = w{i} * f{i}.credit",
            f"        tw += w{i}; te += e; cw{j} += w{i}; ce{j} += e",
        ]
        if clause.veto:
            lines.append("        if s is _FAIL or s is _MISSING: vetoed = True")
    findings = ", ".join(f"f{i}" for i in range(len(clauses)))
    lines.append(f"    return ({findings},), tw, te, "
                 f"({', '.join(f'cw{j}' for j in range(ncat))},), ({', '.join(f'ce{j}' for j in range(ncat))},), vetoed")
    exec(compile("\n".join(lines) + "\n", "<rule set scorer>", "exec"), env)  # noqa: S102 - indices only
    return env["scorer"]


@dataclass(frozen=True, eq=False)
class RuleSet:
    """A compiled rule set: evaluate any number of profiles against it."""

    id: str
    version: str
    title: Mapping[str, str]
    layers: tuple[str, ...]
    layer_versions: Mapping[str, str]
    categories: tuple[Category, ...]
    grades: tuple[Grade, ...]
    pass_score: float
    vocabulary: Vocabulary
    clauses: tuple[Clause, ...]
    disabled: tuple[Disabled, ...]
    content_hash: str
    path: str
    checks: tuple[Callable[[checks.Facts], Any], ...] = field(repr=False, default=())
    scorer: Callable[[checks.Facts], tuple] | None = field(repr=False, default=None)

    def clause(self, number: str) -> Clause:
        for c in self.clauses:
            if c.clause == number:
                return c
        raise KeyError(f"clause {number!r} is not in rule set {self.id!r}{nearest(number, [c.clause for c in self.clauses])}")

    def grade_for(self, score: float) -> Grade:
        for g in self.grades:
            if score >= g.min - checks.TOL:
                return g
        return self.grades[-1]

    def grade(self, gid: str) -> Grade:
        return next(g for g in self.grades if g.id == gid)

    def category(self, cid: str) -> Category:
        return next(c for c in self.categories if c.id == cid)


# --------------------------------------------------------------------------- loading

def bundled_dir() -> Path:
    return reading.data_dir("rules")


def list_bundled() -> list[str]:
    return [p.stem for p in sorted(bundled_dir().glob("*.yaml"))]


def _resolve(ref: str, base: Path | None) -> Path:
    """A rule set reference → file: a bundled name, a sibling layer, a file or a folder."""
    looks_like_path = os.sep in ref or "/" in ref or ref.endswith((".yaml", ".yml")) or ref in (".", "..")
    if not looks_like_path:
        if base is not None and (base / f"{ref}.yaml").is_file():
            return base / f"{ref}.yaml"
        bundled = bundled_dir() / f"{ref}.yaml"
        if bundled.is_file():
            return bundled
        raise RuleSetError(f"unknown rule set {ref!r}{nearest(ref, list_bundled())} (bundled: {', '.join(list_bundled())})", file=ref)
    path = (base / ref) if base is not None and not os.path.isabs(ref) else Path(ref)
    if path.is_dir():
        return _leaf_of_folder(path)
    if not path.exists():
        raise RuleSetError("no such rule set file", file=str(path))
    return path


def _leaf_of_folder(folder: Path) -> Path:
    files = sorted(list(folder.glob("*.yaml")) + list(folder.glob("*.yml")))
    if not files:
        raise RuleSetError("folder holds no .yaml rule set", file=str(folder))
    parents = set()
    for f in files:
        data, _ = reading.load(f, RuleSetError)
        if isinstance(data, dict) and isinstance(data.get("extends"), str):
            parents.add(data["extends"])
    leaves = [f for f in files if f.stem not in parents]
    if len(leaves) != 1:
        raise RuleSetError(
            f"folder holds {len(leaves)} rule sets that no other extends ({', '.join(f.name for f in leaves)}); "
            "pass the file to use", file=str(folder))
    return leaves[0]


def _read_layer(path: Path) -> tuple[dict, bytes]:
    data, raw = reading.load(path, RuleSetError)
    problems = [
        Problem(_schema_message(e), tuple(e.absolute_path), str(path), clause=_clause_of(data, tuple(e.absolute_path)))
        for e in sorted(_meta_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        raise RuleSetError(f"{len(problems)} problem(s) in rule set", file=str(path),
                           problems=reading.locate(problems, raw))
    return data, raw


def _schema_message(error: Any) -> str:
    if error.validator == "enum" and isinstance(error.instance, str):
        return f"{error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}{nearest(error.instance, error.validator_value)}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        return "; ".join(f"unknown key {k!r}{nearest(k, allowed)}" for k in extra) or error.message
    return error.message


def _clause_of(data: Any, path: tuple[PathItem, ...]) -> str | None:
    if len(path) >= 2 and path[0] == "clauses" and isinstance(data, dict):
        try:
            return str(data["clauses"][path[1]].get("clause"))
        except (IndexError, KeyError, TypeError, AttributeError):
            return None
    if len(path) >= 2 and path[0] in ("overrides", "disable"):
        return str(path[1])
    return None


def load_ruleset(source: "str | os.PathLike[str] | RuleSet" = "national") -> RuleSet:
    """Load and compile a rule set: a bundled name, a YAML file, or a folder of layers.

    Raises :class:`RuleSetError` listing every problem found.
    """
    if isinstance(source, RuleSet):
        return source
    ref = os.fspath(source)
    if ref in BUNDLED:
        return _load_bundled(ref)
    return _compile(_resolve(ref, None))


@functools.lru_cache(maxsize=None)
def _load_bundled(name: str) -> RuleSet:
    return _compile(_resolve(name, None))


def _chain(leaf: Path) -> list[tuple[Path, dict, bytes]]:
    chain: list[tuple[Path, dict, bytes]] = []
    seen: list[Path] = []
    path: Path | None = leaf
    while path is not None:
        real = path.resolve()
        if real in seen:
            names = " → ".join(p.name for p in seen + [real])
            raise RuleSetError(f"rule sets extend each other in a loop: {names}", file=str(leaf))
        seen.append(real)
        data, raw = _read_layer(path)
        chain.append((path, data, raw))
        parent = data.get("extends")
        path = _resolve(parent, path.parent) if parent else None
    chain.reverse()
    return chain


def _compile(leaf: Path) -> RuleSet:
    chain = _chain(leaf)
    merger = _Merger()
    for path, data, raw in chain:
        merger.apply(path, data, raw)
    return merger.finish(str(leaf))


class _Merger:
    """Applies layers root first, collecting every problem before raising."""

    def __init__(self) -> None:
        self.clauses: dict[str, dict] = {}
        self.categories: dict[str, dict] = {}
        self.grades: list[dict] = []
        self.pass_score: float = 60
        self.vocab: dict[str, dict[str, dict]] = {name: {} for name in VOCABULARIES}
        self.disabled: list[Disabled] = []
        self.layers: list[str] = []
        self.versions: dict[str, str] = {}
        self.meta: dict = {}
        self.problems: list[Problem] = []
        self.raws: dict[str, bytes] = {}

    def problem(self, message: str, path: tuple[PathItem, ...], clause: str | None = None) -> None:
        self.problems.append(Problem(message, path, self.file, clause=clause))

    def apply(self, path: Path, data: dict, raw: bytes) -> None:
        self.file = str(path)
        layer = data["ruleset"]
        root = not self.layers
        if layer in self.layers:
            self.problem(f"layer id {layer!r} is used twice in the chain", ("ruleset",))
        self.layers.append(layer)
        self.versions[layer] = data["version"]
        self.meta = data
        start = len(self.problems)
        if root:
            if "overrides" in data or "disable" in data:
                self.problem("a rule set that extends nothing has nothing to override or disable", ("overrides",))
            if not data.get("clauses"):
                self.problem("a base rule set needs clauses", ("clauses",))
        self._vocabularies(data.get("vocabularies", {}))
        for i, cat in enumerate(data.get("categories", [])):
            if cat["id"] in self.categories:
                self.problem(f"category {cat['id']!r} is already defined", ("categories", i, "id"))
            self.categories[cat["id"]] = cat
        if "grades" in data:
            self.grades = sorted(data["grades"], key=lambda g: -g["min"])
        if "pass_score" in data:
            if not root and data["pass_score"] < self.pass_score:
                self.problem(f"pass_score {data['pass_score']} is lower than the parent's {self.pass_score}; a layer may only tighten it", ("pass_score",))
            self.pass_score = data["pass_score"]
        for number, change in data.get("overrides", {}).items():
            self._override(layer, number, change)
        for number, spec in data.get("disable", {}).items():
            if number not in self.clauses:
                self.problem(f"cannot disable clause {number!r}: not in the parent{nearest(number, self.clauses)}", ("disable", number), number)
                continue
            del self.clauses[number]
            self.disabled.append(Disabled(number, spec["reason"], layer))
        for i, spec in enumerate(data.get("clauses", [])):
            number = spec["clause"]
            if number in self.clauses:
                owner = self.clauses[number]["_set_by"]["clause"]
                self.problem(f"clause {number} is already defined by {owner!r}; change it under overrides", ("clauses", i, "clause"), number)
                continue
            entry = copy.deepcopy(spec)
            entry.setdefault("veto", False)
            entry.setdefault("source", [])
            entry.setdefault("shortfall", {})
            entry.setdefault("not_applicable_when", [])
            entry["_set_by"] = {k: layer for k in ("clause", "threshold", "level", "weight", "veto")}
            entry["_notes"] = []
            entry["_path"] = ("clauses", i)
            entry["_file"] = self.file
            self.clauses[number] = entry
        if len(self.problems) > start:
            self.problems[start:] = reading.locate(self.problems[start:], raw)
        self.raws[layer] = raw

    def _vocabularies(self, vocabs: Mapping[str, Mapping[str, dict]]) -> None:
        for name, entries in vocabs.items():
            for code, entry in entries.items():
                old = self.vocab[name].get(code)
                if name == "zone_kinds" and "class" not in entry:
                    self.problem(f"zone kind {code!r} needs a class ({', '.join(ZONE_CLASSES)})", ("vocabularies", name, code))
                if old is not None and name == "zone_kinds" and old.get("class") != entry.get("class"):
                    self.problem(f"zone kind {code!r} is already classed {old.get('class')!r}; a layer may add kinds, not reclassify them",
                                 ("vocabularies", name, code, "class"))
                    continue
                self.vocab[name][code] = dict(entry)

    def _override(self, layer: str, number: str, change: Mapping[str, Any]) -> None:
        path: tuple[PathItem, ...] = ("overrides", number)
        entry = self.clauses.get(number)
        if entry is None:
            self.problem(f"cannot override clause {number!r}: not in the parent{nearest(number, self.clauses)}", path, number)
            return
        reason = change.get("reason")
        check = entry["check"]
        ctype = check["type"]
        loosened: list[str] = []
        if "check" in change:
            if change["check"].get("type", ctype) != ctype:
                self.problem(f"cannot change the check type of clause {number} from {ctype!r}; disable it and add a new clause", path + ("check", "type"), number)
                return
            if not reason:
                loosened.append("its check parameters")
            check = {**check, **change["check"]}
        if "threshold" in change:
            param = checks.THRESHOLD_PARAM[ctype](check)
            if param is None:
                self.problem(f"clause {number} ({ctype}) has no threshold to override", path + ("threshold",), number)
                return
            new = change["threshold"]
            if checks.loosens(ctype, check, check[param], new):
                loosened.append(f"its threshold from {check[param]!r} to {new!r}")
            check = {**check, param: new}
            entry["_set_by"]["threshold"] = layer
        if change.get("level") == "should" and entry["level"] == "shall":
            loosened.append("its level from shall to should")
        if change.get("veto") is False and entry["veto"]:
            loosened.append("its veto")
        if "not_applicable_when" in change:
            loosened.append("the conditions under which it does not apply")
        if loosened and not reason:
            self.problem(f"{layer!r} loosens clause {number} ({'; '.join(loosened)}) without a reason; add reason: …", path, number)
        entry["check"] = check
        for key in _OVERRIDABLE:
            if key in change:
                entry[key] = copy.deepcopy(change[key])
                if key in ("level", "weight", "veto"):
                    entry["_set_by"][key] = layer
        if reason:
            entry["_notes"].append(f"{layer}: {reason}")
        entry["_path"] = path
        entry["_file"] = self.file

    def finish(self, leaf: str) -> RuleSet:
        vocab = Vocabulary({k: dict(v) for k, v in self.vocab.items()})
        clauses: list[Clause] = []
        for number, entry in self.clauses.items():
            clause = self._clause(number, entry, vocab)
            if clause is not None:
                clauses.append(clause)
        if not clauses and not self.problems:
            self.problem("the rule set has no clauses left", ())
        if not self.grades:
            self.problem("no grades are defined", ("grades",))
        if self.problems:
            raise RuleSetError(f"{len(self.problems)} problem(s) in rule set", file=leaf, problems=self.problems)
        clauses.sort(key=lambda c: _clause_key(c.clause))
        digest = hashlib.sha256(json.dumps(
            {"clauses": [self._public(c) for c in clauses], "vocabularies": vocab.entries,
             "grades": self.grades, "pass_score": self.pass_score,
             "categories": list(self.categories.values()), "disabled": [d.__dict__ for d in self.disabled]},
            sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
        compiled = tuple(checks.with_conditions(c, checks.CHECKS[c.check_type](c, vocab)) for c in clauses)
        leaf_meta = self.meta
        scorer = compile_scorer(compiled, clauses, tuple(self.categories))
        return RuleSet(
            id=leaf_meta["ruleset"], version=leaf_meta["version"], title=leaf_meta["title"],
            layers=tuple(self.layers), layer_versions=dict(self.versions),
            categories=tuple(Category(c["id"], c["title"]) for c in self.categories.values()),
            grades=tuple(Grade(g["id"], g["min"], g["title"]) for g in self.grades),
            pass_score=self.pass_score, vocabulary=vocab, clauses=tuple(clauses),
            disabled=tuple(self.disabled), content_hash=digest, path=leaf, checks=compiled, scorer=scorer,
        )

    @staticmethod
    def _public(c: Clause) -> dict:
        return {"clause": c.clause, "category": c.category, "level": c.level.value, "weight": c.weight,
                "veto": c.veto, "check": c.check, "shortfall": c.shortfall, "title": c.title,
                "requirement": c.requirement, "not_applicable_when": c.not_applicable_when}

    def _clause(self, number: str, e: dict, vocab: Vocabulary) -> Clause | None:
        before = len(self.problems)
        self.file = e["_file"]
        path = e["_path"]
        check = e["check"]
        for err in _check_validator().iter_errors(check):
            self.problem(f"check: {_schema_message(err)}", path + ("check",) + tuple(err.absolute_path), number)
        if len(self.problems) > before:
            return None
        if e["category"] not in self.categories:
            self.problem(f"category {e['category']!r} is not defined{nearest(e['category'], self.categories)}", path + ("category",), number)
        fields = profile_fields()
        ctype = check["type"]
        labels: dict[str, Mapping[str, str]] = {}

        def need_field(key: str, kinds: tuple[str, ...]) -> None:
            name = check[key]
            kind = fields.get(name)
            if kind is None:
                self.problem(f"{name!r} is not a profile field{nearest(name, fields)}", path + ("check", key), number)
            elif kind not in kinds:
                self.problem(f"{name!r} is a {kind} field; a {ctype} check needs {' or '.join(kinds)}", path + ("check", key), number)

        if ctype in ("has_code", "has_all"):
            vname = LIST_VOCAB[check["list"]]
            for code in check["codes"] if ctype == "has_all" else [check["code"]]:
                if code not in vocab.codes[vname]:
                    self.problem(f"{code!r} is not in the {vname} vocabulary{nearest(code, vocab.codes[vname])}", path + ("check",), number)
                labels[code] = vocab.entries[vname].get(code, {"zh": code, "en": code})
        elif ctype == "flag":
            need_field("field", ("boolean",))
        elif ctype == "compare":
            need_field("field", ("number", "integer"))
        elif ctype == "rate":
            need_field("numerator", ("number", "integer"))
            need_field("denominator", ("number", "integer"))
            bound = "min" if "min" in check else "max"
            if bound == "max" and check[bound] <= 0:
                self.problem("a rate maximum must be above 0", path + ("check", "max"), number)
            adjust = e["shortfall"].get("adjust")
            if adjust and adjust != ("numerator" if bound == "min" else "denominator"):
                self.problem(f"a rate with {bound} is met by raising the {'numerator' if bound == 'min' else 'denominator'}; adjust: {adjust} cannot close it",
                             path + ("shortfall", "adjust"), number)
        elif ctype == "area_ratio":
            den = check["denominator"]
            for cls in list(check["numerator"]) + ([] if den == "total" else list(den)):
                if cls not in ZONE_CLASSES:
                    self.problem(f"{cls!r} is not a zone class{nearest(cls, ZONE_CLASSES)}", path + ("check",), number)
        for i, cond in enumerate(e.get("not_applicable_when", [])):
            if cond["field"] not in fields:
                self.problem(f"{cond['field']!r} is not a profile field{nearest(cond['field'], fields)}", path + ("not_applicable_when", i, "field"), number)
        templates = [("shortfall text", ("shortfall", "text"), lang, t, _PLACEHOLDERS)
                     for lang, t in (e["shortfall"].get("text") or {}).items()]
        templates += [("measure", ("measure",), lang, t, {"value"}) for lang, t in (e.get("measure") or {}).items()]
        for what, where, lang, template, allowed in templates:
            try:
                names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            except ValueError as exc:
                self.problem(f"{what} ({lang}) is not a valid template: {exc}", path + where + (lang,), number)
                continue
            bad = names - allowed
            if bad:
                self.problem(f"{what} ({lang}) uses {', '.join(sorted(map(repr, bad)))}; allowed: {', '.join(sorted(allowed))}",
                             path + where + (lang,), number)
        if len(self.problems) > before:
            return None
        param = checks.THRESHOLD_PARAM[ctype](check)
        threshold: Any = True if param is None else check[param]
        if isinstance(threshold, list):
            threshold = tuple(threshold)
        elif ctype == "has_code":
            threshold = (threshold,)
        return Clause(
            clause=number, category=e["category"], level=Level(e["level"]), weight=e["weight"],
            veto=bool(e.get("veto", False)), title=e["title"], requirement=e["requirement"],
            source=tuple(e.get("source", ())), check=check, shortfall=e.get("shortfall", {}),
            not_applicable_when=tuple(e.get("not_applicable_when", ())), threshold=threshold,
            threshold_from=e["_set_by"]["threshold"], set_by=dict(e["_set_by"]), labels=labels,
            notes=tuple(e["_notes"]), measure=e.get("measure"),
        )


def _clause_key(number: str) -> tuple:
    parts = []
    for p in number.split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append((int(digits) if digits else 0, p))
    return tuple(parts)


def lint(path: "str | os.PathLike[str]") -> RuleSet:
    """Load a rule set file as ``load_ruleset`` does; raises RuleSetError with every problem."""
    return _compile(_resolve(os.fspath(path), None))
