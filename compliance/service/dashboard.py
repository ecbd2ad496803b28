"""The bureau's dashboard at a province's size: every centre's latest audit, a page of 50 at a time, filtered.

"Every centre's latest audit" grouped out of 100,000 audits on every page view costs more than a page may, and the
round an audit belongs to is only in its result document (the audits table is append-only: a column added now
could never be filled in for the audits already stored). So the store keeps a small table, ``dashboard_latest``,
written in the same transaction as each audit it stores: for each rule set, each centre's latest audit, its latest
of each kind, its latest in its round and its latest of each kind in its round. The dashboard reads a page of it
by its primary key and joins the 50 audits it shows; the filters' choices and counts come from it too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import orjson
from sqlalchemy import Column, Index, MetaData, String, Table, Text, case, false, func, inspect, select

from .store import AuditRow, Store, _SUMMARY, _row, audits, metadata

PAGE_SIZE = 50                    # centres a page
ANY = ""                          # the round or kind of the rows that stand for any round, any kind
ROUND_LENGTH = 64                 # an audit.round is a free text id of at most 64 characters
OPEN_STATES = ("open", "overdue", "fixed_pending_review")      # an action not yet closed, void or waived

latest = Table(
    "dashboard_latest", metadata,
    Column("ruleset_id", String(200), primary_key=True),
    Column("round", String(ROUND_LENGTH), primary_key=True),     # "" any round
    Column("kind", String(20), primary_key=True),                # "" any kind
    Column("centre_id", String(200), primary_key=True),
    Column("audit_id", String(32), nullable=False),
    Column("centre_name", Text, nullable=False),
    Column("street", Text, nullable=False),
    Column("grade", String(50), nullable=False),
    Column("verdict", String(20), nullable=False),
    Index("ix_dashboard_latest_street", "ruleset_id", "round", "kind", "street", "grade", "centre_id"),
    Index("ix_dashboard_latest_grade", "ruleset_id", "round", "kind", "grade", "centre_id"),
    Index("ix_dashboard_latest_verdict", "ruleset_id", "round", "kind", "verdict", "centre_id"),
    Index("ix_dashboard_latest_centres", "round", "kind", "centre_id"),
    sqlite_with_rowid=False,             # on SQLite the rows themselves in key order: a page is one range read
)

_COLUMNS = ("ruleset_id", "round", "kind", "centre_id", "audit_id", "centre_name", "street", "grade", "verdict")


def round_of(document: Mapping[str, Any]) -> str:
    """The round a profile or result document names in ``audit.round`` ("" none)."""
    block = document.get("audit")
    value = block.get("round") if isinstance(block, Mapping) else None
    return value.strip()[:ROUND_LENGTH] if isinstance(value, str) else ""


def entries(audit: Mapping[str, Any], round_id: str) -> list[tuple[str, ...]]:
    """The rows an audit (a dict of the audits table's columns) is the latest for: any and its kind, in any round
    and, when it names one, in its round."""
    kind = audit.get("kind") or "self_check"
    rows: list[tuple[str, ...]] = []
    for r in (ANY, round_id) if round_id else (ANY,):
        for k in (ANY, kind):
            rows.append((audit["ruleset_id"], r, k, audit["centre_id"], audit["id"], audit["centre_name"],
                         audit["street"], audit["grade"], audit["verdict"]))
    return rows


def record(db: Any, stored: Iterable[tuple[Mapping[str, Any], str]]) -> None:
    """Make the audits just stored (each with its round), in the order stored, the latest of their centres: inside
    the transaction that stored them, which holds the store's write lock, so the last written is the newest."""
    rows: dict[tuple[str, ...], tuple[str, ...]] = {}
    for audit, round_id in stored:
        for row in entries(audit, round_id):
            rows[row[:4]] = row                       # a centre twice in one batch of audits: the later one
    if not rows:
        return
    mark = "?" if db.dialect.paramstyle == "qmark" else "%s"
    sql = ("INSERT INTO dashboard_latest ({0}) VALUES ({1}) ON CONFLICT (ruleset_id, round, kind, centre_id) "
           "DO UPDATE SET audit_id = excluded.audit_id, centre_name = excluded.centre_name, "
           "street = excluded.street, grade = excluded.grade, verdict = excluded.verdict").format(", ".join(_COLUMNS), ", ".join([mark] * len(_COLUMNS)))
    cursor = db.connection.cursor()            # the driver's own executemany: this runs with every audit stored
    try:
        cursor.executemany(sql, list(rows.values()))
    finally:
        cursor.close()


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Filters:
    rules: str
    centre: str = ""             # a centre's id (its beginning) or a part of its name
    round: str = ""
    kind: str = ""
    street: str = ""
    grade: str = ""
    verdict: str = ""
    open_actions: bool = False


@dataclass(frozen=True)
class Page:
    rows: list[AuditRow]
    number: int              # 1-based, within 1..pages
    pages: int               # at least 1
    matching: int            # centres matching every filter
    first: int               # the ordinal of the page's first centre (0 when none)
    open_actions: dict[str, int]     # the shown centres' actions not yet closed, by centre (empty: no actions table)


def _where(f: Filters, actions: Table | None) -> list[Any]:
    where = [latest.c.ruleset_id == f.rules, latest.c.round == f.round, latest.c.kind == f.kind]
    for column, value in ((latest.c.street, f.street), (latest.c.grade, f.grade), (latest.c.verdict, f.verdict)):
        if value:
            where.append(column == value)
    if f.centre:                    # a centre's id by its beginning, or its name by any part
        where.append(latest.c.centre_id.startswith(f.centre, autoescape=True) |
                     latest.c.centre_name.contains(f.centre, autoescape=True))
    if f.open_actions:
        where.append(latest.c.centre_id.in_(open_action_centres(actions)) if actions is not None else false())
    return where


def count(store: Store, f: Filters) -> int:
    with store.engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(latest).where(*_where(f, actions_table(store))))
                   .scalar_one())


