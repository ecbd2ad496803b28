"""Several service processes on one database: what one process used to keep to itself, kept where all see it.

* **Leases on background work.** A batch (and any other long job: the kind names it) is run by exactly one
  process, the one holding its lease: a row naming the owner (host, process id and a random part) and a
  deadline. A process claims work with one compare-and-set UPDATE (the work has no owner, or its owner's
  deadline has passed), renews the deadline every HEARTBEAT_SECONDS while it works, and gives the lease back
  when done. A process that dies stops renewing; LEASE_SECONDS after its last renewal another process takes
  the work over and resumes it from its checkpoint. Nothing is held by a connection or a lock of the database,
  so a host that vanishes holds nothing once its deadline has passed. On PostgreSQL the deadlines are read from
  the database's clock, the same for every host; on SQLite (one process) from the process's own.
* **The login throttle.** Failed logins are rows (the account name as typed, lower case, and the client's
  address) with their time, so five failures hold across processes; rows older than the window are pruned.
* **One process on SQLite.** ``serve`` holds an exclusive lock on a file beside an SQLite database for as long
  as it runs (the kernel lets it go when the process ends, however it ends): a second ``serve`` on the same
  file is refused with a clear message.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any, Callable

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from ..errors import ComplianceError
from ..i18n import msg
from . import settings
from .store import Store, metadata

log = logging.getLogger("compliance.service")
#: A lease not renewed for this long is taken over by another process; COMPLIANCE_LEASE_SECONDS sets it (a shorter
#: take-over, or a test), at least 3 s.
LEASE_SECONDS = settings.seconds("COMPLIANCE_LEASE_SECONDS", 30.0, least=3.0)
HEARTBEAT_SECONDS = LEASE_SECONDS / 3        # how often the holder renews it: two renewals may be missed
POLL_SECONDS = 5.0            # how often an idle process looks for work queued elsewhere or left by a dead holder

THROTTLE_LIMIT = 5            # failed logins to one account name within the window pause its logins
ADDRESS_LIMIT = 50            # failed logins from one address (any names) within the window pause its logins
THROTTLE_SECONDS = 300.0
_PRUNE_SECONDS = 60.0         # old failures are removed at most this often by a process

leases = Table(
    "leases", metadata,
    Column("kind", String(20), primary_key=True),          # batch, round…
    Column("work_id", String(64), primary_key=True),
    Column("owner", String(200)),                           # host:pid:random of the holder; null: nobody
    Column("claimed_at", DateTime(timezone=True)),
    Column("renewed_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("claims", Integer, nullable=False, server_default="0"),     # times claimed: 1, plus every take-over
)

login_failures = Table(
    "login_failures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),            # as typed, lower case, cut to 100 characters
    Column("address", String(64), nullable=False),          # the client's address ("" when unknown)
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_login_failures_name", "name", "at"),
    Index("ix_login_failures_address", "address", "at"),
    Index("ix_login_failures_at", "at"),
)


def process_id() -> str:
    """This process's name as a lease owner: the host, the process id and a random part (a pid is reused)."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{_RANDOM}"


_RANDOM = secrets.token_hex(4)


def _utc(value: Any) -> Any:
    return value.replace(tzinfo=timezone.utc) if isinstance(value, datetime) and value.tzinfo is None else value


