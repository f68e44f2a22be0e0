"""The schedule's tables in the state database: ticks and their outcomes, issues, carried articles."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from digest.models import Article, TickOutcome
from digest.state.db import connect
from digest.state.outbox import outbox_summary

SCHEMA = """
CREATE TABLE IF NOT EXISTS schedule_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS schedule_ticks (
    wall_key TEXT PRIMARY KEY,      -- local wall-clock time: a DST-repeated tick is one row
    tick TEXT NOT NULL,             -- the instant, ISO 8601 with offset
    outcome TEXT NOT NULL,
    issue_id TEXT, number INTEGER, since TEXT,
    articles INTEGER NOT NULL DEFAULT 0, recipients INTEGER NOT NULL DEFAULT 0,
    detail TEXT NOT NULL DEFAULT '', recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS carried (
    path TEXT PRIMARY KEY, issue_id TEXT NOT NULL, number INTEGER NOT NULL, carried_at TEXT NOT NULL
);
"""

# Outcomes after which a tick is the "previous tick" that the next issue's range starts from: an
# unfinished or given-up send counts, since its issue is built and its articles are carried.
PROCESSED = ("sent", "written", "skipped-empty", "unfinished", "gave-up")
# Ticks whose send is not finished: resumed by every run until sent or given up. `failed-at-N-of-M`
# is how older versions recorded a send stopped part-way.
UNFINISHED_SQL = "(outcome = 'unfinished' OR outcome LIKE 'failed-at-%') AND issue_id IS NOT NULL"


Clock = Callable[[], float]  # unix seconds


class ScheduleState:
    def __init__(self, path: Path, *, clock: Clock) -> None:
        """`clock` stamps when each row was recorded."""
        self.conn = connect(path)
        self.conn.executescript(SCHEMA)
        self.clock = clock

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock(), timezone.utc).isoformat(timespec="seconds")

    def __enter__(self) -> ScheduleState:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.conn.close()

    def tick_outcome(self, key: str) -> str | None:
        row = self.conn.execute("SELECT outcome FROM schedule_ticks WHERE wall_key = ?", (key,)).fetchone()
        return row[0] if row else None

    def previous_tick(self) -> datetime | None:
        row = self.conn.execute(
            "SELECT tick FROM schedule_ticks WHERE outcome IN (?, ?, ?, ?, ?) OR outcome LIKE 'failed-at-%' "
            "ORDER BY julianday(tick) DESC LIMIT 1",
            PROCESSED,
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def first_since(self) -> datetime | None:
        row = self.conn.execute("SELECT value FROM schedule_meta WHERE key = 'first_since'").fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def set_first_since(self, when: datetime) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO schedule_meta (key, value) VALUES ('first_since', ?)", (when.isoformat(),)
        )

    def next_number(self) -> int:
        row = self.conn.execute("SELECT MAX(number) FROM schedule_ticks").fetchone()
        return (row[0] or 0) + 1

    def carried(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT path, number FROM carried")}

    def record_tick(self, key: str, outcome: TickOutcome) -> None:
        self.conn.execute(
            "INSERT INTO schedule_ticks (wall_key, tick, outcome, issue_id, number, since, articles, recipients,"
            " detail, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(wall_key) DO UPDATE SET"
            " outcome=excluded.outcome, issue_id=excluded.issue_id, number=excluded.number, since=excluded.since,"
            " articles=excluded.articles, recipients=excluded.recipients, detail=excluded.detail,"
            " recorded_at=excluded.recorded_at",
            _tick_row(key, outcome, self._now()),
        )

    def record_issue(self, key: str, outcome: TickOutcome, articles: list[Article]) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.record_tick(key, outcome)
            self.conn.executemany(
                "INSERT OR IGNORE INTO carried (path, issue_id, number, carried_at) VALUES (?,?,?,?)",
                [(a.path, outcome.issue_id, outcome.number, self._now()) for a in articles],
            )

    def update_outcome(self, key: str, outcome: str, detail: str, recipients: int) -> None:
        self.conn.execute(
            "UPDATE schedule_ticks SET outcome = ?, detail = ?, recipients = ?, recorded_at = ? WHERE wall_key = ?",
            (outcome, detail, recipients, self._now(), key),
        )

    def unfinished_sends(self) -> list[dict[str, Any]]:
        """The ticks whose issue is built but whose send is not finished, oldest first."""
        rows = self.conn.execute(
            f"SELECT * FROM schedule_ticks WHERE {UNFINISHED_SQL} ORDER BY julianday(tick)"
        ).fetchall()
        return [dict(r) for r in rows]

    def send_counts(self, issue_id: str) -> dict[str, int]:
        return send_counts(self.conn, issue_id)

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT * FROM schedule_ticks ORDER BY julianday(tick) DESC LIMIT ?", (limit,)
        ).fetchall()
        return [dict(r) for r in rows]


def send_counts(conn: sqlite3.Connection, issue_id: str) -> dict[str, int]:
    """The outbox's counts for one issue (a row still `sending` counts as ambiguous), plus `total`."""
    summary = outbox_summary(conn, issue_id)[0]
    return {**summary.counts, "total": summary.total}


def send_progress(conn: sqlite3.Connection, issue_id: str) -> str:
    """`sent 40 of 120, pending 79, ambiguous 1`: how far an issue's send got, from the outbox."""
    counts = send_counts(conn, issue_id)
    rest = [f"{state} {n}" for state, n in counts.items() if n and state not in ("sent", "total")]
    return ", ".join([f"sent {counts.get('sent', 0)} of {counts['total']}", *rest])


def _tick_row(key: str, o: TickOutcome, recorded_at: str) -> tuple[Any, ...]:
    return (
        key, o.tick.isoformat() if o.tick else "", o.outcome, o.issue_id, o.number,
        o.since.isoformat() if o.since else None, o.articles, o.recipients, o.detail, recorded_at,
    )
