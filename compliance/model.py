"""The types every stage shares: rule sets, clauses, vocabularies, statuses, validated profiles.

This module is the floor of the package: it imports nothing of ours, so the
loaders, the compiler, the evaluator and the reporters can all import it.
Everything here is immutable all the way down: mappings are
:class:`FrozenDict`, sequences are tuples or :class:`FrozenList`, so no caller
can change a rule set or a result that another caller is using.
"""
from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Mapping, NoReturn, Sequence, Union

import orjson

if TYPE_CHECKING:  # pragma: no cover
    from .checks import Facts

TOL = 1e-9
"""Inclusive thresholds are compared with this tolerance: 160/200 passes 0.8."""

# --------------------------------------------------------------------------- immutable containers

def _frozen(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is read-only; copy.deepcopy() it for a mutable copy")


class FrozenDict(dict):  # type: ignore[type-arg]
    """A ``dict`` that refuses changes.

    It is still a ``dict`` to ``json``, ``orjson`` and JSON Schema validators.
    ``copy.deepcopy`` gives plain, mutable ``dict`` and ``list`` objects, which
    is what a caller who wants to edit a profile needs.
    """

    __slots__ = ()
    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _frozen
    __ior__ = _frozen

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


class FrozenList(list):  # type: ignore[type-arg]
    """A ``list`` that refuses changes (a JSON array to every validator, unlike a tuple)."""

    __slots__ = ()
    __setitem__ = __delitem__ = append = extend = insert = pop = remove = reverse = sort = clear = _frozen
    __iadd__ = __imul__ = _frozen

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(v, memo) for v in self]

    def __repr__(self) -> str:
        return f"FrozenList({list.__repr__(self)})"


def freeze(value: Any) -> Any:
    """A deep, read-only copy of plain data (dicts, lists, tuples and scalars)."""
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FrozenList([freeze(v) for v in value])
    return value


