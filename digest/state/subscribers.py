"""The subscriber store: who is on the list, in what state, and every change that got them there.

The tables are described in subscriber_schema.py; the connection, the reads and the writing of
a row with its event in subscriber_rows.py. Every change here is one transaction that
locks the row (SQLite: the database's write lock, taken at BEGIN IMMEDIATE; PostgreSQL: `SELECT …
FOR UPDATE` of the address's reader id, subscriber_rows.py), reads it again, decides, and writes
the row and a `subscriber_events` row: a confirm and an unsubscribe racing on one row (two
processes, two threads with their own store, or two hosts on one PostgreSQL) end in one
consistent row with both attempts in its history.
`unsubscribe_many` makes many unsubscribes in one transaction, each decided as `unsubscribe`
would (the web app's group commit: one fsync for a rush of one-clicks).

Rules the store keeps, whoever calls it (the form, an import, a command, a bounce):
- no one is confirmed without the nonce of their latest request (`confirm`): a link mailed
  before an unsubscribe, a bounce or a newer request confirms nothing;
- an address that is unsubscribed, bounced or complained is never resubscribed by an import or
  by `add`; only the reader's own confirmed request (or `forget_bounce`) brings it back;
- rows are never deleted, and time comes from the clock the store was opened with.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from digest.addresses import check_address
from digest.errors import DigestError
from digest.state.engine import StateConnection
from digest.state.subscriber_rows import SubscriberRows, address_key
from digest.state.subscriber_schema import (
    BLOCKED,
    SKIP,
    STATES,
    ImportRecord,
    ImportReport,
    Requested,
    Subscriber,
    import_skip,
    iso,
    topics_json,
)

__all__ = ["BLOCKED", "STATES", "ImportRecord", "ImportReport", "Requested", "Subscriber", "SubscriberStore"]

MAILED = "confirmation mailed"  # the detail of a request's event that sent a mail: what the rate limit counts


class SubscriberStore(SubscriberRows):
    """The list's changes (the connection and the reads: SubscriberRows). Open with `SubscriberStore.open`."""

    def request(self, address: str, topics: tuple[str, ...] | None, *, source: str, ip: str | None) -> Requested:
        """A sign-up: pending with a fresh nonce and a mail to send, unless already confirmed or rate-limited."""
        address, key = address_key(address)
        with self._write() as conn:
            self._lock(conn, [(key, address)])
            before = self._row(conn, key)
            if before is not None and before.state == "confirmed":
                return Requested(before, "", False, "confirmed")
            since = iso(self.clock() - 24 * 3600)
            mailed = conn.execute("SELECT COUNT(*) FROM subscriber_events WHERE key = ? AND at > ? AND detail = ?",
                                  (key, since, MAILED)).fetchone()[0]
            if before is not None and mailed >= self.rate_per_address:
                return Requested(before, "", False, "rate")
            nonce = secrets.token_urlsafe(12)
            after = self._change(conn, key, address, before, "pending", source=source, detail=MAILED,
                                 topics=topics_json(topics), confirm_nonce=nonce, consent_ip=ip, confirmed_at=None)
            return Requested(after, nonce, True, "new" if before is None else "again")

    def confirm(self, sid: str, nonce: str) -> str:
        """"confirmed", "already", "stale" (not this row's latest request, or not pending) or "unknown"."""
        with self._write() as conn:
            self._lock_sids(conn, [sid])
            row = conn.execute("SELECT s.key, s.confirm_nonce FROM subscribers s JOIN reader_ids r ON r.key = s.key"
                               " WHERE r.sid = ?", (sid,)).fetchone()
            before = self._row(conn, row["key"]) if row else None
            if before is None:
                return "unknown"
            if before.state == "confirmed":
                return "already"
            if before.state != "pending" or not nonce or not secrets.compare_digest(row["confirm_nonce"] or "", nonce):
                return "stale"
            self._change(conn, before.key, before.address, before, "confirmed", source="form",
                         detail="confirmed by the reader", confirm_nonce=None, confirmed_at=iso(self.clock()))
            return "confirmed"

    def unsubscribe(self, sid: str, *, source: str) -> str:
        """"unsubscribed", "already" or "unknown"; any sid digest made (a CSV recipient's too) works."""
        return self.unsubscribe_many([sid], source=source)[0]

    def unsubscribe_many(self, sids: Iterable[str], *, source: str) -> list[str]:
        """`unsubscribe` of each sid in turn (a sid twice: "already" the second time), in one transaction:
        one commit for them all, or none of them on an error. The outcomes, in the order of `sids`."""
        sids = list(sids)
        with self._write() as conn:
            self._lock_sids(conn, sids)
            return [self._unsubscribe(conn, sid, source) for sid in sids]

    def _unsubscribe(self, conn: StateConnection, sid: str, source: str) -> str:
        reader = conn.execute("SELECT key, address FROM reader_ids WHERE sid = ?", (sid,)).fetchone()
        if reader is None:
            return "unknown"
        before = self._row(conn, reader["key"])
        if before is not None and before.state == "unsubscribed":
            return "already"
        self._change(conn, reader["key"], reader["address"], before, "unsubscribed", source=source,
                     detail="unsubscribed by the reader", confirm_nonce=None)
        return "unsubscribed"

    def set_topics(self, sid: str, topics: tuple[str, ...] | None) -> str:
        """"saved" or "unknown"; the state stays as it is."""
        with self._write() as conn:
            self._lock_sids(conn, [sid])
            reader = conn.execute("SELECT key FROM reader_ids WHERE sid = ?", (sid,)).fetchone()
            before = self._row(conn, reader["key"]) if reader else None
            if before is None:
                return "unknown"
            shown = "every article" if topics is None else ", ".join(topics) or "none"
            self._change(conn, before.key, before.address, before, before.state, source="form",
                         detail=f"topics: {shown}", topics=topics_json(topics))
            return "saved"

    def add(self, address: str, *, name: str | None = None, topics: tuple[str, ...] | None = None,
            state: str = "confirmed", source: str = "command") -> str:
        """"added", "updated" or "kept" (nothing to change, or the address left: it is never resubscribed here)."""
        if state not in STATES:
            raise DigestError(f"{address}: no such state {state!r} (one of {', '.join(STATES)})")
        address, key = address_key(address)
        with self._write() as conn:
            self._lock(conn, [(key, address)])
            before = self._row(conn, key)
            left = before is not None and before.state in BLOCKED and state not in BLOCKED
            if left or (before and (before.state, before.name, before.topics) == (state, name, topics)):
                return "kept"
            extra = {"confirmed_at": iso(self.clock())} if state == "confirmed" and not (
                before and before.confirmed_at) else {}
            done = "added" if before is None else "changed"
            self._change(conn, key, address, before, state, source=source, detail=f"{done} by {source}",
                         name=name, topics=topics_json(topics), confirm_nonce=None, **extra)
            return "added" if before is None else "updated"

    def remove(self, address: str) -> bool:
        """Unsubscribe by the owner's command; False when there is no row or it was unsubscribed already."""
        _, key = address_key(address)
        with self._write() as conn:
            self._lock(conn, [(key, None)])
            before = self._row(conn, key)
            if before is None or before.state == "unsubscribed":
                return False
            self._change(conn, key, before.address, before, "unsubscribed", source="command",
                         detail="removed by command", confirm_nonce=None)
            return True

    def _mark(self, address: str, state: str, source: str, detail: str) -> str:
        address, key = address_key(address)
        with self._write() as conn:
            self._lock(conn, [(key, address)])
            before = self._row(conn, key)
            if before is not None and before.state == state:
                return "already"
            if before is not None and state == "bounced" and before.state in BLOCKED:
                return before.state  # unsubscribed or complained says more than a bounce
            self._change(conn, key, address, before, state, source=source, detail=detail, confirm_nonce=None)
            return state

    def mark_bounced(self, address: str, *, source: str, detail: str) -> str:
        """"bounced"; "already"; or "unsubscribed"/"complained" when the row says more (kept). A CSV
        recipient gets a row, bounced, so that no later send mails it."""
        return self._mark(address, "bounced", source, detail)

    def mark_complained(self, address: str, *, detail: str) -> str:
        """"complained" or "already": the reader marked an issue as spam; never mailed again."""
        return self._mark(address, "complained", "complaint", detail)

    def note_soft_bounce(self, address: str, *, detail: str) -> int:
        """Count a temporary failure; the count after it (0: the address has no row, nothing counted)."""
        _, key = address_key(address)
        with self._write() as conn:
            self._lock(conn, [(key, None)])
            before = self._row(conn, key)
            if before is None:
                return 0
            self._change(conn, key, before.address, before, before.state, source="bounce",
                         detail=f"soft bounce: {detail}", soft_bounces=before.soft_bounces + 1)
            return before.soft_bounces + 1

    def forget_bounce(self, address: str) -> str:
        """Undo a false bounce or complaint: "confirmed" (it was bounced or complained), "kept" (it was
        neither: nothing to undo, the row is left as it is) or "unknown" (no row)."""
        _, key = address_key(address)
        with self._write() as conn:
            self._lock(conn, [(key, None)])
            before = self._row(conn, key)
            if before is None:
                return "unknown"
            if before.state not in ("bounced", "complained"):
                return "kept"
            self._change(conn, key, before.address, before, "confirmed", source="command",
                         detail=f"{before.state} forgotten by command", soft_bounces=0)
            return "confirmed"

    def import_records(self, records: Iterable[ImportRecord], *, dry_run: bool = False) -> ImportReport:
        """Add or update each record, in one transaction (rolled back with `dry_run`); a left address
        is never resubscribed."""
        report = ImportReport()
        seen: dict[str, str] = {}
        records = list(records)
        with self._write(keep=not dry_run) as conn:
            self._lock(conn, reversed([(a.lower(), a) for a in _addresses(records)]))  # the first spelling wins
            for rec in records:
                address, reason = check_address(rec.address)
                if rec.state == SKIP:
                    report.skipped.append((rec.address, rec.source_detail))
                    continue
                if address is None or rec.state not in STATES:
                    report.skipped.append((rec.address, f"{rec.source_detail}: {reason or 'no such state'}"))
                    continue
                key = address.lower()
                if key in seen:
                    report.skipped.append((address, f"{rec.source_detail}: the same address as {seen[key]}"))
                    continue
                seen[key] = rec.source_detail
                before = self._row(conn, key)
                why = import_skip(before, rec)
                if why:
                    report.skipped.append((address, f"{rec.source_detail}: {why}"))
                    continue
                confirmed_at = rec.confirmed_at or (iso(self.clock()) if rec.state == "confirmed" else None)
                extra = {"created_at": rec.created_at} if before is None and rec.created_at else {}
                self._change(conn, key, address, before, rec.state, source="import", detail=rec.source_detail,
                             name=rec.name, topics=topics_json(rec.topics), confirm_nonce=None,
                             confirmed_at=(before.confirmed_at if before else None) or confirmed_at,
                             consent_ip=rec.consent_ip or (before.consent_ip if before else None), **extra)
                (report.added if before is None else report.updated).append(address)
        return report


def _addresses(records: list[ImportRecord]) -> list[str]:
    """The valid addresses of the records an import may write (what `_lock` locks first)."""
    out = []
    for rec in records:
        address, _ = check_address(rec.address)
        if address is not None and rec.state in STATES:
            out.append(address)
    return out
