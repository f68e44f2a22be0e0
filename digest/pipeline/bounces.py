"""`digest bounces fetch`: read the bounce mailbox, map each report to its reader, mark the list.

For each unseen message of `bounces.mailbox` (oldest first):
1. parse it (bounces/parse.py) into a delivery-status report, a complaint, or "unparsed";
2. find the reader: the VERP token of the address the bounce came back to (`smtp.return_path`
   with `{token}`), else the report's recipient (Original-Recipient, Final-Recipient,
   Original-Rcpt-To) when digest knows that address, else the returned message's Message-ID,
   which is deterministic per (issue, address): matched against the outbox rows of that issue;
3. hard bounce (5.1.x, 5.2.1) -> `bounced`; complaint -> `complained`; soft (4.x.x, delayed)
   -> counted on the reader; rejected (5.7.x and other 5.x.x) -> logged only; a report that
   names no known reader, or a message that is no report -> filed for `digest bounces list`;
4. record it (bounce_log: keyed by mailbox, UIDVALIDITY and Message-ID), then mark it \\Seen.

A crash after 4's record and before \\Seen reads the message again next time and skips it; a
crash before the record reads it again and applies it again: the marks are idempotent, so at
worst one soft bounce is counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from digest.bounces.imap import PASSWORD_ENV, BounceMailbox
from digest.bounces.parse import Report, parse_report, verp_token
from digest.config import Settings
from digest.delivery.message import message_id
from digest.errors import DigestError
from digest.state.bounce_log import FILED, BounceLog, LogEntry, mailed, seen_key
from digest.state.engine import open_state
from digest.state.locks import AnotherRunHoldsTheLock, ledger_lock
from digest.state.outbox import Outbox
from digest.state.outbox_schema import STATES
from digest.state.subscribers import Subscriber, SubscriberStore

Clock = Callable[[], float]  # unix seconds
RECENT = 20  # hard bounces and complaints `digest bounces list` shows


def imap_password(env: Mapping[str, str]) -> str | None:
    """The bounce mailbox's password: only ever from the environment."""
    return env.get(PASSWORD_ENV) or None


@dataclass
class BounceSummary:
    """What one fetch found."""

    fetched: int = 0  # messages read from the mailbox
    hard: int = 0  # readers marked bounced
    complaints: int = 0  # readers marked complained
    soft: int = 0  # temporary failures counted
    rejected: int = 0  # refused for policy (5.7.x) or other permanent reasons: logged, not marked
    filed: int = 0  # could not be mapped or parsed: see `digest bounces list`
    repeated: int = 0  # already recorded by an earlier fetch (marked \Seen now)
    marked: list[str] = field(default_factory=list)  # "address: bounced (5.1.1 …)" for each new mark

    def line(self) -> str:
        again = f", {self.repeated} already recorded" if self.repeated else ""
        return (
            f"bounces: {self.fetched} read; {self.hard} bounced, {self.complaints} complained, {self.soft} soft"
            f" (counted), {self.rejected} rejected (not marked), {self.filed} filed{again}"
        )


@dataclass
class BounceListing:
    """`digest bounces list`: what was filed, and the latest hard bounces and complaints."""

    filed: list[dict[str, object]]
    blocked: list[Subscriber]  # bounced or complained, most recent first
    why: dict[str, str]  # key -> the detail of the change that blocked it
    counts: dict[str, int]


class _Readers:
    """Maps a report to the address of one of digest's readers."""

    def __init__(self, store: SubscriberStore, log: BounceLog, return_path: str | None, clock: Clock) -> None:
        self.store = store
        self.return_path = return_path
        self.keys, self.issues = mailed(log.conn)
        self.outbox = Outbox(log.conn, clock=clock)
        self._by_issue: dict[str, dict[str, str]] = {}

    def known(self, address: str | None) -> str | None:
        if not address:
            return None
        subscriber = self.store.get(address)
        if subscriber is not None:
            return subscriber.address
        return address if address.lower() in self.keys else None

    def by_verp(self, report: Report) -> str | None:
        candidates = [*report.envelope_to, *([report.original_return_path] if report.original_return_path else [])]
        token = verp_token(candidates, self.return_path)
        return self.store.address_of(token) if token else None

    def by_message_id(self, msgid: str | None) -> str | None:
        if not msgid or "@" not in msgid or "." not in msgid:
            return None
        wanted = msgid.lower()
        domain = wanted.rpartition("@")[2].rstrip(">")
        tail = wanted.partition(".")[2]
        for issue_id in self.issues:
            if message_id(issue_id, "", domain).lower().partition(".")[2] != tail:
                continue
            ids = self._by_issue.get(issue_id)
            if ids is None:
                rows = self.outbox.rows(issue_id, STATES)
                ids = {message_id(issue_id, r["address"], domain).lower(): str(r["address"]) for r in rows}
                self._by_issue[issue_id] = ids
            if wanted in ids:
                return ids[wanted]
        return None


