"""A merged rule set → an immutable, compiled :class:`~compliance.model.RuleSet`.

Each clause is checked once more as a whole (its check type's lint: fields
exist and have the right type, codes are in the vocabulary; its texts hold
only the allowed placeholders), then compiled by its check type's record into
a closure, and the rule set's scoring is generated as one straight-line
function. Loading a rule set does all of this once; evaluation never reads
YAML again.
"""
from __future__ import annotations

import copyreg
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

from . import layers as layers_module
from . import reading
from .checks import CHECK_TYPES, Facts, LintContext, with_conditions
from .contract import field_schema, profile_fields
from .errors import MAX_PROBLEMS, PathItem, Problem, RuleSetError, problems_message
from .model import (CODE_LISTS, Category, Clause, FrozenDict, Grade, Level, RuleSet, Status, Vocabulary, clause_key,
                    freeze, thaw)
from .i18n import Message, msg, quote
from .wording import hinted, template_problems


def bundled_rulesets() -> tuple[str, ...]:
    """The names of the rule sets that come with the package (``national`` first), each a ``load_ruleset`` name."""
    return layers_module.bundled_names()


def load_ruleset(source: str | os.PathLike[str] | RuleSet = "national") -> RuleSet:
    """Load and compile a rule set: a bundled name, a YAML layer file, or a folder of layers.

    A layer's ``extends`` may name a bundled rule set or another layer file in
    its own folder. Raises :class:`~compliance.RuleSetError` listing the
    problems found (the first 100, and their number). Bundled rule sets are
    compiled once per process.
    """
    if isinstance(source, RuleSet):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"load_ruleset takes a name or a path, not a {type(source).__name__}")
    ref = os.fspath(source)
    if not ref:
        raise RuleSetError(msg("no rule set was named (an empty name or path)"), file=repr(ref))
    if "\0" in ref:
        raise RuleSetError(msg("a rule set name or path cannot contain a NUL character"), file=repr(ref))
    if ref in layers_module.bundled_names():
        return _load_bundled(ref)
    path, bundled = layers_module.resolve(ref)
    return compile_chain(layers_module.chain(path, bundled))


@functools.lru_cache(maxsize=None)
def _load_bundled(name: str) -> RuleSet:
    path, _ = layers_module.resolve(name)
    return compile_chain(layers_module.chain(path, True))


def _reduce_ruleset(rules: RuleSet) -> tuple[Any, ...]:
    """Pickle a rule set by where it came from: its compiled checks are rebuilt on arrival."""
    leaf = Path(rules.path).resolve()
    source = rules.id if leaf.parent == layers_module.bundled_dir().resolve() else str(leaf)
    return _restore_ruleset, (source, rules.content_hash)


def _restore_ruleset(source: str, content_hash: str) -> RuleSet:
    rules = load_ruleset(source)
    if rules.content_hash != content_hash:
        raise RuleSetError(msg("changed since the rule set was sent to another process (its content hash differs)"),
                           file=source)
    return rules


copyreg.pickle(RuleSet, _reduce_ruleset)


def lint(path: str | os.PathLike[str]) -> RuleSet:
    """Load a rule-set file or folder as ``load_ruleset`` does, never from the cache."""
    ref = os.fspath(path)
    resolved, bundled = layers_module.resolve(ref)
    return compile_chain(layers_module.chain(resolved, bundled))


def compile_chain(chain: list[layers_module.Layer]) -> RuleSet:
    merged, problems = layers_module.merge(chain)
    return Compiler(merged, problems).finish()


# --------------------------------------------------------------------------- the compiler

