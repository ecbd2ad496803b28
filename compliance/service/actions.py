"""Actions: the rectification ledger (整改台账), live in the service.

Every stored inspection opens an action per clause it finds ``fail``, ``partial`` or ``missing`` and not waived —
the ledger's own rule (:func:`compliance.batch.rectification.opens_item`) — in the very transaction that stores
the audit, so an audit is never stored without its actions. An action already live (``open`` or
``fixed_pending_review``) for the centre's clause under the same rule set is not opened twice: the new inspection
is an event on it (``found_again``), and it is ``open`` again if it was waiting for review.

States: ``open``; ``overdue`` (open past its due date, as of today in China: computed when read, never stored);
``fixed_pending_review`` (待复核: a later self-check passes the clause, or the community reports it fixed);
``closed`` (销号: only a later inspection that passes the clause, named as ``ended_by``); ``void`` (a later
inspection finds the clause no longer applies); ``waived`` (a later audit applies a waiver to the clause). The
due date is the ledger's: the assessment date plus 30 days for a veto clause, 90 for ``shall``, 180 for
``should``; the bureau may move it (``due_changed``).

Events are append-only (the database refuses to change or remove one); an action's row keeps its current state
and due date, and the database lets the row change only together with the event that says so.
"""
from __future__ import annotations

import datetime
import operator
import re
from typing import Any, Iterable, Mapping, Sequence

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from sqlalchemy import (Boolean, Column, DateTime, Float, Index, Integer, String, Table, Text, UniqueConstraint,
                        and_, bindparam, case, func, or_, select)
from sqlalchemy import column as sql_column, table as sql_table

from ..batch.rectification import due_after, ends_item, is_overdue, level_of, opens_item, shortfall_of
from ..i18n import Words, cmsg, language, msg, quote, text
from ..model import today_in_china
from . import auth
from .evidence import missing as evidence_missing, record_uses
from .common import Problem, read_body
from .store import Account, Store, metadata, new_id, plain_rows

LIVE = ("open", "fixed_pending_review")
ENDED = ("closed", "void", "waived")
STATES = ("overdue", "open", "fixed_pending_review", "closed", "void", "waived")
EVENT_KINDS = ("opened", "found_again", "self_check_passed", "self_check_short", "reported_fixed", "due_changed",
               "closed", "void", "waived")
PAGE = 100                    # actions a page of GET /v1/actions, unless ?limit= says (at most MAX_PAGE)
MAX_PAGE = 1000
NOTE_CHARS = 500
MAX_EVIDENCE = 20             # photos an event names
SHA256 = re.compile(r"^[0-9a-f]{64}$")

actions = Table(
    "actions", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),      # the order actions were opened in
    Column("id", String(32), nullable=False, unique=True),             # what the API names it by
    Column("centre_id", String(200), nullable=False),
    Column("centre_name", Text, nullable=False),
    Column("street", Text, nullable=False),
    Column("ruleset_id", String(200), nullable=False),
    Column("clause", String(100), nullable=False),
    Column("title", Text, nullable=False),
    Column("level", String(10), nullable=False),
    Column("veto", Boolean, nullable=False),
    Column("found", String(10), nullable=False),                       # fail | partial | missing, when opened
    Column("amount", Float),
    Column("unit", String(50)),
    Column("missing", Text),                                           # codes missing, joined by ";"
    Column("remedy", Text, nullable=False),
    Column("round", String(64)),                                       # the opening inspection's audit.round
    Column("opened_by", String(32), nullable=False),                   # the inspection that opened it
    Column("opened_on", String(10), nullable=False),                   # its assessment date (ISO)
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("due", String(10), nullable=False),                         # ISO date
    Column("state", String(24), nullable=False),                       # open | fixed_pending_review | closed | void | waived
    Column("ended_by", String(32)),                                    # the audit that closed, voided or waived it
    Column("recurred", Boolean, nullable=False),                       # opened after the clause had been closed
    Column("version", Integer, nullable=False),                        # its events so far
    Column("remedy_words", Text),                                      # JSON: remedy in each language, if known
    Index("ix_actions_centre", "centre_id", "ruleset_id", "clause"),
    Index("ix_actions_state_due", "state", "due"),
    Index("ix_actions_round", "round", "state"),
)

action_events = Table(
    "action_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("action_id", String(32), nullable=False),
    Column("version", Integer, nullable=False),                        # 1 for opened, then 2, 3, …
    Column("kind", String(24), nullable=False),
    Column("state", String(24), nullable=False),                       # the action's state after it
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(100), nullable=False),                         # the account
    Column("audit_id", String(32)),                                    # the audit that made it, if one did
    Column("note", Text),
    Column("evidence", Text),                                          # SHA-256 hashes, joined by ";"
    Column("due", String(10)),                                         # the new due date (due_changed), the first (opened)
    UniqueConstraint("action_id", "version", name="uq_action_events_version"),
)

