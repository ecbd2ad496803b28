"""Rule tests as data: profiles with the outcomes a rule set must give them.

A district writes these beside its own layer and runs ``compliance rules test
DIR`` before an audit, as ``opa test`` or semgrep's rule tests are run. The
bundled rule sets carry theirs in ``rules/tests/<rule set>/``. A test file is
a YAML file whose name ends in ``.test.yaml``::

    rules: district.yaml          # a bundled name or a layer file, relative to this file; without it,
                                  # the rule set given to the runner (--rules), else the folder's name
    profile: base.yaml            # the profile every case starts from: a file (relative to this
                                  # file) or an inline mapping
    cases:
      - name: 办公用房超过两成，8:2 否决项不通过
        set:                      # dotted paths to change in the profile
          space.zones: [{kind: service_hall, area_m2: 150}, {kind: office, area_m2: 50}]
        unset: [space.open_plan]  # dotted paths to remove
        expect:
          verdict: non_conforming # conforming | non_conforming
          grade: unqualified
          score: 56.2
          vetoed: ["5.2"]
          clauses:
            "5.6": missing        # a status alone, or:
            "5.2": {status: fail, credit: 0, measured: 0.75, shortfall: 10.0}
      - name: 分区类型写错，档案无效
        set: {space.zones: [{kind: ofice, area_m2: 10}]}
        expect:
          problems: ["$.space.zones[0].kind"]    # the profile is refused, with these paths among its problems

``shortfall`` is the amount, or a mapping of ``amount``, ``unit`` and ``missing``;
``null`` expects no shortfall. Numbers compare within 1e-9.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import reading
from .compile import load_ruleset
from .errors import ComplianceError, Problem, ProfileError, RuleSetError, internal_error
from .evaluation import evaluate
from .i18n import Joined, Message, msg, plural, quote, text
from .model import RuleSet, RuleSource, Status, thaw
from .profile import load_profile

SUFFIX = ".test.yaml"
_CASE_KEYS = {"name", "set", "unset", "expect", "profile"}
_EXPECT_KEYS = {"verdict", "grade", "score", "vetoed", "clauses", "problems"}
_CLAUSE_KEYS = {"status", "credit", "measured", "shortfall", "message"}


@dataclass
class CaseResult:
    file: str
    line: int | None
    name: str
    failures: list[Message] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class Outcome:
    """Every case of every test file under a folder, and the files that could not be run."""

    cases: list[CaseResult] = field(default_factory=list)
    errors: list[tuple[Path, ComplianceError]] = field(default_factory=list)
    crashes: list[tuple[Path, Exception]] = field(default_factory=list)     # defects of this library

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]


def find_test_files(folder: str | os.PathLike[str]) -> list[Path]:
    root = Path(folder)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise RuleSetError(msg("no such folder of rule tests"), file=os.fspath(folder),
                           problems=[Problem(msg("no such folder of rule tests"), (), os.fspath(folder))])
    return sorted(p for p in root.rglob(f"*{SUFFIX}") if p.is_file())


def run(folder: str | os.PathLike[str], rules: RuleSource | None = None) -> Outcome:
    """Run every ``*.test.yaml`` under ``folder``; a bad file is reported and the others still run."""
    files = find_test_files(folder)
    if not files:
        told = msg("holds no rule test files (named {pattern})", pattern=quote("*" + SUFFIX))
        raise RuleSetError(told, file=os.fspath(folder), problems=[Problem(told, (), os.fspath(folder))])
    outcome = Outcome()
    for path in files:
        try:
            outcome.cases += run_file(path, rules)
        except ComplianceError as exc:
            outcome.errors.append((path, exc))
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the other files
            outcome.crashes.append((path, exc))
    return outcome


def _bad(path: Path, raw: bytes, message: Message, where: tuple[Any, ...]) -> RuleSetError:
    problem = reading.locate([Problem(message, where, str(path))], raw)[0]
    return RuleSetError(msg("is not a valid rule test file"), file=str(path), problems=[problem])


def run_file(path: Path, rules: RuleSource | None = None) -> list[CaseResult]:
    """Run the cases of one test file."""
    data, raw = reading.load(path, RuleSetError)
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not data["cases"]:
        raise _bad(path, raw, msg("a rule test file is a mapping with a non-empty list of {cases}", cases=quote("cases")),
                   ())
    unknown = set(data) - {"rules", "profile", "cases"}
    if unknown:
        raise _bad(path, raw, msg("unknown key {key} (the keys are {keys})", key=quote(sorted(unknown)[0]),
                                  keys=[quote(k) for k in ("rules", "profile", "cases")]), ())
    ruleset = _ruleset(path, raw, data, rules)
    base = _profile_source(path, raw, data.get("profile"), ("profile",))
    lines = reading.line_map(raw)
    results = []
    for i, case in enumerate(data["cases"]):
        where = ("cases", i)
        if not isinstance(case, dict) or not isinstance(case.get("expect"), dict) or not case.get("name"):
            raise _bad(path, raw, msg("each case needs a {name} and an {expect} mapping", name=quote("name"),
                                      expect=quote("expect")), where)
        extra = set(case) - _CASE_KEYS
        if extra:
            raise _bad(path, raw, msg("unknown key {key} in a case (the keys are {keys})", key=quote(sorted(extra)[0]),
                                      keys=[quote(k) for k in sorted(_CASE_KEYS)]), where)
        bad_expect = set(case["expect"]) - _EXPECT_KEYS
        if bad_expect:
            raise _bad(path, raw, msg("unknown expectation {key}; expected one of {keys}", key=quote(sorted(bad_expect)[0]),
                                      keys=[quote(k) for k in sorted(_EXPECT_KEYS)]), where + ("expect",))
        for message, at in _shape_problems(case):
            raise _bad(path, raw, message, where + at)
        start = _profile_source(path, raw, case["profile"], where + ("profile",)) if "profile" in case else base
        if start is None:
            raise _bad(path, raw, msg("no profile: give {profile} at the top of the file or in the case",
                                      profile=quote("profile:")), where)
        document = _apply(path, raw, thaw(start), case.get("set", {}), case.get("unset", []), where)
        result = CaseResult(str(path), lines.get(where), str(case["name"]))
        result.failures = _check(document, ruleset, case["expect"], path, raw, where)
        results.append(result)
    return results


def _is_list_of(value: Any, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, list) and all(isinstance(v, kinds) and not isinstance(v, bool) for v in value)


def _shape_problems(case: Mapping[str, Any]) -> list[tuple[Message, tuple[Any, ...]]]:
    """What is wrong with the form of one case (types only; the values are checked by running it)."""
    out: list[tuple[Message, tuple[Any, ...]]] = []
    if not isinstance(case["name"], str):
        out.append((msg("{key} is text", key=quote("name")), ("name",)))
    if not isinstance(case.get("set", {}), dict):
        out.append((msg("{key} maps dotted paths to values", key=quote("set")), ("set",)))
    if not _is_list_of(case.get("unset", []), (str,)):
        out.append((msg("{key} is a list of dotted paths", key=quote("unset")), ("unset",)))
    expect = case["expect"]
    lists: tuple[tuple[str, tuple[type, ...], Message], ...] = (
        ("vetoed", (str,), msg("{key} is a list of clause numbers, quoted ({good}, not {bad})", key=quote("vetoed"),
                               good=quote('"5.10"'), bad=quote("5.10"))),
        ("problems", (str,), msg("{key} is a list of paths such as {example}", key=quote("problems"),
                                 example=quote("$.space.zones[0].kind"))))
    for key, kinds, what in lists:
        if key in expect and not _is_list_of(expect[key], kinds):
            out.append((what, ("expect", key)))
    scalars: tuple[tuple[str, tuple[type, ...]], ...] = (("verdict", (str,)), ("grade", (str,)),
                                                         ("score", (int, float)))
    for key, kinds in scalars:
        if key in expect and (not isinstance(expect[key], kinds) or isinstance(expect[key], bool)):
            out.append((msg("{key} is a number", key=quote(key)) if key == "score" else
                        msg("{key} is text", key=quote(key)), ("expect", key)))
    clauses = expect.get("clauses", {})
    if not isinstance(clauses, dict):
        return out + [(msg("{key} maps clause numbers to expectations", key=quote("clauses")), ("expect", "clauses"))]
    for number, wanted in clauses.items():
        at = ("expect", "clauses", number)
        clause = quote(str(number))
        if isinstance(wanted, str):
            continue
        if not isinstance(wanted, dict) or set(wanted) - _CLAUSE_KEYS:
            out.append((msg("clause {clause}: expect a status or a mapping of {keys}", clause=clause,
                            keys=[quote(k) for k in sorted(_CLAUSE_KEYS)]), at))
            continue
        if "status" in wanted and not isinstance(wanted["status"], str):
            out.append((msg("clause {clause}: the status is text ({statuses})", clause=clause,
                            statuses=[quote(s.value) for s in Status]), at))
        short = wanted.get("shortfall")
        if isinstance(short, dict):
            if set(short) - {"amount", "unit", "missing"}:
                out.append((msg("clause {clause}: a shortfall has {keys}", clause=clause,
                                keys=[quote(k) for k in ("amount", "unit", "missing")]), at))
            elif "missing" in short and not _is_list_of(short["missing"], (str,)):
                out.append((msg("clause {clause}: a shortfall's {key} is a list of codes", clause=clause,
                                key=quote("missing")), at))
            elif "amount" in short and (not isinstance(short["amount"], (int, float)) or isinstance(short["amount"], bool)):
                out.append((msg("clause {clause}: a shortfall's {key} is a number", clause=clause,
                                key=quote("amount")), at))
        elif short is not None and (not isinstance(short, (int, float)) or isinstance(short, bool)):
            out.append((msg("clause {clause}: a shortfall is an amount, a mapping, or {null}", clause=clause,
                            null=quote("null")), at))
    return out


def _ruleset(path: Path, raw: bytes, data: Mapping[str, Any], rules: RuleSource | None) -> RuleSet:
    """The file's own ``rules:`` first, then the one given to the runner, then the folder's name."""
    named = data.get("rules")
    if named is None and rules is not None:
        return load_ruleset(rules)
    if named is not None:
        if not isinstance(named, str):
            raise _bad(path, raw, msg("{key} names a bundled rule set or a layer file", key=quote("rules")), ("rules",))
        from .layers import bundled_names

        return load_ruleset(named if named in bundled_names() else path.parent / named)
    folder = path.parent.name
    from .layers import bundled_names

    if folder in bundled_names():
        return load_ruleset(folder)
    raise _bad(path, raw, msg("which rule set? add {key} to the file, or give {option}", key=quote("rules: NAME"),
                              option=quote("--rules")), ())


def _profile_source(path: Path, raw: bytes, spec: Any, where: tuple[Any, ...]) -> Mapping[str, Any] | None:
    if spec is None:
        return None
    if isinstance(spec, dict):
        return spec
    if isinstance(spec, str):
        data, _ = reading.load(path.parent / spec, ProfileError)
        if not isinstance(data, dict):
            raise _bad(path, raw, msg("{file} does not hold a profile mapping", file=quote(spec)), where)
        return data
    raise _bad(path, raw, msg("{key} is a file name or a mapping", key=quote("profile")), where)


def _apply(path: Path, raw: bytes, doc: dict[str, Any], changes: Any, removals: Any,
           where: tuple[Any, ...]) -> dict[str, Any]:
    if not isinstance(changes, dict) or not isinstance(removals, list):
        raise _bad(path, raw, msg("{set} is a mapping of dotted paths and {unset} a list of them", set=quote("set"),
                                  unset=quote("unset")), where)
    for dotted, value in changes.items():
        node, key = _walk(path, raw, doc, str(dotted), where + ("set", dotted), create=True)
        node[key] = thaw(value)
    for dotted in removals:
        node, key = _walk(path, raw, doc, str(dotted), where + ("unset",), create=False)
        node.pop(key, None)
    return doc


def _walk(path: Path, raw: bytes, doc: dict[str, Any], dotted: str, where: tuple[Any, ...],
          create: bool) -> tuple[dict[str, Any], str]:
    keys = dotted.split(".")
    node: Any = doc
    for key in keys[:-1]:
        if isinstance(node, dict) and key not in node and create:
            node[key] = {}
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            if not create:
                return {}, keys[-1]
            raise _bad(path, raw, msg("{path} does not lead to a mapping in the profile", path=quote(dotted)), where)
    return node, keys[-1]


def _check(document: dict[str, Any], rules: RuleSet, expect: Mapping[str, Any], path: Path, raw: bytes,
           where: tuple[Any, ...]) -> list[Message]:
    failures: list[Message] = []
    try:
        profile = load_profile(document, rules=rules)
    except ProfileError as exc:
        wanted = expect.get("problems")
        if wanted is None:
            return [msg("the profile was refused: {path}: {problem}", path=p.json_path, problem=p.text)
                    for p in exc.problems[:5]]
        found = {p.json_path for p in exc.problems}
        return [msg("expected a problem at {path}, got {found}", path=w, found=sorted(found))
                for w in wanted if w not in found]
    if "problems" in expect:
        return [msg("expected the profile to be refused at {paths}; it was accepted",
                    paths=[str(p) for p in expect["problems"]])]
    result = evaluate(profile, rules)
    for key in ("verdict", "grade"):
        if key in expect:
            got = result.verdict.value if key == "verdict" else result.grade
            if got != expect[key]:
                failures.append(_expected(key, expect[key], got))
    if "score" in expect and not _same(result.score, expect["score"]):
        failures.append(_expected("score", expect["score"], result.score))
    if "vetoed" in expect:
        vetoed = [f.clause.clause for f in result.vetoed]
        if sorted(map(str, expect["vetoed"])) != sorted(vetoed):
            failures.append(_expected("vetoed", list(expect["vetoed"]), vetoed))
    clauses = expect.get("clauses", {})
    if not isinstance(clauses, dict):
        raise _bad(path, raw, msg("{key} maps clause numbers to expectations", key=quote("clauses")),
                   where + ("expect", "clauses"))
    for number, wanted in clauses.items():
        number = str(number)
        try:
            finding = result.finding(number)
        except KeyError:
            failures.append(msg("{clause}: not a clause of the rule set {name}", clause=number, name=quote(rules.id)))
            continue
        spec: Any = {"status": wanted} if isinstance(wanted, str) else wanted
        if not isinstance(spec, dict) or set(spec) - _CLAUSE_KEYS:
            raise _bad(path, raw, msg("clause {clause}: expect a status or a mapping of {keys}", clause=quote(number),
                                      keys=[quote(k) for k in sorted(_CLAUSE_KEYS)]),
                       where + ("expect", "clauses", number))
        failures += [msg("{clause} {failure}", clause=number, failure=m) for m in _clause_failures(finding, spec)]
    return failures


def _expected(what: str, want: Any, got: Any) -> Message:
    return msg("{what}: expected {want}, got {got}", what=quote(what), want=quote(want, 200), got=quote(got, 200))


def _clause_failures(finding: Any, wanted: Mapping[str, Any]) -> list[Message]:
    out = []
    if "status" in wanted and finding.status.value != wanted["status"]:
        out.append(_expected("status", wanted["status"], finding.status.value))
    credit = None if finding.status.value == "not_applicable" else finding.credit     # as the result document
    if "credit" in wanted and not _same(credit, wanted["credit"]):
        out.append(_expected("credit", wanted["credit"], credit))
    if "measured" in wanted and not _same(finding.measured, wanted["measured"]):
        out.append(_expected("measured", wanted["measured"], finding.measured))
    if "message" in wanted and not any(str(wanted["message"]) in finding.message(lang) for lang in ("zh", "en")):
        out.append(msg("{what}: expected it to contain {want}, got {got}", what=quote("message"), want=quote(wanted["message"]),
                       got=quote(finding.message("zh"), 200)))
    if "shortfall" in wanted:
        want = wanted["shortfall"]
        got = finding.shortfall
        if want is None:
            if got is not None:
                out.append(msg("{what}: expected none, got {got}", what=quote("shortfall"), got=quote(f"{got.amount} {got.unit}")))
        elif got is None:
            out.append(msg("{what}: expected {want}, got none", what=quote("shortfall"), want=quote(want)))
        else:
            want = want if isinstance(want, dict) else {"amount": want}
            if "amount" in want and not _same(got.amount, want["amount"]):
                out.append(_expected("shortfall.amount", want["amount"], got.amount))
            if "unit" in want and got.unit != want["unit"]:
                out.append(_expected("shortfall.unit", want["unit"], got.unit))
            if "missing" in want and list(got.missing) != list(want["missing"]):
                out.append(_expected("shortfall.missing", list(want["missing"]), list(got.missing)))
    return out


def _same(got: Any, want: Any) -> bool:
    if isinstance(got, bool) or isinstance(want, bool) or got is None or want is None:
        return got is want or got == want and type(got) is type(want)
    if isinstance(got, (int, float)) and isinstance(want, (int, float)):
        return math.isclose(got, want, rel_tol=0, abs_tol=1e-9)
    return bool(got == want)


def error_lines(outcome: Outcome) -> Sequence[str]:
    """The test files that could not be run, each named with what stopped it."""
    lines = [f"{path}: " + text(internal_error(exc)) for path, exc in outcome.crashes]
    for path, error in outcome.errors:
        text = str(error)
        lines.append(text if error.file == str(path) else f"{path}: {text}")
    return lines


def summary(outcome: Outcome) -> Sequence[str]:
    """The lines ``compliance rules test`` prints."""
    lines = []
    ok, failed_mark = text(msg("ok")), text(msg("FAIL"))
    width = max(len(ok), len(failed_mark)) + 2
    for case in outcome.cases:
        where = f"{case.file}:{case.line}" if case.line else case.file
        if case.passed:
            lines.append(f"{ok:<{width}}{where}  {case.name}")
        else:
            lines.append(f"{failed_mark:<{width}}{where}  {case.name}")
            lines += [f"        {f}" for f in case.failures]
    failed = len(outcome.failed)
    parts = [plural("{count} case", "{count} cases", len(outcome.cases)),
             msg("{count} passed", count=len(outcome.cases) - failed), msg("{count} failed", count=failed)]
    if outcome.errors:
        parts.append(plural("{count} file could not be run", "{count} files could not be run", len(outcome.errors)))
    if outcome.crashes:
        parts.append(plural("{count} file stopped by an internal error", "{count} files stopped by an internal error",
                            len(outcome.crashes)))
    lines.append(text(Joined(parts, "comma")))
    return lines
