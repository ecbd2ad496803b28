"""Scoring: a validated profile and a compiled rule set → an :class:`AuditResult`.

Pure: no disk, no network, no global state. Score = 100 × Σ(weight × credit) /
Σ(weight) over clauses that apply; a veto clause that fails or is missing makes
the centre non-conforming (and unqualified) whatever its score.
"""
from __future__ import annotations

from typing import Any, Mapping

from .checks import Facts
from .errors import ProfileError
from .profile import Profile, load_profile, semantic_problems
from .result import AuditResult, CategoryScore, Status, Verdict, round_score
from .ruleset import RuleSet, load_ruleset

_NA = Status.NOT_APPLICABLE
_VETOING = (Status.FAIL, Status.MISSING)


def evaluate(profile: "Profile | Mapping[str, Any]", rules: "RuleSet | str" = "national") -> AuditResult:
    """Score one centre against a rule set.

    ``profile`` is a :class:`Profile` from :func:`load_profile` or a dict (validated
    here); ``rules`` a :class:`RuleSet` or a bundled name.
    """
    rules = load_ruleset(rules)
    if not isinstance(profile, Profile):
        profile = load_profile(profile, rules=rules)
    data = profile.data
    zone_class = rules.vocabulary.zone_class
    facts = Facts(data, zone_class)
    if None in facts.class_area:
        # Validated against another rule set's vocabulary: this one does not know a kind.
        problems = semantic_problems(data, rules.vocabulary.codes, profile.source)
        raise ProfileError(f"{len(problems)} problem(s) in profile for rule set {rules.id!r}",
                           file=profile.source, problems=problems)
    findings = tuple(check(facts) for check in rules.checks)

    total_weight = 0.0
    total = 0.0
    by_category: dict[str, list[float]] = {c.id: [0.0, 0.0] for c in rules.categories}
    vetoed = False
    for finding in findings:
        status = finding.status
        if status is _NA:
            continue
        clause = finding.clause
        weight = clause.weight
        earned = weight * finding.credit
        total_weight += weight
        total += earned
        acc = by_category[clause.category]
        acc[0] += weight
        acc[1] += earned
        if clause.veto and status in _VETOING:
            vetoed = True

    score = round_score(100.0 * total / total_weight) if total_weight else 0.0
    categories = tuple(
        CategoryScore(cid, round_score(100.0 * earned / weight) if weight else None, weight)
        for cid, (weight, earned) in by_category.items()
    )
    if vetoed or score < rules.pass_score - 1e-9:
        verdict = Verdict.NON_CONFORMING
        grade = rules.grades[-1].id
    else:
        verdict = Verdict.CONFORMING
        grade = rules.grade_for(score).id
    return AuditResult(profile, rules, score, grade, verdict, categories, findings)
