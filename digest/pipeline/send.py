"""Sending a built issue: recipients, outbox, lock, renderer and the subscriber store's word handed to
the sender; then the send-time bounces, and the archive. A `--test` copy goes around all of it."""

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
from digest.config import Settings, app_secret, secret_notice, secret_problem, smtp_password
from digest.delivery import sender
from digest.delivery.base import Backend
from digest.delivery.message import unsubscribe_template
from digest.delivery.ports import ProgressFactory, quiet_progress
from digest.delivery.proof import ProofReport, send_proof
from digest.delivery.recipients import Recipient, RecipientList, parse_to
from digest.delivery.report import SendReport
from digest.delivery.smtp import SmtpBackend
from digest.errors import DeliveryError, DigestError
from digest.models import NOT_SENT_STATES, Issue
from digest.pipeline.audience import blocked_reasons, mark_send_bounces, reader_ids
from digest.pipeline.audience import recipients_for_schedule as recipients_for_schedule
from digest.pipeline.subscribers import open_store
from digest.render.issue import render_issue
from digest.state.continuity import check_state_continuity
from digest.state.engine import open_state
from digest.state.locks import AnotherRunHoldsTheLock, exclusive_lock, send_lock_path
from digest.state.outbox import IssueSummary, Outbox, outbox_summary
from digest.state.schedule import ScheduleState, send_progress

log = logging.getLogger("digest")


# --- the send: recipients, the outbox, the lock and the renderer, handed to the sender -------------------

Clock = Callable[[], float]  # unix seconds


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
    secrets (DIGEST_SMTP_PASSWORD, DIGEST_SECRET): the CLI passes the environment, None means
    none. `progress` makes what the send shows (None: nothing); `now` is the messages' Date
    (default: `clock`). `fsync=False` trades safety against a power cut for speed.

    The subscriber store's blocked addresses are skipped; each reader's unsubscribe URL carries
    the MANAGE token of their id; afterwards, addresses whose mailbox the server said is gone
    are marked bounced (`report.bounced`).
    """
    env = {} if env is None else env
    if dry_run:
        states: dict[str, tuple[str, int]] = {}
        blocked: dict[str, str] = {}
        if settings.state_url is not None or settings.state_path.exists():
            outbox = Outbox.open(settings, clock=clock)
            try:
                states = outbox.states(issue.issue_id)
            finally:
                outbox.close()
            with open_store(settings, clock=clock) as store:
                blocked = blocked_reasons(store)
        return sender.plan_send(
            settings, issue, recipients, states, resend_ambiguous=resend_ambiguous, retry_failed=retry_failed,
            blocked=blocked,
        )
    secret, secret_warnings = link_secret(settings, env)  # a token URL without a secret: refused before anything
    single = backend if isinstance(backend, Backend) else None
    make_backend: Callable[[], Backend]
    if backend is None:
        password = smtp_password(env)
        make_backend = lambda: SmtpBackend(settings.smtp, password)  # noqa: E731
    elif isinstance(backend, Backend):
        make_backend = lambda: backend  # noqa: E731
    else:
        make_backend = backend
    when = now or datetime.fromtimestamp(clock(), timezone.utc)
    with _issue_lock(settings, issue.issue_id), open_store(settings, clock=clock) as store:
        report = sender.send_issue(
            settings, issue, recipients,
            open_outbox=lambda: Outbox.open(settings, clock=clock, fsync=fsync),
            render=render or render_issue, make_backend=make_backend, single_backend=single,
            now=when, clock=clock, monotonic=time.monotonic,
            progress=progress or quiet_progress,
            record_start=lambda: record_send(settings, issue.issue_id, when),  # the manifest outlives the state file
            resend_ambiguous=resend_ambiguous, retry_failed=retry_failed, stop_event=stop_event,
            blocked=blocked_reasons(store), reader_ids=reader_ids(store, secret),
        )
        report.bounced = mark_send_bounces(store, report.failed_now)
    report.warnings[:0] = secret_warnings
    return report


def link_secret(settings: Settings, env: Mapping[str, str]) -> tuple[bytes | None, list[str]]:
    """(The secret that signs the readers' unsubscribe tokens, warnings); None when the messages carry no URL.

    Raises DigestError when they carry one and there is no secret (or its file cannot be read):
    no link would work. A weak one is a warning: a forged token needs a reader's random id too,
    and `digest check` and `digest serve` hold it to the rule."""
    if unsubscribe_template(settings) is None:
        return None, []
    secret = app_secret(settings, env)
    problem = secret_problem(settings, env)
    if secret is None:
        raise DigestError(
            f"the messages' unsubscribe URL carries a signed token: {problem}",
            hint="give `digest serve` (or your own unsubscribe endpoint) the same secret",
        )
    return secret, [line for line in (secret_notice(settings, env), problem) if line]


def send_test_copy(
    settings: Settings,
    issue: Issue | str,
    to: str,
    *,
    backend: Backend | None = None,
    render: sender.RenderFn | None = None,
    env: Mapping[str, str] | None = None,
    clock: Clock = time.time,
) -> ProofReport:
    """`digest send ISSUE --test ADDR`: one `[TEST]` copy to `to` (an address or `Name <address>`),
    sent directly: no outbox row, manifest record or subscriber-store row (delivery/proof.py)."""
    address, name, reason = parse_to(to)
    if address is None:
        raise DigestError(f"--test {to!r}: {reason}")
    loaded = load_issue(settings, issue) if isinstance(issue, str) else issue
    env = {} if env is None else env
    chosen = backend if backend is not None else SmtpBackend(settings.smtp, smtp_password(env))
    return send_proof(
        settings, loaded, address, name, render=render or render_issue, backend=chosen,
        now=datetime.fromtimestamp(clock(), timezone.utc),
    )


@contextmanager
def _issue_lock(settings: Settings, issue_id: str) -> Iterator[None]:
    """SQLite: one `digest send` per issue at a time (a second would take the first's rows in flight for
    ambiguous). PostgreSQL: none; several senders share the issue, each worker's rows in flight under
    its own advisory lock (state/outbox.py)."""
    if settings.state_url is not None:
        yield
        return
    lock = send_lock_path(settings.state_path, issue_id)
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
        with ScheduleState(open_state(settings), clock=clock) as state:
            status.ticks = state.recent(10)
            # An unfinished or given-up send: how far it got, read now from the outbox.
            status.tick_progress = {
                str(t["issue_id"]): send_progress(state.conn, str(t["issue_id"])) for t in status.ticks
                if t["issue_id"]
                and (t["outcome"] in ("unfinished", "gave-up") or str(t["outcome"]).startswith("failed-at"))
            }
    conn = open_state(settings)
    try:
        status.summaries = outbox_summary(conn, issue_id)
        if issue_id:
            status.not_sent = list(Outbox(conn, clock=clock).rows(issue_id, NOT_SENT_STATES))
    finally:
        conn.close()
    return status
