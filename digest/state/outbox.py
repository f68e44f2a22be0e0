"""The outbox: one row per (issue, recipient) in the state database, so a send is never lost or doubled.

States:
  pending    to send
  claimed    taken by a worker; nothing the server could accept has been sent yet
  data-sent  the SMTP transaction reached DATA: written and fsynced *before* the final "."
             (until which the server can only discard the message)
  sent       the server answered 250 to the end of DATA
  deferred   a temporary failure (4xx, timeout, dropped connection); retried at `retry_at`
  exhausted  temporary failures until smtp.max_attempts: given up for this run only, the next
             run puts it back in the queue
  failed     a permanent failure (5xx); `digest send --retry-failed` puts it back
  skipped    nothing to send (no article matches the recipient's topics, or suppressed)
  ambiguous  the message may or may not have been taken: a row found `data-sent` when a run
             starts (the process died between DATA and the reply), or a connection lost
             between the final "." and the reply. The next run sends it again, once
             (`resends` counts it; never more than once automatically); every message's
             Message-ID is derived from (issue, recipient), so a receiver can drop a repeat.

When a run starts (`recover`), rows left `claimed` go back to pending: that is safe, because
the server cannot have accepted a message whose row never reached `data-sent`.

Durability: one fsync per message, for the `data-sent` mark, and the final "." waits for it
(the fsync runs on a helper thread while DATA and the message go out). The claim is only
committed, not fsynced, and needs no fsync: it matters to the other workers of this run
(committed, they see it at once), and a claim lost in a power cut reads as the row's state
before it (pending or deferred), which goes back to the queue exactly as a `claimed`
row would: nothing the server could accept was sent before the `data-sent` mark was on disk.
`sent` and the other outcomes are committed without their own fsync too: they survive a
killed process (the page cache holds them), and after a power loss the next message's fsync
has already carried them (the WAL is written in order) unless they were the very last
write, in which case that row reads `data-sent`, becomes ambiguous and is sent again once,
with the same Message-ID: never lost.

`fsync=False` keeps every commit (a killed process or a clean reboot loses nothing) but not
the fsync, so after a power cut a few rows may read pending again and be resent, with the
same Message-ID.

The table, its schema version and the migration of a 0.1 state file: outbox_schema.py.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from digest.errors import DurabilityError
from digest.models import MAX_AUTO_RESENDS, Claimed, Recovered
from digest.state.db import connect
from digest.state.outbox_schema import STATES, create_schema

SUMMARY_STATES = ("sent", "deferred", "exhausted", "failed", "ambiguous", "pending", "claimed", "data-sent", "skipped")
Clock = Callable[[], float]  # unix seconds


def _iso(clock: Clock) -> str:
    return datetime.fromtimestamp(clock(), timezone.utc).isoformat(timespec="seconds")


@dataclass
class IssueSummary:
    """The outbox's counts for one issue, as `digest status` prints them."""

    issue_id: str
    counts: dict[str, int] = field(default_factory=dict)
    updated_at: str | None = None
    resendable: int = 0  # ambiguous rows the next run will send again (once)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        def part(state: str) -> str:
            n = self.counts.get(state, 0)
            more = f" ({self.resendable} to send again)" if state == "ambiguous" and self.resendable else ""
            return f"{state}: {n}{more}"

        when = f" (last change {self.updated_at})" if self.updated_at else ""
        return f"issue {self.issue_id}: {', '.join(part(s) for s in SUMMARY_STATES)}{when}"


