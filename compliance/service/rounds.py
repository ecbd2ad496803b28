"""Rounds (考核轮次) opened in the service: ``POST /v1/rounds``, ``GET /v1/rounds``, ``GET /v1/rounds/{id}`` and its
files.

A round is opened once by a bureau account (its id, name, rule set, an optional region it covers and the days the
self-checks and inspections are due). Every audit stored with ``audit.round`` is noted as it is stored (in the same
transaction, :func:`joined`), so the round's progress is read without opening any result.

The round's files (summary.xlsx/csv, district-report.pdf, ledger.xlsx) are made by the command line's own code, run
as the command line: from each centre's latest inspection in the round (its latest self-check where it has none),
their stored profiles are written as a JSON Lines file and ``compliance batch`` runs on it, with the waivers the
stored results applied (read back from the results, so each result comes out as it was stored), then
``compliance ledger`` on its output. They are made in the background, one round at a time, and kept until a new
audit joins the round.
"""
from __future__ import annotations

import datetime
import hashlib
import logging
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import (Column, Date, DateTime, Index, Integer, String, Table, Text, and_, case, func, not_,
                        or_, select)
from sqlalchemy.exc import IntegrityError

from ..errors import ProfileError
from ..i18n import Message, language, msg, quote
from ..model import today_in_china
from ..reading import parse
from ..wording import hinted
from .actions import actions as live_actions
from .batches import MEDIA_TYPES, die_with_parent
from .common import (JSON_TYPES, PROFILE_LIMIT, Problem, bundled, content_disposition, media_type_of, read_body,
                     service_rules)
from .store import Account, Store, audits, metadata

log = logging.getLogger("compliance.service")

