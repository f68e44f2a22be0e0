"""Send one issue to its recipients through the outbox: never lost, never doubled, resumable.

The order: settle what earlier runs left (outbox.recover: rows left `claimed` go back to
pending, rows left `data-sent` become ambiguous, ambiguous rows not yet sent again go back to
pending once, rows that ran out of attempts go back to pending); enrol every recipient in
the outbox; render once per distinct topic set; open the first connection (a server that
is down or refuses the login fails here, in one line, before anything is claimed); then
`smtp.connections` workers, each with its own connection, claim rows one at a time, mark
each `data-sent` (fsynced) at the start of DATA, send, and record the outcome. Temporary
failures come back after `retry_base_seconds * 2**(attempt-1)` until `max_attempts`, then
wait for the next run (`exhausted`); permanent ones are recorded and the run goes on.
`stop_event` (SIGTERM, Ctrl-C) ends the run after the messages in flight are finished and
recorded.

The sender is handed what it records in and shows: `open_outbox` (one outbox per worker), the
render function, the clock and the progress; it imports neither the state database nor the
renderer. `digest.pipeline.send.send_issue` wires them, and hands in what the subscriber store
says: the recipients never to mail (`blocked`: skipped, like the suppression file's) and each
reader's id and unsubscribe token (`reader_ids`, asked once for the rows still to send). The
audience (who gets which articles) is delivery/audience.py.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

from digest.config import Settings
from digest.delivery.audience import TopicKey, as_recipients, audience, issue_for_topics, topic_key
from digest.delivery.base import Backend, Outcome
from digest.delivery.message import NO_TOKEN, MessageFactory, Slots
from digest.delivery.ports import OpenOutbox, OutboxPort, ProgressFactory, ReaderId, ReaderIds, SendProgress
from digest.delivery.recipients import Recipient, RecipientList
from digest.delivery.report import SendReport
from digest.delivery.smtp import ConnectFailed
from digest.delivery.throttle import RateLimiter
from digest.errors import DeliveryError, DigestError, DurabilityError
from digest.models import MAX_AUTO_RESENDS, NOT_DONE_STATES, Claimed, Issue, RenderedEmail

log = logging.getLogger("digest.delivery")

MAX_BACKOFF_SECONDS = 3600.0
IDLE_CLOSE_SECONDS = 10.0  # a wait longer than this closes the connection rather than let it time out
NO_ID = ReaderId(NO_TOKEN, NO_TOKEN)  # a send without a subscriber store (the API's tests): links name no one
Clock = Callable[[], float]  # unix seconds: when a deferred row is due again


class RenderFn(Protocol):
    """The renderer, as the sender calls it: once per (topic set, named or not)."""

    def __call__(
        self, issue: Issue, settings: Settings, *, unsubscribe_url: str | None = ..., recipient_name: str | None = ...
    ) -> RenderedEmail: ...


class _TakenBack(Exception):
    """The claimed row is no longer this worker's (outbox.mark_data answered None): do not send."""


