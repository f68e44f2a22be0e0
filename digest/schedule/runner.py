"""The scheduled path: what one tick does, exactly once, and the APScheduler loop that fires it.

A tick's issue carries every article not carried before, dated before the tick, no earlier
than the first issue's start and no earlier than `lookback` before the previous tick, so an
article published late or back-dated is carried by the next issue, never lost, never twice.

With `action: send` a tick is done when its send is. It is recorded `unfinished` together
with its issue and carried articles, and `sent` only once nothing is left to do; a dead
server or a killed process leaves it unfinished, and every later run takes it up first,
until it is sent or, past tick + `max_lateness_hours`, `gave-up` (a failure the heartbeat reports).

One scheduler runs at a time over one ledger, whatever host it is on (`schedule_lock`: the file
lock beside a SQLite state; an advisory lock on a PostgreSQL one, shared by several hosts). Each
run is given its host's name (the CLI reads it); the ticks it records carry it. A scheduler that
finds the lock held, or its tick already recorded by another host, records that the tick was
taken (schedule_taken), logs `tick … taken by HOST`, and builds and sends nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from digest.config import Settings
from digest.cron import cron_trigger
from digest.delivery.ports import ProgressFactory
from digest.errors import DigestError
from digest.models import TickOutcome
from digest.pipeline import bounces as bounces_pipeline
from digest.pipeline import send as send_pipeline
from digest.pipeline.build import Track, build_tick_issue
from digest.schedule.ticks import last_tick, normalise, wall_key
from digest.state.connection import driver_errors
from digest.state.engine import open_state
from digest.state.locks import AnotherRunHoldsTheLock as AnotherRunHoldsTheLock  # raised by schedule_lock
from digest.state.locks import ledger_lock, lock_holder, schedule_lock_path
from digest.state.schedule import ScheduleState, send_progress

log = logging.getLogger("digest.schedule.runner")

UNFINISHED = "unfinished"  # the issue is built and its articles carried; its send is not finished yet
GAVE_UP = "gave-up"  # a send still unfinished at tick + schedule.max_lateness_hours: final, and a failure
DONE_OUTCOMES = ("sent", "written", "skipped-empty", GAVE_UP)
# The foreground scheduler retries an unfinished send after smtp.retry_base_seconds * RESUME_FACTOR
# (60 s by default), doubling up to RESUME_MAX_SECONDS: a dead server is not polled every second.
RESUME_FACTOR = 30.0
RESUME_MAX_SECONDS = 1800.0
ALREADY_DONE = "already-done"
# What a step of a run may raise that is reported as one line (the ledger's errors on either engine).
def run_errors() -> tuple[type[Exception], ...]:
    return (DigestError, OSError, *driver_errors())  # psycopg's only once a PostgreSQL state loaded it


def is_failure(outcome: str) -> bool:
    """Outcomes an owner must hear about: the heartbeat marks them `status=fail`, the exit status is 1."""
    return outcome in (UNFINISHED, GAVE_UP) or outcome.startswith("failed")


def lock_busy_line(settings: Settings, at: datetime | None = None, *, host: str = "") -> str:
    """What a second scheduler says when it leaves: not a failure (exit status 0). With `at`, it
    records that the tick at or before `at` was taken, and by whom (the host holding the lock)."""
    where = settings.state_where
    if at is None:
        return f"another digest scheduler holds the lock on {where}; nothing to do"
    trigger = cron_trigger(settings.schedule.cron, settings.tz)
    raw_tick = last_tick(trigger, at)
    lock_file = schedule_lock_path(settings.state_path) if settings.state_url is None else None
    runner = lock_holder(settings, "schedule", lock_file)
    with ScheduleState(open_state(settings), clock=time.time, host=host) as state:
        if raw_tick is not None:
            state.record_taken(wall_key(raw_tick), runner)
    by = runner or "another digest scheduler"
    if raw_tick is None:
        return f"{by} holds the schedule's lock on {where}; nothing to do"
    return f"tick {wall_key(raw_tick)} taken by {by} (it holds the schedule's lock on {where}); nothing to do"


@contextmanager
def schedule_lock(settings: Settings, *, host: str = "") -> Iterator[None]:
    """One scheduler (or --run-once) at a time per ledger, over every host; AnotherRunHoldsTheLock for
    the other one. The holder's `host` is noted in the ledger, for the one that finds it taken."""
    lock_file = schedule_lock_path(settings.state_path) if settings.state_url is None else None
    with ledger_lock(settings, "schedule", lock_file, write_pid=True, holder=host):
        yield


