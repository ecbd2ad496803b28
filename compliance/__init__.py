"""Audit community convenience service centres (社区便民服务中心) against their specification.

Start here::

    import compliance

    rules = compliance.load_ruleset("yinzhou")        # bundled name, YAML file or folder
    profile = compliance.load_profile("centre.yaml")  # or a dict; raises ProfileError
    result = compliance.evaluate(profile, rules)      # pure; an AuditResult
    compliance.render(result, "pdf", "report.pdf")    # "json", "text", "md", "html", "pdf"
    compliance.compare("before.yaml", "after.yaml", rules)   # the renovation check

Every error on bad input is a :class:`ComplianceError`.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .compare import Change, Comparison, compare
from .errors import ComplianceError, Problem, ProfileError, ReportError, RuleSetError
from .evaluate import evaluate
from .profile import Profile, load_profile, profile_schema
from .render import render
from .result import AuditResult, Finding, Shortfall, Status, Verdict
from .ruleset import RuleSet, load_ruleset

__all__ = [
    "load_ruleset",
    "load_profile",
    "evaluate",
    "render",
    "compare",
    "profile_schema",
    "Comparison",
    "Change",
    "AuditResult",
    "Finding",
    "Shortfall",
    "Status",
    "Verdict",
    "Profile",
    "RuleSet",
    "ComplianceError",
    "ProfileError",
    "RuleSetError",
    "ReportError",
    "Problem",
    "__version__",
]
