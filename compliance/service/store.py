"""Audit history and accounts in one SQL database (SQLAlchemy Core; SQLite by default).

Audits are append-only: the store has no verb that changes or removes one, and the database itself
refuses an UPDATE or DELETE on the audits table (triggers made by the first migration), so a
correction is always a new audit. The schema is made and upgraded by Alembic migrations when the
store opens.
"""
from __future__ import annotations

import hashlib
import os
import secrets

import orjson
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from sqlalchemy import (Boolean, CheckConstraint, Column, DateTime, Float, Index, Integer, LargeBinary, MetaData,
                        String, Table, Text, create_engine, event, false, func, select)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..errors import ComplianceError
from ..i18n import msg, quote
from ..model import plain_document

if TYPE_CHECKING:
    from ..result import AuditResult

DEFAULT_URL = "sqlite:///compliance.db"
ROLES = ("bureau", "community", "system")

metadata = MetaData()

accounts = Table(
    "accounts", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("centre_id", String(200)),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("password", String(300)),            # scrypt$n$r$p$salt$hash, or null: token only
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("epoch", Integer, nullable=False, server_default="0"),   # bumped to end every web session
    CheckConstraint("role in ('bureau', 'community', 'system')", name="ck_accounts_role"),
)

audits = Table(
    "audits", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),     # the order audits were stored in
    Column("id", String(32), nullable=False, unique=True),            # what the API names it by
    Column("centre_id", String(200), nullable=False),
    Column("centre_name", Text, nullable=False),
    Column("street", Text, nullable=False),
    Column("ruleset_id", String(200), nullable=False),
    Column("ruleset_version", String(100), nullable=False),
    Column("ruleset_hash", String(64), nullable=False),
    Column("profile_sha256", String(64), nullable=False),
    Column("profile", LargeBinary, nullable=False),                   # the bytes submitted, as submitted
    Column("profile_type", String(100), nullable=False),              # their media type
    Column("result", LargeBinary, nullable=False),                    # the result document (JSON)
    Column("score", Float, nullable=False),
    Column("grade", String(50), nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("submitted_by", String(100), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("batch_id", String(32)),                                   # the batch it came from, if any
    Index("ix_audits_centre", "centre_id", "seq"),
    Index("ix_audits_batch", "batch_id"),
)


batches = Table(
    "batches", metadata,
    Column("id", String(32), primary_key=True),
    Column("status", String(16), nullable=False),          # queued, running, done, failed
    Column("rules", String(200), nullable=False),
    Column("filename", String(200), nullable=False),
    Column("submitted_by", String(100), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("exit_code", Integer),
    Column("message", Text),
    Column("lang", String(8), nullable=False, server_default="zh"),     # its outputs' language
)


settings = Table(
    "settings", metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)


@dataclass(frozen=True)
class Batch:
    id: str
    status: str
    rules: str
    filename: str
    submitted_by: str
    submitted_at: datetime
    finished_at: datetime | None
    exit_code: int | None
    message: str | None
    lang: str = "zh"


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str
    centre_id: str | None
    has_password: bool = False
    epoch: int = 0
    disabled: bool = False


@dataclass(frozen=True)
class AuditRow:
    id: str
    centre_id: str
    centre_name: str
    street: str
    ruleset_id: str
    ruleset_version: str
    ruleset_hash: str
    profile_sha256: str
    score: float
    grade: str
    verdict: str
    submitted_by: str
    submitted_at: datetime


_SUMMARY = [audits.c[k] for k in AuditRow.__dataclass_fields__]
_INSERT_AUDIT = audits.insert()


def database_url(explicit: str | None = None) -> str:
    """--db, else $COMPLIANCE_DB, else an SQLite file in the current folder. A plain ``postgresql://`` URL
    uses psycopg 3 (the ``postgres`` extra), not SQLAlchemy's default of psycopg2."""
    url = explicit or os.environ.get("COMPLIANCE_DB") or DEFAULT_URL
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


class Store:
    """One database: open it (creating or upgrading its tables), then add and read."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = database_url(url)
        try:
            self.engine = _engine(self.url)
        except Exception as exc:  # noqa: BLE001 - a bad URL or a missing driver is the user's to fix
            raise ComplianceError(msg("cannot open the database: {reason}", reason=quote(_plain(exc), 300)),
                                  file=safe_url(self.url)) from None
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the tables to the newest migration (Alembic), making them on first use."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except ComplianceError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ComplianceError(msg("cannot prepare the database: {reason}", reason=quote(_plain(exc), 300)),
                                  file=safe_url(self.url)) from None

    # ------------------------------------------------------------------ accounts

    def add_account(self, name: str, role: str, centre_id: str | None, token_sha256: str) -> Account:
        if role not in ROLES:
            raise ComplianceError(msg("the role must be one of {roles}, not {role}", roles=[quote(r) for r in ROLES],
                                      role=quote(role)))
        with self.engine.connect() as db:          # zhang and Zhang would be two people to nobody
            taken = db.execute(select(accounts.c.name).where(func.lower(accounts.c.name) == name.lower())).first()
        if taken is not None:
            raise ComplianceError(msg("an account named {name} already exists", name=quote(taken.name)))
        try:
            with self.engine.begin() as db:
                key = db.execute(accounts.insert().values(
                    name=name, role=role, centre_id=centre_id, token_sha256=token_sha256,
                    created_at=_now())).inserted_primary_key
                assert key is not None
                new_id = key[0]
        except IntegrityError:
            raise ComplianceError(msg("an account named {name} already exists", name=quote(name))) from None
        return Account(int(new_id), name, role, centre_id)

    def set_password(self, name: str, password_hash: str) -> None:
        """A new password; it ends the account's web sessions."""
        self._change(name, password=password_hash, epoch=accounts.c.epoch + 1)

    def set_token(self, name: str, token_sha256: str) -> None:
        """A new token in place of the old (which stops working within 10 s); it ends the web sessions too."""
        self._change(name, token_sha256=token_sha256, epoch=accounts.c.epoch + 1)

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable (or enable again) an account: its token, password and sessions stop working."""
        self._change(name, disabled=disabled, epoch=accounts.c.epoch + 1)

    def end_sessions(self, name: str) -> None:
        self._change(name, epoch=accounts.c.epoch + 1)

    def _change(self, name: str, **values: Any) -> None:
        with self.engine.begin() as db:
            done = db.execute(accounts.update().where(accounts.c.name == name).values(**values))
        if not done.rowcount:
            raise ComplianceError(msg("there is no account named {name}", name=quote(name)))

    def account_by_token(self, token_sha256: str) -> Account | None:
        """The enabled account with this token, or None."""
        account = self._account(accounts.c.token_sha256 == token_sha256)
        return None if account is None or account.disabled else account

    def account_by_name(self, name: str) -> tuple[Account, str | None] | None:
        """The account and its password hash, for a login."""
        with self.engine.connect() as db:
            row = db.execute(select(accounts).where(accounts.c.name == name)).first()
        if row is None:
            return None
        return _account(row), row.password

    def _account(self, where: Any) -> Account | None:
        with self.engine.connect() as db:
            row = db.execute(select(accounts).where(where)).first()
        return None if row is None else _account(row)

    def list_accounts(self) -> list[Account]:
        with self.engine.connect() as db:
            return [_account(r) for r in db.execute(select(accounts).order_by(accounts.c.name))]

    # ------------------------------------------------------------------ audits

    def add_audit(self, result: AuditResult, result_json: bytes, *, profile: bytes, profile_type: str,
                  submitted_by: str) -> AuditRow:
        """Store one audit; its id is a fresh random name. Committed before this returns."""
        center = plain_document(result.profile)["center"]
        rules = result.ruleset
        row = AuditRow(
            id=secrets.token_hex(16), centre_id=str(center["id"]), centre_name=str(center.get("name", "")),
            street=str((center.get("region") or {}).get("street", "")), ruleset_id=rules.id,
            ruleset_version=str(rules.version), ruleset_hash=rules.content_hash,
            profile_sha256=result.profile.sha256 or hashlib.sha256(profile).hexdigest(), score=float(result.score),
            grade=result.grade, verdict=result.verdict.value, submitted_by=submitted_by, submitted_at=_now())
        with self.engine.begin() as db:      # one compiled statement, parameters apart: no per-call SQL building
            db.execute(_INSERT_AUDIT, {**row.__dict__, "profile": profile, "profile_type": profile_type,
                                       "result": result_json})
        return row

    def add_round(self, batch_id: str, submitted_by: str, items: Iterator[tuple[bytes, bytes]]) -> int:
        """Store a finished batch's audits, (result document, profile JSON) each, in one transaction, once: a
        batch whose audits are already stored adds nothing. Returns how many were added."""
        added = 0
        with self.engine.begin() as db:
            if db.execute(select(audits.c.seq).where(audits.c.batch_id == batch_id).limit(1)).first() is not None:
                return 0
            chunk: list[dict[str, Any]] = []
            for result_json, profile in items:
                doc = orjson.loads(result_json)
                center, rules = doc["center"], doc["ruleset"]
                chunk.append({
                    "id": secrets.token_hex(16), "centre_id": str(center["id"]),
                    "centre_name": str(center.get("name", "")),
                    "street": str((center.get("region") or {}).get("street", "")), "ruleset_id": rules["id"],
                    "ruleset_version": str(rules["version"]), "ruleset_hash": rules.get("content_hash", ""),
                    "profile_sha256": (doc.get("profile") or {}).get("sha256") or hashlib.sha256(profile).hexdigest(),
                    "profile": profile, "profile_type": "application/json", "result": result_json,
                    "score": float(doc["score"]), "grade": doc["grade"], "verdict": doc["verdict"],
                    "submitted_by": submitted_by, "submitted_at": _now(), "batch_id": batch_id})
                if len(chunk) >= 1000:
                    db.execute(_INSERT_AUDIT, chunk)
                    added += len(chunk)
                    chunk = []
            if chunk:
                db.execute(_INSERT_AUDIT, chunk)
                added += len(chunk)
        return added

    def audit(self, audit_id: str) -> tuple[AuditRow, bytes, bytes, str] | None:
        """(summary, result document, profile bytes, their media type), or None."""
        with self.engine.connect() as db:
            row = db.execute(select(*_SUMMARY, audits.c.result, audits.c.profile, audits.c.profile_type)
                             .where(audits.c.id == audit_id)).first()
        if row is None:
            return None
        return _row(row), bytes(row.result), bytes(row.profile), row.profile_type

    def history(self, centre_id: str, limit: int = 1000) -> list[AuditRow]:
        """A centre's audits, newest first."""
        with self.engine.connect() as db:
            rows = db.execute(select(*_SUMMARY).where(audits.c.centre_id == centre_id)
                              .order_by(audits.c.seq.desc()).limit(limit))
            return [_row(r) for r in rows]

    def latest(self, *, street: str | None = None, grade: str | None = None,
               verdict: str | None = None) -> Iterator[AuditRow]:
        """Every centre's newest audit, filtered, by centre id."""
        newest = select(audits.c.centre_id, func.max(audits.c.seq).label("seq")).group_by(audits.c.centre_id).subquery()
        query = select(*_SUMMARY).join(newest, audits.c.seq == newest.c.seq).order_by(audits.c.centre_id)
        for column, value in ((audits.c.street, street), (audits.c.grade, grade), (audits.c.verdict, verdict)):
            if value:
                query = query.where(column == value)
        with self.engine.connect() as db:
            for r in db.execute(query):
                yield _row(r)

    # ------------------------------------------------------------------ batches

    def add_batch(self, batch_id: str, rules: str, filename: str, submitted_by: str, lang: str = "zh") -> Batch:
        with self.engine.begin() as db:
            db.execute(batches.insert(), {"id": batch_id, "status": "queued", "rules": rules, "filename": filename,
                                          "submitted_by": submitted_by, "submitted_at": _now(), "lang": lang})
        found = self.batch(batch_id)
        assert found is not None
        return found

    def set_batch(self, batch_id: str, status: str, *, exit_code: int | None = None, message: str | None = None) -> None:
        values: dict[str, Any] = {"status": status, "exit_code": exit_code, "message": message}
        if status in ("done", "failed"):
            values["finished_at"] = _now()
        with self.engine.begin() as db:
            db.execute(batches.update().where(batches.c.id == batch_id).values(**values))

    def batch(self, batch_id: str) -> Batch | None:
        with self.engine.connect() as db:
            row = db.execute(select(batches).where(batches.c.id == batch_id)).first()
        return None if row is None else _batch(row)

    def unfinished_batches(self) -> list[Batch]:
        with self.engine.connect() as db:
            rows = db.execute(select(batches).where(batches.c.status.in_(("queued", "running")))
                              .order_by(batches.c.submitted_at))
            return [_batch(r) for r in rows]

    def recent_batches(self, limit: int = 20) -> list[Batch]:
        with self.engine.connect() as db:
            rows = db.execute(select(batches).order_by(batches.c.submitted_at.desc()).limit(limit))
            return [_batch(r) for r in rows]

    # ------------------------------------------------------------------ the service's own settings

    def secret(self, name: str) -> str:
        """A random secret the service keeps (made on first use, the same after every restart)."""
        with self.engine.begin() as db:
            value = db.execute(select(settings.c.value).where(settings.c.name == name)).scalar()
            if value is None:
                value = secrets.token_urlsafe(32)
                try:
                    db.execute(settings.insert(), {"name": name, "value": value})
                except IntegrityError:      # another process made it first
                    pass
        with self.engine.connect() as db:
            return str(db.execute(select(settings.c.value).where(settings.c.name == name)).scalar_one())


def _account(row: Any) -> Account:
    return Account(int(row.id), row.name, row.role, row.centre_id, bool(row.password), int(row.epoch),
                   bool(row.disabled))


def _row(row: Any) -> AuditRow:
    return AuditRow(**{k: _utc(getattr(row, k)) for k in AuditRow.__dataclass_fields__})


def _batch(row: Any) -> Batch:
    return Batch(**{k: _utc(getattr(row, k)) for k in Batch.__dataclass_fields__})


def _utc(value: Any) -> Any:
    """A stored time with its zone: SQLite keeps none, and every time stored is UTC. Other values as they are."""
    return value.replace(tzinfo=timezone.utc) if isinstance(value, datetime) and value.tzinfo is None else value


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL: readers never wait for the writer, and a committed audit survives the process being
            # killed. synchronous=NORMAL is durable against a crash of the service (not of the machine).
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(the database URL)"


def _plain(exc: BaseException) -> str:
    """An exception's first line, with any URL's password hidden."""
    import re

    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"(://[^:/@\s]+):[^@/\s]+@", r"\1:***@", text)[:300]
