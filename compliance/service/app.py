"""The ASGI application: the REST API under /v1 (the web pages join it later).

Thin, like the command line: every route parses, asks the library or the store, and answers. Errors are
RFC 9457 problem documents; nothing a client sends can make it print a stack trace.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, AsyncIterator

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..compile import load_ruleset
from ..contract import profile_schema, result_schema
from ..errors import ProfileError
from ..evaluate import evaluate
from ..layers import bundled_names
from ..model import RuleSet
from ..profile import load_profile
from ..reading import parse
from . import auth, web
from .batches import INPUT_SUFFIXES, MEDIA_TYPES, Batches
from .store import Account, AuditRow, Store

log = logging.getLogger("compliance.service")

PROFILE_LIMIT = 1 << 20          # a profile is at most 1 MiB
UPLOAD_LIMIT = 50 << 20          # an upload at most 50 MiB
JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
PROBLEM = "application/problem+json"
DEFAULT_DATA = "compliance-batches"      # in the folder the service starts in, beside compliance.db


class Problem(Exception):
    """An error answered as an RFC 9457 problem document."""

    def __init__(self, status: int, title: str, detail: str | None = None, *,
                 problems: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(title)
        self.status, self.title, self.detail, self.problems, self.headers = status, title, detail, problems, headers

    def document(self, instance: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.detail:
            doc["detail"] = self.detail
        doc["instance"] = instance
        if self.problems is not None:
            doc["problems"] = self.problems
        return doc


def problem_response(problem: Problem, instance: str) -> Response:
    return Response(orjson.dumps(problem.document(instance)), status_code=problem.status, media_type=PROBLEM,
                    headers=problem.headers)


_PAGE_TITLES = {400: "请求有误", 401: "需要登录", 408: "上传太慢", 403: "无权进行此操作", 404: "没有找到", 405: "不支持此操作",
                409: "规则集已变更", 413: "文件太大", 415: "文件类型不支持", 422: "内容有误", 500: "服务出错"}


def _answer(request: Request, problem: Problem) -> Response:
    """A problem document on the API; a readable page for a person in a browser."""
    if request.url.path.startswith("/v1") or request.url.path == "/openapi.json":
        return problem_response(problem, request.url.path)
    detail = problem.detail or problem.title
    if problem.status == 500:
        detail = "服务遇到内部错误，已记录。请稍后再试，或联系管理员。"
    response = web.page(request, "error.html.j2", status=problem.status, status_code=problem.status,
                        heading=_PAGE_TITLES.get(problem.status, problem.title), detail=detail)
    for name, value in (problem.headers or {}).items():
        response.headers[name] = value
    return response


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json", headers=headers)


# --------------------------------------------------------------------------- the application

def create_app(store: Store, data: Path | None = None) -> FastAPI:
    """The application over ``store``; batch uploads and outputs are kept under ``data``."""
    batches = Batches(store, Path(data or DEFAULT_DATA).resolve())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batches.start()
        yield
        batches.stop()

    app = FastAPI(title="Community service centre audits", version=__version__,
                  description="Audit community convenience service centres (社区便民服务中心) against their "
                              "service specification, and keep every audit.",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.store = store
    app.state.batches = batches
    app.router.redirect_slashes = False     # a redirect built from the Host header is not ours to send

    app.add_middleware(SecurityHeaders)

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
        titles = {404: "Not found", 405: "Method not allowed"}
        return _answer(request, Problem(exc.status_code, titles.get(exc.status_code, str(exc.detail)),
                                        headers=getattr(exc, "headers", None)))   # 405 keeps Allow

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"path": "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.get("loc", ())[1:]),
                     "message": str(e.get("msg", ""))} for e in exc.errors()]
        return problem_response(Problem(422, "The request is not valid", problems=problems), request.url.path)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return _answer(request, Problem(500, "Internal error", "this is a bug in compliance; it has been logged"))

    _routes(app, store)
    _batch_routes(app, store, batches)
    web.install(app, store, batches)
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
        raise Problem(401, "Authentication required", "send Authorization: Bearer TOKEN", headers=challenge)
    digest = auth.token_hash(token.strip())
    now = time.monotonic()
    known = _ACCOUNTS.get(digest)
    if known is not None and known[1] > now:
        return known[0]
    store: Store = request.app.state.store
    account = store.account_by_token(digest)
    if account is None:
        raise Problem(401, "The token is not valid", headers=challenge)
    if len(_ACCOUNTS) > 10_000:
        _ACCOUNTS.clear()
    _ACCOUNTS[digest] = (account, now + ACCOUNT_SECONDS)
    return account


_ACCOUNTS: dict[str, tuple[Account, float]] = {}


@lru_cache(maxsize=1)
def _bundled() -> tuple[str, ...]:
    return bundled_names()


def _ruleset(name: str) -> RuleSet:
    if name not in _bundled():
        raise Problem(422, "Unknown rule set", f"rules must be one of: {', '.join(_bundled())}",
                      problems=[{"path": "rules", "message": f"{name!r} is not a rule set of this service"}])
    return _load_bundled(name)


@lru_cache(maxsize=None)
def _load_bundled(name: str) -> RuleSet:
    return load_ruleset(name)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "The request body is too large", f"the limit is {limit:,} bytes")
    chunks, size = [], 0
    receive = _within(request.receive, PROFILE_SECONDS)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Problem(400, "The client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Problem(413, "The request body is too large", f"the limit is {limit:,} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


# A profile's body must arrive within 30 s and an upload's within 300 s (50 MiB at 170 KB/s), so a slow
# client cannot hold the service; COMPLIANCE_BODY_SECONDS sets both (for a slow link, or a test).
PROFILE_SECONDS = float(os.environ.get("COMPLIANCE_BODY_SECONDS", 30))
UPLOAD_SECONDS = float(os.environ.get("COMPLIANCE_BODY_SECONDS", 300))


def _within(receive: Any, seconds: float) -> Any:
    """``receive`` with a deadline for the whole body: 408 when it passes."""
    deadline = time.monotonic() + seconds

    async def receive_in_time() -> Any:
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise asyncio.TimeoutError
            return await asyncio.wait_for(receive(), left)
        except asyncio.TimeoutError:
            raise Problem(408, "The request body came too slowly",
                          f"a body must arrive within {seconds:.0f} seconds") from None

    return receive_in_time


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _profile_from(raw: bytes, media_type: str, rules: RuleSet, where: str) -> Any:
    """A validated Profile from a request body, or a 415/422 problem."""
    if media_type in JSON_TYPES or media_type.endswith("+json"):
        name = f"{where}.json"
    elif media_type in YAML_TYPES:
        name = f"{where}.yaml"
    else:
        raise Problem(415, "Unsupported media type", "send the profile as application/json or application/yaml")
    try:
        document = parse(raw, name, ProfileError)
        if not isinstance(document, dict):
            raise ProfileError("the document is not a mapping; a profile is a mapping with center, population "
                               "and space", file=name)
        profile = load_profile(document, vocabulary=rules.vocabulary)
    except ProfileError as exc:
        raise _profile_problem(exc) from None
    object.__setattr__(profile, "raw_sha256", hashlib.sha256(raw).hexdigest())
    object.__setattr__(profile, "source", where)
    return profile


def _profile_problem(exc: ProfileError) -> Problem:
    problems = [{"path": p.json_path, "message": p.message} for p in exc.problems] or \
        [{"path": "$", "message": exc.message}]
    return Problem(422, "The profile is not valid", exc.message, problems=problems)


def _audit_document(row: AuditRow, result: bytes) -> bytes:
    """The stored result document with the audit's id and when it was stored, as bytes."""
    extra = orjson.dumps({"id": row.id, "submitted_at": row.submitted_at.isoformat()})
    return extra[:-1] + b"," + result[1:]


