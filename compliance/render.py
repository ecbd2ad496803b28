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
from typing import Any, Callable

from . import reading
from .errors import ReportError
from .result import (LANGS, LEVEL_LABELS, STATUS_LABELS, UNIT_LABELS, VERDICT_LABELS, AuditResult, Finding, Status,
                     fmt_number, fmt_pct)

FORMATS = ("json", "text", "md")

UI = {
    "zh": {
        "ruleset": "规则集", "verdict": "结论", "score": "得分", "grade": "等级", "categories": "分类得分",
        "vetoed": "否决项未通过", "actions": "整改清单（否决项 → 应 → 宜）", "not_evidenced": "未佐证条款（资料缺失）",
        "all_passed": "全部条款均符合，无需整改。", "clause": "条款", "requirement": "要求", "level": "级别",
        "veto": "否决", "measured": "实测", "threshold": "要求值", "set_by": "设定层", "status": "状态",
        "findings": "逐条结果", "assessed_on": "检查日期", "region": "所在地区", "center_id": "编码",
        "veto_mark": "否决项", "na": "—", "not_applicable": "不适用条款",
        "colon": "：", "lp": "（", "rp": "）", "comma": "，",
    },
    "en": {
        "ruleset": "Rule set", "verdict": "Verdict", "score": "Score", "grade": "Grade", "categories": "Category scores",
        "vetoed": "Veto clauses not met", "actions": "What to fix (veto → shall → should)", "not_evidenced": "Clauses not evidenced",
        "all_passed": "Every clause is met; nothing to fix.", "clause": "Clause", "requirement": "Requirement", "level": "Level",
        "veto": "Veto", "measured": "Measured", "threshold": "Threshold", "set_by": "Set by", "status": "Status",
        "findings": "All clauses", "assessed_on": "Assessed on", "region": "Region", "center_id": "ID",
        "veto_mark": "veto", "na": "—", "not_applicable": "Clauses not applicable",
        "colon": ": ", "lp": " (", "rp": ")", "comma": ", ",
    },
}


def measured_text(finding: Finding, lang: str) -> str:
    """The measured value as an auditor writes it: 75.0%, 每百户 31.1 m², 4/6 项, 是/否."""
    value = finding.measured
    clause = finding.clause
    if value is None:
        return UI[lang]["na"]
    ctype = clause.check_type
    if isinstance(value, bool):
        return ({True: "是", False: "否"} if lang == "zh" else {True: "yes", False: "no"})[value]
    if ctype == "has_code":
        present = finding.status is Status.PASS
        return ({True: "有", False: "无"} if lang == "zh" else {True: "present", False: "absent"})[present]
    if ctype == "has_all":
        n = len(clause.threshold)
        have = n - (len(finding.shortfall.missing) if finding.shortfall else 0)
        return f"{have}/{n}" + (" 项" if lang == "zh" else "")
    if clause.measure:
        return clause.measure[lang].format(value=fmt_number(value) if isinstance(value, int) else f"{value:.1f}")
    if ctype == "area_ratio" or (isinstance(clause.threshold, float) and clause.threshold <= 1):
        return fmt_pct(value)
    return fmt_number(value)


def threshold_text(finding: Finding, lang: str) -> str:
    clause = finding.clause
    ctype = clause.check_type
    t = clause.threshold
    if ctype == "has_code":
        return "有" if lang == "zh" else "present"
    if ctype == "has_all":
        return f"{len(t)} 项齐全" if lang == "zh" else f"all {len(t)}"
    if ctype == "flag":
        return "是" if lang == "zh" else "yes"
    op = clause.check.get("op", "<=" if "max" in clause.check else ">=")
    sign = {">=": "≥", "<=": "≤", "==": "="}[op]
    if ctype == "area_ratio" or (ctype in ("rate", "compare") and isinstance(t, float) and t <= 1):
        return f"{sign} {fmt_pct(t)}"
    if clause.measure:
        return f"{sign} " + clause.measure[lang].format(value=fmt_number(t))
    return f"{sign} {fmt_number(t)}"