class Leases:
    """Claim, renew and give back leases on work, for one process (``owner``)."""

    def __init__(self, store: Store, owner: str | None = None, seconds: float = LEASE_SECONDS) -> None:
        self.store, self.owner, self.seconds = store, owner or process_id(), seconds
        self.postgres = store.engine.dialect.name == "postgresql"

    def _now(self) -> Any:
        """Now, by the database's clock on PostgreSQL (one clock for every host), else this process's."""
        return func.now() if self.postgres else datetime.now(timezone.utc)

    def _deadline(self) -> Any:
        if self.postgres:
            return func.now() + timedelta(seconds=self.seconds)
        return datetime.now(timezone.utc) + timedelta(seconds=self.seconds)

    def claim(self, kind: str, work_id: str) -> bool:
        """Take the work if nobody holds it or its holder's deadline has passed: one atomic compare-and-set, so of
        processes claiming at once exactly one gets it. True when this process holds it now."""
        now = self._now()
        with self.store.engine.begin() as db:
            done = db.execute(leases.update().where(
                leases.c.kind == kind, leases.c.work_id == work_id,
                or_(leases.c.owner.is_(None), leases.c.expires_at < now)).values(
                owner=self.owner, claimed_at=now, renewed_at=now, expires_at=self._deadline(),
                claims=leases.c.claims + 1))
            if done.rowcount == 1:
                return True
        try:
            with self.store.engine.begin() as db:
                db.execute(leases.insert().values(kind=kind, work_id=work_id, owner=self.owner, claimed_at=now,
                                                  renewed_at=now, expires_at=self._deadline(), claims=1))
            return True
        except IntegrityError:          # held by another process (or claimed by one just now)
            return False

    def renew(self, kind: str, work_id: str) -> bool:
        """Push the deadline on; False when this process no longer holds the work (another took it over)."""
        with self.store.engine.begin() as db:
            done = db.execute(leases.update().where(
                leases.c.kind == kind, leases.c.work_id == work_id, leases.c.owner == self.owner).values(
                renewed_at=self._now(), expires_at=self._deadline()))
        return done.rowcount == 1

    def release(self, kind: str, work_id: str) -> None:
        """Give the work back (done, or stopped for another process to resume at once)."""
        with self.store.engine.begin() as db:
            db.execute(leases.update().where(
                leases.c.kind == kind, leases.c.work_id == work_id, leases.c.owner == self.owner).values(
                owner=None, expires_at=None))

    def leave(self, kind: str, work_id: str) -> None:
        """Stop the work unfinished (the service is stopping) for another process to take over at once: the lease
        keeps its holder, so the work is found among the abandoned (:func:`abandoned`), with its deadline passed."""
        past = (func.now() if self.postgres else datetime.now(timezone.utc)) - timedelta(seconds=1)
        with self.store.engine.begin() as db:
            db.execute(leases.update().where(
                leases.c.kind == kind, leases.c.work_id == work_id, leases.c.owner == self.owner).values(
                expires_at=past))

    def held(self, kind: str, work_id: str) -> tuple[str | None, datetime | None, int] | None:
        """(owner, deadline, times claimed) of the work's lease, or None when it was never claimed."""
        with self.store.engine.connect() as db:
            row = db.execute(select(leases.c.owner, leases.c.expires_at, leases.c.claims).where(
                leases.c.kind == kind, leases.c.work_id == work_id)).first()
        return None if row is None else (row.owner, _utc(row.expires_at), int(row.claims))


