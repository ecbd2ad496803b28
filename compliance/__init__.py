"""Audit community convenience service centres (社区便民服务中心) against their specification.

Start here::

    import compliance

    rules = compliance.load_ruleset("yinzhou")        # bundled name, YAML file or folder
    profile = compliance.load_profile("centre.yaml")  # or a mapping; raises ProfileError
    result = compliance.evaluate(profile, rules)      # pure; an AuditResult
    compliance.render(result, "pdf", "report.pdf")    # "json", "text", "md", "html", "pdf"
    compliance.compare("before.yaml", "after.yaml", rules)   # the renovation check
    for where, item in compliance.read_profiles("centres.xlsx"):   # a district: Profile or ProfileError
        ...
    for result in compliance.audit_many(profiles, rules, jobs=4):  # in input order, streaming
        ...

Every error on bad input is a :class:`ComplianceError`. The pipeline, one
module a stage: ``reading`` (bytes → values) → ``layers`` + ``compile`` (rule
sets; ``checks`` holds one record per check type) and ``profile`` (profiles)
→ ``evaluate`` → ``result`` → ``render`` / ``pdf``; ``model`` holds the
shared types and imports nothing of ours.
"""
from __future__ import annotations

from .version import __version__
from .compare import Change, Comparison, compare
from .compile import load_ruleset
from .contract import profile_schema, result_schema, ruleset_schema
from .errors import ComplianceError, Problem, ProfileError, ReportError, RuleSetError
from .evaluate import evaluate
from .model import Clause, Level, RuleSet, Status, Verdict, Vocabulary
from .profile import Profile, load_profile
from .render import render
from .result import AuditResult, Finding, Shortfall
from .batch import audit_many, read_profiles

__all__ = [
    "load_ruleset",
    "load_profile",
    "evaluate",
    "render",
    "compare",
    "read_profiles",
    "audit_many",
    "profile_schema",
    "result_schema",
    "ruleset_schema",
    "Comparison",
    "Change",
    "AuditResult",
    "Finding",
    "Shortfall",
    "Status",
    "Level",
    "Verdict",
    "Profile",
    "RuleSet",
    "Clause",
    "Vocabulary",
    "ComplianceError",
    "ProfileError",
    "RuleSetError",
    "ReportError",
    "Problem",
    "__version__",
]
