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

Durability (SQLite): one fsync per message, for the `data-sent` mark, and the final "." waits for it
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

On PostgreSQL (`state: postgresql://…`) the durable point is the data-sent mark's COMMIT:
that one transaction runs with synchronous_commit on, so the COMMIT returns once the server's
WAL is flushed (and with it every earlier commit of the session), and the final "." is sent
only after it returned. Every other write of the outbox's session (recover, enrolment, the
claim, the outcomes) commits with synchronous_commit off, as SQLite's need no fsync of their
own: a claim lost in a crash reads pending, a `sent` lost reads data-sent and becomes
ambiguous (sent again once, same Message-ID), and no message goes out before a later durable
commit has carried them to disk (the WAL is written in order). No helper thread:
the wait is the statement itself, before DATA's reply is read.

Several senders on one issue (PostgreSQL): each run enrols the recipients (the rows of the
issue's current audience carry a run id; rows off the list carry none and are never claimed),
and its workers claim rows issue-wide with `FOR UPDATE SKIP LOCKED`, so four `digest send`
processes split the rows between them. A worker's claim stamps the row with the worker's own
id, and the worker holds a session advisory lock on that id for as long as it lives: `recover`
puts back only the claimed and data-sent rows of ids whose lock is free (a dead sender), never
a live one's. A worker claims and writes only while it holds that lock (after a reconnection it
waits for it again, should a recover elsewhere be holding it while it decides). Every mark after
the claim is written only while the row is still the worker's
(its id, an in-flight state): a data-sent mark that cannot be written, or finds the row taken
back, means the message is not sent. A lost connection (the server restarted) is opened again
and the write retried, for up to about a minute. `smtp.rate` holds for all senders together
(`pace`: one shared row per SMTP server, each slot taken with one UPDATE). SQLite keeps one
sender per issue (pipeline/send.py's lock), so none of this changes it.

The table, its schema version and the migration of a 0.1 state file: outbox_schema.py.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from digest.config_model import Settings
from digest.errors import DurabilityError, StateUnreachableError
from digest.models import MAX_AUTO_RESENDS, Claimed, Recovered
from digest.state.connection import lock_key
from digest.state.engine import StateConnection, is_connection_lost, open_sqlite, open_state
from digest.state.outbox_schema import STATES, create_schema

SUMMARY_STATES = ("sent", "deferred", "exhausted", "failed", "ambiguous", "pending", "claimed", "data-sent", "skipped")
IN_FLIGHT = ("claimed", "data-sent")
Clock = Callable[[], float]  # unix seconds
log = logging.getLogger("digest.state")
T = TypeVar("T")

# A lost PostgreSQL connection is opened again after these pauses (about a minute in all), then given up.
RECONNECT_PAUSES = (0.05, 0.1, 0.2, 0.5) + (1.0,) * 60


def _iso(clock: Clock) -> str:
    return datetime.fromtimestamp(clock(), timezone.utc).isoformat(timespec="seconds")


def _owner_lock(owner: str) -> str:
    """The advisory lock a PostgreSQL worker holds on its own id while it lives."""
    return f"digest outbox worker {owner}"


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
    """fsyncs the state database's WAL file on a helper thread (SQLite).

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


_CLAIM_SQLITE = (
    # Pending rows first, in the order they were enrolled, then deferred rows now due; each
    # sub-select walks the (issue_id, state, id) index, so a claim costs the same at row 1 and
    # row 10,000.
    "UPDATE outbox SET state = 'claimed', attempts = attempts + 1, run_id = ?, updated_at = ? WHERE id = COALESCE("
    " (SELECT id FROM outbox WHERE issue_id = ? AND state = 'pending' AND run_id = ? ORDER BY id LIMIT 1),"
    " (SELECT id FROM outbox WHERE issue_id = ? AND state = 'deferred' AND run_id = ?"
    "  AND COALESCE(retry_at, 0) <= ? ORDER BY id LIMIT 1))"
    " RETURNING id, issue_id, recipient, address, name, topics, attempts"
)
_CLAIM_PG = (
    # Any enrolled row of the issue, whichever run enrolled it; a row another worker is taking
    # (locked) is skipped, not waited for.
    "UPDATE outbox SET state = 'claimed', attempts = attempts + 1, run_id = ?, updated_at = ? WHERE id = COALESCE("
    " (SELECT id FROM outbox WHERE issue_id = ? AND state = 'pending' AND run_id IS NOT NULL"
    "  ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED),"
    " (SELECT id FROM outbox WHERE issue_id = ? AND state = 'deferred' AND run_id IS NOT NULL"
    "  AND COALESCE(retry_at, 0) <= ? ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED))"
    " RETURNING id, issue_id, recipient, address, name, topics, attempts"
)


class Outbox:
    """The outbox rows of the state database, through one connection (one per worker thread)."""

    def __init__(
        self, conn: StateConnection, path: Path | None = None, *, clock: Clock, fsync: bool = True,
        reopen: Callable[[], StateConnection] | None = None,
    ) -> None:
        """`clock` gives the time rows are stamped with and deferred rows come due by. `fsync=False`
        commits every change at once but leaves flushing to the OS (SQLite) or commits without
        waiting for the server's WAL flush (PostgreSQL, synchronous_commit off): safe against a
        killed process, not against a power cut (see the module docstring). `path` (SQLite): this
        connection is the outbox's own, so its WAL is fsynced by WalSync. `reopen` (PostgreSQL):
        opens the connection again when it is lost."""
        self.conn = conn
        self.clock = clock
        self.pg = conn.dialect == "postgresql"
        self._fsync = fsync
        self._reopen = reopen
        self._owner: str | None = None  # the id this worker's claims carry (PostgreSQL: locked while it lives)
        self._locked = False
        self._stale = False  # reconnected: a claim whose answer was lost may be ours, unsent
        self._pause = threading.Event()  # never set: the pause between reconnections
        create_schema(conn)
        self._sync: WalSync | None = None
        if self.pg:
            self._session()
        else:
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
    def open(cls, target: Settings | Path, *, clock: Clock, fsync: bool = True) -> Outbox:
        """The outbox of a state file (a Path), or of the ledger `settings.state` names."""
        if isinstance(target, Path):
            return cls(open_sqlite(target), target, clock=clock, fsync=fsync)
        if target.state_url is None:
            path = target.state_path
            return cls(open_sqlite(path), path, clock=clock, fsync=fsync)
        settings = target
        return cls(open_state(settings), clock=clock, fsync=fsync, reopen=lambda: open_state(settings))

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        self.conn.close()

    def _session(self) -> None:
        """PostgreSQL: commits do not wait for the WAL flush; the data-sent mark's does (mark_data), being
        the durable point (see the module docstring)."""
        self.conn.execute("SET synchronous_commit TO off")

    def _do(self, work: Callable[[StateConnection], T]) -> T:
        """Run `work` on the connection; when the connection is lost (PostgreSQL), open it again and run it again."""
        pauses = iter(RECONNECT_PAUSES)
        while True:
            try:
                return work(self.conn)
            except Exception as exc:
                if self._reopen is None or not is_connection_lost(exc):
                    raise
                self._reconnect(exc, self._reopen, pauses)

    def _reconnect(self, lost: BaseException, reopen: Callable[[], StateConnection], pauses: Iterable[float]) -> None:
        where = self.conn.where
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - it is gone already
            pass
        self._locked = False
        self._stale = True
        for pause in pauses:
            self._pause.wait(pause)
            try:
                conn = reopen()
            except Exception as exc:
                if is_connection_lost(exc):
                    continue
                raise
            try:
                self.conn = conn
                self._session()
                self._hold(conn)
            except Exception as exc:
                if is_connection_lost(exc):
                    continue
                raise
            log.warning("%s: the connection was lost (%s); opened again", where, " ".join(str(lost).split())[:200])
            return
        raise StateUnreachableError(
            f"{where}: the connection was lost and could not be opened again ({lost})",
            "is PostgreSQL running? `digest send` again resumes where this one stopped",
        ) from lost

    def _hold(self, conn: StateConnection) -> None:
        """PostgreSQL: hold this worker's own lock before it claims or writes a row (waiting, if a `recover`
        in another sender holds it while deciding whether this worker is dead: once that one commits, the
        ownership check of the write tells whether the row is still this worker's). Never write unlocked:
        a recover that found the lock free would take back the rows of a live worker."""
        if self.pg and not self._locked and self._owner is not None:
            conn.execute("SELECT pg_advisory_lock(?::bigint)", (lock_key(_owner_lock(self._owner)),))
            self._locked = True

    def _flush(self) -> None:
        """Make every write so far durable, now."""
        if self._sync is not None:
            self._sync.start()()

    # -- a run's set-up -------------------------------------------------------------------------

    def _issue_lock(self, conn: StateConnection, issue_id: str) -> None:
        """PostgreSQL: one run's enrolment or recovery of an issue at a time (released at COMMIT)."""
        if self.pg:
            conn.execute("SELECT pg_advisory_xact_lock(?::bigint)", (lock_key(f"digest outbox issue {issue_id}"),))

    def add(
        self,
        issue_id: str,
        run_id: str,
        rows: Iterable[tuple[str, str, str | None, tuple[str, ...] | None]],
        skipped: dict[str, str] | None = None,
    ) -> None:
        """Enrol this run's recipients (recipient key, address, name, topics); finished rows stay as they are.

        `skipped` maps recipient keys to why they get no message; they are recorded as skipped
        unless already sent. On PostgreSQL the rows of the issue no longer on the list lose their
        run id (no claim takes them), rows in flight in another sender keep theirs, and a row
        already enrolled with the same name and topics is left as it is.
        """
        skipped = skipped or {}
        now = _iso(self.clock)
        # One row a key (the last given wins): one INSERT may not upsert a row twice on PostgreSQL.
        enrolled = list({
            key: (issue_id, key, addr, name, json.dumps(list(topics)) if topics is not None else None, run_id, now)
            for key, addr, name, topics in rows
        }.values())

        keep = "outbox.state NOT IN ('claimed', 'data-sent')"
        if self.pg:
            # The senders of a fleet enrol the same list: a row already enrolled as given is not
            # written again (the run id's value does not matter on PostgreSQL, only that it is set).
            keep += (" AND (outbox.run_id IS NULL OR outbox.name IS DISTINCT FROM excluded.name"
                     " OR outbox.topics IS DISTINCT FROM excluded.topics)")
        unskip = "run_id IS NOT NULL" if self.pg else "run_id = ?"

        def work(conn: StateConnection) -> None:
            with conn.transaction():
                self._issue_lock(conn, issue_id)
                if self.pg:
                    conn.execute(
                        "UPDATE outbox SET run_id = NULL WHERE issue_id = ? AND run_id IS NOT NULL"
                        " AND state NOT IN ('claimed', 'data-sent') AND recipient NOT IN (SELECT unnest(?::text[]))",
                        (issue_id, [row[1] for row in enrolled]),
                    )
                conn.insert_texts(
                    "INSERT INTO outbox (issue_id, recipient, address, name, topics, run_id, updated_at)",
                    enrolled,
                    "ON CONFLICT (issue_id, recipient) DO UPDATE SET"
                    f" run_id = excluded.run_id, name = excluded.name, topics = excluded.topics WHERE {keep}",
                )
                # Whether a recipient is skipped is decided afresh each run (their topics may have changed).
                conn.execute(
                    f"UPDATE outbox SET state = 'pending', reply = ''"
                    f" WHERE issue_id = ? AND {unskip} AND state = 'skipped'",
                    (issue_id,) if self.pg else (issue_id, run_id),
                )
                conn.executemany(
                    "UPDATE outbox SET state = 'skipped', reply = ?, updated_at = ?"
                    " WHERE issue_id = ? AND recipient = ? AND state IN ('pending', 'deferred', 'skipped')",
                    [(why, now, issue_id, key) for key, why in skipped.items()],
                )

        self._do(work)
        self._flush()

    def _dead_owners(self, conn: StateConnection, issue_id: str) -> tuple[str, list[str]]:
        """(SQL condition, params) for the in-flight rows of `issue_id` no live worker holds; their locks are
        taken (PostgreSQL), for the caller to release. SQLite: every one (one sender per issue)."""
        if not self.pg:
            return "1 = 1", []
        owners = _owners_in_flight(conn, issue_id)
        dead = [o for o in owners if conn.try_advisory_lock(_owner_lock(o))]
        if not dead:
            return "run_id IS NULL", []
        return f"(run_id IS NULL OR run_id IN ({','.join('?' * len(dead))}))", dead

    def recover(self, issue_id: str, *, resend_ambiguous: bool = True, retry_failed: bool = False) -> Recovered:
        """Settle the rows earlier runs left behind, before this run enrols its recipients.

        claimed -> pending (nothing reached the server's acceptance point); data-sent ->
        ambiguous; exhausted -> pending with its attempts reset; with `retry_failed`, failed
        (5xx) -> pending too; with `resend_ambiguous`, ambiguous rows not yet sent again ->
        pending, counted in `resends` so that none is sent again more than once this way.
        On PostgreSQL, only the claimed and data-sent rows of dead workers (their lock free):
        another sender's rows in flight are its own.
        """
        now = _iso(self.clock)

        def work(conn: StateConnection) -> Recovered:
            done, dead = Recovered(), list[str]()
            try:
                with conn.transaction():
                    self._issue_lock(conn, issue_id)
                    dead_sql, dead = self._dead_owners(conn, issue_id)
                    done.ambiguous = [
                        r[0] for r in conn.execute(
                            "UPDATE outbox SET state = 'ambiguous', updated_at = ?,"
                            " reply = 'interrupted between DATA and the server''s reply: may or may not have been"
                            " delivered'"
                            f" WHERE issue_id = ? AND state = 'data-sent' AND {dead_sql} RETURNING address",
                            (now, issue_id, *dead),
                        ).fetchall()
                    ]
                    requeue = ["'exhausted'"] + (["'failed'"] if retry_failed else [])
                    done.requeued = conn.execute(
                        "UPDATE outbox SET attempts = CASE WHEN state = 'claimed' THEN"
                        " (CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END) ELSE 0 END,"
                        " state = 'pending', retry_at = NULL, updated_at = ?"
                        f" WHERE issue_id = ? AND (state IN ({','.join(requeue)})"
                        f" OR (state = 'claimed' AND {dead_sql}))",
                        (now, issue_id, *dead),
                    ).rowcount
                    if resend_ambiguous:
                        done.resent = [
                            r[0] for r in conn.execute(
                                "UPDATE outbox SET state = 'pending', resends = resends + 1, attempts = 0,"
                                " retry_at = NULL, updated_at = ?"
                                " WHERE issue_id = ? AND state = 'ambiguous' AND resends < ? RETURNING address",
                                (now, issue_id, MAX_AUTO_RESENDS),
                            ).fetchall()
                        ]
            finally:
                for owner in dead:
                    if not conn.closed:
                        conn.advisory_unlock(_owner_lock(owner))
            return done

        done = self._do(work)
        self._flush()
        return done

    # -- one message ----------------------------------------------------------------------------

    def claim(self, issue_id: str, run_id: str) -> Claimed | None:
        """Take the next row due for this run and mark it `claimed` (committed, not fsynced); None when none is due."""
        if self._owner is None:
            # PostgreSQL: the worker's own id, locked while it lives, so that `recover` in another
            # sender can tell its rows in flight from a dead one's.
            self._owner = f"{run_id}/{uuid.uuid4().hex[:8]}" if self.pg else run_id
        owner = self._owner

        def work(conn: StateConnection) -> Any:
            self._hold(conn)
            if self._stale:
                # The answer to a claim may have been lost with the connection: a row left claimed
                # by this worker is not being sent, so it goes back to the queue.
                conn.execute(
                    "UPDATE outbox SET state = 'pending', attempts = attempts - 1"
                    " WHERE run_id = ? AND state = 'claimed'",
                    (owner,),
                )
                self._stale = False
            now = self.clock()
            if self.pg:
                return conn.execute(_CLAIM_PG, (owner, _iso(self.clock), issue_id, issue_id, now)).fetchone()
            params = (owner, _iso(self.clock), issue_id, run_id, issue_id, run_id, now)
            return conn.execute(_CLAIM_SQLITE, params).fetchone()

        row = self._do(work)
        if row is None:
            return None
        self._durable = _no_wait
        topics = tuple(json.loads(row[5])) if row[5] is not None else None
        return Claimed(row[0], row[1], row[2], row[3], row[4], topics, row[6])

    def _owned(self, sql: str, params: Sequence[object], *, durable: bool = False) -> int:
        """A write to a row this worker claimed, only while it is still the worker's; the rows written.
        `durable` (PostgreSQL, fsync on): its COMMIT returns once the server's WAL is flushed."""

        def work(conn: StateConnection) -> int:
            self._hold(conn)
            if not (durable and self.pg and self._fsync):
                return conn.execute(sql, (*params, self._owner)).rowcount
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit TO on")
                return conn.execute(sql, (*params, self._owner)).rowcount

        return self._do(work)

    def mark_data(self, item: Claimed) -> Callable[[], None] | None:
        """Mark the row `data-sent` and start its fsync; return the wait to call before the final ".".

        None: the row is no longer this worker's (another sender recovered it while this one's
        connection was lost): the message must not be sent."""
        written = self._owned(
            "UPDATE outbox SET state = 'data-sent', updated_at = ?"
            " WHERE id = ? AND state IN ('claimed', 'data-sent') AND run_id = ?",
            (_iso(self.clock), item.rowid), durable=True,
        )
        if not written:
            return None
        self._durable = self._sync.start() if self._sync is not None else _no_wait
        return self.wait_durable

    def wait_durable(self) -> None:
        """Wait until the last data-sent mark is on disk (raises DurabilityError if it cannot be)."""
        wait, self._durable = self._durable, _no_wait
        wait()

    def _finish(self, item: Claimed, state: str, reply: str, retry_at: float | None = None) -> None:
        self._owned(
            "UPDATE outbox SET state = ?, reply = ?, retry_at = ?, updated_at = ? WHERE id = ? AND run_id = ?",
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
        self._owned(
            "UPDATE outbox SET state = 'pending', attempts = attempts - 1, reply = ?, updated_at = ?"
            " WHERE id = ? AND state IN ('claimed', 'data-sent') AND run_id = ?",
            (reply, _iso(self.clock), item.rowid),
        )

    def pace(self, name: str, interval: float) -> float | None:
        """`smtp.rate` shared by every sender (PostgreSQL): take the next slot of `name`, one every
        `interval` seconds, and return how long to wait for it (the database's clock, so that the
        hosts' clocks need not agree). None on SQLite: the process paces itself (one sender per issue)."""
        if not self.pg:
            return None

        def work(conn: StateConnection) -> float:
            row = conn.execute(
                "INSERT INTO outbox_pace (name, next_at) VALUES (?, EXTRACT(EPOCH FROM clock_timestamp())::float8 + ?)"
                " ON CONFLICT (name) DO UPDATE SET next_at ="
                " GREATEST(outbox_pace.next_at, EXTRACT(EPOCH FROM clock_timestamp())::float8) + ?"
                " RETURNING next_at - ? - EXTRACT(EPOCH FROM clock_timestamp())::float8",
                (name, interval, interval, interval),
            ).fetchone()
            return max(float(row[0]), 0.0)

        return self._do(work)

    # -- reading --------------------------------------------------------------------------------

    def next_retry(self, issue_id: str, run_id: str) -> float | None:
        """When the earliest deferred row of this run is due; None when none is waiting. On PostgreSQL,
        any enrolled row of the issue: now, while a pending row is left (another worker may hold
        its lock for a moment)."""
        if self.pg:
            row = self._do(lambda conn: conn.execute(
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM outbox WHERE issue_id = ? AND state = 'pending'"
                " AND run_id IS NOT NULL) THEN 0 ELSE (SELECT MIN(COALESCE(retry_at, 0)) FROM outbox"
                " WHERE issue_id = ? AND state = 'deferred' AND run_id IS NOT NULL) END",
                (issue_id, issue_id),
            ).fetchone())
        else:
            row = self.conn.execute(
                "SELECT MIN(COALESCE(retry_at, 0)) FROM outbox"
                " WHERE issue_id = ? AND run_id = ? AND state = 'deferred'",
                (issue_id, run_id),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def _run_rows(self, conn: StateConnection, issue_id: str, run_id: str | None) -> tuple[str, list[object]]:
        """The rows a run answers for: SQLite, those it enrolled; PostgreSQL, every enrolled row of the
        issue but those in flight in another live sender."""
        if run_id is None:
            return "issue_id = ?", [issue_id]
        if not self.pg:
            return "issue_id = ? AND run_id = ?", [issue_id, run_id]
        live = self._live_owners(conn, issue_id)
        where = "issue_id = ? AND run_id IS NOT NULL"
        if live:
            where += f" AND NOT (state IN ('claimed', 'data-sent') AND run_id IN ({','.join('?' * len(live))}))"
        return where, [issue_id, *live]

    def _live_owners(self, conn: StateConnection, issue_id: str) -> list[str]:
        owners = _owners_in_flight(conn, issue_id)
        live = []
        for owner in owners:
            if owner == self._owner:
                continue
            if conn.try_advisory_lock(_owner_lock(owner)):
                conn.advisory_unlock(_owner_lock(owner))
            else:
                live.append(owner)
        return live

    def counts(self, issue_id: str, run_id: str | None = None) -> dict[str, int]:
        """Rows per state, plus `resendable`: ambiguous rows still due their one automatic resend.

        With `run_id`, the rows the run answers for; on PostgreSQL `elsewhere` counts the rows
        other live senders have in flight (theirs to finish)."""

        def work(conn: StateConnection) -> dict[str, int]:
            where, params = self._run_rows(conn, issue_id, run_id)
            counts = _counts(conn, where, params)
            if self.pg and run_id is not None:
                everything = _counts(conn, "issue_id = ? AND run_id IS NOT NULL", [issue_id])
                counts["elsewhere"] = sum(everything[s] - counts[s] for s in IN_FLIGHT)
            return counts

        return self._do(work)

    def rows(self, issue_id: str, states: Sequence[str], run_id: str | None = None) -> list[dict[str, Any]]:
        def work(conn: StateConnection) -> list[dict[str, Any]]:
            where, params = self._run_rows(conn, issue_id, run_id)
            marks = ",".join("?" * len(states))
            sql = f"SELECT * FROM outbox WHERE {where} AND state IN ({marks}) ORDER BY id"
            return [dict(row) for row in conn.execute(sql, [*params, *states])]

        return self._do(work)

    def states(self, issue_id: str) -> dict[str, tuple[str, int]]:
        """Each recipient's (state, resends)."""
        return {
            r[0]: (r[1], r[2])
            for r in self._do(lambda conn: conn.execute(
                "SELECT recipient, state, resends FROM outbox WHERE issue_id = ?", (issue_id,)
            ).fetchall())
        }


def _counts(conn: StateConnection, where: str, params: Sequence[object]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    counts["resendable"] = 0
    for state, n, resendable in conn.execute(
        f"SELECT state, COUNT(*), SUM(CASE WHEN resends < {MAX_AUTO_RESENDS} THEN 1 ELSE 0 END) FROM outbox"
        f" WHERE {where} GROUP BY state",
        params,
    ):
        counts[state] = int(n)
        if state == "ambiguous":
            counts["resendable"] = int(resendable)
    return counts


def outbox_summary(conn: StateConnection, issue_id: str | None = None, *, limit: int = 10) -> list[IssueSummary]:
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


def _owners_in_flight(conn: StateConnection, issue_id: str) -> list[str]:
    """The workers (run ids) that have rows of `issue_id` claimed or data-sent."""
    return [
        r[0] for r in conn.execute(
            "SELECT DISTINCT run_id FROM outbox WHERE issue_id = ? AND state IN ('claimed', 'data-sent')"
            " AND run_id IS NOT NULL",
            (issue_id,),
        ).fetchall()
    ]
