"""Audit community convenience service centres (社区便民服务中心) against their specification.

Start here::

    import compliance

    rules = compliance.load_ruleset("yinzhou")        # bundled name, YAML file or folder
    profile = compliance.load_profile("centre.yaml")  # or a mapping; raises ProfileError
    profile = compliance.read_evidence(profile)       # its evidence files read and hashed (the profile's folder)
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
→ ``evaluation`` (and ``comparison``) → ``result`` → ``rendering`` / ``pdf``; ``model`` holds the
shared types and imports nothing of ours.
"""
from .version import __version__
from .comparison import Change, ClauseChange, Comparison, compare
from .compile import bundled_rulesets, load_ruleset
from .contract import profile_schema, result_schema, ruleset_schema
from .errors import ComplianceError, Problem, ProfileError, ReportError, RuleSetError
from .evaluation import evaluate
from .evidence import read_evidence
from .model import AuditInfo, Clause, EvidenceItem, Level, RuleSet, RuleSource, Status, Verdict, Vocabulary
from .profile import Profile, load_profile
from .rendering import TextFormat, render
from .result import AuditResult, Finding, Shortfall
from .batch import audit_many, read_profiles

__all__ = [
    "load_ruleset",
    "bundled_rulesets",
    "load_profile",
    "evaluate",
    "read_evidence",
    "render",
    "compare",
    "read_profiles",
    "audit_many",
    "profile_schema",
    "result_schema",
    "ruleset_schema",
    "Comparison",
    "Change",
    "ClauseChange",
    "AuditResult",
    "Finding",
    "Shortfall",
    "AuditInfo",
    "EvidenceItem",
    "Status",
    "Level",
    "Verdict",
    "Profile",
    "RuleSet",
    "RuleSource",
    "TextFormat",
    "Clause",
    "Vocabulary",
    "ComplianceError",
    "ProfileError",
    "RuleSetError",
    "ReportError",
    "Problem",
    "__version__",
]
