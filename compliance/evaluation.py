"""Scoring: a validated profile and a compiled rule set → an :class:`AuditResult`.

Pure: no disk, no network, nothing remembered between calls. Score =
100 × Σ(weight × credit) / Σ(weight) over the clauses that apply, rounded to
one decimal as GB/T 8170-2008 prescribes; a veto clause that fails or is
missing makes the centre non-conforming (and unqualified) whatever its score.
"""
from __future__ import annotations

import dataclasses
import datetime
import math
import os
from fractions import Fraction
from typing import Any, Callable, Mapping

from .model import SELF_CHECK, AuditInfo, RuleSet, RuleSource, Status, Verdict, facts_of, plain_document
from .profile import Profile, load_profile, revalidate
from .result import AuditResult, CategoryScore, Finding, Unwaived, exact, fast_constructor, round_score, waived_finding
from .waivers import Waivers, as_waivers, assessed_day, covering


_floor = math.floor
_NA, _FAIL, _MISSING = Status.NOT_APPLICABLE, Status.FAIL, Status.MISSING
_category: Callable[..., CategoryScore] = fast_constructor(CategoryScore)
_result: Callable[..., AuditResult] = fast_constructor(AuditResult)


def evaluate(profile: Profile | Mapping[str, Any], rules: RuleSource = "national", *,
             waivers: Waivers | Mapping[str, Any] | str | os.PathLike[str] | None = None) -> AuditResult:
    """Score one centre against a rule set.

    ``profile`` is a :class:`Profile` from :func:`load_profile` or a mapping
    (copied and validated here; a :class:`~compliance.ProfileError` if invalid);
    ``rules`` a :class:`RuleSet` or a bundled name or path. ``waivers`` (a
    :class:`~compliance.Waivers` from :func:`~compliance.load_waivers`, a path or
    a mapping) are applied as :mod:`compliance.waivers` says; the result's
    ``unwaived`` then gives the score without them.
    """
    if not isinstance(rules, RuleSet):
        from .compile import load_ruleset

        rules = load_ruleset(rules)
    if isinstance(profile, Profile):
        if profile.vocabulary is not rules.vocabulary or facts_of(profile) is None:
            profile = revalidate(profile, rules.vocabulary, rules.id)
    elif isinstance(profile, Mapping):
        profile = load_profile(profile, rules=rules)
    else:
        raise TypeError(f"evaluate takes a Profile or a mapping, not a {type(profile).__name__}")
    facts = facts_of(profile)
    assert facts is not None
    findings, total_weight, earned, cat_weight, cat_earned, vetoed = rules.scorer(facts)  # type: ignore[misc]
    audit = SELF_CHECK
    data = plain_document(profile)
    if "audit" in data or "evidence" in data:       # rare: a round of self-checks has neither
        audit, findings = _with_evidence(profile, rules, findings)
    result = _result(profile, rules, *_figures(rules, findings, total_weight, earned, cat_weight, cat_earned, vetoed),
                     findings, audit)
    if waivers is None:
        return result
    return apply_waivers(result, as_waivers(waivers, rules))


_WAIVABLE = (Status.FAIL, Status.PARTIAL, Status.MISSING)


def apply_waivers(result: AuditResult, waivers: Waivers, today: datetime.date | None = None) -> AuditResult:
    """``result`` with the centre's waivers applied (the same object when none concerns it).

    A waiver covering the assessment date takes a clause that fails, is partly met or is not evidenced out of
    the score (as a not-applicable one) and out of the veto; the finding keeps its status and carries the
    waiver, and the result gains ``unwaived``. A waiver not covering the date is carried as ``waiver_expired``.
    """
    mine = waivers.for_centre(result.profile.id)
    if not mine:
        return result
    day = assessed_day(result, today)
    findings = list(result.findings)
    applied = touched = False
    for i, f in enumerate(findings):
        found = mine.get(f.clause.clause)
        if not found:
            continue
        current, expired = covering(found, day)
        if current is not None:
            if f.status in _WAIVABLE:
                findings[i] = waived_finding(f, current, None)
                applied = touched = True
        else:
            findings[i] = waived_finding(f, None, expired)
            touched = True
    if not touched:
        return result
    if not applied:
        return result.with_findings(tuple(findings))
    score, grade, verdict, categories = rescore(result.ruleset, tuple(findings))
    # replace() keeps every other field of the result as it was
    return dataclasses.replace(result, score=score, grade=grade, verdict=verdict, categories=categories,
                               findings=tuple(findings), unwaived=Unwaived(result.score, result.grade, result.verdict))