def _readable(request: Request, account: Account, audit_id: str) -> tuple[AuditRow, bytes, bytes, str]:
    store: Store = request.app.state.store
    found = store.audit(audit_id)
    if found is None or not auth.may_read(account, found[0].centre_id):
        raise Problem(404, "No such audit")            # another centre's audit: its existence is not revealed
    return found


def _rerun(row: AuditRow, profile: bytes, media_type: str) -> Any:
    """The stored audit as an AuditResult again, for its reports: only under the very rule set it was made with."""
    rules = _load_bundled(row.ruleset_id) if row.ruleset_id in _bundled() else None
    if rules is None or rules.content_hash != row.ruleset_hash:
        raise Problem(409, "The rule set has changed since this audit",
                      "its JSON document is kept as it was; its report can no longer be drawn from the same rules")
    result = evaluate(_profile_from(profile, media_type, rules, "profile"), rules)
    return result


RULES_QUERY: Any = Query("national", description="The rule set to audit with",
                         json_schema_extra={"enum": list(bundled_names())})


def _routes(app: FastAPI, store: Store) -> None:
    profile_body = {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Profile"}},
        "application/yaml": {"schema": {"$ref": "#/components/schemas/Profile"}}}}
    errors = _error_responses

    @app.post("/v1/audits", status_code=201, tags=["audits"], summary="Audit one centre and keep the audit",
              openapi_extra={"requestBody": profile_body},
              responses={201: {"description": "The result document, its id and when it was stored",
                               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StoredAudit"}}}},
                         **errors(400, 401, 403, 408, 413, 415, 422)})
    async def post_audit(request: Request, rules: str = RULES_QUERY,
                         lang: str = Query("zh", pattern="^(zh|en)$"),
                         account: Account = Depends(current_account)) -> Response:
        ruleset = _ruleset(rules)
        raw = await _body(request, PROFILE_LIMIT)
        media_type = _media_type(request)
        profile = _profile_from(raw, media_type, ruleset, "request")
        if not auth.may_submit(account, profile.id):
            raise Problem(403, "This account submits only its own centre",
                          f"this account is for centre {account.centre_id}")
        result = evaluate(profile, ruleset)
        document = result.to_json(lang)
        row = store.add_audit(result, document, profile=raw, profile_type=media_type, submitted_by=account.name)
        return Response(_audit_document(row, document), status_code=201, media_type="application/json",
                        headers={"Location": f"/v1/audits/{row.id}"})

    @app.get("/v1/audits/{audit_id}", tags=["audits"], summary="One stored audit",
             responses={200: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/StoredAudit"}}}},
                        **errors(401, 404)})
    def get_audit(request: Request, audit_id: str, account: Account = Depends(current_account)) -> Response:
        row, result, _, _ = _readable(request, account, audit_id)
        return Response(_audit_document(row, result), media_type="application/json")

    @app.get("/v1/audits/{audit_id}/report.pdf", tags=["audits"], summary="An audit's report as PDF",
             responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                        **errors(401, 404, 409)}, response_class=Response)
    def report_pdf(request: Request, audit_id: str, lang: str = Query("zh", pattern="^(zh|en)$"),
                   account: Account = Depends(current_account)) -> Response:
        row, _, profile, media_type = _readable(request, account, audit_id)
        return Response(_report(row, profile, media_type, "pdf", lang), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{row.id}.pdf"'})

    @app.get("/v1/audits/{audit_id}/report.html", tags=["audits"], summary="An audit's report as HTML",
             responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}, **errors(401, 404, 409)},
             response_class=Response)
    def report_html(request: Request, audit_id: str, lang: str = Query("zh", pattern="^(zh|en)$"),
                    account: Account = Depends(current_account)) -> Response:
        row, _, profile, media_type = _readable(request, account, audit_id)
        return Response(_report(row, profile, media_type, "html", lang), media_type="text/html; charset=utf-8")

    @app.get("/v1/centres/{centre_id}/audits", tags=["audits"], summary="A centre's audits, newest first",
             responses={200: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/History"}}}},
                        **errors(401, 404)})
    def centre_history(centre_id: str, account: Account = Depends(current_account)) -> Response:
        if not auth.may_read(account, centre_id):
            raise Problem(404, "No such centre")
        rows = store.history(centre_id)         # none yet is an empty history, not an error
        return _json({"centre_id": centre_id, "audits": [_history_item(r) for r in rows]})

    @app.post("/v1/compare", tags=["audits"], summary="The renovation check: a centre before and after a plan",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "required": ["before", "after"], "properties": {
                      "before": {"$ref": "#/components/schemas/Profile"},
                      "after": {"$ref": "#/components/schemas/Profile"}}}}}}},
              responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}},
                         **errors(400, 401, 403, 408, 413, 415, 422)})
    async def post_compare(request: Request, rules: str = RULES_QUERY, lang: str = Query("zh", pattern="^(zh|en)$"),
                           account: Account = Depends(current_account)) -> Response:
        from ..compare import compare

        ruleset = _ruleset(rules)
        raw = await _body(request, 2 * PROFILE_LIMIT)
        if _media_type(request) not in JSON_TYPES:
            raise Problem(415, "Unsupported media type", 'send {"before": …, "after": …} as application/json')
        try:
            body = parse(raw, "request.json", ProfileError)
        except ProfileError as exc:
            raise _profile_problem(exc) from None
        if not isinstance(body, dict) or not {"before", "after"} <= body.keys():
            raise Problem(422, "The request is not valid", 'send {"before": profile, "after": profile}',
                          problems=[{"path": "$", "message": "needs the members before and after"}])
        sides = []
        for side in ("before", "after"):
            try:
                if not isinstance(body[side], dict):
                    raise ProfileError("is not a profile (a mapping)", file=side)
                sides.append(load_profile(body[side], vocabulary=ruleset.vocabulary))
            except ProfileError as exc:
                problem = _profile_problem(exc)
                for p in problem.problems or ():
                    p["path"] = "$." + side + p["path"][1:]
                raise problem from None
        for profile in sides:
            if not auth.may_read(account, profile.id):
                raise Problem(403, "This account checks only its own centre")
        return _json(compare(sides[0], sides[1], ruleset).to_dict(lang))

    @app.get("/v1/rulesets", tags=["rules"], summary="The rule sets this service audits with",
             responses={200: {"content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}},
                        **errors(401)})
    def rulesets(account: Account = Depends(current_account)) -> Response:
        return _json([_ruleset_summary(_load_bundled(name)) for name in _bundled()])

    @app.get("/v1/rulesets/{name}", tags=["rules"], summary="One rule set and its clauses",
             responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}, **errors(401, 404)})
    def ruleset(name: str, account: Account = Depends(current_account)) -> Response:
        if name not in _bundled():
            raise Problem(404, "No such rule set")
        rs = _load_bundled(name)
        return _json({**_ruleset_summary(rs), "clauses": [_clause(c) for c in rs.clauses]})

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
    async def post_batch(request: Request, rules: str = RULES_QUERY,
                         account: Account = Depends(current_account)) -> Response:
        if not auth.may_run_batches(account):
            raise Problem(403, "Batches are run by bureau accounts")
        _ruleset(rules)
        upload, filename, _ = await _upload(request, batches.folder)
        batch = batches.submit(upload, filename, rules, account.name)
        return _json(batches.view(batch), 202, headers={"Location": f"/v1/batches/{batch.id}"})

    def readable(batch_id: str, account: Account) -> Any:
        batch = store.batch(batch_id)
        if batch is None or not auth.may_run_batches(account):
            raise Problem(404, "No such batch")
        return batch

    @app.get("/v1/batches/{batch_id}", tags=["batches"], summary="A batch's status, progress and outputs",
             responses={200: {"content": {"application/json": {"schema": batch_schema}}}, **errors(401, 404)})
    def get_batch(batch_id: str, account: Account = Depends(current_account)) -> Response:
        return _json(batches.view(readable(batch_id, account)))

    @app.get("/v1/batches/{batch_id}/files/{name}", tags=["batches"], summary="One output of a finished batch",
             responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                        **errors(401, 404)}, response_class=Response)
    def get_batch_file(batch_id: str, name: str, account: Account = Depends(current_account)) -> Response:
        return batch_file_response(batches, readable(batch_id, account), name)


