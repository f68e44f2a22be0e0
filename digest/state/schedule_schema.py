"""The schedule's tables in the ledger (schedule.py reads and writes them): ticks, carried articles,
the schedule's notes, and the ticks a host found taken by another.

Apart from schedule.py so that migrations.py can create them without importing the outbox.
"""

from __future__ import annotations

from digest.errors import DigestError
from digest.state.connection import StateConnection

SCHEMA = """
CREATE TABLE IF NOT EXISTS schedule_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS schedule_ticks (
    wall_key TEXT PRIMARY KEY,      -- local wall-clock time: a DST-repeated tick is one row
    tick TEXT NOT NULL,             -- the instant, ISO 8601 with offset
    outcome TEXT NOT NULL,
    issue_id TEXT, number INTEGER, since TEXT,
    articles INTEGER NOT NULL DEFAULT 0, recipients INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '', recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS carried (
    path TEXT PRIMARY KEY, issue_id TEXT NOT NULL, number INTEGER NOT NULL, carried_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedule_taken (
    wall_key TEXT NOT NULL,         -- the tick another host had
    host TEXT NOT NULL,             -- the host that found it taken
    taken_by TEXT NOT NULL,         -- the host that had it ('' when it could not be told)
    at TEXT NOT NULL,
    PRIMARY KEY (wall_key, host)
);
"""
SCHEMA_VERSION = 2  # 2: schedule_ticks.host and schedule_taken (digest 0.15)
TABLES = ("schedule_meta", "schedule_ticks", "carried", "schedule_taken")



def create_schema(conn: StateConnection) -> None:
    """The schedule's tables at SCHEMA_VERSION: created when missing; a 0.14 file's ticks get `host`."""
    with conn.transaction():
        conn.script(SCHEMA)
        row = conn.execute("SELECT value FROM schedule_meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 1
        if version > SCHEMA_VERSION:
            raise DigestError(
                f"{conn.where}: the schedule's tables are version {version}, newer than this digest knows"
                f" ({SCHEMA_VERSION})", hint="upgrade digest on this host to the version the other hosts run",
            )
        if version < SCHEMA_VERSION:
            if "host" not in _columns(conn, "schedule_ticks"):
                conn.execute("ALTER TABLE schedule_ticks ADD COLUMN host TEXT")
            conn.execute(
                "INSERT INTO schedule_meta (key, value) VALUES ('schema_version', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),),
            )


def _columns(conn: StateConnection, table: str) -> set[str]:
    if conn.dialect == "sqlite":
        return {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = ?", (table,),
    )
    return {str(r[0]) for r in rows}