def _finding_view(f: Finding, result: AuditResult, lang: str) -> dict[str, Any]:
    c = f.clause
    return {
        "clause": c.clause,
        "title": c.title[lang],
        "requirement": c.requirement[lang],
        "category": result.ruleset.category(c.category).title[lang],
        "level": LEVEL_LABELS[c.level][lang],
        "veto": c.veto,
        "status": f.status.value,
        "status_label": STATUS_LABELS[f.status][lang],
        "measured": measured_text(f, lang),
        "threshold": threshold_text(f, lang),
        "threshold_from": c.threshold_from,
        "message": f.message(lang),
        "action": f.action(lang),
        "shortfall": (f"{fmt_number(f.shortfall.amount)} {UNIT_LABELS[f.shortfall.unit][lang]}".strip()
                      if f.shortfall is not None else None),
    }


def view(result: AuditResult, lang: str = "zh") -> dict[str, Any]:
    """Everything a template shows, already worded and formatted."""
    if lang not in LANGS:
        raise ReportError(f"language {lang!r} is not supported; use one of {', '.join(LANGS)}")
    rs = result.ruleset
    center = result.profile.data["center"]
    region = center.get("region") or {}
    grade = next(g for g in rs.grades if g.id == result.grade)
    findings = [_finding_view(f, result, lang) for f in result.findings]
    by_clause = {v["clause"]: v for v in findings}
    return {
        "lang": lang,
        "ui": UI[lang],
        "center": {
            "id": center["id"],
            "name": center["name"],
            "community": center.get("community"),
            "region": ("" if lang == "zh" else " ").join(
                str(region[k]) for k in ("province", "city", "district", "street") if region.get(k)),
            "assessed_on": center.get("assessed_on"),
        },
        "ruleset": {
            "id": rs.id, "title": rs.title[lang], "version": rs.version,
            "layers": list(rs.layers), "content_hash": rs.content_hash,
        },
        "profile_sha256": result.profile.sha256,
        "score": f"{result.score:.1f}",
        "grade": grade.title[lang],
        "verdict": result.verdict.value,
        "verdict_label": VERDICT_LABELS[result.verdict][lang],
        "conforming": result.conforming,
        "categories": [
            {"id": c.id, "title": rs.category(c.id).title[lang],
             "score": UI[lang]["na"] if c.score is None else f"{c.score:.1f}", "value": c.score}
            for c in result.categories
        ],
        "vetoed": [by_clause[f.clause.clause] for f in result.vetoed],
        "actions": [by_clause[f.clause.clause] for f in result.not_passed],
        "not_evidenced": [by_clause[f.clause.clause] for f in result.not_evidenced],
        "not_applicable": [v for v in findings if v["status"] == Status.NOT_APPLICABLE.value],
        "findings": findings,
    }


def _md_escape(value: Any) -> str:
    text = str(value)
    for ch in "\\`*_{}[]<>()#+!|":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


@functools.lru_cache(maxsize=None)
def environment() -> Any:
    import jinja2   # only reports need it; the JSON path and library users skip the import

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(reading.data_dir("reports"))),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml", "svg"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _md_escape
    return env


def _template(name: str) -> Callable[[AuditResult, str], str]:
    def run(result: AuditResult, lang: str) -> str:
        return environment().get_template(name).render(**view(result, lang))
    return run


def _json(result: AuditResult, lang: str) -> str:
    return json.dumps(result.to_dict(lang), ensure_ascii=False, indent=2) + "\n"


RENDERERS: dict[str, Callable[[AuditResult, str], "str | bytes"]] = {
    "json": _json,
    "text": _template("text.txt.j2"),
    "md": _template("report.md.j2"),
}


def render(result: AuditResult, fmt: str = "text", target: "str | os.PathLike[str] | None" = None,
           *, lang: str = "zh") -> "str | bytes | None":
    """Render ``result`` as ``fmt``; return it, or write it to ``target`` and return None."""
    renderer = RENDERERS.get(fmt)
    if renderer is None:
        raise ReportError(f"unknown report format {fmt!r}; use one of {', '.join(RENDERERS)}")
    if lang not in LANGS:
        raise ReportError(f"language {lang!r} is not supported; use one of {', '.join(LANGS)}")
    out = renderer(result, lang)
    if target is None:
        return out
    write(out, target)
    return None


def write(out: "str | bytes", target: "str | os.PathLike[str]") -> None:
    """Write a rendered report, reporting failures as ReportError."""
    data = out.encode("utf-8") if isinstance(out, str) else out
    try:
        with open(target, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise ReportError(f"cannot write the report: {exc.strerror or exc}", file=os.fspath(target)) from exc
