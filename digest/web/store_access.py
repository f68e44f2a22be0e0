"""The subscriber store behind the pages: one connection, used from the event loop's own thread.

The store is the ledger's, a SQLite file or a PostgreSQL database shared with other hosts (a web
host taking sign-ups, a sending host). When PostgreSQL restarts or the network cuts the
connection, the call that finds it lost is made once more on a new connection (a change is one
transaction: it was made before the cut, or it was not; made again, it is decided again on the row
as it now is), and the pages go on.

Each call is one short transaction, so it runs right in the event loop rather than on a worker
thread: handing each statement's result back across threads costs more than the statement,
because the worker waits for the GIL while the loop parses requests. The price: while another
process holds the database's write lock (SQLite) or the row's lock (PostgreSQL) (a `digest send`
recording a delivery, also a short transaction), the pages wait with it.

Unsubscribes are committed in groups. A commit is an fsync (synchronous=FULL: ~1 ms or more,
more on a busy disk), and one per request serialises a one-click rush on the disk (one run of
benchmarks/serve.py: 197/s, p99 149 ms). So `unsubscribe` only queues the reader and waits: the first request of a
group schedules one writer callback (`loop.call_soon`), which runs after every request already
parsed has queued its own, takes them all, makes them in one transaction
(`SubscriberStore.unsubscribe_many`, each row re-read and decided as a lone unsubscribe would
be), and only after the commit answers each waiting request with its own outcome (or the
error, to all of them). Durability is unchanged: no request is answered before its commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from digest.config import Settings
from digest.state.engine import is_connection_lost
from digest.state.subscribers import SubscriberStore

T = TypeVar("T")


class PageStore:
    """The store as the pages use it: short transactions on the loop's thread; unsubscribes group-committed."""

    def __init__(self, settings: Settings, clock: Callable[[], float], rate_per_address: int) -> None:
        self.settings = settings
        self.clock = clock
        self.rate_per_address = rate_per_address
        self._store: SubscriberStore | None = None
        self._waiting: list[tuple[str, str, asyncio.Future[str]]] = []  # (source, sid, its answer)
        self.commits = 0  # transactions the group commit made (for the tests and the curious)

    def _open(self) -> SubscriberStore:
        if self._store is None:  # opened at the first request, on the loop's thread that uses it
            self._store = SubscriberStore.open(self.settings, clock=self.clock, rate_per_address=self.rate_per_address)
        return self._store

    def _call(self, call: Callable[[SubscriberStore], T]) -> T:
        """`call(store)`; once more on a new connection when the old one was lost (PostgreSQL restarted)."""
        try:
            return call(self._open())
        except Exception as exc:
            if not is_connection_lost(exc):
                raise
            self._drop()
            return call(self._open())

    def _drop(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            try:
                store.close()
            except Exception:  # noqa: BLE001 - a lost connection may not close cleanly; it is gone either way
                pass

    async def run(self, call: Callable[[SubscriberStore], T]) -> T:
        """`call(store)`, one short transaction."""
        return self._call(call)

    async def unsubscribe(self, sid: str, *, source: str) -> str:
        """`store.unsubscribe(sid, source=source)`, committed with whatever other unsubscribes wait beside it."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._commit_waiting)
        self._waiting.append((source, sid, answer))
        return await answer

    def _commit_waiting(self) -> None:
        """The writer: every queued unsubscribe in one transaction per source, then each answer."""
        waiting, self._waiting = self._waiting, []
        for source in dict.fromkeys(s for s, _, _ in waiting):
            group = [(sid, answer) for s, sid, answer in waiting if s == source]
            try:
                outcomes = self._call(partial(_unsubscribe_many, sids=[sid for sid, _ in group], source=source))
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the error, the writer goes on
                for _, answer in group:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            self.commits += 1
            for (_, answer), outcome in zip(group, outcomes):
                if not answer.done():  # a request whose client went away was cancelled: its change stands
                    answer.set_result(outcome)

    def close(self) -> None:
        if self._waiting:  # the loop is stopping: nothing more will run the writer
            self._commit_waiting()
        self._drop()


def _unsubscribe_many(store: SubscriberStore, *, sids: list[str], source: str) -> list[str]:
    return store.unsubscribe_many(sids, source=source)
