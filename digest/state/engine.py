"""The ledger's engine: a SQLite file (the default) or a PostgreSQL database shared by several hosts.

`open_state(settings)` opens the ledger (schedule ticks and carried articles, the outbox,
subscribers, reader ids and their events, bounces) where `state:` says, and runs its migrations
(migrations.py) before handing it over. The caches stay in a local SQLite file per host
(`settings.cache_path`), opened with sqlite3 directly (why: below).

The layer is psycopg 3 directly, behind the small adapter in connection.py (`StateConnection`), with
one migrations table, rather than SQLAlchemy Core and Alembic. Measured (benchmarks/state.py, also
printed at the end of `benchmarks/send.py --workers`; this project's 2-core machine, PostgreSQL 15
on 127.0.0.1 with fsync and synchronous_commit on; one message at a time in one process, no SMTP:
claim, `data-sent`, wait until durable, `sent`; medians of 2,000 messages x 5 interleaved rounds,
2026-12-01): SQLite 339 µs a message through the Outbox (210 µs for the same statements on sqlite3
directly); PostgreSQL 916 µs through the Outbox and this adapter, 745 µs on psycopg directly (the
adapter and the Outbox's ownership checks add about 170 µs); the same statements through SQLAlchemy
Core add 300 µs as `text()` (1,043 µs) and 1,030 µs as Core expressions (1,775 µs), and 320-520 µs
of CPU a message where psycopg spends 219 µs. A later run, after the readers' ids were batched:
SQLite 289 µs, PostgreSQL 957 µs (psycopg directly 698 µs), SQLAlchemy `text()` +178 µs, Core
expressions +846 µs. Two earlier runs gave the same order (SQLAlchemy `text()` +420/+500 µs, Core
+650/+1,180 µs). So SQLAlchemy would cost more per message than the whole adapter does, for SQL the
stores write once in the subset both engines read; and Alembic would be a second way to declare
tables beside each store's `create_schema`. Hence psycopg 3 directly, one migrations table.
PostgreSQL costs about 2.7x SQLite per message on one host, all of it round trips and commits (these
figures: three durable commits a message; since then only the data-sent mark's commit waits for the
WAL flush, as on SQLite, see outbox.py); it is chosen for sharing, not speed. The caches stay local for what they
are, not for speed alone: their rows describe this host's files (sizes and modification times) and
code, and over 127.0.0.1 a warm build's bulk reads of a 10,000-article scan cache took 13 ms on
PostgreSQL and 19 ms on SQLite, while one point lookup took 98 µs against 10 µs, filling it 212 ms
against 160 ms, and opening a connection 4.7 ms against 0.4 ms; across a network each query adds its
round trip.

Imports: a module that declares tables (a store's `create_schema(conn)`, which migrations.py
imports) takes `StateConnection` from `digest.state.connection`, never from here: this module
imports migrations.py, and the house has no import circles (tests/test_house.py).
"""

from __future__ import annotations

from pathlib import Path

from digest.config_model import Settings
from digest.errors import StateDatabaseError
from digest.state import migrations
from digest.state.connection import (
    Cursor,
    Dialect,
    PgRow,
    StateConnection,
    is_connection_lost,
    is_url,
    open_postgresql,
    open_sqlite,
    url_where,
)

__all__ = [
    "Cursor", "Dialect", "PgRow", "StateConnection", "StateDatabaseError", "is_connection_lost", "is_url",
    "open_ledger", "open_postgresql", "open_sqlite", "open_state", "url_where",
]


def open_ledger(state: str, *, root: Path, password: str | None = None, timeout: float = 30.0) -> StateConnection:
    """The ledger a `state:` value (a file path, relative to `root`, or a URL) names: opened, not migrated."""
    if is_url(state):
        return open_postgresql(state.strip(), password=password, timeout=timeout)
    path = Path(state).expanduser()
    return open_sqlite(path if path.is_absolute() else root / path, timeout=timeout)


def open_state(settings: Settings, *, timeout: float = 30.0) -> StateConnection:
    """The ledger `settings.state` names, its migrations run (closed again if they fail)."""
    conn = open_ledger(settings.state, root=settings.root, password=settings.state_password, timeout=timeout)
    try:
        migrations.migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn
