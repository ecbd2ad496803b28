"""The columnar round engine: a chunk of centres scored clause by clause over NumPy columns.

A round reads and validates its records one by one, as ever (every problem located at its line or cell);
the facts of the valid ones go into a chunk, and each clause scores the whole chunk in a few vector passes
(its check type's ``compile_columns``). Where a closed form cannot settle a row exactly (a remedy the
estimate does not bracket, a score within a hair of a GB/T 8170 tie), the scalar path decides that row: the
clause's compiled closure, the evaluator's exact rescoring. The findings, scores, grades and verdicts are
therefore the scalar evaluator's, bit for bit; ``tests/test_columns.py`` holds the two engines to it.

The worker's task is ``run.audit_chunk_columns``: the same outcomes as ``run.audit_chunk`` (result lines and
table rows), with the records the engine does not take (evidence, an audit block, a warning, a waiver, an
invalid record) audited the scalar way; with ``--results parquet`` also the chunk's rows of results.parquet,
made here without Arrow (:func:`chunk_part`, :func:`encode_part`) and turned into Arrow and written by the
round's process at the end (:func:`decode_part`, :func:`write_parquet`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import threading
from collections import Counter
from decimal import Decimal
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import orjson
from numpy.typing import NDArray

from .. import reading
from ..checks import (CHECK_TYPES, CODE_OF_STATUS, S_FAIL, S_MISSING, S_NA, S_PARTIAL, S_PASS, ColumnCheck, Check,
                      Facts, Scored, condition_columns, getter)
from ..evaluation import rescore
from ..model import (CODE_LISTS, SELF_CHECK, STATUS_LETTER, Clause, Profile, RuleSet, Status, Verdict,
                     Vocabulary, make_profile, plain_document)
from ..profile import clean_facts
from ..wording import remedy_sum
from ..result import NEAR_TIE as _NEAR_TIE, AuditResult, CategoryScore, Finding, exact, fast_constructor
from .lines import summary_lines
from .sources import PROFILE_SUFFIXES

_result: Callable[..., AuditResult] = fast_constructor(AuditResult)
_category: Callable[..., CategoryScore] = fast_constructor(CategoryScore)
_NA = Status.NOT_APPLICABLE


# --------------------------------------------------------------------------- the columns of a chunk

class Chunk:
    """The :class:`~compliance.checks.Columns` of some centres' facts, each column gathered when first asked for."""

    def __init__(self, facts: Sequence[Facts], sections: Mapping[str, tuple[str, ...]] | None = None,
                 vocabulary: Vocabulary | None = None) -> None:
        self.facts = facts
        self.n = len(facts)
        self._sections = sections or {}     # section → the keys of it the rule set reads: gathered together
        self._alphabets = {} if vocabulary is None else _alphabets(vocabulary)
        self._sets: dict[str, list[set[str] | None]] = {}
        self._values: dict[str, list[Any]] = {}
        self._numbers: dict[str, tuple[NDArray[np.float64], NDArray[np.bool_]]] = {}
        self._areas: dict[tuple[str, ...], NDArray[np.float64]] = {}
        self._total: NDArray[np.float64] | None = None
        self._present: dict[tuple[str, tuple[str, ...]], tuple[NDArray[Any], NDArray[np.bool_]]] = {}
        self._bits: dict[str, tuple[dict[str, int], NDArray[np.int64] | None, NDArray[np.bool_]]] = {}

    def values(self, field: str) -> list[Any]:
        found = self._values.get(field)
        if found is None:
            section, _, key = field.partition(".")
            keys = self._sections.get(section, ())
            if key in keys and "." not in key:          # every field the rules read of this section, in one pass
                nothing = (None,) * len(keys)
                rows = [nothing if (part := f.data.get(section)) is None else tuple(map(part.get, keys))
                        for f in self.facts]
                for name, column in zip(keys, zip(*rows) if rows else [()] * len(keys)):
                    self._values[f"{section}.{name}"] = list(column)
                return self._values[field]
            read = getter(field)
            found = self._values[field] = [read(f.data) for f in self.facts]
        return found

    def number(self, field: str) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        found = self._numbers.get(field)
        if found is None:
            values = self.values(field)
            if None in values:
                given = np.fromiter((v is not None for v in values), bool, self.n)
                column = np.array([0.0 if v is None else v for v in values], dtype=np.float64)
            else:
                given = np.ones(self.n, bool)
                column = np.array(values, dtype=np.float64)
            found = self._numbers[field] = (column, given)
        return found

    def area(self, classes: tuple[str, ...]) -> NDArray[np.float64]:
        found = self._areas.get(classes)
        if found is None:
            if len(classes) == 1:
                (cls,) = classes
                found = np.fromiter((f.class_area.get(cls, 0.0) for f in self.facts), np.float64, self.n)
            elif len(classes) == 2:      # two floats add exactly as fsum would (checks._area)
                found = self.area(classes[:1]) + self.area(classes[1:])
            else:
                found = np.fromiter((math.fsum(f.class_area.get(c, 0.0) for c in classes) for f in self.facts),
                                    np.float64, self.n)
            self._areas[classes] = found
        return found

    def total(self) -> NDArray[np.float64]:
        found = self._total
        if found is None:           # kept apart from area(()), no class at all (a layer's ratio of a class to itself)
            found = self._total = np.array([f.total_area for f in self.facts], dtype=np.float64)
        return found

    def sets(self, list_name: str) -> list[set[str] | None]:
        found = self._sets.get(list_name)
        if found is None:
            found = self._sets[list_name] = [f.lists[list_name] for f in self.facts]
        return found

    def present(self, list_name: str, codes: tuple[str, ...]) -> tuple[NDArray[Any], NDArray[np.bool_]]:
        key = (list_name, codes)
        found = self._present.get(key)
        if found is None:
            sets = self.sets(list_name)
            at, masks, given = self._masks(list_name)
            if masks is not None and len(codes) <= 62:      # each code's bit moved from the list's to the clause's
                bits = np.zeros(self.n, np.int64)
                for k, code in enumerate(codes):
                    j = at.get(code)
                    if j is not None:
                        bits |= ((masks >> j) & 1) << k
            else:                                           # more codes than 62: Python's ints, any size
                bit = {c: 1 << k for k, c in enumerate(codes)}
                wanted, get = bit.keys(), bit.__getitem__
                bits = np.array([0 if s is None else sum(map(get, wanted & s)) for s in sets],
                                np.int64 if len(codes) <= 62 else object)
            found = self._present[key] = (bits, given)
        return found

    def _masks(self, list_name: str) -> tuple[dict[str, int], NDArray[np.int64] | None, NDArray[np.bool_]]:
        """Each row's codes of a list as the bits of one int64, once a list: bit j for the j-th code of the list's
        vocabulary, else of the codes the chunk's rows hold (no masks when they are more than 63); and where the
        list is given."""
        found = self._bits.get(list_name)
        if found is None:
            sets = self.sets(list_name)
            given = np.fromiter((s is not None for s in sets), bool, self.n)
            alphabet = self._alphabets.get(list_name)       # the vocabulary's codes of the list, when at most 63
            if alphabet is not None:
                try:
                    found = (alphabet[0], _masks_of(sets, alphabet[1], self.n), given)
                except KeyError:                            # a code outside it (a profile checked elsewhere)
                    found = None
            if found is None:
                held = sorted(set().union(*[s for s in sets if s is not None]))
                if len(held) > 63:
                    found = ({}, None, given)
                else:
                    found = ({c: j for j, c in enumerate(held)},
                             _masks_of(sets, {c: 1 << j for j, c in enumerate(held)}, self.n), given)
            self._bits[list_name] = found
        return found