STATE_LABELS = Words(overdue=cmsg("ledger state", "overdue"), open=cmsg("ledger state", "not rectified"),
                     fixed_pending_review=cmsg("ledger state", "awaiting review"),
                     closed=cmsg("ledger state", "closed"), void=cmsg("ledger state", "no longer applies"),
                     waived=cmsg("ledger state", "waived"))
EVENT_LABELS = Words(opened=cmsg("action event", "found by the inspection"),
                     found_again=cmsg("action event", "found short again by an inspection"),
                     self_check_passed=cmsg("action event", "met in the centre's self-check"),
                     self_check_short=cmsg("action event", "short again in the centre's self-check"),
                     reported_fixed=cmsg("action event", "reported fixed by the community"),
                     due_changed=cmsg("action event", "due date changed by the bureau"),
                     closed=cmsg("action event", "met at inspection: closed"),
                     void=cmsg("action event", "the clause no longer applies"),
                     waived=cmsg("action event", "waived by the bureau"))

_INSERT_EVENT = action_events.insert()
_UPDATE_ACTION = actions.update().where(actions.c.id == bindparam("b_id")).values(
    state=bindparam("b_state"), version=bindparam("b_version"), ended_by=bindparam("b_ended_by"))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _stamp(db: Any, when: datetime.datetime) -> Any:
    """A time as the driver stores it where SQLAlchemy would: UTC text on SQLite (as its DateTime keeps it)."""
    if db.dialect.name == "sqlite":
        return when.astimezone(datetime.timezone.utc).replace(tzinfo=None).isoformat(" ", "microseconds")
    return when




# --------------------------------------------------------------------------- opening and moving actions with audits

def _live_of(db: Any, centre_id: str, ruleset_id: str) -> tuple[dict[str, tuple[str, str, int, str]], set[str]]:
    """The centre's live actions under the rule set, clause → (id, state, version, opened on), and the clauses
    closed before."""
    rows = plain_rows(db, "SELECT id, clause, state, version, opened_on FROM actions WHERE centre_id = {0} AND "
                          "ruleset_id = {0} AND state IN ('open', 'fixed_pending_review', 'closed')",
                      (centre_id, ruleset_id))
    live: dict[str, tuple[str, str, int, str]] = {}
    closed: set[str] = set()
    for action_id, clause, state, version, opened_on in rows:
        if state == "closed":
            closed.add(clause)
        else:
            live[clause] = (action_id, state, version, str(opened_on))
    return live, closed


def record_audits(db: Any, stored: list[tuple[dict[str, Any], Mapping[str, Any]]]) -> None:
    """What stored audits do to the actions, in the transaction that stores them (the store's ``on_audits``, with
    each audit's row and its profile).

    An inspection opens an action per shortfall not waived (or records itself on the live one), closes a live one
    whose clause it finds ``pass``, voids one it finds ``not_applicable``; a self-check that passes a clause sets its
    open action ``fixed_pending_review``, and one that finds it short again sets it back to ``open``. Any audit
    that applies a waiver to a clause ends its live action ``waived``. An audit assessed before the day an action was
    opened (a late upload of an older sheet) leaves that action as it is."""
    new_actions: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    when = _now()
    now = _stamp(db, when)                             # for the rows written on the driver
    truth = int if db.dialect.name == "sqlite" else bool
    for audit, _ in stored:
        inspection = audit.get("kind") == "inspection"
        live, closed = _live_of(db, audit["centre_id"], audit["ruleset_id"])
        if not live and not inspection:
            continue                                   # a self-check with nothing to answer for: its result unread
        try:
            doc = orjson.loads(audit["result"])
            findings = doc["findings"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue
        by, audit_id = str(audit.get("submitted_by") or ""), audit["id"]

        def move(found: tuple[str, str, int, str], kind: str, state: str, ended: str | None = None) -> None:
            action_id, _, version, _ = found
            events.append({"action_id": action_id, "version": version + 1, "kind": kind, "state": state, "at": now,
                           "by": by, "audit_id": audit_id, "note": None, "evidence": None, "due": None})
            changes.append({"b_id": action_id, "b_state": state, "b_version": version + 1, "b_ended_by": ended})

        assessed = _assessed_on(doc)
        day = assessed.isoformat()
        for finding in findings:
            if not isinstance(finding, dict) or not isinstance(finding.get("clause"), str):
                continue
            clause, status = finding["clause"], finding.get("status")
            found = live.get(clause)
            if found is not None and day < found[3]:
                continue                               # assessed before the action was opened: it says nothing of it
            if found is not None and finding.get("waiver") and status in ("fail", "partial", "missing"):
                move(found, "waived", "waived", audit_id)
            elif inspection:
                ending = ends_item(status)
                if found is not None and ending is not None:
                    move(found, ending, ending, audit_id)
                elif found is not None and opens_item(finding):
                    move(found, "found_again", "open")
                elif found is None and opens_item(finding):
                    new_actions.append(_action(audit, doc, finding, assessed, now, clause in closed, truth))
                    events.append({"action_id": new_actions[-1]["id"], "version": 1, "kind": "opened",
                                   "state": "open", "at": now, "by": by, "audit_id": audit_id, "note": None,
                                   "evidence": None, "due": new_actions[-1]["due"]})
            elif found is not None:
                if status == "pass" and found[1] == "open":
                    move(found, "self_check_passed", "fixed_pending_review")
                elif opens_item(finding) and found[1] == "fixed_pending_review":
                    move(found, "self_check_short", "open")
    if events:                                         # the events first: the database checks the rows against them
        _insert_many(db, action_events, events)
    if new_actions:
        _insert_many(db, actions, new_actions)
    if changes:
        db.execute(_UPDATE_ACTION, changes)


_SQL: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}


