"""Waivers (豁免) granted in the service: ``POST /v1/waivers``, ``GET /v1/waivers``, ``POST /v1/waivers/{id}/revoke``.

A waiver is one record of a waiver file, checked by the same code (:func:`compliance.load_waivers`) against the
rule set it is granted under, and kept as granted: the tables refuse UPDATE and DELETE (database triggers), and
revoking one is a new fact of its own (who, when, why), once. An audit stored while a waiver is in force for its
centre (granted and not revoked) is evaluated with it, as ``--waivers`` does on the command line: the library
applies it when the assessment date falls within its days.
"""
from __future__ import annotations

import datetime
import secrets
from pathlib import Path
from typing import Any

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response
from sqlalchemy import Column, Date, DateTime, Index, Integer, String, Table, Text, select
from sqlalchemy.exc import IntegrityError

from ..errors import ProfileError, WaiverError, problems_message
from ..i18n import msg, quote
from ..model import RuleSet, today_in_china
from ..reading import parse
from ..waivers import Waiver, Waivers, load_waivers
from . import auth
from .common import JSON_TYPES, PROFILE_LIMIT, YAML_TYPES, Problem, media_type_of, read_body, rules_asked
from .store import Account, Store, metadata

waivers = Table(
    "waivers", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("centre_id", String(200), nullable=False),
    Column("clause", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("approved_by", Text, nullable=False),
    Column("approved_on", Date, nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("ruleset_id", String(200), nullable=False),       # the rule set its clause was checked against
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_waivers_centre", "centre_id", "seq"),
)

waiver_revocations = Table(
    "waiver_revocations", metadata,
    Column("waiver_id", String(32), primary_key=True),      # one revocation per waiver
    Column("revoked_by", String(100), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
    Column("note", Text),
)

LIST_LIMIT = 1000

_COLUMNS = [waivers.c[k] for k in ("id", "centre_id", "clause", "reason", "approved_by", "approved_on", "expires_on",
                                   "ruleset_id", "created_by", "created_at")] + [
    waiver_revocations.c.revoked_by, waiver_revocations.c.revoked_at, waiver_revocations.c.note]
_JOINED = waivers.outerjoin(waiver_revocations, waiver_revocations.c.waiver_id == waivers.c.id)


# --------------------------------------------------------------------------- the store's part

def _utc(value: Any) -> Any:
    return value.replace(tzinfo=datetime.timezone.utc) if isinstance(value, datetime.datetime) and \
        value.tzinfo is None else value


def view(row: Any, today: datetime.date | None = None) -> dict[str, Any]:
    """A stored waiver as the API answers it."""
    day = today or today_in_china()
    revoked = None if row.revoked_at is None else {
        "by": row.revoked_by, "at": _utc(row.revoked_at).isoformat(), "note": row.note}
    return {"id": row.id, "centre": row.centre_id, "clause": row.clause, "reason": row.reason,
            "approved_by": row.approved_by, "approved_on": row.approved_on.isoformat(),
            "expires_on": row.expires_on.isoformat(), "rules": row.ruleset_id, "granted_by": row.created_by,
            "granted_at": _utc(row.created_at).isoformat(), "revoked": revoked,
            "in_force": revoked is None and row.approved_on <= day <= row.expires_on}


def listed(store: Store, centre_id: str | None, limit: int = LIST_LIMIT) -> list[Any]:
    """The waivers granted (for one centre, or all), newest first, each with its revocation if any."""
    query = select(*_COLUMNS).select_from(_JOINED)
    if centre_id is not None:
        query = query.where(waivers.c.centre_id == centre_id)
    with store.engine.connect() as db:
        return list(db.execute(query.order_by(waivers.c.seq.desc()).limit(limit)))


def one(store: Store, waiver_id: str) -> Any:
    with store.engine.connect() as db:
        return db.execute(select(*_COLUMNS).select_from(_JOINED).where(waivers.c.id == waiver_id)).first()


def grant(store: Store, w: Waiver, rules: str, by: str) -> tuple[Any, bool]:
    """Keep a checked waiver: (the stored row, True), or the same waiver already granted and not revoked (its row,
    False): a request sent twice grants it once."""
    with store.engine.begin() as db:
        same = db.execute(select(waivers.c.id).select_from(_JOINED).where(
            waivers.c.centre_id == w.centre, waivers.c.clause == w.clause, waivers.c.reason == w.reason,
            waivers.c.approved_by == w.approved_by, waivers.c.approved_on == w.approved_on,
            waivers.c.expires_on == w.expires_on, waiver_revocations.c.waiver_id.is_(None))).first()
        if same is not None:
            new_id, created = str(same.id), False
        else:
            new_id, created = secrets.token_hex(16), True
            db.execute(waivers.insert(), {
                "id": new_id, "centre_id": w.centre, "clause": w.clause, "reason": w.reason,
                "approved_by": w.approved_by, "approved_on": w.approved_on, "expires_on": w.expires_on,
                "ruleset_id": rules, "created_by": by, "created_at": datetime.datetime.now(datetime.timezone.utc)})
    return one(store, new_id), created


def revoke(store: Store, waiver_id: str, by: str, note: str | None) -> bool:
    """Revoke a waiver; False when it was revoked already (the first revocation stands)."""
    try:
        with store.engine.begin() as db:
            db.execute(waiver_revocations.insert(), {"waiver_id": waiver_id, "revoked_by": by, "note": note,
                                                     "revoked_at": datetime.datetime.now(datetime.timezone.utc)})
    except IntegrityError:
        return False
    return True


def _in_force(rows: Any, rules: RuleSet) -> Waivers | None:
    known = {c.clause for c in rules.clauses}
    found = tuple(Waiver(r.centre_id, r.clause, r.reason, r.approved_by, r.approved_on, r.expires_on)
                  for r in rows if r.clause in known)
    # Checked when granted, and only clauses of this rule set kept: as load_waivers returns them for it.
    return Waivers(found, None, None, rules.content_hash) if found else None


_FOR_CENTRE = select(waivers.c.centre_id, waivers.c.clause, waivers.c.reason, waivers.c.approved_by,
                     waivers.c.approved_on, waivers.c.expires_on).select_from(_JOINED).where(
    waiver_revocations.c.waiver_id.is_(None)).order_by(waivers.c.seq)


def waivers_for(store: Store, centre_id: str, rules: RuleSet) -> Waivers | None:
    """The waivers in force for one centre (granted, not revoked), as ``--waivers`` would give them to the evaluator
    for this rule set; None when there are none. The evaluator applies one only when it covers the assessment day."""
    with store.engine.connect() as db:
        return _in_force(db.execute(_FOR_CENTRE.where(waivers.c.centre_id == centre_id)), rules)


def waivers_file(store: Store, rules: RuleSet, target: Path) -> bool:
    """Write every waiver in force (for this rule set's clauses) as a waiver file for ``compliance batch --waivers``;
    False (and no file) when there are none."""
    with store.engine.connect() as db:
        found = _in_force(db.execute(_FOR_CENTRE), rules)
    if found is None:
        return False
    target.write_bytes(orjson.dumps({"waivers": [
        {"centre": w.centre, "clause": w.clause, "reason": w.reason, "approved_by": w.approved_by,
         "approved_on": w.approved_on.isoformat(), "expires_on": w.expires_on.isoformat()} for w in found]}))
    return True


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


def install(app: FastAPI, store: Store) -> None:
    from .app import current_account

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
                              time=_utc(before.revoked_at).isoformat(timespec="seconds")))
        return _json(view(one(store, waiver_id)))


_TITLES = {400: "The client went away", 401: "No valid bearer token", 403: "Not a bureau account",
           404: "No such waiver or centre, or not this account's", 408: "The body came too slowly",
           409: "Revoked already", 413: "The body is too large", 415: "Not JSON or YAML",
           422: "Not a valid waiver record"}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"description": _TITLES[code], "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}} for code in codes}