def _masks_of(sets: Sequence[set[str] | None], bit: Mapping[str, int], n: int) -> NDArray[np.int64]:
    get = bit.__getitem__
    return np.fromiter((0 if s is None else sum(map(get, s)) for s in sets), np.int64, n)


_ALPHABETS: dict[int, tuple[Vocabulary, dict[str, tuple[dict[str, int], dict[str, int]]]]] = {}


def _alphabets(vocabulary: Vocabulary) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
    """For each profile list whose vocabulary has at most 63 codes: each code's place, and its bit."""
    found = _ALPHABETS.get(id(vocabulary))
    if found is None or found[0] is not vocabulary:
        lists = {name: vocabulary.codes[codes] for name, codes in CODE_LISTS.items()}
        found = _ALPHABETS[id(vocabulary)] = (vocabulary, {
            name: ({c: j for j, c in enumerate(sorted(codes))}, {c: 1 << j for j, c in enumerate(sorted(codes))})
            for name, codes in lists.items() if len(codes) <= 63})
    return found[1]


# --------------------------------------------------------------------------- a rule set, compiled to columns

@dataclass(frozen=True)
class _Compiled:
    clause: Clause
    column: ColumnCheck
    condition: Callable[[Chunk], NDArray[np.bool_]] | None
    scalar: Check                     # the compiled closure, conditions included: it settles rows exactly
    weight: float
    category: int
    not_applicable: Finding


_COMPILED: dict[int, tuple[RuleSet, tuple[_Compiled, ...], Mapping[str, tuple[str, ...]]]] = {}


def compiled(rules: RuleSet) -> tuple[_Compiled, ...]:
    """Every clause of ``rules`` in its columnar form, compiled once per rule set object."""
    return _compiled(rules)[1]


def _compiled(rules: RuleSet) -> tuple[RuleSet, tuple[_Compiled, ...], Mapping[str, tuple[str, ...]]]:
    found = _COMPILED.get(id(rules))
    if found is None or found[0] is not rules:
        cats = [c.id for c in rules.categories]
        forms = tuple(_Compiled(c, CHECK_TYPES[c.check_type].compile_columns(c, rules.vocabulary),
                                condition_columns(c), scalar, float(c.weight), cats.index(c.category),
                                Finding(c, _NA, 0.0, None, None, "condition"))
                      for c, scalar in zip(rules.clauses, rules.checks))
        sections: dict[str, list[str]] = {}
        for c in rules.clauses:         # the profile fields the clauses read, by section
            read = [c.check[k] for k in ("field", "numerator", "denominator") if isinstance(c.check.get(k), str)]
            read += [cond["field"] for cond in c.not_applicable_when]
            for name in read:
                section, _, key = name.partition(".")
                if key and "." not in key and key not in sections.setdefault(section, []):
                    sections[section].append(key)
        found = _COMPILED[id(rules)] = (rules, forms, {k: tuple(v) for k, v in sections.items()})
    return found


# --------------------------------------------------------------------------- scoring a chunk

@dataclass
class ChunkScores:
    """A chunk scored: per clause and row the status code, credit, measured value and remedy (NaN where none);
    per row the score, grade, verdict and category scores. ``result(i, profile)`` is row i as the scalar
    evaluator makes it."""

    rules: RuleSet
    n: int
    status: NDArray[np.int8]            # clauses × rows
    credit: NDArray[np.float64]
    measured: NDArray[np.float64]
    amount: NDArray[np.float64]
    score: NDArray[np.float64]
    grade: NDArray[np.int16]            # index into rules.grades
    conforming: NDArray[np.bool_]
    categories: NDArray[np.float64]     # categories × rows, NaN where no clause of it applies
    category_weight: NDArray[np.float64]
    scored: list[Scored]
    settled: list[dict[int, Finding]]   # per clause, the rows decided one by one (conditions, settled remedies)
    exact: dict[int, tuple[float, str, Verdict, tuple[CategoryScore, ...]]] = field(default_factory=dict)

    def findings(self, i: int) -> tuple[Finding, ...]:
        return tuple(done[i] if i in done else s.finding(i) for s, done in zip(self.scored, self.settled))

    def result(self, i: int, profile: Profile) -> AuditResult:
        findings = self.findings(i)
        rules = self.rules
        figures = self.exact.get(i)
        if figures is not None:
            score, grade, verdict, categories = figures
        else:
            score = float(self.score[i])
            conforming = bool(self.conforming[i])
            verdict = Verdict.CONFORMING if conforming else Verdict.NON_CONFORMING
            grade = rules.grades[int(self.grade[i])].id
            categories = tuple(_category(c.id, None if w == 0 else float(s), float(w))
                               for c, s, w in zip(rules.categories, self.categories[:, i], self.category_weight[:, i]))
        return _result(profile, rules, score, grade, verdict, categories, findings, SELF_CHECK)


def _measured(f: Finding) -> float:
    m = f.measured
    if m is None:
        return math.nan
    return float(m)