def rescore(rules: RuleSet, findings: tuple[Finding, ...]) -> tuple[float, str, Verdict, tuple[CategoryScore, ...]]:
    """Score findings already made, leaving out the clauses a waiver covers (as not applicable ones are), in
    the order and with the arithmetic of the compiled scorer, so equal inputs give equal floats."""
    index = {c.id: j for j, c in enumerate(rules.categories)}
    total_weight = earned = 0.0
    cat_weight = [0.0] * len(index)
    cat_earned = [0.0] * len(index)
    vetoed = False
    for f in findings:
        status = f.status
        if status is _NA or f.waiver is not None:
            continue
        clause = f.clause
        w = float(clause.weight)
        e = w * f.credit
        j = index[clause.category]
        total_weight += w
        earned += e
        cat_weight[j] += w
        cat_earned[j] += e
        if clause.veto and (status is _FAIL or status is _MISSING):
            vetoed = True
    return _figures(rules, findings, total_weight, earned, tuple(cat_weight), tuple(cat_earned), vetoed)


def _figures(rules: RuleSet, findings: tuple[Finding, ...], total_weight: float, earned: float,
             cat_weight: tuple[float, ...], cat_earned: tuple[float, ...],
             vetoed: bool) -> tuple[float, str, Verdict, tuple[CategoryScore, ...]]:
    """Score, grade, verdict and category scores from the sums."""
    score = _score(earned, total_weight, findings, None)
    categories = tuple(
        _category(category.id, _score(e, w, findings, category.id) if w else None, w)
        for category, w, e in zip(rules.categories, cat_weight, cat_earned)
    )
    rounded = 0.0 if score is None else score
    if vetoed or rounded < rules.pass_score:
        verdict = Verdict.NON_CONFORMING
        grade = rules.grades[-1].id
    else:
        verdict = Verdict.CONFORMING
        grade = rules.grade_for(rounded).id
    return rounded, grade, verdict, categories


def _with_evidence(profile: Profile, rules: RuleSet, findings: tuple[Finding, ...]) -> tuple[AuditInfo, tuple[Finding, ...]]:
    """The audit block, and the findings with the evidence the profile gives for their clauses."""
    from .evidence import audit_of, check_clauses, evidence_of

    evidence = evidence_of(profile)
    if evidence:
        check_clauses(profile, rules)
        findings = tuple(dataclasses.replace(f, evidence=evidence[f.clause.clause])
                         if f.clause.clause in evidence else f for f in findings)
    return audit_of(profile), findings


def _score(earned: float, weight: float, findings: tuple[Finding, ...], category: str | None) -> float | None:
    if not weight:
        return None
    tenths = 1000.0 * earned / weight
    if abs(tenths - _floor(tenths) - 0.5) > 1e-6:        # not near a tie: the float decides (the common case)
        return _floor(tenths + 0.5) / 10

    def exact_value() -> Fraction:
        counted = [(exact(f.clause.weight), exact(f.credit)) for f in findings
                   if f.status is not Status.NOT_APPLICABLE and f.waiver is None
                   and (category is None or f.clause.category == category)]
        total = sum((w for w, _ in counted), Fraction(0))
        return 100 * sum((w * c for w, c in counted), Fraction(0)) / total

    return round_score(100.0 * earned / weight, exact_value)
