"""What an audit produces: findings, scores and the result document.

Everything here is immutable. Scoring happens once in :mod:`compliance.evaluation`;
reporters only format these objects. :meth:`AuditResult.to_dict` gives the JSON
result documented in the project's interface contract.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Callable

import orjson

from .model import SELF_CHECK, AuditInfo, Clause, EvidenceItem, Level, Profile, RuleSet, Status, Verdict, plain_document
from .version import __version__
from .fields import named
from .i18n import Message, language, msg, separator
from .wording import fill, fmt_amount, fmt_amount_pct, uses_placeholders

if TYPE_CHECKING:
    from .waivers import Waiver


RESULT_VERSION = 1

_REASONS = {
    "condition": msg("this clause does not apply to this centre"),
    "zero_denominator": msg("{field} is 0, so the clause does not apply"),
    "no_zones": msg("no service or office zone area is recorded"),
    "missing": msg("{field} is not given, so the clause is not evidenced"),
    "pass": msg("met"),
    "not_met": msg("not met"),
}


_MESSAGES: dict[tuple[Any, ...], str] = {}
_JSON: dict[tuple[Any, ...], tuple[bytes, bytes]] = {}    # a finding's document around its measure, as bytes
_CACHE_LIMIT = 200_000
_HEADS: dict[tuple[Any, str], dict[str, Any]] = {}       # a clause's fixed fields, by the clause object itself
_NA = Status.NOT_APPLICABLE
_STATUS_VALUE = {s: s.value for s in Status}


def fast_constructor(cls: type) -> Any:
    """A positional constructor for a frozen, slotted dataclass that skips its ``__init__``.

    A frozen dataclass sets each field through ``object.__setattr__``; writing
    the slots directly builds the same immutable object in half the time. The
    constructor's source is generated at import time from the class's own slot
    names, as ``dataclasses`` generates ``__init__``; no rule or profile text
    ever reaches it. Used on the evaluation hot path, where every argument is
    already checked.
    """
    import dataclasses

    names: tuple[str, ...] = getattr(cls, "__slots__")
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    env.update({f"_set_{n}": cls.__dict__[n].__set__ for n in names})
    # A field with a default may be left out, as with the dataclass's own constructor.
    fields = getattr(cls, "__dataclass_fields__", {})
    params = []
    for n in names:
        default = getattr(fields.get(n), "default", dataclasses.MISSING)
        if default is dataclasses.MISSING:
            params.append(n)
        else:
            env[f"_default_{n}"] = default
            params.append(f"{n}=_default_{n}")
    body = "".join(f"    _set_{n}(obj, {n})\n" for n in names)
    source = f"def make({', '.join(params)}):\n    obj = _new(_cls)\n{body}    return obj\n"
    exec(compile(source, f"<fast constructor of {cls.__name__}>", "exec"), env)  # noqa: S102 - our own field names
    return env["make"]


class _Immutable:
    """Results are immutable: a copy is the object itself (a deep copy could only drift from it)."""

    __slots__ = ()

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


@dataclass(frozen=True, slots=True)
class Shortfall(_Immutable):
    """How far a clause is from being met: ``amount`` in ``unit``; ``missing`` codes for lists."""

    amount: float | int
    unit: str
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"amount": self.amount, "unit": self.unit, "missing": list(self.missing)}


@dataclass(frozen=True, slots=True)
class Finding(_Immutable):
    """The outcome of one clause for one centre.

    ``reason`` says why a clause is missing or not applicable (the field concerned).
    Findings of list and flag checks are shared between results: they are immutable.
    """

    clause: Clause
    status: Status
    credit: float
    measured: Any = None
    shortfall: Shortfall | None = None
    reason: str | None = None
    evidence: tuple[EvidenceItem, ...] = ()      # what the profile gives as proof for this clause

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    @property
    def waiver(self) -> Waiver | None:
        """The bureau's waiver that takes this clause out of the score (see :class:`WaivedFinding`)."""
        return None

    @property
    def waiver_expired(self) -> Waiver | None:
        """A waiver for this centre and clause that does not cover the assessment date (it changed nothing)."""
        return None

    @property
    def vetoes(self) -> bool:
        """True when this veto clause fails or cannot be assessed."""
        return self.clause.veto and self.status in (Status.FAIL, Status.MISSING)

    def action(self, lang: str | None = None) -> str | None:
        """The remediation in plain words, e.g. "将 10.0 m² 办公用房改为服务用房"."""
        lang = lang or language()
        if self.status not in (Status.FAIL, Status.PARTIAL):
            return None
        text = self.clause.shortfall_text(lang)
        if text is None:
            return None
        sf = self.shortfall
        if sf is None:
            # Nothing to quantify (no zones to convert, a rate of nothing): a text that would show an
            # amount says nothing, and the message explains instead.
            return None if uses_placeholders(text) else text
        items = separator("and", lang).join(self.clause.label(code, lang) for code in sf.missing)
        return fill(text, {"amount": fmt_amount(sf.amount), "amount_pct": fmt_amount_pct(sf.amount), "items": items})

    def message(self, lang: str | None = None) -> str:
        """One sentence on this finding, in ``lang``."""
        lang = lang or language()
        sf = self.shortfall
        # Messages depend only on what is compared here; the key holds the amount's type as well as its
        # value (2 and 2.0 read differently) and the clause itself, never a look-alike.
        key = (self.clause, self.status, self.reason, lang,
               None if sf is None else (sf.amount, type(sf.amount), sf.unit, sf.missing))
        text = _MESSAGES.get(key)
        if text is None:
            text = self._message(lang)
            if len(_MESSAGES) > _CACHE_LIMIT:
                _MESSAGES.clear()
            _MESSAGES[key] = text
        return text

    def _message(self, lang: str) -> str:
        if self.status in (Status.FAIL, Status.PARTIAL):
            action = self.action(lang)
            if action:
                return action
            return _REASONS[self.reason if self.reason in _REASONS else "not_met"].text(lang)
        if self.status is Status.PASS:
            return _REASONS["pass"].text(lang)
        key = "missing" if self.status is Status.MISSING else (
            "condition" if self.reason == "condition" else "zero_denominator")
        field = named(tuple(str(self.reason).split("."))) if self.reason else msg("the data")
        return Message(_REASONS[key].msgid, {"field": field}).text(lang)

    def to_json(self, lang: str | None = None) -> bytes:
        """``orjson.dumps(self.to_dict(lang))``, made from cached parts: a round holds the same few findings
        many times, differing in their measure more often than in anything else."""
        lang = lang or language()
        if self.evidence:       # rare: no cached parts
            return orjson.dumps(self.to_dict(lang))
        return self._json(lang)

    def _json(self, lang: str) -> bytes:
        """:meth:`to_json` of a finding without evidence."""
        sf = self.shortfall
        key = (self.clause, lang, self.status, self.credit, self.reason,
               None if sf is None else (sf.amount, type(sf.amount), sf.unit, sf.missing))
        parts = _JSON.get(key)
        if parts is None:
            d = self.to_dict(lang)
            head = {k: d[k] for k in ("clause", "category", "level", "veto", "weight", "title", "status", "credit")}
            parts = (orjson.dumps(head)[:-1] + b',"measured":',
                     b',"threshold":' + orjson.dumps(d["threshold"]) + b',"threshold_from":'
                     + orjson.dumps(d["threshold_from"]) + b',"shortfall":' + orjson.dumps(d["shortfall"])
                     + b',"message":' + orjson.dumps(d["message"]) + b"}")
            if len(_JSON) > _CACHE_LIMIT:
                _JSON.clear()
            _JSON[key] = parts
        return parts[0] + orjson.dumps(self.measured) + parts[1]

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        lang = lang or language()
        c = self.clause
        head = _HEADS.get((c, lang))
        if head is None:
            head = _HEADS[(c, lang)] = {"clause": c.clause, "category": c.category, "level": c.level.value,
                                        "veto": c.veto, "weight": c.weight, "title": c.title[lang]}
        status = self.status
        sf = self.shortfall
        threshold = c.threshold
        found = {
            **head,
            "status": _STATUS_VALUE[status],
            "credit": None if status is _NA else float(self.credit),
            "measured": self.measured,
            "threshold": list(threshold) if isinstance(threshold, (tuple, list)) else threshold,
            "threshold_from": c.threshold_from,
            "shortfall": None if sf is None else {"amount": sf.amount, "unit": sf.unit, "missing": list(sf.missing)},
            "message": self.message(lang),
        }
        if self.evidence:
            found["evidence"] = [item.to_dict() for item in self.evidence]
        return found