def batch_file_response(batches: Batches, batch: Any, name: str) -> Response:
    """One output of a batch as a download, or 404 (the API's route and the dashboard's link both answer so)."""
    from fastapi.responses import FileResponse

    path = batches.file(batch, name) if batch is not None else None
    if path is None:
        raise Problem(404, "No such file", "a finished batch has results.jsonl, summary.csv, summary.xlsx, "
                                           "district-report.pdf and .html, and errors.csv when input was refused")
    return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"), filename=name)


async def _upload(request: Request, folder: Path) -> tuple[Path, str, dict[str, str]]:
    """The multipart upload's ``file`` saved to a temporary file under ``folder``: (its path, a safe name,
    the form's other fields)."""
    import shutil
    import tempfile

    from starlette.datastructures import UploadFile

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > UPLOAD_LIMIT:
        raise Problem(413, "The upload is too large", f"the limit is {UPLOAD_LIMIT:,} bytes")
    if not _media_type(request).startswith("multipart/form-data"):
        raise Problem(415, "Unsupported media type", "send the file as multipart/form-data in a field named file")
    receive, seen = _within(request.receive, UPLOAD_SECONDS), [0]

    async def capped() -> Any:             # the cap holds for a body sent without a length, too
        message = await receive()
        seen[0] += len(message.get("body", b""))
        if seen[0] > UPLOAD_LIMIT:
            raise Problem(413, "The upload is too large", f"the limit is {UPLOAD_LIMIT:,} bytes")
        return message

    try:
        form = await Request(request.scope, capped).form(max_files=1, max_fields=10)
    except Problem:
        raise
    except Exception:  # noqa: BLE001 - a malformed multipart body is the client's
        raise Problem(422, "The upload is not valid multipart/form-data") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise Problem(422, "The request is not valid", "send the centres in a form field named file",
                      problems=[{"path": "file", "message": "is missing"}])
    filename = _safe_filename(upload.filename or "")
    if filename is None:
        raise Problem(415, "Unsupported file type", "upload an .xlsx workbook (the template's layout), a .csv or a .jsonl file")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".upload-", delete=False) as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    await form.close()
    if filename.endswith(".xlsx"):
        await asyncio.to_thread(_check_workbook, Path(out.name), filename)
    return Path(out.name), filename, fields


