"""The ASGI application: the REST API under /v1 (the web pages join it later).

Thin, like the command line: every route parses, asks the library or the store, and answers. Errors are
RFC 9457 problem documents; nothing a client sends can make it print a stack trace.
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, AsyncIterator, Mapping

import orjson
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..version import __version__
from ..contract import profile_schema, result_schema
from ..errors import ProfileError
from ..i18n import Message, language, msg, quote, text, use_language
from ..layers import bundled_names
from ..model import RuleSet
from ..profile import load_profile
from ..reading import parse
from . import actions, auth, evidence, rounds, waiver_routes, web
from .language import Language, is_page, request_language
from .common import (DEFAULT_DATA, IDEMPOTENCY_HEADER, JSON_TYPES, KEY_PATTERN, PROBLEM, PROFILE_LIMIT, Problem, Submitted,
                     audit_document, batch_file_response, bundled, bundled_ruleset, content_disposition, idempotency_key,
                     key_reused, load_bundled, media_type_of, problem_response, profile_from, profile_problem, read_body,
                     read_upload, readable_audit, replayed, report_file_name, rules_asked, service_rules, stored_report,
                     submit_audit)
from .batches import Batches
from .store import Account, AuditRow, IdempotencyKey, KeyReused, Store

log = logging.getLogger("compliance.service")

_PAGE_TITLES = {400: msg("The request is not valid"), 401: msg("Please log in"), 408: msg("The upload came too slowly"),
                403: msg("Not allowed"), 404: msg("Not found"), 405: msg("Not supported"),
                409: msg("The rule set has changed"), 413: msg("The file is too large"),
                415: msg("This kind of file is not supported"), 422: msg("Something in it is not valid"),
                500: msg("The service hit an error")}


def _answer(request: Request, problem: Problem) -> Response:
    """A problem document on the API; a readable page for a person in a browser."""
    if not is_page(request.scope):
        return problem_response(problem, request.url.path)
    detail = problem.detail or problem.title
    if problem.status == 500:
        detail = msg("The service hit an internal error, which has been logged. Please try again later, or tell the "
                     "administrator.")
    response = web.page(request, "error.html.j2", status=problem.status, status_code=problem.status,
                        heading=text(_PAGE_TITLES.get(problem.status, problem.title)), detail=text(detail))
    for name, value in (problem.headers or {}).items():
        response.headers[name] = value
    return response


def _parameter_path(loc: Any) -> str:
    """Where a request parameter is: a header by its name (Idempotency-Key), a query parameter as $.rules."""
    if len(loc) == 2 and loc[0] == "header":
        return str(loc[1])
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])


def _parameter_problem(error: Mapping[str, Any]) -> Message:
    """A request parameter the route cannot take, in words: its value and what is expected."""
    value = error.get("input")
    where = [str(p) for p in error.get("loc", ())[1:]]
    name = quote(".".join(where) or "?")
    if error.get("type") == "missing":
        return msg("the parameter {name} is missing", name=name)
    return msg("the parameter {name} cannot be {value}", name=name, value=quote(value) if isinstance(value, (str, int, float))
               else msg("this value"))


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json", headers=headers)


def _submitted(done: Submitted) -> Response:
    headers = {"Location": done.location}
    if done.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(done.body, status_code=done.status, media_type="application/json", headers=headers)


# --------------------------------------------------------------------------- the application

def create_app(store: Store, data: Path | None = None) -> FastAPI:
    """The application over ``store``; batch uploads and outputs are kept under ``data``."""
    batches = Batches(store, Path(data or DEFAULT_DATA).resolve())
    round_files: list[Any] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batches.start()
        for f in round_files:
            f.start()
        yield
        batches.stop()
        for f in round_files:
            f.stop()

    app = FastAPI(title="Community service centre audits", version=__version__,
                  description="Audit community convenience service centres (社区便民服务中心) against their "
                              "service specification, and keep every audit.",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.store = store
    app.state.batches = batches
    app.router.redirect_slashes = False     # a redirect built from the Host header is not ours to send

    app.add_middleware(SecurityHeaders)
    app.add_middleware(Language)        # outermost: every message of the request, problems too, in its language

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return _answer(request, exc)

    @app.exception_handler(web.LoginRequired)
    async def _login(request: Request, exc: web.LoginRequired) -> Response:
        from fastapi.responses import RedirectResponse
        from urllib.parse import quote

        return RedirectResponse("/login?next=" + quote(request.url.path), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: msg("Not found"), 405: msg("Method not allowed")}
        title = titles.get(exc.status_code) or msg("The request cannot be answered ({status})", status=exc.status_code)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:           # Allow lists every route's methods on this path, not the first one's
            allowed = {m for r in request.app.router.routes if getattr(r, "methods", None) and
                       getattr(r, "path_regex", None) is not None and r.path_regex.match(request.scope["path"])
                       for m in r.methods}
            if allowed:
                headers = {**(headers or {}), "Allow": ", ".join(sorted(allowed))}
        return _answer(request, Problem(exc.status_code, title, headers=headers))  # 405 keeps Allow

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"path": _parameter_path(e.get("loc", ())), "message": _parameter_problem(e)} for e in exc.errors()]
        return problem_response(Problem(422, msg("The request is not valid"), problems=problems), request.url.path)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        # This handler runs outside the middleware that set the request's language: set it again.
        with use_language(request_language(request.scope)):
            return _answer(request, Problem(500, msg("Internal error"),
                                            msg("this is a bug in compliance; it has been logged")))

    _routes(app, store)
    _batch_routes(app, store, batches)
    actions.install(app, store, current_account, _error_responses, web)
    web.install(app, store, batches)
    evidence.install(app, store, batches.folder, current_account, _error_responses)
    waiver_routes.install(app, store, batches, current_account)
    round_files.append(rounds.install(app, store, batches.folder, current_account, web))
    app.openapi = lambda: _openapi(app)        # type: ignore[method-assign]
    return app


ACCOUNT_SECONDS = 10.0     # how long a token's account is remembered: a changed account counts within 10 s


_CSP = (b"default-src 'self'; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"frame-ancestors 'none'; form-action 'self'")


class SecurityHeaders:
    """nosniff on every answer; no framing and a content policy on pages. Plain ASGI: it only adds headers as
    the answer starts, so it costs the API nothing measurable (a function middleware costs a task a request)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    headers += [(b"x-frame-options", b"DENY"), (b"content-security-policy", _CSP)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def current_account(request: Request) -> Account:
    """The account whose bearer token the request carries (401 without a valid one)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="compliance"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, msg("Authentication required"), msg("send the header {header}",
                                                               header=quote("Authorization: Bearer TOKEN")),
                      headers=challenge)
    digest = auth.token_hash(token.strip())
    now = time.monotonic()
    known = _ACCOUNTS.get(digest)
    if known is not None and known[1] > now:
        return known[0]
    store: Store = request.app.state.store
    account = store.account_by_token(digest)
    if account is None:
        raise Problem(401, msg("The token is not valid"), headers=challenge)
    if len(_ACCOUNTS) > 10_000:
        _ACCOUNTS.clear()
    _ACCOUNTS[digest] = (account, now + ACCOUNT_SECONDS)
    return account


_ACCOUNTS: dict[str, tuple[Account, float]] = {}


LANG_QUERY: Any = Query(None, pattern="^(zh|en)$", description="The language of messages, reports and problems "
                        "(zh or en); without it, Accept-Language decides, else zh")
RULES_QUERY: Any = Query(None, description="The rule set to audit with; without it, the service's rule set (the one "
                         "marked default in GET /v1/rulesets)", json_schema_extra={"enum": list(bundled_names())})
HISTORY_RULES: Any = Query(None, description="Only the audits under this rule set (scores under different rule sets "
                           "are not comparable)", json_schema_extra={"enum": list(bundled_names())})
KEY_HEADER: Any = Header(None, alias=IDEMPOTENCY_HEADER, pattern=KEY_PATTERN, description=(
    "Any unique value of 1 to 255 visible ASCII characters, such as a UUID. This account's request repeated with "
    "the same key within 24 hours gets the first answer again (its status, body and Location, marked "
    "Idempotent-Replayed: true) and stores nothing; the same key with another body or rule set is 422. A request "
    "that failed keeps nothing, so it may be sent again with the same key."))


def _routes(app: FastAPI, store: Store) -> None:
    profile_body = {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Profile"}},
        "application/yaml": {"schema": {"$ref": "#/components/schemas/Profile"}}}}
    errors = _error_responses

    stored_audit = {"application/json": {"schema": {"$ref": "#/components/schemas/StoredAudit"}}}
    location = {"Location": {"description": "/v1/audits/{id}: where the audit is kept", "schema": {"type": "string"}}}
    replay = {"Idempotent-Replayed": {"description": "true when this is the first answer to the Idempotency-Key, "
                                                     "repeated", "schema": {"type": "string", "enum": ["true"]}}}

    @app.post("/v1/audits", status_code=201, tags=["audits"], summary="Audit one centre and keep the audit",
              description="Submitting is idempotent. A profile identical to its centre's latest stored audit under the "
                          "same rule set and of the same kind (the same profile as parsed, whatever its format or key "
                          "order; the same rule-set content hash) is not stored again: the answer is 200 with that "
                          "audit and its Location. An Idempotency-Key header makes a retry safe whatever has been "
                          "stored meanwhile.",
              openapi_extra={"requestBody": profile_body},
              responses={201: {"description": "Stored: the result document, its id and when it was stored",
                               "content": stored_audit, "headers": {**location, **replay}},
                         200: {"description": "Identical to the centre's latest audit under this rule set and of this "
                                              "kind, which is not stored again: that audit, as stored",
                               "content": stored_audit, "headers": {**location, **replay}},
                         **errors(400, 401, 403, 408, 413, 415, 422)})
    async def post_audit(request: Request, rules: str | None = RULES_QUERY,
                         lang: str | None = LANG_QUERY, key: str | None = KEY_HEADER,
                         account: Account = Depends(current_account)) -> Response:
        ruleset = rules_asked(store, rules)
        raw = await read_body(request, PROFILE_LIMIT)
        media_type = media_type_of(request)
        ikey = idempotency_key(account, key, rules, media_type, raw)
        if store.engine.dialect.name == "postgresql":
            # PostgreSQL: stored on a worker thread, whose waits on the server (its statements, its commit) leave the
            # event loop to read the next requests; SQLite's in-process work gains nothing from threads that contend
            # for the interpreter, and is done here.
            return await asyncio.to_thread(store_posted, account, ruleset, raw, media_type, ikey)
        return store_posted(account, ruleset, raw, media_type, ikey)

    def store_posted(account: Account, ruleset: RuleSet, raw: bytes, media_type: str,
                     ikey: IdempotencyKey | None) -> Response:
        if ikey is not None:                 # a repeat is answered before anything else is looked at
            try:
                first = store.first_answer(ikey)
            except KeyReused:
                raise key_reused(ikey.key) from None
            if first is not None:
                return _submitted(replayed(store, first))
        profile = profile_from(raw, media_type, ruleset, "request")   # (?lang= is the language in force)
        if not auth.may_submit(account, profile.id):
            raise Problem(403, msg("This account submits only its own centre"),
                          msg("this account is for the centre {id}", id=quote(account.centre_id)))
        evidence.check_submission(store, account, profile)     # inspections by the bureau; evidence held
        return _submitted(submit_audit(store, account, profile, ruleset, raw, media_type, key=ikey))

    @app.get("/v1/audits/{audit_id}", tags=["audits"], summary="One stored audit",
             responses={200: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/StoredAudit"}}}},
                        **errors(401, 404)})
    def get_audit(request: Request, audit_id: str, account: Account = Depends(current_account)) -> Response:
        row, result, _, _ = readable_audit(request, account, audit_id)
        return Response(audit_document(row, result), media_type="application/json")

    @app.get("/v1/audits/{audit_id}/report.pdf", tags=["audits"], summary="An audit's report as PDF",
             responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                        **errors(401, 404, 409)}, response_class=Response)
    def report_pdf(request: Request, audit_id: str, lang: str | None = LANG_QUERY,
                   account: Account = Depends(current_account)) -> Response:
        row, _, profile, media_type = readable_audit(request, account, audit_id)
        return Response(stored_report(row, profile, media_type, "pdf", lang or language()), media_type="application/pdf",
                        headers={"Content-Disposition": content_disposition(report_file_name(row, "pdf"), "inline")})

    @app.get("/v1/audits/{audit_id}/report.html", tags=["audits"], summary="An audit's report as HTML",
             responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}, **errors(401, 404, 409)},
             response_class=Response)
    def report_html(request: Request, audit_id: str, lang: str | None = LANG_QUERY,
                    account: Account = Depends(current_account)) -> Response:
        row, _, profile, media_type = readable_audit(request, account, audit_id)
        return Response(stored_report(row, profile, media_type, "html", lang or language()), media_type="text/html; charset=utf-8")

    @app.get("/v1/centres/{centre_id}/audits", tags=["audits"], summary="A centre's audits, newest first",
             responses={200: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/History"}}}},
                        **errors(401, 404)})
    def centre_history(centre_id: str, rules: str | None = HISTORY_RULES,
                       account: Account = Depends(current_account)) -> Response:
        if not auth.may_read(account, centre_id):
            raise Problem(404, msg("No such centre"))
        if rules is not None:
            bundled_ruleset(rules)                   # 422 for a rule set the service does not have
        rows = store.history(centre_id, rules=rules)     # none yet is an empty history, not an error
        return _json({"centre_id": centre_id, "audits": [_history_item(r) for r in rows]})

    @app.post("/v1/compare", tags=["audits"], summary="The renovation check: a centre before and after a plan",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "required": ["before", "after"], "properties": {
                      "before": {"$ref": "#/components/schemas/Profile"},
                      "after": {"$ref": "#/components/schemas/Profile"}}}}}}},
              responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}},
                         **errors(400, 401, 403, 408, 413, 415, 422)})
    async def post_compare(request: Request, rules: str | None = RULES_QUERY, lang: str | None = LANG_QUERY,
                           account: Account = Depends(current_account)) -> Response:
        from ..comparison import compare

        ruleset = rules_asked(store, rules)
        raw = await read_body(request, 2 * PROFILE_LIMIT)
        if media_type_of(request) not in JSON_TYPES:
            raise Problem(415, msg("Unsupported media type"), msg("send {body} as {type}", body=quote('{"before": …, "after": …}'),
                                                                  type=quote("application/json")))
        try:
            body = parse(raw, "request.json", ProfileError)
        except ProfileError as exc:
            raise profile_problem(exc) from None
        if not isinstance(body, dict) or not {"before", "after"} <= body.keys():
            raise Problem(422, msg("The request is not valid"), msg("send {body}", body=quote('{"before": profile, "after": profile}')),
                          problems=[{"path": "$", "message": msg("needs the members {before} and {after}",
                                                                 before=quote("before"), after=quote("after"))}])
        sides = []
        for side in ("before", "after"):
            try:
                if not isinstance(body[side], dict):
                    raise ProfileError(msg("is not a profile (a mapping)"), file=side)
                sides.append(load_profile(body[side], vocabulary=ruleset.vocabulary))
            except ProfileError as exc:
                problem = profile_problem(exc)
                for p in problem.problems or ():
                    p["path"] = "$." + side + p["path"][1:]
                raise problem from None
        for profile in sides:
            if not auth.may_read(account, profile.id):
                raise Problem(403, msg("This account checks only its own centre"))
        return _json(compare(sides[0], sides[1], ruleset).to_dict(lang or language()))

    @app.get("/v1/rulesets", tags=["rules"], summary="The rule sets this service audits with",
             description="Each with its id, title, version, layers, content hash and grades; default is true for the "
                         "service's rule set, the one used where a request names none.",
             responses={200: {"content": {"application/json": {"schema": {"type": "array", "items": {
                 "type": "object", "required": ["id", "title", "content_hash", "default"],
                 "properties": {"default": {"type": "boolean"}}}}}}},
                        **errors(401)})
    def rulesets(account: Account = Depends(current_account)) -> Response:
        default = service_rules(store)
        return _json([{**_ruleset_summary(load_bundled(name)), "default": name == default} for name in bundled()])

    @app.get("/v1/rulesets/{name}", tags=["rules"], summary="One rule set and its clauses",
             responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}, **errors(401, 404)})
    def ruleset(name: str, account: Account = Depends(current_account)) -> Response:
        if name not in bundled():
            raise Problem(404, msg("No such rule set"))
        rs = load_bundled(name)
        return _json({**_ruleset_summary(rs), "default": name == service_rules(store),
                      "clauses": [_clause(c) for c in rs.clauses]})

    @app.get("/v1/schema/profile", tags=["rules"], summary="The profile's JSON Schema",
             responses={200: {"content": {"application/schema+json": {"schema": {"type": "object"}}}}, **errors(401)})
    def profile_schema(account: Account = Depends(current_account)) -> Response:
        return Response(_profile_schema_bytes(), media_type="application/schema+json")


def _batch_routes(app: FastAPI, store: Store, batches: Batches) -> None:
    errors = _error_responses
    batch_schema = {"$ref": "#/components/schemas/Batch"}

    @app.post("/v1/batches", status_code=202, tags=["batches"], summary="Run a round on an uploaded file",
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "required": ["file"], "properties": {
                      "file": {"type": "string", "format": "binary",
                               "description": "centres as .xlsx (the template's layout), .csv or .jsonl"}}}}}}},
              responses={202: {"description": "The batch, queued", "content": {"application/json": {"schema": batch_schema}}},
                         **errors(400, 401, 403, 408, 413, 415, 422)})
    async def post_batch(request: Request, rules: str | None = RULES_QUERY,
                         account: Account = Depends(current_account)) -> Response:
        if not auth.may_run_batches(account):
            raise Problem(403, msg("Batches are run by bureau accounts"))
        ruleset = rules_asked(store, rules)
        upload, filename, _ = await read_upload(request, batches.folder)
        batch = batches.submit(upload, filename, ruleset.id, account.name, language())
        return _json(batches.view(batch), 202, headers={"Location": f"/v1/batches/{batch.id}"})

    def readable_batch(batch_id: str, account: Account) -> Any:
        batch = store.batch(batch_id)
        if batch is None or not auth.may_run_batches(account):
            raise Problem(404, msg("No such batch"))
        return batch

    @app.get("/v1/batches/{batch_id}", tags=["batches"], summary="A batch's status, progress and outputs",
             responses={200: {"content": {"application/json": {"schema": batch_schema}}}, **errors(401, 404)})
    def get_batch(batch_id: str, account: Account = Depends(current_account)) -> Response:
        return _json(batches.view(readable_batch(batch_id, account)))

    @app.get("/v1/batches/{batch_id}/files/{name}", tags=["batches"], summary="One output of a finished batch",
             responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                        **errors(401, 404)}, response_class=Response)
    def get_batch_file(batch_id: str, name: str, account: Account = Depends(current_account)) -> Response:
        return batch_file_response(batches, readable_batch(batch_id, account), name)


def _history_item(row: AuditRow) -> dict[str, Any]:
    return {"id": row.id, "submitted_at": row.submitted_at.isoformat(), "submitted_by": row.submitted_by,
            "score": row.score, "grade": row.grade, "verdict": row.verdict, "kind": row.kind,
            "ruleset": {"id": row.ruleset_id, "version": row.ruleset_version, "content_hash": row.ruleset_hash},
            "profile_sha256": row.profile_sha256}


def _ruleset_summary(rs: RuleSet) -> dict[str, Any]:
    return {"id": rs.id, "version": rs.version, "layers": list(rs.layers), "title": dict(rs.title),
            "content_hash": rs.content_hash, "clauses": len(rs.clauses), "pass_score": rs.pass_score,
            "grades": [{"id": g.id, "min": g.min, "title": dict(g.title)} for g in rs.grades]}


def _clause(c: Any) -> dict[str, Any]:
    from ..model import thaw

    return {"clause": c.clause, "category": c.category, "level": c.level.value, "weight": c.weight, "veto": c.veto,
            "title": dict(c.title), "requirement": dict(c.requirement), "threshold": thaw(c.threshold),
            "threshold_from": c.threshold_from}


@lru_cache(maxsize=None)
def _profile_schema_bytes() -> bytes:
    return orjson.dumps(profile_schema())


# --------------------------------------------------------------------------- OpenAPI

PROBLEM_SCHEMA = {
    "type": "object", "required": ["type", "title", "status"],
    "description": "An RFC 9457 problem document.",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "object", "required": ["path", "message"], "properties": {
            "path": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
BATCH_SCHEMA = {
    "type": "object", "required": ["id", "status", "progress", "files"],
    "properties": {
        "id": {"type": "string"}, "status": {"enum": ["queued", "running", "done", "failed"]},
        "rules": {"type": "string"}, "filename": {"type": "string"}, "submitted_by": {"type": "string"},
        "submitted_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "progress": {"type": "object", "properties": {"done": {"type": "integer"}, "total": {"type": ["integer", "null"]}}},
        "exit_code": {"type": ["integer", "null"]}, "message": {"type": ["string", "null"]},
        "audited": {"type": ["integer", "null"], "description": "how many centres a finished batch audited (the "
                    "rest of its input was refused: see errors.csv)"},
        "added": {"type": ["integer", "null"], "description": "how many audits the batch added to the centres' "
                  "histories once done: a centre identical to its latest audit under the same rule set adds none"},
        "files": {"type": "object", "additionalProperties": {"type": "string"},
                  "description": "output name → where to download it (once the batch is done)"},
    },
}
_ERROR_TITLES = {400: "The client went away", 408: "The body came too slowly", 401: "No valid bearer token", 403: "Not this account's centre", 404: "Not found, or not this account's",
                 409: "The rule set changed since", 413: "The body is too large", 415: "Not JSON or YAML",
                 422: "Not a valid profile, or an unknown rule set", 507: "The service's disk is full: nothing stored"}


def _error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"description": _ERROR_TITLES[code],
                   "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}} for code in codes}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document of the routes, with the published schemas (profile, result) as its components."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(_component("Profile", profile_schema()))
    result = _component("AuditResult", result_schema())
    schemas.update(result)
    schemas["StoredAudit"] = {"allOf": [{"$ref": "#/components/schemas/AuditResult"}, {
        "type": "object", "required": ["id", "submitted_at"],
        "properties": {"id": {"type": "string"}, "submitted_at": {"type": "string", "format": "date-time"},
                       "warnings": {"type": "array", "description": "what was read but may not be as meant (a key "
                                    "the profile contract does not know, with the nearest known one)", "items": {
                                        "type": "object", "required": ["path", "message"], "properties": {
                                            "path": {"type": "string"}, "message": {"type": "string"}}}}}}]}
    schemas["History"] = {"type": "object", "required": ["centre_id", "audits"], "properties": {
        "centre_id": {"type": "string"}, "audits": {"type": "array", "items": {"type": "object", "required": [
            "id", "score", "grade", "verdict", "submitted_at", "kind", "ruleset"], "properties": {
                "kind": {"enum": ["self_check", "inspection"]},
                "ruleset": {"type": "object", "required": ["id", "version", "content_hash"]}}}}}}
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["Batch"] = BATCH_SCHEMA
    schemas["Evidence"] = evidence.EVIDENCE_SCHEMA
    schemas.update(actions.openapi_schemas())
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    doc["security"] = [{"bearer": []}]
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            # Every 422, like every error, is a problem document (FastAPI would describe its own format).
            if "422" in operation.get("responses", {}):
                operation["responses"]["422"] = _error_responses(422)[422]
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = doc
    return doc


def _component(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema as OpenAPI components: its $defs become sibling components, its refs rewritten."""
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    prefix = f"{name}_"

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (f"#/components/schemas/{prefix}{v.split('/')[-1]}" if k == "$ref" and isinstance(v, str)
                        and v.startswith("#/$defs/") else rewrite(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    out = {name: rewrite(schema)}
    out.update({prefix + key: rewrite(value) for key, value in defs.items()})
    return out