def _insert_many(db: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows inserted on the connection's own driver, in the transaction: on every stored inspection, where
    SQLAlchemy's handling of each value costs more than the insert. The rows' values are as the driver takes them
    (:func:`_stamp`, :func:`_truth`)."""
    dialect = db.dialect.name
    found = _SQL.get((dialect, table.name))
    if found is None:
        names = tuple(c.name for c in table.columns if c.name != "seq")
        mark = "?" if db.dialect.paramstyle == "qmark" else "%s"
        found = _SQL[dialect, table.name] = (
            f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})", names)
    sql, names = found
    params = list(map(operator.itemgetter(*names), rows))
    cursor = db.connection.cursor()
    try:
        cursor.executemany(sql, params)
    finally:
        cursor.close()


def _assessed_on(doc: Mapping[str, Any]) -> datetime.date:
    """The day the audit's findings count from: the centre's assessment date, else today in China."""
    centre = doc.get("center")
    value = centre.get("assessed_on") if isinstance(centre, dict) else None
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    return today_in_china()


def _action(audit: Mapping[str, Any], doc: Mapping[str, Any], finding: Mapping[str, Any],
            opened_on: datetime.date, now: Any, recurred: bool, truth: Any) -> dict[str, Any]:
    """A new action's row, its values as the driver takes them (``now`` already so; ``truth`` makes a bool so)."""
    amount, unit, missing = shortfall_of(finding)
    block = doc.get("audit")
    named = block.get("round") if isinstance(block, dict) else None
    title, remedy = finding.get("title"), finding.get("message")
    return {"id": new_id(), "centre_id": audit["centre_id"], "centre_name": audit["centre_name"],
            "street": audit["street"], "ruleset_id": audit["ruleset_id"], "clause": finding["clause"],
            "title": title if isinstance(title, str) else "", "level": level_of(finding),
            "veto": truth(finding.get("veto") is True), "found": str(finding.get("status")), "amount": amount, "unit": unit,
            "missing": ";".join(missing) or None, "remedy": remedy if isinstance(remedy, str) else "",
            "remedy_words": _words_of(audit, finding["clause"]),
            "round": named[:64] if isinstance(named, str) and named.strip() else None, "opened_by": audit["id"],
            "opened_on": opened_on.isoformat(), "opened_at": now,
            "due": due_after(opened_on, finding).isoformat(), "state": "open", "ended_by": None,
            "recurred": truth(recurred), "version": 1}


def _words_of(audit: Mapping[str, Any], clause: str) -> str | None:
    found = (audit.get("remedies") or {}).get(clause)
    return orjson.dumps(found).decode() if isinstance(found, dict) and found else None


# --------------------------------------------------------------------------- reading

def remedy_of(row: Any, lang: str | None = None) -> str:
    """An action's rectification requirement in ``lang`` (the language in force): as kept in both languages when
    the inspection that opened it was stored by the service, else as it was worded then."""
    if getattr(row, "remedy_words", None):
        try:
            found = orjson.loads(row.remedy_words).get(lang or language())
        except (orjson.JSONDecodeError, AttributeError):
            found = None
        if isinstance(found, str) and found:
            return found
    return str(row.remedy)


def state_of(row: Any, today: datetime.date | None = None) -> str:
    """An action's state as shown: ``overdue`` for an open one past its due date (as of today in China)."""
    if row.state == "open" and is_overdue(row.due, today or today_in_china()):
        return "overdue"
    return str(row.state)


def _where_state(state: str, today: str) -> Any:
    if state == "overdue":
        return and_(actions.c.state == "open", actions.c.due < today)
    if state == "open":
        return and_(actions.c.state == "open", actions.c.due >= today)
    return actions.c.state == state


def _rank(today: str) -> Any:
    """overdue, open, waiting for review, then the ended ones."""
    return case((and_(actions.c.state == "open", actions.c.due < today), 0), (actions.c.state == "open", 1),
                (actions.c.state == "fixed_pending_review", 2), (actions.c.state == "closed", 3),
                (actions.c.state == "waived", 4), else_=5)


def list_actions(store: Store, account: Account, *, centre: str | None = None, states: Sequence[str] = (),
                 street: str | None = None, round: str | None = None, limit: int = PAGE, offset: int = 0,
                 live_only: bool = False) -> tuple[list[Any], int]:
    """The actions the account may read, filtered, overdue first (then open, waiting for review, closed, waived,
    void; then due date, centre and clause): (a page of rows, how many there are in all)."""
    today = today_in_china().isoformat()
    conditions: list[Any] = []
    if account.role == "community":
        conditions.append(actions.c.centre_id == (account.centre_id or ""))
    if centre:
        conditions.append(actions.c.centre_id == centre)
    if street:
        conditions.append(actions.c.street == street)
    if round:
        conditions.append(actions.c.round == round)
    if states:
        conditions.append(or_(*(_where_state(s, today) for s in states)))
    if live_only:
        conditions.append(actions.c.state.in_(LIVE))
    query = select(actions).where(*conditions)
    with store.engine.connect() as db:
        total = int(db.execute(select(func.count()).select_from(actions).where(*conditions)).scalar_one())
        rows = list(db.execute(query.order_by(_rank(today), actions.c.due, actions.c.centre_id, actions.c.clause,
                                              actions.c.seq).limit(limit).offset(offset)))
    return rows, total


def readable_action(store: Store, account: Account, action_id: str) -> tuple[Any, list[Any]]:
    """The action and its events, oldest first; 404 when there is none or it is another centre's."""
    with store.engine.connect() as db:
        row = db.execute(select(actions).where(actions.c.id == action_id)).first()
        if row is None or not auth.may_read(account, row.centre_id):
            raise Problem(404, msg("No such action"))
        events = list(db.execute(select(action_events).where(action_events.c.action_id == action_id)
                                 .order_by(action_events.c.version)))
    return row, events


def action_document(row: Any, events: Iterable[Any] | None = None, today: datetime.date | None = None
                    ) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": row.id, "centre": {"id": row.centre_id, "name": row.centre_name, "street": row.street},
        "ruleset": row.ruleset_id, "clause": row.clause, "title": row.title, "level": row.level,
        "veto": bool(row.veto), "found": row.found,
        "shortfall": {"amount": row.amount, "unit": row.unit,
                      "missing": [m for m in (row.missing or "").split(";") if m]},
        "remedy": remedy_of(row), "round": row.round, "opened_by": row.opened_by, "opened_on": row.opened_on,
        "due": row.due, "state": state_of(row, today), "ended_by": row.ended_by, "recurred": bool(row.recurred)}
    if events is not None:
        doc["events"] = [event_document(e) for e in events]
    return doc


