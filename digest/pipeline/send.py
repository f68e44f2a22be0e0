"""Sending a built issue: recipients, outbox, lock and renderer handed to the sender; then the archive."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from digest.archive.manifest import (
    load_issue,
    record_send,
    sent_records,
)
from digest.archive.site_page import archive_sent_issue
from digest.config import Settings, smtp_password
from digest.delivery import sender
from digest.delivery.base import Backend
from digest.delivery.message import unsubscribe_secret
from digest.delivery.ports import ProgressFactory, quiet_progress
from digest.delivery.recipients import Recipient, RecipientList, collect_recipients
from digest.delivery.report import SendReport
from digest.delivery.smtp import SmtpBackend
from digest.errors import DeliveryError, DigestError
from digest.models import NOT_SENT_STATES, Issue
from digest.render.issue import render_issue
from digest.state.continuity import check_state_continuity
from digest.state.db import connect
from digest.state.locks import AnotherRunHoldsTheLock, exclusive_lock, send_lock_path
from digest.state.outbox import IssueSummary, Outbox, outbox_summary
from digest.state.schedule import ScheduleState, send_progress

log = logging.getLogger("digest")


# --- the send: recipients, the outbox, the lock and the renderer, handed to the sender -------------------

Clock = Callable[[], float]  # unix seconds


def recipients_for_schedule(settings: Settings) -> RecipientList:
    """The recipients CSV named by `mail.recipients` (read relative to config.yaml)."""
    if not settings.mail.recipients:
        raise DigestError(
            "schedule.action is send but mail.recipients is not set",
            hint="set mail.recipients to a CSV with an `email` column",
        )
    return collect_recipients(csv_path=settings.path(settings.mail.recipients))


def check_state(settings: Settings, *, state_reset: bool, now: datetime) -> None:
    """Refuse to send from a state file that lost sends the manifests record (see state.db)."""
    check_state_continuity(settings, sent_records(settings.out_dir), state_reset=state_reset, now=now)


def send_issue(
    settings: Settings,
    issue: Issue,
    recipients: RecipientList | Iterable[Recipient | str],
    *,
    dry_run: bool = False,
    progress: ProgressFactory | None = None,
    resend_ambiguous: bool = True,
    retry_failed: bool = False,
    stop_event: threading.Event | None = None,
    backend: Backend | Callable[[], Backend] | None = None,
    render: sender.RenderFn | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    clock: Clock = time.time,
    fsync: bool = True,
) -> SendReport:
    """Send `issue` to each recipient at most once through the outbox (see delivery/sender.py).

    `backend`: None for SMTP from `settings.smtp` (one connection per worker); a Backend
    instance (one worker); or a zero-argument factory (one per worker). `env` holds the
    secrets (DIGEST_SMTP_PASSWORD, DIGEST_UNSUBSCRIBE_SECRET): the CLI passes the environment,
    None means none. `progress` makes what the send shows (None: nothing); `now` is the
    messages' Date (default: `clock`). `fsync=False` trades safety against a power cut for speed.
    """
    env = {} if env is None else env
    if dry_run:
        states: dict[str, tuple[str, int]] = {}
        if settings.state_path.exists():
            outbox = Outbox.open(settings.state_path, clock=clock)
            try:
                states = outbox.states(issue.issue_id)
            finally:
                outbox.close()
        return sender.plan_send(
            settings, issue, recipients, states, resend_ambiguous=resend_ambiguous, retry_failed=retry_failed
        )
    secret = unsubscribe_secret(settings, env)  # a token URL without DIGEST_UNSUBSCRIBE_SECRET: refused before anything
    single = backend if isinstance(backend, Backend) else None
    make_backend: Callable[[], Backend]
    if backend is None:
        password = smtp_password(env)
        make_backend = lambda: SmtpBackend(settings.smtp, password)  # noqa: E731
    elif isinstance(backend, Backend):
        make_backend = lambda: backend  # noqa: E731
    else:
        make_backend = backend
    path = settings.state_path
    when = now or datetime.fromtimestamp(clock(), timezone.utc)
    with _issue_lock(path, issue.issue_id):
        return sender.send_issue(
            settings, issue, recipients,
            open_outbox=lambda: Outbox.open(path, clock=clock, fsync=fsync),
            render=render or render_issue, make_backend=make_backend, single_backend=single, secret=secret,
            now=when, clock=clock, monotonic=time.monotonic,
            progress=progress or quiet_progress,
            record_start=lambda: record_send(settings, issue.issue_id, when),  # the manifest outlives the state file
            resend_ambiguous=resend_ambiguous, retry_failed=retry_failed, stop_event=stop_event,
        )


@contextmanager
def _issue_lock(state_path: Path, issue_id: str) -> Iterator[None]:
    """One `digest send` per issue at a time: a second would take the first's rows in flight for ambiguous."""
    lock = send_lock_path(state_path, issue_id)
    try:
        held = exclusive_lock(lock)
        held.__enter__()
    except AnotherRunHoldsTheLock:
        raise DeliveryError(
            f"issue {issue_id} is already being sent by another digest process (lock {lock})",
            hint="wait for it to finish; `digest status` shows its progress",
        ) from None
    try:
        yield
    finally:
        held.__exit__(None, None, None)


