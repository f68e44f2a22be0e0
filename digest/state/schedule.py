"""The schedule's rows in the ledger: ticks and their outcomes, issues, carried articles (the tables:
schedule_schema.py).

The ledger is a SQLite file or a PostgreSQL database (engine.py); the SQL here is the subset both
read the same way. Which host ran a tick is its `host` column; a scheduler that found a tick taken
by another host records that in `schedule_taken` (wall_key, its own host, the host that had it).
`schedule_meta`'s `runner` row says which host holds the schedule's single-runner lock now, so
the one that finds it taken can say by whom.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

from digest.models import Article, TickOutcome
from digest.state.connection import StateConnection
from digest.state.outbox import outbox_summary

# Outcomes after which a tick is the "previous tick" that the next issue's range starts from: an
# unfinished or given-up send counts, since its issue is built and its articles are carried.
PROCESSED = ("sent", "written", "skipped-empty", "unfinished", "gave-up")
# Ticks whose send is not finished: resumed by every run until sent or given up. `failed-at-N-of-M`
# is how older versions recorded a send stopped part-way.
UNFINISHED_SQL = "(outcome = 'unfinished' OR outcome LIKE 'failed-at-%') AND issue_id IS NOT NULL"

Clock = Callable[[], float]  # unix seconds


def _instant(row: Any) -> datetime:
    return datetime.fromisoformat(row["tick"])


class ScheduleState:
    """The schedule's rows through a ledger connection (closed with it: a context manager)."""

    def __init__(self, conn: StateConnection, *, clock: Clock, host: str = "") -> None:
        """`clock` stamps when each row was recorded; `host` is written on the ticks this run records."""
        self.conn = conn
        self.clock = clock
        self.host = host

    def _now(self) -> str:
        return datetime.fromtimestamp(self.clock(), timezone.utc).isoformat(timespec="seconds")

    def __enter__(self) -> ScheduleState:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.conn.close()

    def tick_outcome(self, key: str) -> str | None:
        row = self.conn.execute("SELECT outcome FROM schedule_ticks WHERE wall_key = ?", (key,)).fetchone()
        return row[0] if row else None

    def tick_host(self, key: str) -> str | None:
        """The host that recorded the tick (None: not recorded, or by a digest before hosts were kept)."""
        row = self.conn.execute("SELECT host FROM schedule_ticks WHERE wall_key = ?", (key,)).fetchone()
        return row[0] if row else None

    def previous_tick(self) -> datetime | None:
        # Ordered here, not in SQL: the instants carry offsets (a DST change), which neither engine
        # orders as text; a schedule's ticks are few.
        rows = self.conn.execute(
            "SELECT tick FROM schedule_ticks WHERE outcome IN (?, ?, ?, ?, ?) OR outcome LIKE 'failed-at-%'",
            PROCESSED,
        ).fetchall()
        return max((_instant(r) for r in rows), default=None)

    def first_since(self) -> datetime | None:
        row = self.conn.execute("SELECT value FROM schedule_meta WHERE key = 'first_since'").fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def set_first_since(self, when: datetime) -> None:
        self.conn.execute(
            "INSERT INTO schedule_meta (key, value) VALUES ('first_since', ?) ON CONFLICT (key) DO NOTHING",
            (when.isoformat(),),
        )

    def next_number(self) -> int:
        row = self.conn.execute("SELECT MAX(number) FROM schedule_ticks").fetchone()
        return int(row[0] or 0) + 1

    def carried(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self.conn.execute("SELECT path, number FROM carried")}

    def record_tick(self, key: str, outcome: TickOutcome) -> None:
        self.conn.execute(
            "INSERT INTO schedule_ticks (wall_key, tick, outcome, issue_id, number, since, articles, recipients,"
            " detail, recorded_at, host) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (wall_key) DO UPDATE SET"
            " outcome=excluded.outcome, issue_id=excluded.issue_id, number=excluded.number, since=excluded.since,"
            " articles=excluded.articles, recipients=excluded.recipients, detail=excluded.detail,"
            " recorded_at=excluded.recorded_at, host=excluded.host",
            (*_tick_row(key, outcome, self._now()), self.host or None),
        )

    def record_issue(self, key: str, outcome: TickOutcome, articles: list[Article]) -> None:
        with self.conn.transaction():
            self.record_tick(key, outcome)
            self.conn.executemany(
                "INSERT INTO carried (path, issue_id, number, carried_at) VALUES (?,?,?,?)"
                " ON CONFLICT (path) DO NOTHING",
                [(a.path, outcome.issue_id, outcome.number, self._now()) for a in articles],
            )

    def update_outcome(self, key: str, outcome: str, detail: str, recipients: int) -> None:
        self.conn.execute(
            "UPDATE schedule_ticks SET outcome = ?, detail = ?, recipients = ?, recorded_at = ? WHERE wall_key = ?",
            (outcome, detail, recipients, self._now(), key),
        )

    def unfinished_sends(self) -> list[dict[str, Any]]:
        """The ticks whose issue is built but whose send is not finished, oldest first."""
        rows = self.conn.execute(f"SELECT * FROM schedule_ticks WHERE {UNFINISHED_SQL}").fetchall()
        return [dict(r) for r in sorted(rows, key=_instant)]

    def send_counts(self, issue_id: str) -> dict[str, int]:
        return send_counts(self.conn, issue_id)

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM schedule_ticks").fetchall()
        return [dict(r) for r in sorted(rows, key=_instant, reverse=True)[:limit]]

    # -- the single runner -------------------------------------------------------------------------

    def record_taken(self, key: str, taken_by: str) -> None:
        """This host (`self.host`) found tick `key` taken by `taken_by`: kept, once per tick and host."""
        self.conn.execute(
            "INSERT INTO schedule_taken (wall_key, host, taken_by, at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (wall_key, host) DO UPDATE SET taken_by = excluded.taken_by, at = excluded.at",
            (key, self.host, taken_by, self._now()),
        )

    def taken(self) -> list[dict[str, Any]]:
        """Every tick a host found taken by another, oldest first."""
        rows = self.conn.execute("SELECT * FROM schedule_taken ORDER BY at, wall_key, host").fetchall()
        return [dict(r) for r in rows]


def send_counts(conn: StateConnection, issue_id: str) -> dict[str, int]:
    """The outbox's counts for one issue (a row still `sending` counts as ambiguous), plus `total`."""
    summary = outbox_summary(conn, issue_id)[0]
    return {**summary.counts, "total": summary.total}


def send_progress(conn: StateConnection, issue_id: str) -> str:
    """`sent 40 of 120, pending 79, ambiguous 1`: how far an issue's send got, from the outbox."""
    counts = send_counts(conn, issue_id)
    rest = [f"{state} {n}" for state, n in counts.items() if n and state not in ("sent", "total")]
    return ", ".join([f"sent {counts.get('sent', 0)} of {counts['total']}", *rest])


def _tick_row(key: str, o: TickOutcome, recorded_at: str) -> tuple[Any, ...]:
    return (
        key, o.tick.isoformat() if o.tick else "", o.outcome, o.issue_id, o.number,
        o.since.isoformat() if o.since else None, o.articles, o.recipients, o.detail, recorded_at,
    )