def event_document(event: Any) -> dict[str, Any]:
    at = event.at if event.at.tzinfo else event.at.replace(tzinfo=datetime.timezone.utc)
    return {"kind": event.kind, "state": event.state, "at": at.isoformat(), "by": event.by,
            "audit": event.audit_id, "note": event.note, "due": event.due,
            "evidence": [h for h in (event.evidence or "").split(";") if h]}


# --------------------------------------------------------------------------- appending an event by hand

def append_event(store: Store, account: Account, action_id: str, body: Any) -> tuple[Any, list[Any]]:
    """Append ``reported_fixed`` (the centre's community account) or ``due_changed`` (a bureau account) to the
    action, checked, with the row's state or due date changed in the same transaction. Problems: 404 for an action
    the account may not read, 403 for an event its role may not append, 409 for an action already ended, 422 for
    a body that is not valid (located)."""
    row, _ = readable_action(store, account, action_id)
    if not isinstance(body, dict):
        raise Problem(422, msg("The request is not valid"), problems=[
            {"path": "$", "message": msg("the body must be a JSON object with a {key}", key=quote("kind"))}])
    kind = body.get("kind")
    problems: list[dict[str, Any]] = []
    if kind not in ("reported_fixed", "due_changed"):
        raise Problem(422, msg("The request is not valid"), problems=[
            {"path": "$.kind", "message": msg("the kind must be {kinds}", kinds=[quote("reported_fixed"),
                                                                               quote("due_changed")])}])
    if kind == "reported_fixed" and not (account.role == "community" and account.centre_id == row.centre_id):
        raise Problem(403, msg("Only the centre reports an action fixed"),
                      msg("a fix is reported by the community account of the centre {id}", id=quote(row.centre_id)))
    if kind == "due_changed" and account.role != "bureau":
        raise Problem(403, msg("Only the bureau changes a due date"))
    for key in body:
        if key not in ("kind", "note", "evidence", "due"):
            problems.append({"path": f"$.{key}"[:200], "message": msg("this key is not known here")})
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        problems.append({"path": "$.note", "message": msg("the note must be text")})
        note = None
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_CHARS:
        problems.append({"path": "$.note", "message": msg("the note is longer than {chars} characters",
                                                          chars=NOTE_CHARS)})
    evidence: list[str] = []
    due: str | None = None
    if kind == "reported_fixed":
        listed = body.get("evidence", [])
        if not isinstance(listed, list):
            problems.append({"path": "$.evidence", "message": msg("the evidence must be a list of SHA-256 hashes")})
            listed = []
        if len(listed) > MAX_EVIDENCE:
            problems.append({"path": "$.evidence", "message": msg("at most {count} files", count=MAX_EVIDENCE)})
            listed = listed[:MAX_EVIDENCE]
        named = {v.lower() for v in listed if isinstance(v, str) and SHA256.match(v.lower())}
        unknown = evidence_missing(store, account, named)      # not held, or (a community's) not its own to name
        for i, value in enumerate(listed):
            path = f"$.evidence[{i}]"
            if not isinstance(value, str) or not SHA256.match(value.lower()):
                problems.append({"path": path, "message": msg("is not a SHA-256 hash (64 hexadecimal digits)")})
            elif value.lower() in unknown:
                problems.append({"path": path, "message": msg("the service holds no evidence with the hash {hash}",
                                                              hash=quote(value.lower()))})
            elif value.lower() not in evidence:
                evidence.append(value.lower())
        if not evidence and note is None and not problems:
            problems.append({"path": "$", "message": msg("say what was done: a note, photos, or both")})
    else:
        if "evidence" in body:
            problems.append({"path": "$.evidence", "message": msg("a due date change names no evidence")})
        value = body.get("due")
        try:
            if not isinstance(value, str):
                raise ValueError
            day = datetime.date.fromisoformat(value)
            if len(value) != 10:
                raise ValueError
        except ValueError:
            problems.append({"path": "$.due", "message": msg("the due date must be a date such as {example}",
                                                             example="2027-03-31")})
        else:
            if day.isoformat() < row.opened_on:
                problems.append({"path": "$.due", "message": msg(
                    "the due date cannot be before the day the action was opened ({date})", date=row.opened_on)})
            due = day.isoformat()
        if note is None:
            problems.append({"path": "$.note", "message": msg("say why the due date changes")})
    if problems:
        raise Problem(422, msg("The request is not valid"), problems=problems)
    _append(store, account, row.id, str(kind), note, evidence, due)
    return readable_action(store, account, row.id)


