"""Waivers (豁免): written, approved, time-limited exceptions a bureau grants to one centre for one clause.

A waiver file holds a ``waivers:`` list; each entry names the centre, the
clause, the reason, who approved it and the days it runs::

    waivers:
      - centre: 330212-BH-0007
        clause: "5.5"
        reason: 历史保护建筑，服务大厅无法迁至一楼
        approved_by: 鄞州区民政局
        approved_on: 2026-03-01
        expires_on: 2027-12-31

:func:`load_waivers` reads and checks one (a path or a mapping) against a rule
set and returns an immutable :class:`Waivers`; :func:`compliance.evaluate`
applies it (:func:`compliance.evaluation.apply_waivers`). A waiver applies when centre and
clause match and ``approved_on ≤ assessed_on ≤ expires_on`` (the centre's
``assessed_on``, else the day of the audit), and only to a clause that is
``fail``, ``partial`` or ``missing``: that clause leaves the score as a
``not_applicable`` one would and cannot veto, while its finding keeps its real
status and carries the waiver. A waiver for the centre and clause that does
not cover the day is carried as ``waiver_expired`` and changes nothing.

:func:`compliance.evaluation.apply_waivers` applies them.
"""
from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Union

from . import reading
from .errors import PathItem, Problem, WaiverError, problems_message
from .i18n import Message, msg, quote
from .model import RuleSet, RuleSource, Verdict, plain_document, today_in_china
from .result import AuditResult, Finding
from .wording import hinted

__all__ = ["Waiver", "Waivers", "WaiverError", "load_waivers", "as_waivers", "covering", "KEYS", "MAX_WAIVERS"]

KEYS = ("centre", "clause", "reason", "approved_by", "approved_on", "expires_on")
MAX_WAIVERS = 50_000          # a province's file; beyond it a file is refused, not read
MAX_TEXT = 500                # the longest reason or approver
MAX_ID = 64                   # a centre id or clause number, as profiles and rule sets write them


@dataclass(frozen=True, slots=True)
class Waiver:
    """One exception: ``centre`` may leave ``clause`` unmet from ``approved_on`` to ``expires_on``, both included."""

    centre: str
    clause: str
    reason: str
    approved_by: str
    approved_on: datetime.date
    expires_on: datetime.date

    def covers(self, day: datetime.date) -> bool:
        return self.approved_on <= day <= self.expires_on

    def to_dict(self) -> dict[str, str]:
        """What a finding carries: ``{"reason", "approved_by", "approved_on", "expires_on"}``."""
        return {"reason": self.reason, "approved_by": self.approved_by,
                "approved_on": self.approved_on.isoformat(), "expires_on": self.expires_on.isoformat()}

    def __copy__(self) -> Waiver:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Waiver:
        return self


@dataclass(frozen=True, slots=True)
class Waivers:
    """A checked waiver file: its waivers in file order, where it came from, and the rule set it was checked
    against. Immutable; pass it to :func:`compliance.evaluate`, ``audit_many`` or ``compare`` as ``waivers=``."""

    waivers: tuple[Waiver, ...]
    source: str | None = None              # the file's name, or None for a mapping
    sha256: str | None = None              # of the file's bytes
    ruleset_hash: str | None = None        # the content hash of the rule set its clauses were checked against

    def __len__(self) -> int:
        return len(self.waivers)

    def __iter__(self) -> Iterator[Waiver]:
        return iter(self.waivers)

    def for_centre(self, centre: str) -> Mapping[str, tuple[Waiver, ...]]:
        """The centre's waivers by clause (empty when it has none)."""
        return _index(self).get(centre, _EMPTY)

    def __copy__(self) -> Waivers:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Waivers:
        return self


_EMPTY: Mapping[str, tuple[Waiver, ...]] = {}
_INDEXES: dict[int, tuple[Waivers, dict[str, dict[str, tuple[Waiver, ...]]]]] = {}


def _index(waivers: Waivers) -> dict[str, dict[str, tuple[Waiver, ...]]]:
    """centre → clause → waivers, built once per Waivers object (kept beside it: the object stays frozen)."""
    found = _INDEXES.get(id(waivers))
    if found is not None and found[0] is waivers:
        return found[1]
    index: dict[str, dict[str, list[Waiver]]] = {}
    for w in waivers.waivers:
        index.setdefault(w.centre, {}).setdefault(w.clause, []).append(w)
    frozen = {c: {k: tuple(v) for k, v in by.items()} for c, by in index.items()}
    if len(_INDEXES) > 64:
        _INDEXES.clear()
    _INDEXES[id(waivers)] = (waivers, frozen)
    return frozen


