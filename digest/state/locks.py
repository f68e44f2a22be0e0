"""The one lock: an exclusive `flock` on a file beside the state database, held for a block.

The scheduler holds `<state>.lock` (one scheduler, or --run-once, per state database); a send
holds `<state>.send-<hash>.lock` (one `digest send` per issue: a second would take the first's
rows in flight for ambiguous). The kernel drops a flock when its process dies, so a killed run
never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class AnotherRunHoldsTheLock(Exception):
    """Another digest process holds the lock: not a failure, the caller decides what it means."""

    def __init__(self, lock_path: Path) -> None:
        super().__init__(f"another digest process holds the lock {lock_path}")
        self.lock_path = lock_path


def schedule_lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


def send_lock_path(state_path: Path, issue_id: str) -> Path:
    tag = hashlib.sha256(issue_id.encode("utf-8")).hexdigest()[:12]
    return state_path.with_name(f"{state_path.name}.send-{tag}.lock")


@contextmanager
def exclusive_lock(lock_path: Path, *, write_pid: bool = False) -> Iterator[None]:
    """Hold `lock_path` for the block; AnotherRunHoldsTheLock at once (no wait) when another process has it.

    `write_pid` leaves this process's id in the file, for an owner wondering who holds it.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AnotherRunHoldsTheLock(lock_path) from None
        if write_pid:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
