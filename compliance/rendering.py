"""Reporters: one function, one signature, every format.

``render(result, fmt, target=None)`` returns ``str`` (text formats) or
``bytes`` when no target is given, and writes to ``target`` otherwise. The
templates in ``reports/`` only lay out the view built here from the result;
every figure comes from the :class:`AuditResult`.
"""
from __future__ import annotations

import functools
import json
import os
import re
import unicodedata
from typing import Any, Callable, Literal, Sequence, overload

from . import pdf, reading, thumbnails
from .checks import CHECK_TYPES
from .comparison import CHANGE_LABELS, Comparison
from .reconciliation import FLAG_LABELS, Flag, Reconciliation
from .i18n import PUNCTUATION, Message, Words, cmsg, language, msg, quote
from .errors import ReportError
from .model import AuditInfo, RuleSet, Status
from .result import AuditResult, Finding
from .i18n import LANGS
from .wording import LEVEL_LABELS, NA, STATUS_LABELS, VERDICT_LABELS, fmt_amount, unit_label
from .version import __version__
from .writing import write_atomic

STATUS_MARKS = {"pass": "√", "partial": "◐", "fail": "×", "missing": "？", "not_applicable": "–"}

UI = Words(
    ruleset=msg("Rule set"), verdict=msg("Verdict"), score=msg("Score"), grade=msg("Grade"),
    categories=msg("Category scores"), vetoed=msg("Veto clauses not met"),
    actions=msg("What to fix (veto → shall → should)"), not_evidenced=msg("Clauses not evidenced"),
    all_passed=msg("Every clause is met; nothing to fix."),
    none_failed_but_missing=msg("No clause fails, but the clauses below are not evidenced: supply the data."),
    clause=msg("Clause"), requirement=msg("Requirement"), level=msg("Level"), veto=msg("Veto"),
    measured=msg("Measured"), threshold=msg("Threshold"), set_by=msg("Set by"), status=msg("Status"),
    findings=msg("All clauses"), assessed_on=msg("Assessed on"), region=msg("Region"), center_id=msg("ID"),
    veto_mark=msg("veto"), not_applicable=msg("Clauses not applicable"),
    report_title=msg("Community service centre audit report"), plan=msg("Remediation plan (veto → shall → should)"),
    set_by_inline=msg("set by"), measured_inline=msg("measured"),
    threshold_inline=msg("required"), veto_tag=msg("[veto]"),
    compare_title=msg("Renovation check: before and after"), before=msg("Before"), after=msg("After"),
    change=msg("Change"), fixed=msg("What the plan fixes"), still_short=msg("Still short after the plan"),
    broken=msg("What the plan breaks"), none=msg("none"),
    waivers=msg("Waivers"), score_unwaived=msg("Score without waivers"), reason=msg("Reason"),
    approved_by=msg("Approved by"), approved_on=msg("Approved on"), expires_on=msg("Expires on"),
    waived_tag=msg("[waived]"), waived_note=msg("These clauses are left out of the score by the bureau's waivers; "
                                                 "their findings are shown as found."),
    waivers_expired=msg("Waivers not applied (they do not cover the assessment date)"),
    self_check_title=msg("Community service centre self-check report"),
    inspection_title=msg("Community service centre inspection report"),
    signoff=msg("Sign-off"), signoff_note=msg("By signing, the inspectors and the centre's responsible person "
                                              "confirm the findings of this report."),
    role=cmsg("sign-off", "Role"), name=cmsg("sign-off", "Name"), signature=cmsg("sign-off", "Signature"),
    signed_on=cmsg("sign-off", "Date"), centre=cmsg("sign-off", "Centre"), inspector=cmsg("sign-off", "Inspector"),
    responsible=msg("Responsible person"), round=cmsg("audit round", "Round"),
    seal=msg("Bureau's seal"), seal_here=msg("(seal here)"),
    evidence=msg("Evidence"), evidence_note=msg("Photos and documents given as proof, by clause; each file is "
                                                "identified by its SHA-256 hash (the first 16 hex digits)."),
    file=cmsg("evidence", "File"), stored=msg("stored (named by its hash)"), sha256=cmsg("evidence", "Hash"),
    note=cmsg("evidence", "Note"), taken_on=msg("Taken on"), no_picture=msg("no picture"),
    pdf_document=msg("a document (no picture)"),
)


