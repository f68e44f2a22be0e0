"""The outbox: one row per (issue, recipient) in the state database, so a send is never lost or doubled.

States:
  pending    not tried yet
  sending    claimed by a worker; committed and fsynced *before* the SMTP transaction
  sent       the server answered 250 to the end of DATA
  deferred   a temporary failure (4xx, timeout, dropped connection); retried at `retry_at`
  failed     a permanent failure (5xx), or out of attempts; `reply` says why
  skipped    nothing to send (no article matches the recipient's topics, or suppressed)
  ambiguous  the message may or may not have been taken: a row found still `sending` when a
             run starts (the process died mid-transaction), or a connection lost between the
             final "." and the reply. Not resent unless `digest send --resend-ambiguous`;
             every message's Message-ID is derived from (issue, recipient), so a receiver
             can drop a repeat.

Durability: the claim (`sending`) is committed and fsynced before the message is sent
(the fsync runs on a helper thread while MAIL FROM, RCPT TO and DATA are exchanged, and
the message body waits for it), so it is on disk before the server can have the message.
`sent` and the other outcomes are committed at once too, without their own fsync: they survive a killed process (the page cache holds
them), and after a power loss the next claim's fsync has already carried them unless they
were the very last write, in which case the row reads `sending` and is reported ambiguous,
never resent and never lost. One fsync per message, not two.

That fsync is most of what the outbox costs (benchmarks/send.py measures it). `fsync=False`
keeps every commit (a killed process or a clean reboot loses nothing) but not the fsync,
so after a power cut a few rows may read pending again and be resent, with the same
Message-ID.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import DigestError
from ..state import connect

STATES = ("pending", "sending", "sent", "deferred", "failed", "skipped", "ambiguous")
SUMMARY_STATES = ("sent", "deferred", "failed", "ambiguous", "pending", "skipped")

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    issue_id   TEXT NOT NULL,
    recipient  TEXT NOT NULL,                 -- the address, lower-cased: one row per address
    address    TEXT NOT NULL,                 -- as given
    name       TEXT,
    topics     TEXT,                          -- JSON list, or NULL for every article
    state      TEXT NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending','sending','sent','deferred','failed','skipped','ambiguous')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    retry_at   REAL,                          -- unix time: when a deferred row may be tried again
    reply      TEXT NOT NULL DEFAULT '',      -- the server's last reply, or why
    run_id     TEXT,                          -- the run that last took this row on
    updated_at TEXT NOT NULL,
    PRIMARY KEY (issue_id, recipient)
);
CREATE INDEX IF NOT EXISTS outbox_claim ON outbox (issue_id, run_id, state);
"""


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Claimed:
    rowid: int
    issue_id: str
    recipient: str
    address: str
    name: str | None
    topics: tuple[str, ...] | None
    attempts: int  # including this one


@dataclass
class IssueSummary:
    """The outbox's counts for one issue, as `digest status` prints them."""

    issue_id: str
    counts: dict[str, int] = field(default_factory=dict)
    updated_at: str | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        parts = ", ".join(f"{state}: {self.counts.get(state, 0)}" for state in SUMMARY_STATES)
        when = f" (last change {self.updated_at})" if self.updated_at else ""
        return f"issue {self.issue_id}: {parts}{when}"


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