def score_chunk(rules: RuleSet, facts: Sequence[Facts]) -> ChunkScores:
    """Score a chunk of centres against ``rules``, column by column, exactly as :func:`~compliance.evaluate`."""
    _, forms, sections = _compiled(rules)
    cols = Chunk(facts, sections, rules.vocabulary)
    n, m, ncat = len(facts), len(forms), len(rules.categories)
    status = np.empty((m, n), np.int8)
    credit = np.empty((m, n), np.float64)
    measured = np.empty((m, n), np.float64)
    amount = np.empty((m, n), np.float64)
    total_weight, earned = np.zeros(n), np.zeros(n)
    cat_weight, cat_earned = np.zeros((ncat, n)), np.zeros((ncat, n))
    vetoed = np.zeros(n, bool)
    scored: list[Scored] = []
    settled: list[dict[int, Finding]] = []
    for j, form in enumerate(forms):
        s = form.column(cols)
        if s.alike is not None:
            s = dataclasses.replace(s, finding=_shared(s.finding, s.alike))
        scored.append(s)
        status[j], credit[j], measured[j], amount[j] = s.status, s.credit, s.measured, s.amount
        done: dict[int, Finding] = {}
        settle = s.settle
        if form.condition is not None:
            na = form.condition(cols)
            if na.any():
                status[j][na], credit[j][na], measured[j][na], amount[j][na] = S_NA, 0.0, math.nan, math.nan
                done.update(dict.fromkeys(np.flatnonzero(na).tolist(), form.not_applicable))
                settle = settle & ~na
        for i in np.flatnonzero(settle).tolist():       # the few rows a closed form does not settle
            f = form.scalar(facts[i])
            done[i] = f
            status[j, i], credit[j, i], measured[j, i] = CODE_OF_STATUS[f.status], f.credit, _measured(f)
            amount[j, i] = math.nan if f.shortfall is None else float(f.shortfall.amount)
        settled.append(done)
        # the compiled scorer's sums, in its order: a row's sum gains w (and w × credit) where the clause applies
        applies = status[j] != S_NA
        w = form.weight
        weight = np.where(applies, w, 0.0)
        earn = np.where(applies, w * credit[j], 0.0)
        total_weight += weight
        earned += earn
        cat_weight[form.category] += weight
        cat_earned[form.category] += earn
        if form.clause.veto:
            vetoed |= (status[j] == S_FAIL) | (status[j] == S_MISSING)
    score, near = _rounded(earned, total_weight)
    categories = np.empty((ncat, n))
    near_in: list[NDArray[np.bool_]] = []
    for k in range(ncat):
        categories[k], near_k = _rounded(cat_earned[k], cat_weight[k])
        near_in.append(near_k)
    # a score within a hair of a tie is decided on the exact value, in integers over the whole chunk
    near = _settle_ties(forms, status, credit, (score, earned, total_weight, near),
                        [(categories[k], cat_earned[k], cat_weight[k], near_in[k]) for k in range(ncat)])
    rounded = np.where(total_weight != 0, score, 0.0)
    conforming = ~vetoed & ~(rounded < rules.pass_score)
    last = len(rules.grades) - 1
    grade = np.full(n, last, np.int16)
    for k in range(last, -1, -1):           # the first grade whose minimum the score reaches
        grade[rounded >= rules.grades[k].min] = k
    grade[~conforming] = last
    chunk = ChunkScores(rules, n, status, credit, measured, amount, rounded, grade, conforming, categories, cat_weight,
                        scored, settled)
    grade_index = {g.id: k for k, g in enumerate(rules.grades)}
    for i in np.flatnonzero(near).tolist():      # denominators beyond 64-bit integers: the evaluator's fractions
        figures = chunk.exact[i] = rescore(rules, chunk.findings(i))
        chunk.score[i], chunk.grade[i] = figures[0], grade_index[figures[1]]
        chunk.conforming[i] = figures[2] is Verdict.CONFORMING
        chunk.categories[:, i] = [math.nan if c.score is None else c.score for c in figures[3]]
    return chunk


def _shared(make: Callable[[int], Finding], alike: NDArray[Any]) -> Callable[[int], Finding]:
    """A clause's ``finding`` made once for rows alike (:attr:`~compliance.checks.Scored.alike`)."""
    keys: list[Any] = []
    made: dict[Any, Finding] = {}

    def finding(i: int) -> Finding:
        if not keys:
            keys.extend(alike.tolist())
        key = keys[i]
        found = made.get(key)
        if found is None:
            found = made[key] = make(i)
        return found

    return finding


_EXACT: dict[float, Fraction] = {}
EXACT_LIMIT = 1 << 50       # a chunk's integer sums, times 1,000, must stay within 63 bits


def _exact(value: float) -> Fraction:
    """:func:`~compliance.result.exact`, remembered: a rule set's credits and weights are few values."""
    found = _EXACT.get(value)
    if found is None:
        if len(_EXACT) > 4096:
            _EXACT.clear()
        found = _EXACT[value] = exact(value)
    return found


Sums = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]


def _settle_ties(forms: Sequence[_Compiled], status: NDArray[np.int8], credit: NDArray[np.float64], whole: Sums,
                 categories: Sequence[Sums]) -> NDArray[np.bool_]:
    """The scores (``whole``: score, earned, weight, near a tie; and each category's) within a hair of a GB/T 8170
    tie settled in place as :func:`~compliance.evaluation.rescore` settles them: the float where
    ``round_score``'s own test finds no tie, else the exact quotient of ``exact`` weights and credits, rounded
    half to even. The sums are made in integers, over a denominator common to the chunk's credits and weights;
    the rows returned are those it would overflow 64 bits for (left to the evaluator's fractions)."""
    rows = whole[3].copy()
    for sums in categories:
        rows |= sums[3]
    at = np.flatnonzero(rows)
    if not at.size:
        return rows
    counted = status[:, at] != S_NA
    values, where = np.unique(np.where(counted, credit[:, at], 0.0), return_inverse=True)
    credits = [_exact(float(v)) for v in values.tolist()]
    weights = [_exact(f.weight) for f in forms]
    dc = math.lcm(*(c.denominator for c in credits))
    dw = math.lcm(*(w.denominator for w in weights))
    wi = [int(w * dw) for w in weights]
    ci = [int(c * dc) for c in credits]
    if sum(map(abs, wi)) * max(dc, *map(abs, ci)) >= EXACT_LIMIT:
        return rows
    w = np.array(wi, np.int64)[:, None]
    num = np.where(counted, w * np.array(ci, np.int64)[where.reshape(counted.shape)], 0)
    den = np.where(counted, w * dc, 0)
    in_category = np.array([f.category for f in forms])
    for k, (score, earned, weight, near) in enumerate([whole, *categories]):
        mine = near[at]
        if not mine.any():
            continue
        chosen = slice(None) if k == 0 else in_category == k - 1
        n_, d_ = num[chosen][:, mine].sum(axis=0), den[chosen][:, mine].sum(axis=0)
        e_, w_ = earned[at[mine]], weight[at[mine]]
        with np.errstate(all="ignore"):
            tenths = 100.0 * e_ / w_ * 10                   # round_score's own test, on its own float
            tie = ~(np.abs(tenths - np.floor(tenths) - 0.5) > _NEAR_TIE)
            q, r = np.divmod(1000 * n_, d_)
            q = q + ((2 * r > d_) | ((2 * r == d_) & (q % 2 == 1)))
            score[at[mine]] = np.where(tie, q / 10, np.floor(tenths + 0.5) / 10)
    return np.zeros_like(rows)


