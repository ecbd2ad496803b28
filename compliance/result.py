"""What an audit produces: statuses, findings, scores and the result document.

Everything here is immutable. Scoring happens once in :mod:`compliance.evaluate`;
reporters only format these objects. :meth:`AuditResult.to_dict` gives the JSON
result documented in ``interfaces.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .profile import Profile
    from .ruleset import Clause, RuleSet

RESULT_VERSION = 1
LANGS = ("zh", "en")


class Status(str, Enum):
    PASS = "pass"
    PARTIAL = "partial"
    FAIL = "fail"
    MISSING = "missing"
    NOT_APPLICABLE = "not_applicable"


class Level(str, Enum):
    SHALL = "shall"
    SHOULD = "should"


class Verdict(str, Enum):
    CONFORMING = "conforming"
    NON_CONFORMING = "non_conforming"


STATUS_LABELS = {
    Status.PASS: {"zh": "符合", "en": "pass"},
    Status.PARTIAL: {"zh": "部分符合", "en": "partial"},
    Status.FAIL: {"zh": "不符合", "en": "fail"},
    Status.MISSING: {"zh": "未佐证", "en": "not evidenced"},
    Status.NOT_APPLICABLE: {"zh": "不适用", "en": "not applicable"},
}
LEVEL_LABELS = {Level.SHALL: {"zh": "应", "en": "shall"}, Level.SHOULD: {"zh": "宜", "en": "should"}}
VERDICT_LABELS = {
    Verdict.CONFORMING: {"zh": "符合规范", "en": "Conforming"},
    Verdict.NON_CONFORMING: {"zh": "不符合规范", "en": "Non-conforming"},
}
UNIT_LABELS = {
    "m2": {"zh": "m²", "en": "m²"},
    "persons": {"zh": "人", "en": "persons"},
    "hours": {"zh": "小时", "en": "hours"},
    "ratio": {"zh": "", "en": ""},
    "items": {"zh": "项", "en": "items"},
}
_REASONS = {
    "condition": {"zh": "本中心不适用此条款", "en": "this clause does not apply to this centre"},
    "zero_denominator": {"zh": "{field} 为 0，无法计算，不适用", "en": "{field} is 0, so the clause does not apply"},
    "no_zones": {"zh": "未登记服务或办公分区面积", "en": "no service or office zone area is recorded"},
    "missing": {"zh": "未提供 {field}，无法佐证", "en": "{field} is not given, so the clause is not evidenced"},
    "pass": {"zh": "符合要求", "en": "met"},
}


def fmt_number(value: Any) -> str:
    """Figures as people write them: 10.0 m², 0.75, 18."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:.1f}"
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def fmt_pct(value: float) -> str:
    return f"{value * 100:.1f}%".replace(".0%", "%")


def fast_constructor(cls: type) -> Any:
    """A positional constructor for a frozen, slotted dataclass that skips its ``__init__``.

    A frozen dataclass sets each field through ``object.__setattr__``; writing
    the slots directly builds the same immutable object in half the time. The
    constructor is generated from the class's own slot names, as ``dataclasses``
    generates ``__init__``. Used on the evaluation hot path, where every
    argument is already checked.
    """
    names = cls.__slots__
    env = {"_new": object.__new__, "_cls": cls}
    env.update({f"_set_{n}": cls.__dict__[n].__set__ for n in names})
    body = "".join(f"    _set_{n}(obj, {n})\n" for n in names)
    source = f"def make({', '.join(names)}):\n    obj = _new(_cls)\n{body}    return obj\n"
    exec(compile(source, f"<fast constructor of {cls.__name__}>", "exec"), env)  # noqa: S102 - our own field names
    return env["make"]


