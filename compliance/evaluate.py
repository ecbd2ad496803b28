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
from .result import AuditResult, CategoryScore, Verdict, fast_constructor, round_score
from .ruleset import RuleSet, load_ruleset

_category = fast_constructor(CategoryScore)
_result = fast_constructor(AuditResult)


def evaluate(profile: "Profile | Mapping[str, Any]", rules: "RuleSet | str" = "national") -> AuditResult:
    """Score one centre against a rule set.

    ``profile`` is a :class:`Profile` from :func:`load_profile` or a dict (validated
    here); ``rules`` a :class:`RuleSet` or a bundled name.
    """
    if not isinstance(rules, RuleSet):
        rules = load_ruleset(rules)
    if not isinstance(profile, Profile):
        profile = load_profile(profile, rules=rules)
    data = profile.data
    zone_class = rules.vocabulary.zone_class
    facts = profile.facts
    if facts is None or facts.zone_class is not zone_class:
        facts = Facts(data, zone_class)
        if None in facts.class_area:
            # Validated against another rule set's vocabulary: this one does not know a kind.
            problems = semantic_problems(data, rules.vocabulary.codes, profile.source)
            raise ProfileError(f"{len(problems)} problem(s) in profile for rule set {rules.id!r}",
                               file=profile.source, problems=problems)
    findings, total_weight, total, cat_weight, cat_earned, vetoed = rules.scorer(facts)

    score = round_score(100.0 * total / total_weight) if total_weight else 0.0
    categories = tuple([
        _category(category.id, round_score(100.0 * earned / weight) if weight else None, weight)
        for category, weight, earned in zip(rules.categories, cat_weight, cat_earned)
    ])
    if vetoed or score < rules.pass_score - 1e-9:
        verdict = Verdict.NON_CONFORMING
        grade = rules.grades[-1].id
    else:
        verdict = Verdict.CONFORMING
        grade = rules.grade_for(score).id
    return _result(profile, rules, score, grade, verdict, categories, findings)