def page(store: Store, f: Filters, number: int, size: int = PAGE_SIZE) -> Page:
    """Page ``number`` (clamped to the pages there are) of the centres matching ``f``, by centre id."""
    actions = actions_table(store)
    where = _where(f, actions)
    with store.engine.connect() as db:
        matching = int(db.execute(select(func.count()).select_from(latest).where(*where)).scalar_one())
        pages = max(1, -(-matching // size))
        number = min(max(1, number), pages)
        ids = list(db.execute(select(latest.c.audit_id).where(*where).order_by(latest.c.centre_id)
                              .limit(size).offset((number - 1) * size)).scalars())
        # An audit stored before the vetoed clauses were kept has them in its result document.
        legacy = case((audits.c.vetoed.is_(None), audits.c.result), else_=None).label("legacy_result")
        found = {r.id: _with_vetoed(r) for r in db.execute(select(*_SUMMARY, legacy).where(audits.c.id.in_(ids)))}
        counts: dict[str, int] = {}
        if actions is not None and ids:
            shown = [found[i].centre_id for i in ids if i in found]
            counts = {str(c): int(n) for c, n in db.execute(
                select(actions.c.centre_id, func.count()).where(actions.c.centre_id.in_(shown),
                                                                actions.c.state.in_(OPEN_STATES))
                .group_by(actions.c.centre_id))}
    rows = [found[i] for i in ids if i in found]
    return Page(rows, number, pages, matching, (number - 1) * size + 1 if rows else 0, counts)


def _with_vetoed(r: Any) -> AuditRow:
    row = _row(r)
    if row.vetoed is None and r.legacy_result is not None:
        try:
            vetoed = ";".join(str(c) for c in orjson.loads(r.legacy_result).get("vetoed") or ())
        except (orjson.JSONDecodeError, AttributeError):
            vetoed = ""
        row = AuditRow(**{**row.__dict__, "vetoed": vetoed})
    return row


def choices(store: Store, rules: str, round_id: str = "", kind: str = "") -> dict[str, list[str]]:
    """What the filters offer under a rule set (and round and kind): the streets and grades its latest audits
    have, and the rounds audits under it named."""
    scope = (latest.c.ruleset_id == rules, latest.c.round == round_id, latest.c.kind == kind)
    with store.engine.connect() as db:
        streets = [str(s) for s in db.execute(select(latest.c.street).where(*scope, latest.c.street != "")
                                              .distinct().order_by(latest.c.street)).scalars()]
        grades = [str(g) for g in db.execute(select(latest.c.grade).where(*scope).distinct()).scalars()]
        rounds: list[str] = []          # a few rounds among many rows: skipped from one to the next on the key
        while True:
            after = rounds[-1] if rounds else ANY
            found = db.execute(select(func.min(latest.c.round)).where(latest.c.ruleset_id == rules,
                                                                       latest.c.round > after)).scalar()
            if found is None or len(rounds) >= 500:
                break
            rounds.append(str(found))
        rounds.reverse()                # the newest (by name: 2026-… after 2025-…) first
    return {"streets": streets, "grades": grades, "rounds": rounds}


def rulesets_used(store: Store, names: Iterable[str]) -> list[tuple[str, int]]:
    """Each of these rule sets audits were stored under, with how many centres have one under it, most first."""
    counted = []
    with store.engine.connect() as db:
        for name in names:                  # one range of the key each: the rule sets are few, the centres many
            n = int(db.execute(select(func.count()).select_from(latest).where(
                latest.c.ruleset_id == name, latest.c.round == ANY, latest.c.kind == ANY)).scalar_one())
            if n:
                counted.append((name, n))
    return sorted(counted, key=lambda x: (-x[1], x[0]))


def elsewhere(store: Store, rules: str, used: Mapping[str, int]) -> int:
    """How many centres have audits only under rule sets other than ``rules`` (``used``: centres by rule set)."""
    if not any(n for name, n in used.items() if name != rules):
        return 0                                      # one rule set in use: none, and nothing to count
    every = select(latest.c.centre_id).where(latest.c.round == ANY, latest.c.kind == ANY) \
        .group_by(latest.c.centre_id).subquery()      # in the order of ix_dashboard_latest_centres
    with store.engine.connect() as db:
        return int(db.execute(select(func.count()).select_from(every)).scalar_one()) - used.get(rules, 0)


@dataclass(frozen=True)
class View:
    """Everything the dashboard page reads from the database, for one page of one set of filters."""
    page: Page
    total: int                       # centres under the rule set (in the round, of the kind) without the filters
    choices: dict[str, list[str]]
    used: dict[str, int]             # centres with an audit, by rule set
    elsewhere: int                   # centres audited only under other rule sets
    has_actions: bool


def view(store: Store, f: Filters, number: int, rulesets: Iterable[str]) -> View:
    """What the dashboard shows for page ``number`` of ``f``; ``rulesets``: the rule sets to count centres under."""
    found = page(store, f, number)
    unfiltered = Filters(f.rules, round=f.round, kind=f.kind)
    total = found.matching if unfiltered == f else count(store, unfiltered)
    used = dict(rulesets_used(store, rulesets))
    return View(found, total, choices(store, f.rules, f.round, f.kind), used, elsewhere(store, f.rules, used),
                actions_table(store) is not None)


# --------------------------------------------------------------------------- actions (another part's table)

_actions_metadata = MetaData()
_actions = Table("actions", _actions_metadata, Column("centre_id", String(200)), Column("state", String(32)))


def actions_table(store: Store) -> Table | None:
    """The actions table (the live ledger: a row per action, with ``centre_id`` and ``state``), when the database
    has one; None before it does. Only those two columns are read."""
    if getattr(store, "_has_actions", False):
        return _actions
    found = inspect(store.engine).has_table("actions")
    if found:
        store._has_actions = True  # type: ignore[attr-defined]   # a table is never dropped while serving
    return _actions if found else None


def open_action_centres(actions: Table) -> Any:
    """The centres with an action not yet closed (open, overdue or fixed and waiting for review), as a subquery."""
    return select(actions.c.centre_id).where(actions.c.state.in_(OPEN_STATES))


# --------------------------------------------------------------------------- a centre's history


def by_ruleset(rows: Sequence[AuditRow], main: str) -> list[tuple[str, list[AuditRow]]]:
    """A centre's audits (newest first) grouped by rule set: the service's own first, then the rest by how recently
    they were used. Scores under different rule sets are not comparable, so each is shown apart."""
    groups: dict[str, list[AuditRow]] = {}
    for r in rows:
        groups.setdefault(r.ruleset_id, []).append(r)
    order = list(groups)                             # by their newest audit, newest first
    return sorted(groups.items(), key=lambda g: (g[0] != main, order.index(g[0])))
