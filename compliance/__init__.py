"""Audit community convenience service centres (社区便民服务中心) against their specification.

Start here::

    import compliance

    rules = compliance.load_ruleset("yinzhou")        # bundled name, YAML file or folder
    profile = compliance.load_profile("centre.yaml")  # or a mapping; raises ProfileError
    profile = compliance.read_evidence(profile)       # its evidence files read and hashed (the profile's folder)
    result = compliance.evaluate(profile, rules)      # pure; an AuditResult
    waivers = compliance.load_waivers("waivers.yaml", rules=rules)   # the bureau's exceptions; WaiverError
    result = compliance.evaluate(profile, rules, waivers=waivers)     # result.unwaived: the score without them
    compliance.render(result, "pdf", "report.pdf")    # "json", "text", "md", "html", "pdf"
    compliance.compare("before.yaml", "after.yaml", rules)   # the renovation check
    compliance.reconcile("self-check.yaml", "inspection.yaml", rules)   # 自评 vs 考核
    for where, item in compliance.read_profiles("centres.xlsx"):   # a district: Profile or ProfileError
        ...
    for result in compliance.audit_many(profiles, rules, jobs=4):  # in input order, streaming
        ...
    with compliance.ledger(["round-2025", "round-2026"]) as items:  # the rectification ledger (整改台账)
        compliance.write_ledger(items, "ledger.xlsx")

Every error on bad input is a :class:`ComplianceError`. The pipeline, one
module a stage: ``reading`` (bytes → values) → ``layers`` + ``compile`` (rule
sets; ``checks`` holds one record per check type) and ``profile`` (profiles)
→ ``evaluation`` (and ``comparison``, ``reconciliation``) → ``result`` → ``rendering`` / ``pdf``; ``model`` holds the
shared types and imports nothing of ours.
"""
from .version import __version__
from .comparison import Change, ClauseChange, Comparison, compare
from .compile import bundled_rulesets, load_ruleset
from .contract import profile_schema, reconciliation_schema, result_schema, ruleset_schema, waivers_schema
from .errors import ComplianceError, MismatchError, Problem, ProfileError, ReportError, RuleSetError, WaiverError
from .evaluation import evaluate
from .evidence import read_evidence
from .model import AuditInfo, Clause, EvidenceItem, Level, RuleSet, RuleSource, Status, Verdict, Vocabulary
from .profile import Profile, load_profile
from .reconciliation import ClauseReconciliation, Flag, Reconciliation, reconcile
from .rendering import TextFormat, render
from .result import AuditResult, Finding, Shortfall, Unwaived
from .waivers import Waiver, Waivers, load_waivers
from .batch import audit_many, read_profiles
from .batch.rectification import Ledger, LedgerItem, ledger, write_ledger

__all__ = [
    "load_ruleset",
    "bundled_rulesets",
    "load_profile",
    "load_waivers",
    "evaluate",
    "read_evidence",
    "render",
    "compare",
    "reconcile",
    "read_profiles",
    "audit_many",
    "ledger",
    "write_ledger",
    "Ledger",
    "LedgerItem",
    "profile_schema",
    "result_schema",
    "reconciliation_schema",
    "waivers_schema",
    "ruleset_schema",
    "Comparison",
    "Change",
    "ClauseChange",
    "Reconciliation",
    "ClauseReconciliation",
    "Flag",
    "AuditResult",
    "Finding",
    "Shortfall",
    "Unwaived",
    "Waiver",
    "Waivers",
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
    "MismatchError",
    "WaiverError",
    "Problem",
    "__version__",
]