class _Run:
    """One send in progress: shared by its worker threads."""

    def __init__(
        self, settings: Settings, issue_id: str, run_id: str, factories: dict[tuple[TopicKey, bool], MessageFactory],
        make_backend: Callable[[], Backend], open_outbox: OpenOutbox, clock: Clock, stop: threading.Event,
        progress: SendProgress, limiter: RateLimiter, ids: Mapping[str, ReaderId] | None,
        more: Callable[[tuple[TopicKey, bool]], MessageFactory] | None = None, reader_ids: ReaderIds | None = None,
    ) -> None:
        self.settings = settings
        # Read as rows are claimed (reader_ids may sign each token on first read, so no copy);
        # a row another sender enrolled gets its id asked for then, kept in `late_ids`.
        self.ids = ids
        self.late_ids: dict[str, ReaderId] = {}
        self.more = more  # renders a topic set no row of this run's enrolment had (another sender's row)
        self.reader_ids = reader_ids
        # smtp.rate for every sender together (a shared row, on PostgreSQL), else this process's limiter
        self.interval = 1.0 / settings.smtp.rate if settings.smtp.rate > 0 else 0.0
        self.pace_name = f"smtp {settings.smtp.host}:{settings.smtp.port} {settings.smtp.username or ''}"
        self.issue_id = issue_id
        self.run_id = run_id
        self.factories = factories
        self.make_backend = make_backend
        self.open_outbox = open_outbox
        self.clock = clock
        self.stop = stop
        self.progress = progress
        self.limiter = limiter
        self.sent_now = 0
        self.failed_now: list[tuple[str, str]] = []  # (address, reply) of this run's permanent failures
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def backoff(self, attempts: int) -> float:
        delay: float = self.settings.smtp.retry_base_seconds * 2 ** max(attempts - 1, 0)
        return min(delay, MAX_BACKOFF_SECONDS)

    def worker(self, backend: Backend | None) -> None:
        outbox = self.open_outbox()
        holder = [backend]
        try:
            self._work(outbox, holder)
        except DigestError as exc:
            with self._lock:
                self.errors.append(exc.message)
        except Exception as exc:  # a bug must not pass silently, nor kill the other workers
            log.exception("delivery worker failed")
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            if holder[0] is not None:
                holder[0].close()
            outbox.close()

    def _connect(self, backend: Backend | None) -> Backend | None:
        """An open backend, retrying a server that went away with back-off; None when giving up or stopped."""
        failures = 0
        while not self.stop.is_set():
            backend = backend or self.make_backend()
            try:
                backend.open()
                return backend
            except ConnectFailed as exc:
                failures += 1
                if failures >= self.settings.smtp.max_attempts:
                    with self._lock:
                        self.errors.append(exc.message)
                    return None
                delay = self.backoff(failures)
                self.progress.note(f"{exc.message}; trying again in {delay:.0f}s")
                self.stop.wait(delay)
            except DeliveryError as exc:
                with self._lock:
                    self.errors.append(exc.message)
                return None
        return None

    def _work(self, outbox: OutboxPort, holder: list[Backend | None]) -> None:
        backend = holder[0]
        while not self.stop.is_set():
            if backend is None or not backend.is_open:
                backend = holder[0] = self._connect(backend)
                if backend is None:
                    return
            if not self._pace(outbox):
                return
            item = outbox.claim(self.issue_id, self.run_id)
            if item is None:
                due = outbox.next_retry(self.issue_id, self.run_id)
                if due is None:
                    return
                delay = max(due - self.clock(), 0.0)
                if delay > IDLE_CLOSE_SECONDS:
                    backend.close()
                self.stop.wait(min(delay, 1.0) if delay > 0 else 0.01)
                continue
            marked = False

            def mark_data(item: Claimed = item) -> Callable[[], None]:
                nonlocal marked
                wait = outbox.mark_data(item)
                if wait is None:
                    raise _TakenBack
                marked = True
                return wait

            try:
                factory, reader = self.lookup(item)
                data = factory.build(item.address, item.name, token=reader.token)
                outcome = backend.deliver(factory.mail_from(reader.sid), item.address, data, mark_data, dot_free=True)
            except _TakenBack:
                # Another sender recovered the row while this one's state connection was lost: it is
                # theirs now, and the transaction was dropped before the message (nothing to record).
                self.progress.note(f"{item.address}: taken back by another sender; not sent here")
                continue
            except DurabilityError as exc:
                outbox.release(item, exc.message)  # the final "." was never sent
                raise
            except BaseException as exc:
                if marked:
                    outbox.mark_ambiguous(item, f"interrupted during the SMTP transaction: {exc!r}")
                else:
                    outbox.release(item, f"interrupted before DATA: {exc!r}")
                raise
            self.record(outbox, item, outcome)
            if outcome.reconnect:
                backend.close()

    def _pace(self, outbox: OutboxPort) -> bool:
        """Wait for this message's slot under smtp.rate; False if stopped meanwhile."""
        delay = outbox.pace(self.pace_name, self.interval) if self.interval else None
        if delay is None:
            return self.limiter.wait(self.stop)
        return not self.stop.wait(delay) if delay > 0 else not self.stop.is_set()

    def lookup(self, item: Claimed) -> tuple[MessageFactory, ReaderId]:
        """The message factory and reader id of a claimed row; one this run did not enrol (a row of another
        sender's, on a shared outbox) is rendered and asked for here, once."""
        key = (topic_key(item.topics), bool(item.name))
        with self._lock:
            factory = self.factories.get(key)
            if factory is None:
                if self.more is None:
                    raise KeyError(key)
                factory = self.factories[key] = self.more(key)
            if self.ids is None:
                return factory, NO_ID
            reader = self.ids.get(item.recipient) or self.late_ids.get(item.recipient)
            if reader is None and self.reader_ids is not None:
                self.late_ids.update(self.reader_ids([item.address]))
                reader = self.late_ids.get(item.recipient)
            if reader is None:
                raise KeyError(item.recipient)
            return factory, reader

    def record(self, outbox: OutboxPort, item: Claimed, outcome: Outcome) -> None:
        if outcome.status == "sent":
            outbox.mark_sent(item, outcome.reply)
            with self._lock:
                self.sent_now += 1
            self.progress.event("sent", item.address, outcome.reply)
        elif outcome.status == "permanent":
            outbox.mark_failed(item, outcome.reply)
            with self._lock:
                self.failed_now.append((item.address, outcome.reply))
            self.progress.event("failed", item.address, outcome.reply)
        elif outcome.status == "ambiguous":
            outbox.mark_ambiguous(item, outcome.reply)
            self.progress.event("ambiguous", item.address, outcome.reply)
        elif item.attempts >= self.settings.smtp.max_attempts:
            reply = f"gave up for this run after {item.attempts} attempts: {outcome.reply}"
            outbox.mark_exhausted(item, reply)
            self.progress.event("exhausted", item.address, reply + " (the next run tries again)")
        else:
            delay = self.backoff(item.attempts)
            outbox.mark_deferred(item, outcome.reply, self.clock() + delay)
            self.progress.event(
                "deferred", item.address,
                f"{outcome.reply} (attempt {item.attempts} of {self.settings.smtp.max_attempts}; again in {delay:g}s)",
                final=False,
            )