# How much of the library's version, a rule set's title and its version the footer shows before "…", in columns
# (a Chinese character takes two, a letter or digit one): at these widths the versions fill at most about
# nine tenths of the line, and the hashes come after them.
FOOTER_LIMITS = {"library": 40, "title": 40, "version": 32}


def cut_to_width(value: str, columns: int) -> str:
    """``value`` cut with "…" to at most ``columns`` columns, a wide (Chinese) character counting two."""
    used = 0
    for i, ch in enumerate(value):
        used += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used > columns:
            return value[: max(i - 1, 0)] + "…"
    return value


def ruleset_view(rs: RuleSet, lang: str) -> dict[str, Any]:
    """A rule set as a reader knows it: its title and version, and its layers by their titles (全国基线 → 宁波市 →
    宁波市鄞州区); ``chain`` is empty for a rule set of one layer, and ``named`` says it all in one phrase
    (宁波市鄞州区 2026.1（全国基线 → 宁波市 → 宁波市鄞州区）). The ids are for machines (the JSON result)."""
    layers = [rs.layer_title(layer, lang) for layer in rs.layers]
    chain = " → ".join(layers) if len(layers) > 1 else ""
    named = f"{rs.title[lang]} {rs.version}"
    return {"id": rs.id, "title": rs.title[lang], "version": rs.version, "layers": layers, "chain": chain,
            "named": named + (PUNCTUATION[lang]["lp"] + chain + PUNCTUATION[lang]["rp"] if chain else ""),
            "content_hash": rs.content_hash}


def footer(rs: RuleSet, lang: str, *hashes: Message) -> str:
    """The reproducibility line every page carries, on one line: the library and the rule set with their versions
    first, then the content hashes (:func:`profile_hash`), so that a hash can never push a version off the line
    (the stylesheet cuts what does not fit with "…" instead of wrapping it)."""
    parts = [cmsg("report footer", "compliance {version}", version=cut_to_width(__version__, FOOTER_LIMITS["library"])),
             cmsg("report footer", "rule set {title} {version}", title=cut_to_width(rs.title[lang], FOOTER_LIMITS["title"]),
                  version=cut_to_width(rs.version, FOOTER_LIMITS["version"])),
             cmsg("report footer", "rule set sha256 {hash}", hash=rs.content_hash[:16]), *hashes]
    return " · ".join(part.text(lang) for part in parts)


def profile_hash(sha256: str, side: str = "") -> Message:
    """A profile's hash for the footer: its first 16 hex digits (the JSON result has all 64); ``side`` is
    ``before`` or ``after`` in a comparison."""
    if side == "before":
        return cmsg("report footer", "before sha256 {hash}", hash=sha256[:16])
    if side == "after":
        return cmsg("report footer", "after sha256 {hash}", hash=sha256[:16])
    return cmsg("report footer", "profile sha256 {hash}", hash=sha256[:16])


def measured_text(finding: Finding, lang: str) -> str:
    """The measured value as an auditor writes it: 75%, 每百户 31.1 m², 4/6 项, 是/否 (from the check type)."""
    if finding.measured is None:
        return NA
    return CHECK_TYPES[finding.clause.check_type].measured_text(finding, lang)


def threshold_text(finding: Finding, lang: str) -> str:
    """The requirement's figure: ≥ 80%, ≥ 每百户 30 m², 6 项齐全, 是 (from the check type)."""
    return CHECK_TYPES[finding.clause.check_type].threshold_text(finding.clause, lang)