def _rounded(earned: NDArray[np.float64], weight: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """100 × earned / weight to one decimal (NaN where the weight is 0), and the rows near a tie."""
    with np.errstate(all="ignore"):
        tenths = 1000.0 * earned / weight
        near = (weight != 0) & ~(np.abs(tenths - np.floor(tenths) - 0.5) > 1e-6)
        score = np.where(weight != 0, np.floor(tenths + 0.5) / 10, np.nan)
    return score, near


# --------------------------------------------------------------------------- the worker's task

def fast_profile(location: str, raw: bytes | None, document: dict[str, Any] | None,
                 rules: RuleSet) -> Profile | None:
    """The profile of a record the engine takes: a line of JSON Lines or a table row, valid, without a key the
    contract does not know, evidence or an audit block. None for any other (audited the scalar way, which says
    what is wrong and where)."""
    written = False         # whether raw is the document as orjson writes it
    if raw is not None:
        if location.endswith(PROFILE_SUFFIXES):
            return None
        # A line exactly as orjson writes what it read (compact, nothing escaped: most machine-written lines) has no
        # key written twice: orjson keeps the last of two, and its own line would be shorter. (A line with a space
        # after its first key, or a backslash, is not: it is not written back.) Any other line is counted as
        # reading.fast_json counts it, without its guard against 19 digits in a row (orjson reads an integer beyond
        # 64 bits as a float, but every number the schema takes is at most 10,000,000).
        colon = raw.find(b'":')
        try:
            data = orjson.loads(raw)
            written = 0 < colon and raw[colon + 2:colon + 3] != b" " and b"\\" not in raw and orjson.dumps(data) == raw
        except (orjson.JSONDecodeError, TypeError):     # not JSON, or nested deeper than orjson reads or writes
            return None
        if not written and not reading.keys_end_in_quote_colon(raw):
            return None
    else:
        data = document
    if not isinstance(data, dict) or "audit" in data or "evidence" in data:
        return None
    facts = clean_facts(data, rules.vocabulary)
    if facts is None or raw is not None and not written and _keys_of(data) != _keys_written(raw):
        return None
    digest = None if raw is None else hashlib.sha256(raw).hexdigest()
    return make_profile(data, location, digest, facts, rules.vocabulary, ())


def _keys_of(data: dict[str, Any]) -> int:
    """How many keys a profile the closed schema accepts has (without an audit block or evidence): its objects
    are the document, its centre, region, population, space, zones, staff and services, and no other."""
    center, space = data["center"], data["space"]
    keys = len(data) + len(center) + len(data["population"]) + len(space) + sum(map(len, space["zones"]))
    for part in (center.get("region"), data.get("staff"), data.get("services")):
        if part is not None:
            keys += len(part)
    return keys


def _keys_written(raw: bytes) -> int:
    """How many keys ``raw`` writes, when :func:`~compliance.reading.keys_end_in_quote_colon` holds (else
    :func:`fast_profile` turns it away): each key ends in ``":``, and a ``":`` inside a string is written
    ``\\":`` (a key that ends so is not one the closed schema knows). One more than :func:`_keys_of` finds in
    the parsed document means a key written twice, which orjson keeps the last of and the careful reader refuses.
    """
    written = raw.count(b'":')
    return written - raw.count(b'\\":') if b"\\" in raw else written


class RowsTable:
    """A chunk's rows of ``results.parquet``, shared by the chunk's outcomes: :func:`encode_part`'s bytes, made by
    the worker without Arrow (each worker would hold 50 MB of it) and turned into Arrow by the round at the end."""

    __slots__ = ("data", "rows")

    def __init__(self, data: bytes, rows: int) -> None:
        self.data = data
        self.rows = rows


@dataclass
class Figures:
    """What the tally counts of a chunk's rows, column by column (the columnar engine's; see ``read_rows`` for the
    same figures in each row): score, grade, verdict, category scores (a list per category), status letters,
    region (province, city, district, street), assessment date; and the remedies' totals, (clause, unit) →
    (centres, exact total), which add up the same in any order."""

    score: list[float]
    grade: list[str]
    verdict: list[str]
    cats: list[list[float | None]]
    st: list[str]
    region: list[tuple[str, str, str, str]]
    date: list[str]
    remedies: dict[tuple[str, str], tuple[int, Decimal]]


def chunk_rows(chunk: ChunkScores, profiles: Sequence[Profile],
               heads: Sequence[list[Any]] | None = None) -> tuple[list[bytes], Figures]:
    """Each row's line of the round's tables (``run.audited``'s ``row``), made from the columns: whole matrices
    are turned into Python values once, and each row only picks its own; and the same figures by column, which
    the round's tally counts without reading the rows again. ``heads``: the profiles' :func:`profile_heads`, if made."""
    import orjson

    if heads is None:
        heads = profile_heads(profiles)
    rules = chunk.rules
    m = len(rules.clauses)
    letters = bytes.maketrans(bytes(range(5)), "".join(STATUS_LETTER[s] for s in (
        Status.PASS, Status.PARTIAL, Status.FAIL, Status.MISSING, Status.NOT_APPLICABLE)).encode("ascii"))
    by_row = np.ascontiguousarray(chunk.status.T)            # rows × clauses
    st = by_row.tobytes().translate(letters).decode("ascii")
    partial = by_row == S_PARTIAL
    actions = ((by_row == S_FAIL) | partial).sum(axis=1).tolist()
    n = chunk.n
    rows, cols = np.nonzero(partial)                         # row by row, each row's clauses in order
    pc = _by_row(rows, chunk.credit.T[rows, cols].tolist(), n)
    clauses = [c.clause for c in rules.clauses]
    units = ["items" if c.check_type in _LISTED else c.shortfall_unit or "m2" for c in rules.clauses]
    rows, cols = np.nonzero(~np.isnan(chunk.amount.T))
    picked = cols.tolist()
    amt = _by_row(rows, list(zip(map(clauses.__getitem__, picked), map(units.__getitem__, picked),
                                 chunk.amount.T[rows, cols].tolist())), n)
    veto = _vetoed(chunk)
    grades = [g.id for g in rules.grades]
    grade = chunk.grade.tolist()
    conforming = chunk.conforming.tolist()
    score = chunk.score.tolist()
    categories = [[None if s != s else s for s in column] for column in chunk.categories.T.tolist()]
    verdicts = ["conforming" if c else "non_conforming" for c in conforming]
    grade_ids = [grades[g] for g in grade]
    # the head's text as a valid profile gives it (each a string where given)
    ids = [h[0] for h in heads]
    names = [h[1] or "" for h in heads]
    regions = [(h[3] or "", h[4] or "", h[5] or "", h[6] or "") for h in heads]
    dates = [h[8] or "" for h in heads]
    sources = [p.source for p in profiles]
    tails = summary_lines(ids, names, regions, score, grade_ids, verdicts, categories, veto, actions, sources)
    out = [{"loc": sources[i], "id": ids[i], "name": names[i], "region": regions[i], "score": score[i],
            "grade": grade_ids[i], "verdict": verdicts[i], "cats": categories[i], "veto": veto[i],
            "actions": actions[i], "st": st[i * m:(i + 1) * m], "pc": pc[i], "amt": amt[i], "date": dates[i],
            "csv": tails[i]} for i in range(n)]
    by_category = [[None if s != s else s for s in column] for column in chunk.categories.tolist()]
    remedies = {}
    for j, column in enumerate(chunk.amount):
        given = column[~np.isnan(column)]
        if given.size:
            remedies[(clauses[j], units[j])] = remedy_sum(Counter(given.tolist()))
    return [orjson.dumps(row) for row in out], Figures(
        score, grade_ids, verdicts, by_category, [st[i * m:(i + 1) * m] for i in range(chunk.n)], regions, dates,
        remedies)


# --------------------------------------------------------------------------- results.parquet

#: the columns every row has before its categories and clauses (see docs/reference.md, "results.parquet")
HEAD_COLUMNS = ("center_id", "name", "community", "province", "city", "district", "street", "setting",
                "assessed_on", "source", "sha256", "audit_kind", "score", "grade", "verdict", "vetoed",
                "unwaived_score")
FINDING_COLUMNS = ("status", "credit", "measured", "amount")
STATUS_NAMES = tuple(s.value for s in (Status.PASS, Status.PARTIAL, Status.FAIL, Status.MISSING, Status.NOT_APPLICABLE))
_LISTED = ("has_code", "has_all", "at_least")      # check types whose remedy names codes: a "missing" column


def pyarrow_module() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        from ..errors import ComplianceError
        from ..i18n import msg, quote

        raise ComplianceError(msg("{option} needs pyarrow: {command}", option=quote("--results parquet"),
                                  command=quote("pip install 'community-compliance[parquet]'", 100))) from exc
    return pyarrow


_SCHEMAS: dict[str, Any] = {}


def result_schema(rules: RuleSet) -> Any:
    """The schema of ``results.parquet`` under ``rules``: one row per centre audited, one column per figure."""
    schema = _SCHEMAS.get(rules.content_hash)
    if schema is None:
        schema = _SCHEMAS[rules.content_hash] = _result_schema(rules)
    return schema


def _result_schema(rules: RuleSet) -> Any:
    pa = pyarrow_module()
    import orjson

    text, number = pa.string(), pa.float64()
    fields = [pa.field(name, text) for name in HEAD_COLUMNS[:12]]
    fields += [pa.field("score", number), pa.field("grade", pa.dictionary(pa.int8(), text)),
               pa.field("verdict", pa.dictionary(pa.int8(), text)), pa.field("vetoed", pa.list_(text)),
               pa.field("unwaived_score", number)]
    fields += [pa.field(f"category:{c.id}", number) for c in rules.categories]
    for c in rules.clauses:
        fields += [pa.field(f"{c.clause}:status", pa.dictionary(pa.int8(), text)), pa.field(f"{c.clause}:credit", number),
                   pa.field(f"{c.clause}:measured", number), pa.field(f"{c.clause}:amount", number)]
        if c.check_type in _LISTED:
            fields.append(pa.field(f"{c.clause}:missing", pa.list_(text)))
    meta = {"result_version": 1, "ruleset": {"id": rules.id, "version": rules.version, "layers": list(rules.layers),
                                              "content_hash": rules.content_hash},
            "clauses": [{"clause": c.clause, "category": c.category, "check": c.check_type, "weight": c.weight,
                         "veto": c.veto, "unit": c.shortfall_unit, "title": dict(c.title)} for c in rules.clauses],
            "categories": [c.id for c in rules.categories], "grades": [g.id for g in rules.grades]}
    return pa.schema(fields, metadata={b"compliance": orjson.dumps(meta)})


def _by_row(rows: NDArray[np.intp], values: list[Any], n: int) -> list[list[Any]]:
    """``values`` (one for each of ``rows``, which ascend) as a list for each of ``n`` rows."""
    bounds = np.searchsorted(rows, np.arange(n + 1)).tolist()
    return [values[bounds[i]:bounds[i + 1]] for i in range(n)]


def _vetoed(chunk: ChunkScores) -> list[list[str]]:
    """Each row's veto clauses failed or missing, in the rule set's order."""
    vetoes = np.array([c.veto for c in chunk.rules.clauses])
    rows, cols = np.nonzero(vetoes[None, :] & ((chunk.status.T == S_FAIL) | (chunk.status.T == S_MISSING)))
    clauses = [c.clause for c in chunk.rules.clauses]
    return _by_row(rows, list(map(clauses.__getitem__, cols.tolist())), chunk.n)


def profile_heads(profiles: Sequence[Profile]) -> list[list[Any]]:
    """The first eleven columns of each profile's row of results.parquet (:func:`_head_of`), which its row of the
    round's tables also reads."""
    return [_head_of(plain_document(p), p.source, p.sha256) for p in profiles]


def _head_of(profile_data: Any, source: str, sha256: str | None) -> list[Any]:
    """The first eleven columns of a row, from a profile or a result document (both have the centre's block)."""
    center = profile_data["center"]
    region = center.get("region") or {}
    return [str(center["id"]), center.get("name"), center.get("community"), region.get("province"),
            region.get("city"), region.get("district"), region.get("street"), center.get("setting"),
            None if center.get("assessed_on") is None else str(center["assessed_on"]), source, sha256]


def chunk_part(chunk: ChunkScores, profiles: Sequence[Profile],
               heads: Sequence[list[Any]] | None = None) -> dict[str, Any]:
    """The rows of a scored chunk for results.parquet as NumPy arrays, without Arrow: the figures as they are, the
    text columns in Arrow's layout (:func:`_text_layout`), which the round's process wraps without copying."""
    rules = chunk.rules
    vetoed = _vetoed(chunk)
    # credits and remedies sent sparse: a credit where the status does not say it (a partial one), a remedy where
    # there is one (a third of the clauses × centres)
    credit, amount = chunk.credit.ravel(), chunk.amount.ravel()
    odd = np.flatnonzero(credit != _implied_credit(chunk.status).ravel())
    given = np.flatnonzero(~np.isnan(amount))
    arrays = {"score": chunk.score, "grade": chunk.grade.astype(np.int8), "conforming": chunk.conforming,
              "categories": chunk.categories, "status": chunk.status, "measured": chunk.measured,
              "credit:at": odd.astype(np.int32), "credit:odd": credit[odd],
              "amount:at": given.astype(np.int32), "amount:given": amount[given]}
    if heads is None:
        heads = profile_heads(profiles)
    for k in range(11):
        arrays.update(_text_layout(f"head{k}", [h[k] for h in heads]))
    arrays.update(_texts_layout("vetoed", vetoed))
    for j, c in enumerate(rules.clauses):
        if c.check_type in _LISTED:
            arrays.update(_missing_layout(f"missing{j}", chunk, j))
    return arrays


def _missing_layout(name: str, chunk: ChunkScores, j: int) -> dict[str, Any]:
    """Clause ``j``'s codes not present, a list for each centre short of them (:func:`_texts_layout`'s arrays). A
    chunk's centres miss few different sets of codes: each set is found and encoded once (rows the clause's
    :attr:`~compliance.checks.Scored.alike` puts together), and its rows take it by NumPy's indexing."""
    n, done, scored = chunk.n, chunk.settled[j], chunk.scored[j]
    rows = np.flatnonzero(~np.isnan(chunk.amount[j]))
    alike = scored.alike
    if alike is None or not done.keys().isdisjoint(rows.tolist()):
        first, inverse = np.arange(len(rows)), np.arange(len(rows))      # each row its own
    else:
        _, first, inverse = np.unique(alike[rows], return_index=True, return_inverse=True)
    many: list[int] = []
    codes: list[bytes] = []
    for i in rows[first].tolist():
        f = done[i] if i in done else scored.finding(i)
        many.append(-1 if f.shortfall is None else len(f.shortfall.missing))
        codes += [] if f.shortfall is None else [code.encode("utf-8") for code in f.shortfall.missing]
    per = np.array(many, np.int64)
    listed = np.maximum(per, 0)                     # codes in each set (none where there is no shortfall)
    count = np.zeros(n, np.int64)
    valid = np.zeros(n, bool)
    count[rows], valid[rows] = listed[inverse], (per >= 0)[inverse]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(count, out=offsets[1:])
    # the codes of each row in turn: its set's run of the sets' codes, then the bytes of those codes
    item = _runs(np.cumsum(listed) - listed, listed, inverse)
    size = np.fromiter(map(len, codes), np.int64, len(codes))
    ends = np.zeros(len(item) + 1, np.int32)
    np.cumsum(size[item], out=ends[1:])
    data = np.frombuffer(b"".join(codes), np.uint8)
    return {f"{name}:offsets": offsets, f"{name}:valid": valid, f"{name}:items:offsets": ends,
            f"{name}:items:data": data[_runs(np.cumsum(size) - size, size, item)],
            f"{name}:items:valid": np.ones(len(item), bool)}


def _runs(start: NDArray[np.int64], length: NDArray[np.int64], pick: NDArray[np.int64]) -> NDArray[np.int64]:
    """The indices ``start[k] … start[k] + length[k] - 1`` for each k of ``pick`` in turn, as one array."""
    lengths = length[pick]
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, np.int64)
    return np.repeat(start[pick] - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)