class Compiler:
    def __init__(self, merged: layers_module.Merged, problems: list[Problem]) -> None:
        self.m = merged
        self.problems = problems
        self.file = merged.leaf

    def problem(self, message: Message, path: tuple[PathItem, ...], clause: str | None = None) -> None:
        self.problems.append(Problem(message, path, self.file, clause=clause))

    def finish(self) -> RuleSet:
        m = self.m
        vocab = Vocabulary.of(m.vocab)
        clauses = [c for c in (self._clause(n, e, vocab) for n, e in m.clauses.items()) if c is not None]
        if not clauses and not self.problems:
            self.problem(msg("the rule set has no clauses left"), ())
        if clauses and all(c.weight == 0 for c in clauses):
            self.problem(msg("every clause has weight 0, so no score can be computed"), ())
        if not m.grades:
            self.problem(msg("no grades are defined"), ("grades",))
        elif len(m.grades) > 1 and min(g["min"] for g in m.grades[:-1]) > m.pass_score:
            lowest_pass = min(g["min"] for g in m.grades[:-1])
            self.problem(msg("a conforming centre scoring from {pass_score} to {lowest} would get the grade {grade} of a "
                             "non-conforming one: the lowest passing grade must start at or below the pass score "
                             "({pass_score})", pass_score=m.pass_score, lowest=lowest_pass, grade=quote(m.grades[-1]["id"])),
                         ("grades",))
        if self.problems:
            total = len(self.problems)
            raise RuleSetError(problems_message(total, msg("the rule set")), file=m.leaf, problems=self._located(), total=total)
        clauses.sort(key=lambda c: clause_key(c.clause))
        categories = tuple(Category(c["id"], freeze(c["title"])) for c in m.categories.values())
        grades = tuple(Grade(g["id"], g["min"], freeze(g["title"])) for g in m.grades)
        compiled = tuple(with_conditions(c, CHECK_TYPES[c.check_type].compile(c, vocab)) for c in clauses)
        return RuleSet(
            id=m.id, version=m.version, title=freeze(m.title), layers=tuple(m.layers),
            layer_versions=freeze(m.versions), categories=categories, grades=grades,
            pass_score=m.pass_score, vocabulary=vocab, clauses=tuple(clauses), disabled=tuple(m.disabled),
            content_hash=self._digest(clauses, vocab), path=m.leaf, layer_files=tuple(m.files),
            layer_titles=freeze(m.titles), checks=compiled,
            scorer=compile_scorer(compiled, clauses, tuple(c.id for c in categories)),
        )

    def _located(self) -> list[Problem]:
        """The first problems, each with its line: one line map per file, not one per problem."""
        shown = self.problems[:MAX_PROBLEMS]
        out: list[Problem] = []
        for file in dict.fromkeys(p.file for p in shown):
            mine = [p for p in shown if p.file == file and p.line is None]
            located = iter(reading.locate(mine, self.m.raws.get(file or "")))
            out += [next(located) if p.file == file and p.line is None else p for p in shown if p.file == file]
        return out

    def _digest(self, clauses: list[Clause], vocab: Vocabulary) -> str:
        m = self.m
        public = [{"clause": c.clause, "category": c.category, "level": c.level.value, "weight": c.weight,
                   "veto": c.veto, "check": thaw(c.check), "shortfall": thaw(c.shortfall), "title": thaw(c.title),
                   "requirement": thaw(c.requirement), "not_applicable_when": thaw(c.not_applicable_when),
                   "measure": thaw(c.measure)} for c in clauses]
        document = {"clauses": public, "vocabularies": thaw(vocab.entries), "grades": m.grades,
                    "pass_score": m.pass_score, "categories": list(m.categories.values()),
                    "disabled": [d.__dict__ for d in m.disabled]}
        text = json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _clause(self, number: str, e: dict[str, Any], vocab: Vocabulary) -> Clause | None:
        before = len(self.problems)
        self.file = e["_file"]
        path = e["_path"]
        found: list[Problem] = []

        def problem(message: Message, where: tuple[PathItem, ...]) -> None:
            found.append(Problem(message, path + where, self.file, clause=number))

        check = e["check"]
        record = CHECK_TYPES[check["type"]]
        if e["category"] not in self.m.categories:
            problem(hinted(msg("the category {name} is not defined", name=quote(e["category"])), e["category"],
                           self.m.categories), ("category",))
        ctx = LintContext(profile_fields(), vocab, e.get("shortfall", {}))
        for message, where in record.lint(check, ctx):
            problem(message, where)
        fields = profile_fields()
        for i, cond in enumerate(e.get("not_applicable_when", [])):
            if cond["field"] not in fields:
                problem(hinted(msg("{field} is not a profile field", field=quote(cond["field"])), cond["field"], fields),
                        ("not_applicable_when", i, "field"))
                continue
            for message, where in _impossible_values(cond):
                problem(message, ("not_applicable_when", i) + where)
        texts: list[tuple[str, tuple[PathItem, ...], str, str]] = [
            ("shortfall", ("shortfall", "text"), lang, t) for lang, t in (e["shortfall"].get("text") or {}).items()]
        texts += [("measure", ("measure",), lang, t) for lang, t in (e.get("measure") or {}).items()]
        fillable = record.placeholders(check, e.get("shortfall", {}))
        for kind, where, lang, template in texts:
            for message in template_problems(template, kind, fillable if kind == "shortfall" else None):
                problem(message, where + (lang,))
        self.problems.extend(found)     # lines are found once per file, in finish()
        if len(self.problems) > before:
            return None
        labels: dict[str, Mapping[str, str]] = {}
        vocab_name = CODE_LISTS.get(check.get("list", ""))
        for code in check.get("codes", [check["code"]] if "code" in check else []):
            entry = vocab.entries.get(vocab_name or "", {}).get(code)
            if entry is not None:
                labels[code] = {"zh": entry["zh"], "en": entry["en"]}
        return Clause(
            clause=number, category=e["category"], level=Level(e["level"]), weight=e["weight"],
            veto=bool(e.get("veto", False)), title=freeze(e["title"]), requirement=freeze(e["requirement"]),
            source=tuple(e.get("source", ())), check=freeze(check), shortfall=freeze(e.get("shortfall", {})),
            not_applicable_when=tuple(freeze(c) for c in e.get("not_applicable_when", ())),
            threshold=freeze(record.threshold(check)), threshold_from=e["_set_by"]["threshold"],
            set_by=FrozenDict(e["_set_by"]), labels=freeze(labels), notes=tuple(e["_notes"]),
            measure=freeze(e["measure"]) if e.get("measure") else None,
        )