def _finding_view(f: Finding, result: AuditResult, lang: str) -> dict[str, Any]:
    c = f.clause
    return {
        "clause": c.clause,
        "title": c.title[lang],
        "requirement": c.requirement[lang],
        "category": result.ruleset.category(c.category).title[lang],
        "level": LEVEL_LABELS[c.level].text(lang),
        "veto": c.veto,
        "status": f.status.value,
        "status_label": STATUS_LABELS[f.status].text(lang),
        "status_mark": STATUS_MARKS[f.status.value],
        "measured": measured_text(f, lang),
        "threshold": threshold_text(f, lang),
        "threshold_from": result.ruleset.layer_title(c.threshold_from, lang),
        "message": f.message(lang),
        "action": f.action(lang),
        "shortfall": (f"{fmt_amount(f.shortfall.amount)} {unit_label(f.shortfall.unit, lang)}".strip()
                      if f.shortfall is not None else None),
        "waived": f.waiver is not None,
    }


def _waiver_view(f: Finding, row: dict[str, Any], expired: bool = False) -> dict[str, Any]:
    w = f.waiver_expired if expired else f.waiver
    assert w is not None
    return {**row, "reason": w.reason, "approved_by": w.approved_by, "approved_on": w.approved_on.isoformat(),
            "expires_on": w.expires_on.isoformat()}


def _unwaived_view(result: AuditResult, lang: str) -> dict[str, Any] | None:
    u = result.unwaived
    if u is None:
        return None
    return {"score": f"{u.score:.1f}", "grade": result.ruleset.grade(u.grade).title[lang],
            "verdict": u.verdict.value, "verdict_label": VERDICT_LABELS[u.verdict].text(lang)}


def view(result: AuditResult, lang: str = "zh") -> dict[str, Any]:
    """Everything a template shows, already worded and formatted."""
    if lang not in LANGS:
        raise ReportError(msg("the language {lang} is not supported; use one of {langs}", lang=quote(lang),
                              langs=[quote(x) for x in LANGS]))
    rs = result.ruleset
    center = result.profile.center
    region = center.get("region") or {}
    grade = rs.grade(result.grade)
    findings = [_finding_view(f, result, lang) for f in result.findings]
    by_clause = {v["clause"]: v for v in findings}
    return {
        "lang": lang,
        "ui": UI.of(lang),
        "center": {
            "id": center["id"],
            "name": center["name"],
            "community": center.get("community"),
            "region": ("" if lang == "zh" else " ").join(
                str(region[k]) for k in ("province", "city", "district", "street") if region.get(k)),
            "assessed_on": center.get("assessed_on"),
        },
        "ruleset": ruleset_view(rs, lang),
        "footer": footer(rs, lang, profile_hash(result.profile.sha256)),
        "profile_sha256": result.profile.sha256,
        "library_version": __version__,
        "chart_data": _chart(result, lang),
        "score": f"{result.score:.1f}",
        "grade": grade.title[lang],
        "verdict": result.verdict.value,
        "verdict_label": VERDICT_LABELS[result.verdict].text(lang),
        "conforming": result.conforming,
        "categories": [
            {"id": c.id, "title": rs.category(c.id).title[lang],
             "score": NA if c.score is None else f"{c.score:.1f}", "value": c.score}
            for c in result.categories
        ],
        "vetoed": [by_clause[f.clause.clause] for f in result.vetoed],
        "nothing_to_fix": UI.of(lang)["none_failed_but_missing" if result.not_evidenced else "all_passed"],
        "actions": [by_clause[f.clause.clause] for f in result.not_passed],
        "not_evidenced": [by_clause[f.clause.clause] for f in result.not_evidenced],
        "not_applicable": [v for v in findings if v["status"] == Status.NOT_APPLICABLE.value],
        "findings": findings,
        "unwaived": _unwaived_view(result, lang),
        "waived": [_waiver_view(f, by_clause[f.clause.clause]) for f in result.waived],
        "waivers_expired": [_waiver_view(f, by_clause[f.clause.clause], True) for f in result.waivers_expired],
        "doc_title": _doc_title(result.audit, lang),
        "audit_declared": result.audit.declared,
        "signoff": _signoff_view(result) if result.audit.is_inspection else None,
        "evidence": _evidence_view(result, lang),
    }