def _text_layout(name: str, values: Sequence[str | None]) -> dict[str, Any]:
    """A text column as Arrow lays out a string array: where each value ends in the UTF-8 bytes of them all
    (``offsets``, one more than the values), those bytes (``data``), and which values are given (``valid``)."""
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    offsets = np.zeros(len(values) + 1, np.int32)
    np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), out=offsets[1:])
    return {f"{name}:offsets": offsets, f"{name}:data": np.frombuffer(b"".join(encoded), np.uint8),
            f"{name}:valid": np.fromiter((v is not None for v in values), bool, len(values))}


def _texts_layout(name: str, values: Sequence[Sequence[str] | None]) -> dict[str, Any]:
    """A column of lists of text as Arrow lays out a list array: where each list ends among the items
    (``offsets``), which lists are given (``valid``), and the items as a text column (``<name>:items``)."""
    offsets = np.zeros(len(values) + 1, np.int32)
    np.cumsum(np.fromiter((0 if v is None else len(v) for v in values), np.int64, len(values)), out=offsets[1:])
    items = [item for v in values if v is not None for item in v]
    return {f"{name}:offsets": offsets, f"{name}:valid": np.fromiter((v is not None for v in values), bool, len(values)),
            **_text_layout(f"{name}:items", items)}


def encode_part(rows: int, arrays: Mapping[str, Any] | None, documents: Sequence[bytes] = (),
                order: Sequence[int] | None = None) -> RowsTable:
    """A chunk's rows of results.parquet as bytes: a JSON head (where each array and result document is), then the
    arrays' and documents' bytes. ``documents`` are result documents of centres audited the scalar
    way; ``order`` puts the chunk's rows (its columns' rows, then its documents) back in input order."""
    import orjson

    blobs: list[bytes] = []
    shapes = []
    for name, array in (arrays or {}).items():
        data = np.ascontiguousarray(array)
        shapes.append([name, data.dtype.str, list(data.shape)])
        blobs.append(data.tobytes())
    head = orjson.dumps({"arrays": shapes, "documents": [len(d) for d in documents], "order": order})
    return RowsTable(b"".join([len(head).to_bytes(4, "little"), head, *blobs, *documents]), rows)


