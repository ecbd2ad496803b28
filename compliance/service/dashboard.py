"""The bureau's dashboard at a province's size: every centre's latest audit, a page of 50 at a time, filtered.

"Every centre's latest audit" grouped out of 100,000 audits on every page view costs more than a page may, and the
round an audit belongs to is only in its result document (the audits table is append-only: a column added now
could never be filled in for the audits already stored). So the store keeps a small table, ``dashboard_latest``
(``latest``), written in the same transaction as each audit it stores: for each rule set, each centre's latest
audit, its latest of each kind, its latest in its round and its latest of each kind in its round. The dashboard
reads a page of it by its primary key and the 50 audits it shows by their ids; the filters' choices and counts
come from it too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import Table, false, func, select

from .actions import actions as live_actions
from .latest import ANY, ROUND_LENGTH, latest
from .store import AuditRow, Store

__all__ = ["ANY", "ROUND_LENGTH", "PAGE_SIZE", "Filters", "Page", "View", "view", "page", "count", "choices"]

PAGE_SIZE = 50                    # centres a page
OPEN_STATES = ("open", "overdue", "fixed_pending_review")      # an action not yet closed, void or waived


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
        shown = db.execute(select(latest.c.audit_id, latest.c.centre_id).where(*where).order_by(latest.c.centre_id)
                           .limit(size).offset((number - 1) * size)).all()
        counts: dict[str, int] = {}
        if actions is not None and shown:
            counts = {str(c): int(n) for c, n in db.execute(
                select(actions.c.centre_id, func.count()).where(actions.c.centre_id.in_([c for _, c in shown]),
                                                                actions.c.state.in_(OPEN_STATES))
                .group_by(actions.c.centre_id))}
    found = store.summaries(a for a, _ in shown)
    rows = [found[a] for a, _ in shown if a in found]
    return Page(rows, number, pages, matching, (number - 1) * size + 1 if rows else 0, counts)


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
    others = [name for name, n in used.items() if name != rules and n]
    if not others:
        return 0                                      # one rule set in use: none, and nothing to count
    other, this = latest.alias("other"), latest.alias("this")
    query = select(func.count(func.distinct(other.c.centre_id))).where(
        other.c.ruleset_id.in_(others), other.c.round == ANY, other.c.kind == ANY,
        ~select(this.c.centre_id).where(this.c.ruleset_id == rules, this.c.round == ANY, this.c.kind == ANY,
                                        this.c.centre_id == other.c.centre_id).exists())
    with store.engine.connect() as db:                # the other rule sets' few rows, each looked up by the key
        return int(db.execute(query).scalar_one())


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


# --------------------------------------------------------------------------- actions (the live ledger)

def actions_table(store: Store) -> Table:
    """The live ledger's table of actions (service/actions.py): the filter reads its ``centre_id`` and ``state``."""
    return live_actions


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