def _doc_title(audit: AuditInfo, lang: str) -> str:
    """The report's title by who audited: an inspection's 检查报告, a stated self-check's 自查报告, and today's
    title for a profile that declares neither (no ``audit`` block)."""
    if audit.is_inspection:
        return UI.of(lang)["inspection_title"]
    return UI.of(lang)["self_check_title" if audit.declared else "report_title"]


def _signoff_view(result: AuditResult) -> dict[str, Any]:
    """The sign-off block of an inspection's report: who signs (each inspector, then the centre's responsible
    person), the assessment date and the round."""
    audit = result.audit
    return {"inspectors": list(audit.inspectors), "responsible": audit.responsible or "",
            "assessed_on": result.profile.center.get("assessed_on") or "", "round": audit.round or ""}


def _evidence_view(result: AuditResult, lang: str) -> list[dict[str, Any]]:
    """The evidence appendix, clause by clause in the rule set's order: each item's file name (or that it is
    stored, named by its hash), hash, note and date taken; ``picture`` is filled in for the HTML and PDF only."""
    out = []
    for f in result.findings:
        if not f.evidence:
            continue
        items = []
        for item in f.evidence:
            sha = item.sha256 or ""
            items.append({"file": item.file, "sha256": sha, "short": sha[:16], "note": item.note or "",
                          "taken_on": item.taken_on or "", "pdf": item.media_type == "application/pdf",
                          "item": item, "picture": None})
        out.append({"clause": f.clause.clause, "title": f.clause.title[lang], "items": items})
    return out


def report_view(result: AuditResult, lang: str = "zh", pictures: bool = False) -> dict[str, Any]:
    """:func:`view`, with the evidence photos' thumbnails when ``pictures`` (the HTML and PDF reports)."""
    out = view(result, lang)
    if pictures:
        for clause in out["evidence"]:
            for item in clause["items"]:
                item["picture"] = thumbnails.thumbnail(item["item"])
    return out


def _chart(result: AuditResult, lang: str) -> dict[str, Any]:
    """Geometry of the category bar chart, worked out here so the template only draws.

    The bars are an SVG in its own units (scaled 0.3 mm a unit); the labels and values beside them are
    page text, one line per bar, because text inside an SVG costs several times as much to lay out.
    """
    rs = result.ruleset
    return bar_chart([(rs.category(c.id).title[lang], 0.0 if c.score is None else c.score,
                       NA if c.score is None else f"{c.score:.1f}",
                       LOW if c.score is not None and c.score < rs.pass_score else BAR)
                      for c in result.categories], 100.0, pass_value=rs.pass_score)


BAR, LOW = "#4a6fa5", "#b3261e"


def bar_chart(items: Sequence[tuple[str, float, str, str]], scale: float, *, bar_width: int = 420,
              pass_value: float | None = None) -> dict[str, Any]:
    """Geometry of a bar chart for ``macros.chart``: (label, value, value text, colour) per bar, bars
    ``bar_width`` units long at ``scale``, and a dashed line at ``pass_value`` when there is one."""
    bar_height, row = 15, 22
    bars = [{"label": label, "y": 4 + i * row, "width": round(bar_width * (value / scale if scale else 0), 1),
             "value": text, "colour": colour} for i, (label, value, text, colour) in enumerate(items)]
    height = 8 + len(bars) * row
    return {"width": bar_width, "height": height, "bar_width": bar_width, "bar_height": bar_height,
            "width_mm": round(bar_width * 0.3, 1), "height_mm": round(height * 0.3, 1),
            "pass_x": None if pass_value is None else round(bar_width * pass_value / scale, 1), "bars": bars}


def _side(result: AuditResult, lang: str) -> dict[str, Any]:
    grade = result.ruleset.grade(result.grade)
    return {"score": f"{result.score:.1f}", "grade": grade.title[lang], "verdict": result.verdict.value,
            "verdict_label": VERDICT_LABELS[result.verdict].text(lang), "conforming": result.conforming,
            "assessed_on": result.profile.center.get("assessed_on"), "sha256": result.profile.sha256,
            "vetoed": [f.clause.clause for f in result.vetoed], "unwaived": _unwaived_view(result, lang),
            "waived": [f.clause.clause for f in result.waived]}


