"""Self-check against inspection (自评 vs 考核): what a community claimed, clause by clause, beside what the
inspectors found.

``reconcile(self_check, inspection)`` sets two audits of one centre side by side with the pairing
:func:`compare` uses (:func:`compliance.comparison.pair`), and flags every clause:

- ``overstated`` — the self-check claimed more credit than the inspection found (pass against partial, partial
  against fail, a clause claimed met that the inspectors could not find evidenced);
- ``understated`` — it claimed less;
- ``agrees`` — the same credit (a clause missing in the self-check claims no credit, so it agrees with a fail);
- ``differs`` — one side found the clause not applicable and the other found it met: no credit is at stake, but
  the two audits disagree on whether the clause applies, and that is not an agreement.

A clause not applicable on one side and short on the other is judged by what it does to the score: not
applicable leaves the clause out, as if met. So a self-check that calls a clause not applicable which the
inspectors find short *overstated* it; a self-check that counts a shortfall the inspectors find does not apply
*understated* it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from .comparison import Side, audit_both, pair
from .errors import MismatchError, Problem
from .i18n import language, msg, quote
from .model import RuleSource, Status
from .result import AuditResult, Finding
from .waivers import WaiversSource

_EPSILON = 1e-9


class Flag(str, Enum):
    OVERSTATED = "overstated"      # the self-check claimed more credit than the inspection found
    UNDERSTATED = "understated"    # it claimed less
    AGREES = "agrees"              # the same credit
    DIFFERS = "differs"            # applicable on one side, not applicable on the other, met where it applies


FLAG_LABELS = {
    Flag.OVERSTATED: msg("self-check overstated"),
    Flag.UNDERSTATED: msg("self-check understated"),
    Flag.AGREES: msg("agrees"),
    Flag.DIFFERS: msg("applicability differs"),
}


def flag(self_status: Status, self_credit: float, inspection_status: Status, inspection_credit: float) -> Flag:
    """The flag of one clause from the two statuses and credits (a missing clause's credit is 0; a not applicable
    one's credit is not read). The one rule, for a pair of results and for a round's rows alike."""
    self_na, inspection_na = self_status is Status.NOT_APPLICABLE, inspection_status is Status.NOT_APPLICABLE
    if self_na and inspection_na:
        return Flag.AGREES
    claimed = 1.0 if self_na else (0.0 if self_status is Status.MISSING else self_credit)
    found = 1.0 if inspection_na else (0.0 if inspection_status is Status.MISSING else inspection_credit)
    if claimed > found + _EPSILON:
        return Flag.OVERSTATED
    if claimed < found - _EPSILON:
        return Flag.UNDERSTATED
    return Flag.DIFFERS if self_na or inspection_na else Flag.AGREES


@dataclass(frozen=True)
class ClauseReconciliation:
    """One clause: the self-check's finding, the inspection's, and the flag."""

    self_check: Finding
    inspection: Finding
    flag: Flag

    @property
    def clause(self) -> str:
        return self.inspection.clause.clause


@dataclass(frozen=True)
class Reconciliation:
    """A centre's self-check beside its inspection under one rule set, clause by clause."""

    self_check: AuditResult
    inspection: AuditResult
    clauses: tuple[ClauseReconciliation, ...]

    @property
    def gap(self) -> float:
        """The self-check's score less the inspection's, to one decimal as the scores are."""
        return round(self.self_check.score - self.inspection.score, 1)

    def of(self, *flags: Flag) -> tuple[ClauseReconciliation, ...]:
        return tuple(c for c in self.clauses if c.flag in flags)

    @property
    def overstated(self) -> tuple[ClauseReconciliation, ...]:
        """The clauses the self-check claimed more for: veto clauses first, then shall, then should."""
        rank = {"shall": 0, "should": 1}
        return tuple(sorted(self.of(Flag.OVERSTATED), key=lambda c: (not c.inspection.clause.veto,
                                                                     rank.get(c.inspection.clause.level.value, 2))))

    @property
    def understated(self) -> tuple[ClauseReconciliation, ...]:
        return self.of(Flag.UNDERSTATED)

    @property
    def differs(self) -> tuple[ClauseReconciliation, ...]:
        return self.of(Flag.DIFFERS)

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The reconciliation document (workflow contract), with a few extra keys."""
        lang = lang or language()

        def side(result: AuditResult) -> dict[str, Any]:
            return {"score": result.score, "grade": result.grade, "verdict": result.verdict.value,
                    "vetoed": [f.clause.clause for f in result.vetoed],
                    "assessed_on": _text(result.profile.center.get("assessed_on")),
                    "profile": {"source": result.profile.source, "sha256": result.profile.sha256}}

        def credit(f: Finding) -> float | None:
            return None if f.status is Status.NOT_APPLICABLE else (0.0 if f.status is Status.MISSING else float(f.credit))

        rs = self.inspection.ruleset
        return {
            "reconciliation_version": 1,
            "center": {"id": self.inspection.profile.id, "name": self.inspection.profile.name},
            "ruleset": {"id": rs.id, "version": rs.version, "layers": list(rs.layers), "content_hash": rs.content_hash},
            "self": side(self.self_check),
            "inspection": side(self.inspection),
            "gap": self.gap,
            "overstated": [c.clause for c in self.overstated],
            "understated": [c.clause for c in self.understated],
            "differs": [c.clause for c in self.differs],
            "clauses": [
                {"clause": c.clause, "title": c.inspection.clause.title[lang],
                 "level": c.inspection.clause.level.value, "veto": c.inspection.clause.veto,
                 "self_status": c.self_check.status.value, "self_credit": credit(c.self_check),
                 "inspection_status": c.inspection.status.value, "inspection_credit": credit(c.inspection),
                 "flag": c.flag.value}
                for c in self.clauses
            ],
        }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def reconcile(self_check: Side, inspection: Side, rules: RuleSource | None = None, *,
              waivers: WaiversSource | None = None) -> Reconciliation:
    """Set a centre's self-check (自评) beside its inspection (考核), clause by clause.

    Each side is an :class:`AuditResult`, a :class:`Profile`, a mapping or a path. Without ``rules`` both are
    audited under the rule set of the results given (two results under different rule sets raise
    :class:`MismatchError`), else the national one; with ``rules`` a result under another rule set is audited
    again under it, as :func:`compare` does; ``waivers`` apply to both sides as :func:`compare` applies them (a
    waived clause keeps its status and credit, so only the scores and the gap change). Two audits of different centres raise :class:`MismatchError`,
    located at the inspection's ``center.id``; a wrong argument type is a ``TypeError``.
    """
    for name, value in (("self_check", self_check), ("inspection", inspection)):
        if isinstance(value, (bytes, bytearray, int, float, list, tuple)) or value is None:
            raise TypeError(f"reconcile takes an AuditResult, a Profile, a mapping or a path as {name}, "
                            f"not a {type(value).__name__}")
    mine, theirs = audit_both(self_check, inspection, rules, waivers)
    if mine.profile.id != theirs.profile.id:
        told = msg("the inspection is of centre {inspection}, the self-check of centre {self_check}: reconcile a "
                   "centre's self-check with its own inspection",
                   inspection=quote(theirs.profile.id), self_check=quote(mine.profile.id))
        raise MismatchError(msg("two audits that cannot be set side by side"), file=theirs.profile.source,
                            problems=[Problem(told, ("center", "id"), theirs.profile.source)])
    return Reconciliation(mine, theirs, tuple(ClauseReconciliation(a, b, flag(a.status, a.credit, b.status, b.credit))
                                              for a, b in pair(mine, theirs)))


__all__ = ["Flag", "FLAG_LABELS", "ClauseReconciliation", "Reconciliation", "reconcile", "flag"]