def thaw(value: Any) -> Any:
    """A deep, mutable copy: plain ``dict`` and ``list`` again."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


Text = Mapping[str, str]
"""A text in both languages: ``{"zh": …, "en": …}``."""


# --------------------------------------------------------------------------- enumerations

class Status(str, Enum):
    PASS = "pass"
    PARTIAL = "partial"
    FAIL = "fail"
    MISSING = "missing"
    NOT_APPLICABLE = "not_applicable"


#: a status as one letter, in a round's table rows (``st``: every clause's status, in the rule set's order)
STATUS_LETTER = {Status.PASS: "P", Status.PARTIAL: "p", Status.FAIL: "F", Status.MISSING: "M",
                 Status.NOT_APPLICABLE: "N"}


class Level(str, Enum):
    SHALL = "shall"      # 应
    SHOULD = "should"    # 宜


class Verdict(str, Enum):
    CONFORMING = "conforming"
    NON_CONFORMING = "non_conforming"


# --------------------------------------------------------------------------- vocabularies

ZONE_CLASSES = ("service", "office", "support")

#: profile list → the vocabulary its codes come from ("zones" means the zones' kinds).
CODE_LISTS: Mapping[str, str] = FrozenDict({
    "signage": "signage",
    "amenities": "amenities",
    "services.feedback_loop": "feedback_stages",
    "services.key_group_register": "key_groups",
    "zones": "zone_kinds",
})
VOCABULARIES = ("zone_kinds", "signage", "amenities", "feedback_stages", "key_groups")


@dataclass(frozen=True)
class Vocabulary:
    """The codes a profile may use, with their labels; zone kinds carry a class."""

    entries: Mapping[str, Mapping[str, Mapping[str, str]]]
    zone_class: Mapping[str, str] = field(init=False, repr=False, compare=False)
    codes: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries = freeze(self.entries)
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "zone_class", FrozenDict(
            {k: v["class"] for k, v in entries.get("zone_kinds", {}).items()}))
        object.__setattr__(self, "codes", FrozenDict(
            {name: frozenset(entries.get(name, {})) for name in VOCABULARIES}))

    def label(self, vocab: str, code: str, lang: str) -> str:
        entry = self.entries.get(vocab, {}).get(code)
        return str(entry[lang]) if entry else code

    @classmethod
    def of(cls, entries: Mapping[str, Mapping[str, Mapping[str, str]]]) -> Vocabulary:
        """The one Vocabulary object for these entries, so equal vocabularies are the same object.

        A profile validated against one rule set's vocabulary is then known to be
        valid for every rule set with the same codes by an identity test. The
        cache is keyed by the entries' canonical JSON (strings only).
        """
        key = json.dumps(entries, sort_keys=True, ensure_ascii=False)
        found = _VOCABULARIES.get(key)
        if found is None:
            found = _VOCABULARIES.setdefault(key, cls(entries))
        return found


_VOCABULARIES: dict[str, Vocabulary] = {}


# --------------------------------------------------------------------------- rule sets

@dataclass(frozen=True)
class Category:
    id: str
    title: Text


@dataclass(frozen=True)
class Grade:
    id: str
    min: float
    title: Text


@dataclass(frozen=True)
class Disabled:
    """A clause a layer switched off, and why."""

    clause: str
    reason: str
    layer: str


@dataclass(frozen=True, eq=False)
class Clause:
    """One clause after all layers are merged.

    ``check`` holds the check type's parameters (``check["type"]`` names the
    type); ``threshold`` is the value of its threshold parameter as the result
    document shows it; ``threshold_from`` names the layer that set it, and
    ``set_by`` the layer that set each of clause, threshold, level, weight and veto.
    """

    clause: str
    category: str
    level: Level
    weight: float
    veto: bool
    title: Text
    requirement: Text
    source: tuple[str, ...]
    check: Mapping[str, Any]
    shortfall: Mapping[str, Any]
    not_applicable_when: tuple[Mapping[str, Any], ...]
    threshold: Any
    threshold_from: str
    set_by: Mapping[str, str]
    labels: Mapping[str, Text] = field(default_factory=lambda: FrozenDict())
    notes: tuple[str, ...] = ()
    measure: Text | None = None

    @property
    def check_type(self) -> str:
        return str(self.check["type"])

    @property
    def shortfall_unit(self) -> str | None:
        unit = self.shortfall.get("unit")
        return None if unit is None else str(unit)

    def shortfall_text(self, lang: str) -> str | None:
        text = self.shortfall.get("text")
        return None if text is None else str(text[lang])

    def label(self, code: str, lang: str) -> str:
        entry = self.labels.get(code)
        return str(entry[lang]) if entry else code

    def __copy__(self) -> Clause:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Clause:
        return self                       # immutable: a copy could only drift from the rule set


Check = Callable[[Any], Any]
"""A compiled clause: ``check(facts) -> Finding``."""


@dataclass(frozen=True, eq=False)
class RuleSet:
    """A compiled rule set: evaluate any number of profiles against it."""

    id: str
    version: str
    title: Text
    layers: tuple[str, ...]
    layer_versions: Mapping[str, str]
    categories: tuple[Category, ...]
    grades: tuple[Grade, ...]               # highest first; the last is the grade of a non-conforming centre
    pass_score: float
    vocabulary: Vocabulary
    clauses: tuple[Clause, ...]
    disabled: tuple[Disabled, ...]
    content_hash: str
    path: str
    layer_files: tuple[str, ...] = ()       # the files its layers were read from, root first
    layer_titles: Mapping[str, Text] = field(default_factory=lambda: FrozenDict())   # each layer's title, by id
    checks: tuple[Check, ...] = field(repr=False, default=())
    scorer: Callable[[Any], tuple[Any, ...]] | None = field(repr=False, default=None)

    def clause(self, number: str) -> Clause:
        for c in self.clauses:
            if c.clause == number:
                return c
        raise KeyError(f"clause {number!r} is not in rule set {self.id!r}")

    def grade_for(self, score: float) -> Grade:
        for g in self.grades:
            if score >= g.min:
                return g
        return self.grades[-1]

    def layer_title(self, layer: str, lang: str) -> str:
        """A layer's title as its file gives it (宁波市 for ``ningbo``); the id itself when the layer is not in
        this rule set's chain."""
        title = self.layer_titles.get(layer)
        return str(title[lang]) if title else layer

    def grade(self, gid: str) -> Grade:
        return next(g for g in self.grades if g.id == gid)

    def category(self, cid: str) -> Category:
        return next(c for c in self.categories if c.id == cid)

    def __copy__(self) -> RuleSet:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> RuleSet:
        return self                       # immutable, and its compiled checks are what it evaluates with