def compare_view(comparison: Comparison, lang: str = "zh") -> dict[str, Any]:
    """Everything the comparison templates show, worded and formatted."""
    base = view(comparison.after, lang)
    before_rows = {f.clause.clause: _finding_view(f, comparison.before, lang) for f in comparison.before.findings}
    after_rows = {v["clause"]: v for v in base["findings"]}
    rows = []
    for c in comparison.changes:
        rows.append({"clause": c.clause, "title": after_rows[c.clause]["title"], "change": c.change.value,
                     "change_label": CHANGE_LABELS[c.change].text(lang), "before": before_rows[c.clause],
                     "after": after_rows[c.clause]})
    by_clause = {r["clause"]: r for r in rows}
    delta = comparison.score_change
    return {
        **base,
        "footer": footer(comparison.after.ruleset, lang, profile_hash(comparison.before.profile.sha256, "before"),
                         profile_hash(comparison.after.profile.sha256, "after")),
        "before": _side(comparison.before, lang),
        "after": _side(comparison.after, lang),
        "score_change": f"{delta:+.1f}",
        "score_up": delta > 0, "score_down": delta < 0,
        "same_center": comparison.same_center,
        "centers_differ": "" if comparison.same_center else (
            msg("Note: the two profiles carry different centre ids (before {before}; after {after})",
                before=" · ".join((comparison.before.profile.id, comparison.before.profile.name)),
                after=" · ".join((comparison.after.profile.id, comparison.after.profile.name))).text(lang)),
        "fixed": [by_clause[c.clause] for c in comparison.fixed],
        "still_short": [by_clause[c.clause] for c in comparison.still_short],
        "broken": [by_clause[c.clause] for c in comparison.broken],
        "rows": rows,
        "waiver_sides": [side for side in (_waiver_side(comparison.before, before_rows, UI.of(lang)["before"]),
                                           _waiver_side(comparison.after, after_rows, UI.of(lang)["after"]))
                         if side["waived"] or side["expired"]],
    }


RECONCILE_UI = Words(
    reconcile_title=msg("Self-check against inspection"), self_check=cmsg("reconciliation", "Self-check"),
    inspection=msg("Inspection"), gap=msg("Gap (self-check less inspection)"), gap_short=msg("Gap"),
    gap_formula=msg("self-check score less inspection score"),
    overstated=msg("Overstated in the self-check"), claimed=msg("The community claimed"),
    found=msg("The inspectors found"), others=msg("The other clauses"), flag=msg("Agreement"),
    agreeing=msg("Where the self-check and the inspection agree (as the inspectors found them)"),
    inspectors=msg("Inspectors"), responsible=msg("Responsible person"), round=cmsg("audit round", "Round"),
    by=cmsg("reconciliation", "By"),
    none_overstated=msg("Nothing is overstated: the inspectors found every clause at least as the self-check "
                        "claimed it."),
)


def _credit_text(f: Finding) -> str:
    if f.status is Status.NOT_APPLICABLE:
        return NA
    return f"{(0.0 if f.status is Status.MISSING else f.credit):.2f}".rstrip("0").rstrip(".")


def _signed_by(result: AuditResult, lang: str) -> str:
    """Who did an audit, as its ``audit`` block says (:attr:`AuditResult.audit`): the inspectors, the centre's
    responsible person and the round (empty for an audit that names none)."""
    audit = result.audit
    sep, colon = PUNCTUATION[lang]["sep"], PUNCTUATION[lang]["colon"]
    parts = []
    if audit.inspectors:
        parts.append(RECONCILE_UI["inspectors"].text(lang) + colon + sep.join(audit.inspectors))
    for key, value in (("responsible", audit.responsible), ("round", audit.round)):
        if value and value.strip():
            parts.append(RECONCILE_UI[key].text(lang) + colon + value)
    return " · ".join(parts)