@dataclass(frozen=True, slots=True)
class WaivedFinding(Finding):
    """A finding a waiver concerns: ``waiver`` when one covers the assessment date and the clause is not met
    (the clause then leaves the score and cannot veto; ``status`` stays what was found), ``waiver_expired``
    when the centre's waiver for the clause does not cover the date (nothing changes). Findings without
    waivers are plain :class:`Finding` objects: the common path carries nothing more."""

    waiver: Waiver | None = None
    waiver_expired: Waiver | None = None

    @property
    def vetoes(self) -> bool:
        return self.waiver is None and self.clause.veto and self.status in (Status.FAIL, Status.MISSING)

    def to_json(self, lang: str | None = None) -> bytes:
        return orjson.dumps(self.to_dict(lang))

    def _json(self, lang: str) -> bytes:
        # a waived finding has no cached parts: the result's fast path must not take a plain finding's
        return orjson.dumps(self.to_dict(lang))

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        d = Finding.to_dict(self, lang)
        if self.waiver is not None:
            d["waiver"] = self.waiver.to_dict()
        if self.waiver_expired is not None:
            d["waiver_expired"] = self.waiver_expired.to_dict()
        return d


_BASE_FIELDS = tuple(f.name for f in dataclasses.fields(Finding))


_COPY = tuple((Finding.__dict__[n].__get__, Finding.__dict__[n].__set__) for n in _BASE_FIELDS)
_SET_WAIVER = WaivedFinding.__dict__["waiver"].__set__
_SET_EXPIRED = WaivedFinding.__dict__["waiver_expired"].__set__


