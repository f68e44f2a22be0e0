"""The subscriber store's rows: the connection, the reader ids, the reads and the one write of a row.

`SubscriberRows` is the half of `SubscriberStore` (subscribers.py) that decides nothing: it
opens the state database, runs one `BEGIN IMMEDIATE` transaction per change (`_write`), gives
each address its opaque id (`reader_ids`), reads rows, and writes a row with its event
(`_change`). What a sign-up, a confirm, an unsubscribe, a bounce or an import does to a row is
decided in subscribers.py, on top of these.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from digest.addresses import check_address
from digest.errors import DigestError, db_error
from digest.state.db import connect
from digest.state.subscriber_schema import BLOCKED, Subscriber, create_schema, iso, subscriber_of

_SELECT = "SELECT s.*, r.sid FROM subscribers s JOIN reader_ids r ON r.key = s.key"


def address_key(address: str) -> tuple[str, str]:
    """(address as checked, its key); DigestError naming the address when it is not one."""
    checked, reason = check_address(address)
    if checked is None:
        raise DigestError(f"{address!r}: {reason}")
    return checked, checked.lower()


class SubscriberRows:
    """The connection, the reads, and the one way a row changes (`_change`); the changes are in subscribers.py."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], float], rate_per_address: int) -> None:
        self.conn, self.path, self.clock, self.rate_per_address = conn, path, clock, rate_per_address

    @classmethod
    def open(cls, path: Path, *, clock: Callable[[], float], rate_per_address: int = 3) -> Self:
        """The store in the state database at `path` (created when missing). `rate_per_address`:
        confirmation mails one address may get in 24 hours (subscribe.rate_per_address)."""
        conn = connect(path)
        try:
            create_schema(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise db_error(exc, path) from None
        return cls(conn, path, clock, rate_per_address)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def _write(self, *, keep: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before anything is read (BEGIN IMMEDIATE); rolled back unless `keep`."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT" if keep else "ROLLBACK")
        except sqlite3.Error as exc:
            raise db_error(exc, self.path) from None

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise db_error(exc, self.path) from None

    # -- reader ids ---------------------------------------------------------------------------------

    @staticmethod
    def _sid(conn: sqlite3.Connection, key: str, address: str) -> str:
        row = conn.execute("SELECT sid FROM reader_ids WHERE key = ?", (key,)).fetchone()
        while row is None:  # a clash of two random ids is astronomically rare; try another one
            conn.execute("INSERT OR IGNORE INTO reader_ids (key, sid, address) VALUES (?, ?, ?)",
                         (key, secrets.token_urlsafe(12), address))
            row = conn.execute("SELECT sid FROM reader_ids WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    def sid_for(self, address: str) -> str:
        """The reader's opaque id, made the first time the address is seen."""
        return self.sids_for([address])[address.strip(" \t").lower()]

    def sids_for(self, addresses: Iterable[str]) -> dict[str, str]:
        """key (the address lower-cased) -> sid for each address, in one transaction."""
        out: dict[str, str] = {}
        with self._write() as conn:
            for address in addresses:
                key = address.strip(" \t").lower()
                if key not in out:
                    out[key] = self._sid(conn, key, address.strip(" \t"))
        return out

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

    def _row(self, conn: sqlite3.Connection, key: str) -> Subscriber | None:
        row = conn.execute(f"{_SELECT} WHERE s.key = ?", (key,)).fetchone()
        return subscriber_of(row) if row else None

    def _change(
        self, conn: sqlite3.Connection, key: str, address: str, before: Subscriber | None, state: str, *,
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
