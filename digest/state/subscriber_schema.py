"""The subscriber list's tables in the state database, and the plain values the store hands out.

- `reader_ids`: every address digest ever mails or lists has an opaque id, `sid`
  (`secrets.token_urlsafe(12)`: 16 characters of [A-Za-z0-9_-]). Links (unsubscribe,
  preferences, confirm) and VERP return paths name a reader by sid only, never by address.
- `subscribers`: one row per address (the key is the address lower-cased) with its state, its
  topics (a JSON list; NULL for every article), the nonce of its pending confirmation, where it
  came from and the consent record (when it was confirmed; the sign-up's IP address only when
  `subscribe.record_ip` is on). Rows are never deleted: an address that left stays, `unsubscribed`,
  so that no import, CSV or form brings it back without the reader's own confirmation.
- `subscriber_events`: every change of a row, with the time, the states before and after, the
  source and a detail, for `digest subscribers show` and anyone auditing consent.

`subscriber_meta` holds the tables' version (the outbox's own meta table is separate: each stage
versions its own tables).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from digest.errors import DigestError
from digest.state.connection import StateConnection

STATES = ("pending", "confirmed", "unsubscribed", "bounced", "complained")
BLOCKED = ("unsubscribed", "bounced", "complained")  # never mailed; never resubscribed by an import
SOURCES = ("form", "import", "command", "bounce", "complaint", "one-click", "send")
SCHEMA_VERSION = 1
TABLES = ("subscriber_meta", "reader_ids", "subscribers", "subscriber_events")  # for `digest state copy`
SKIP = "skip"  # an ImportRecord's state for a row the export says never to import (its detail says why)
State = Literal["pending", "confirmed", "unsubscribed", "bounced", "complained"]

_CHECK = ",".join(f"'{s}'" for s in STATES)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS subscriber_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS reader_ids (
        key     TEXT PRIMARY KEY,           -- the address, lower-cased
        sid     TEXT UNIQUE NOT NULL,       -- the reader's opaque id, in every link
        address TEXT NOT NULL               -- as first seen
    )""",
    f"""CREATE TABLE IF NOT EXISTS subscribers (
        key           TEXT PRIMARY KEY,
        address       TEXT NOT NULL,
        name          TEXT,
        state         TEXT NOT NULL CHECK (state IN ({_CHECK})),
        topics        TEXT,                 -- JSON list, or NULL for every article
        confirm_nonce TEXT,                 -- the pending confirmation's; NULL once used or withdrawn
        source        TEXT NOT NULL,        -- where the last change came from
        created_at    TEXT NOT NULL,        -- UTC, ISO 8601
        updated_at    TEXT NOT NULL,
        confirmed_at  TEXT,                 -- the consent: when the reader (or the owner) confirmed
        consent_ip    TEXT,                 -- only with subscribe.record_ip
        soft_bounces  INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS subscribers_state ON subscribers (state)",
    """CREATE TABLE IF NOT EXISTS subscriber_events (
        id         INTEGER PRIMARY KEY,
        key        TEXT NOT NULL,
        at         TEXT NOT NULL,
        from_state TEXT,                    -- NULL: the row was created by this change
        to_state   TEXT NOT NULL,
        source     TEXT NOT NULL,
        detail     TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX IF NOT EXISTS subscriber_events_key ON subscriber_events (key, id)",
)


@dataclass(frozen=True)
class Subscriber:
    key: str
    address: str
    name: str | None
    state: str
    topics: tuple[str, ...] | None  # None: every article
    sid: str
    source: str
    created_at: str
    updated_at: str
    confirmed_at: str | None
    consent_ip: str | None
    soft_bounces: int


@dataclass(frozen=True)
class Requested:
    """What a sign-up request did: the row, the nonce to put in the confirm token, and whether to mail."""

    subscriber: Subscriber
    nonce: str
    send_mail: bool
    why: str  # "new", "again" (pending, unsubscribed, bounced or complained before), "confirmed", "rate"


@dataclass(frozen=True)
class ImportRecord:
    address: str
    name: str | None
    state: str  # one of STATES
    topics: tuple[str, ...] | None
    source_detail: str  # where it came from: "FILE:LINE (mailchimp, cleaned)"
    created_at: str | None = None  # kept from the export when it says (digest's own export does)
    confirmed_at: str | None = None
    consent_ip: str | None = None


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (address, why)

    def summary_line(self) -> str:
        return f"{len(self.added)} added, {len(self.updated)} updated, {len(self.skipped)} skipped."


def create_schema(conn: StateConnection) -> None:
    """The subscriber tables at SCHEMA_VERSION (created when missing)."""
    with conn.transaction():
        conn.script(";\n".join(_SCHEMA))
        row = conn.execute("SELECT value FROM subscriber_meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise DigestError(
                f"{conn.where}: the subscriber tables are version {version}, newer than this digest "
                f"understands ({SCHEMA_VERSION})",
                hint="upgrade digest on this host to the version the other hosts run",
            )
        if version < SCHEMA_VERSION:
            conn.execute(
                "INSERT INTO subscriber_meta (key, value) VALUES ('schema_version', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )


def iso(seconds: float) -> str:
    """Unix seconds as the tables write time: UTC, ISO 8601, to the second."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def topics_json(topics: tuple[str, ...] | list[str] | None) -> str | None:
    return None if topics is None else json.dumps(list(topics), ensure_ascii=False)


def topics_of(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    value = json.loads(text)
    return tuple(str(t) for t in value) if isinstance(value, list) else None


def subscriber_of(row: Any) -> Subscriber:
    return Subscriber(
        key=row["key"], address=row["address"], name=row["name"], state=row["state"],
        topics=topics_of(row["topics"]), sid=row["sid"], source=row["source"], created_at=row["created_at"],
        updated_at=row["updated_at"], confirmed_at=row["confirmed_at"], consent_ip=row["consent_ip"],
        soft_bounces=int(row["soft_bounces"]),
    )


def import_skip(before: Subscriber | None, rec: ImportRecord) -> str:
    """Why an import leaves the row as it is ("" when it changes it)."""
    if before is None:
        return ""
    if before.state in BLOCKED:
        if rec.state == before.state:
            return f"already {before.state}"
        return f"{before.state} here since {before.updated_at}: an import never changes that"
    if (before.state, before.name, before.topics) == (rec.state, rec.name, rec.topics):
        return f"already {before.state}, nothing to change"
    if before.state == "confirmed" and rec.state == "pending":
        return "confirmed here; the export says pending"
    return ""
