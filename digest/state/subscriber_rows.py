"""The subscriber store's rows: the connection, the reader ids, the reads and the one write of a row.

`SubscriberRows` is the half of `SubscriberStore` (subscribers.py) that decides nothing: it
opens the ledger (a SQLite file or PostgreSQL: engine.py), runs one transaction per change
(`_write`), gives each address its opaque id (`reader_ids`; a send's readers all at once, in a
few statements whatever their number: `sids_for`), reads rows, and writes a row with its event
(`_change`). What a sign-up, a confirm, an unsubscribe, a bounce or an import does to a row is
decided in subscribers.py, on top of these.

A change reads its row again inside its transaction before deciding (`_lock`, then `_row`). On
SQLite the transaction holds the database's one write lock from BEGIN (IMMEDIATE), so that read is
current. On PostgreSQL (READ COMMITTED, many writers at once) `_lock` first makes sure the
address's `reader_ids` row exists (`INSERT … ON CONFLICT DO NOTHING`, safe when two insert it at
once) and locks it with `SELECT … FOR UPDATE`: every change of one address waits for the one
before it to commit, including the first, which inserts the subscriber row. Several addresses are
locked in the order of their keys, so two changes of many rows never deadlock.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from digest.addresses import check_address
from digest.config_model import Settings
from digest.errors import DigestError, StateDatabaseError, db_error
from digest.state.connection import driver_errors, pg_error
from digest.state.engine import StateConnection, open_ledger, open_state
from digest.state.migrations import migrate
from digest.state.subscriber_schema import BLOCKED, Subscriber, iso, subscriber_of

_SELECT = "SELECT s.*, r.sid FROM subscribers s JOIN reader_ids r ON r.key = s.key"
_CHUNK = 500  # keys a `WHERE key IN (…)` names at most (SQLite's default limit of variables is 32,766)


def address_key(address: str) -> tuple[str, str]:
    """(address as checked, its key); DigestError naming the address when it is not one."""
    checked, reason = check_address(address)
    if checked is None:
        raise DigestError(f"{address!r}: {reason}")
    return checked, checked.lower()


def state_error(exc: Exception, conn: StateConnection) -> StateDatabaseError:
    """One line naming the ledger (its file, or postgresql://user@host:port/db) and the reason."""
    if isinstance(exc, StateDatabaseError):
        return exc
    if isinstance(exc, sqlite3.Error):
        return db_error(exc, conn.where)
    return pg_error(exc, conn.where)  # driver_errors() lets only sqlite3's and psycopg's through


class SubscriberRows:
    """The connection, the reads, and the one way a row changes (`_change`); the changes are in subscribers.py."""

    def __init__(self, conn: StateConnection, clock: Callable[[], float], rate_per_address: int = 3) -> None:
        """The store on an open, migrated ledger connection, which it closes."""
        self.conn, self.clock, self.rate_per_address = conn, clock, rate_per_address

    @classmethod
    def open(cls, where: Settings | Path | str, *, clock: Callable[[], float], rate_per_address: int = 3) -> Self:
        """The store in the settings' ledger, or in the one a file path or `state:` value names (created and
        migrated when new). `rate_per_address`: confirmation mails one address may get in 24 hours
        (subscribe.rate_per_address)."""
        if isinstance(where, Settings):
            return cls(open_state(where), clock, rate_per_address)
        conn = open_ledger(str(where), root=Path.cwd())
        try:
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn, clock, rate_per_address)

    @property
    def path(self) -> Path:
        """The ledger's file (SQLite), or its postgresql:// name: what errors name."""
        return Path(self.conn.where)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def _write(self, *, keep: bool = True) -> Iterator[StateConnection]:
        """One write transaction (on SQLite the write lock is taken at BEGIN); rolled back unless `keep`."""
        try:
            with self.conn.transaction():
                yield self.conn
                if not keep:
                    raise _RollBack
        except _RollBack:
            pass
        except driver_errors() as exc:
            raise state_error(exc, self.conn) from None

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except driver_errors() as exc:
            raise state_error(exc, self.conn) from None

    def _lock(self, conn: StateConnection, keys: Iterable[tuple[str, str | None]]) -> None:
        """PostgreSQL: lock each (key, address)'s reader_ids row for this transaction, in key order; an
        address given makes the row first when there is none. SQLite: BEGIN IMMEDIATE locked it all."""
        if conn.dialect == "sqlite":
            return
        for key, address in sorted(dict(keys).items()):
            if address is not None:
                self._sid(conn, key, address)
            conn.execute("SELECT key FROM reader_ids WHERE key = ? FOR UPDATE", (key,))

    def _lock_sids(self, conn: StateConnection, sids: Iterable[str]) -> None:
        """PostgreSQL: lock the reader_ids rows of these sids, in key order (see `_lock`)."""
        if conn.dialect == "sqlite":
            return
        wanted = sorted(set(sids))
        if wanted:
            marks = ",".join("?" * len(wanted))
            conn.execute(f"SELECT key FROM reader_ids WHERE sid IN ({marks}) ORDER BY key FOR UPDATE", wanted)

    # -- reader ids ---------------------------------------------------------------------------------

    @staticmethod
    def _sid(conn: StateConnection, key: str, address: str) -> str:
        """One address's sid, inside the caller's transaction (`_sids` of one key)."""
        return SubscriberRows._sids(conn, {key: address})[key]

    @staticmethod
    def _sids(conn: StateConnection, wanted: Mapping[str, str]) -> dict[str, str]:
        """key -> sid for each key of `wanted` (key -> the address as first seen), inside the caller's
        transaction, in a few statements whatever the number of keys: read the stored sids (`WHERE key
        IN`, `_CHUNK` keys a statement), insert the missing rows (`insert_texts`), then read the stored
        sids of those keys again. What is stored is the answer, never the sid generated here:
        another writer may have inserted the same key first (PostgreSQL: our INSERT waits for its
        transaction and then does nothing), and every reader of a key must get the same sid. Keys go in
        sorted order, so two writers of overlapping sets wait on each other in one order (no deadlock)."""
        keys = sorted(wanted)
        out = _stored_sids(conn, keys)
        missing = [key for key in keys if key not in out]
        while missing:  # again only for a clash of two random ids, which is astronomically rare
            made = [(key, secrets.token_urlsafe(12), wanted[key]) for key in missing]
            conn.insert_texts("INSERT INTO reader_ids (key, sid, address)", made, "ON CONFLICT DO NOTHING")
            out.update(_stored_sids(conn, missing))
            missing = [key for key in missing if key not in out]
        return out

    def sid_for(self, address: str) -> str:
        """The reader's opaque id, made the first time the address is seen."""
        return self.sids_for([address])[address.strip(" \t").lower()]

    def sids_for(self, addresses: Iterable[str]) -> dict[str, str]:
        """key (the address lower-cased) -> sid for each address, in one transaction of a few statements
        (`_sids`): a send asks this once for all its readers, so its cost does not grow per reader."""
        wanted: dict[str, str] = {}
        for address in addresses:
            wanted.setdefault(address.strip(" \t").lower(), address.strip(" \t"))
        if not wanted:
            return {}
        with self._write() as conn:
            return self._sids(conn, wanted)

    def address_of(self, sid: str) -> str | None:
        """The address a sid was made for, subscriber or not (a CSV recipient); None when unknown."""
        rows = self._read("SELECT address FROM reader_ids WHERE sid = ?", (sid,))
        return str(rows[0][0]) if rows else None

    # -- reading ------------------------------------------------------------------------------------

    def by_sid(self, sid: str) -> Subscriber | None:
        """The subscriber row of this sid; None when there is none (also for a CSV recipient's sid)."""
        rows = self._read(f"{_SELECT} WHERE r.sid = ?", (sid,))
        return subscriber_of(rows[0]) if rows else None

    def get(self, address: str) -> Subscriber | None:
        checked, _ = check_address(address)
        rows = self._read(f"{_SELECT} WHERE s.key = ?", ((checked or address.strip()).lower(),))
        return subscriber_of(rows[0]) if rows else None

    def all(self, state: str | None = None) -> list[Subscriber]:
        if state is None:
            return [subscriber_of(r) for r in self._read(f"{_SELECT} ORDER BY s.key")]
        return [subscriber_of(r) for r in self._read(f"{_SELECT} WHERE s.state = ? ORDER BY s.key", (state,))]

    def confirmed(self) -> list[Subscriber]:
        """The send list of `mail.recipients: subscribers`."""
        return self.all("confirmed")

    def blocked_keys(self) -> set[str]:
        """Keys never to mail: unsubscribed, bounced or complained."""
        marks = ",".join("?" * len(BLOCKED))
        return {str(r[0]) for r in self._read(f"SELECT key FROM subscribers WHERE state IN ({marks})", BLOCKED)}

    def events(self, address: str) -> list[dict[str, object]]:
        checked, _ = check_address(address)
        rows = self._read("SELECT id, at, from_state, to_state, source, detail FROM subscriber_events"
                          " WHERE key = ? ORDER BY id", ((checked or address.strip()).lower(),))
        return [dict(r) for r in rows]

    # -- changing -----------------------------------------------------------------------------------

    def _row(self, conn: StateConnection, key: str) -> Subscriber | None:
        row = conn.execute(f"{_SELECT} WHERE s.key = ?", (key,)).fetchone()
        return subscriber_of(row) if row else None

    def _change(
        self, conn: StateConnection, key: str, address: str, before: Subscriber | None, state: str, *,
        source: str, detail: str = "", **columns: object,
    ) -> Subscriber:
        """Write the row in `state` (inserted when `before` is None) and its event; the row as it now is."""
        now = iso(self.clock())
        if before is None:
            self._sid(conn, key, address)
            columns = {"name": None, "topics": None, "confirm_nonce": None, "confirmed_at": None,
                       "consent_ip": None, "created_at": now, **columns}
            names = ["key", "address", "state", "source", "updated_at", *columns]
            conn.execute(f"INSERT INTO subscribers ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                         (key, address, state, source, now, *columns.values()))
        else:
            columns = {"state": state, "source": source, "updated_at": now, **columns}
            conn.execute(f"UPDATE subscribers SET {', '.join(f'{c} = ?' for c in columns)} WHERE key = ?",
                         (*columns.values(), key))
        conn.execute("INSERT INTO subscriber_events (key, at, from_state, to_state, source, detail)"
                     " VALUES (?, ?, ?, ?, ?, ?)", (key, now, before.state if before else None, state, source, detail))
        after = self._row(conn, key)
        assert after is not None  # written just above, in this transaction
        return after


def _stored_sids(conn: StateConnection, keys: Sequence[str]) -> dict[str, str]:
    """key -> sid of the keys that have a reader_ids row, `_CHUNK` keys a statement."""
    out: dict[str, str] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        rows = conn.execute(f"SELECT key, sid FROM reader_ids WHERE key IN ({','.join('?' * len(chunk))})", chunk)
        out.update((str(row[0]), str(row[1])) for row in rows.fetchall())
    return out


class _RollBack(Exception):
    """Raised inside `_write(keep=False)` to roll its transaction back (a dry run)."""