@dataclass(frozen=True)
class _Run:
    """What every step of a scheduled run is handed: the signal to stop, what to show, the secrets."""

    stop_event: threading.Event | None = None
    progress: Track | None = None  # the build's progress bar
    send_progress: ProgressFactory | None = None
    env: Mapping[str, str] | None = None  # DIGEST_SMTP_PASSWORD, DIGEST_UNSUBSCRIBE_SECRET
    host: str = ""  # this host's name: recorded on the ticks this run records


def run_tick(
    settings: Settings,
    at: datetime,
    *,
    force: bool = False,
    stop_event: threading.Event | None = None,
    progress: Track | None = None,
    send_progress: ProgressFactory | None = None,
    env: Mapping[str, str] | None = None,
    state_reset: bool = False,
    host: str = "",
) -> TickOutcome:
    """Do what the tick at or before `at` should do, if it has not been done; return its outcome.

    `env` holds the secrets a send needs (the CLI passes the environment); `send_progress`
    makes what a send shows (None: nothing); `host` is this host's name (the CLI's: the system's).
    Call it under `schedule_lock`.
    """
    run = _Run(stop_event, progress, send_progress, env, host)
    tz = settings.tz
    trigger = cron_trigger(settings.schedule.cron, tz)
    raw_tick = last_tick(trigger, at)
    if raw_tick is None:
        return TickOutcome(None, "no-tick", detail=f"the cron {settings.schedule.cron!r} has not fired before {at}")
    tick = normalise(raw_tick, tz)
    key = wall_key(raw_tick)
    # Before the state file is opened (which would create it): one that was deleted or emptied
    # beside manifests recording sends would build and send those articles again.
    send_pipeline.check_state(settings, state_reset=state_reset, now=datetime.now(timezone.utc))
    with ScheduleState(open_state(settings), clock=time.time, host=host) as state:
        # An unfinished send is part of its tick: finish it (or give it up) before anything new.
        resumed = _resume_unfinished(settings, state, at, run, force=force)
        for earlier in resumed:
            if earlier.key != key:
                _finish(settings, earlier)
        mine = next((o for o in resumed if o.key == key), None)
        if mine is not None:
            mine.resumed = [o for o in resumed if o is not mine]
            _finish(settings, mine)
            return mine
        prior = state.tick_outcome(key)
        done = prior is not None and (prior in DONE_OUTCOMES or prior == UNFINISHED or prior.startswith("failed-at"))
        if done or (prior == "refused-late" and not force):
            was = "refused as late" if prior == "refused-late" else prior
            other = state.tick_host(key)
            if other and other != host:  # another host ran it: say so, and keep that we found it taken
                state.record_taken(key, other)
                log.info("tick %s taken by %s (%s); nothing to do", key, other, was)
                return TickOutcome(tick, ALREADY_DONE, detail=f"tick {key} taken by {other}: {was}", key=key,
                                   resumed=resumed)
            return TickOutcome(tick, ALREADY_DONE, detail=f"tick {key} was already {was}", key=key, resumed=resumed)
        lateness = at - tick
        if lateness > timedelta(hours=settings.schedule.max_lateness_hours) and not force:
            outcome = TickOutcome(tick, "refused-late", detail=f"{lateness} after the tick; articles wait", key=key)
            # The articles of a refused first tick wait for the next one: the first range stays put.
            state.set_first_since(tick - timedelta(days=settings.schedule.first_window_days))
            state.record_tick(key, outcome)
        else:
            outcome = _build_for_tick(settings, state, key, tick, run)  # records it
    outcome.resumed = resumed
    _finish(settings, outcome)
    return outcome