WaiversSource = Union[Waivers, Mapping[str, Any], str, "os.PathLike[str]"]


def load_waivers(source: WaiversSource, *, rules: RuleSource = "national") -> Waivers:
    """Read and check a waiver file (YAML or JSON path, ``-`` for standard input) or a mapping.

    Every key is required; ``reason`` and ``approved_by`` are not blank; dates are real dates written
    ``2026-03-01`` and ``approved_on ≤ expires_on``; the clause is one of ``rules`` (the close one is
    suggested). Raises :class:`WaiverError` with every problem located (file, line, JSON path such as
    ``$.waivers[2].expires_on``). A :class:`Waivers` already checked against ``rules`` is returned as is.
    """
    from .compile import load_ruleset

    if not isinstance(source, (Waivers, Mapping, str, os.PathLike)):
        raise TypeError(f"load_waivers takes a path, a mapping or Waivers, not a {type(source).__name__}")
    ruleset = rules if isinstance(rules, RuleSet) else load_ruleset(rules)
    if isinstance(source, Waivers):
        if source.ruleset_hash == ruleset.content_hash:
            return source
        document: Any = {"waivers": [_as_record(w) for w in source.waivers]}
        name, raw = source.source or "<waivers>", None
    elif isinstance(source, Mapping):
        document, name, raw = source, "<dict>", None
    else:
        name = os.fspath(source)
        document, raw = reading.load(source, WaiverError, max_bytes=16 * reading.MAX_BYTES)
    waivers, problems = _check(document, name, ruleset)
    if problems:
        total = len(problems)
        raise WaiverError(problems_message(total, msg("the waiver file")), file=name, total=total,
                          problems=reading.locate(problems[:100], raw))
    digest = hashlib.sha256(raw).hexdigest() if raw is not None else None
    return Waivers(tuple(waivers), None if raw is None else name, digest, ruleset.content_hash)


def as_waivers(waivers: Any, rules: RuleSet) -> Waivers:
    """``waivers=`` as the API takes it (Waivers, a path or a mapping) checked against ``rules``."""
    if type(waivers) is Waivers and waivers.ruleset_hash == rules.content_hash:
        return waivers                      # the common case: checked once, applied to many centres
    if not isinstance(waivers, (Waivers, Mapping, str, os.PathLike)):
        raise TypeError(f"waivers is Waivers, a path or a mapping, not a {type(waivers).__name__}")
    return load_waivers(waivers, rules=rules)


def _as_record(w: Waiver) -> dict[str, Any]:
    return {"centre": w.centre, "clause": w.clause, "reason": w.reason, "approved_by": w.approved_by,
            "approved_on": w.approved_on, "expires_on": w.expires_on}


def _kind(value: Any) -> Message:
    from .contract import kind_of

    return kind_of(value)