def _apply(report: Report, readers: _Readers, store: SubscriberStore, summary: BounceSummary) -> list[LogEntry]:
    """Mark the store for one report; the log lines that say what was done."""
    if report.kind == "unparsed":
        summary.filed += 1
        return [LogEntry("unparsed", detail=report.reason)]
    verp = readers.by_verp(report)
    single = len(report.failures) == 1 or report.kind == "complaint"
    entries = []
    if report.kind == "complaint":
        found: list[tuple[str | None, str]] = [(verp, "verp")] if verp else []
        found += [(readers.known(a), "recipient") for a in report.complained]
        found.append((readers.by_message_id(report.original_message_id), "message-id"))
        address, how = next(((a, h) for a, h in found if a), (None, ""))
        if address is None:
            summary.filed += 1
            named = ", ".join(report.complained) or "no recipient"
            return [LogEntry("unmapped", detail=f"complaint ({report.feedback}) about {named}: no known reader")]
        if store.mark_complained(address, detail=report.feedback) == "complained":
            summary.marked.append(f"{address}: complained ({report.feedback})")
        summary.complaints += 1
        return [LogEntry("complaint", address, detail=report.feedback, mapped_by=how)]
    for failure in report.failures:
        address, how = (verp, "verp") if verp and single else (None, "")
        if address is None:
            address, how = readers.known(failure.original) or readers.known(failure.final), "recipient"
        if address is None and single:
            address, how = readers.by_message_id(report.original_message_id), "message-id"
        if address is None:
            summary.filed += 1
            who = failure.final or failure.original or "no recipient"
            entries.append(LogEntry("unmapped", None, failure.status, f"{who}: {failure.detail}"))
            continue
        if failure.kind == "hard":
            if store.mark_bounced(address, source="bounce", detail=failure.detail) == "bounced":
                summary.marked.append(f"{address}: bounced ({failure.detail[:80]})")
            summary.hard += 1
        elif failure.kind == "soft":
            store.note_soft_bounce(address, detail=failure.detail)
            summary.soft += 1
        else:
            summary.rejected += 1
        entries.append(LogEntry(failure.kind, address, failure.status, failure.diagnostic, mapped_by=how))
    return entries


def fetch_bounces(settings: Settings, *, password: str | None, clock: Clock) -> BounceSummary:
    """Read every unseen message of the bounce mailbox, mark the readers, file the rest; one at a time."""
    summary = BounceSummary()
    try:
        # One fetch at a time over the ledger, whatever host it runs on (a file lock beside a SQLite
        # state, an advisory lock on a PostgreSQL one).
        with ledger_lock(settings, "bounces"), \
                BounceMailbox(settings.bounces, password) as box, \
                SubscriberStore.open(settings, clock=clock) as store, \
                BounceLog(open_state(settings), clock=clock) as log:
            readers = _Readers(store, log, settings.smtp.return_path, clock)
            for uid in box.unseen():
                raw = box.fetch(uid)
                if raw is None:  # expunged since the search
                    continue
                summary.fetched += 1
                report = parse_report(raw)
                key = seen_key(settings.bounces.mailbox, box.uidvalidity, report.message_id, raw)
                if log.seen(key):
                    summary.repeated += 1
                else:
                    entries = _apply(report, readers, store, summary)
                    log.record(key, entries, subject=report.subject, message_id=report.message_id)
                box.mark_seen(uid)  # only now: a crash before this reads it again, and finds it recorded
    except AnotherRunHoldsTheLock:
        raise DigestError(
            f"another `digest bounces fetch` is reading the bounce mailbox for {settings.state_where}",
            hint="wait for it to finish",
        ) from None
    return summary


def list_bounces(settings: Settings, *, clock: Clock, limit: int = 50) -> BounceListing:
    """What was filed (could not be mapped or parsed), and the readers marked bounced or complained."""
    with BounceLog(open_state(settings), clock=clock) as log, SubscriberStore.open(settings, clock=clock) as store:
        filed = log.entries(FILED, limit=limit)
        counts = log.counts()
        blocked = sorted(store.all("bounced") + store.all("complained"), key=lambda s: s.updated_at, reverse=True)
        why = {s.key: _last_detail(store.events(s.address)) for s in blocked[:RECENT]}
    return BounceListing(filed, blocked[:RECENT], why, counts)


def _last_detail(events: list[dict[str, object]]) -> str:
    return str(events[-1].get("detail") or "") if events else ""


def forget_bounce(settings: Settings, address: str, *, clock: Clock) -> tuple[str, str | None]:
    """Undo a false bounce or complaint: ("confirmed", what it was), ("unknown", None), or ("kept", its state)
    when the address is neither bounced nor complained (the store decides, under its write lock)."""
    with SubscriberStore.open(settings, clock=clock) as store:
        before = store.get(address)
        return store.forget_bounce(address), before.state if before else None
