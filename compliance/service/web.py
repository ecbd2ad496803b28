"""The web pages, Chinese first: login, a community's self-check, the renovation what-if, the bureau's dashboard.

Server-rendered HTML (Jinja2) with a little plain JavaScript for zone rows and drafts: no framework, no
build step, usable on a phone. The self-check form is generated from the same columns as the collection
workbook (the profile schema and the rule set's vocabularies, with their Chinese labels), and read back
by the same row reader, so a field added to the profile appears in the form, the workbook and the CSV at
once. Sessions are signed cookies (HttpOnly, SameSite=Strict); every form carries a CSRF token.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import re
import shutil
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import orjson
from fastapi import FastAPI, Query, Request
from sqlalchemy import select
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile
from starlette.staticfiles import StaticFiles

from ..batch import table
from ..comparison import CHANGE_LABELS, Comparison, compare
from ..contract import missing_keys, profile_schema
from ..errors import ComplianceError, PathItem, ProfileError
from ..evaluation import evaluate
from ..fields import CHOICES, FIELDS
from ..i18n import Message, cmsg, gettext_in, language, msg, ngettext_in, separator, text
from ..i18n import quote as quoted
from ..model import CHINA, CODE_LISTS, Verdict, today_in_china
from ..wording import STATUS_LABELS, VERDICT_LABELS
from ..model import RuleSet, Status
from ..profile import load_profile, unknown_keys
from . import auth
from .common import (PROFILE_LIMIT, PROFILE_SECONDS, Problem, batch_file_response, bundled, bundled_ruleset, capped_form,
                     choose_rules,
                     content_disposition, load_bundled, read_upload, readable_audit, report_file_name,
                     rerun_audit, round_file_name, rules_asked, service_rules,
                     stored_report)
from .batches import Batches
from . import dashboard as board
from .processes import Throttle
from .proxy import SessionCookie, client_address
from .rounds import rounds
from .store import KINDS, Account, AuditRow, Store

WEB = Path(__file__).with_name("web")
SESSION_HOURS = 8
SECTIONS = (("center", msg("About the centre")), ("population", msg("Population served")),
            ("space", msg("Premises and functional zones")), ("signage", msg("Signs")), ("amenities", msg("Amenities")),
            ("staff", msg("Staff")), ("services", msg("Service rules")))
ROLES = {"bureau": cmsg("role", "civil affairs bureau"), "community": cmsg("role", "community"),
         "system": cmsg("role", "system")}
BATCH_STATUS = {"queued": msg("queued"), "running": msg("auditing"), "done": msg("done"), "failed": msg("failed")}
OTHER_LANG = {"zh": ("en", "English"), "en": ("zh", "中文")}


def status_name(status: Status) -> str:
    """A finding's status in the reader's language (符合, 部分符合…)."""
    return STATUS_LABELS[status].text()


def verdict_name(verdict: str) -> str:
    return VERDICT_LABELS[Verdict(verdict)].text()


def role_name(role: str) -> str:
    return text(ROLES[role]) if role in ROLES else role


def batch_status(status: str) -> str:
    return text(BATCH_STATUS[status]) if status in BATCH_STATUS else status


log = logging.getLogger("compliance.service")


class LoginRequired(Exception):
    """A page asked for without a session: the browser goes to the login page."""


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(WEB / "templates")), autoescape=select_autoescape(["j2", "html"]),
                      trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    # The pages' texts come from the one catalogue, in the language of the request being answered.
    env.install_gettext_callables(gettext_in, ngettext_in, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(status_name=status_name, verdict_name=verdict_name, role_name=role_name,
                       batch_status=batch_status)
    env.filters["grade"] = grade_name
    env.filters["ruleset"] = ruleset_name
    env.filters["local"] = local_time
    env.filters["nowrap"] = nowrap
    return env




def nowrap(value: Any) -> Any:
    """A value kept on one line inside a sentence (a date, an option): never split at its hyphens."""
    from markupsafe import Markup, escape

    return Markup('<span class="nowrap">{}</span>').format(escape(str(value)))


def local_time(when: datetime | str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as people in China read it."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(CHINA).strftime(fmt)


def ruleset_name(name: str) -> str:
    """A bundled rule set's title in the reader's language (宁波市鄞州区), else its name."""
    return str(load_bundled(name).title[language()]) if name in bundled() else name


def grade_name(grade: str) -> str:
    """A grade's name in the reader's language (优秀, 良好, 合格, 不合格), as the bundled rule sets title it."""
    return _grade_names(language()).get(grade, grade)


@lru_cache(maxsize=None)
def _grade_names(lang: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for name in bundled():
        for g in load_bundled(name).grades:
            names.setdefault(g.id, str(g.title[lang]))
    return names


_ENV = _environment()


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the request's language. Without ``me`` it is the page of whoever is logged in, if anyone: an
    error page (404, 403, 500, a problem) keeps the navigation of the pages it interrupts."""
    session = request.scope.get("session")
    csrf = _csrf(request) if session is not None else ""
    me = context.pop("me", None)
    if me is None and session is not None and session.get("account"):
        me = signed_in(request)
    lang = language()
    other, other_name = OTHER_LANG[lang]
    html = _ENV.get_template(template).render(csrf=csrf, me=me, lang=lang,
                                              html_lang="zh-CN" if lang == "zh" else "en", other_lang=other,
                                              other_lang_name=other_name, other_lang_href=switched(request, other),
                                              list_sep=separator("and"), colon=separator("colon"),
                                              semicolon=separator("sentences"), **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def signed_in(request: Request) -> Account | None:
    """The account logged in on this request's session, or None (never an error: an error page asks)."""
    try:
        return _account(request, request.app.state.store)
    except Exception:  # noqa: BLE001 - no session, an ended one, or the store itself failing: no navigation
        return None


def switched(request: Request, lang: str) -> str:
    """This page's address in the other language: its path and query, with ``lang`` set."""
    from urllib.parse import urlencode

    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", lang)]
    return request.url.path + "?" + urlencode(query)


def _csrf(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


async def posted_form(request: Request, fields: int) -> Any:
    """A page's posted form, read within the body deadline and size cap of a profile."""
    return await capped_form(request, PROFILE_LIMIT, PROFILE_SECONDS, max_files=0, max_fields=fields)


INSPECTION_PHOTOS = 20        # photos one inspection form carries (each at most 10 MiB, as evidence)


async def posted_inspection(request: Request) -> Any:
    """The inspection form with its photos, within the size of its photos and the upload deadline."""
    from .common import UPLOAD_SECONDS

    # every clause's file input is a part of the form, chosen or not: the photos themselves are capped by the bytes
    return await capped_form(request, INSPECTION_PHOTOS * (10 << 20) + PROFILE_LIMIT, UPLOAD_SECONDS,
                             max_files=1000, max_fields=2000)


def _check_csrf(request: Request, form: Mapping[str, Any]) -> None:
    sent = str(form.get("csrf", ""))
    expected = request.session.get("csrf", "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Problem(403, msg("The form has expired"), msg("the form has expired: reload the page and send it again"))


def _account(request: Request, store: Store) -> Account:
    """The logged-in account; a session ends when the account logs out anywhere, changes its password or
    token, or is disabled (its epoch moves on)."""
    name = request.session.get("account")
    if not name:
        raise LoginRequired()
    found = store.account_by_name(name)
    if found is None or found[0].disabled or request.session.get("epoch") != found[0].epoch:
        request.session.clear()
        raise LoginRequired()
    return found[0]


def account_of(request: Request, store: Store) -> Account:
    """The logged-in account, for the pages of other modules (:class:`LoginRequired` without one)."""
    return _account(request, store)


def check_csrf(request: Request, form: Mapping[str, Any]) -> None:
    """A posted form's CSRF token, for the forms of other modules' pages (403 when it is not this session's)."""
    _check_csrf(request, form)


# --------------------------------------------------------------------------- the form

def _required() -> frozenset[str]:
    """The profile's required keys, dotted (center.name, population.households, space.zones…): the form marks
    their fields as required."""
    keys: set[str] = set()

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for name in node.get("required", ()):
            keys.add(".".join(prefix + (name,)))
        for name, sub in node.get("properties", {}).items():
            if sub.get("type") == "object":
                walk(sub, prefix + (name,))

    walk(profile_schema(), ())
    return frozenset(keys)


def _rates() -> frozenset[str]:
    """The rates of a profile (a number from 0 to 1: satisfaction, grid coverage), which the form asks for as
    people write them, in per cent."""
    keys: set[str] = set()

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for name, sub in node.get("properties", {}).items():
            if sub.get("type") == "object":
                walk(sub, prefix + (name,))
            elif sub.get("type") == "number" and sub.get("minimum") == 0 and sub.get("maximum") == 1:
                keys.add(".".join(prefix + (name,)))

    walk(profile_schema(), ())
    return frozenset(keys)


REQUIRED = _required()
RATES = _rates()
#: a rate's label says how the workbook writes it, "(0–1)": the form asks for a percentage instead
_FRACTION_UNIT = re.compile(r"\s*[(（]\s*0\s*[–-]\s*1\s*[)）]\s*$")
_PERCENT_UNIT = re.compile(r"[(（]\s*%\s*[)）]\s*$")
#: the dates a form takes: from 2000 to the end of next year (an inspection, or a plan's date)
FIRST_DATE = date(2000, 1, 1)


def last_date() -> date:
    return date(datetime.now(CHINA).year + 1, 12, 31)


def form_sections(rules: RuleSet, values: Mapping[str, Any], errors: Mapping[str, str],
                  locked: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The self-check form's sections and fields, with the values and the problems to show beside them."""
    lang = language()
    sections: dict[str, dict[str, Any]] = {key: {"key": key, "title": text(title), "fields": [], "lists": {}}
                                           for key, title in SECTIONS}
    for col in table.columns(rules.vocabulary, lang):
        section = sections.get(col.path[0])
        if section is None:       # the audit block's columns: an inspection is not filled in on the self-check form
            continue
        field = {"key": col.key, "label": heading(col.label), "kind": col.kind, "value": values.get(col.key, ""),
                 "error": errors.get(col.key, ""), "locked": col.key in locked, "required": col.key in REQUIRED,
                 "rate": col.key in RATES}
        if col.key in RATES:
            field["label"] = percent_label(field["label"])
        if col.kind == "date":
            field["min"], field["max"] = FIRST_DATE.isoformat(), last_date().isoformat()
        if col.kind == "choice":
            names = CHOICES.get(col.key, {})
            field["choices"] = [(c, text(names[c]) if c in names else c) for c in col.choices]
        if col.kind == "code":
            group = section["lists"].setdefault(col.list_key, {"key": col.list_key, "label": heading(
                text(FIELDS[col.list_key]) if col.list_key in FIELDS else col.list_key), "codes": [],
                "error": errors.get(col.list_key, "")})
            field["label"] = heading(rules.vocabulary.label(CODE_LISTS[col.list_key], col.code or "", lang))
            group["codes"].append(field)
        else:
            section["fields"].append(field)
    for section in sections.values():
        section["lists"] = list(section["lists"].values())
    return list(sections.values())


def percent_label(label: str) -> str:
    """A rate's label as the form asks for it: 满意度（0–1） → 满意度（%）."""
    if _PERCENT_UNIT.search(label):
        return label
    return text(msg("{field} (%)", field=_FRACTION_UNIT.sub("", label)))


def problem_list(sections: Sequence[Mapping[str, Any]], zones: Sequence[Mapping[str, Any]],
                 errors: Mapping[str, str]) -> list[dict[str, str]]:
    """Every problem the form counts, in the order of the page: the field it is shown at (its id, to link to
    from the summary) and its name. A problem no field holds is listed with no link, so the summary counts
    exactly what the page shows."""
    out: list[dict[str, str]] = []
    shown: set[str] = set()

    def add(key: str, anchor: str, label: str) -> None:
        if errors.get(key) and key not in shown:
            shown.add(key)
            out.append({"key": key, "anchor": anchor, "label": label, "message": errors[key]})

    zone_names = {"kind": text(msg("Zone type")), "area_m2": text(msg("Area (m²)")), "name": text(msg("Name"))}
    for section in sections:
        for f in section["fields"]:
            add(f["key"], f["key"], f["label"])
        if section["key"] == "space":
            add("zones", "zones", text(msg("Functional zones")))
            for i in range(len(zones)):
                for name in table.ZONE_FIELDS:
                    add(f"zone-{i}-{name}", f"zone-{i}-{name}",
                        text(msg("{field} of zone {row}", row=i + 1, field=zone_names[name])))
        for group in section["lists"]:
            add(group["key"], f"list-{group['key']}", group["label"])
    for key, message in errors.items():
        if key not in shown:
            if key.startswith("photo-"):          # an inspection's photos of a clause
                out.append({"key": key, "anchor": key, "message": message,
                            "label": text(msg("photos of clause {clause}", clause=key[len("photo-"):]))})
                continue
            out.append({"key": key, "anchor": key if key.startswith("audit.") else "",
                        "label": "" if key == "form" else field_label(key), "message": message})
    return out


def field_label(key: str) -> str:
    """A dotted key's name as people read it (its name in the catalogue), else the key itself."""
    return heading(text(FIELDS[key])) if key in FIELDS else key


def heading(name: str) -> str:
    """A field's name as a form labels it: as it is in Chinese, with a capital in English (centre name → Centre
    name)."""
    return name[:1].upper() + name[1:]


def zone_kinds(rules: RuleSet) -> list[tuple[str, str]]:
    return [(code, rules.vocabulary.label("zone_kinds", code, language()))
            for code in rules.vocabulary.entries.get("zone_kinds", {})]


def values_of(document: Mapping[str, Any], rules: RuleSet) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A profile as the form's values: one per field (rates in per cent), and its zones as rows."""
    row, zones = table.to_row(document, table.columns(rules.vocabulary))
    for key, value in list(row.items()):
        row[key] = "" if value is None else as_percent(value) if key in RATES else str(value)
    return row, [{k: ("" if v is None else str(v)) for k, v in z.items()} for z in zones]


def as_percent(value: Any) -> str:
    """A rate as the form shows it: 0.95 → 95."""
    try:
        return format((Decimal(str(value)) * 100).normalize(), "f")
    except (InvalidOperation, ValueError):
        return str(value)


_PERCENT = re.compile(r"^([-+]?[0-9][0-9,，]*(?:\.[0-9]*)?|[-+]?\.[0-9]+)\s*[%％]?$")


def read_percent(raw: str) -> tuple[str, Message | None]:
    """A percentage as people write it (95, 95 %, 95%, 87.5) as the rate the profile holds ("0.95"), or a
    problem."""
    found = _PERCENT.match(raw.strip())
    if not found:
        return "", msg("{value} is not a percentage; write a number from 0 to 100, such as 95", value=quoted(raw))
    number = Decimal(found.group(1).replace(",", "").replace("，", ""))
    if not 0 <= number <= 100:
        return "", msg("{value} is out of range; a percentage is from 0 to 100", value=quoted(raw))
    return format((number / 100).normalize(), "f"), None


_WITH_UNIT = re.compile(r"^\s*([-+]?[0-9][0-9,，]*(?:\.[0-9]+)?)\s*(?:m²|㎡|m2|平方米|平米|人|名|户|小时|天|次|个|项)\s*$")


def without_unit(raw: str) -> str:
    """A number as people write it with the unit its label names (300 m², 300平方米, 8人, 1350户), as the number;
    anything else as it was, for the reader to judge."""
    found = _WITH_UNIT.match(raw)
    return found.group(1) if found else raw


_DATE = re.compile(r"^\s*([0-9]+)\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?\s*$")


def read_date(raw: str) -> tuple[str, Message | None]:
    """A date as a date input sends it (2026-02-02), or as people type it (2026/2/2, 2026年2月2日), within the
    years a form takes; else a problem that says how to write it."""
    found = _DATE.match(raw)
    first, last = FIRST_DATE, last_date()
    out_of_range = msg("{value} is not a date from {first} to {last}", value=quoted(raw), first=first.isoformat(),
                       last=last.isoformat())
    if found and not first.year <= int(found.group(1)) <= last.year:
        return "", out_of_range                    # 52026-02-02: a year typed over the calendar's
    try:
        when = date(int(found.group(1)), int(found.group(2)), int(found.group(3))) if found else None
    except ValueError:
        when = None
    if when is None:
        return "", msg("{value} is not a date; write it as {example}", value=quoted(raw),
                       example=datetime.now(CHINA).date().isoformat())
    if not first <= when <= last:
        return "", out_of_range
    return when.isoformat(), None


def read_form(form: Any, rules: RuleSet) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], dict[str, str]]:
    """(profile document, the values as sent, the zones as sent, problems by field) from a posted form."""
    cols = table.columns(rules.vocabulary)
    values: dict[str, Any] = {}
    cells: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for col in cols:
        if col.kind == "code":
            checked = form.get(col.key) is not None
            values[col.key] = table.YES if checked else ""
            cells[col.key] = table.YES if checked else table.NO       # a self-check answers every list
            continue
        raw = str(form.get(col.key, "")).strip()
        values[col.key] = raw
        cells[col.key] = raw
        problem = None
        if raw and col.key in RATES:
            cells[col.key], problem = read_percent(raw)
        elif raw and col.kind == "date":
            cells[col.key], problem = read_date(raw)
        elif raw and col.kind in ("integer", "number"):
            cells[col.key] = without_unit(raw)
        if problem is not None:
            errors[col.key] = text(problem)
    zones = [{"kind": k, "area_m2": without_unit(str(a)), "name": n} for k, a, n in
             zip(form.getlist("zone-kind"), form.getlist("zone-area"), form.getlist("zone-name"))]
    zones = [z for z in zones if any(str(v).strip() for v in z.values())]
    reader = table.RowReader(cols, rules.vocabulary)
    document, cell_problems = reader.read(cells, zones)
    for section in _REQUIRED_SECTIONS:            # a section left blank: each of its required fields is said
        document.setdefault(section, {})
    for path, message in cell_problems:
        errors.setdefault(field_of(path, cols), text(message))
    return document, values, zones, errors


_REQUIRED_SECTIONS = tuple(key for key in REQUIRED if "." not in key and key != "schema_version")


def field_of(path: Sequence[PathItem], cols: Sequence[table.Column] | None = None) -> str:
    """The form field a problem's JSON path belongs to: a zone's cell, the zones, a field, a list (its group), or
    "form" for the form as a whole."""
    if len(path) >= 3 and path[0] == "space" and path[1] == "zones" and isinstance(path[2], int):
        return f"zone-{path[2]}-{path[3] if len(path) > 3 else 'kind'}"
    if len(path) >= 2 and path[0] == "space" and path[1] == "zones":
        return "zones"
    keys = [str(p) for p in path if not isinstance(p, int)]
    key = ".".join(keys)
    if cols is not None:
        lists = {c.list_key for c in cols if c.kind == "code"}
        for n in range(len(keys), 0, -1):           # signage.grid_map (one of its boxes) → signage (the list)
            if ".".join(keys[:n]) in lists:
                return ".".join(keys[:n])
    return key or "form"


def validate(document: dict[str, Any], rules: RuleSet, errors: dict[str, str]) -> Any:
    """The profile, or None with its problems added to ``errors`` by field, one a field: a cell that could not be
    read keeps its own problem; a required field left blank is said at the field itself, not at its section;
    the rest of the form is still checked, so every problem shows at once."""
    cols = table.columns(rules.vocabulary)
    try:
        profile = load_profile(document, vocabulary=rules.vocabulary)
    except ProfileError as exc:
        for p in exc.problems:
            path, message = p.path, p.message
            missing = missing_keys(p.text)
            if missing:                          # "required key 'name' is missing" belongs to the name's field
                path = tuple(path) + (missing[0],)
                message = text(msg("add at least one functional zone") if path == ("space", "zones")
                               else msg("required: fill this in"))
            errors.setdefault(field_of(path, cols), message)
        return None
    return None if errors else profile


def plan_of(result: Any) -> list[dict[str, Any]]:
    """What to fix, in remediation order, with the clause's words."""
    lang = language()
    out = []
    for f in result.not_passed + result.not_evidenced:
        out.append({"clause": f.clause.clause, "title": f.clause.title[lang], "veto": f.clause.veto,
                    "status": status_name(f.status), "action": f.action(lang) if f.status is not Status.MISSING
                    else f.message(lang)})
    return out


def veto_changes(c: Comparison) -> dict[str, list[str]]:
    """The veto clauses as the plan leaves them, as the comparison classifies them: those the plan breaks (met
    today), those still not met, and those it fixes."""
    vetoed_after = {f.clause.clause for f in c.after.vetoed}
    vetoed_before = {f.clause.clause for f in c.before.vetoed}
    broken = [x.clause for x in c.broken if x.clause in vetoed_after]
    short = [x.clause for x in c.still_short if x.clause in vetoed_after]
    short += [x.clause for x in c.changes if x.clause in vetoed_after and x.clause not in broken + short]
    fixed = [x.clause for x in c.fixed if x.clause in vetoed_before]
    return {"broken": broken, "short": short, "fixed": fixed}


def change_names() -> dict[str, str]:
    """How the page names each kind of change of a clause (改善但仍不足, 仍不足, 变差…), from the comparison's words."""
    return {change.value: text(label) for change, label in CHANGE_LABELS.items()}


# --------------------------------------------------------------------------- routes

def install(app: FastAPI, store: Store, batches: Batches) -> None:

    app.add_middleware(SessionCookie, secret_key=store.secret("session"), session_cookie="compliance_session",
                       max_age=SESSION_HOURS * 3600, same_site="strict")      # Secure over HTTPS (proxy.py)
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    pending = Pending(batches.folder)
    throttle = Throttle(store)           # failed logins in the database: the limit holds across processes

    def me(request: Request) -> Account:
        return _account(request, store)

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        account = me(request)
        return RedirectResponse("/check" if account.role == "community" else "/dashboard", status_code=303)

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request, next: str = "/") -> Response:
        return page(request, "login.html.j2", next=_safe_next(next))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await posted_form(request, 10)
        _check_csrf(request, form)
        name, secret = str(form.get("name", "")).strip(), str(form.get("secret", ""))
        address = client_address(request)
        if throttle.blocked(name, address):
            log.warning("login refused for %r from %s: too many failures", name[:100], address)
            return page(request, "login.html.j2", status=429, next=_safe_next(str(form.get("next", "/"))),
                        name=name, error=text(msg("too many failed logins: try again in 5 minutes")))
        found = store.account_by_name(name) if name else None
        ok = False
        if found is not None and secret and not found[0].disabled:
            account, password = found
            by_token = store.account_by_token(auth.token_hash(secret.strip()))
            ok = (by_token is not None and by_token.id == account.id) or auth.check_password(secret, password)
        if not ok:
            throttle.failed(name, address)
            log.warning("login failed for %r from %s", name[:100], address)
            return page(request, "login.html.j2", status=401, next=_safe_next(str(form.get("next", "/"))),
                        name=name, error=text(msg("the account name or the password is not right")))
        throttle.forget(name)
        log.info("login: %s from %s", account.name, address)
        request.session.clear()                         # a fresh session (and CSRF token) after logging in
        request.session["account"] = account.name
        request.session["epoch"] = account.epoch
        return RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = await posted_form(request, 5)
        _check_csrf(request, form)
        name = request.session.get("account")
        if name:
            try:
                store.end_sessions(name)                # a copied cookie stops working too
            except ComplianceError:
                pass
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # ------------------------------------------------------------------ the self-check

    def check_page(request: Request, account: Account, rules: RuleSet, values: Mapping[str, Any],
                   zones: list[dict[str, Any]], errors: Mapping[str, str], status: int = 200,
                   action: str = "/check", title: Message | None = None, before: AuditRow | None = None,
                   warnings: Sequence[Any] = (), sent: bool = False,
                   inspection: Mapping[str, Any] | None = None) -> HTMLResponse:
        locked = ("center.id",) if account.role == "community" or inspection is not None else ()
        sections = form_sections(rules, values, errors, locked)
        if inspection is None and before is None:     # a self-check's date is the day of the self-check, not of an inspection
            for section in sections:
                for f in section["fields"]:
                    if f["key"] == "center.assessed_on":
                        f["label"] = heading(text(msg("date of the self-check")))
        return page(request, "check.html.j2", status=status, me=account, rules=rules, rule_names=_bundled_names(),
                    sections=sections, zones=zones, problems=problem_list(sections, zones, errors),
                    zone_kinds=zone_kinds(rules), errors=errors, action=action, title=text(title or msg("Self-check")),
                    before=before, warnings=[f"{w.json_path}{separator('colon')}{w.message}" for w in warnings],
                    sent=sent or bool(errors), inspection=inspection)

    def latest_audit(centre_id: str) -> AuditRow | None:
        rows = store.history(centre_id, limit=1)
        return rows[0] if rows else None

    def stored_profile(raw: bytes, media_type: str) -> dict[str, Any]:
        """The profile an audit was made from, as the data it was submitted as."""
        from ..reading import parse

        data = parse(raw, "profile.yaml" if "yaml" in media_type else "profile.json", ProfileError)
        return data if isinstance(data, dict) else {}

    @app.get("/check", include_in_schema=False)
    def check_form(request: Request, rules: str = "", centre: str = "") -> Response:
        account = me(request)
        centre_id = account.centre_id if account.role == "community" else centre
        values: dict[str, Any] = {}
        zones: list[dict[str, Any]] = []
        warnings: list[Any] = []
        last = latest_audit(centre_id) if centre_id else None
        # The rule set asked for, else the service's.
        ruleset = rules_asked(store, rules)
        if last is not None and auth.may_read(account, last.centre_id):
            _, _, raw, media_type = readable_audit(request, account, last.id)
            stored = stored_profile(raw, media_type)
            values, zones = values_of(stored, ruleset)     # start from the last audit
            warnings = unknown_keys(stored, "")            # what the form cannot show of it, said
            values["center.assessed_on"] = today_in_china().isoformat()   # today's self-check, not the last one's day
        if centre_id:
            values["center.id"] = centre_id
        return check_page(request, account, ruleset, values, zones, {}, warnings=warnings)

    @app.post("/check", include_in_schema=False)
    async def check_submit(request: Request) -> Response:
        account = me(request)
        form = await posted_form(request, 2000)
        _check_csrf(request, form)
        ruleset = rules_asked(store, str(form.get("rules") or ""))
        document, values, zones, errors = read_form(form, ruleset)
        if account.role == "community" and values.get("center.id") != account.centre_id:
            errors["center.id"] = text(msg("this account self-checks only the centre {id}", id=quoted(account.centre_id or "")))
        profile = validate(document, ruleset, errors)
        if profile is None:
            return check_page(request, account, ruleset, values, zones, errors, status=422)
        raw = orjson.dumps(profile.data, option=orjson.OPT_INDENT_2)
        # A second tap on submit, or the same page sent again, is the self-check already stored: the store keeps
        # an audit identical to the centre's latest under the same rule set once (the API's path too).
        from .waivers import waivers_for

        result = evaluate(profile, ruleset, waivers=waivers_for(store, profile.id, ruleset))
        object.__setattr__(result.profile, "raw_sha256", hashlib.sha256(raw).hexdigest())
        object.__setattr__(result.profile, "source", "web self-check")
        row = store.add_audit(result, result.to_json(language()), profile=raw, profile_type="application/json",
                              submitted_by=account.name)
        return RedirectResponse(f"/audits/{row.id}", status_code=303)

    # ------------------------------------------------------------------ the inspection (a bureau's, on a phone)

    def inspector(request: Request) -> Account:
        account = me(request)
        if not auth.may_inspect(account):
            raise Problem(403, msg("Inspections are submitted by bureau accounts"),
                          msg("this account may submit self-checks; an inspection comes from the bureau's inspectors"))
        return account

    def rounds_opened() -> list[tuple[str, str]]:
        """The rounds the bureau opened, newest first (id, name): offered on the inspection form's round field, so
        an inspector picks one rather than types it (a typo would make a round of its own)."""
        with store.engine.connect() as db:
            return [(str(i), str(n)) for i, n in db.execute(
                select(rounds.c.id, rounds.c.name).order_by(rounds.c.seq.desc()).limit(200))]

    def inspect_page(request: Request, account: Account, rules: RuleSet, values: Mapping[str, Any],
                     zones: list[dict[str, Any]], errors: Mapping[str, str], block: Mapping[str, str],
                     kept: Mapping[str, Sequence[str]], status: int = 200, warnings: Sequence[Any] = (),
                     sent: bool = False, start: str = "") -> HTMLResponse:
        lang = language()
        clauses = [{"clause": c.clause, "title": c.title[lang], "veto": c.veto, "kept": list(kept.get(c.clause, ())),
                    "error": errors.get(f"photo-{c.clause}", "")} for c in rules.clauses]
        return check_page(request, account, rules, values, zones, errors, status=status, action="/inspect",
                          title=msg("Inspection"), warnings=warnings, sent=sent,
                          inspection={"block": block, "clauses": clauses, "centre": values.get("center.id", ""),
                                      "start": start, "rounds": rounds_opened(),
                                      "labels": {k: field_label(f"audit.{k}") for k in ("inspectors", "responsible",
                                                                                        "round")}})

    @app.get("/inspect", include_in_schema=False)
    def inspect_form(request: Request, centre: str = "", rules: str = "") -> Response:
        """The self-check form as an inspection of ``centre``: prefilled from the centre's newest audit, a self-check
        or an earlier inspection (its round and person in charge kept), else empty."""
        account = inspector(request)
        centre_id = centre.strip()[:200]
        if not centre_id:
            return RedirectResponse("/dashboard", status_code=303)
        ruleset = rules_asked(store, rules)
        values: dict[str, Any] = {}
        zones: list[dict[str, Any]] = []
        warnings: list[Any] = []
        block = {"inspectors": account.name, "responsible": "", "round": ""}
        last = latest_audit(centre_id)         # the newest of either kind: an inspection after the self-check is newer
        if last is not None:
            _, _, raw, media_type = readable_audit(request, account, last.id)
            stored = stored_profile(raw, media_type)
            values, zones = values_of(stored, ruleset)
            warnings = [w for w in unknown_keys(stored, "") if not w.json_path.startswith(("$.audit", "$.evidence"))]
            earlier = stored.get("audit")
            if isinstance(earlier, dict):
                for key in ("responsible", "round"):
                    if isinstance(earlier.get(key), str):
                        block[key] = earlier[key]
        values["center.id"] = centre_id
        values["center.assessed_on"] = today_in_china().isoformat()      # the day of the visit, not of the self-check
        start = "" if last is None else "inspection" if last.kind == "inspection" else "self-check"
        return inspect_page(request, account, ruleset, values, zones, {}, block, {}, warnings=warnings, start=start)

    @app.post("/inspect", include_in_schema=False)
    async def inspect_submit(request: Request) -> Response:
        from ..evidence import MAX_EVIDENCE_BYTES, check_content, media_type
        from .evidence import DiskFull, check_submission
        from .common import submit_audit

        account = inspector(request)
        form = await posted_inspection(request)
        _check_csrf(request, form)
        ruleset = rules_asked(store, str(form.get("rules") or ""))
        document, values, zones, errors = read_form(form, ruleset)
        block = {k: str(form.get(f"audit.{k}", "")).strip() for k in ("inspectors", "responsible", "round")}
        names = [n for n in re.split(r"[,，、;；\s]+", block["inspectors"]) if n]
        if not names:
            errors["audit.inspectors"] = text(msg("name at least one inspector"))
        audit: dict[str, Any] = {"kind": "inspection", "inspectors": names}
        for key in ("responsible", "round"):
            if block[key]:
                audit[key] = block[key]
        document["audit"] = audit
        kept: dict[str, list[str]] = {}
        for clause in ruleset.clauses:
            hashes = [h for h in str(form.get(f"kept-{clause.clause}", "")).split(";") if re.fullmatch(r"[0-9a-f]{64}", h)]
            for upload in form.getlist(f"photo-{clause.clause}"):
                if not isinstance(upload, UploadFile) or not upload.filename:
                    continue
                data = await upload.read(MAX_EVIDENCE_BYTES + 1)
                if not data:
                    continue
                # The checks of POST /v1/evidence: a JPEG or PNG by its bytes, that decodes, of at most 10 MiB.
                kind = media_type(data) if len(data) <= MAX_EVIDENCE_BYTES else None
                if kind not in ("image/jpeg", "image/png") or \
                        await asyncio.to_thread(check_content, data, kind, upload.filename) is not None:
                    errors[f"photo-{clause.clause}"] = text(msg("{name} is not a JPEG or PNG photo of at most 10 MiB",
                                                                name=quoted(upload.filename)))
                    continue
                try:
                    kept_now = await asyncio.to_thread(request.app.state.evidence.keep, data, kind, account)
                    hashes.append(kept_now.sha256)
                except DiskFull:
                    raise Problem(507, msg("The service's disk is full"),
                                  msg("nothing was stored; try again later, or tell the administrator")) from None
            if hashes:
                kept[clause.clause] = list(dict.fromkeys(hashes))
        if kept:
            document["evidence"] = {c: [{"sha256": h} for h in hs] for c, hs in kept.items()}
        profile = validate(document, ruleset, errors)
        if profile is None:
            last = latest_audit(str(values.get("center.id") or ""))
            start = "" if last is None else "inspection" if last.kind == "inspection" else "self-check"
            return inspect_page(request, account, ruleset, values, zones, errors, block, kept, status=422, sent=True,
                                start=start)
        check_submission(store, account, profile)
        raw = orjson.dumps(profile.data, option=orjson.OPT_INDENT_2)
        done = submit_audit(store, account, profile, ruleset, raw, "application/json")
        return RedirectResponse(f"/audits/{done.row.id}", status_code=303)

    @app.get("/evidence/{sha256}", include_in_schema=False)
    def evidence_file(request: Request, sha256: str) -> Response:
        """An evidence file for a logged-in browser (the pages' photo links): the rule and the headers of GET
        /v1/evidence/{sha256}, with the session instead of a bearer token."""
        from fastapi.responses import FileResponse

        from .evidence import SUFFIXES

        account = me(request)
        files = getattr(request.app.state, "evidence", None)
        digest = sha256.lower() if re.fullmatch(r"[0-9a-fA-F]{64}", sha256) else None
        found = files.readable(account, digest) if files is not None and digest is not None else None
        if found is None or files is None or not files.path(found.sha256).is_file():
            raise Problem(404, msg("No such evidence file"))
        return FileResponse(files.path(found.sha256), media_type=found.media_type, headers={
            "Content-Disposition": content_disposition(found.sha256 + SUFFIXES[found.media_type]),
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400, immutable"})

    @app.get("/audits/{audit_id}", include_in_schema=False)
    def audit_page(request: Request, audit_id: str) -> Response:
        account = me(request)
        row, result_json, raw, media_type = readable_audit(request, account, audit_id)
        doc = orjson.loads(result_json)
        rules = load_bundled(row.ruleset_id)
        result = rerun_audit(row, raw, media_type)
        return page(request, "result.html.j2", me=account, row=row, doc=doc, rules=rules, plan=plan_of(result),
                    findings=[(f, status_name(f.status)) for f in result.findings],
                    photos=photos_of(result), against=self_check_against(request, account, row, result),
                    inspection=inspection_facts(row, result))

    def inspection_facts(row: AuditRow, result: Any) -> dict[str, Any] | None:
        """For an inspection: who inspected, the centre's person in charge and the round, as its audit block names
        them, each with the form's label; None for a self-check."""
        if row.kind != "inspection":
            return None
        block = result.profile.data.get("audit") or {}
        inspectors = block.get("inspectors") or []
        facts = [(field_label("audit.inspectors"), separator("and").join(str(n) for n in inspectors)),
                 (field_label("audit.responsible"), str(block.get("responsible") or "")),
                 (field_label("audit.round"), str(block.get("round") or ""))]
        return {"kind": kind_name(row.kind), "facts": [(k, v) for k, v in facts if v]}

    def photos_of(result: Any) -> dict[str, list[str]]:
        """Each clause's evidence named by hash in the audit, for the page's photo links."""
        from ..evidence import evidence_of

        return {c: [i.sha256 for i in items if i.sha256] for c, items in evidence_of(result.profile).items()}

    def self_check_against(request: Request, account: Account, row: AuditRow, result: Any) -> dict[str, Any] | None:
        """For an inspection: the library's reconciliation of the centre's latest self-check under the same rule set,
        stored before it, against it, as its reports word it; None for a self-check, or a centre with none."""
        if row.kind != "inspection":
            return None
        from ..reconciliation import reconcile
        from ..rendering import reconcile_view

        earlier = [r for r in store.history(row.centre_id, limit=200, rules=row.ruleset_id)
                   if r.kind != "inspection" and r.submitted_at <= row.submitted_at and r.id != row.id]
        for mine in earlier:
            if mine.ruleset_hash != row.ruleset_hash:
                continue
            _, _, raw, media_type = readable_audit(request, account, mine.id)
            checked = rerun_audit(mine, raw, media_type)
            view = reconcile_view(reconcile(checked, result), language())
            view["row"] = mine
            # the self-check's own date, as the community gave it, not the day it was stored
            view["assessed_on"] = str(checked.profile.data.get("center", {}).get("assessed_on") or
                                      local_time(mine.submitted_at, "%Y-%m-%d"))
            return view
        return None

    @app.get("/audits/{audit_id}/report.pdf", include_in_schema=False)
    def audit_pdf(request: Request, audit_id: str) -> Response:
        row, _, raw, media_type = readable_audit(request, me(request), audit_id)
        return Response(stored_report(row, raw, media_type, "pdf", language()), media_type="application/pdf",
                        headers={"Content-Disposition": content_disposition(report_file_name(row, "pdf"))})

    # ------------------------------------------------------------------ the renovation what-if

    @app.get("/whatif/{audit_id}", include_in_schema=False)
    def whatif_form(request: Request, audit_id: str) -> Response:
        account = me(request)
        row, _, raw, media_type = readable_audit(request, account, audit_id)
        rules = load_bundled(row.ruleset_id)
        values, zones = values_of(stored_profile(raw, media_type), rules)
        return check_page(request, account, rules, values, zones, {}, action=f"/whatif/{audit_id}",
                          title=msg("Renovation what-if"), before=row)

    @app.post("/whatif/{audit_id}", include_in_schema=False)
    async def whatif(request: Request, audit_id: str) -> Response:
        account = me(request)
        row, _, raw, media_type = readable_audit(request, account, audit_id)
        form = await posted_form(request, 2000)
        _check_csrf(request, form)
        rules = load_bundled(row.ruleset_id)
        document, values, zones, errors = read_form(form, rules)
        if form.get("edit"):
            # 修改方案: back to the form with the plan as it was tried, not the audit it started from.
            return check_page(request, account, rules, values, zones, {}, action=f"/whatif/{audit_id}",
                              title=msg("Renovation what-if"), before=row, sent=True)
        if values.get("center.id") != row.centre_id:
            errors["center.id"] = text(msg("the what-if is for the centre {id}", id=quoted(row.centre_id)))
        after = validate(document, rules, errors)
        if after is None:
            return check_page(request, account, rules, values, zones, errors, status=422,
                              action=f"/whatif/{audit_id}", title=msg("Renovation what-if"), before=row)
        before = load_profile(stored_profile(raw, media_type), vocabulary=rules.vocabulary)
        comparison = compare(before, after, rules)
        plan = [(str(k), str(v)) for k, v in form.multi_items() if k not in ("csrf", "edit")
                and isinstance(v, str)]
        return page(request, "whatif.html.j2", me=account, row=row, c=comparison, plan=plan_of(comparison.after),
                    vetoes=veto_changes(comparison), changes=change_names(), sent_plan=plan)

    # ------------------------------------------------------------------ the bureau's dashboard

    @app.get("/dashboard", include_in_schema=False)
    def dashboard(request: Request, rules: str = "", q: str = "", round_id: str = Query("", alias="round"),
                  street: str = "", grade: str = "", verdict: str = "", kind: str = "", actions: str = "",
                  number: str = Query("", alias="page")) -> Response:
        account = me(request)
        if account.role == "community":
            return RedirectResponse("/check", status_code=303)
        default = service_rules(store)
        shown = rules if rules in bundled() else default
        ruleset = load_bundled(shown)
        filters = board.Filters(shown, centre=q.strip()[:200], round=round_id[:board.ROUND_LENGTH],
                                kind=kind if kind in KINDS else "",
                                street=street, grade=grade, verdict=verdict if verdict in VERDICTS else "",
                                open_actions=actions == "open")
        asked = int(number) if number.isdigit() and len(number) < 9 else 1
        seen = board.view(store, filters, asked, bundled())
        found = seen.page
        if str(found.number) != (number or "1"):        # a page past the last, or not a number: the one there is
            return RedirectResponse(dashboard_href(filters, found.number, shown == default), status_code=303)
        grades = [g.id for g in ruleset.grades if g.id in seen.choices["grades"] or g.id == grade]
        return page(request, "dashboard.html.j2", me=account, rows=found.rows, found=found, f=filters,
                    streets=seen.choices["streets"], grades=grades, rounds=seen.choices["rounds"],
                    has_actions=seen.has_actions, street=street, grade=grade, verdict=verdict,
                    rule_names=_bundled_names(), default=default, shown=shown, ruleset=ruleset, used=seen.used,
                    elsewhere=seen.elsewhere, total=seen.total, kind_name=kind_name,
                    round_label=text(cmsg("audit round", "Round")),
                    pager=pager(found.number, found.pages),
                    href=lambda n: dashboard_href(filters, n, shown == default),
                    every_centre=dashboard_href(board.Filters(shown), 1, shown == default),
                    why=lambda row: why_not(row, ruleset), **batch_context(account))

    def batch_context(account: Account) -> dict[str, Any]:
        """What the dashboard's upload and its list of recent batches need."""
        if not auth.may_run_batches(account):
            return {"batches": []}
        return {"batches": [batch_view(b) for b in store.recent_batches(BATCHES_SHOWN)]}

    def batch_view(batch: Any) -> dict[str, Any]:
        view = batches.view(batch)
        view["active"] = batch.status in ("queued", "running")
        view["rules_title"] = ruleset_name(batch.rules)
        view["downloads"] = {name: (f"/batches/{batch.id}/files/{name}", round_file_name(batch, name))
                             for name in view["files"]}
        return view

    @app.get("/dashboard/batches", include_in_schema=False)
    def dashboard_batches(request: Request) -> Response:
        """The recent batches as the dashboard shows them, for the page to refresh while a batch runs."""
        account = me(request)
        if not auth.may_run_batches(account):
            raise Problem(404, msg("Not found"))
        return page(request, "batches.html.j2", me=account, **batch_context(account))

    @app.get("/centres/{centre_id}", include_in_schema=False)
    def centre_page(request: Request, centre_id: str) -> Response:
        account = me(request)
        if not auth.may_read(account, centre_id):
            raise Problem(404, msg("No such centre"))
        rows = store.history(centre_id)
        if not rows:
            raise Problem(404, msg("No such centre"))
        from .waivers import listed, view as waiver_view

        main = service_rules(store)
        return page(request, "centre.html.j2", me=account, rows=rows, centre_id=centre_id,
                    chart=history_chart(rows, main), groups=board.by_ruleset(rows, main), main=main,
                    kind_name=kind_name,
                    waivers=[waiver_view(w) for w in listed(store, centre_id)], today=today_in_china().isoformat(),
                    why=lambda row: why_not(row, load_bundled(row.ruleset_id) if row.ruleset_id in bundled() else None))

    @app.post("/batches", include_in_schema=False)
    async def batch_upload(request: Request) -> Response:
        account = me(request)
        if not auth.may_run_batches(account):
            raise Problem(403, msg("Batches are run by bureau accounts"))
        upload, filename, fields = await read_upload(request, batches.folder)
        try:
            _check_csrf(request, fields)             # (the upload is capped in size and time before this)
            ruleset = rules_asked(store, str(fields.get("rules") or ""))
        except Exception:
            upload.unlink(missing_ok=True)
            raise
        default = service_rules(store)
        if ruleset.id != default:                    # another rule set than the service's: said before it runs
            token = pending.keep(upload, filename, account.name)
            return page(request, "confirm.html.j2", me=account, token=token, filename=filename, asked=ruleset.id,
                        default=default)
        batches.submit(upload, filename, ruleset.id, account.name, language())
        return RedirectResponse("/dashboard#batches", status_code=303)

    @app.post("/batches/pending/{token}", include_in_schema=False)
    async def batch_confirm(request: Request, token: str) -> Response:
        """The answer to the confirmation of an upload under another rule set: run it under the rule set chosen,
        or drop it."""
        account = me(request)
        if not auth.may_run_batches(account):
            raise Problem(403, msg("Batches are run by bureau accounts"))
        form = await posted_form(request, 10)
        _check_csrf(request, form)
        found = pending.take(token, account.name)
        if found is None:
            raise Problem(404, msg("This upload is no longer waiting"),
                          msg("it was confirmed or cancelled already, or it waited more than a day: upload the file "
                              "again"))
        upload, filename = found
        if form.get("cancel") or not form.get("rules"):
            upload.unlink(missing_ok=True)
            return RedirectResponse("/dashboard", status_code=303)
        try:
            ruleset = bundled_ruleset(str(form.get("rules")))
        except Problem:
            upload.unlink(missing_ok=True)
            raise
        batches.submit(upload, filename, ruleset.id, account.name, language())
        return RedirectResponse("/dashboard#batches", status_code=303)

    @app.get("/batches/{batch_id}/files/{name}", include_in_schema=False)
    def batch_file(request: Request, batch_id: str, name: str) -> Response:
        account = me(request)
        return batch_file_response(batches, store.batch(batch_id) if auth.may_run_batches(account) else None, name)

    # ------------------------------------------------------------------ the service's settings

    def settings_page(request: Request, account: Account, saved: bool = False) -> HTMLResponse:
        return page(request, "settings.html.j2", me=account, setting=store.rules_setting(), default=service_rules(store),
                    rule_names=_bundled_names(), used=board.rulesets_used(store, bundled()), saved=saved)

    @app.get("/settings", include_in_schema=False)
    def settings(request: Request, saved: str = "") -> Response:
        account = me(request)
        if account.role != "bureau":
            raise Problem(403, msg("Only a bureau account changes the service's settings"))
        return settings_page(request, account, saved=bool(saved))

    @app.post("/settings", include_in_schema=False)
    async def settings_change(request: Request) -> Response:
        account = me(request)
        if account.role != "bureau":
            raise Problem(403, msg("Only a bureau account changes the service's settings"))
        form = await posted_form(request, 10)
        _check_csrf(request, form)
        name = str(form.get("rules") or "")
        before = service_rules(store)
        choose_rules(store, name, account.name)
        log.info("the service's rule set: %s → %s, chosen by %s", before, name, account.name)
        return RedirectResponse("/settings?saved=1", status_code=303)


BATCHES_SHOWN = 3          # the recent batches the dashboard lists
VERDICTS = ("conforming", "non_conforming")


def kind_name(kind: str) -> str:
    """自评 or 考核: an audit's kind as a person says it."""
    return text(msg("inspection")) if kind == "inspection" else text(msg("self-check"))


def dashboard_href(f: board.Filters, number: int, default_rules: bool) -> str:
    """The dashboard's address for page ``number`` of these filters: a page that can be bookmarked and shared."""
    from urllib.parse import urlencode

    query = [("rules", "" if default_rules else f.rules), ("q", f.centre), ("round", f.round), ("kind", f.kind), ("street", f.street),
             ("grade", f.grade), ("verdict", f.verdict), ("actions", "open" if f.open_actions else ""),
             ("page", str(number) if number > 1 else "")]
    kept = urlencode([(k, v) for k, v in query if v])
    return "/dashboard" + ("?" + kept if kept else "")


def pager(number: int, pages: int) -> list[int | None]:
    """The page numbers to link: the first, the last, and two either side of this one; None where pages are left
    out (…)."""
    shown = sorted({1, pages, *range(max(1, number - 2), min(pages, number + 2) + 1)})
    out: list[int | None] = []
    for n in shown:
        if out and n - (out[-1] or 0) > 1:
            out.append(None)
        out.append(n)
    return out


def why_not(row: AuditRow, rules: RuleSet | None) -> list[str]:
    """Why an audit does not conform, in words: the veto clauses it failed (5.2 服务空间最大化（8:2）), or its score
    below the pass mark."""
    if row.verdict != "non_conforming":
        return []
    lang = language()
    titles = {c.clause: c.title[lang] for c in rules.clauses} if rules is not None else {}
    out = [f"{c} {titles[c]}" if c in titles else c for c in row.vetoed_clauses]
    if not out and rules is not None:
        out.append(text(msg("score below {score}", score=rules.pass_score)))
    return out


class Pending:
    """Uploads waiting for their confirmation (a rule set other than the service's): kept under the batches' folder
    for a day at most, each for the account that sent it."""

    SECONDS = 24 * 3600

    def __init__(self, folder: Path) -> None:
        self.folder = folder / ".pending"

    def keep(self, upload: Path, filename: str, account: str) -> str:
        self._clear_old()
        token = secrets.token_hex(16)
        home = self.folder / token
        home.mkdir(parents=True)
        os.replace(upload, home / "upload")
        (home / "about.json").write_bytes(orjson.dumps({"filename": filename, "account": account}))
        return token

    def take(self, token: str, account: str) -> tuple[Path, str] | None:
        """The upload and its name, no longer waiting; None if there is none for this account."""
        if not re.fullmatch(r"[0-9a-f]{32}", token):
            return None
        home = self.folder / token
        try:
            about = orjson.loads((home / "about.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if about.get("account") != account or time.time() - home.stat().st_mtime > self.SECONDS:
            return None
        taken = self.folder.parent / f".upload-{token}"
        try:
            os.replace(home / "upload", taken)
        except OSError:                  # taken by another request meanwhile
            return None
        shutil.rmtree(home, ignore_errors=True)
        return taken, str(about["filename"])

    def _clear_old(self) -> None:
        if not self.folder.is_dir():
            return
        for home in self.folder.iterdir():
            with contextlib.suppress(OSError):
                if time.time() - home.stat().st_mtime > self.SECONDS:
                    shutil.rmtree(home, ignore_errors=True)


SERIES_COLOURS = ("#1f4e9a", "#9a6700", "#1b7a3d", "#6b3fa0", "#5b6472")


def history_chart(rows: Sequence[AuditRow], main: str, width: int = 640, height: int = 300) -> dict[str, Any]:
    """A centre's scores over time as SVG geometry: oldest on the left, 0–100 upwards, one line per rule set (scores
    under different rule sets are not comparable, so never joined), the service's rule set first and solid, the
    others dashed; the first and last dates below."""
    points = list(reversed(rows))[-40:]
    pad_x, pad_y, pad_bottom = 56, 24, 40
    inner_w, inner_h = width - 2 * pad_x, height - pad_y - pad_bottom
    step = inner_w / max(1, len(points) - 1)
    names = sorted({r.ruleset_id for r in points}, key=lambda n: (n != main, n))
    series = []
    for i, name in enumerate(names):
        dots = [{"x": round(pad_x + (k * step if len(points) > 1 else inner_w / 2), 1),
                 "y": round(pad_y + inner_h * (1 - r.score / 100), 1), "score": r.score, "grade": r.grade,
                 "date": local_time(r.submitted_at, "%Y-%m-%d"),
                 # the leftmost point's score reads rightwards from it, clear of the axis's labels (100, 80…), and
                 # a score near the top is written below its point, inside the chart rather than cut off above it
                 "anchor": "start" if k == 0 and len(points) > 1 else "middle",
                 "label_x": round(pad_x - 2 if k == 0 and len(points) > 1 else
                                  pad_x + (k * step if len(points) > 1 else inner_w / 2), 1),
                 "label_y": round(top - 10 if (top := pad_y + inner_h * (1 - r.score / 100)) - 10 >= 26 else top + 28, 1)}
                for k, r in enumerate(points) if r.ruleset_id == name]
        series.append({"name": name, "title": ruleset_name(name), "colour": SERIES_COLOURS[i % len(SERIES_COLOURS)],
                       "dash": "" if name == main else "8 5", "dots": dots,
                       "line": " ".join(f"{d['x']},{d['y']}" for d in dots), "main": name == main})
    first, last = local_time(points[0].submitted_at, "%Y-%m-%d"), local_time(points[-1].submitted_at, "%Y-%m-%d")
    dates = [{"x": pad_x, "anchor": "start", "text": first}]
    if last != first and len(points) > 1:
        dates.append({"x": width - pad_x, "anchor": "end", "text": last})
    return {"width": width, "height": height, "series": series, "dates": dates, "labelled": len(points) <= 12,
            "ticks": [{"y": round(pad_y + inner_h * (1 - v / 100), 1), "v": v} for v in (0, 60, 80, 100)],
            "pad_x": pad_x}


def _bundled_names() -> list[tuple[str, str]]:
    """(name, title in the reader's language) of every bundled rule set, for the drop-downs."""
    return [(name, ruleset_name(name)) for name in bundled()]


def _safe_next(target: str) -> str:
    """Only a path on this site (never //host or a scheme): no open redirect after login."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
