"""`smtp.rate`: at most so many messages a second, across all connections (hosted relays cap it)."""

from __future__ import annotations

import threading
from collections.abc import Callable


class RateLimiter:
    """At most `rate` claims per second across all workers (0: unlimited)."""

    def __init__(self, rate: float, monotonic: Callable[[], float]) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.monotonic = monotonic
        self._next = monotonic()
        self._lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Wait for the next slot; False if stopped meanwhile."""
        if not self.interval:
            return not stop.is_set()
        with self._lock:
            now = self.monotonic()
            slot = max(self._next, now)
            self._next = slot + self.interval
        delay = slot - self.monotonic()
        return not stop.wait(delay) if delay > 0 else not stop.is_set()