def resume_unfinished(
    settings: Settings, at: datetime, *, stop_event: threading.Event | None = None,
    send_progress: ProgressFactory | None = None, env: Mapping[str, str] | None = None, host: str = "",
) -> list[TickOutcome]:
    """Take up every unfinished send (or give it up past its deadline) without firing a tick: the
    foreground scheduler's retry between ticks. Call it under `schedule_lock`."""
    run = _Run(stop_event, None, send_progress, env, host)
    with ScheduleState(open_state(settings), clock=time.time, host=host) as state:
        outcomes = _resume_unfinished(settings, state, at, run, force=False)
    for outcome in outcomes:
        _finish(settings, outcome)
    return outcomes


def _build_for_tick(settings: Settings, state: ScheduleState, key: str, tick: datetime, run: _Run) -> TickOutcome:
    sched = settings.schedule
    previous = state.previous_tick()
    first_since = state.first_since() or tick - timedelta(days=sched.first_window_days)
    if previous is None:
        stated_since = select_since = first_since
    else:
        stated_since = previous
        select_since = max(first_since, previous - timedelta(days=sched.lookback_days))
    number = state.next_number()
    result = build_tick_issue(
        settings, select_since=select_since, stated_since=stated_since, tick=tick, number=number,
        carried=state.carried(), updated_since=previous if sched.show_updates and previous else None,
        skip_empty=sched.when_empty == "skip", now=datetime.now(timezone.utc), progress=run.progress,
        explain=log.isEnabledFor(logging.DEBUG),
    )
    for skipped in result.skipped:
        log.warning("%s: %s", skipped.path, skipped.reason)
    for decision in result.decisions:
        log.debug("%s %s: %s", "+" if decision.selected else "-", decision.path, decision.reason)
    state.set_first_since(first_since)
    if not result.files:
        outcome = TickOutcome(tick, "skipped-empty", since=stated_since, detail="no new articles", key=key)
        state.record_tick(key, outcome)
        return outcome
    sending = sched.action == "send"
    outcome = TickOutcome(
        tick, UNFINISHED if sending else "written", result.issue.issue_id, number, stated_since,
        len(result.issue.articles) + len(result.issue.more), detail="" if sending else str(result.files["html"]),
        key=key,
    )
    # The issue, what it carried and the tick's outcome are one transaction: a crash after it
    # never carries an article twice, a crash before it rebuilds the same issue. With
    # action: send the tick is recorded unfinished until its send is: a kill or a dead server
    # leaves it for the next run to resume, never "done".
    state.record_issue(key, outcome, result.issue.articles + result.issue.more)
    if sending:
        _send(settings, state, outcome, run)
    return outcome


def _send(settings: Settings, state: ScheduleState, outcome: TickOutcome, run: _Run) -> None:
    """Send (or go on sending) a tick's issue; record it `sent` only when nothing is left to do."""
    issue_id = outcome.issue_id or ""
    if settings.bounces.fetch_before_send:
        _fetch_bounces(settings, run)
    try:
        recipients = send_pipeline.recipients_for_schedule(settings, clock=time.time)
        report = send_pipeline.send_built_issue(
            settings, issue_id, recipients, stop_event=run.stop_event, progress=run.send_progress, env=run.env,
        ).report
    except (DigestError, OSError) as exc:
        # The server is down or refuses the login, the recipients cannot be read, another process
        # sends this issue: the tick stays unfinished and the next run takes it up.
        reason = exc.message if isinstance(exc, DigestError) else str(exc)
        outcome.outcome, outcome.recipients = UNFINISHED, state.send_counts(issue_id)["total"]
        why = f"{reason}; the next run resumes it"
    else:
        outcome.recipients = report.total
        if report.complete:  # sent, skipped, failed permanently, or ambiguous after its one resend
            outcome.outcome = "sent"
            why = "" if report.exit_code == 0 else report.summary_line()
        else:
            outcome.outcome = UNFINISHED
            why = f"{'stopped' if report.stopped else report.error or 'not finished'}; the next run resumes it"
    # The state keeps the reason; the counts are read afresh from the outbox when shown.
    state.update_outcome(outcome.key, outcome.outcome, why, outcome.recipients)
    outcome.detail = f"{send_progress(state.conn, issue_id)}; {why}" if outcome.outcome == UNFINISHED else why


