"""The one lock: one process at a time for a block, on a file beside the state or, with a PostgreSQL
state, on the database itself.

- `exclusive_lock`: an exclusive `flock` on a file. The kernel drops a flock when its process dies,
  so a killed run never leaves a stale lock behind. The scheduler holds `<state>.lock` (one
  scheduler, or --run-once, per state file); a send holds `<state>.send-<hash>.lock`.
- `ledger_lock`: the same promise over the ledger, whichever engine holds it. A SQLite state: the
  file lock above. A PostgreSQL state, shared by several hosts, where a file lock would only keep
  out the processes of one host: a session-level advisory lock on a connection of its own, held
  for the block. PostgreSQL drops it when the session ends (the process died, the host went away,
  the connection was cut), so it never goes stale either.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from digest.config_model import Settings
from digest.state.connection import lock_key
from digest.state.engine import open_state
from digest.text import one_line


class AnotherRunHoldsTheLock(Exception):
    """Another digest process holds the lock: not a failure, the caller decides what it means."""

    def __init__(self, lock_path: Path | str) -> None:
        super().__init__(f"another digest process holds the lock {lock_path}")
        self.lock_path = lock_path  # the lock file, or "postgresql://…: advisory lock NAME"


def schedule_lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


def send_lock_path(state_path: Path, issue_id: str) -> Path:
    tag = hashlib.sha256(issue_id.encode("utf-8")).hexdigest()[:12]
    return state_path.with_name(f"{state_path.name}.send-{tag}.lock")


@contextmanager
def exclusive_lock(lock_path: Path, *, write_pid: bool = False, holder: str = "") -> Iterator[None]:
    """Hold `lock_path` for the block; AnotherRunHoldsTheLock at once (no wait) when another process has it.

    `write_pid` leaves this process's id (and `holder`, a host name) in the file, for an owner, or
    another run, wondering who holds it (`lock_holder`).
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
            os.write(fd, f"{os.getpid()}\t{one_line(holder)}\n".encode())
        yield
    finally:
        os.close(fd)


@contextmanager
def ledger_lock(
    settings: Settings, name: str, lock_file: Path | None = None, *, write_pid: bool = False, holder: str = ""
) -> Iterator[None]:
    """One process at a time, over every host sharing the ledger, for the block; AnotherRunHoldsTheLock
    at once (no wait) when another has it. SQLite: `lock_file` (default `<state>.<name>.lock`);
    PostgreSQL: the advisory lock `digest <name>`, on a connection held open for the block. `holder`
    (this host's name) is kept with the lock itself, so that the run that finds it taken can name
    who has it (`lock_holder`) without a race against the holder writing it anywhere else."""
    if settings.state_url is None:
        with exclusive_lock(lock_file or _lock_file(settings, name), write_pid=write_pid, holder=holder):
            yield
        return
    key = f"digest {name}"
    with open_state(settings) as conn:
        # The session's application_name is what pg_stat_activity shows beside the lock (lock_holder).
        conn.execute("SELECT set_config('application_name', ?, false)", (f"{APP_PREFIX}{one_line(holder)}"[:63],))
        if not conn.try_advisory_lock(key):
            raise AnotherRunHoldsTheLock(f"{settings.state_where}: advisory lock {key!r}")
        yield  # the lock goes with the connection, closed here (or with the process, or the server)


APP_PREFIX = "digest on "


def _lock_file(settings: Settings, name: str) -> Path:
    state = settings.state_path
    return state.with_name(f"{state.name}.{name}.lock")


def lock_holder(settings: Settings, name: str, lock_file: Path | None = None) -> str:
    """The host holding `ledger_lock(settings, name)` now, as it named itself; '' when unknown or free."""
    if settings.state_url is None:
        try:
            text = (lock_file or _lock_file(settings, name)).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text.partition("\t")[2].strip()
    with open_state(settings) as conn:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND ((l.classid::bigint << 32) | l.objid::bigint) = ?",
            (lock_key(f"digest {name}"),),
        ).fetchone()
    name_found = str(row[0]) if row else ""
    return name_found[len(APP_PREFIX):] if name_found.startswith(APP_PREFIX) else ""