rounds = Table(
    "rounds", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("rules", String(200), nullable=False),
    Column("region", Text),                             # JSON {"district": …, "street": …}: the centres it covers
    Column("self_check_due", Date),
    Column("inspection_due", Date),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

round_audits = Table(
    "round_audits", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),     # the order they joined in
    Column("round_id", String(64), nullable=False),
    Column("audit_id", String(32), nullable=False, unique=True),
    Column("centre_id", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("ruleset_id", String(200), nullable=False),
    Column("region", Text, nullable=False),             # JSON [province, city, district, street]
    Index("ix_round_audits_centre", "round_id", "centre_id", "seq"),
)

FILES = ("summary.xlsx", "summary.csv", "district-report.pdf", "ledger.xlsx")
REGION_KEYS = ("province", "city", "district", "street")
KEYS = ("id", "name", "rules", "region", "self_check_due", "inspection_due")
ROUND_ID = re.compile(r"[^\x00-\x1f\x7f/\\?#%]{1,64}")


# --------------------------------------------------------------------------- noting the audits that join a round

def joined(db: Any, items: Iterable[tuple[dict[str, Any], Mapping[str, Any]]]) -> None:
    """Store hook: note each audit just stored that names a round (``audit.round``), in its transaction."""
    rows = []
    for values, document in items:
        block = document.get("audit")
        name = block.get("round") if isinstance(block, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            continue
        region = (document.get("center") or {}).get("region") or {}
        rows.append({"round_id": name.strip()[:64], "audit_id": values["id"], "centre_id": values["centre_id"],
                     "kind": values["kind"], "ruleset_id": values["ruleset_id"],
                     "region": orjson.dumps([str(region.get(k, "") or "") for k in REGION_KEYS]).decode()})
    if rows:
        db.execute(round_audits.insert(), rows)


# --------------------------------------------------------------------------- reading a round

def get_round(store: Store, round_id: str) -> Any:
    with store.engine.connect() as db:
        return db.execute(select(rounds).where(rounds.c.id == round_id)).first()


def _covers(round_row: Any, region_json: str) -> bool:
    wanted = orjson.loads(round_row.region) if round_row.region else {}
    if not wanted:
        return True
    found = dict(zip(REGION_KEYS, orjson.loads(region_json)))
    return all(found.get(k) == v for k, v in wanted.items())


def members(store: Store, round_row: Any, centre: str | None = None) -> list[Any]:
    """The audits that joined the round under its rule set and within its region, in the order they joined (with
    ``centre``, only that centre's)."""
    query = select(round_audits).where(round_audits.c.round_id == round_row.id,
                                       round_audits.c.ruleset_id == round_row.rules)
    if centre is not None:
        query = query.where(round_audits.c.centre_id == centre)
    with store.engine.connect() as db:
        return [r for r in db.execute(query.order_by(round_audits.c.seq)) if _covers(round_row, r.region)]


def latest_per_centre(found: list[Any]) -> dict[str, Any]:
    """Each centre's latest inspection in the round, else its latest self-check."""
    chosen: dict[str, Any] = {}
    for r in found:                                        # in the order they joined: the later one stays
        before = chosen.get(r.centre_id)
        if before is None or r.kind == "inspection" or before.kind != "inspection":
            chosen[r.centre_id] = r
    return chosen


def round_action_counts(store: Store, round_id: str) -> tuple[int, int]:
    """(open, overdue) actions of the round: those of the live ledger (service/actions.py) of the centres that joined
    it, opened in this round or in none. ``overdue``: open past its due day (in China); ``open``: the others not
    yet ended (open and not yet due, or reported fixed and waiting for review, which is never overdue)."""
    a = live_actions
    past = and_(a.c.state == "open", a.c.due < today_in_china().isoformat())
    query = select(func.sum(case((and_(a.c.state.in_(("open", "fixed_pending_review")), not_(past)), 1), else_=0)),
                   func.sum(case((past, 1), else_=0))).where(
        a.c.centre_id.in_(select(round_audits.c.centre_id).where(round_audits.c.round_id == round_id)),
        or_(a.c.round.is_(None), a.c.round == round_id))
    with store.engine.connect() as db:
        counts = db.execute(query).first()
    return (int(counts[0] or 0), int(counts[1] or 0)) if counts is not None else (0, 0)


def progress(store: Store, round_row: Any, account: Account) -> dict[str, Any]:
    """How far the round is: centres with a self-check, with an inspection, open and overdue actions. A community
    account's is its own centre's."""
    own = account.centre_id if account.role == "community" else None
    found = members(store, round_row, own or None) if own or account.role != "community" else []
    centres = {r.centre_id for r in found}
    selfs = {r.centre_id for r in found if r.kind != "inspection"}
    inspected = {r.centre_id for r in found if r.kind == "inspection"}
    open_, overdue = round_action_counts(store, round_row.id) if own is None else (None, None)
    return {"centres": len(centres), "self_checked": len(selfs), "inspected": len(inspected),
            "audits": len(found), "open_actions": open_, "overdue_actions": overdue}


def view(store: Store, round_row: Any, account: Account, files: RoundFiles | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": round_row.id, "name": round_row.name, "rules": round_row.rules,
        "region": orjson.loads(round_row.region) if round_row.region else None,
        "self_check_due": round_row.self_check_due.isoformat() if round_row.self_check_due else None,
        "inspection_due": round_row.inspection_due.isoformat() if round_row.inspection_due else None,
        "opened_by": round_row.created_by, "opened_at": _utc(round_row.created_at).isoformat()}
    if files is not None:
        out["progress"] = progress(store, round_row, account)
        if may_read_files(account):
            out["files"] = {name: f"/v1/rounds/{_path_id(round_row.id)}/files/{name}" for name in FILES}
    return out


def may_read_files(account: Account) -> bool:
    """The round's tables set every centre side by side: the bureau's, and an importing system's."""
    return account.role in ("bureau", "system")


def _path_id(round_id: str) -> str:
    from urllib.parse import quote as percent

    return percent(round_id, safe="")


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=datetime.timezone.utc) if isinstance(value, datetime.datetime) and \
        value.tzinfo is None else value


# --------------------------------------------------------------------------- opening a round

def checked(body: Any, default_rules: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A round as posted, checked: (its values, its problems located by JSON path)."""
    problems: list[dict[str, Any]] = []

    def problem(path: str, message: Message) -> None:
        problems.append({"path": path, "message": message})

    if not isinstance(body, dict):
        problem("$", msg("send {body}", body=quote('{"id": …, "name": …, "rules": …}')))
        return {}, problems
    for key in body:
        if key not in KEYS:
            problem(f"$.{key}", hinted(msg("unknown key {key} (the keys are {keys})", key=quote(str(key), 60),
                                           keys=[quote(k) for k in KEYS]), str(key), KEYS))
    values: dict[str, Any] = {}
    for key, limit in (("id", 64), ("name", 200)):
        value = body.get(key)
        if value is None:
            problem("$", msg("required key {field} is missing", field=quote(key)))
        elif not isinstance(value, str) or not value.strip():
            problem(f"$.{key}", msg("{key} is blank; write it", key=quote(key)))
        elif len(value.strip()) > limit:
            problem(f"$.{key}", msg("{value} is {length:,} characters long; it must be at most {expected}",
                                    value=quote(value.strip(), 40), length=len(value.strip()), expected=limit))
        elif key == "id" and not ROUND_ID.fullmatch(value.strip()):
            problem("$.id", msg("a round's id has no slash, question mark, hash, percent sign or control "
                                "character: it is part of the round's address"))
        else:
            values[key] = value.strip()
    rules = body.get("rules", default_rules)
    if not isinstance(rules, str) or rules not in bundled():
        problem("$.rules", msg("{name} is not a rule set of this service", name=quote(str(rules), 60)))
    else:
        values["rules"] = rules
    region = body.get("region")
    if region is not None:
        if not isinstance(region, dict) or not region:
            problem("$.region", msg("the region is a mapping of {keys}", keys=[quote(k) for k in REGION_KEYS]))
        else:
            for key, value in region.items():
                if key not in REGION_KEYS:
                    problem(f"$.region.{key}", hinted(msg("unknown key {key} (the keys are {keys})",
                                                          key=quote(str(key), 60),
                                                          keys=[quote(k) for k in REGION_KEYS]), str(key), REGION_KEYS))
                elif not isinstance(value, str) or not value.strip() or len(value) > 200:
                    problem(f"$.region.{key}", msg("{key} is blank; write it", key=quote(key)))
            values["region"] = {k: str(v).strip() for k, v in region.items() if k in REGION_KEYS}
    for key in ("self_check_due", "inspection_due"):
        value = body.get(key)
        if value is None:
            values[key] = None
            continue
        day = None
        if isinstance(value, str) and len(value) == 10:
            try:
                day = datetime.date.fromisoformat(value)
            except ValueError:
                day = None
        if day is None:
            problem(f"$.{key}", msg("{value} is not a date in the calendar (write it as 2026-11-01)",
                                    value=quote(str(value), 40)))
        values[key] = day
    first, last = values.get("self_check_due"), values.get("inspection_due")
    if isinstance(first, datetime.date) and isinstance(last, datetime.date) and last < first:
        problem("$.inspection_due", msg("the inspections are due on {inspection}, before the self-checks on "
                                        "{self_check}", inspection=last.isoformat(), self_check=first.isoformat()))
    return values, problems


# --------------------------------------------------------------------------- the round's files

class RoundFiles:
    """The round's files, made in the background by the command line's code, one round at a time, and kept under
    the service's data folder until a new audit joins the round."""

    def __init__(self, store: Store, folder: Path) -> None:
        self.store, self.folder = store, folder / "rounds"
        self.waiting: queue.Queue[tuple[str, int, str]] = queue.Queue()
        self.asked: set[tuple[str, int, str]] = set()
        self.current: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="round-files", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        process = self.current
        if process is not None and process.poll() is None:
            process.terminate()

    def home(self, round_id: str, stamp: int, lang: str) -> Path:
        return self.folder / hashlib.sha256(round_id.encode()).hexdigest()[:24] / f"{stamp}-{lang}"

    @staticmethod
    def stamp(found: list[Any]) -> int:
        """What the files were made from: the last audit that joined."""
        return max((r.seq for r in found), default=0)

    def state(self, round_row: Any, lang: str) -> tuple[str, Path, dict[str, Any]]:
        """("done", folder, …) when the files of the round as it is now are made; ("making", …, progress) while they
        are being made (asking for them when nobody has); ("failed", …) when making them failed."""
        found = members(self.store, round_row)
        stamp = self.stamp(found)
        home = self.home(round_row.id, stamp, lang)
        if (home / "done.json").is_file():
            return "done", home, {}
        if (home / "failed.json").is_file():
            return "failed", home, {}
        job = (round_row.id, stamp, lang)
        with self._lock:
            if job not in self.asked:
                self.asked.add(job)
                self.waiting.put(job)
        total = len(latest_per_centre(found))
        done = 0
        try:
            work = next(home.parent.glob(f"{stamp}-{lang}.work-*"))
            state = orjson.loads((work / "out" / ".round" / "state.json").read_bytes())
            done = min(int(state.get("done", 0)), total)
        except (StopIteration, OSError, orjson.JSONDecodeError, ValueError, TypeError):
            pass
        return "making", home, {"done": done, "total": total}

    def _work(self) -> None:
        while True:
            job = self.waiting.get()
            try:
                self._make(*job)
            except Exception as exc:  # noqa: BLE001 - one round's failure never stops the others
                log.error("round files %s stopped: %s", job[0], type(exc).__name__)
            finally:
                with self._lock:
                    self.asked.discard(job)

    def _make(self, round_id: str, stamp: int, lang: str) -> None:
        round_row = get_round(self.store, round_id)
        home = self.home(round_id, stamp, lang)
        if round_row is None or home.is_dir():
            return
        found = members(self.store, round_row)
        if self.stamp(found) != stamp:
            return                                   # another audit joined meanwhile: asked for again when read
        home.parent.mkdir(parents=True, exist_ok=True)
        work = home.parent / f"{stamp}-{lang}.work-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        (work / "out").mkdir(parents=True)
        chosen = latest_per_centre(found)
        granted = self._input(work, chosen.values())
        batch = [sys.executable, "-m", "compliance", "batch", "centres.jsonl", "--rules", round_row.rules,
                 "-o", str(work / "out"), "--lang", lang, "--jobs", "1"]
        if granted:
            batch += ["--waivers", "waivers.json"]
        ledger = [sys.executable, "-m", "compliance", "ledger", str(work / "out"), "-o", str(work / "ledger.xlsx"),
                  "--lang", lang]
        with open(work / "log.txt", "ab") as out:
            for command, fine in ((batch, (0, 1, 2)), (ledger, (0,))):
                self.current = subprocess.Popen(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL, cwd=work,
                                                preexec_fn=die_with_parent)
                code = self.current.wait()
                self.current = None
                if code not in fine or (command is batch and not (work / "out" / "summary.csv").is_file()):
                    log.error("round files %s: %s ended with %s", round_id, command[3], code)
                    (work / "failed.json").write_bytes(orjson.dumps({"step": command[3], "exit_code": code}))
                    break
            else:
                (work / "done.json").write_bytes(orjson.dumps({"centres": len(chosen), "stamp": stamp}))
        try:
            os.replace(work, home)                   # whole, or not at all
        except OSError:
            shutil.rmtree(work, ignore_errors=True)  # another process made them first

    def _input(self, work: Path, chosen: Iterable[Any]) -> bool:
        """The chosen audits' stored profiles as centres.jsonl, and the waivers their results applied (or found
        expired) as waivers.json; True when there are waivers."""
        granted: dict[tuple[str, str, str, str, str, str], None] = {}
        with open(work / "centres.jsonl", "wb") as lines, self.store.engine.connect() as db:
            for r in chosen:
                stored = db.execute(select(audits.c.profile, audits.c.profile_type, audits.c.result)
                                    .where(audits.c.id == r.audit_id)).first()
                if stored is None:
                    continue
                name = "profile.yaml" if "yaml" in stored.profile_type else "profile.json"
                try:
                    document = parse(bytes(stored.profile), name, ProfileError)
                except ProfileError:
                    continue
                lines.write(orjson.dumps(document) + b"\n")
                result = orjson.loads(bytes(stored.result))
                for finding in result.get("findings") or ():
                    for key in ("waiver", "waiver_expired"):
                        w = finding.get(key)
                        if isinstance(w, dict):
                            granted[(r.centre_id, str(finding.get("clause")), w["reason"], w["approved_by"],
                                     w["approved_on"], w["expires_on"])] = None
        if granted:
            (work / "waivers.json").write_bytes(orjson.dumps({"waivers": [
                dict(zip(("centre", "clause", "reason", "approved_by", "approved_on", "expires_on"), g))
                for g in granted]}))
        return bool(granted)

    def file(self, home: Path, name: str) -> Path | None:
        path = home / "ledger.xlsx" if name == "ledger.xlsx" else home / "out" / name
        return path if path.is_file() else None


# --------------------------------------------------------------------------- the routes

ROUND_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "name", "rules", "region", "self_check_due", "inspection_due", "opened_by",
                                   "opened_at"],
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "rules": {"type": "string"},
        "region": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
        "self_check_due": {"type": ["string", "null"], "format": "date"},
        "inspection_due": {"type": ["string", "null"], "format": "date"},
        "opened_by": {"type": "string"}, "opened_at": {"type": "string", "format": "date-time"},
        "progress": {"type": "object", "description": "for a community account, its own centre's", "properties": {
            "centres": {"type": "integer"}, "self_checked": {"type": "integer"}, "inspected": {"type": "integer"},
            "audits": {"type": "integer"}, "open_actions": {"type": ["integer", "null"]},
            "overdue_actions": {"type": ["integer", "null"]}}},
        "files": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
MAKING_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["round", "file", "status", "progress"],
    "properties": {"round": {"type": "string"}, "file": {"type": "string"}, "status": {"enum": ["making"]},
                   "progress": {"type": "object", "properties": {"done": {"type": "integer"},
                                                                 "total": {"type": "integer"}}}}}
RECORD_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "name"],
    "properties": {"id": {"type": "string", "maxLength": 64}, "name": {"type": "string"},
                   "rules": {"type": "string", "description": "the rule set (without it, the service's)"},
                   "region": {"type": "object", "description": "the centres it covers: any of province, city, "
                              "district, street", "additionalProperties": {"type": "string"}},
                   "self_check_due": {"type": "string", "format": "date"},
                   "inspection_due": {"type": "string", "format": "date"}}}
_TITLES = {400: "The client went away", 401: "No valid bearer token", 403: "Not a bureau account",
           404: "No such round", 408: "The body came too slowly", 409: "A round with this id exists, or the round "
           "has no audit yet, or its files could not be made", 413: "The body is too large", 415: "Not JSON",
           422: "Not a valid round"}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"description": _TITLES[code], "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}} for code in codes}


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json", headers=headers)


def install(app: FastAPI, store: Store, data: Path, current_account: Any) -> RoundFiles:
    """The routes of rounds, with ``current_account`` the API's dependency naming the account of a request."""
    store.on_audits.append(joined)
    files = RoundFiles(store, data)
    one = {"application/json": {"schema": ROUND_SCHEMA}}

    @app.post("/v1/rounds", status_code=201, tags=["rounds"], summary="Open a round (bureau accounts)",
              description="Audits whose profile names the round (audit.round) join it.",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": RECORD_SCHEMA}}}},
              responses={201: {"description": "Opened", "content": one}, **errors(400, 401, 403, 408, 409, 413, 415,
                                                                                   422)})
    async def post_round(request: Request, account: Account = Depends(current_account)) -> Response:
        if account.role != "bureau":
            raise Problem(403, msg("Rounds are opened by bureau accounts"))
        raw = await read_body(request, PROFILE_LIMIT)
        if media_type_of(request) not in JSON_TYPES:
            raise Problem(415, msg("Unsupported media type"), msg("send the round as {type}",
                                                                  type=quote("application/json")))
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Problem(422, msg("The round is not valid"), msg("the body is not {format}", format=quote("JSON")),
                          problems=[{"path": "$", "message": msg("the body is not {format}",
                                                                 format=quote("JSON"))}]) from None
        values, problems = checked(body, service_rules(store))
        if problems:
            raise Problem(422, msg("The round is not valid"), problems=problems)
        try:
            with store.engine.begin() as db:
                db.execute(rounds.insert(), {
                    **values, "region": orjson.dumps(values["region"]).decode() if values.get("region") else None,
                    "created_by": account.name, "created_at": datetime.datetime.now(datetime.timezone.utc)})
        except IntegrityError:
            raise Problem(409, msg("A round with this id exists"), msg("the round {id} was opened already",
                                                                      id=quote(values["id"]))) from None
        row = get_round(store, values["id"])
        return _json(view(store, row, account, files), 201,
                     headers={"Location": f"/v1/rounds/{_path_id(row.id)}"})

    @app.get("/v1/rounds", tags=["rounds"], summary="The rounds opened, newest first",
             responses={200: {"content": {"application/json": {"schema": {
                 "type": "object", "required": ["rounds"], "properties": {
                     "rounds": {"type": "array", "items": ROUND_SCHEMA}}}}}}, **errors(401)})
    def list_rounds(account: Account = Depends(current_account)) -> Response:
        with store.engine.connect() as db:
            rows = list(db.execute(select(rounds).order_by(rounds.c.seq.desc()).limit(1000)))
        return _json({"rounds": [view(store, r, account) for r in rows]})

    def readable(round_id: str) -> Any:
        found = get_round(store, round_id)
        if found is None:
            raise Problem(404, msg("No such round"))
        return found

    @app.get("/v1/rounds/{round_id}", tags=["rounds"], summary="A round and its progress",
             description="Centres with a self-check, with an inspection, and the open and overdue actions of the "
                         "centres in it; a community account sees its own centre's.",
             responses={200: {"content": one}, **errors(401, 404)})
    def get_one(round_id: str, account: Account = Depends(current_account)) -> Response:
        return _json(view(store, readable(round_id), account, files))

    @app.get("/v1/rounds/{round_id}/files/{name}", tags=["rounds"], summary="One of the round's files",
             description="Made from each centre's latest inspection in the round (its latest self-check where it has "
                         "none) by the code of compliance batch and compliance ledger; 202 while they are made.",
             response_class=Response,
             responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                  "format": "binary"}}}},
                        202: {"description": "Being made: ask again shortly",
                              "content": {"application/json": {"schema": MAKING_SCHEMA}}},
                        **errors(401, 403, 404, 409)})
    def get_file(round_id: str, name: str, account: Account = Depends(current_account)) -> Response:
        found = readable(round_id)
        if not may_read_files(account):
            raise Problem(403, msg("A round's files are the bureau's"),
                          msg("they set every centre of the round side by side"))
        if name not in FILES:
            raise Problem(404, msg("No such file"), msg("a round has {files}", files=[quote(n) for n in FILES]))
        if not members(store, found):
            raise Problem(409, msg("No audit has joined the round yet"),
                          msg("an audit joins it when its profile names it: {key}",
                              key=quote(f"audit.round: {found.id}")))
        lang = language()
        state, home, made = files.state(found, lang)
        if state == "making":
            return _json({"round": found.id, "file": name, "status": "making", "progress": made}, 202,
                         headers={"Retry-After": "2", "Location": f"/v1/rounds/{_path_id(found.id)}/files/{name}"})
        path = files.file(home, name) if state == "done" else None
        if path is None:
            raise Problem(409, msg("The round's files could not be made"),
                          msg("the error has been logged; tell the administrator"))
        made_on = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
        from .common import local_date

        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                            headers={"Content-Disposition": content_disposition(
                                f"{found.name}-{local_date(made_on)}-{name}")})

    return files