def reconcile_view(reconciliation: Reconciliation, lang: str = "zh") -> dict[str, Any]:
    """Everything the reconciliation templates show, worded and formatted."""
    base = view(reconciliation.inspection, lang)
    mine = {f.clause.clause: _finding_view(f, reconciliation.self_check, lang)
            for f in reconciliation.self_check.findings}
    theirs = {v["clause"]: v for v in base["findings"]}
    rows = []
    for c in reconciliation.clauses:
        rows.append({"clause": c.clause, "title": theirs[c.clause]["title"], "veto": c.inspection.clause.veto,
                     "level": theirs[c.clause]["level"], "flag": c.flag.value,
                     "flag_label": FLAG_LABELS[c.flag].text(lang),
                     "mine": {**mine[c.clause], "credit": _credit_text(c.self_check)},
                     "inspection": {**theirs[c.clause], "credit": _credit_text(c.inspection)}})
    by_clause = {r["clause"]: r for r in rows}
    overstated = [by_clause[c.clause] for c in reconciliation.overstated]
    gap = reconciliation.gap
    counts = {f.value: len(reconciliation.of(f)) for f in Flag}
    return {
        **base,
        "ui": {**base["ui"], **RECONCILE_UI.of(lang)},
        "footer": footer(reconciliation.inspection.ruleset, lang,
                         cmsg("report footer", "self-check sha256 {hash}", hash=reconciliation.self_check.profile.sha256[:16]),
                         cmsg("report footer", "inspection sha256 {hash}",
                              hash=reconciliation.inspection.profile.sha256[:16])),
        "mine": {**_side(reconciliation.self_check, lang), "by": _signed_by(reconciliation.self_check, lang)},
        "inspection": {**_side(reconciliation.inspection, lang), "by": _signed_by(reconciliation.inspection, lang)},
        "gap": f"{gap:+.1f}", "gap_up": gap > 0, "gap_down": gap < 0,
        "overstated": overstated,
        # the rest: where the two disagree (understated, applicability) before where they agree
        "others": sorted((r for r in rows if r["flag"] != Flag.OVERSTATED.value),
                         key=lambda r: r["flag"] == Flag.AGREES.value),
        "disagreeing": [r for r in rows if r["flag"] in (Flag.UNDERSTATED.value, Flag.DIFFERS.value)],
        "agreeing": [r for r in rows if r["flag"] == Flag.AGREES.value],
        "counts": counts,
        "tally": " · ".join(f"{FLAG_LABELS[f].text(lang)} {counts[f.value]}" for f in Flag),
        "rows": rows,
    }


def _waiver_side(result: AuditResult, rows: dict[str, dict[str, Any]], label: str) -> dict[str, Any]:
    """One side of a comparison's 豁免事项: its waived clauses and the waivers not applied."""
    return {"label": label, "waived": [_waiver_view(f, rows[f.clause.clause]) for f in result.waived],
            "expired": [_waiver_view(f, rows[f.clause.clause], True) for f in result.waivers_expired]}