def _fetch_bounces(settings: Settings, run: _Run) -> None:
    """bounces.fetch_before_send: read the bounce mailbox first, so this send skips whom it marks.
    A mailbox that cannot be read is a warning: the send goes on."""
    try:
        summary = bounces_pipeline.fetch_bounces(
            settings, password=bounces_pipeline.imap_password(run.env or {}), clock=time.time
        )
    except run_errors() as exc:
        log.warning("bounces not fetched before the send (the send goes on): %s", exc)
        return
    log.info(summary.line())


def _resume_unfinished(
    settings: Settings, state: ScheduleState, at: datetime, run: _Run, *, force: bool
) -> list[TickOutcome]:
    """Every tick whose send is unfinished, oldest first: sent on, or given up past tick + max_lateness.

    Not only with action: send: a tick built to be sent is finished even if the config changed since.
    """
    outcomes = []
    max_lateness = timedelta(hours=settings.schedule.max_lateness_hours)
    for row in state.unfinished_sends():
        tick = datetime.fromisoformat(row["tick"])
        outcome = TickOutcome(
            tick, UNFINISHED, row["issue_id"], row["number"],
            datetime.fromisoformat(row["since"]) if row["since"] else None, row["articles"], row["recipients"],
            key=row["wall_key"],
        )
        if at - tick > max_lateness and not force:
            outcome.outcome = GAVE_UP
            outcome.recipients = state.send_counts(row["issue_id"])["total"] or outcome.recipients
            why = (
                f"gave up: still unfinished {at - tick} after the tick (schedule.max_lateness_hours:"
                f" {settings.schedule.max_lateness_hours:g}); `digest send {row['issue_id']}` sends the rest by hand"
            )
            state.update_outcome(outcome.key, outcome.outcome, why, outcome.recipients)
            outcome.detail = f"{send_progress(state.conn, row['issue_id'])}; {why}"
        elif run.stop_event is not None and run.stop_event.is_set():  # SIGTERM: leave it for the next run
            outcome.detail = f"{send_progress(state.conn, row['issue_id'])}; stopped; the next run resumes it"
        else:
            _send(settings, state, outcome, run)
        outcomes.append(outcome)
    return outcomes


def unfinished_deadline(settings: Settings) -> datetime | None:
    """When the oldest unfinished send is given up (its tick + max_lateness); None when none is unfinished."""
    with ScheduleState(open_state(settings), clock=time.time) as state:
        rows = state.unfinished_sends()
    if not rows:
        return None
    tick: datetime = datetime.fromisoformat(rows[0]["tick"])
    return tick + timedelta(hours=settings.schedule.max_lateness_hours)


def _finish(settings: Settings, outcome: TickOutcome) -> None:
    """Request the heartbeat after a tick's outcome (the caller logs or prints the tick's line)."""
    url = settings.schedule.heartbeat_url
    if url and url.startswith(("http://", "https://")):
        # A dead-man's switch: requested after every tick, whatever the outcome; `status=fail` lets a
        # monitor alert on an unfinished or given-up send without knowing digest's outcome names.
        fail = {"status": "fail"} if is_failure(outcome.outcome) else {}
        query = urllib.parse.urlencode({"outcome": outcome.outcome, **fail})
        try:
            urllib.request.urlopen(f"{url}{'&' if '?' in url else '?'}{query}", timeout=10).close()
        except OSError as exc:
            log.warning("heartbeat %s failed: %s", url, exc)