def _check_workbook(path: Path, filename: str) -> None:
    """Refuse (422) a workbook upload the round would refuse whole: a decompression bomb, or no zip archive at all.

    Told now rather than as a failed batch later: the upload is within its size limit (so not 413) but its
    content cannot be read, and the client is still there to hear why. The check inflates without keeping
    anything (0.15 s for a 25,000-centre workbook); the round checks again before it reads."""
    from ..batch.archive import check_workbook
    from ..batch.sources import SourceError

    try:
        check_workbook(path.read_bytes(), filename, SourceError)
    except SourceError as exc:
        path.unlink(missing_ok=True)
        raise Problem(422, "The workbook is refused", f"{filename}: {exc.message}",
                      problems=[{"path": "file", "message": exc.message}]) from None


def _safe_filename(name: str) -> str | None:
    """The upload's own file name where it is safe (it appears in every location of errors.csv), else a plain one."""
    import re

    base = re.split(r"[\\/]", name)[-1].strip()
    suffix = Path(base).suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        return None
    stem = re.sub(r"[^\w.-]", "_", Path(base).stem).strip("._")[:80]
    return (stem or "centres") + suffix


@lru_cache(maxsize=64)
def _report(row: AuditRow, profile: bytes, media_type: str, kind: str, lang: str) -> bytes:
    """A stored audit's report, drawn once (a stored audit never changes) and kept for its next reader."""
    from ..render import render

    out = render(_rerun(row, profile, media_type), kind, lang=lang)
    return out if isinstance(out, bytes) else (out or "").encode("utf-8")


def _history_item(row: AuditRow) -> dict[str, Any]:
    return {"id": row.id, "submitted_at": row.submitted_at.isoformat(), "submitted_by": row.submitted_by,
            "score": row.score, "grade": row.grade, "verdict": row.verdict,
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
        "files": {"type": "object", "additionalProperties": {"type": "string"},
                  "description": "output name → where to download it (once the batch is done)"},
    },
}
_ERROR_TITLES = {400: "The client went away", 408: "The body came too slowly", 401: "No valid bearer token", 403: "Not this account's centre", 404: "Not found, or not this account's",
                 409: "The rule set changed since", 413: "The body is too large", 415: "Not JSON or YAML",
                 422: "Not a valid profile, or an unknown rule set"}


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
        "properties": {"id": {"type": "string"}, "submitted_at": {"type": "string", "format": "date-time"}}}]}
    schemas["History"] = {"type": "object", "required": ["centre_id", "audits"], "properties": {
        "centre_id": {"type": "string"}, "audits": {"type": "array", "items": {"type": "object", "required": [
            "id", "score", "grade", "verdict", "submitted_at"]}}}}
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["Batch"] = BATCH_SCHEMA
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

