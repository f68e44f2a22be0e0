"""The state database (SQLite): one file for what was built, carried, sent and cached.

Each stage owns its own tables and creates them with `CREATE TABLE IF NOT EXISTS` through
`connect`; this module only opens the file the same way for all of them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """Open (creating its folder) the state database with durable, concurrent-safe settings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    conn.row_factory = sqlite3.Row
    # WAL lets a reader (`digest status`) look while a send writes; FULL makes each commit
    # durable before the next SMTP transaction starts, so a crash never loses a "sent".
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn
