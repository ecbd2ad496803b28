"""The evidence store: the photos and PDFs a profile names by SHA-256, kept once each, never changed or removed.

``POST /v1/evidence`` takes one file (``multipart/form-data``, field ``file``) and answers its SHA-256, type and
size: 201 the first time, 200 for bytes already held. ``GET /v1/evidence/{sha256}`` gives them back as a download.

The bytes are files on disk, under the service's data folder (``evidence/ab/cdef…``, by their hash), and the
database keeps one row a file (hash, type, size, who uploaded it first, when). On disk rather than in the database:
a photo is read whole by whoever serves it and never queried, the database stays small enough to back up often,
and the same folder serves several processes (or hosts sharing it) alike. A file is written to a temporary name in
its own folder, flushed to the disk, then renamed into place, so a file under its hash is always whole; its row is
written after it, so a crash leaves at most a file with no row (taken up again by the next upload of the same
bytes), never a row with no file. Two processes storing the same bytes at once both write whole files and rename
the same content over the same name; the first row wins and the second upload is answered 200.

Who may read a file: the accounts that uploaded it, and every account that may read an audit naming it (a
community account: its own centre's audits; a bureau or system account: every audit). Anyone else is told 404, as
if it did not exist. The database refuses an UPDATE or DELETE on these tables, as it does on ``audits``.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import Column, DateTime, Integer, String, Table, select
from sqlalchemy.exc import IntegrityError

import orjson

from ..errors import json_path, problems_message
from ..evidence import MAX_EVIDENCE_BYTES, check_content, media_type
from ..i18n import msg, quote
from ..model import plain_document
from . import auth
from .common import UPLOAD_SECONDS, Problem, content_disposition, media_type_of, within
from .store import Account, Store, audit_kind, metadata

log = logging.getLogger("compliance.service")

__all__ = ["install", "EvidenceStore", "named_hashes", "record_uses", "check_submission"]

evidence = Table(
    "evidence", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("media_type", String(40), nullable=False),        # image/jpeg, image/png or application/pdf, by its bytes
    Column("size", Integer, nullable=False),
    Column("uploaded_by", String(100), nullable=False),      # the account that uploaded it first
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
)

evidence_uploads = Table(          # every account that uploaded the bytes (each may read them back)
    "evidence_uploads", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("account_id", Integer, primary_key=True),
    Column("uploaded_at", DateTime(timezone=True), nullable=False),
)

evidence_uses = Table(             # the centres whose audits name a hash, each with the first audit naming it there
    "evidence_uses", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("centre_id", String(200), primary_key=True),
    Column("audit_id", String(32), nullable=False),
)

TABLES = ("evidence", "evidence_uploads", "evidence_uses")
MEDIA_TYPES = ("image/jpeg", "image/png", "application/pdf")
SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
FORM_SLACK = 64 << 10              # a multipart body's boundaries and part headers, over the file's own bytes
_HASH = re.compile(r"[0-9a-fA-F]{64}")
_FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


@dataclass(frozen=True)
class Stored:
    """A file the store holds: its hash, type and size, and whether this upload added it (201) or not (200)."""
    sha256: str
    media_type: str
    size: int
    created: bool = False

    def document(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "media_type": self.media_type, "size": self.size}


class DiskFull(Exception):
    """The data folder's disk (or the account's quota) is full: nothing was stored."""


class EvidenceStore:
    """The files under ``folder`` (``ab/cdef…``) and their rows in ``store``'s database."""

    def __init__(self, store: Store, folder: Path) -> None:
        self.store, self.folder = store, folder

    def path(self, digest: str) -> Path:
        return self.folder / digest[:2] / digest[2:]

    def keep(self, data: bytes, kind: str, account: Account) -> Stored:
        """Store ``data`` (already checked: ``kind`` is its type) for ``account``; :class:`DiskFull` when the disk is."""
        digest = hashlib.sha256(data).hexdigest()
        try:
            self._write(digest, data)
        except OSError as exc:
            if exc.errno in _FULL:
                raise DiskFull() from None
            raise
        now = datetime.now(timezone.utc)
        created = True
        try:
            with self.store.engine.begin() as db:
                db.execute(evidence.insert(), {"sha256": digest, "media_type": kind, "size": len(data),
                                               "uploaded_by": account.name, "uploaded_at": now})
        except IntegrityError:              # held already (or stored by another process this instant)
            created = False
        with contextlib.suppress(IntegrityError), self.store.engine.begin() as db:
            known = db.execute(select(evidence_uploads.c.sha256).where(
                evidence_uploads.c.sha256 == digest, evidence_uploads.c.account_id == account.id)).first()
            if known is None:
                db.execute(evidence_uploads.insert(), {"sha256": digest, "account_id": account.id, "uploaded_at": now})
        found = self.row(digest)
        assert found is not None
        return Stored(found.sha256, found.media_type, found.size, created)

    def _write(self, digest: str, data: bytes) -> None:
        """The file under its hash, whole: written beside its final name, flushed, then renamed into place."""
        final = self.path(digest)
        if final.is_file() and _same(final, digest):
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=final.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out, data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o444)
            os.replace(temporary, final)     # the same bytes under the same name, whoever renames last
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        with contextlib.suppress(OSError):   # the rename itself, on the disk
            folder = os.open(final.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                os.fsync(folder)
            finally:
                os.close(folder)

    def row(self, digest: str) -> Stored | None:
        with self.store.engine.connect() as db:
            found = db.execute(select(evidence).where(evidence.c.sha256 == digest)).first()
        return None if found is None else Stored(found.sha256, found.media_type, int(found.size))

    def readable(self, account: Account, digest: str) -> Stored | None:
        """The file, if ``account`` may read it: it uploaded it, or may read an audit naming it."""
        with self.store.engine.connect() as db:
            found = db.execute(select(evidence).where(evidence.c.sha256 == digest)).first()
            if found is None:
                return None
            uploaded = db.execute(select(evidence_uploads.c.sha256).where(
                evidence_uploads.c.sha256 == digest, evidence_uploads.c.account_id == account.id)).first()
            if uploaded is None:
                named = select(evidence_uses.c.sha256).where(evidence_uses.c.sha256 == digest)
                if account.role == "community":
                    named = named.where(evidence_uses.c.centre_id == account.centre_id)
                if db.execute(named.limit(1)).first() is None:
                    return None
        return Stored(found.sha256, found.media_type, int(found.size))

    def missing(self, account: Account, digests: Iterable[str]) -> set[str]:
        """Which of ``digests`` a profile submitted by ``account`` may not name (see :func:`missing`)."""
        return missing(self.store, account, digests)


def missing(store: Store, account: Account, digests: Iterable[str]) -> set[str]:
    """Which of ``digests`` ``account`` may not name (in a profile, or an action's report of a fix): those the
    service does not hold, and for a community account those it may not read (another centre's photo it has only
    the hash of)."""
    wanted = set(digests)
    if not wanted:
        return set()
    with store.engine.connect() as db:
        held = set(db.execute(select(evidence.c.sha256).where(evidence.c.sha256.in_(wanted))).scalars())
        if account.role != "community" or not held:
            return wanted - held
        mine = set(db.execute(select(evidence_uploads.c.sha256).where(
            evidence_uploads.c.sha256.in_(held), evidence_uploads.c.account_id == account.id)).scalars())
        mine |= set(db.execute(select(evidence_uses.c.sha256).where(
            evidence_uses.c.sha256.in_(held), evidence_uses.c.centre_id == account.centre_id)).scalars())
    return wanted - mine


def write(out: Any, data: bytes) -> None:
    """Write the bytes (one place, so that a test can fill the disk)."""
    out.write(data)


def _same(path: Path, digest: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest() == digest
    except OSError:
        return False


# --------------------------------------------------------------------------- audits that name evidence

def named_hashes(document: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """(clause, index, sha256) of every item of a profile's ``evidence`` that names a hash."""
    block = document.get("evidence")
    if not isinstance(block, Mapping):
        return []
    return [(str(clause), i, item["sha256"]) for clause, items in block.items() if isinstance(items, list)
            for i, item in enumerate(items) if isinstance(item, Mapping) and isinstance(item.get("sha256"), str)]


def named_files(document: Mapping[str, Any]) -> list[tuple[str, int]]:
    block = document.get("evidence")
    if not isinstance(block, Mapping):
        return []
    return [(str(clause), i) for clause, items in block.items() if isinstance(items, list)
            for i, item in enumerate(items) if isinstance(item, Mapping) and "file" in item]


def record_uses(db: Any, audits: Iterable[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> None:
    """Inside the transaction storing audits, (the audit's row, its profile document) each: the hashes each names,
    so that the accounts reading that centre's audits may read those files. Costs nothing for a profile with no
    evidence."""
    rows: dict[tuple[str, str], str] = {}
    for audit, document in audits:
        for _, _, digest in named_hashes(document):
            rows.setdefault((digest, audit["centre_id"]), audit["id"])
    if not rows:
        return
    keys = list(rows)
    known = set()
    for digest in {d for d, _ in keys}:
        known |= {(digest, c) for c in db.execute(select(evidence_uses.c.centre_id).where(
            evidence_uses.c.sha256 == digest)).scalars()}
    new = [{"sha256": d, "centre_id": c, "audit_id": rows[(d, c)]} for d, c in keys if (d, c) not in known]
    if new:
        db.execute(evidence_uses.insert(), new)


def check_submission(store: Store, account: Account, profile: Any) -> None:
    """Refuse an inspection from an account other than a bureau's (403); and evidence named by a file (the service
    has no folder beside the profile to read it from) or by a hash the service does not hold for this account
    (422), each at its item's JSON path. Every route that stores a profile a person or system sent calls this."""
    document = plain_document(profile)
    if audit_kind(document) == "inspection" and not auth.may_inspect(account):
        raise Problem(403, msg("Inspections are submitted by bureau accounts"),
                      msg("this account may submit self-checks; an inspection ({kind}) comes from the bureau's "
                          "inspectors", kind=quote("audit.kind: inspection")))
    if "evidence" not in document:
        return
    problems: list[dict[str, Any]] = []
    for clause, i in named_files(document):
        problems.append({"path": json_path(("evidence", clause, i, "file")), "message": msg(
            "the service reads no files beside a profile: upload the file to {route} and name it by the "
            "{sha256} that answers", route=quote("POST /v1/evidence"), sha256=quote("sha256"))})
    hashes = named_hashes(document)
    missing = EvidenceStore(store, Path(".")).missing(account, (d for _, _, d in hashes))
    for clause, i, digest in hashes:
        if digest in missing:
            problems.append({"path": json_path(("evidence", clause, i, "sha256")), "message": msg(
                "the service holds no evidence file with this SHA-256 for this account; upload it to {route} "
                "first", route=quote("POST /v1/evidence"))})
    if problems:
        raise Problem(422, msg("The profile's evidence cannot be used"),
                      problems_message(len(problems), msg("the profile's evidence")), problems=problems)


# --------------------------------------------------------------------------- the routes

def install(app: FastAPI, store: Store, data: Path, current_account: Any, errors: Any) -> EvidenceStore:
    """The evidence routes on ``app``, the files kept under ``data``/evidence; ``current_account`` is the
    dependency naming the request's account, ``errors(*codes)`` the problem answers' OpenAPI description."""
    files = EvidenceStore(store, data / "evidence")
    app.state.evidence = files
    if record_uses not in store.on_audits:
        store.on_audits.append(record_uses)
    stored = {"application/json": {"schema": {"$ref": "#/components/schemas/Evidence"}}}

    @app.post("/v1/evidence", status_code=201, tags=["evidence"], summary="Keep one evidence file (a photo or a PDF)",
              description="Content-addressed and append-only: the answer names the file by the SHA-256 of its bytes, "
                          "which a profile then gives as evidence (evidence: {\"5.5\": [{sha256: …}]}). The type "
                          "is read from the bytes: a JPEG or PNG image that decodes, or a PDF; at most 10 MiB.",
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "required": ["file"], "properties": {
                      "file": {"type": "string", "format": "binary",
                               "description": "a JPEG or PNG photo, or a PDF, of at most 10 MiB"}}}}}}},
              responses={201: {"description": "Kept now", "content": stored},
                         200: {"description": "The same bytes were kept before: the same answer", "content": stored},
                         **errors(400, 401, 408, 413, 415, 422, 507)})
    async def post_evidence(request: Request, account: Account = Depends(current_account)) -> Response:
        data, name = await _read_file(request)
        kind = media_type(data)
        if kind is None:
            raise Problem(415, msg("This kind of file is not kept as evidence"),
                          msg("evidence is a JPEG or PNG photo, or a PDF document (known from its content, not its "
                              "name)"))
        bad = await asyncio.to_thread(check_content, data, kind, name)
        if bad is not None:
            raise Problem(415, msg("This file cannot be kept as evidence"), bad)
        try:
            done = await asyncio.to_thread(files.keep, data, kind, account)
        except DiskFull:
            log.error("evidence not stored: the disk of %s is full", files.folder)
            raise Problem(507, msg("The service's disk is full"),
                          msg("nothing was stored; try again later, or tell the administrator")) from None
        return Response(orjson.dumps(done.document()), status_code=201 if done.created else 200,
                        media_type="application/json", headers={"Location": f"/v1/evidence/{done.sha256}"})

    @app.get("/v1/evidence/{sha256}", tags=["evidence"], summary="One evidence file, as a download",
             description="To the accounts that uploaded it, and to those that may read an audit naming it; to "
                         "anyone else 404, as for a file the service does not hold.",
             responses={200: {"description": "The file's bytes, with the type they were kept as",
                              "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES}},
                        **errors(401, 404)}, response_class=Response)
    def get_evidence(sha256: str, account: Account = Depends(current_account)) -> Response:
        from fastapi.responses import FileResponse

        digest = sha256.lower() if _HASH.fullmatch(sha256) else None
        found = files.readable(account, digest) if digest is not None else None
        path = files.path(digest) if digest is not None else None
        if found is None or path is None or not path.is_file():
            if found is not None:
                log.error("evidence %s has a row but no file under %s", digest, files.folder)
            raise Problem(404, msg("No such evidence file"))
        return FileResponse(path, media_type=found.media_type, headers={
            "Content-Disposition": content_disposition(found.sha256 + SUFFIXES[found.media_type]),
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=86400, immutable",
            "ETag": f'"{found.sha256}"'})

    return files


EVIDENCE_SCHEMA = {
    "type": "object", "required": ["sha256", "media_type", "size"],
    "properties": {"sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                   "media_type": {"enum": list(MEDIA_TYPES)}, "size": {"type": "integer", "minimum": 1}},
}


async def _read_file(request: Request) -> tuple[bytes, str]:
    """The form's ``file`` part and its name as the client gave it (quoted, for messages), read as it arrives and refused (413) as soon as the body passes the cap: nothing
    larger than the cap is ever held, in memory or on disk."""
    from starlette.datastructures import UploadFile

    limit = MAX_EVIDENCE_BYTES + FORM_SLACK
    too_large = Problem(413, msg("The file is too large"), msg("an evidence file may be at most 10 MiB ({limit:,} "
                                                               "bytes)", limit=MAX_EVIDENCE_BYTES))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    if not media_type_of(request).startswith("multipart/form-data"):
        raise Problem(415, msg("Unsupported media type"), msg("send the file as {type} in a field named {field}",
                                                              type=quote("multipart/form-data"), field=quote("file")))
    receive, seen = within(request.receive, UPLOAD_SECONDS), [0]

    async def capped() -> Any:
        message = await receive()
        seen[0] += len(message.get("body", b""))
        if seen[0] > limit:
            raise too_large
        return message

    try:
        form = await Request(request.scope, capped).form(max_files=1, max_fields=10)
    except OSError as exc:
        if exc.errno in _FULL:
            raise Problem(507, msg("The service's disk is full"),
                          msg("nothing was stored; try again later, or tell the administrator")) from None
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed multipart body is the client's
        if isinstance(exc, Problem):
            raise
        raise Problem(422, msg("The upload is not a valid form"), msg("send the file as {type} in a field named "
                                                                      "{field}", type=quote("multipart/form-data"),
                                                                      field=quote("file"))) from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Problem(422, msg("The request is not valid"), msg("send the file in a form field named {field}",
                                                                    field=quote("file")),
                          problems=[{"path": "file", "message": msg("is missing")}])
        data = await upload.read(MAX_EVIDENCE_BYTES + 1)
        name = quote((upload.filename or "file").replace("\\", "/").rsplit("/", 1)[-1] or "file", 80)
    finally:
        await form.close()
    if len(data) > MAX_EVIDENCE_BYTES:
        raise too_large
    if not data:
        raise Problem(422, msg("The request is not valid"), problems=[{"path": "file", "message": msg("is empty")}])
    return data, name
