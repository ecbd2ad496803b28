"""Audit history and accounts in one SQL database (SQLAlchemy Core; SQLite by default).

Audits are append-only: the store has no verb that changes or removes one, and the database itself
refuses an UPDATE or DELETE on the audits table (triggers made by the first migration), so a
correction is always a new audit. The schema is made and upgraded by Alembic migrations when the
store opens.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
import time

import orjson
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from sqlalchemy import (Boolean, CheckConstraint, Column, DateTime, Float, Index, Integer, LargeBinary, MetaData,
                        String, Table, Text, case, create_engine, event, false, func, select)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..errors import ComplianceError
from ..i18n import msg, quote
from ..model import plain_document
from .latest import record as keep_latest, round_of

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
    Column("kind", String(20)),                   # self_check or inspection (null: stored before kinds, a self-check)
    Column("profile_digest", String(64)),         # SHA-256 of the profile as parsed (null: stored before digests)
    Column("vetoed", Text),                       # the clauses that vetoed it, joined by ";" (null: not kept then)
    Index("ix_audits_centre", "centre_id", "seq"),
    Index("ix_audits_batch", "batch_id"),
    Index("ix_audits_rules", "ruleset_id", "centre_id", "seq"),
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
    Column("added", Integer),                   # audits it added to the histories (null: not yet recorded)
)


idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("account_id", Integer, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),     # SHA-256 of what was asked: rule set, media type, body
    Column("status", Integer, nullable=False),             # the first answer: 201 or 200
    Column("audit_id", String(32), nullable=False),
    Column("warnings", LargeBinary),                       # the first answer's warnings (JSON), to repeat them
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_idempotency_keys_created", "created_at"),
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
    added: int | None = None          # audits it added to the histories, once recorded


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
    kind: str = "self_check"
    vetoed: str | None = None         # the clauses that vetoed it, joined by ";" ("" none; None: not kept then)

    @property
    def vetoed_clauses(self) -> list[str]:
        return [c for c in (self.vetoed or "").split(";") if c]


@dataclass(frozen=True)
class IdempotencyKey:
    """An API client's Idempotency-Key: its account, the key, and a fingerprint of what the request asked."""
    account_id: int
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Submission:
    """What storing an audit came to: the audit (stored now, or the identical one stored before), and the status to
    answer with; for a repeated Idempotency-Key, the first answer's status and warnings."""
    row: AuditRow
    created: bool
    status: int                       # 201: stored now; 200: identical to the centre's latest, not stored again
    replayed: bool = False
    warnings: bytes | None = None     # the first answer's warnings (JSON), when replayed


@dataclass(frozen=True)
class RulesSetting:
    """The service's rule set: its name, and who chose it when (``chosen_by`` None: ``serve --rules``)."""
    name: str
    chosen_by: str | None
    chosen_at: datetime


class KeyReused(Exception):
    """An Idempotency-Key this account used, within 24 hours, for another request."""


KINDS = ("self_check", "inspection")
KEY_SECONDS = 24 * 3600              # an Idempotency-Key is remembered for 24 hours
_PURGE_SECONDS = 600.0               # expired keys are cleared at most this often
_CHUNK = 500                         # a round's audits are stored this many at a time

_SUMMARY = [audits.c[k] for k in AuditRow.__dataclass_fields__ if k not in ("kind", "vetoed")] + [
    func.coalesce(audits.c.kind, "self_check").label("kind"), audits.c.vetoed]
_INSERT_AUDIT = audits.insert()


def audit_kind(document: Mapping[str, Any]) -> str:
    """An audit's kind: the profile's ``audit.kind`` when it says ``inspection``, else a self-check."""
    block = document.get("audit")
    kind = block.get("kind") if isinstance(block, Mapping) else None
    return kind if isinstance(kind, str) and kind in KINDS else "self_check"