def _check(document: Any, name: str, rules: RuleSet) -> tuple[list[Waiver], list[Problem]]:
    problems: list[Problem] = []

    def problem(message: Message, path: tuple[PathItem, ...]) -> None:
        problems.append(Problem(message, path, name))

    if not isinstance(document, Mapping):
        what = msg("empty") if document is None else msg("{kind}, not a mapping", kind=_kind(document))
        problem(msg("the document is {what}; a waiver file is a mapping with the key {key}", what=what,
                    key=quote("waivers")), ())
        return [], problems
    for key in document:
        if key != "waivers":
            problem(hinted(msg("unknown key {key} (the keys are {keys})", key=quote(str(key), 60),
                               keys=quote("waivers")), key, ["waivers"]), (str(key),))
    if "waivers" not in document:
        problem(msg("required key {field} is missing", field=quote("waivers")), ())
        return [], problems
    entries = document["waivers"]
    if not isinstance(entries, (list, tuple)):
        problem(msg("{value} is not {expected}", value=_kind(entries), expected=msg("a list")), ("waivers",))
        return [], problems
    if len(entries) > MAX_WAIVERS:
        problem(msg("a list of more than {expected:,} items; it must have at most {expected:,}",
                    expected=MAX_WAIVERS), ("waivers",))
        return [], problems
    clauses = [c.clause for c in rules.clauses]
    known = set(clauses)
    out: list[Waiver] = []
    for i, entry in enumerate(entries):
        if len(problems) > 1000:
            break
        at: tuple[PathItem, ...] = ("waivers", i)
        if not isinstance(entry, Mapping):
            problem(msg("{value} is not {expected}", value=_kind(entry), expected=msg("a mapping")), at)
            continue
        ok = True
        for key in entry:
            if key not in KEYS:
                ok = False
                problem(hinted(msg("unknown key {key} (the keys are {keys})", key=quote(str(key), 60),
                                   keys=[quote(k) for k in KEYS]), key, KEYS), at + (str(key),))
        values: dict[str, Any] = {}
        for key in KEYS:
            if key not in entry:
                ok = False
                problem(msg("required key {field} is missing", field=quote(key)), at)
                continue
            value = entry[key]
            if key in ("approved_on", "expires_on"):
                day = _date(value)
                if day is None:
                    ok = False
                    problem(msg("{value} is not a date in the calendar (write it as 2026-11-01)",
                                value=_shown(value)), at + (key,))
                values[key] = day
                continue
            if key == "clause" and isinstance(value, (int, float)) and not isinstance(value, bool):
                # clause: 5.10 unquoted is the number 5.1: which clause was meant cannot be known
                ok = False
                problem(msg("{value} is a number; write the clause in quotes ({example}), as 5.10 and 5.1 are two "
                            "clauses", value=quote(value), example=quote('"5.5"')), at + (key,))
                continue
            if not isinstance(value, str):
                ok = False
                problem(msg("{value} is not {expected}", value=_kind(value), expected=msg("text")), at + (key,))
                continue
            text = value.strip()
            if not text:
                ok = False
                problem(msg("{key} is blank; write it", key=quote(key)), at + (key,))
                continue
            limit = MAX_ID if key in ("centre", "clause") else MAX_TEXT
            if len(text) > limit:
                ok = False
                problem(msg("{value} is {length:,} characters long; it must be at most {expected}",
                            value=quote(text, 40), length=len(text), expected=limit), at + (key,))
                continue
            values[key] = text
        clause = values.get("clause")
        if isinstance(clause, str) and clause not in known:
            ok = False
            problem(hinted(msg("the rule set {rules} has no clause {clause}", rules=quote(rules.id),
                               clause=quote(clause)), clause, clauses), at + ("clause",))
        start, end = values.get("approved_on"), values.get("expires_on")
        if isinstance(start, datetime.date) and isinstance(end, datetime.date) and start > end:
            ok = False
            problem(msg("it expires on {expires}, before it was approved on {approved}",
                        expires=end.isoformat(), approved=start.isoformat()), at + ("expires_on",))
        if ok:
            out.append(Waiver(values["centre"], values["clause"], values["reason"], values["approved_by"],
                              values["approved_on"], values["expires_on"]))
    return out, problems


def _date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return None
    if isinstance(value, datetime.date):
        return value
    if type(value) is not str or len(value) != 10:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


def _shown(value: Any) -> Message | str:
    from .contract import show

    return show(value, 60)


# --------------------------------------------------------------------------- applying

def assessed_day(result: AuditResult, today: datetime.date | None = None) -> datetime.date:
    """The day a waiver must cover: the centre's ``assessed_on``, else the day of the audit in China (as the ledger
    counts its days), whatever the machine's time zone."""
    text = plain_document(result.profile).get("center", {}).get("assessed_on")
    day = _date(text)
    return day if day is not None else (today or today_in_china())


def expired_warning(finding: Finding, result: AuditResult) -> Message:
    """What a round's errors.csv and ``audit`` say of a waiver that does not cover the assessment date."""
    w = finding.waiver_expired
    assert w is not None
    return msg("the waiver of clause {clause} runs from {approved} to {expires} and does not cover the assessment "
               "date {date}: it was not applied", clause=finding.clause.clause, approved=w.approved_on.isoformat(),
               expires=w.expires_on.isoformat(), date=assessed_day(result).isoformat())


def _pick(candidates: tuple[Waiver, ...]) -> Waiver:
    """Of several waivers for one clause, the one that runs longest (then the latest approved)."""
    return max(candidates, key=lambda w: (w.expires_on, w.approved_on))


def covering(found: tuple[Waiver, ...], day: datetime.date) -> tuple[Waiver | None, Waiver | None]:
    """Of a centre's waivers for one clause: (the one covering ``day``, else None; the one not covering it, when
    none does)."""
    current = tuple(w for w in found if w.covers(day))
    if current:
        return _pick(current), None
    return None, _pick(found)


def unwaived_verdict(result: AuditResult) -> tuple[float, str, Verdict]:
    """The score, grade and verdict with no waiver."""
    u = result.unwaived
    return (result.score, result.grade, result.verdict) if u is None else (u.score, u.grade, u.verdict)