RuleSource = Union[RuleSet, str, "os.PathLike[str]"]
"""What every function that takes a rule set accepts: a compiled RuleSet, a bundled name, or a layer file or folder."""


def clause_key(number: str) -> tuple[tuple[int, str], ...]:
    """Sort key for clause numbers: numeric within each part, so 8.10 follows 8.9."""
    parts = []
    for p in number.split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append((int(digits) if digits else 0, p))
    return tuple(parts)


__all__: Sequence[str] = (
    "TOL", "FrozenDict", "FrozenList", "freeze", "thaw", "Text", "Status", "Level", "Verdict",
    "ZONE_CLASSES", "CODE_LISTS", "VOCABULARIES", "Vocabulary", "Category", "Grade", "Disabled",
    "Clause", "Check", "RuleSet", "clause_key",
)


# --------------------------------------------------------------------------- profiles

@dataclass(frozen=True, slots=True)
class AuditInfo:
    """Who audited a centre, from the profile's ``audit`` block: a self-check (自查, the default) or an
    inspection (检查) with its inspectors, the centre's responsible person (负责人) and the round it belongs to.
    ``declared`` is False for a profile without the block (a self-check by default, which a ledger tells apart
    from a stated one: such results, like those of earlier rounds, count as the bureau's own)."""

    kind: str = "self_check"                  # "self_check" | "inspection"
    inspectors: tuple[str, ...] = ()
    responsible: str | None = None
    round: str | None = None
    declared: bool = False
    block: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)   # the block as written

    @property
    def is_inspection(self) -> bool:
        return self.kind == "inspection"

    def to_dict(self) -> dict[str, Any]:
        """The block as the profile gives it, with ``kind`` filled in (``self_check`` when absent); for a profile
        without the block, ``{"kind": "self_check", "declared": false}``."""
        if self.block is not None:
            return {"kind": self.kind, **{k: thaw(v) for k, v in self.block.items() if k != "kind"}}
        out: dict[str, Any] = {"kind": self.kind}
        if self.inspectors:
            out["inspectors"] = list(self.inspectors)
        if self.responsible is not None:
            out["responsible"] = self.responsible
        if self.round is not None:
            out["round"] = self.round
        if not self.declared:
            out["declared"] = False
        return out

    @classmethod
    def of(cls, block: Any) -> AuditInfo:
        """From a validated profile's ``audit`` block (None: the profile has none)."""
        if not isinstance(block, Mapping):
            return SELF_CHECK
        inspectors = block.get("inspectors")
        return cls(str(block.get("kind") or "self_check"),
                   tuple(str(n) for n in inspectors) if isinstance(inspectors, (list, tuple)) else (),
                   block.get("responsible"), block.get("round"), True, block)


