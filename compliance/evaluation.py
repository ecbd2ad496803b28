"""Scoring: a validated profile and a compiled rule set → an :class:`AuditResult`.

Pure: no disk, no network, nothing remembered between calls. Score =
100 × Σ(weight × credit) / Σ(weight) over the clauses that apply, rounded to
one decimal as GB/T 8170-2008 prescribes; a veto clause that fails or is
missing makes the centre non-conforming (and unqualified) whatever its score.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Callable, Mapping

import dataclasses

from .model import SELF_CHECK, AuditInfo, RuleSet, RuleSource, Status, Verdict, facts_of, plain_document
from .profile import Profile, load_profile, revalidate
from .result import AuditResult, CategoryScore, Finding, exact, fast_constructor, round_score

_floor = math.floor
_category: Callable[..., CategoryScore] = fast_constructor(CategoryScore)
_result: Callable[..., AuditResult] = fast_constructor(AuditResult)


def evaluate(profile: Profile | Mapping[str, Any], rules: RuleSource = "national") -> AuditResult:
    """Score one centre against a rule set.

    ``profile`` is a :class:`Profile` from :func:`load_profile` or a mapping
    (copied and validated here; a :class:`~compliance.ProfileError` if invalid);
    ``rules`` a :class:`RuleSet` or a bundled name or path.
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
    return _result(profile, rules, rounded, grade, verdict, categories, findings, audit)


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
                   if f.status is not Status.NOT_APPLICABLE and (category is None or f.clause.category == category)]
        total = sum((w for w, _ in counted), Fraction(0))
        return 100 * sum((w * c for w, c in counted), Fraction(0)) / total

    return round_score(100.0 * earned / weight, exact_value)
