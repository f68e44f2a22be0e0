"""The ledger's engine: a SQLite file (the default) or a PostgreSQL database shared by several hosts.

`open_state(settings)` opens the ledger (schedule ticks and carried articles, the outbox,
subscribers, reader ids and their events, bounces) where `state:` says, and runs its migrations
(migrations.py) before handing it over. The caches stay in a local SQLite file per host
(`settings.cache_path`), opened with sqlite3 directly: they are read thousands of times a build,
and a network round trip for each would cost more than rebuilding them.

The layer is psycopg 3 directly, behind the small adapter in connection.py (`StateConnection`),
with one migrations table, rather than SQLAlchemy Core and Alembic: see the measured per-message
outbox cost below.

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
