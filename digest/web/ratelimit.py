"""An in-memory sliding-window rate limiter: at most `limit` hits per key in `window` seconds.

One per process (a `digest serve` with several workers has one per worker: the store's own
per-address limit is the one that holds across them). Time comes from the clock it is given.
Memory is bounded: past `max_keys` keys, the keys whose hits have all aged out are dropped, and
if that is not enough the oldest keys go.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, limit: int, window: float, *, clock: Callable[[], float], max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> bool:
        """Count one hit for `key`; False (and not counted) when the key has used its `limit` already."""
        if self.limit <= 0:
            return True  # 0 or less: no limit
        now = self.clock()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True

    def _prune(self, now: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]:
            del self._hits[key]
        excess = len(self._hits) - self.max_keys + 1
        for key in list(self._hits)[: max(excess, 0)]:  # dicts keep insertion order: the oldest keys first
            del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)
