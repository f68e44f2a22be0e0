"""`digest state copy FROM TO`: SQLite → PostgreSQL → SQLite, every ledger table, not a row lost or changed.

Every ledger table (migrations.ledger_tables: the outbox, the schedule, the subscribers, the bounces,
state_meta) is filled with rows of every column type; the copy through the real CLI prints the rows per
table; the round trip's SQLite file holds exactly the first one's rows; a TO that already holds rows is
refused (and left as it was) unless --replace; ids go on after the copied ones on PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from digest.state.connection import StateConnection
from digest.state.engine import open_ledger
from digest.state.ledger_copy import columns
from digest.state.migrations import ledger_tables, migrate

ROWS = 25
# Columns a CHECK holds to a few values.
VALUES = {("outbox", "state"): "sent", ("subscribers", "state"): "confirmed", ("bounce_log", "kind"): "hard"}


def digest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest", *args], cwd=root, capture_output=True, text=True,
                          timeout=120, check=False)


def _types(conn: StateConnection, table: str) -> dict[str, str]:
    return {str(r[1]): str(r[2]).upper() for r in conn.execute(f"PRAGMA table_info({table})")}


def _fill(conn: StateConnection) -> dict[str, int]:
    counts = {}
    with conn.transaction():
        for table in ledger_tables():
            types = _types(conn, table)
            before = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for i in range(ROWS):
                row = []
                for name, kind in types.items():
                    if (table, name) in VALUES:
                        row.append(VALUES[table, name])
                    elif "INT" in kind:
                        row.append(i * 7 + 1 if name != "id" else i + 1)
                    elif "REAL" in kind:
                        row.append(i + 0.25)
                    elif "BLOB" in kind:
                        row.append(bytes([i, 0, 255]))
                    else:
                        row.append(f"{table}.{name} {i} ü 中 '%?")
                marks = ", ".join("?" * len(types))
                conn.execute(f"INSERT INTO {table} ({', '.join(types)}) VALUES ({marks})", row)
            counts[table] = before + ROWS
    return counts


def _rows(conn: StateConnection) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    for table in ledger_tables():
        names = ", ".join(sorted(columns(conn, table)))
        rows = [tuple(r) for r in conn.execute(f"SELECT {names} FROM {table}")]
        if table == "state_meta":
            rows = [r for r in rows if "cache_format" not in r]
        out[table] = sorted(rows, key=repr)
    return out


def test_a_ledger_goes_to_postgresql_and_back_without_losing_a_row(pg_url: str, tmp_path: Path) -> None:
    first, back = tmp_path / "first.sqlite", tmp_path / "back.sqlite"
    with open_ledger(str(first), root=tmp_path) as conn:
        migrate(conn)
        counts = _fill(conn)
        conn.execute("INSERT INTO state_meta (key, value) VALUES ('cache_format', '1')")  # the cache's: not copied
        original = _rows(conn)
    assert all(original[t] for t in ledger_tables())

    there = digest(tmp_path, "state", "copy", "first.sqlite", pg_url)
    assert there.returncode == 0, there.stderr
    printed = {line.split()[0]: int(line.split()[1]) for line in there.stdout.splitlines()[:-1]}
    assert printed == counts
    assert there.stdout.splitlines()[-1].startswith(f"Copied {sum(counts.values())} rows from {first} to ")

    with open_ledger(pg_url, root=tmp_path) as pg:
        assert _rows(pg) == original
        # ids go on after the copied ones (an identity column's sequence moved past them)
        rest = ", ".join(c for c in columns(pg, "bounce_log") if c != "id")
        new = pg.execute(f"INSERT INTO bounce_log ({rest}) SELECT {rest} FROM bounce_log LIMIT 1 RETURNING id")
        assert new.fetchone()[0] == ROWS + 1
        pg.execute("DELETE FROM bounce_log WHERE id = ?", (ROWS + 1,))

    back_again = digest(tmp_path, "state", "copy", pg_url, str(back))
    assert back_again.returncode == 0, back_again.stderr
    with open_ledger(str(back), root=tmp_path) as conn:
        assert _rows(conn) == original


def test_a_target_with_rows_is_refused_unless_replace(state_engine: str, tmp_path: Path) -> None:
    source = tmp_path / "source.sqlite"
    with open_ledger(str(source), root=tmp_path) as conn:
        migrate(conn)
        _fill(conn)
    target = state_engine
    with open_ledger(target, root=tmp_path) as conn:
        migrate(conn)
        conn.execute("INSERT INTO carried (path, issue_id, number, carried_at) VALUES (?, ?, ?, ?)",
                     ("keep.md", "i1", 1, "2025-01-01"))
    refused = digest(tmp_path, "state", "copy", str(source), target)
    assert refused.returncode == 1
    assert "already holds 1 ledger rows; nothing was copied" in refused.stderr and "--replace" in refused.stderr
    with open_ledger(target, root=tmp_path) as conn:
        assert [tuple(r) for r in conn.execute("SELECT path FROM carried")] == [("keep.md",)]
        assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
    replaced = digest(tmp_path, "state", "copy", "--replace", str(source), target)
    assert replaced.returncode == 0, replaced.stderr
    with open_ledger(target, root=tmp_path) as conn, open_ledger(str(source), root=tmp_path) as src:
        assert _rows(conn) == _rows(src)