def _decoded(data: bytes) -> tuple[dict[str, Any], list[Any], list[int] | None]:
    """:func:`encode_part`'s bytes read back: (arrays, result documents, order)."""
    import orjson

    size = int.from_bytes(data[:4], "little")
    head = orjson.loads(data[4:4 + size])
    at = 4 + size
    arrays: dict[str, Any] = {}
    for name, dtype, shape in head["arrays"]:
        kind = np.dtype(dtype)
        count = math.prod(shape)
        arrays[name] = np.frombuffer(data, kind, count, at).reshape(shape)
        at += count * kind.itemsize
    documents = []
    for length in head["documents"]:
        documents.append(orjson.loads(data[at:at + length]))
        at += length
    return arrays, documents, head["order"]


def decode_part(rules: RuleSet, data: bytes) -> Any:
    """:func:`encode_part`'s bytes as an Arrow table of :func:`result_schema` (the round's process, at the end)."""
    pa = pyarrow_module()
    arrays, documents, order = _decoded(data)
    batches = []
    if arrays:
        batches.append(_columns_batch(rules, arrays))
    if documents:
        batches.append(documents_batch(rules, documents))
    table = pa.Table.from_batches(batches, schema=result_schema(rules)).unify_dictionaries()
    if order is not None:
        table = table.take(pa.array(order, pa.int64()))
    return table