def send_issue(
    settings: Settings,
    issue: Issue,
    recipients: RecipientList | Iterable[Recipient | str],
    *,
    open_outbox: OpenOutbox,
    render: RenderFn,
    make_backend: Callable[[], Backend],
    now: datetime,
    clock: Clock,
    monotonic: Clock,
    progress: ProgressFactory,
    record_start: Callable[[], None],
    blocked: Mapping[str, str] | None = None,
    reader_ids: ReaderIds | None = None,
    single_backend: Backend | None = None,
    resend_ambiguous: bool = True,
    retry_failed: bool = False,
    stop_event: threading.Event | None = None,
) -> SendReport:
    """Send `issue` to each recipient at most once, recording every outcome in the outbox.

    The caller holds the issue's send lock. `make_backend` makes one connection per worker
    (`single_backend`: that one backend, one worker). `blocked`: recipient keys never to mail,
    with why (skipped); `reader_ids` gives each reader still to send their id and unsubscribe
    token (None: links carry no token, as in a preview); `now` is the messages' Date;
    `record_start` runs once the recipients are enrolled, before anything is sent (the manifest
    records the send).
    `resend_ambiguous` (the default) sends each ambiguous recipient again once, never more;
    `retry_failed` puts permanent failures back in the queue. Raises DeliveryError, with
    nothing recorded as sent, when the first connection cannot be opened or logged in.
    """
    started = monotonic()
    stop = stop_event or threading.Event()
    listed = as_recipients(recipients)
    report = SendReport(issue.issue_id, problems=list(listed.problems))
    who = audience(settings, issue, listed, blocked or {})
    report.total = len(who.everyone)
    run_id = f"{now.astimezone(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
    outbox = open_outbox()
    try:
        recovered = outbox.recover(issue.issue_id, resend_ambiguous=resend_ambiguous, retry_failed=retry_failed)
        report.note_recovered(recovered)
        outbox.add(
            issue.issue_id, run_id, [(r.key, r.address, r.name, r.topics) for r in who.everyone], who.skipped
        )
        record_start()
        todo = outbox.rows(issue.issue_id, ("pending", "deferred"), run_id)
        if todo:
            ids = reader_ids([row["address"] for row in todo]) if reader_ids is not None else None
            slots = Slots.fresh()  # unguessable per send: an article cannot hold them, so nothing in it is filled in
            factories = _render_all(settings, issue, who.issues, todo, render, now, report, slots)
            first = single_backend or make_backend()
            try:
                first.open()
            except DeliveryError:
                first.close()
                raise
            workers = 1 if single_backend is not None else max(1, min(settings.smtp.connections, len(todo)))
            shown = progress(issue.issue_id, len(todo))
            run = _Run(
                settings, issue.issue_id, run_id, factories, make_backend, open_outbox, clock, stop, shown,
                RateLimiter(settings.smtp.rate, monotonic), ids,
                more=lambda key: _render_one(settings, issue, who.issues, key, render, now, report, slots),
                reader_ids=reader_ids,
            )
            try:
                _run_workers(run, first, workers, stop)
            finally:
                shown.close()
            report.sent_now = run.sent_now
            report.failed_now = run.failed_now
            report.error = "; ".join(dict.fromkeys(run.errors)) or None
        counts = outbox.counts(issue.issue_id, run_id)
        report.fill_counts(counts, outbox.rows(issue.issue_id, NOT_DONE_STATES, run_id))
        if counts.get("elsewhere"):
            report.warnings.append(f"{counts['elsewhere']} messages are in flight in other senders of this issue")
    finally:
        outbox.close()
    report.stopped = stop.is_set()
    report.elapsed = monotonic() - started
    return report