class Throttle:
    """Failed logins, in the database: THROTTLE_LIMIT failures to one account name, or ADDRESS_LIMIT from one
    address, within THROTTLE_SECONDS pause the logins of that name (or from that address) until they age out,
    in every process."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pruned = 0.0

    @staticmethod
    def _key(name: str) -> str:
        return name.strip().lower()[:100]

    def _since(self) -> datetime:
        return datetime.now(timezone.utc) - timedelta(seconds=THROTTLE_SECONDS)

    def blocked(self, name: str, address: str = "") -> bool:
        since = self._since()
        with self.store.engine.connect() as db:
            by_name = db.execute(select(func.count()).select_from(login_failures).where(
                login_failures.c.name == self._key(name), login_failures.c.at > since)).scalar_one()
            if by_name >= THROTTLE_LIMIT:
                return True
            if not address:
                return False
            by_address = db.execute(select(func.count()).select_from(login_failures).where(
                login_failures.c.address == address[:64], login_failures.c.at > since)).scalar_one()
        return bool(by_address >= ADDRESS_LIMIT)

    def failed(self, name: str, address: str = "") -> None:
        now = datetime.now(timezone.utc)
        with self.store.engine.begin() as db:
            if time.monotonic() - self._pruned > _PRUNE_SECONDS:
                db.execute(login_failures.delete().where(login_failures.c.at <= self._since()))
                self._pruned = time.monotonic()
            db.execute(login_failures.insert().values(name=self._key(name), address=address[:64], at=now))

    def forget(self, name: str) -> None:
        """A login that succeeded clears its name's failures (not its address's)."""
        with self.store.engine.begin() as db:
            db.execute(login_failures.delete().where(login_failures.c.name == self._key(name)))


def claimable(store: Store, kind: str, ids: list[str]) -> list[str]:
    """Of ``ids``, those nobody holds a live lease on (in the order given)."""
    if not ids:
        return []
    now = func.now() if store.engine.dialect.name == "postgresql" else datetime.now(timezone.utc)
    with store.engine.connect() as db:
        live = set(db.execute(select(leases.c.work_id).where(
            leases.c.kind == kind, leases.c.work_id.in_(ids), leases.c.owner.is_not(None),
            and_(leases.c.expires_at.is_not(None), leases.c.expires_at >= now))).scalars())
    return [i for i in ids if i not in live]


def abandoned(store: Store, kind: str, limit: int = 100) -> list[str]:
    """Work of ``kind`` left unfinished by its holder (it died, or stopped part-way): a lease with an owner whose
    deadline has passed. The longest abandoned first."""
    now = func.now() if store.engine.dialect.name == "postgresql" else datetime.now(timezone.utc)
    with store.engine.connect() as db:
        return list(db.execute(select(leases.c.work_id).where(
            leases.c.kind == kind, leases.c.owner.is_not(None), leases.c.expires_at < now)
            .order_by(leases.c.expires_at).limit(limit)).scalars())


class Heartbeat:
    """Renews a lease every HEARTBEAT_SECONDS while its work runs in a child process (``running()`` gives the one
    running now, if any). When the lease is lost (another process took it over after the database could not be
    reached for too long), it stops that child before the other process could start its own, and sets ``lost``:
    the holder then records nothing."""

    def __init__(self, leases: Leases, kind: str, work_id: str,
                 running: Callable[[], subprocess.Popen[bytes] | None]) -> None:
        self.leases, self.kind, self.work_id, self.running = leases, kind, work_id, running
        self.lost, self._done = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{kind}-{work_id[:8]}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        renewed = time.monotonic()
        while not self._done.wait(HEARTBEAT_SECONDS):
            try:
                held: bool | None = self.leases.renew(self.kind, self.work_id)
            except Exception as exc:  # noqa: BLE001 - the database away: try again, until the lease would end
                log.warning("%s %s: its lease could not be renewed: %s", self.kind, self.work_id, type(exc).__name__)
                held = None
            if held:
                renewed = time.monotonic()
            elif held is False or time.monotonic() - renewed > LEASE_SECONDS - HEARTBEAT_SECONDS:
                self.lost.set()
                process = self.running()
                if process is not None and process.poll() is None:
                    process.terminate()
                return


_LOCKS: dict[str, IO[bytes]] = {}


def only_process(store: Store) -> None:
    """On SQLite, make this the only service process on the database file, or refuse: an exclusive lock on a file
    beside it, held until this process ends (the kernel releases it however the process ends). Several processes
    need PostgreSQL. Nothing to do for other databases."""
    url = store.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    try:
        import fcntl
    except ImportError:                  # not a Unix: no such lock (the service is run on Linux)
        return

    database = Path(url.database).resolve()
    lock_path = database.with_name(database.name + ".serve-lock")
    if str(lock_path) in _LOCKS:
        return
    handle = open(lock_path, "ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ComplianceError(msg(
            "another service process is already running on this SQLite database: an SQLite database serves one "
            "process only; stop the other one, or run several processes on PostgreSQL (see the reference, "
            "running several processes)"), file=str(database)) from None
    handle.truncate(0)
    handle.write(f"{process_id()}\n".encode())
    handle.flush()
    _LOCKS[str(lock_path)] = handle
