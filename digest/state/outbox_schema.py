"""The outbox table in the state database: its states, its schema version, and the migration of older files.

`outbox_meta` holds the version of the table (a table of its own rather than PRAGMA
user_version, which the whole database shares with the other stages' tables). A 0.1 state
file (no version) is migrated when first opened: the table is recreated with the new CHECK
on `state`, 0.1's `sending` (claimed and final-dot-sent alike) becomes ambiguous (sent again
once), and its "gave up after N attempts" failures become exhausted, so the next run tries
them again; every other row keeps its state.
"""

from __future__ import annotations

import sqlite3

from digest.errors import DigestError

STATES = ("pending", "claimed", "data-sent", "sent", "deferred", "exhausted", "failed", "skipped", "ambiguous")
SCHEMA_VERSION = 2  # 1 was 0.1's table (no outbox_meta)

_CHECK = ",".join(f"'{s}'" for s in STATES)
_TABLE = f"""
CREATE TABLE IF NOT EXISTS {{name}} (
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
    run_id     TEXT,                          -- the run that last took this row on
    updated_at TEXT NOT NULL,
    PRIMARY KEY (issue_id, recipient)
)"""
_INDEX = "CREATE INDEX IF NOT EXISTS outbox_claim ON outbox (issue_id, run_id, state)"
_META = "CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_OLD_COLUMNS = "issue_id, recipient, address, name, topics, state, attempts, retry_at, reply, run_id, updated_at"


def create_schema(conn: sqlite3.Connection) -> None:
    """The outbox table at SCHEMA_VERSION: created, or migrated from an older state file."""
    conn.execute(_META)
    if _version(conn) == SCHEMA_VERSION:
        return
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        version = _version(conn)  # again, under the write lock: another process may have migrated it
        if version > SCHEMA_VERSION:
            raise DigestError(
                f"the state database's outbox is version {version},"
                f" newer than this digest understands ({SCHEMA_VERSION})",
                hint="upgrade digest, or point --state at another file",
            )
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'").fetchone()
        if exists and version < SCHEMA_VERSION:
            _migrate_from_0_1(conn)
        else:
            conn.execute(_TABLE.format(name="outbox"))
        conn.execute(_INDEX)
        conn.execute(
            "INSERT OR REPLACE INTO outbox_meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )


def _version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM outbox_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _migrate_from_0_1(conn: sqlite3.Connection) -> None:
    """0.1's table had one in-flight state, `sending`, and made temporary failures permanent."""
    conn.execute("DROP TABLE IF EXISTS outbox_migrating")
    conn.execute(_TABLE.format(name="outbox_migrating"))
    conn.execute(
        f"INSERT INTO outbox_migrating ({_OLD_COLUMNS}) SELECT issue_id, recipient, address, name, topics,"
        " CASE WHEN state = 'sending' THEN 'ambiguous'"
        "      WHEN state = 'failed' AND reply LIKE 'gave up after % attempts:%' THEN 'exhausted'"
        "      WHEN state IN (" + _CHECK + ") THEN state ELSE 'ambiguous' END,"
        " attempts, retry_at, reply, run_id, updated_at FROM outbox ORDER BY rowid"
    )
    conn.execute("DROP TABLE outbox")  # drops its index too
    conn.execute("ALTER TABLE outbox_migrating RENAME TO outbox")
