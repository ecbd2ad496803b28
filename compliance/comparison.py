"""The renovation check: the same centre before and after a plan, clause by clause.

``compare(before, after, rules)`` audits both and says, per clause, whether
the plan fixes it, improves it, leaves it short, or breaks something that
passed. Scoring stays in :func:`compliance.evaluate`; this only sets the two
results side by side.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping, Union

from .compile import load_ruleset
from .errors import MismatchError, Problem
from .i18n import cmsg, language, msg, quote
from .evaluation import evaluate
from .model import RuleSet, RuleSource, Status
from .profile import Profile, load_profile
from .result import AuditResult, Finding
from .waivers import Waivers, WaiversSource, as_waivers


class Change(str, Enum):
    FIXED = "fixed"              # not met before, met after
    IMPROVED = "improved"        # still not met, but more credit than before
    STILL_SHORT = "still_short"  # not met before or after, no better
    WORSENED = "worsened"        # still not met, less credit than before
    BROKEN = "broken"            # met before, not met after
    UNCHANGED = "unchanged"      # met before and after
    NOT_APPLICABLE = "not_applicable"


CHANGE_LABELS = {
    Change.FIXED: msg("fixed"),
    Change.IMPROVED: msg("improved, still short"),
    Change.STILL_SHORT: msg("still short"),
    Change.WORSENED: msg("worse"),
    Change.BROKEN: msg("broken by the plan"),
    Change.UNCHANGED: msg("still met"),
    Change.NOT_APPLICABLE: cmsg("change", "not applicable"),
}


def classify(before: Finding, after: Finding) -> Change:
    if before.status is Status.NOT_APPLICABLE and after.status is Status.NOT_APPLICABLE:
        return Change.NOT_APPLICABLE
    was_met = before.status in (Status.PASS, Status.NOT_APPLICABLE)
    is_met = after.status in (Status.PASS, Status.NOT_APPLICABLE)
    if was_met:
        return Change.UNCHANGED if is_met else Change.BROKEN
    if is_met:
        return Change.FIXED
    if after.credit > before.credit + 1e-9:
        return Change.IMPROVED
    if after.credit < before.credit - 1e-9:
        return Change.WORSENED
    return Change.STILL_SHORT


@dataclass(frozen=True)
class ClauseChange:
    before: Finding
    after: Finding
    change: Change

    @property
    def clause(self) -> str:
        return self.after.clause.clause


@dataclass(frozen=True)
class Comparison:
    """Two audits of one centre under one rule set, and what changed per clause."""

    before: AuditResult
    after: AuditResult
    changes: tuple[ClauseChange, ...]

    @property
    def score_change(self) -> float:
        return round(self.after.score - self.before.score, 1)

    @property
    def same_center(self) -> bool:
        return self.before.profile.id == self.after.profile.id

    def of(self, *kinds: Change) -> tuple[ClauseChange, ...]:
        return tuple(c for c in self.changes if c.change in kinds)

    @property
    def fixed(self) -> tuple[ClauseChange, ...]:
        return self.of(Change.FIXED)

    @property
    def still_short(self) -> tuple[ClauseChange, ...]:
        """Not met after the plan (improved, unchanged or worse), in remediation order."""
        todo = self.of(Change.IMPROVED, Change.STILL_SHORT, Change.WORSENED)
        order = {f.clause.clause: i for i, f in enumerate(self.after.not_passed + self.after.not_evidenced)}
        return tuple(sorted(todo, key=lambda c: order.get(c.clause, len(order))))

    @property
    def broken(self) -> tuple[ClauseChange, ...]:
        return self.of(Change.BROKEN)

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        lang = lang or language()
        def side(result: AuditResult) -> dict[str, Any]:
            return {"score": result.score, "grade": result.grade, "verdict": result.verdict.value,
                    "vetoed": [f.clause.clause for f in result.vetoed],
                    **({} if result.unwaived is None else {"unwaived": result.unwaived.to_dict(),
                                                           "waived": [f.clause.clause for f in result.waived]}),
                    "profile": {"source": result.profile.source, "sha256": result.profile.sha256}}

        return {
            "comparison_version": 1,
            "center": {"id": self.after.profile.id, "name": self.after.profile.name},
            "same_center": self.same_center,
            "ruleset": {"id": self.after.ruleset.id, "version": self.after.ruleset.version,
                        "layers": list(self.after.ruleset.layers), "content_hash": self.after.ruleset.content_hash},
            "before": side(self.before),
            "after": side(self.after),
            "score_change": self.score_change,
            "fixed": [c.clause for c in self.fixed],
            "still_short": [c.clause for c in self.still_short],
            "broken": [c.clause for c in self.broken],
            "clauses": [
                {"clause": c.clause, "change": c.change.value,
                 "before": {"status": c.before.status.value, "measured": c.before.measured,
                            "shortfall": c.before.shortfall.to_dict() if c.before.shortfall else None},
                 "after": {"status": c.after.status.value, "measured": c.after.measured,
                           "shortfall": c.after.shortfall.to_dict() if c.after.shortfall else None,
                           "message": c.after.message(lang)}}
                for c in self.changes
            ],
        }


def _audit(side: "AuditResult | Profile | Mapping[str, Any] | str | os.PathLike[str]", rules: RuleSet,
           waivers: Waivers | None = None) -> AuditResult:
    if isinstance(side, AuditResult):
        if side.ruleset is not rules or waivers is not None:
            return evaluate(side.profile, rules, waivers=waivers)
        return side
    if not isinstance(side, Profile):
        side = load_profile(side, rules=rules)
    return evaluate(side, rules, waivers=waivers)


Side = Union["AuditResult", Profile, Mapping[str, Any], str, "os.PathLike[str]"]


def audit_both(first: Side, second: Side, rules: RuleSource | None = "national",
               waivers: WaiversSource | None = None) -> tuple[AuditResult, AuditResult]:
    """Two sides audited under one rule set: ``rules`` when given (a result under another one is audited again
    under it), else the rule set of the results given (two results under different rule sets are refused with a
    :class:`~compliance.MismatchError`), else the national one; ``waivers`` apply to both, each on its own
    assessment date."""
    if rules is None:
        given = [s for s in (first, second) if isinstance(s, AuditResult)]
        if len(given) == 2 and given[0].ruleset.content_hash != given[1].ruleset.content_hash:
            raise _rules_differ(given[0], given[1])
        rules = given[0].ruleset if given else "national"
    ruleset = load_ruleset(rules)
    checked = None if waivers is None else as_waivers(waivers, ruleset)
    return _audit(first, ruleset, checked), _audit(second, ruleset, checked)


def _rules_differ(first: AuditResult, second: AuditResult) -> MismatchError:
    told = msg("the two audits are under different rule sets ({first} and {second}); their clauses and scores "
               "cannot be set side by side: audit both under one rule set",
               first=quote(f"{first.ruleset.id} {first.ruleset.version}"),
               second=quote(f"{second.ruleset.id} {second.ruleset.version}"))
    return MismatchError(msg("two audits that cannot be set side by side"), file=second.profile.source,
                         problems=[Problem(told, ("ruleset",), second.profile.source)])


def pair(first: AuditResult, second: AuditResult) -> tuple[tuple[Finding, Finding], ...]:
    """The clause-by-clause pairing of two audits of one rule set (what :func:`compare` and
    :func:`compliance.reconcile` both set side by side): every clause's two findings, in the rule set's order."""
    if first.ruleset.content_hash != second.ruleset.content_hash:
        raise _rules_differ(first, second)
    return tuple(zip(first.findings, second.findings))


def compare(before: Side, after: Side, rules: RuleSource = "national", *,
            waivers: WaiversSource | None = None) -> Comparison:
    """Audit a centre before and after a renovation plan under one rule set and compare them.

    ``before`` and ``after`` are paths, dicts, Profiles or AuditResults; ``waivers`` (as
    :func:`compliance.evaluate` takes them) apply to both, each on its own assessment date.
    """
    a, b = audit_both(before, after, rules, waivers)
    return Comparison(a, b, tuple(ClauseChange(x, y, classify(x, y)) for x, y in pair(a, b)))
