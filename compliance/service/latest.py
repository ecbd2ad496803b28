"""Each centre's latest audit, kept with every audit stored, for the dashboard (see ``dashboard``).

The store writes ``dashboard_latest`` in the same transaction as each audit (or each few hundred of a batch); this
module holds the table and that upkeep, and imports nothing else of the service, so the store can call it.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from sqlalchemy import Column, Index, MetaData, String, Table, Text

metadata = MetaData()             # made by migration 0011, like the store's tables; apart so that the store may import it
ANY = ""                          # the round or kind of the rows that stand for any round, any kind
ROUND_LENGTH = 64                 # an audit.round is a free text id of at most 64 characters

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