class WalSync:
    """fsyncs the state database's WAL file on a helper thread.

    A claim is written at once (no sync) and its fsync runs here while the SMTP commands
    before DATA go back and forth; the worker waits for it only before the message itself
    is sent. Same guarantee as synchronous=FULL (which is: fsync the WAL after the commit),
    without the wait in series with the network.
    """

    def __init__(self, wal_path: Path) -> None:
        self.fd = os.open(wal_path, os.O_RDONLY)
        self._requests: queue.SimpleQueue[tuple[threading.Event, list[BaseException]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="digest-wal-sync", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (request := self._requests.get()) is not None:
            done, errors = request
            try:
                os.fsync(self.fd)
            except OSError as exc:
                errors.append(exc)
            done.set()

    def start(self) -> Callable[[], None]:
        """Begin an fsync of everything committed so far; return the function that waits for it."""
        done, errors = threading.Event(), []
        self._requests.put((done, errors))

        def wait() -> None:
            done.wait()
            if errors:
                raise DurabilityError(f"cannot sync the state database to disk: {errors[0]}")

        return wait

    def close(self) -> None:
        self._requests.put(None)
        self._thread.join()
        os.close(self.fd)


class DurabilityError(DigestError):
    """The outbox could not be made durable: no message may be sent without it."""


def _no_wait() -> None:
    return None


class Outbox:
    """The outbox rows of the state database, through one connection (one per worker thread)."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None, *, fsync: bool = True) -> None:
        """`fsync=False` commits every change at once but leaves flushing to the OS: safe against a
        killed process or a clean reboot, not against a power cut (see the module docstring)."""
        self.conn = conn
        create_schema(conn)
        self._sync: WalSync | None = None
        wal = conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        if not fsync:
            conn.execute("PRAGMA synchronous=NORMAL" if wal else "PRAGMA synchronous=OFF")
        elif path is not None and wal:
            wal_path = Path(f"{path}-wal")
            if wal_path.exists():
                self._sync = WalSync(wal_path)
        if self._sync is not None:
            # Writes are ordered in the WAL; only the claim before each transaction needs its
            # fsync, and WalSync gives it (see the module docstring).
            conn.execute("PRAGMA synchronous=NORMAL")
        self._durable: Callable[[], None] = _no_wait

    @classmethod
    def open(cls, path: Path, *, fsync: bool = True) -> Outbox:
        return cls(connect(path), path, fsync=fsync)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        self.conn.close()

    def _write(self, sql: str, params: Sequence[object]) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def _flush(self) -> None:
        """Make every write so far durable, now."""
        if self._sync is not None:
            self._sync.start()()

    # -- a run's set-up -------------------------------------------------------------------------

    def add(
        self,
        issue_id: str,
        run_id: str,
        rows: Iterable[tuple[str, str, str | None, tuple[str, ...] | None]],
        skipped: dict[str, str] | None = None,
    ) -> None:
        """Enrol this run's recipients (recipient key, address, name, topics); finished rows stay as they are.

        `skipped` maps recipient keys to why they get no message; they are recorded as skipped
        unless already sent.
        """
        skipped = skipped or {}
        now = _now_iso()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                "INSERT INTO outbox (issue_id, recipient, address, name, topics, run_id, updated_at)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT (issue_id, recipient) DO UPDATE SET"
                " run_id = excluded.run_id, name = excluded.name, topics = excluded.topics",
                [
                    (issue_id, key, addr, name, json.dumps(list(topics)) if topics is not None else None, run_id, now)
                    for key, addr, name, topics in rows
                ],
            )
            # Whether a recipient is skipped is decided afresh each run (their topics may have changed).
            self.conn.execute(
                "UPDATE outbox SET state = 'pending', reply = '' WHERE issue_id = ? AND run_id = ? AND state = 'skipped'",
                (issue_id, run_id),
            )
            self.conn.executemany(
                "UPDATE outbox SET state = 'skipped', reply = ?, updated_at = ? WHERE issue_id = ? AND recipient = ?"
                " AND state IN ('pending', 'deferred', 'skipped')",
                [(why, now, issue_id, key) for key, why in skipped.items()],
            )
        self._flush()

    def recover(self, issue_id: str, *, resend_ambiguous: bool = False) -> list[str]:
        """Rows left `sending` by a run that died become ambiguous; return the addresses concerned.

        With `resend_ambiguous`, every ambiguous row of the issue goes back to pending instead.
        """
        now = _now_iso()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            rows = self.conn.execute(
                "SELECT address FROM outbox WHERE issue_id = ? AND state = 'sending'", (issue_id,)
            ).fetchall()
            self.conn.execute(
                "UPDATE outbox SET state = 'ambiguous', updated_at = ?,"
                " reply = 'interrupted during the SMTP transaction: may or may not have been delivered'"
                " WHERE issue_id = ? AND state = 'sending'",
                (now, issue_id),
            )
            if resend_ambiguous:
                self.conn.execute(
                    "UPDATE outbox SET state = 'pending', retry_at = NULL, updated_at = ?"
                    " WHERE issue_id = ? AND state = 'ambiguous'",
                    (now, issue_id),
                )
        self._flush()
        return [r[0] for r in rows]

    # -- one message ----------------------------------------------------------------------------

    def claim(self, issue_id: str, run_id: str, now: float | None = None) -> Claimed | None:
        """Take the next row due for this run and mark it `sending`; None when none is due.

        The mark is on disk once `wait_durable()` returns: call it before the message is sent.
        """
        now = time.time() if now is None else now
        row = self._write(
            # Pending rows first, in the order they were enrolled, then deferred rows now due; each
            # sub-select walks the (issue_id, run_id, state) index, so a claim costs the same at
            # row 1 and row 10,000.
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ? WHERE rowid = COALESCE("
            " (SELECT rowid FROM outbox WHERE issue_id = ? AND run_id = ? AND state = 'pending' ORDER BY rowid LIMIT 1),"
            " (SELECT rowid FROM outbox WHERE issue_id = ? AND run_id = ? AND state = 'deferred'"
            "  AND COALESCE(retry_at, 0) <= ? ORDER BY rowid LIMIT 1))"
            " RETURNING rowid, issue_id, recipient, address, name, topics, attempts",
            (_now_iso(), issue_id, run_id, issue_id, run_id, now),
        ).fetchone()
        if row is None:
            return None
        self._durable = self._sync.start() if self._sync is not None else _no_wait
        topics = tuple(json.loads(row[5])) if row[5] is not None else None
        return Claimed(row[0], row[1], row[2], row[3], row[4], topics, row[6])

    def wait_durable(self) -> None:
        """Wait until the last claim is on disk (raises DurabilityError if it cannot be)."""
        wait, self._durable = self._durable, _no_wait
        wait()

    def _finish(self, item: Claimed, state: str, reply: str, retry_at: float | None = None) -> None:
        self._write(
            "UPDATE outbox SET state = ?, reply = ?, retry_at = ?, updated_at = ? WHERE rowid = ?",
            (state, reply[:1000], retry_at, _now_iso(), item.rowid),
        )

    def mark_sent(self, item: Claimed, reply: str) -> None:
        self._finish(item, "sent", reply)

    def mark_deferred(self, item: Claimed, reply: str, retry_at: float) -> None:
        self._finish(item, "deferred", reply, retry_at)

    def mark_failed(self, item: Claimed, reply: str) -> None:
        self._finish(item, "failed", reply)

    def mark_ambiguous(self, item: Claimed, reply: str) -> None:
        self._finish(item, "ambiguous", reply)

    def release(self, item: Claimed, reply: str = "") -> None:
        """Nothing reached the server (we stopped before the transaction): back to pending, attempt not counted."""
        self._write(
            "UPDATE outbox SET state = 'pending', attempts = attempts - 1, reply = ?, updated_at = ? WHERE rowid = ?",
            (reply, _now_iso(), item.rowid),
        )

    # -- reading --------------------------------------------------------------------------------

    def next_retry(self, issue_id: str, run_id: str) -> float | None:
        """When the earliest deferred row of this run is due; None when none is waiting."""
        row = self.conn.execute(
            "SELECT MIN(COALESCE(retry_at, 0)) FROM outbox WHERE issue_id = ? AND run_id = ? AND state = 'deferred'",
            (issue_id, run_id),
        ).fetchone()
        return row[0]

    def counts(self, issue_id: str, run_id: str | None = None) -> dict[str, int]:
        sql = "SELECT state, COUNT(*) FROM outbox WHERE issue_id = ?"
        params: list[object] = [issue_id]
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        counts = {s: 0 for s in STATES}
        for state, n in self.conn.execute(sql + " GROUP BY state", params):
            counts[state] = n
        return counts

    def rows(self, issue_id: str, states: Sequence[str], run_id: str | None = None) -> list[sqlite3.Row]:
        marks = ",".join("?" * len(states))
        sql = f"SELECT * FROM outbox WHERE issue_id = ? AND state IN ({marks})"
        params: list[object] = [issue_id, *states]
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        return self.conn.execute(sql + " ORDER BY rowid", params).fetchall()

    def states(self, issue_id: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT recipient, state FROM outbox WHERE issue_id = ?", (issue_id,))}


def outbox_summary(conn: sqlite3.Connection, issue_id: str | None = None, *, limit: int = 10) -> list[IssueSummary]:
    """Per-issue counts from the outbox: that issue's (an empty summary if it has no rows), else the most recent issues'."""
    create_schema(conn)
    if issue_id is not None:
        ids = [issue_id]
    else:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT issue_id FROM outbox GROUP BY issue_id ORDER BY MAX(updated_at) DESC LIMIT ?", (limit,)
            )
        ]
    out = []
    for ident in ids:
        counts = {s: 0 for s in STATES}
        for state, n in conn.execute("SELECT state, COUNT(*) FROM outbox WHERE issue_id = ? GROUP BY state", (ident,)):
            counts[state] = n
        last = conn.execute("SELECT MAX(updated_at) FROM outbox WHERE issue_id = ?", (ident,)).fetchone()[0]
        # A row still `sending` while no run holds the issue is ambiguous; while a run is
        # going it is in flight. Either way it is not pending: show it with ambiguous.
        counts["ambiguous"] += counts.pop("sending", 0)
        out.append(IssueSummary(ident, counts, last))
    return out
