"""The routes of waivers: ``POST /v1/waivers``, ``GET /v1/waivers``, ``POST /v1/waivers/{id}/revoke``.

A posted waiver is one record of a waiver file, checked by the file's own code (:func:`compliance.load_waivers`)
against a rule set, its problems located at the record's paths.
"""
from __future__ import annotations

from datetime import timezone
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response

from ..errors import ProfileError, WaiverError, problems_message
from ..i18n import msg, quote
from ..model import CHINA, RuleSet, today_in_china
from ..reading import parse
from ..waivers import Waiver, load_waivers
from . import auth
from .batches import Batches
from .common import JSON_TYPES, PROFILE_LIMIT, YAML_TYPES, Problem, media_type_of, read_body, rules_asked
from .store import Account, Store
from .waivers import grant, listed, one, revoke, view, waivers_file


# --------------------------------------------------------------------------- the routes

WAIVER_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "centre", "clause", "reason", "approved_by", "approved_on", "expires_on",
                                   "rules", "granted_by", "granted_at", "revoked", "in_force"],
    "properties": {
        "id": {"type": "string"}, "centre": {"type": "string"}, "clause": {"type": "string"},
        "reason": {"type": "string"}, "approved_by": {"type": "string"},
        "approved_on": {"type": "string", "format": "date"}, "expires_on": {"type": "string", "format": "date"},
        "rules": {"type": "string", "description": "the rule set its clause was checked against"},
        "granted_by": {"type": "string"}, "granted_at": {"type": "string", "format": "date-time"},
        "revoked": {"type": ["object", "null"], "required": ["by", "at"], "properties": {
            "by": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
            "note": {"type": ["string", "null"]}}},
        "in_force": {"type": "boolean", "description": "not revoked, and today (in China) within its days"},
    },
}
RECORD_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["centre", "clause", "reason", "approved_by", "approved_on", "expires_on"],
    "description": "One record of a waiver file (compliance schema waivers)",
    "properties": {"centre": {"type": "string"}, "clause": {"type": "string"}, "reason": {"type": "string"},
                   "approved_by": {"type": "string"}, "approved_on": {"type": "string", "format": "date"},
                   "expires_on": {"type": "string", "format": "date"}}}


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json", headers=headers)


def _body(raw: bytes, media_type: str) -> Any:
    if media_type in JSON_TYPES or media_type.endswith("+json"):
        name = "request.json"
    elif media_type in YAML_TYPES:
        name = "request.yaml"
    else:
        raise Problem(415, msg("Unsupported media type"), msg("send the waiver as {json} or {yaml}",
                                                              json=quote("application/json"),
                                                              yaml=quote("application/yaml")))
    try:
        return parse(raw, name, ProfileError)
    except ProfileError as exc:
        raise Problem(422, msg("The waiver is not valid"), exc.text, problems=[{"path": "$", "message": exc.text}]) \
            from None


def checked(record: Any, rules: RuleSet) -> Waiver:
    """One waiver record checked as a waiver file's entry is (the same code), its problems at the record's paths."""
    try:
        found = load_waivers({"waivers": [record]}, rules=rules)
    except WaiverError as exc:
        problems = []
        for p in exc.problems:
            path = p.json_path.replace("$.waivers[0]", "$", 1)
            problems.append({"path": "$" if path.startswith("$.waivers") else path, "message": p.text})
        raise Problem(422, msg("The waiver is not valid"), problems_message(len(problems), msg("the waiver")),
                      problems=problems) from None
    return found.waivers[0]