def _append(store: Store, account: Account, action_id: str, kind: str, note: str | None, evidence: list[str],
            due: str | None) -> None:
    with store.writing() as db:                      # one writer at a time, as audits (and their actions) are
        row = db.execute(select(actions).where(actions.c.id == action_id)).first()
        assert row is not None                         # actions are never removed
        if row.state in ENDED:
            raise Problem(409, msg("The action has ended"), msg("it is {state}: nothing more is added to it",
                                                              state=STATE_LABELS[row.state]))
        state = "fixed_pending_review" if kind == "reported_fixed" else row.state
        version = row.version + 1
        db.execute(_INSERT_EVENT, {"action_id": action_id, "version": version, "kind": kind, "state": state,
                                   "at": _now(), "by": account.name, "audit_id": None, "note": note,
                                   "evidence": ";".join(evidence) or None, "due": due})
        if evidence:              # the photos read, as those an audit names, by the centre and the bureau
            record_uses(db, [({"id": row.opened_by, "centre_id": row.centre_id},
                              {"evidence": {row.clause: [{"sha256": h} for h in evidence]}})])
        values: dict[str, Any] = {"state": state, "version": version}
        if due is not None:
            values["due"] = due
        done = db.execute(actions.update().where(actions.c.id == action_id, actions.c.version == row.version)
                          .values(**values))
        if done.rowcount != 1:
            raise Problem(409, msg("The action changed meanwhile"), msg("load it again and send the change again"))


# --------------------------------------------------------------------------- the API

