"""The ledger's schema, versioned: one `state_migrations` table, and the stores' tables in order.

Each store declares its own tables in its own module (`create_schema(conn)`, idempotent: `CREATE
TABLE IF NOT EXISTS`, and its own upgrade of an older file, as the outbox's 0.1 migration); this
module lists them in order, each with a version. `open_state` runs what a ledger has not yet
recorded (`digest state migrate` does the same by hand; `digest state status` shows the version).
Migrations run in one transaction, one process at a time: SQLite's write lock (BEGIN IMMEDIATE),
PostgreSQL's transaction-level advisory lock, so two hosts starting on a new database do not both
create its tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from digest.errors import DigestError
from digest.state import bounce_log, outbox_schema, schedule_schema, subscriber_schema
from digest.state.connection import StateConnection, lock_key

TABLE = "CREATE TABLE IF NOT EXISTS state_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)"
# Key/value notes about the ledger itself: `state_reset_at` (--state-reset, continuity.py). In a state
# file the caches' `cache_format` sits beside it; that one belongs to the cache and is never copied.
STATE_META = "CREATE TABLE IF NOT EXISTS state_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
CACHE_META_KEYS = ("cache_format",)


def create_state_meta(conn: StateConnection) -> None:
    conn.script(STATE_META)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    run: Callable[[StateConnection], None]
    tables: tuple[str, ...]  # the ledger tables it creates, in the order `digest state copy` fills them


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "state_meta", create_state_meta, ("state_meta",)),
    Migration(2, "outbox", outbox_schema.create_schema, ("outbox_meta", "outbox")),
    Migration(3, "schedule", schedule_schema.create_schema, schedule_schema.TABLES),
    Migration(4, "subscribers", subscriber_schema.create_schema, subscriber_schema.TABLES),
    Migration(5, "bounces", bounce_log.create_schema, bounce_log.TABLES),
)
LATEST = max((m.version for m in MIGRATIONS), default=0)


def ledger_tables() -> list[str]:
    """Every ledger table, in the order a copy fills them (a row's parents first)."""
    return [table for m in MIGRATIONS for table in m.tables]


def existing_tables(conn: StateConnection) -> set[str]:
    """The tables the ledger has (in PostgreSQL: in the connection's current schema)."""
    if conn.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    return {str(row[0]) for row in conn.execute(sql)}


def _has_table(conn: StateConnection) -> bool:
    return "state_migrations" in existing_tables(conn)


def applied(conn: StateConnection) -> list[tuple[int, str, str]]:
    """The migrations a ledger has recorded: (version, name, applied_at), oldest first."""
    if not _has_table(conn):
        return []
    rows = conn.execute("SELECT version, name, applied_at FROM state_migrations ORDER BY version").fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]


def version(conn: StateConnection) -> int:
    """The ledger's schema version: the highest migration recorded (0: none)."""
    versions = [v for v, _, _ in applied(conn)]
    return max(versions, default=0)


def migrate(conn: StateConnection, *, now: datetime | None = None) -> list[Migration]:
    """Run the migrations `conn` has not recorded, in order, in one transaction; return those run."""
    if _has_table(conn) and version(conn) >= LATEST and len(applied(conn)) >= len(MIGRATIONS):
        return []
    # The database's clock when the caller gives none (open_state): rule 3 keeps Python's out of here.
    stamp, params = ("?", (now.isoformat(),)) if now else ("CURRENT_TIMESTAMP", ())
    ran: list[Migration] = []
    with conn.transaction():
        if conn.dialect == "postgresql":  # one process at a time; released at COMMIT
            conn.execute("SELECT pg_advisory_xact_lock(?::bigint)", (lock_key("digest state migrations"),))
        conn.script(TABLE)
        done = {v for v, _, _ in applied(conn)}
        newest = max(done, default=0)
        if newest > LATEST:
            raise DigestError(
                f"{conn.where}: the ledger's schema is version {newest}, newer than this digest knows ({LATEST})",
                hint="upgrade digest on this host to the version the other hosts run",
            )
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            migration.run(conn)
            conn.execute(
                f"INSERT INTO state_migrations (version, name, applied_at) VALUES (?, ?, {stamp})",
                (migration.version, migration.name, *params),
            )
            ran.append(migration)
    return ran
