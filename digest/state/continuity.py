"""A ledger that has lost its sends beside manifests recording them must not send again.

The ledger is the state file, or the PostgreSQL database `state:` names; both are read the same
way. Also: the pickled caches of an older digest are dropped unread, once (in the cache file).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digest.errors import DigestError, StateDatabaseError
from digest.state.codec import CACHE_FORMAT
from digest.state.connection import SqliteConnection, StateConnection
from digest.state.engine import open_postgresql, open_state
from digest.state.migrations import STATE_META, existing_tables

if TYPE_CHECKING:
    from digest.config import Settings

log = logging.getLogger("digest")

# (manifest, issue id, its `sent` record): what the archive reads from the issues' manifests.
SentRecords = Iterable[tuple[Path, str, dict[str, Any]]]
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


# Tables an older digest (before cache format 1) filled with pickles. Dropped unread, never loaded.
CACHE_TABLES = ("scan_cache", "render_cache")


def _meta(conn: sqlite3.Connection | StateConnection, key: str) -> str | None:
    try:
        row = conn.execute("SELECT value FROM state_meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:  # no such table: a state file no digest with state_meta wrote to
        return None
    return None if row is None else str(row[0])


def retire_old_caches(conn: sqlite3.Connection, path: Path) -> None:
    """Drop the cache tables of an older cache format (pickles, before format 1) unread, with one warning.

    Runs before a cache is read; the mark it leaves makes it a single query from then on. The
    ledger (outbox, schedule ticks, carried articles) is never touched.
    """
    if _meta(conn, "cache_format") == str(CACHE_FORMAT):
        return
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        found = _meta(conn, "cache_format")
        dropped = []
        if found != str(CACHE_FORMAT):  # another process may have done it while we waited
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            dropped = [t for t in CACHE_TABLES if t in tables]
            for table in dropped:
                conn.execute(f"DROP TABLE {table}")
            conn.execute(STATE_META)
            conn.execute(
                "INSERT OR REPLACE INTO state_meta (key, value) VALUES ('cache_format', ?)", (str(CACHE_FORMAT),)
            )
        if own:
            conn.execute("COMMIT")
    except BaseException:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if dropped:
        what = "pickled, by an older digest" if found is None else f"cache format {found}"
        log.warning(
            "%s: dropped the %s written in an old format (%s) without reading it; rebuilding",
            path, " and ".join(t.replace("_", " ") for t in dropped), what,
        )


# --- the ledger ---------------------------------------------------------------------------------

LEDGER_TABLES = ("outbox", "schedule_ticks")  # what a send and the schedule record; caches do not count


@dataclass
class Ledger:
    """What a ledger records of sends and ticks, read without writing to it."""

    exists: bool
    rows: int = 0  # outbox and schedule_ticks rows
    issues: set[str] = field(default_factory=set)  # the issues the outbox has rows for
    reset_at: datetime | None = None  # when --state-reset last accepted this file as it was


def read_ledger(settings: Settings) -> Ledger | None:
    """The ledger `settings.state` names; None when it cannot be read (the command reports that itself)."""
    url = settings.state_url
    if url is not None:
        try:
            conn = open_postgresql(url, password=settings.state_password)
        except StateDatabaseError:
            return None
        try:
            return _count_ledger(conn)
        except Exception:  # noqa: BLE001  # any database error: the send's own open_state reports it
            return None
        finally:
            conn.close()
    path = settings.state_path
    try:
        if path.stat().st_size == 0:
            return Ledger(exists=True)
    except FileNotFoundError:
        return Ledger(exists=False)
    except OSError:
        return None
    try:
        # plain: no WAL pragma, nothing written
        with SqliteConnection(sqlite3.connect(str(path), timeout=30.0), str(path)) as plain:
            return _count_ledger(plain)
    except (sqlite3.Error, ValueError):
        return None


def _count_ledger(conn: StateConnection) -> Ledger:
    tables = existing_tables(conn)
    ledger = Ledger(exists=True)
    if "outbox" in tables:
        ledger.issues = {r[0] for r in conn.execute("SELECT DISTINCT issue_id FROM outbox")}
        ledger.rows += conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    if "schedule_ticks" in tables:
        ledger.rows += conn.execute("SELECT count(*) FROM schedule_ticks").fetchone()[0]
    reset = _meta(conn, "state_reset_at") if "state_meta" in tables else None
    ledger.reset_at = datetime.fromisoformat(reset) if reset else None
    return ledger


def _started(sent: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(sent.get("last_started") or sent.get("first_started")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def lost_send(settings: Settings, ledger: Ledger, sent_records: SentRecords) -> tuple[Path, str, str] | None:
    """(manifest, issue id, what the ledger lacks) for the newest send the ledger should know of and does not.

    A missing or empty state file (no outbox and no schedule rows) should know of every send a
    manifest records; one that has rows, of every send started with this very file. Sends from
    before a --state-reset of this file are not asked about again.
    """
    own = settings.state_where
    for manifest, issue_id, sent in sorted(sent_records, key=lambda f: (_started(f[2]) or _EPOCH, f[1]), reverse=True):
        started = _started(sent)
        if started is None:  # not a record digest wrote
            continue
        if ledger.reset_at is not None and started <= ledger.reset_at:
            continue
        if ledger.rows == 0:
            return manifest, issue_id, "is empty (no outbox or schedule rows)" if ledger.exists else "does not exist"
        if sent.get("state") == own and issue_id not in ledger.issues:
            return manifest, issue_id, f"has no outbox rows for issue {issue_id}"
    return None


def check_state_continuity(
    settings: Settings, sent_records: SentRecords, *, state_reset: bool, now: datetime
) -> None:
    """Refuse to send when the state file has lost sends that the issues' manifests record.

    The outbox is what keeps an issue from going to a reader twice: with the state file deleted,
    emptied or swapped, a send or a scheduled tick would start again from nothing. Called at the
    start of `digest send` and of every scheduled tick. `state_reset` (--state-reset) accepts the
    state file as it is, once: the acceptance is kept in it, so later runs do not ask again.
    `sent_records` are the manifests' send records (archive.manifest.sent_records).
    """
    ledger = read_ledger(settings)
    if ledger is None:
        return
    lost = lost_send(settings, ledger, sent_records)
    if lost is None:
        return
    manifest, issue_id, lack = lost
    what = "state database" if settings.state_url else "state file"
    where = settings.state_where
    if not state_reset:
        raise DigestError(
            f"{what} {where} {lack}, but {manifest} records that issue {issue_id} was sent: "
            "going on could send issues again to readers who had them",
            hint=f"restore the {what} (or pass --state with the right one); "
            f"or run again with --state-reset to start from this {what} knowingly",
        )
    when = now.astimezone(timezone.utc)
    with open_state(settings) as conn:
        conn.execute(
            "INSERT INTO state_meta (key, value) VALUES ('state_reset_at', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (when.isoformat(),)
        )
    log.warning(
        "--state-reset: going on with %s although %s records that issue %s was sent; "
        "sends recorded before %s are no longer checked", where, manifest, issue_id, when.isoformat(timespec="seconds"),
    )