SELF_CHECK = AuditInfo()
"""The audit of a profile without an ``audit`` block: a self-check, not declared."""


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One piece of evidence for a clause: a file beside the profile (``file``, as written) or a stored one
    named by its hash. ``sha256`` is the hash of the file's bytes, always there once the file was read
    (None only for a profile scored without reading its files: see :func:`compliance.read_evidence`).
    ``path`` is the resolved path of the file read (for reports: the thumbnails), ``media_type``
    ``image/jpeg``, ``image/png`` or ``application/pdf`` and ``size`` its bytes, when read."""

    clause: str
    sha256: str | None
    file: str | None = None
    note: str | None = None
    taken_on: str | None = None
    media_type: str | None = None
    size: int | None = None
    path: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        head: dict[str, Any] = {"file": self.file} if self.file is not None else {}
        out = {**head, "sha256": self.sha256, "note": self.note}
        if self.taken_on is not None:
            out["taken_on"] = self.taken_on
        return out


@dataclass(frozen=True, eq=False)
class Profile:
    """A validated centre profile; build one with :func:`load_profile`.

    ``data`` is a read-only copy of the document (``copy.deepcopy`` it for an
    editable one); ``vocabulary`` is the one its codes were checked against.
    ``warnings`` are :class:`~compliance.Problem` objects of severity ``warning``
    that do not refuse the profile: a key the contract does not know (a misspelt
    ``staf:`` whose clauses are then not evidenced), each with its path, line and
    the nearest known key. The checks read a private plain copy that no caller
    ever receives.
    """

    source: str
    raw_sha256: str | None = None
    vocabulary: Vocabulary | None = field(default=None, repr=False)
    warnings: tuple[Any, ...] = ()
    # Private: the plain copy the checks read, and the facts gathered from it. No caller receives either.
    _plain: Mapping[str, Any] = field(default_factory=dict, repr=False)
    _facts: Facts | None = field(default=None, repr=False)

    def __copy__(self) -> Profile:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Profile:
        return self                        # immutable: copy.deepcopy(profile.data) gives an editable document

    @property
    def data(self) -> Mapping[str, Any]:
        """The document as validated, read-only all the way down (built on first use)."""
        frozen = self.__dict__.get("_frozen")
        if frozen is None:
            frozen = freeze(self._plain)
            object.__setattr__(self, "_frozen", frozen)
        return frozen  # type: ignore[no-any-return]

    @property
    def center(self) -> dict[str, Any]:
        """A fresh copy of the ``center`` section, for result documents and reports."""
        return thaw(self._plain.get("center", {}))  # type: ignore[no-any-return]

    @property
    def sha256(self) -> str:
        """SHA-256 of the file's bytes, or of the canonical JSON of a mapping given in memory."""
        if self.raw_sha256 is not None:
            return self.raw_sha256
        digest = self.__dict__.get("_sha256")
        if digest is None:
            canonical = orjson.dumps(self._plain, option=orjson.OPT_SORT_KEYS)
            digest = hashlib.sha256(canonical).hexdigest()
            object.__setattr__(self, "_sha256", digest)
        return str(digest)

    @property
    def id(self) -> str:
        return str(self._plain["center"]["id"])

    @property
    def name(self) -> str:
        return str(self._plain["center"]["name"])


#: the time zone of the dates people read and of "today" (a bureau's audit day, the ledger's as-of day)
CHINA = datetime.timezone(datetime.timedelta(hours=8), "UTC+8")


def today_in_china() -> datetime.date:
    """Today's date in China, whatever the machine's own time zone."""
    return datetime.datetime.now(CHINA).date()


def plain_document(profile: Profile) -> Mapping[str, Any]:
    """The validated document as the library's own plain JSON values, without a read-only copy: for the
    library's hot paths (results, rounds, exports), which only read it. Callers outside use ``profile.data``."""
    return profile._plain


def facts_of(profile: Profile) -> Facts | None:
    """The facts the checks read, gathered once at validation (None when validated without them)."""
    return profile._facts


def make_profile(data: Mapping[str, Any], source: str, raw_sha256: str | None, facts: Facts | None,
                 vocabulary: Vocabulary, warnings: tuple[Any, ...] = ()) -> Profile:
    """A validated Profile (only the validator makes one): ``Profile(...)`` without the frozen ``__init__``, since
    the batch hot path builds one per centre."""
    obj = object.__new__(Profile)
    obj.__dict__.update(_plain=data, source=source, raw_sha256=raw_sha256, _facts=facts, vocabulary=vocabulary,
                        warnings=warnings)
    return obj