# Terminal control characters (C0, DEL, C1), line and paragraph separators, and the bidirectional
# overrides that can make text read in another order: never printed from a profile or a rule file.
_CONTROLS = {c: " " for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)}
_CONTROLS.update({c: None for c in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~&\"@])")
# GitHub's Markdown links bare addresses (http://…, www.…) by itself: break the patterns it looks for.
_AUTOLINK = re.compile(r"(?i)(://|www\.)")


def plain_text(value: Any) -> Any:
    """A field as a terminal shows it: control characters become spaces, direction overrides go."""
    return value.translate(_CONTROLS) if isinstance(value, str) else value


def md_text(value: Any) -> Any:
    """A field as Markdown shows it: plain, with every character Markdown could act on escaped."""
    if not isinstance(value, str):
        return value
    escaped = _MD_SPECIAL.sub(r"\\\1", plain_text(value))
    return _AUTOLINK.sub(lambda m: m.group(1)[0] + "\\" + m.group(1)[1:], escaped)


_FINALIZE = {"text": plain_text, "md": md_text, "html": plain_text}


@functools.lru_cache(maxsize=None)
def environment(kind: str = "html") -> Any:
    """The Jinja2 environment for one kind of output: ``html`` (autoescaped), ``text`` or ``md``.

    Every value a template prints passes through the kind's ``finalize``: for
    the terminal, control characters are removed (an escape sequence in a
    centre's name cannot clear the screen or fake a line); for Markdown,
    every field is escaped; HTML and SVG autoescape.
    """
    import jinja2   # only reports need it; the JSON path and library users skip the import

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(reading.data_dir("reports"))),
        autoescape=kind == "html",
        finalize=_FINALIZE[kind],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _template(kind: str, name: str) -> Callable[[AuditResult, str], str]:
    def run(result: AuditResult, lang: str) -> str:
        return str(environment(kind).get_template(name).render(**report_view(result, lang)))
    return run


def _json(result: AuditResult, lang: str) -> str:
    return json.dumps(result.to_dict(lang), ensure_ascii=False, indent=2) + "\n"


def _html(result: AuditResult, lang: str) -> str:
    return str(environment("html").get_template("report.html.j2").render(**report_view(result, lang, pictures=True)))


def standalone(html: str) -> str:
    """The HTML report as one file: the stylesheets inlined instead of linked, the page's (report.css) and then the
    screen's (screen.css: a narrow screen, a phone), which the PDF engine never reads."""
    folder = reading.data_dir("reports")
    css = "".join((folder / name).read_text(encoding="utf-8") for name in ("report.css", "screen.css"))
    return html.replace('<link rel="stylesheet" href="report.css">', f"<style>\n{css}</style>", 1)


def _attached(name: str, lang: str) -> str:
    """What an archival PDF's list of attachments says of the JSON document inside it."""
    return msg("{name}: the audit result for other systems (JSON)", name=name).text(lang)


def _pdf(result: AuditResult, lang: str, archival: bool = False) -> bytes:
    html = _html(result, lang)
    attachment = result.to_dict(lang) if archival else None
    return pdf.html_to_pdf(html, archival=archival, attachment=attachment, title=result.profile.name,
                           description=_attached(result.profile.name, lang))


RENDERERS: dict[str, Callable[..., str | bytes]] = {
    "json": _json,
    "text": _template("text", "text.txt.j2"),
    "md": _template("md", "report.md.j2"),
    "html": lambda result, lang: standalone(_html(result, lang)),
    "pdf": _pdf,
}


def _compare_html(comparison: Comparison, lang: str) -> str:
    return str(environment("html").get_template("compare.html.j2").render(**compare_view(comparison, lang)))


def _compare_pdf(comparison: Comparison, lang: str, archival: bool = False) -> bytes:
    attachment = comparison.to_dict(lang) if archival else None
    return pdf.html_to_pdf(_compare_html(comparison, lang), archival=archival, attachment=attachment,
                           title=comparison.after.profile.name, description=_attached(comparison.after.profile.name, lang))


COMPARE_RENDERERS: dict[str, Callable[..., str | bytes]] = {
    "json": lambda c, lang: json.dumps(c.to_dict(lang), ensure_ascii=False, indent=2) + "\n",
    "text": lambda c, lang: str(environment("text").get_template("compare.txt.j2").render(**compare_view(c, lang))),
    "html": lambda c, lang: standalone(_compare_html(c, lang)),
    "pdf": _compare_pdf,
}


def _reconcile_html(reconciliation: Reconciliation, lang: str) -> str:
    return str(environment("html").get_template("reconcile.html.j2").render(**reconcile_view(reconciliation, lang)))


def _reconcile_pdf(reconciliation: Reconciliation, lang: str, archival: bool = False) -> bytes:
    attachment = reconciliation.to_dict(lang) if archival else None
    name = reconciliation.inspection.profile.name
    return pdf.html_to_pdf(_reconcile_html(reconciliation, lang), archival=archival, attachment=attachment,
                           title=name, description=_attached(name, lang))


