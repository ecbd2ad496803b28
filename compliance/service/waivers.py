"""Waivers (豁免) granted in the service, as the database keeps them (the routes are in :mod:`.waiver_routes`).

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
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Column, Date, DateTime, Index, Integer, String, Table, Text, select
from sqlalchemy.exc import IntegrityError

from ..model import RuleSet, today_in_china
from ..waivers import Waiver, Waivers
from .store import Store, metadata, plain_rows

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


_FOR_ONE_CENTRE = ("SELECT w.centre_id, w.clause, w.reason, w.approved_by, w.approved_on, w.expires_on "
                   "FROM waivers w LEFT OUTER JOIN waiver_revocations r ON r.waiver_id = w.id "
                   "WHERE r.waiver_id IS NULL AND w.centre_id = {0} ORDER BY w.seq")


class _Row(NamedTuple):
    centre_id: str
    clause: str
    reason: str
    approved_by: str
    approved_on: datetime.date
    expires_on: datetime.date


def _day(value: Any) -> datetime.date:
    """A Date column's value as the driver gives it: a date (PostgreSQL) or its ISO text (SQLite)."""
    return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value))


_FOR_CENTRE = select(waivers.c.centre_id, waivers.c.clause, waivers.c.reason, waivers.c.approved_by,
                     waivers.c.approved_on, waivers.c.expires_on).select_from(_JOINED).where(
    waiver_revocations.c.waiver_id.is_(None)).order_by(waivers.c.seq)


def waivers_for(store: Store, centre_id: str, rules: RuleSet) -> Waivers | None:
    """The waivers in force for one centre (granted, not revoked), as ``--waivers`` would give them to the evaluator
    for this rule set; None when there are none. The evaluator applies one only when it covers the assessment day."""
    # On the driver, as the store reads a centre's latest audit: this runs before every audit stored, and
    # SQLAlchemy's statement machinery cost several times the query (a seventh of the audit route's time).
    with store.engine.connect() as db:
        rows = plain_rows(db, _FOR_ONE_CENTRE, (centre_id,))
    return _in_force((_Row(c, k, r, a, _day(on), _day(ex)) for c, k, r, a, on, ex in rows), rules)


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