def _render_all(
    settings: Settings, issue: Issue, issues: dict[TopicKey, Issue], todo: Sequence[Mapping[str, Any]],
    render: RenderFn, now: datetime, report: SendReport, slots: Slots,
) -> dict[tuple[TopicKey, bool], MessageFactory]:
    """One render per (topic set, named or not) still to send: not one per recipient."""
    wanted: set[tuple[TopicKey, bool]] = set()
    for row in todo:
        topics = json.loads(row["topics"]) if row["topics"] is not None else None
        wanted.add((topic_key(topics), bool(row["name"])))
    return {
        want: _render_one(settings, issue, issues, want, render, now, report, slots)
        for want in sorted(wanted, key=lambda k: (k[0] is not None, sorted(k[0] or ()), k[1]))
    }


def _render_one(
    settings: Settings, issue: Issue, issues: dict[TopicKey, Issue], want: tuple[TopicKey, bool],
    render: RenderFn, now: datetime, report: SendReport, slots: Slots,
) -> MessageFactory:
    key, named = want
    rendered = render(
        issues.get(key) or issue_for_topics(issue, key), settings,
        unsubscribe_url=slots.unsubscribe, recipient_name=slots.name if named else None,
    )
    for warning in rendered.warnings:
        if warning not in report.warnings:
            report.warnings.append(warning)
    return MessageFactory(settings, issue.issue_id, rendered, date=now, slots=slots)


def _run_workers(run: _Run, first: Backend, workers: int, stop: threading.Event) -> None:
    """Worker 0 runs in the calling thread, so that a signal handler there (SIGTERM, Ctrl-C) runs
    the moment a reply arrives and no new message is started after it; the others in threads."""
    threads = [
        threading.Thread(target=run.worker, args=(None,), name=f"digest-send-{i}", daemon=True)
        for i in range(1, workers)
    ]
    for t in threads:
        t.start()
    try:
        run.worker(first)
    except BaseException:
        stop.set()  # KeyboardInterrupt without a handler: the other workers finish their message and stop
        raise
    finally:
        for t in threads:
            t.join()


def plan_send(
    settings: Settings,
    issue: Issue,
    recipients: RecipientList | Iterable[Recipient | str],
    states: Mapping[str, tuple[str, int]],
    *,
    resend_ambiguous: bool = True,
    retry_failed: bool = False,
    blocked: Mapping[str, str] | None = None,
) -> SendReport:
    """--dry-run: what each recipient would get, given each one's (outbox state, resends); nothing is written."""
    listed = as_recipients(recipients)
    report = SendReport(issue.issue_id, problems=list(listed.problems), dry_run=True)
    who = audience(settings, issue, listed, blocked or {})
    report.total = len(who.everyone)
    for r in who.everyone:
        state, resends = states.get(r.key, ("pending", 0))
        sub = who.issues[topic_key(r.topics)]
        again = ""
        if state in ("ambiguous", "data-sent") and resend_ambiguous and resends < MAX_AUTO_RESENDS:
            state, again = "pending", " again, once (ambiguous)"
        elif state == "failed" and retry_failed:
            state, again = "pending", " again (--retry-failed)"
        if state in ("sent", "failed", "ambiguous", "data-sent"):
            shown = "ambiguous" if state == "data-sent" else state
            report.planned.append(f"{r.address}: {shown} already, not sent again")
        elif r.key in who.skipped:
            report.planned.append(f"{r.address}: skipped: {who.skipped[r.key]}")
        else:
            n = len(sub.articles) + len(sub.more)
            report.planned.append(f"{r.address}: would send {n} article{'s' if n != 1 else ''}{again}")
    return report
