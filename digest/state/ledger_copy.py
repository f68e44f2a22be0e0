"""`digest state copy FROM TO`: every ledger table from one engine to the other, without losing a row.

FROM and TO are each a file path or a postgresql:// URL. Both are migrated first (same schema on
both sides). The copy reads FROM in one snapshot (SQLite: its write lock, so no send changes it
meanwhile; PostgreSQL: REPEATABLE READ) and writes TO in one transaction: a copy that fails leaves
TO as it was. TO must hold no ledger rows (its tables' `_meta` version rows do not count) unless
`replace`, which empties its ledger tables first. The row counts are checked after the commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from digest.errors import DigestError
from digest.state.connection import StateConnection
from digest.state.migrations import CACHE_META_KEYS, existing_tables, ledger_tables

BATCH = 1000  # rows per executemany


@dataclass
class CopyReport:
    source: str
    target: str
    tables: list[tuple[str, int]] = field(default_factory=list)  # (table, rows copied), in copy order

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.tables)


def _is_meta(table: str) -> bool:
    return table.endswith("_meta")


def _where_meta(table: str) -> str:
    """Rows of `table` that belong to the ledger (a state file's state_meta also holds the caches' format)."""
    if table == "state_meta":
        return " WHERE key NOT IN (" + ", ".join(f"'{k}'" for k in CACHE_META_KEYS) + ")"
    return ""


def count_rows(conn: StateConnection) -> list[tuple[str, int]]:
    """(table, rows) for every ledger table, in copy order (0 for a table the ledger does not have)."""
    present = existing_tables(conn)
    out = []
    for table in ledger_tables():
        rows = 0
        if table in present:
            rows = int(conn.execute(f"SELECT count(*) FROM {table}{_where_meta(table)}").fetchone()[0])
        out.append((table, rows))
    return out


def ledger_rows(conn: StateConnection) -> int:
    """Rows in the ledger's own tables (the tables' version rows in `*_meta` do not count)."""
    return sum(n for table, n in count_rows(conn) if not _is_meta(table))


def columns(conn: StateConnection, table: str) -> list[str]:
    """The table's columns, in order."""
    if conn.dialect == "sqlite":
        return [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = ? ORDER BY ordinal_position", (table,),
    )
    return [str(r[0]) for r in rows]


def _identity_columns(conn: StateConnection, table: str) -> list[str]:
    if conn.dialect != "postgresql":
        return []  # SQLite's INTEGER PRIMARY KEY goes on from the largest id by itself
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = ? AND is_identity = 'YES'", (table,),
    )
    return [str(r[0]) for r in rows]


def _batches(conn: StateConnection, sql: str) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in conn.execute(sql):
        batch.append(tuple(row))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def copy_ledger(source: StateConnection, target: StateConnection, *, replace: bool = False) -> CopyReport:
    """Copy every ledger table from `source` to `target` (both migrated), in one transaction on target."""
    if source.where == target.where:
        raise DigestError(f"state copy: FROM and TO are the same ledger ({source.where})")
    report = CopyReport(source.where, target.where)
    with source.transaction():
        if source.dialect == "postgresql":  # one snapshot for every table
            source.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        expected = count_rows(source)
        with target.transaction():
            held = ledger_rows(target)
            if held and not replace:
                raise DigestError(
                    f"state copy: {target.where} already holds {held} ledger rows; nothing was copied",
                    hint="copy into an empty ledger, or pass --replace to empty this one first",
                )
            for table, _ in expected:
                target.execute(f"DELETE FROM {table}{_where_meta(table)}")
            for table, rows in expected:
                copied = 0
                if rows:
                    names = [c for c in columns(source, table) if c in set(columns(target, table))]
                    cols = ", ".join(names)
                    insert = f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(names))})"
                    for batch in _batches(source, f"SELECT {cols} FROM {table}{_where_meta(table)}"):
                        target.executemany(insert, batch)
                        copied += len(batch)
                    for column in _identity_columns(target, table):  # the next id goes on after the copied ones
                        target.execute(
                            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                            f" (SELECT COALESCE(max({column}), 0) + 1 FROM {table}), false)"
                        )
                report.tables.append((table, copied))
    after = dict(count_rows(target))
    wrong = [f"{t}: {n} read, {after.get(t)} in {target.where}" for t, n in expected if after.get(t) != n]
    if wrong:
        raise DigestError(f"state copy: the row counts differ after the copy ({'; '.join(wrong)})",
                          hint="nothing was removed from FROM: look at TO, then copy again with --replace")
    return report
