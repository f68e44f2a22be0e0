"""The state database (SQLite): one file for what was built, carried, sent and cached.

Each stage owns its own tables and creates them with `CREATE TABLE IF NOT EXISTS` through
`connect`; this module opens the file the same way for all of them, and keeps the rules every
stage shares about what may be in it:

- The caches (scan, render) hold JSON with a version (codec.py), never pickles: the state file
  is data, and loading it must never run code. A blob that does not decode is dropped and
  rebuilt; the pickled caches of an older digest are dropped unread, once (continuity.py).
- The ledger (outbox, schedule ticks) is what stops an issue being sent twice, so a state file
  that has lost it beside manifests recording sends makes a send refuse (continuity.py).
- A cache is valid only for the code that wrote it: `code_stamps`.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from digest.errors import StateDatabaseError, db_error, os_error

if TYPE_CHECKING:
    pass


def connect(path: Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """Open (creating its folder) the state database with durable, concurrent-safe settings."""
    # A damaged file, a read-only folder or a full disk shows here first: one line naming
    # the file (errors.db_error), never a traceback.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err = os_error(exc, path.parent)
        raise StateDatabaseError(err.message, err.hint) from None
    try:
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise db_error(exc, path) from None
    try:
        conn.row_factory = sqlite3.Row
        # WAL lets a reader (`digest status`) look while a send writes; FULL makes each commit
        # durable before the next SMTP transaction starts, so a crash never loses a "sent".
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
    except sqlite3.Error as exc:
        conn.close()
        raise db_error(exc, path) from None
    return conn


def code_stamps(names: Sequence[str]) -> list[tuple[str, int, int]]:
    """Name, size and mtime of each module of digest's that `names` lists, packages expanded.

    A package stands for every module in it, found on disk, so adding, renaming or removing a
    module changes the stamps and invalidates what the old code wrote. A name that resolves to
    nothing raises instead of stamping (name, 0, 0) and leaving every cache valid for ever.
    """
    stamps: list[tuple[str, int, int]] = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"code stamp: no module {name}", name=name)
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if spec.submodule_search_locations else [origin]
        for file in files:
            st = file.stat()
            where = f"{name}:{file.relative_to(origin.parent).as_posix()}" if len(files) > 1 else name
            stamps.append((where, st.st_size, st.st_mtime_ns))
    return stamps