def waived_finding(finding: Finding, waiver: Waiver | None, expired: Waiver | None) -> WaivedFinding:
    """``finding`` (every field of it) with a waiver or an expired waiver, built as fast_constructor builds."""
    obj = object.__new__(WaivedFinding)
    for get, put in _COPY:
        put(obj, get(finding, Finding))
    _SET_WAIVER(obj, waiver)
    _SET_EXPIRED(obj, expired)
    return obj


@dataclass(frozen=True, slots=True)
class Unwaived(_Immutable):
    """What a result would be with no waiver."""

    score: float
    grade: str
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "grade": self.grade, "verdict": self.verdict.value}


@dataclass(frozen=True, slots=True)
class CategoryScore(_Immutable):
    id: str
    score: float | None      # None when every clause of the category is not applicable
    weight: float            # the weight that counted


@dataclass(frozen=True, slots=True)
class AuditResult(_Immutable):
    """The verdict on one centre against one rule set."""

    profile: Profile
    ruleset: RuleSet
    score: float
    grade: str
    verdict: Verdict
    categories: tuple[CategoryScore, ...]
    findings: tuple[Finding, ...]
    audit: AuditInfo = SELF_CHECK       # self-check or inspection, by whom (the profile's ``audit`` block)
    unwaived: Unwaived | None = None        # the score, grade and verdict with no waiver; None when none applied

    @property
    def evidence(self) -> tuple[EvidenceItem, ...]:
        """Every piece of evidence, clause by clause."""
        return tuple(item for f in self.findings for item in f.evidence)

    @property
    def conforming(self) -> bool:
        return self.verdict is Verdict.CONFORMING

    @property
    def waived(self) -> tuple[Finding, ...]:
        """Clauses a waiver takes out of the score (their status is what was found)."""
        return tuple(f for f in self.findings if f.waiver is not None)

    @property
    def waivers_expired(self) -> tuple[Finding, ...]:
        """Clauses with a waiver for this centre that does not cover the assessment date."""
        return tuple(f for f in self.findings if f.waiver_expired is not None)

    def with_findings(self, findings: tuple[Finding, ...]) -> AuditResult:
        return dataclasses.replace(self, findings=findings)

    def with_unwaived(self, unwaived: Unwaived | None) -> AuditResult:
        return dataclasses.replace(self, unwaived=unwaived)

    @property
    def vetoed(self) -> tuple[Finding, ...]:
        """Veto clauses that fail or are not evidenced."""
        return tuple(f for f in self.findings if f.vetoes)

    @property
    def not_passed(self) -> tuple[Finding, ...]:
        """Clauses that fail or are partly met, in remediation order: veto, shall, should."""
        todo = [f for f in self.findings if f.status in (Status.FAIL, Status.PARTIAL) and f.waiver is None]
        return tuple(sorted(todo, key=lambda f: (not f.clause.veto, f.clause.level is not Level.SHALL)))

    @property
    def not_evidenced(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status is Status.MISSING and f.waiver is None)

    def finding(self, clause: str) -> Finding:
        for f in self.findings:
            if f.clause.clause == clause:
                return f
        raise KeyError(clause)

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The result document of the interface contract (plus a few extra keys)."""
        lang = lang or language()
        return {**self._head(self.profile.center), "findings": [f.to_dict(lang) for f in self.findings]}

    def to_json(self, lang: str | None = None) -> bytes:
        """The result document as compact JSON bytes: exactly ``orjson.dumps(self.to_dict(lang))``, several
        times faster (what a national round spends its time on)."""
        lang = lang or language()
        plain = plain_document(self.profile)
        head = orjson.dumps(self._head(plain.get("center", {})))
        if "evidence" in plain:
            findings = [f.to_json(lang) for f in self.findings]
        else:                   # the common case: no finding has evidence
            findings = [f._json(lang) for f in self.findings]
        return head[:-1] + b',"findings":[' + b",".join(findings) + b"]}"

    def _head(self, center: Any) -> dict[str, Any]:

        rs = self.ruleset
        head = {
            "result_version": RESULT_VERSION,
            "center": {k: center[k] for k in ("id", "name", "community", "region", "setting", "assessed_on")
                       if k in center},
            "profile": {"source": self.profile.source, "sha256": self.profile.sha256},
            "audit": {"kind": "self_check", "declared": False} if self.audit is SELF_CHECK else self.audit.to_dict(),
            "ruleset": {
                "id": rs.id,
                "version": rs.version,
                "layers": list(rs.layers),
                "content_hash": rs.content_hash,
            },
            "library_version": __version__,
            "score": self.score,
            "grade": self.grade,
            "verdict": self.verdict.value,
            "vetoed": [f.clause.clause for f in self.findings if f.vetoes],
            "categories": [{"id": c.id, "score": c.score} for c in self.categories],
        }
        if self.unwaived is not None:
            head["unwaived"] = self.unwaived.to_dict()
        return head


# --------------------------------------------------------------------------- rounding (GB/T 8170-2008)

NEAR_TIE = 1e-6


@functools.lru_cache(maxsize=4096)
def exact(value: float) -> Fraction:
    """The rational a weight or credit stands for: 0.5 → 1/2, 2/3 as a float → 2/3, 1.5 → 3/2.

    Weights and partial credits are written as short decimals, and list credits
    are n-ths of a list of at most a few hundred codes; the nearest fraction with a
    denominator up to 10⁹ is that value exactly. A rule set has few of them: each is worked out once. A value
    with no such fraction near it (a weight of 10⁻¹², which a layer may give: the nearest is 0) stands for
    itself, as written.
    """
    written = Fraction(repr(value))
    near = written.limit_denominator(10 ** 9)
    return near if abs(near - written) <= abs(written) / 10 ** 9 else written


def round_score(value: float, exact_value: Callable[[], Fraction]) -> float:
    """One decimal as GB/T 8170-2008 prescribes: nearest, and a tie to the even digit (56.25 → 56.2).

    Ties are decided on the exact quotient: when the floating-point value lies
    within a hair of a tie, ``exact_value()`` recomputes it with fractions, so
    a binary artefact (6.35 stored as 6.3499999…) never decides the digit.
    """
    tenths = value * 10
    frac = tenths - math.floor(tenths)
    if abs(frac - 0.5) > NEAR_TIE:
        return math.floor(tenths + 0.5) / 10
    q = exact_value() * 10
    whole = math.floor(q)
    rest = q - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1):
        whole += 1
    return whole / 10