def log_outcome(outcome: TickOutcome) -> None:
    """One line per tick: the service's journal is where an owner looks."""
    if outcome.outcome == GAVE_UP:
        level = logging.ERROR
    elif is_failure(outcome.outcome) or outcome.outcome == "refused-late":
        level = logging.WARNING
    else:
        level = logging.INFO
    log.log(level, outcome.line())


class _Retry:
    """When the foreground scheduler next takes up an unfinished send: growing waits, not a poll, and
    one last attempt just past the oldest one's deadline, which gives it up."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.failures = 0
        self.due: float | None = None  # time.monotonic() of the next attempt; None when nothing is unfinished

    def plan(self) -> None:
        deadline = unfinished_deadline(self.settings)
        if deadline is None:
            self.failures, self.due = 0, None
            return
        self.failures += 1
        base = self.settings.smtp.retry_base_seconds * RESUME_FACTOR
        wait = min(base * 2 ** (self.failures - 1), RESUME_MAX_SECONDS)
        to_deadline = (deadline - datetime.now(timezone.utc)).total_seconds() + 1.0
        wait = max(min(wait, to_deadline), 0.0)
        self.due = time.monotonic() + wait
        log.warning("a scheduled send is unfinished: trying again in %.1fs", wait)


def run_forever(
    settings: Settings, *, stop_event: threading.Event, progress: Track | None = None,
    send_progress: ProgressFactory | None = None, env: Mapping[str, str] | None = None, state_reset: bool = False,
    host: str = "",
) -> None:
    """Foreground scheduler: catch up once at start, then fire on the cron until stopped; between
    ticks, take up an unfinished send again with back-off until it is sent or given up."""
    busy = threading.Lock()  # the cron's job thread and the retries here: one at a time
    retry = _Retry(settings)

    def now() -> datetime:
        return datetime.now(timezone.utc).astimezone(settings.tz)

    def guarded(action: Callable[[], list[TickOutcome]], *, tick: bool) -> None:
        with busy:
            try:
                with schedule_lock(settings, host=host):
                    outcomes = action()
                for outcome in outcomes:
                    log_outcome(outcome)
            except AnotherRunHoldsTheLock:
                try:
                    log.warning(lock_busy_line(settings, now() if tick else None, host=host))
                except run_errors() as exc:
                    log.warning("%s (%s)", lock_busy_line(settings), exc)
            except run_errors() as exc:
                log.error("tick failed: %s", exc)
            try:
                retry.plan()
            except run_errors() as exc:
                log.error("cannot read the schedule's state: %s", exc)

    def job() -> None:
        guarded(lambda: run_tick(
            settings, now(), stop_event=stop_event, progress=progress, send_progress=send_progress, env=env,
            state_reset=state_reset, host=host,
        ).all(), tick=True)

    trigger = cron_trigger(settings.schedule.cron, settings.tz)
    scheduler = BackgroundScheduler(timezone=settings.tz)
    scheduler.add_job(
        job, trigger, id="digest-tick", coalesce=True, max_instances=1,
        misfire_grace_time=int(settings.schedule.max_lateness_hours * 3600),
    )
    job()  # catch up after downtime: one issue covering the whole gap
    scheduler.start()
    try:
        while not stop_event.is_set():
            due = retry.due
            if stop_event.wait(1.0 if due is None else min(max(due - time.monotonic(), 0.0), 1.0)):
                break
            due = retry.due
            if due is not None and time.monotonic() >= due:
                guarded(lambda: resume_unfinished(
                    settings, now(), stop_event=stop_event, send_progress=send_progress, env=env, host=host,
                ), tick=False)
    finally:
        scheduler.shutdown(wait=True)