def _columns_batch(rules: RuleSet, arrays: Mapping[str, Any]) -> Any:
    """:func:`chunk_part`'s arrays as a record batch of :func:`result_schema` (the text columns wrapped, not copied)."""
    pa = pyarrow_module()
    n = len(arrays["score"])
    columns: list[Any] = [_text_array(pa, arrays, f"head{k}") for k in range(11)]
    columns.append(pa.array(["self_check"] * n, pa.string()))
    columns.append(pa.array(arrays["score"], pa.float64()))
    grades = pa.array([g.id for g in rules.grades], pa.string())
    columns.append(pa.DictionaryArray.from_arrays(pa.array(arrays["grade"]), grades))
    columns.append(pa.DictionaryArray.from_arrays(pa.array(np.where(arrays["conforming"], 0, 1).astype(np.int8)),
                                                  pa.array(["conforming", "non_conforming"], pa.string())))
    columns.append(_texts_array(pa, arrays, "vetoed"))
    columns.append(pa.nulls(n, pa.float64()))
    for k in range(len(rules.categories)):
        columns.append(pa.array(arrays["categories"][k], pa.float64(), from_pandas=True))
    # each clause × centre matrix made one Arrow array, then cut clause by clause (slices share its buffers)
    status = arrays["status"].ravel()
    statuses = pa.DictionaryArray.from_arrays(pa.array(status), pa.array(list(STATUS_NAMES), pa.string()))
    credit = arrays.get("credit")                     # dense in the parts of a round begun before they were sparse
    if credit is None:
        credit = _implied_credit(status)
        credit[arrays["credit:at"]] = arrays["credit:odd"]
    amount = arrays.get("amount")
    if amount is None:
        amount = np.full(len(status), np.nan)
        amount[arrays["amount:at"]] = arrays["amount:given"]
    credits = pa.array(credit.ravel(), pa.float64(), mask=status == S_NA)
    measured = pa.array(arrays["measured"].ravel(), pa.float64(), from_pandas=True)
    amounts = pa.array(amount.ravel(), pa.float64(), from_pandas=True)
    for j, c in enumerate(rules.clauses):
        columns += [statuses.slice(j * n, n), credits.slice(j * n, n), measured.slice(j * n, n), amounts.slice(j * n, n)]
        if c.check_type in _LISTED:
            columns.append(_texts_array(pa, arrays, f"missing{j}"))
    return pa.RecordBatch.from_arrays(columns, schema=result_schema(rules))


def _dense(arrays: dict[str, Any]) -> dict[str, Any]:
    """A part's arrays with its sparse credits and remedies made whole matrices (clauses × centres), as parts of
    other sizes can be joined (a sparse position depends on the part's size)."""
    out = dict(arrays)
    status = arrays["status"]
    if "credit" not in out:
        credit = _implied_credit(status.ravel())
        credit[out.pop("credit:at")] = out.pop("credit:odd")
        out["credit"] = credit.reshape(status.shape)
    if "amount" not in out:
        amount = np.full(status.size, np.nan)
        amount[out.pop("amount:at")] = out.pop("amount:given")
        out["amount"] = amount.reshape(status.shape)
    return out