@dataclass
class SentIssue:
    """A send and, once it is complete, the issue's page in the site's archive."""

    report: SendReport
    archived: Path | None = None


def send_built_issue(
    settings: Settings,
    issue: Issue | str,
    recipients: RecipientList,
    *,
    dry_run: bool = False,
    progress: ProgressFactory | None = None,
    resend_ambiguous: bool = True,
    retry_failed: bool = False,
    stop_event: threading.Event | None = None,
    env: Mapping[str, str] | None = None,
    clock: Clock = time.time,
) -> SentIssue:
    """Send a built issue (loaded, or its id: its manifest in the out folder), then archive it once complete.

    What `digest send` and the schedule both do; resumes where an earlier run stopped. Raises
    DeliveryError when the server cannot be reached at all.
    """
    loaded = load_issue(settings, issue) if isinstance(issue, str) else issue
    report = send_issue(
        settings, loaded, recipients, dry_run=dry_run, progress=progress, resend_ambiguous=resend_ambiguous,
        retry_failed=retry_failed, stop_event=stop_event, env=env, clock=clock,
    )
    archived = archive_sent_issue(settings, loaded.issue_id) if report.complete and not dry_run else None
    return SentIssue(report, archived)


@dataclass
class SendStatus:
    """What `digest status` shows: the schedule's recent ticks, the outbox's issues, one issue's rows not sent."""

    ticks: list[dict[str, object]] = field(default_factory=list)
    tick_progress: dict[str, str] = field(default_factory=dict)  # issue id -> how far its send got
    summaries: list[IssueSummary] = field(default_factory=list)
    not_sent: list[Mapping[str, object]] = field(default_factory=list)


def send_status(settings: Settings, issue_id: str | None, *, clock: Clock = time.time) -> SendStatus:
    """Read what the state database recorded (the caller checks it exists: reading creates it)."""
    status = SendStatus()
    if not issue_id:
        with ScheduleState(settings.state_path, clock=clock) as state:
            status.ticks = state.recent(10)
            # An unfinished or given-up send: how far it got, read now from the outbox.
            status.tick_progress = {
                str(t["issue_id"]): send_progress(state.conn, str(t["issue_id"])) for t in status.ticks
                if t["issue_id"]
                and (t["outcome"] in ("unfinished", "gave-up") or str(t["outcome"]).startswith("failed-at"))
            }
    conn = connect(settings.state_path)
    try:
        status.summaries = outbox_summary(conn, issue_id)
        if issue_id:
            status.not_sent = list(Outbox(conn, clock=clock).rows(issue_id, NOT_SENT_STATES))
    finally:
        conn.close()
    return status