ACTION_SCHEMA = {
    "type": "object",
    "required": ["id", "centre", "ruleset", "clause", "title", "level", "veto", "found", "remedy", "opened_by",
                 "opened_on", "due", "state", "recurred"],
    "properties": {
        "id": {"type": "string"},
        "centre": {"type": "object", "required": ["id", "name", "street"], "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "street": {"type": "string"}}},
        "ruleset": {"type": "string"}, "clause": {"type": "string"}, "title": {"type": "string"},
        "level": {"enum": ["shall", "should"]}, "veto": {"type": "boolean"},
        "found": {"enum": ["fail", "partial", "missing"]},
        "shortfall": {"type": "object", "properties": {"amount": {"type": ["number", "null"]},
                                                       "unit": {"type": ["string", "null"]},
                                                       "missing": {"type": "array", "items": {"type": "string"}}}},
        "remedy": {"type": "string"}, "round": {"type": ["string", "null"]},
        "opened_by": {"type": "string", "description": "the inspection that opened it"},
        "opened_on": {"type": "string", "format": "date"}, "due": {"type": "string", "format": "date"},
        "state": {"enum": list(STATES)},
        "ended_by": {"type": ["string", "null"], "description": "the audit that closed, voided or waived it"},
        "recurred": {"type": "boolean"},
        "events": {"type": "array", "items": {"$ref": "#/components/schemas/ActionEvent"}},
    },
}
EVENT_SCHEMA = {
    "type": "object", "required": ["kind", "state", "at", "by", "evidence"],
    "properties": {
        "kind": {"enum": list(EVENT_KINDS)}, "state": {"enum": ["open", "fixed_pending_review", *ENDED]},
        "at": {"type": "string", "format": "date-time"}, "by": {"type": "string"},
        "audit": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]},
        "due": {"type": ["string", "null"]},
        "evidence": {"type": "array", "items": {"type": "string"}},
    },
}
NEW_EVENT_SCHEMA = {
    "type": "object", "required": ["kind"],
    "properties": {
        "kind": {"enum": ["reported_fixed", "due_changed"]},
        "note": {"type": "string", "maxLength": NOTE_CHARS},
        "evidence": {"type": "array", "maxItems": MAX_EVIDENCE, "items": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
        "due": {"type": "string", "format": "date"},
    },
}
LIST_SCHEMA = {
    "type": "object", "required": ["actions", "total", "next"],
    "properties": {"actions": {"type": "array", "items": {"$ref": "#/components/schemas/Action"}},
                   "total": {"type": "integer"}, "next": {"type": ["string", "null"]}},
}


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json", headers=headers)


def install(app: FastAPI, store: Store, current_account: Any, error_responses: Any, pages: Any) -> None:
    """The actions' routes and page, and their opening with every audit stored: ``current_account`` is the API's
    dependency for the bearer's account, ``error_responses`` describes problem answers in the OpenAPI document."""
    from fastapi import Depends

    if record_audits not in store.on_audits:
        store.on_audits.append(record_audits)
    install_pages(app, store, pages)
    errors = error_responses
    one = {"application/json": {"schema": {"$ref": "#/components/schemas/Action"}}}

    @app.get("/v1/actions", tags=["actions"], summary="The rectification ledger: actions, overdue first",
             description="A community account sees its own centre's only. Paged: `limit` (at most 1000) from "
                         "`offset`; `next` is the next page's address, null on the last.",
             responses={200: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActionList"}}}},
                        **errors(401, 422)})
    def get_actions(request: Request, centre: str | None = Query(None, max_length=200),
                    state: list[str] = Query([], description="one or more of " + ", ".join(STATES),
                                             json_schema_extra={"items": {"enum": list(STATES)}}),
                    street: str | None = Query(None, max_length=200), round: str | None = Query(None, max_length=64),
                    limit: int = Query(PAGE, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=10_000_000),
                    account: Account = Depends(current_account)) -> Response:
        for i, s in enumerate(state):
            if s not in STATES:
                raise Problem(422, msg("The request is not valid"), problems=[{"path": f"$.state[{i}]", "message": msg(
                    "the state must be one of {states}", states=[quote(x) for x in STATES])}])
        rows, total = list_actions(store, account, centre=centre, states=state, street=street, round=round,
                                   limit=limit, offset=offset)
        today = today_in_china()
        nxt = None
        if offset + len(rows) < total:
            from urllib.parse import urlencode
            query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit")]
            nxt = "/v1/actions?" + urlencode(query + [("limit", str(limit)), ("offset", str(offset + len(rows)))])
        return _json({"actions": [action_document(r, today=today) for r in rows], "total": total, "next": nxt})

    @app.get("/v1/actions/{action_id}", tags=["actions"], summary="One action with its events, oldest first",
             responses={200: {"content": one}, **errors(401, 404)})
    def get_action(action_id: str, account: Account = Depends(current_account)) -> Response:
        row, events = readable_action(store, account, action_id)
        return _json(action_document(row, events))

    @app.post("/v1/actions/{action_id}/events", status_code=201, tags=["actions"],
              summary="Report an action fixed (the centre's community) or change its due date (the bureau)",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/NewActionEvent"}}}}},
              responses={201: {"description": "The action with the event appended", "content": one},
                         **errors(400, 401, 403, 404, 408, 413, 422), 409: {
                             "description": "The action has ended (closed, void or waived)",
                             "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}})
    async def post_event(request: Request, action_id: str, account: Account = Depends(current_account)) -> Response:
        readable_action(store, account, action_id)     # another centre's action: 404 before its body is read
        raw = await read_body(request, 64 << 10)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Problem(422, msg("The request is not valid"), problems=[
                {"path": "$", "message": msg("the body is not a JSON document")}]) from None
        row, events = append_event(store, account, action_id, body)
        return _json(action_document(row, events), 201, headers={"Location": f"/v1/actions/{row.id}"})


def openapi_schemas() -> dict[str, Any]:
    return {"Action": ACTION_SCHEMA, "ActionEvent": EVENT_SCHEMA, "NewActionEvent": NEW_EVENT_SCHEMA,
            "ActionList": LIST_SCHEMA}


# --------------------------------------------------------------------------- the 整改 page

_ROUNDS = sql_table("rounds", sql_column("id"), sql_column("name"))      # rounds.py's table, read for the names
WEB_PAGE = 50                 # actions a page
PHOTOS = 5                    # photos a report of a fix carries from the page
PHOTO_BYTES = 10 << 20        # each at most 10 MiB, as evidence


def keep_photo(request: Request, account: Account, data: bytes) -> str:
    """A photo from the page kept by the service's evidence store (``app.state.evidence``, the store behind POST
    /v1/evidence, with its checks): its SHA-256. A file that is not a JPEG or PNG photo that decodes is 415."""
    from .. import evidence as library

    files = getattr(request.app.state, "evidence", None)
    kind = library.media_type(data)
    if kind not in ("image/jpeg", "image/png"):
        raise Problem(415, msg("This kind of file is not supported"), msg("a photo is a JPEG or PNG image"))
    check = getattr(library, "check_content", None)
    if check is not None and check(data, kind, quote("photo")) is not None:
        raise Problem(415, msg("This kind of file is not supported"), msg("a photo is a JPEG or PNG image"))
    if files is None:
        raise Problem(503, msg("Photos cannot be kept yet"), msg("the service keeps no evidence files"))
    return str(files.keep(data, kind, account).sha256)


async def _posted_report(request: Request) -> Any:
    """The page's form with its photos, within the size of five photos and the upload deadline."""
    from .common import UPLOAD_SECONDS, capped_form

    # More files than kept are read (small ones fit the size), so that too many photos get a sentence at the card
    # instead of the form parser's bare refusal.
    return await capped_form(request, PHOTOS * PHOTO_BYTES + (64 << 10), UPLOAD_SECONDS, max_files=4 * PHOTOS,
                             max_fields=10)


def _clause_title(ruleset_id: str, clause: str, lang: str) -> str | None:
    """A clause's title in the reader's language, from the bundled rule set (an action keeps it as it was worded
    for the inspection that opened it)."""
    from .common import bundled, load_bundled

    if ruleset_id not in bundled():
        return None
    found = next((c for c in load_bundled(ruleset_id).clauses if c.clause == clause), None)
    return None if found is None else str(found.title[lang])


def install_pages(app: FastAPI, store: Store, web: Any) -> None:
    """The 整改 pages; ``web`` is the pages' module (its ``page``, ``account_of``, ``check_csrf``), handed in by the
    application so that the pages may read the actions (the dashboard does) without an import circle."""
    from fastapi.responses import RedirectResponse
    from starlette.datastructures import UploadFile

    from ..wording import LEVEL_LABELS, STATUS_LABELS

    def page_of(request: Request, account: Account, *, state: str, street: str, centre: str, number: int,
                error: str = "", failed: str = "", status: int = 200, note: str = "") -> Response:
        wanted = [state] if state in STATES else []
        rows, total = list_actions(store, account, centre=centre or None, states=wanted, street=street or None,
                                   limit=WEB_PAGE, offset=(number - 1) * WEB_PAGE,
                                   live_only=account.role == "community" and not wanted)
        today = today_in_china()
        with store.engine.connect() as db:
            ids = [r.id for r in rows]
            events: dict[str, list[Any]] = {i: [] for i in ids}
            if ids:
                for e in db.execute(select(action_events).where(action_events.c.action_id.in_(ids))
                                    .order_by(action_events.c.action_id, action_events.c.version)):
                    events[e.action_id].append(e)
            # The counts of the list as filtered (its centre, its street), the state apart: each count a link to it.
            mine = [actions.c.centre_id == account.centre_id] if account.role == "community" else []
            if centre and account.role != "community":
                mine.append(actions.c.centre_id == centre)
            if street and account.role != "community":
                mine.append(actions.c.street == street)
            counts: dict[str, int] = {str(k): int(v) for k, v in db.execute(
                select(actions.c.state, func.count()).where(*mine).group_by(actions.c.state)).tuples()}
            counts["overdue"] = int(db.execute(select(func.count()).select_from(actions).where(
                *mine, _where_state("overdue", today.isoformat()))).scalar_one())
            counts["open"] = counts.get("open", 0) - counts["overdue"]
            streets = [] if account.role == "community" else sorted(
                s for s in db.execute(select(actions.c.street).distinct()).scalars() if s)
            named = sorted({r.round for r in rows if r.round})
            # The rounds' names, as the bureau gave them (the rounds' own table, made by migration 0010).
            round_names: dict[str, str] = {str(i): str(n) for i, n in db.execute(
                select(_ROUNDS.c.id, _ROUNDS.c.name).where(_ROUNDS.c.id.in_(named)))} if named else {}
        lang_states = STATE_LABELS.of()
        items = [{"row": r, "state": state_of(r, today), "events": events[r.id], "live": r.state in LIVE,
                  "title": _clause_title(r.ruleset_id, r.clause, language()) or r.title, "remedy": remedy_of(r)}
                 for r in rows]
        pages = max(1, -(-total // WEB_PAGE))
        shown: Response = web.page(request, "actions.html.j2", status=status, me=account, items=items, total=total,
                                   number=number, pages=pages, counts=counts, streets=streets, state=state, street=street,
                                   centre=centre, states=lang_states, state_keys=STATES, event_names=EVENT_LABELS.of(),
                                   status_names={k.value: v.text() for k, v in STATUS_LABELS.items()},
                                   level_names={k.value: v.text() for k, v in LEVEL_LABELS.items()},
                                   photos=getattr(request.app.state, "evidence", None) is not None,
                                   error=error, failed=failed, note=note, today=today.isoformat(),
                                   round_names=round_names)
        return shown

    @app.get("/actions", include_in_schema=False)
    def actions_page(request: Request, state: str = "", street: str = "", centre: str = "", page: str = "1") -> Response:
        account = web.account_of(request, store)
        number = int(page) if page.strip().isdigit() and len(page.strip()) < 8 else 1    # a mistyped page: the first
        return page_of(request, account, state=state, street=street[:200], centre=centre[:200],
                       number=max(1, min(number, 1_000_000)))

    @app.post("/actions/{action_id}/events", include_in_schema=False)
    async def report(request: Request, action_id: str) -> Response:
        account = web.account_of(request, store)
        readable_action(store, account, action_id)
        form = await _posted_report(request)
        web.check_csrf(request, form)
        kind = str(form.get("kind", ""))
        body: dict[str, Any] = {"kind": kind, "note": str(form.get("note", ""))}
        if kind == "reported_fixed":
            hashes = []
            chosen = [u for u in form.getlist("photos") if isinstance(u, UploadFile) and u.filename]
            if len(chosen) > PHOTOS:
                return page_of(request, account, state="", street="", centre="", number=1, status=422,
                               failed=action_id, note=str(form.get("note", "")),
                               error=text(msg("at most {limit} photos: {count} were chosen", limit=PHOTOS,
                                              count=len(chosen))))
            for upload in chosen:
                if isinstance(upload, UploadFile) and upload.filename:
                    data = await upload.read(PHOTO_BYTES + 1)
                    if len(data) > PHOTO_BYTES:
                        raise Problem(413, msg("The file is too large"), msg("a photo is at most {limit:,} bytes",
                                                                            limit=PHOTO_BYTES))
                    if data:
                        hashes.append(keep_photo(request, account, data))
            body["evidence"] = hashes
        elif kind == "due_changed":
            body["due"] = str(form.get("due", ""))
        try:
            append_event(store, account, action_id, body)
        except Problem as problem:
            if problem.status != 422:
                raise
            words = "；".join(str(p["message"].text() if hasattr(p["message"], "text") else p["message"])
                             for p in problem.problems or [])
            return page_of(request, account, state="", street="", centre="", number=1, error=words,
                           failed=action_id, status=422, note=str(form.get("note", "")))
        return RedirectResponse(f"/actions#a-{action_id}", status_code=303)