def install(app: FastAPI, store: Store, batches: Batches, current_account: Any) -> None:
    """The routes of waivers, with ``current_account`` the API's dependency naming the account of a request; the
    batches run with the waivers in force."""
    batches.waivers_file = waivers_file
    waiver = {"application/json": {"schema": WAIVER_SCHEMA}}
    rules_query: Any = Query(None, description="The rule set whose clauses the waiver's clause is checked against; "
                                               "without it, the service's rule set")

    @app.post("/v1/waivers", status_code=201, tags=["waivers"], summary="Grant a waiver (bureau accounts)",
              description="One record of a waiver file, checked as the file's are. The same waiver granted again "
                          "while the first is not revoked is 200 with the first.",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": RECORD_SCHEMA}, "application/yaml": {"schema": RECORD_SCHEMA}}}},
              responses={201: {"description": "Granted", "content": waiver},
                         200: {"description": "The same waiver, granted before and in force", "content": waiver},
                         **errors(400, 401, 403, 408, 413, 415, 422)})
    async def post_waiver(request: Request, rules: str | None = rules_query,
                          account: Account = Depends(current_account)) -> Response:
        if account.role != "bureau":
            raise Problem(403, msg("Waivers are granted by bureau accounts"))
        ruleset = rules_asked(store, rules)
        raw = await read_body(request, PROFILE_LIMIT)
        w = checked(_body(raw, media_type_of(request)), ruleset)
        row, created = grant(store, w, ruleset.id, account.name)
        return _json(view(row), 201 if created else 200, headers={"Location": f"/v1/waivers?centre={w.centre}"})

    @app.get("/v1/waivers", tags=["waivers"], summary="Waivers granted, newest first",
             description="A community account sees its own centre's only (another centre is 404, as its audits are).",
             responses={200: {"content": {"application/json": {"schema": {
                 "type": "object", "required": ["waivers"], "properties": {
                     "centre": {"type": ["string", "null"]},
                     "waivers": {"type": "array", "items": WAIVER_SCHEMA}}}}}},
                 **errors(401, 404)})
    def get_waivers(centre: str | None = Query(None, description="Only this centre's"),
                    account: Account = Depends(current_account)) -> Response:
        if account.role == "community":
            centre = centre if centre is not None else account.centre_id
        if centre is not None and not auth.may_read(account, centre):
            raise Problem(404, msg("No such centre"))
        today = today_in_china()
        return _json({"centre": centre, "waivers": [view(r, today) for r in listed(store, centre)]})

    @app.post("/v1/waivers/{waiver_id}/revoke", tags=["waivers"], summary="Revoke a waiver (bureau accounts)",
              description="The waiver stays, marked revoked with who and when; audits stored from then on no "
                          "longer apply it. A waiver is revoked once: again is 409.",
              openapi_extra={"requestBody": {"required": False, "content": {"application/json": {"schema": {
                  "type": "object", "properties": {"note": {"type": "string", "maxLength": 500}}}}}}},
              responses={200: {"description": "Revoked", "content": waiver}, **errors(401, 403, 404, 409, 422)})
    async def revoke_waiver(request: Request, waiver_id: str, account: Account = Depends(current_account)) -> Response:
        found = one(store, waiver_id)
        if found is None or not auth.may_read(account, found.centre_id):
            raise Problem(404, msg("No such waiver"))
        if account.role != "bureau":
            raise Problem(403, msg("Waivers are revoked by bureau accounts"))
        raw = await read_body(request, 64 << 10)
        note: str | None = None
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = None
            value = body.get("note") if isinstance(body, dict) else None
            if not isinstance(body, dict) or (value is not None and not isinstance(value, str)) or \
                    len(str(value or "")) > 500:
                raise Problem(422, msg("The request is not valid"), problems=[{"path": "$.note", "message": msg(
                    "send {body} with a note of at most 500 characters, or nothing", body=quote('{"note": "…"}'))}])
            note = value.strip() if isinstance(value, str) and value.strip() else None
        if not revoke(store, waiver_id, account.name, note):
            before = one(store, waiver_id)
            raise Problem(409, msg("The waiver was revoked already"),
                          msg("{name} revoked it at {time}", name=quote(before.revoked_by),
                              time=before.revoked_at.replace(tzinfo=before.revoked_at.tzinfo or timezone.utc)
                              .astimezone(CHINA).strftime("%Y-%m-%d %H:%M")))
        return _json(view(one(store, waiver_id)))


_TITLES = {400: "The client went away", 401: "No valid bearer token", 403: "Not a bureau account",
           404: "No such waiver or centre, or not this account's", 408: "The body came too slowly",
           409: "Revoked already", 413: "The body is too large", 415: "Not JSON or YAML",
           422: "Not a valid waiver record"}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"description": _TITLES[code], "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}} for code in codes}
