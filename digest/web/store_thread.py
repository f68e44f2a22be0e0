"""The subscriber store behind the pages: one connection, used from the event loop's own thread.

Each call is one short transaction (a few tenths of a millisecond, fsync included), so it runs
right in the event loop rather than on a worker thread: handing it to a thread and back cost
more than the call itself, because the thread waits for the GIL while the loop parses requests
(about 3 ms a call under load, measured with benchmarks/serve.py: 290 one-clicks/s instead of
over 1,000). The price: while another process holds the database's write lock (a `digest send`
recording a delivery, also a short transaction), the pages wait with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from digest.state.subscribers import SubscriberStore

T = TypeVar("T")


class StoreThread:
    def __init__(self, path: Path, clock: Callable[[], float], rate_per_address: int) -> None:
        self.path = path
        self.clock = clock
        self.rate_per_address = rate_per_address
        self._store: SubscriberStore | None = None

    def _open(self) -> SubscriberStore:
        if self._store is None:  # opened at the first request, on the loop's thread that uses it
            self._store = SubscriberStore.open(self.path, clock=self.clock, rate_per_address=self.rate_per_address)
        return self._store

    async def run(self, call: Callable[[SubscriberStore], T]) -> T:
        """`call(store)`, one short transaction."""
        return call(self._open())

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
