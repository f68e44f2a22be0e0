"""What `digest bounces fetch` read from the bounce mailbox, in the state database.

- `bounce_seen`: one row per message of the bounce mailbox that was handled, keyed by the
  mailbox, its UIDVALIDITY and the message's Message-ID (or a hash of its bytes when it has
  none). The message is marked \\Seen on the server only after its row is committed, so a crash
  in between reads it again and finds it here: counted once.
- `bounce_log`: what each one said, one row per reader it named (`hard`, `rejected`, `soft`,
  `complaint`), or one row for a message that could not be used: `unmapped` (a report naming
  no reader digest knows) or `unparsed` (neither a delivery-status nor an abuse report), with
  the reason. `digest bounces list` shows them.

Both are written in one transaction per message, in the ledger (a SQLite file or PostgreSQL:
engine.py); the pipeline opens the connection and hands it over (`BounceLog(conn, clock=…)`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from digest.state.connection import StateConnection

KINDS = ("hard", "rejected", "soft", "complaint", "unmapped", "unparsed")
FILED = ("unmapped", "unparsed")  # what could not be used: for the owner to read
SCHEMA_VERSION = 1
Clock = Callable[[], float]  # unix seconds

_CHECK = ",".join(f"'{k}'" for k in KINDS)
TABLES = ("bounce_meta", "bounce_seen", "bounce_log")  # for `digest state copy`
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS bounce_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bounce_seen (
    key TEXT PRIMARY KEY,           -- mailbox, UIDVALIDITY and Message-ID (or sha256 of the bytes)
    at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bounce_log (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ({_CHECK})),
    address    TEXT,                -- the reader it was mapped to; NULL when none
    status     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    subject    TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',   -- the bounce's own
    mapped_by  TEXT NOT NULL DEFAULT ''    -- verp, recipient, message-id
);
CREATE INDEX IF NOT EXISTS bounce_log_kind ON bounce_log (kind, id);
"""


@dataclass(frozen=True)
class LogEntry:
    """One line of what a bounce said."""

    kind: str  # one of KINDS
    address: str | None = None
    status: str = ""
    detail: str = ""
    mapped_by: str = ""


def seen_key(mailbox: str, uidvalidity: int, message_id: str | None, raw: bytes) -> str:
    """What makes one message of the bounce mailbox processed once, even when fetched twice."""
    ident = message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    return f"{mailbox}\0{uidvalidity}\0{ident}"


def create_schema(conn: StateConnection) -> None:
    """The bounce tables (created when missing), with their version."""
    with conn.transaction():
        conn.script(SCHEMA)
        conn.execute("INSERT INTO bounce_meta (key, value) VALUES ('version', ?) ON CONFLICT (key) DO NOTHING",
                     (str(SCHEMA_VERSION),))


class BounceLog:
    """The two tables, through an open, migrated ledger connection (closed with it); a context manager."""

    def __init__(self, conn: StateConnection, *, clock: Clock) -> None:
        self.conn = conn
        self.clock = clock

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> BounceLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock(), timezone.utc).isoformat(timespec="seconds")

    def seen(self, key: str) -> bool:
        return self.conn.execute("SELECT 1 FROM bounce_seen WHERE key = ?", (key,)).fetchone() is not None

    def record(self, key: str, entries: Sequence[LogEntry], *, subject: str, message_id: str | None) -> bool:
        """Mark `key` handled and log its entries, in one transaction; False (nothing written) if it already was."""
        now = self._now()
        with self.conn.transaction():
            seen = self.conn.execute(
                "INSERT INTO bounce_seen (key, at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, now)
            )
            if seen.rowcount == 0:
                return False
            self.conn.executemany(
                "INSERT INTO bounce_log (at, kind, address, status, detail, subject, message_id, mapped_by)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [
                    (now, e.kind, e.address, e.status, e.detail[:1000], subject[:300], message_id or "", e.mapped_by)
                    for e in entries
                ],
            )
        return True

    def entries(self, kinds: Sequence[str] = KINDS, *, limit: int = 50) -> list[dict[str, Any]]:
        """The latest log rows of these kinds, newest first."""
        marks = ",".join("?" * len(kinds))
        rows = self.conn.execute(
            f"SELECT * FROM bounce_log WHERE kind IN ({marks}) ORDER BY id DESC LIMIT ?", (*kinds, limit)
        )
        return [dict(row) for row in rows]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for kind, n in self.conn.execute("SELECT kind, COUNT(*) FROM bounce_log GROUP BY kind"):
            counts[kind] = n
        return counts


def mailed(conn: StateConnection) -> tuple[set[str], list[str]]:
    """From the outbox: every address digest has enrolled (lower-cased), and every issue id, newest first.

    A bounce naming an address in neither the subscriber list nor here is not one of digest's readers.
    """
    keys = {r[0] for r in conn.execute("SELECT DISTINCT recipient FROM outbox")}
    issues = [r[0] for r in conn.execute("SELECT issue_id FROM outbox GROUP BY issue_id ORDER BY MAX(updated_at) DESC")]
    return keys, issues