class WalSync:
    """fsyncs the state database's WAL file on a helper thread.

    The `data-sent` mark is committed at once (no sync) and its fsync runs here while DATA and
    the message go out; the worker waits for it only before the final ".". Same guarantee as
    synchronous=FULL (which is: fsync the WAL after the commit), without the wait in series
    with the network.
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
        done, errors = threading.Event(), list[BaseException]()
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


def _no_wait() -> None:
    return None


class Outbox:
    """The outbox rows of the state database, through one connection (one per worker thread)."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None = None, *, clock: Clock, fsync: bool = True) -> None:
        """`clock` gives the time rows are stamped with and deferred rows come due by. `fsync=False`
        commits every change at once but leaves flushing to the OS: safe against a killed process
        or a clean reboot, not against a power cut (see the module docstring)."""
        self.conn = conn
        self.clock = clock
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
            # Writes are ordered in the WAL; only the data-sent mark of each message needs its
            # fsync, and WalSync gives it (see the module docstring).
            conn.execute("PRAGMA synchronous=NORMAL")
        self._durable: Callable[[], None] = _no_wait

    @classmethod
    def open(cls, path: Path, *, clock: Clock, fsync: bool = True) -> Outbox:
        return cls(connect(path), path, clock=clock, fsync=fsync)

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
        now = _iso(self.clock)
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
                "UPDATE outbox SET state = 'pending', reply = ''"
                " WHERE issue_id = ? AND run_id = ? AND state = 'skipped'",
                (issue_id, run_id),
            )
            self.conn.executemany(
                "UPDATE outbox SET state = 'skipped', reply = ?, updated_at = ? WHERE issue_id = ? AND recipient = ?"
                " AND state IN ('pending', 'deferred', 'skipped')",
                [(why, now, issue_id, key) for key, why in skipped.items()],
            )
        self._flush()

    def recover(self, issue_id: str, *, resend_ambiguous: bool = True, retry_failed: bool = False) -> Recovered:
        """Settle the rows earlier runs left behind, before this run enrols its recipients.

        claimed -> pending (nothing reached the server's acceptance point); data-sent ->
        ambiguous; exhausted -> pending with its attempts reset; with `retry_failed`, failed
        (5xx) -> pending too; with `resend_ambiguous`, ambiguous rows not yet sent again ->
        pending, counted in `resends` so that none is sent again more than once this way.
        """
        now, done = _iso(self.clock), Recovered()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            done.ambiguous = [
                r[0] for r in self.conn.execute(
                    "UPDATE outbox SET state = 'ambiguous', updated_at = ?,"
                    " reply = 'interrupted between DATA and the server''s reply: may or may not have been delivered'"
                    " WHERE issue_id = ? AND state = 'data-sent' RETURNING address",
                    (now, issue_id),
                ).fetchall()
            ]
            requeue = ["'claimed'", "'exhausted'"] + (["'failed'"] if retry_failed else [])
            done.requeued = self.conn.execute(
                "UPDATE outbox SET attempts = CASE WHEN state = 'claimed' THEN MAX(attempts - 1, 0) ELSE 0 END,"
                " state = 'pending', retry_at = NULL, updated_at = ?"
                f" WHERE issue_id = ? AND state IN ({','.join(requeue)})",
                (now, issue_id),
            ).rowcount
            if resend_ambiguous:
                done.resent = [
                    r[0] for r in self.conn.execute(
                        "UPDATE outbox SET state = 'pending', resends = resends + 1, attempts = 0, retry_at = NULL,"
                        " updated_at = ? WHERE issue_id = ? AND state = 'ambiguous' AND resends < ? RETURNING address",
                        (now, issue_id, MAX_AUTO_RESENDS),
                    ).fetchall()
                ]
        self._flush()
        return done

    # -- one message ----------------------------------------------------------------------------

    def claim(self, issue_id: str, run_id: str) -> Claimed | None:
        """Take the next row due for this run and mark it `claimed` (committed, not fsynced); None when none is due."""
        now = self.clock()
        row = self._write(
            # Pending rows first, in the order they were enrolled, then deferred rows now due; each
            # sub-select walks the (issue_id, run_id, state) index, so a claim costs the same at
            # row 1 and row 10,000.
            "UPDATE outbox SET state = 'claimed', attempts = attempts + 1, updated_at = ? WHERE rowid = COALESCE("
            " (SELECT rowid FROM outbox WHERE issue_id = ? AND run_id = ? AND state = 'pending'"
            "  ORDER BY rowid LIMIT 1),"
            " (SELECT rowid FROM outbox WHERE issue_id = ? AND run_id = ? AND state = 'deferred'"
            "  AND COALESCE(retry_at, 0) <= ? ORDER BY rowid LIMIT 1))"
            " RETURNING rowid, issue_id, recipient, address, name, topics, attempts",
            (_iso(self.clock), issue_id, run_id, issue_id, run_id, now),
        ).fetchone()
        if row is None:
            return None
        self._durable = _no_wait
        topics = tuple(json.loads(row[5])) if row[5] is not None else None
        return Claimed(row[0], row[1], row[2], row[3], row[4], topics, row[6])

    def mark_data(self, item: Claimed) -> Callable[[], None]:
        """Mark the row `data-sent` and start its fsync; return the wait to call before the final "."."""
        self._write(
            "UPDATE outbox SET state = 'data-sent', updated_at = ? WHERE rowid = ?", (_iso(self.clock), item.rowid)
        )
        self._durable = self._sync.start() if self._sync is not None else _no_wait
        return self.wait_durable

    def wait_durable(self) -> None:
        """Wait until the last data-sent mark is on disk (raises DurabilityError if it cannot be)."""
        wait, self._durable = self._durable, _no_wait
        wait()

    def _finish(self, item: Claimed, state: str, reply: str, retry_at: float | None = None) -> None:
        self._write(
            "UPDATE outbox SET state = ?, reply = ?, retry_at = ?, updated_at = ? WHERE rowid = ?",
            (state, reply[:1000], retry_at, _iso(self.clock), item.rowid),
        )

    def mark_sent(self, item: Claimed, reply: str) -> None:
        self._finish(item, "sent", reply)

    def mark_deferred(self, item: Claimed, reply: str, retry_at: float) -> None:
        self._finish(item, "deferred", reply, retry_at)

    def mark_exhausted(self, item: Claimed, reply: str) -> None:
        self._finish(item, "exhausted", reply)

    def mark_failed(self, item: Claimed, reply: str) -> None:
        self._finish(item, "failed", reply)

    def mark_ambiguous(self, item: Claimed, reply: str) -> None:
        self._finish(item, "ambiguous", reply)

    def release(self, item: Claimed, reply: str = "") -> None:
        """Nothing the server could accept was sent: back to pending, attempt not counted."""
        self._write(
            "UPDATE outbox SET state = 'pending', attempts = attempts - 1, reply = ?, updated_at = ? WHERE rowid = ?",
            (reply, _iso(self.clock), item.rowid),
        )

    # -- reading --------------------------------------------------------------------------------

    def next_retry(self, issue_id: str, run_id: str) -> float | None:
        """When the earliest deferred row of this run is due; None when none is waiting."""
        row = self.conn.execute(
            "SELECT MIN(COALESCE(retry_at, 0)) FROM outbox WHERE issue_id = ? AND run_id = ? AND state = 'deferred'",
            (issue_id, run_id),
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def counts(self, issue_id: str, run_id: str | None = None) -> dict[str, int]:
        """Rows per state, plus `resendable`: ambiguous rows still due their one automatic resend."""
        where, params = "issue_id = ?", [issue_id]
        if run_id is not None:
            where += " AND run_id = ?"
            params.append(run_id)
        return _counts(self.conn, where, params)

    def rows(self, issue_id: str, states: Sequence[str], run_id: str | None = None) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(states))
        sql = f"SELECT * FROM outbox WHERE issue_id = ? AND state IN ({marks})"
        params: list[object] = [issue_id, *states]
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        return [dict(row) for row in self.conn.execute(sql + " ORDER BY rowid", params)]

    def states(self, issue_id: str) -> dict[str, tuple[str, int]]:
        """Each recipient's (state, resends)."""
        return {
            r[0]: (r[1], r[2])
            for r in self.conn.execute("SELECT recipient, state, resends FROM outbox WHERE issue_id = ?", (issue_id,))
        }


def _counts(conn: sqlite3.Connection, where: str, params: Sequence[object]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    counts["resendable"] = 0
    for state, n, resendable in conn.execute(
        f"SELECT state, COUNT(*), SUM(resends < {MAX_AUTO_RESENDS}) FROM outbox WHERE {where} GROUP BY state", params
    ):
        counts[state] = n
        if state == "ambiguous":
            counts["resendable"] = resendable
    return counts


def outbox_summary(conn: sqlite3.Connection, issue_id: str | None = None, *, limit: int = 10) -> list[IssueSummary]:
    """Per-issue counts from the outbox: that issue's (an empty summary if it has no rows), else the most
    recent issues'.

    `claimed` and `data-sent` rows are in flight while a run holds the issue; when none does,
    the next run turns them into pending and ambiguous (sent again once) respectively.
    """
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
        counts = _counts(conn, "issue_id = ?", [ident])
        resendable = counts.pop("resendable")
        last = conn.execute("SELECT MAX(updated_at) FROM outbox WHERE issue_id = ?", (ident,)).fetchone()[0]
        out.append(IssueSummary(ident, counts, last, resendable))
    return out