def profile_digest(document: Any) -> str:
    """SHA-256 of a profile as parsed: the same for the same data however it was written (YAML or JSON, its keys in
    any order, spaces and comments), so a repeated submission is recognised."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def database_url(explicit: str | None = None) -> str:
    """--db, else $COMPLIANCE_DB, else an SQLite file in the current folder; a path with no scheme is an SQLite
    file there. A plain ``postgresql://`` URL
    uses psycopg 3 (the ``postgres`` extra), not SQLAlchemy's default of psycopg2."""
    url = explicit or os.environ.get("COMPLIANCE_DB") or DEFAULT_URL
    if "://" not in url:                 # a file's path, as people give one: an SQLite database there
        return "sqlite:///" + os.path.abspath(url)
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
        # Audits are written one transaction at a time, each checking first for an identical audit (or a key used
        # before): within this process by this lock, across processes by the database's own write lock.
        self._writing_lock = threading.Lock()
        self._purged = 0.0
        # Called in the transaction that stores audits, with each one's row (the audits table's values, result
        # included) and its profile as parsed, so that what must follow an audit (the rounds it joins, the actions an
        # inspection opens, who may read the files it names) is stored with it or not at all.
        self.on_audits: list[Callable[[Any, list[tuple[dict[str, Any], Mapping[str, Any]]]], None]] = []
        self._checkpointing: threading.Event | None = None
        if migrate:
            self.migrate()

    def checkpoint_in_background(self, every: float = 1.0) -> None:
        """SQLite: copy the write-ahead log into the database file from a thread of its own, every ``every`` seconds
        (a passive checkpoint, which never waits for the writer nor makes it wait). SQLite still checkpoints in the
        commit that takes the log past 1,000 pages, and only that one can start the log afresh under a steady stream
        of writes, but it then finds the pages copied already: that copy had run inside the request storing the
        audit, with the store's write lock held, and cost the inspection route a sixth of its rate. Nothing to do for
        other databases, an in-memory one, or when already started; the service calls it once it has its database."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" or \
                self._checkpointing is not None:
            return

        stop = self._checkpointing = threading.Event()
        threading.Thread(target=_checkpoints, args=(str(url.database), every, stop), name="sqlite-checkpoints",
                         daemon=True).start()

    def stop_checkpoints(self) -> None:
        """Stop the thread :meth:`checkpoint_in_background` started (it checkpoints once more as it stops)."""
        if self._checkpointing is not None:
            self._checkpointing.set()

    def migrate(self) -> None:
        """Bring the tables to the newest migration (Alembic), making them on first use."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        try:
            with self.engine.begin() as connection:
                # Processes starting together migrate one after the other, each in one transaction: the next sees
                # the tables made and has nothing left to do. PostgreSQL: an advisory lock held until commit (and
                # let go if the process dies); SQLite: the file's write lock, taken before anything is read.
                if connection.dialect.name == "postgresql":
                    _plain_sql(connection, "SELECT pg_advisory_xact_lock(7301786202)")
                elif connection.dialect.name == "sqlite":
                    _plain_sql(connection, "BEGIN IMMEDIATE")
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

    @contextlib.contextmanager
    def _writing(self, centre: str | None = None) -> Iterator[Any]:
        """A transaction that holds the write lock from its start, so that what it reads (the centre's latest
        audit, a key used before) is still so when it writes: two identical submissions at once store one audit.

        SQLite has one writer at a time. On PostgreSQL, with ``centre``, the lock is the centre's only (and the
        shared side of the store's): one audit per centre at a time, audits of different centres written side by
        side, by the threads of one process as by several processes; without it (a batch's chunk of centres, an
        action's event), the store's whole lock, which waits for those and holds them off."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as db:
                if centre is None:
                    _plain_sql(db, "SELECT pg_advisory_xact_lock(7301786201)")
                else:
                    _plain_sql(db, "SELECT pg_advisory_xact_lock_shared(7301786201), "
                                   "pg_advisory_xact_lock(730178, hashtext(%s))", (centre,))
                yield db
            return
        with self._writing_lock, self.engine.begin() as db:
            if db.dialect.name == "sqlite":
                _plain_sql(db, "BEGIN IMMEDIATE")            # the file's write lock now, not at the first insert
            yield db

    def writing(self) -> contextlib.AbstractContextManager[Any]:
        """A transaction holding the audits' write lock (as :meth:`submit_audit` does), for what another module
        writes beside the audits and must read and write as one step (an action's next event)."""
        return self._writing()

    def add_audit(self, result: AuditResult, result_json: bytes, *, profile: bytes, profile_type: str,
                  submitted_by: str) -> AuditRow:
        """Store one audit (committed before this returns), unless it is identical to the centre's latest: then that
        one. See :meth:`submit_audit`."""
        return self.submit_audit(result, result_json, profile=profile, profile_type=profile_type,
                                 submitted_by=submitted_by).row

    def submit_audit(self, result: AuditResult, result_json: bytes, *, profile: bytes, profile_type: str,
                     submitted_by: str, key: IdempotencyKey | None = None, warnings: bytes | None = None,
                     beside: Mapping[str, Any] | None = None) -> Submission:
        """Store one audit, idempotently; its id is a fresh random name, and it is committed before this returns.

        An audit identical to its centre's latest audit under the same rule set and of the same kind (the same
        profile as parsed, the same rule-set content hash) is not stored again: the answer is that audit, with
        status 200. With ``key``, an Idempotency-Key the account used within 24 hours gives the first answer again
        (``replayed``), or raises :class:`KeyReused` when it was used for another request; otherwise the key is
        kept with this answer (and ``warnings``, the answer's warnings as JSON, to repeat). ``beside``: more for the
        :attr:`on_audits` callables than the row's columns (an inspection's remedies in both languages)."""
        document = plain_document(result.profile)
        center = document["center"]
        rules = result.ruleset
        row = AuditRow(
            id=new_id(), centre_id=str(center["id"]), centre_name=str(center.get("name", "")),
            street=str((center.get("region") or {}).get("street", "")), ruleset_id=rules.id,
            ruleset_version=str(rules.version), ruleset_hash=rules.content_hash,
            profile_sha256=result.profile.sha256 or hashlib.sha256(profile).hexdigest(), score=float(result.score),
            grade=result.grade, verdict=result.verdict.value, submitted_by=submitted_by, submitted_at=_now(),
            kind=audit_kind(document), vetoed=";".join(f.clause.clause for f in result.vetoed))
        digest = profile_digest(document)
        for attempt in range(3):
            try:
                with self._writing(row.centre_id) as db:
                    if key is not None:
                        first = self._first_answer(db, key)
                        if first is not None:
                            return first
                    same = self._latest_like(db, row.centre_id, row.ruleset_id, row.kind)
                    if same is not None and same[1] == row.ruleset_hash and \
                            (same[2] or self._digest_of(db, same[0])) == digest:
                        answer = Submission(self._summary(db, same[0]), False, 200)
                    else:
                        # One compiled statement, parameters apart: no per-call SQL building.
                        values = {**row.__dict__, "profile": profile, "profile_type": profile_type,
                                  "result": result_json, "profile_digest": digest}
                        db.execute(_INSERT_AUDIT, values)
                        keep_latest(db, [(row.__dict__, round_of(document))])
                        stored = [({**values, **beside} if beside else values, document)]
                        for on_audit in self.on_audits:
                            on_audit(db, stored)
                        answer = Submission(row, True, 201)
                    if key is not None:
                        self._keep_key(db, key, answer, warnings)
                    return answer
            except IntegrityError:
                if attempt == 2:         # another process kept the same key meanwhile: look again, then give up
                    raise
        raise AssertionError("unreachable")

    def first_answer(self, key: IdempotencyKey) -> Submission | None:
        """The answer an Idempotency-Key was first given (within 24 hours), or None; :class:`KeyReused` when the key
        was used for another request. A look before the work: :meth:`submit_audit` looks again as it stores."""
        with self.engine.connect() as db:
            return self._first_answer(db, key)

    def _first_answer(self, db: Any, key: IdempotencyKey) -> Submission | None:
        kept = db.execute(select(idempotency_keys).where(
            idempotency_keys.c.account_id == key.account_id, idempotency_keys.c.key == key.key,
            idempotency_keys.c.created_at > _now() - timedelta(seconds=KEY_SECONDS))).first()
        if kept is None:
            return None
        if kept.fingerprint != key.fingerprint:
            raise KeyReused(key.key)
        found = db.execute(select(*_SUMMARY).where(audits.c.id == kept.audit_id)).first()
        if found is None:               # cannot happen (audits are never removed); answer as if the key were new
            return None
        return Submission(_row(found), False, int(kept.status), replayed=True,
                          warnings=bytes(kept.warnings) if kept.warnings is not None else None)

    def _keep_key(self, db: Any, key: IdempotencyKey, answer: Submission, warnings: bytes | None) -> None:
        now = _now()
        cutoff = now - timedelta(seconds=KEY_SECONDS)
        if time.monotonic() - self._purged > _PURGE_SECONDS:
            db.execute(idempotency_keys.delete().where(idempotency_keys.c.created_at <= cutoff))
            self._purged = time.monotonic()
        else:                            # this key, used more than 24 hours ago, starts afresh
            db.execute(idempotency_keys.delete().where(
                idempotency_keys.c.account_id == key.account_id, idempotency_keys.c.key == key.key,
                idempotency_keys.c.created_at <= cutoff))
        db.execute(idempotency_keys.insert(), {
            "account_id": key.account_id, "key": key.key, "fingerprint": key.fingerprint, "status": answer.status,
            "audit_id": answer.row.id, "warnings": warnings, "created_at": now})

    @staticmethod
    def _latest_like(db: Any, centre_id: str, ruleset_id: str, kind: str) -> tuple[str, str, str | None] | None:
        """(id, rule-set hash, profile digest) of the centre's latest audit under this rule set and of this kind.
        Plain SQL, on every submission: SQLAlchemy's statement machinery would cost several times the query."""
        mark = "?" if db.dialect.paramstyle == "qmark" else "%s"
        found = _plain_sql(db, "SELECT id, ruleset_hash, profile_digest FROM audits WHERE centre_id = {0} AND "
                               "ruleset_id = {0} AND COALESCE(kind, 'self_check') = {0} ORDER BY seq DESC LIMIT 1"
                               .format(mark), (centre_id, ruleset_id, kind))
        return None if found is None else (str(found[0]), str(found[1]), found[2])

    @staticmethod
    def _summary(db: Any, audit_id: str) -> AuditRow:
        found = db.execute(select(*_SUMMARY).where(audits.c.id == audit_id)).first()
        assert found is not None                 # audits are never removed
        return _row(found)

    @staticmethod
    def _digest_of(db: Any, audit_id: str) -> str | None:
        """The digest of an audit stored before digests were kept, worked out from the profile it stored."""
        from ..errors import ProfileError
        from ..reading import parse

        stored = db.execute(select(audits.c.profile, audits.c.profile_type).where(audits.c.id == audit_id)).first()
        try:
            name = "profile.yaml" if "yaml" in stored.profile_type else "profile.json"
            return profile_digest(parse(bytes(stored.profile), name, ProfileError))
        except Exception:  # noqa: BLE001 - what cannot be read again is simply not the same
            return None

    def add_round(self, batch_id: str, submitted_by: str, items: Iterable[tuple[bytes, bytes]]) -> int:
        """Store a finished batch's audits, (result document, profile JSON) each, a few hundred per transaction.
        A centre whose audit is identical to its latest under the same rule set and of the same kind adds nothing,
        and a centre this batch already stored is not stored twice, so a batch recorded again (after a restart
        part-way) adds only what is missing. Returns how many were added."""
        added = 0
        chunk: list[dict[str, Any]] = []
        rounds: dict[str, str] = {}                  # each audit's audit.round, for the dashboard
        for result_json, profile in items:
            doc = orjson.loads(result_json)
            center, rules = doc["center"], doc["ruleset"]
            data = orjson.loads(profile)
            chunk.append({
                "id": new_id(), "centre_id": str(center["id"]),
                "centre_name": str(center.get("name", "")),
                "street": str((center.get("region") or {}).get("street", "")), "ruleset_id": rules["id"],
                "ruleset_version": str(rules["version"]), "ruleset_hash": rules.get("content_hash", ""),
                "profile_sha256": (doc.get("profile") or {}).get("sha256") or hashlib.sha256(profile).hexdigest(),
                "profile": profile, "profile_type": "application/json", "result": result_json,
                "score": float(doc["score"]), "grade": doc["grade"], "verdict": doc["verdict"],
                "submitted_by": submitted_by, "submitted_at": _now(), "batch_id": batch_id,
                "kind": audit_kind(data), "profile_digest": profile_digest(data),
                "vetoed": ";".join(str(c) for c in doc.get("vetoed") or ())})
            rounds[chunk[-1]["id"]] = round_of(data)
            if len(chunk) >= _CHUNK:
                added += self._add_chunk(batch_id, chunk, rounds)
                chunk = []
        if chunk:
            added += self._add_chunk(batch_id, chunk, rounds)
        return added

    def _add_chunk(self, batch_id: str, chunk: list[dict[str, Any]], rounds: Mapping[str, str]) -> int:
        ids = list({c["centre_id"] for c in chunk})
        with self._writing() as db:
            stored = set(db.execute(select(audits.c.centre_id).where(
                audits.c.batch_id == batch_id, audits.c.centre_id.in_(ids))).scalars())
            latest: dict[tuple[str, str, str], Any] = {}
            for rules in {c["ruleset_id"] for c in chunk}:
                for r in db.execute(select(audits.c.id, audits.c.centre_id, audits.c.ruleset_hash,
                                           audits.c.profile_digest, func.coalesce(audits.c.kind, "self_check")
                                           .label("kind")).where(audits.c.ruleset_id == rules,
                                                                 audits.c.centre_id.in_(ids))
                                    .order_by(audits.c.seq)):
                    latest[(r.centre_id, rules, r.kind)] = r          # in order: the last one stays
            new = []
            for c in chunk:
                if c["centre_id"] in stored:
                    continue
                same = latest.get((c["centre_id"], c["ruleset_id"], c["kind"]))
                if same is not None and same.ruleset_hash == c["ruleset_hash"] and \
                        (same.profile_digest or self._digest_of(db, same.id)) == c["profile_digest"]:
                    continue
                new.append(c)
            if new:
                db.execute(_INSERT_AUDIT, new)
                keep_latest(db, [(c, rounds[c["id"]]) for c in new])
                written = [(c, orjson.loads(c["profile"])) for c in new]
                for on_audit in self.on_audits:
                    on_audit(db, written)
        return len(new)

    def audit(self, audit_id: str) -> tuple[AuditRow, bytes, bytes, str] | None:
        """(summary, result document, profile bytes, their media type), or None."""
        with self.engine.connect() as db:
            row = db.execute(select(*_SUMMARY, audits.c.result, audits.c.profile, audits.c.profile_type)
                             .where(audits.c.id == audit_id)).first()
        if row is None:
            return None
        return _row(row), bytes(row.result), bytes(row.profile), row.profile_type

    def history(self, centre_id: str, limit: int = 1000, *, rules: str | None = None) -> list[AuditRow]:
        """A centre's audits, newest first; with ``rules``, only those under that rule set."""
        query = select(*_SUMMARY).where(audits.c.centre_id == centre_id)
        if rules:
            query = query.where(audits.c.ruleset_id == rules)
        with self.engine.connect() as db:
            return [_row(r) for r in db.execute(query.order_by(audits.c.seq.desc()).limit(limit))]

    def latest(self, *, rules: str | None = None, street: str | None = None, grade: str | None = None,
               verdict: str | None = None) -> Iterator[AuditRow]:
        """Every centre's newest audit (with ``rules``, its newest under that rule set), filtered, by centre id."""
        newest = select(audits.c.centre_id, func.max(audits.c.seq).label("seq"))
        if rules:
            newest = newest.where(audits.c.ruleset_id == rules)
        newest_q = newest.group_by(audits.c.centre_id).subquery()
        # An audit stored before the vetoed clauses were kept has them in its result document.
        legacy = case((audits.c.vetoed.is_(None), audits.c.result), else_=None).label("legacy_result")
        query = select(*_SUMMARY, legacy).join(newest_q, audits.c.seq == newest_q.c.seq).order_by(audits.c.centre_id)
        for column, value in ((audits.c.street, street), (audits.c.grade, grade), (audits.c.verdict, verdict)):
            if value:
                query = query.where(column == value)
        with self.engine.connect() as db:
            for r in db.execute(query):
                yield _with_vetoed(r)

    def summaries(self, audit_ids: Iterable[str]) -> dict[str, AuditRow]:
        """The stored audits with these ids (those there are), by id, each with its vetoed clauses."""
        legacy = case((audits.c.vetoed.is_(None), audits.c.result), else_=None).label("legacy_result")
        with self.engine.connect() as db:
            return {r.id: _with_vetoed(r) for r in db.execute(select(*_SUMMARY, legacy)
                                                               .where(audits.c.id.in_(list(audit_ids))))}

    def centres(self, *, rules: str | None = None) -> int:
        """How many centres have an audit (with ``rules``, one under that rule set)."""
        query = select(func.count(func.distinct(audits.c.centre_id)))
        if rules:
            query = query.where(audits.c.ruleset_id == rules)
        with self.engine.connect() as db:
            return int(db.execute(query).scalar_one())

    def rulesets_used(self) -> list[tuple[str, int]]:
        """Each rule set audits were stored under, with how many centres have one under it, most first."""
        query = select(audits.c.ruleset_id, func.count(func.distinct(audits.c.centre_id))).group_by(audits.c.ruleset_id)
        with self.engine.connect() as db:
            return sorted(((str(r[0]), int(r[1])) for r in db.execute(query)), key=lambda x: (-x[1], x[0]))

    # ------------------------------------------------------------------ batches

    def add_batch(self, batch_id: str, rules: str, filename: str, submitted_by: str, lang: str = "zh") -> Batch:
        with self.engine.begin() as db:
            db.execute(batches.insert(), {"id": batch_id, "status": "queued", "rules": rules, "filename": filename,
                                          "submitted_by": submitted_by, "submitted_at": _now(), "lang": lang})
        found = self.batch(batch_id)
        assert found is not None
        return found

    def set_batch(self, batch_id: str, status: str, *, exit_code: int | None = None, message: str | None = None,
                  added: int | None = None) -> None:
        values: dict[str, Any] = {"status": status, "exit_code": exit_code, "message": message, "added": added}
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

    def rules_setting(self) -> RulesSetting | None:
        """The service's rule set as stored, or None while none has been chosen."""
        with self.engine.connect() as db:
            value = db.execute(select(settings.c.value).where(settings.c.name == "rules")).scalar()
        if value is None:
            return None
        try:
            data = orjson.loads(value)
            return RulesSetting(str(data["name"]), data.get("by"), _utc(datetime.fromisoformat(data["at"])))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    def choose_rules(self, name: str, chosen_by: str | None, *, unless_chosen: bool = False) -> RulesSetting:
        """Make ``name`` the service's rule set, chosen by an account (``chosen_by``) or by ``serve --rules``
        (None). With ``unless_chosen``, only when none is stored yet. Returns the setting in force."""
        value = orjson.dumps({"name": name, "by": chosen_by, "at": _now().isoformat()}).decode()
        try:
            with self.engine.begin() as db:
                stored = db.execute(select(settings.c.value).where(settings.c.name == "rules")).scalar()
                if stored is None:
                    db.execute(settings.insert(), {"name": "rules", "value": value})
                elif not unless_chosen:
                    db.execute(settings.update().where(settings.c.name == "rules").values(value=value))
        except IntegrityError:               # another process chose first: its choice stands
            if not unless_chosen:
                raise
        found = self.rules_setting()
        assert found is not None
        return found

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


def _plain_sql(db: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """One statement on the connection's own driver, inside its transaction, and the first row it gives (if any):
    for the statements every submission runs, where SQLAlchemy's execution machinery costs more than the query."""
    cursor = db.connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchone() if cursor.description else None
    finally:
        cursor.close()


def plain_rows(db: Any, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Every row of one statement on the connection's own driver, as :func:`_plain_sql` gives the first: for the
    reads every stored audit makes. ``{0}`` in ``sql`` stands for a parameter, written as the driver marks one."""
    cursor = db.connection.cursor()
    try:
        cursor.execute(sql.format("?" if db.dialect.paramstyle == "qmark" else "%s"), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _account(row: Any) -> Account:
    return Account(int(row.id), row.name, row.role, row.centre_id, bool(row.password), int(row.epoch),
                   bool(row.disabled))


def _row(row: Any) -> AuditRow:
    return AuditRow(**{k: _utc(getattr(row, k)) for k in AuditRow.__dataclass_fields__})


def _with_vetoed(r: Any) -> AuditRow:
    """A summary row read with its ``legacy_result``: an audit stored before the vetoed clauses were kept has them in
    its result document."""
    row = _row(r)
    if row.vetoed is None and r.legacy_result is not None:
        try:
            vetoed = ";".join(str(c) for c in orjson.loads(r.legacy_result).get("vetoed") or ())
        except (orjson.JSONDecodeError, AttributeError):
            vetoed = ""
        row = AuditRow(**{**row.__dict__, "vetoed": vetoed})
    return row


def _batch(row: Any) -> Batch:
    return Batch(**{k: _utc(getattr(row, k)) for k in Batch.__dataclass_fields__})


def _utc(value: Any) -> Any:
    """A stored time with its zone: SQLite keeps none, and every time stored is UTC. Other values as they are."""
    return value.replace(tzinfo=timezone.utc) if isinstance(value, datetime) and value.tzinfo is None else value


def new_id() -> str:
    """A new row's name: 32 hex digits, the time in nanoseconds then 64 random bits. Rows named in the order they
    are written go in at the end of the name's index instead of at a random page of it: with random names, each
    inspection's audit and actions dirtied a page of every index they are in, and storing slowed as the tables
    grew (half the inspection route's time went to writing those pages)."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def _checkpoints(database: str, every: float, stop: threading.Event) -> None:
    import sqlite3

    connection = sqlite3.connect(database, timeout=30, check_same_thread=False)
    try:
        while True:
            stopping = stop.wait(every)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:        # a busy or vanished file: the next turn tries again; SQLite loses nothing
                pass
            if stopping:
                return
    finally:
        connection.close()


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


def plain_reason(exc: BaseException) -> str:
    """What went wrong, for a message: the exception's first line, any URL's password hidden."""
    return _plain(exc)