def _joined(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several parts' dense arrays (:func:`_dense`) as one part's: each column and matrix joined along its centres
    (its last axis), each text's and list's offsets moved on by the bytes or items before them."""
    if len(parts) == 1:
        return dict(parts[0])
    out: dict[str, Any] = {}
    for name in parts[0]:
        if name.endswith(":offsets"):
            base = name[:-len(":offsets")]
            inner = f"{base}:data" if f"{base}:data" in parts[0] else f"{base}:items:offsets"
            pieces, at = [np.zeros(1, np.int32)], 0
            for part in parts:
                pieces.append(part[name][1:] + at)
                at += len(part[inner]) - (1 if inner.endswith(":offsets") else 0)
            out[name] = np.concatenate(pieces).astype(np.int32)
        else:
            out[name] = np.concatenate([part[name] for part in parts], axis=-1)
    return out


def _plain_table(rules: RuleSet, parts: Sequence[Mapping[str, Any]]) -> Any:
    pa = pyarrow_module()
    return pa.Table.from_batches([_columns_batch(rules, _joined(parts))], schema=result_schema(rules))


def _group(pa: Any, rules: RuleSet, pending: list[Any], plain: Sequence[Mapping[str, Any]]) -> Any:
    """One row group: the tables so far and the plain parts after them, joined."""
    tables = [*pending, *([_plain_table(rules, plain)] if plain else [])]
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables).unify_dictionaries().combine_chunks()


def _implied_credit(status: NDArray[np.int8]) -> NDArray[np.float64]:
    """The credit a status gives without saying more: 1 for a clause met, else 0 (a partial credit is sent)."""
    return np.where(status == S_PASS, 1.0, 0.0)


def _validity(pa: Any, valid: Any) -> tuple[Any, int]:
    """Arrow's validity bitmap of a column (None when every value is given) and its count of nulls."""
    nulls = int(len(valid) - np.count_nonzero(valid))
    return (None if not nulls else pa.py_buffer(np.packbits(valid, bitorder="little"))), nulls


def _text_array(pa: Any, arrays: Mapping[str, Any], name: str) -> Any:
    offsets = arrays[f"{name}:offsets"]
    bitmap, nulls = _validity(pa, arrays[f"{name}:valid"])
    return pa.Array.from_buffers(pa.string(), len(offsets) - 1, [bitmap, pa.py_buffer(offsets),
                                                                 pa.py_buffer(arrays[f"{name}:data"])], nulls)


def _texts_array(pa: Any, arrays: Mapping[str, Any], name: str) -> Any:
    offsets = arrays[f"{name}:offsets"]
    bitmap, nulls = _validity(pa, arrays[f"{name}:valid"])
    return pa.Array.from_buffers(pa.list_(pa.string()), len(offsets) - 1, [bitmap, pa.py_buffer(offsets)], nulls,
                                 children=[_text_array(pa, arrays, f"{name}:items")])


def documents_batch(rules: RuleSet, documents: Sequence[dict[str, Any]]) -> Any:
    """Result documents (the scalar path's: an inspection, a waiver, evidence) as a record batch of
    :func:`result_schema`, with the same values the columnar rows carry."""
    pa = pyarrow_module()
    schema = result_schema(rules)
    code = {name: k for k, name in enumerate(STATUS_NAMES)}
    rows: dict[str, list[Any]] = {f.name: [] for f in schema}
    for doc in documents:
        head = [*_head_of(doc, doc["profile"]["source"], doc["profile"]["sha256"]), doc["audit"]["kind"],
                doc["score"], doc["grade"], doc["verdict"], list(doc["vetoed"]), (doc.get("unwaived") or {}).get("score")]
        for name, value in zip(HEAD_COLUMNS, head):
            rows[name].append(value)
        for c in doc["categories"]:
            rows[f"category:{c['id']}"].append(c["score"])
        for f in doc["findings"]:
            key = f["clause"]
            measured = f["measured"]
            rows[f"{key}:status"].append(f["status"])
            rows[f"{key}:credit"].append(f["credit"])
            rows[f"{key}:measured"].append(None if measured is None else float(measured))
            short = f["shortfall"]
            rows[f"{key}:amount"].append(None if short is None else float(short["amount"]))
            if f"{key}:missing" in rows:
                rows[f"{key}:missing"].append(None if short is None else list(short["missing"]))
    arrays = []
    for f in schema:
        values = rows[f.name]
        if pa.types.is_dictionary(f.type):
            kind = f.type.value_type
            if f.name.endswith(":status"):
                arrays.append(pa.DictionaryArray.from_arrays(pa.array([code[v] for v in values], pa.int8()),
                                                             pa.array(list(STATUS_NAMES), kind)))
            else:
                arrays.append(pa.array(values, kind).dictionary_encode().cast(f.type))
        else:
            arrays.append(pa.array(values, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def write_frame(out: Any, table: RowsTable, kept: Sequence[int]) -> None:
    """Some rows of a chunk as one frame of a round's parts file: the chunk's bytes as the worker made them, each
    with its length (8 bytes), then the rows kept (a JSON list; empty when every row is, the common case)."""
    import orjson

    chosen = b"" if list(kept) == list(range(table.rows)) else orjson.dumps(list(kept))
    out.write(len(table.data).to_bytes(8, "little"))
    out.write(table.data)
    out.write(len(chosen).to_bytes(8, "little"))
    out.write(chosen)


_POOL_LOCK = threading.Lock()
_POOL_USERS: list[Any] = [0, None]      # writers using the C library's allocator now, and Arrow's default before


@contextlib.contextmanager
def _system_pool(pa: Any) -> Iterator[Any]:
    """Arrow's default allocator made the C library's while results.parquet is written (Arrow's own, mimalloc, held
    40-50 MB more at its peak for the same tables), and the one before put back when the last writer is done."""
    with _POOL_LOCK:
        if not _POOL_USERS[0]:
            _POOL_USERS[1] = pa.default_memory_pool()
            pa.set_memory_pool(pa.system_memory_pool())
        _POOL_USERS[0] += 1
    try:
        yield pa.system_memory_pool()
    finally:
        with _POOL_LOCK:
            _POOL_USERS[0] -= 1
            if not _POOL_USERS[0]:
                pa.set_memory_pool(_POOL_USERS[1])


#: the columns each centre has a value of its own in: a dictionary of them is never smaller, only work to try
UNIQUE_COLUMNS = ("center_id", "name", "source", "sha256")
#: of those, the ones whose smallest and largest values in a row group no query can use (ids often come in order)
UNBOUNDED_COLUMNS = ("name", "source", "sha256")


def _encoding(schema: Any) -> dict[str, list[str]]:
    """The writer's options column by column: a dictionary for every column but :data:`UNIQUE_COLUMNS`, and each row
    group's smallest and largest values (what lets a query skip row groups) for the centre's own columns but
    :data:`UNBOUNDED_COLUMNS`, the score, grade, verdict and category scores; not for the clauses' columns, whose
    values are spread over every row group (to skip one, a query would need a value no centre of its 8,192 has).
    Arrow names a list's values ``<column>.list.element``, and a column not named gets neither. The file is the same
    table, a fifth less work for Arrow (2.8 s against 3.4 s for 600,000 centres)."""
    import pyarrow as pa

    def leaf(field: Any) -> str:
        return f"{field.name}.list.element" if pa.types.is_list(field.type) else str(field.name)

    return {"use_dictionary": [leaf(f) for f in schema if f.name not in UNIQUE_COLUMNS],
            "write_statistics": [leaf(f) for f in schema if f.name not in UNBOUNDED_COLUMNS
                                 and (":" not in f.name or f.name.startswith("category:"))]}


def write_parquet(parts: Any, target: Any, rules: RuleSet, row_group: int = 8_192) -> None:
    """A round's parts file → ``results.parquet`` (zstd), in row groups of about ``row_group`` centres, written
    beside the target and renamed into place. The parts are turned into Arrow tables in this thread while another
    encodes and compresses the row group before (Arrow does it without the interpreter's lock)."""
    import os
    import queue

    pa = pyarrow_module()
    import pyarrow.parquet as pq

    schema = result_schema(rules)
    tmp = target.with_name(target.name + ".part")
    pending: list[Any] = []             # tables of the row group so far, in order
    plain: list[dict[str, Any]] = []    # then the arrays of parts without a scalar result or a row left out
    count = 0
    groups: queue.Queue[Any] = queue.Queue(maxsize=1)          # row groups made, not yet written (None: no more)
    failed: list[BaseException] = []

    def write(writer: Any) -> None:
        while (group := groups.get()) is not None:
            if not failed:
                try:
                    writer.write_table(group)
                except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
                    failed.append(exc)

    try:
        with _system_pool(pa) as pool, pq.ParquetWriter(tmp, schema, compression="zstd", memory_pool=pool,
                                                        **_encoding(schema)) as writer, open(parts, "rb") as fh:
            thread = threading.Thread(target=write, args=(writer,), daemon=True)
            thread.start()
            try:
                while not failed:
                    size = fh.read(8)
                    if len(size) < 8:
                        break
                    data = fh.read(int.from_bytes(size, "little"))
                    chosen = fh.read(int.from_bytes(fh.read(8), "little"))
                    arrays, documents, order = _decoded(data)
                    if arrays and not documents and order is None and not chosen:
                        plain.append(_dense(arrays))        # the common part: joined with the next as NumPy
                        count += len(arrays["score"])
                    else:
                        if plain:
                            pending.append(_plain_table(rules, plain))
                            plain = []
                        rows = decode_part(rules, data)
                        if chosen:          # a repeated id left out
                            rows = rows.take(pa.array(orjson.loads(chosen), pa.int64()))
                        pending.append(rows)
                        count += rows.num_rows
                    if count >= row_group:
                        groups.put(_group(pa, rules, pending, plain))
                        pending, plain, count = [], [], 0
                if (pending or plain) and not failed:
                    groups.put(_group(pa, rules, pending, plain))
            finally:
                groups.put(None)
                thread.join()
            if failed:
                raise failed[0]
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        pa.system_memory_pool().release_unused()    # what the allocator keeps of what it freed: the tables come next
