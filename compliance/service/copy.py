"""``compliance db copy FROM TO``: every row of one service database into another, empty one.

The way from SQLite to PostgreSQL (docs/deploy.md): both databases are brought to the newest migration first, so
they have the same tables, then each table is copied in the order its foreign keys need, streamed in chunks (a
province's audits do not fit in memory), in one transaction on the target: all or nothing. The tables are read
from the databases themselves, not from a list here, so every part's tables are copied, whichever added them.
The target's counters (PostgreSQL sequences) continue after the copied rows, and each table is checked to hold
as many rows as the source's.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

from sqlalchemy import MetaData, Table, func, select, text as sql
from sqlalchemy.engine import Connection

from ..errors import ComplianceError
from ..i18n import msg, quote
from .store import Store, database_url, plain_reason, safe_url

CHUNK = 500                    # rows inserted at once: an audit with its profile and result is some 50 KiB
SKIPPED = {"alembic_version"}  # each database keeps its own, set by its migrations


def copy_database(source: str, target: str) -> list[tuple[str, int]]:
    """Copy every row of the service database ``source`` into ``target`` (URLs or SQLite paths); the tables and
    their row counts, in the order copied. Refuses a target that holds any row, and leaves it untouched on any
    failure."""
    if database_url(source) == database_url(target):
        raise ComplianceError(msg("the source and the target are the same database"), file=safe_url(database_url(target)))
    origin, destination = Store(source), Store(target)       # both at the newest migration
    tables = _tables(destination)
    found = _tables(origin)
    missing = [name for name in tables if name not in found]
    if missing:
        raise ComplianceError(msg("the source has no table {names}: is it a database of this service?",
                                  names=[quote(n) for n in missing]), file=safe_url(origin.url))
    copied: list[tuple[str, int]] = []
    try:
        with origin.engine.connect() as reader, destination.engine.begin() as writer:
            reader.begin()                                  # one consistent view of the source
            for name, table in tables.items():
                if writer.execute(select(func.count()).select_from(table)).scalar_one():
                    raise ComplianceError(msg("the target already holds data (the table {table} has rows): copy "
                                              "into a new, empty database", table=quote(name)),
                                          file=safe_url(destination.url))
            for name, table in tables.items():
                count = 0
                for rows in _chunks(reader, found[name], table):
                    writer.execute(table.insert(), rows)
                    count += len(rows)
                held = writer.execute(select(func.count()).select_from(table)).scalar_one()
                if held != count:                            # pragma: no cover - a database that lost rows
                    raise ComplianceError(msg("the table {table} holds {held} rows after copying {count}",
                                              table=quote(name), held=held, count=count), file=safe_url(destination.url))
                _continue_counters(writer, table)
                copied.append((name, count))
    except ComplianceError:
        raise
    except Exception as exc:  # noqa: BLE001 - a database that refuses a row is told, with nothing copied
        raise ComplianceError(msg("cannot copy the database, and nothing was copied: {reason}",
                                  reason=quote(plain_reason(exc), 300)), file=safe_url(destination.url)) from None
    return copied


def _tables(store: Store) -> dict[str, Table]:
    """A database's tables as it has them, parents before the tables that refer to them."""
    meta = MetaData()
    meta.reflect(store.engine)
    return {t.name: t for t in meta.sorted_tables if t.name not in SKIPPED}


def _chunks(reader: Connection, source: Table, target: Table) -> Iterator[list[dict[str, Any]]]:
    """The source table's rows, CHUNK at a time, as the target's columns take them, in the source's key order."""
    columns = [c.name for c in target.columns if c.name in source.c]
    query = select(*[source.c[c] for c in columns]).order_by(*source.primary_key.columns)
    rows: list[dict[str, Any]] = []
    for row in reader.execution_options(stream_results=True, yield_per=CHUNK).execute(query):
        rows.append({c: _value(v) for c, v in zip(columns, row)})
        if len(rows) == CHUNK:
            yield rows
            rows = []
    if rows:
        yield rows


def _value(value: Any) -> Any:
    """SQLite keeps times without their zone; the service writes them in UTC, which they are said to be."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _continue_counters(writer: Connection, table: Table) -> None:
    """On PostgreSQL, a serial key's sequence goes on after the copied rows (SQLite takes the largest key + 1)."""
    if writer.dialect.name != "postgresql":
        return
    for column in table.primary_key.columns:
        sequence = writer.execute(sql("SELECT pg_get_serial_sequence(:table, :column)"),
                                  {"table": table.name, "column": column.name}).scalar()
        if sequence:
            writer.execute(sql(f'SELECT setval(:sequence, COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, '
                               'false)'), {"sequence": sequence})