RECONCILE_RENDERERS: dict[str, Callable[..., str | bytes]] = {
    "json": lambda r, lang: json.dumps(r.to_dict(lang), ensure_ascii=False, indent=2) + "\n",
    "text": lambda r, lang: str(environment("text").get_template("reconcile.txt.j2").render(**reconcile_view(r, lang))),
    "md": lambda r, lang: str(environment("md").get_template("reconcile.md.j2").render(**reconcile_view(r, lang))),
    "html": lambda r, lang: standalone(_reconcile_html(r, lang)),
    "pdf": _reconcile_pdf,
}


TextFormat = Literal["json", "text", "md", "html"]
"""The formats :func:`render` returns as ``str``; ``"pdf"`` gives ``bytes``."""


@overload
def render(result: AuditResult | Comparison | Reconciliation, fmt: TextFormat = ..., target: None = None, *, lang: str | None = None,
           archival: bool = False) -> str: ...
@overload
def render(result: AuditResult | Comparison | Reconciliation, fmt: Literal["pdf"], target: None = None, *, lang: str | None = None,
           archival: bool = False) -> bytes: ...
@overload
def render(result: AuditResult | Comparison | Reconciliation, fmt: str, target: str | os.PathLike[str], *, lang: str | None = None,
           archival: bool = False) -> None: ...
@overload
def render(result: AuditResult | Comparison | Reconciliation, fmt: str = ..., target: str | os.PathLike[str] | None = None, *,
           lang: str | None = None, archival: bool = False) -> str | bytes | None: ...
def render(result: AuditResult | Comparison | Reconciliation, fmt: str = "text", target: str | os.PathLike[str] | None = None,
           *, lang: str | None = None, archival: bool = False) -> str | bytes | None:
    """Render an audit result, a renovation comparison or a reconciliation (self-check against inspection) as
    ``fmt``.

    Returns ``str`` (``json``, ``text``, ``md``, ``html``) or ``bytes`` (``pdf``) when there is no
    ``target``; otherwise writes to ``target`` atomically (``"-"`` is standard
    output) and returns None. ``archival=True`` with ``"pdf"`` gives PDF/A-3b
    with the JSON document attached inside the PDF. Raises
    :class:`~compliance.ReportError` when the report cannot be made or written (an unknown format or language
    among them), ``TypeError`` for an argument of the wrong type. ``lang`` is ``zh`` or ``en``; the
    language in force (Chinese unless set otherwise) by default.
    """
    lang = lang or language()
    if isinstance(result, Comparison):
        table = COMPARE_RENDERERS
    elif isinstance(result, Reconciliation):
        table = RECONCILE_RENDERERS
    elif isinstance(result, AuditResult):
        table = RENDERERS
    else:
        raise TypeError(f"render takes an AuditResult, a Comparison or a Reconciliation, not a {type(result).__name__}"
                        + ("; evaluate the profile first" if type(result).__name__ == "Profile" else ""))
    if not isinstance(fmt, str):
        raise TypeError(f"the format is a name such as 'pdf', not a {type(fmt).__name__}")
    if target is not None and not isinstance(target, (str, os.PathLike)):
        raise TypeError(f"the target is a path, not a {type(target).__name__}")
    renderer = table.get(fmt)
    if renderer is None:
        raise ReportError(msg("unknown report format {fmt}; use one of {formats}", fmt=quote(fmt),
                              formats=[quote(x) for x in table]))
    if lang not in LANGS:
        raise ReportError(msg("the language {lang} is not supported; use one of {langs}", lang=quote(lang),
                              langs=[quote(x) for x in LANGS]))
    if archival and fmt != "pdf":
        raise ReportError(msg("archival output is an option of the PDF format; use the format {pdf}", pdf=quote("pdf")))
    out = renderer(result, lang, archival) if fmt == "pdf" else renderer(result, lang)
    if target is None:
        return out
    write_atomic(target, out)
    return None