@dataclass(frozen=True, slots=True)
class Shortfall:
    """How far a clause is from being met: ``amount`` in ``unit``; ``missing`` codes for lists."""

    amount: float | int
    unit: str
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"amount": self.amount, "unit": self.unit, "missing": list(self.missing)}


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one clause for one centre.

    ``reason`` says why a clause is missing or not applicable (the field concerned).
    Findings of list and flag checks are shared between results: they are immutable.
    """

    clause: "Clause"
    status: Status
    credit: float
    measured: Any = None
    shortfall: Shortfall | None = None
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.status is Status.PASS

    @property
    def vetoes(self) -> bool:
        """True when this veto clause fails or cannot be assessed."""
        return self.clause.veto and self.status in (Status.FAIL, Status.MISSING)

    def action(self, lang: str = "zh") -> str | None:
        """The remediation in plain words, e.g. "将 10.0 m² 办公用房改为服务用房"."""
        if self.status not in (Status.FAIL, Status.PARTIAL):
            return None
        text = self.clause.shortfall_text(lang)
        if text is None:
            return None
        sf = self.shortfall
        amount = sf.amount if sf is not None else 0
        sep = "、" if lang == "zh" else ", "
        items = sep.join(self.clause.label(code, lang) for code in (sf.missing if sf else ()))
        return text.format(
            amount=fmt_number(amount),
            amount_pct=fmt_pct(amount) if isinstance(amount, (int, float)) else amount,
            items=items,
        )

    def message(self, lang: str = "zh") -> str:
        """One sentence on this finding, in ``lang``."""
        if self.status in (Status.FAIL, Status.PARTIAL):
            action = self.action(lang)
            if action:
                return action
            key = self.reason or "missing"
            return _REASONS.get(key, _REASONS["missing"])[lang].format(field=self.reason)
        if self.status is Status.PASS:
            return _REASONS["pass"][lang]
        key = "missing" if self.status is Status.MISSING else (
            "condition" if self.reason == "condition" else "zero_denominator")
        return _REASONS[key][lang].format(field=self.reason)

    def to_dict(self, lang: str = "zh") -> dict:
        c = self.clause
        return {
            "clause": c.clause,
            "category": c.category,
            "level": c.level.value,
            "veto": c.veto,
            "weight": c.weight,
            "title": c.title[lang],
            "status": self.status.value,
            "credit": None if self.status is Status.NOT_APPLICABLE else float(self.credit),
            "measured": self.measured,
            "threshold": list(c.threshold) if isinstance(c.threshold, tuple) else c.threshold,
            "threshold_from": c.threshold_from,
            "shortfall": self.shortfall.to_dict() if self.shortfall is not None else None,
            "message": self.message(lang),
        }


@dataclass(frozen=True, slots=True)
class CategoryScore:
    id: str
    score: float | None      # None when every clause of the category is not applicable
    weight: float            # the weight that counted


@dataclass(frozen=True, slots=True)
class AuditResult:
    """The verdict on one centre against one rule set."""

    profile: "Profile"
    ruleset: "RuleSet"
    score: float
    grade: str
    verdict: Verdict
    categories: tuple[CategoryScore, ...]
    findings: tuple[Finding, ...]

    @property
    def conforming(self) -> bool:
        return self.verdict is Verdict.CONFORMING

    @property
    def vetoed(self) -> tuple[Finding, ...]:
        """Veto clauses that fail or are not evidenced."""
        return tuple(f for f in self.findings if f.vetoes)

    @property
    def not_passed(self) -> tuple[Finding, ...]:
        """Clauses that fail or are partly met, in remediation order: veto, shall, should."""
        todo = [f for f in self.findings if f.status in (Status.FAIL, Status.PARTIAL)]
        return tuple(sorted(todo, key=lambda f: (not f.clause.veto, f.clause.level is not Level.SHALL)))

    @property
    def not_evidenced(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status is Status.MISSING)

    def finding(self, clause: str) -> Finding:
        for f in self.findings:
            if f.clause.clause == clause:
                return f
        raise KeyError(clause)

    def to_dict(self, lang: str = "zh") -> dict:
        """The result document of ``interfaces.md`` (plus a few extra keys)."""
        from . import __version__

        rs = self.ruleset
        center = self.profile.data.get("center", {})
        return {
            "result_version": RESULT_VERSION,
            "center": {k: center[k] for k in ("id", "name", "community", "region", "setting", "assessed_on") if k in center},
            "profile": {"source": self.profile.source, "sha256": self.profile.sha256},
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
            "vetoed": [f.clause.clause for f in self.vetoed],
            "categories": [{"id": c.id, "score": c.score} for c in self.categories],
            "findings": [f.to_dict(lang) for f in self.findings],
        }


def round_score(value: float) -> float:
    """One decimal, half up, robust to binary noise (89.95 → 90.0)."""
    return math.floor(value * 10 + 0.5 + 1e-9) / 10
