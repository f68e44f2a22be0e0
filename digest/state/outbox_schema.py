"""The outbox table in the state database: its states, its schema version, and the migration of older files.

`outbox_meta` holds the version of the table (a table of its own rather than PRAGMA
user_version, which the whole database shares with the other stages' tables). The DDL is
written once, in SQLite's spelling, and run through `StateConnection.script` (which maps it
for PostgreSQL). Versions:

1. 0.1's table (no outbox_meta): one in-flight state, `sending`.
2. The states of today, keyed by (issue_id, recipient), ordered by SQLite's rowid.
3. An `id` column (SQLite: the rowid itself; PostgreSQL: an identity), so that both engines
   name a row and the enrolment order the same way; the claim index is (issue_id, state, id).

A SQLite file at version 1 or 2 is migrated when first opened: the table is recreated (each
row keeps its rowid as its id); from 0.1, `sending` (claimed and final-dot-sent alike) becomes
ambiguous (sent again once), and its "gave up after N attempts" failures become exhausted,
so the next run tries them again; every other row keeps its state. A PostgreSQL state is
always created at the current version (`digest state copy` brings an older file's rows over
after migrating it).

`outbox_pace` is the shared `smtp.rate` of several senders (PostgreSQL only: see
outbox.Outbox.pace).
"""

from __future__ import annotations

from digest.errors import DigestError
from digest.state.connection import StateConnection

STATES = ("pending", "claimed", "data-sent", "sent", "deferred", "exhausted", "failed", "skipped", "ambiguous")
SCHEMA_VERSION = 3  # 1 was 0.1's table (no outbox_meta), 2 had no id column

_CHECK = ",".join(f"'{s}'" for s in STATES)
_TABLE = f"""
CREATE TABLE IF NOT EXISTS {{name}} (
    id INTEGER PRIMARY KEY,
    issue_id   TEXT NOT NULL,
    recipient  TEXT NOT NULL,                 -- the address, lower-cased: one row per address
    address    TEXT NOT NULL,                 -- as given
    name       TEXT,
    topics     TEXT,                          -- JSON list, or NULL for every article
    state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ({_CHECK})),
    attempts   INTEGER NOT NULL DEFAULT 0,    -- this round's attempts (reset when a run requeues the row)
    retry_at   REAL,                          -- unix time: when a deferred row may be tried again
    reply      TEXT NOT NULL DEFAULT '',      -- the server's last reply, or why
    resends    INTEGER NOT NULL DEFAULT 0,    -- times sent again after being ambiguous
    run_id     TEXT,                          -- who holds it: the run that enrolled it, then the worker that claimed it
    updated_at TEXT NOT NULL,
    UNIQUE (issue_id, recipient)
)"""
_INDEX = "CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (issue_id, state, id)"
_META = "CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_PACE = "CREATE TABLE IF NOT EXISTS outbox_pace (name TEXT PRIMARY KEY, next_at REAL NOT NULL)"
_COLUMNS = "issue_id, recipient, address, name, topics, state, attempts, retry_at, reply, run_id, updated_at"


def create_schema(conn: StateConnection) -> None:
    """The outbox tables at SCHEMA_VERSION: created, or migrated from an older state file."""
    conn.script(_META)
    if _version(conn) == SCHEMA_VERSION:
        return
    with conn.transaction():
        if conn.dialect == "postgresql":  # two processes starting at once: one creates, the other waits
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('digest-outbox-schema', 0))")
        version = _version(conn)  # again, under the write lock: another process may have migrated it
        if version > SCHEMA_VERSION:
            raise DigestError(
                f"the state database's outbox ({conn.where}) is version {version},"
                f" newer than this digest understands ({SCHEMA_VERSION})",
                hint="upgrade digest, or point `state:` at another database",
            )
        if version == SCHEMA_VERSION:
            return
        if conn.dialect == "sqlite" and _sqlite_has_outbox(conn):
            _migrate_sqlite(conn, version)
        else:
            conn.script(_TABLE.format(name="outbox"))
        conn.script(_INDEX)
        conn.script(_PACE)
        conn.execute(
            "INSERT INTO outbox_meta (key, value) VALUES ('schema_version', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )


def _version(conn: StateConnection) -> int:
    row = conn.execute("SELECT value FROM outbox_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _sqlite_has_outbox(conn: StateConnection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone() is not None


def _migrate_sqlite(conn: StateConnection, version: int) -> None:
    """Recreate the table at the current version; each row keeps its rowid as its id (the enrolment order).

    0.1's table had one in-flight state, `sending`, made temporary failures permanent and had no
    `resends`."""
    if version < 2:
        state = (
            "CASE WHEN state = 'sending' THEN 'ambiguous'"
            " WHEN state = 'failed' AND reply LIKE 'gave up after % attempts:%' THEN 'exhausted'"
            f" WHEN state IN ({_CHECK}) THEN state ELSE 'ambiguous' END"
        )
        columns, resends = _COLUMNS, ""
    else:
        state, columns, resends = "state", _COLUMNS + ", resends", ", resends"
    old = _COLUMNS.replace("state,", f"{state},") + resends
    conn.script("DROP TABLE IF EXISTS outbox_migrating")
    conn.script(_TABLE.format(name="outbox_migrating"))
    conn.execute(f"INSERT INTO outbox_migrating (id, {columns}) SELECT rowid, {old} FROM outbox ORDER BY rowid")
    conn.script("DROP TABLE outbox")  # drops its indexes too
    conn.script("ALTER TABLE outbox_migrating RENAME TO outbox")