def _impossible_values(condition: Mapping[str, Any]) -> list[tuple[Message, tuple[PathItem, ...]]]:
    """Values a not-applicable condition lists that the field can never hold ('rurall', "true" for a yes/no)."""
    import jsonschema

    schema = dict(field_schema(condition["field"]) or {})
    schema.pop("description", None)
    values = condition["in"] if "in" in condition else [condition["equals"]]
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for i, value in enumerate(values):
        if not validator.is_valid(value):
            if schema.get("type"):
                told = msg("{value} can never be the value of {field} (of the type {kind})", value=quote(value),
                           field=quote(condition["field"]), kind=quote(schema["type"]))
            else:
                told = msg("{value} can never be the value of {field} (one of {choices})", value=quote(value),
                           field=quote(condition["field"]), choices=[quote(c) for c in schema.get("enum", ())])
            where: tuple[PathItem, ...] = ("in", i) if "in" in condition else ("equals",)
            out.append((hinted(told, value, schema.get("enum", ())), where))
    return out


def compile_scorer(check_fns: tuple[Any, ...], clauses: list[Clause], category_ids: tuple[str, ...]) -> Callable[[Facts], tuple[Any, ...]]:
    """Generate one straight-line function that runs every check and sums the score.

    ``scorer(facts) -> (findings, total_weight, earned, category_weights, category_earned, vetoed)``.
    Looping over 30 clauses with their weights costs more than the checks
    themselves; unrolled, each clause is a call and a few local additions. The
    source is generated when the rule set is loaded, from indices only:
    checks, weights and flags are bound as names, never pasted in as text.
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
    cws = ", ".join(f"cw{j}" for j in range(ncat))
    ces = ", ".join(f"ce{j}" for j in range(ncat))
    lines.append(f"    return ({findings},), tw, te, ({cws},), ({ces},), vetoed")
    exec(compile("\n".join(lines) + "\n", "<rule set scorer>", "exec"), env)  # noqa: S102 - indices only
    scorer: Callable[[Facts], tuple[Any, ...]] = env["scorer"]
    return scorer
