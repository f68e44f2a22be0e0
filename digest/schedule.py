"""The scheduled path: what one tick does, exactly once, and the APScheduler loop that fires it.

A tick's issue carries every article not carried before, dated before the tick, no earlier
than the first issue's start and no earlier than `lookback` before the previous tick, so an
article published late or back-dated is carried by the next issue, never lost, never twice.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .config import Settings
from .errors import DigestError
from .schedule_state import ScheduleState
from .ticks import cron_trigger, last_tick, normalise, wall_key

log = logging.getLogger("digest.schedule")

DONE_OUTCOMES = ("sent", "written", "skipped-empty")


@dataclass
class TickOutcome:
    tick: datetime | None
    outcome: str  # sent, written, skipped-empty, refused-late, failed-at-N-of-M, already-done, locked, no-tick
    issue_id: str | None = None
    number: int | None = None
    since: datetime | None = None
    articles: int = 0
    recipients: int = 0
    detail: str = ""

    def line(self) -> str:
        if self.tick is None:
            return f"tick: {self.outcome} {self.detail}".strip()
        rng = f", range {self.since.isoformat()} → {self.tick.isoformat()}" if self.since else ""
        num = f"issue {self.number}" if self.number else "no issue"
        return (
            f"tick {self.tick.isoformat()}: {num}{rng}, {self.articles} articles, "
            f"{self.recipients} recipients: {self.outcome}" + (f" ({self.detail})" if self.detail else "")
        )


class LockBusy(DigestError):
    exit_code = 0


@contextmanager
def schedule_lock(state_path: Path) -> Iterator[None]:
    """One scheduler (or --run-once) at a time per state database; the other one is told and leaves."""
    state_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = state_path.with_name(state_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"another digest scheduler holds the lock on {state_path}; nothing to do") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def run_tick(
    settings: Settings,
    at: datetime,
    *,
    force: bool = False,
    stop_event: threading.Event | None = None,
    progress: bool | None = None,
) -> TickOutcome:
    """Do what the tick at or before `at` should do, if it has not been done; return its outcome."""
    tz = settings.tz
    trigger = cron_trigger(settings.schedule.cron, tz)
    raw_tick = last_tick(trigger, at)
    if raw_tick is None:
        return TickOutcome(None, "no-tick", detail=f"the cron {settings.schedule.cron!r} has not fired before {at}")
    tick = normalise(raw_tick, tz)
    key = wall_key(raw_tick)
    with ScheduleState(settings.state_path) as state:
        _resume_unfinished_sends(settings, state, stop_event, progress)
        prior = state.tick_outcome(key)
        if prior is not None and (prior in DONE_OUTCOMES or prior.startswith("failed-at")):
            return TickOutcome(tick, "already-done", detail=f"tick {key} was already {prior}")
        if prior == "refused-late" and not force:
            return TickOutcome(tick, "already-done", detail=f"tick {key} was refused as late")
        lateness = at - tick
        if lateness > timedelta(hours=settings.schedule.max_lateness_hours) and not force:
            outcome = TickOutcome(tick, "refused-late", detail=f"{lateness} after the tick; articles wait")
            # The articles of a refused first tick wait for the next one: the first range stays put.
            state.set_first_since(tick - timedelta(days=settings.schedule.first_window_days))
            state.record_tick(key, outcome)
            _finish(settings, outcome)
            return outcome
        outcome = _build_for_tick(settings, state, key, tick, stop_event, progress)
        state.record_tick(key, outcome)
    _finish(settings, outcome)
    return outcome


def _build_for_tick(
    settings: Settings,
    state: ScheduleState,
    key: str,
    tick: datetime,
    stop_event: threading.Event | None,
    progress: bool | None,
) -> TickOutcome:
    from .manifest import issue_id_for
    from .pipeline import build_issue, write_issue

    sched = settings.schedule
    previous = state.previous_tick()
    first_since = state.first_since() or tick - timedelta(days=sched.first_window_days)
    if previous is None:
        stated_since = select_since = first_since
    else:
        stated_since = previous
        select_since = max(first_since, previous - timedelta(days=sched.lookback_days))
    number = state.next_number()
    issue_id = f"{issue_id_for(stated_since, tick, settings.tz)}_n{number}"
    result = build_issue(
        settings, select_since, tick, carried=state.carried(), number=number, issue_id=issue_id, progress=progress,
        explain=log.isEnabledFor(logging.DEBUG),
        updated_since=previous if sched.show_updates and previous else None,
    )
    for skipped in result.skipped:
        log.warning("%s: %s", skipped.path, skipped.reason)
    for decision in result.decisions:
        log.debug("%s %s: %s", "+" if decision.selected else "-", decision.path, decision.reason)
    result.issue.since = stated_since
    state.set_first_since(first_since)
    if not result.issue.articles:
        if sched.when_empty == "skip":
            return TickOutcome(tick, "skipped-empty", since=stated_since, detail="no new articles")
        from .i18n import labels_for

        result.issue.note = result.issue.note or labels_for(settings.site.language)["nothing_new"]
    files = write_issue(result, settings)
    outcome = TickOutcome(
        tick, "written", issue_id, number, stated_since, len(result.issue.articles) + len(result.issue.more),
        detail=str(files["html"]),
    )
    # The issue, what it carried and the tick's outcome are one transaction: a crash after it
    # never carries an article twice, a crash before it rebuilds the same issue.
    state.record_issue(key, outcome, result.issue.articles + result.issue.more)
    if sched.action == "send":
        _send(settings, outcome, stop_event, progress)
    return outcome


def _send(settings: Settings, outcome: TickOutcome, stop_event: threading.Event | None, progress: bool | None) -> None:
    from .delivery.api import load_recipients_for_schedule, send_built_issue

    recipients = load_recipients_for_schedule(settings)
    report = send_built_issue(settings, outcome.issue_id or "", recipients, stop_event=stop_event, progress=progress)
    outcome.recipients = report.total
    if report.complete:
        outcome.outcome = "sent"
    else:
        outcome.outcome = f"failed-at-{report.done}-of-{report.total}"
        outcome.detail = report.summary_line()


def _resume_unfinished_sends(
    settings: Settings, state: ScheduleState, stop_event: threading.Event | None, progress: bool | None
) -> None:
    """A send stopped by SIGTERM or a crash is finished by the next tick, before anything new."""
    if settings.schedule.action != "send":
        return
    for key, issue_id in state.unfinished_sends():
        outcome = TickOutcome(None, "resumed", issue_id)
        _send(settings, outcome, stop_event, progress)
        state.update_outcome(key, outcome.outcome, outcome.detail)
        log.info("resumed issue %s: %s", issue_id, outcome.outcome)


def _finish(settings: Settings, outcome: TickOutcome) -> None:
    """After every tick, whatever the outcome (the caller logs or prints the tick's line)."""
    url = settings.schedule.heartbeat_url
    if url and url.startswith(("http://", "https://")):
        # A dead-man's switch: requested after every tick, whatever the outcome.
        try:
            urllib.request.urlopen(f"{url}{'&' if '?' in url else '?'}outcome={outcome.outcome}", timeout=10).close()
        except OSError as exc:
            log.warning("heartbeat %s failed: %s", url, exc)


def run_forever(settings: Settings, *, stop_event: threading.Event, progress: bool | None = None) -> None:
    """Foreground scheduler: catch up once at start, then fire on the cron until stopped."""
    from apscheduler.schedulers.background import BackgroundScheduler

    def job() -> None:
        now = datetime.now(timezone.utc).astimezone(settings.tz)
        try:
            with schedule_lock(settings.state_path):
                outcome = run_tick(settings, now, stop_event=stop_event, progress=progress)
            # One line per tick: the service's journal is where an owner looks.
            level = logging.WARNING if outcome.outcome.startswith(("failed", "refused")) else logging.INFO
            log.log(level, outcome.line())
        except LockBusy as exc:
            log.warning(exc.message)
        except (DigestError, sqlite3.Error, OSError) as exc:
            log.error("tick failed: %s", exc)

    trigger = cron_trigger(settings.schedule.cron, settings.tz)
    scheduler = BackgroundScheduler(timezone=settings.tz)
    scheduler.add_job(
        job, trigger, id="digest-tick", coalesce=True, max_instances=1,
        misfire_grace_time=int(settings.schedule.max_lateness_hours * 3600),
    )
    job()  # catch up after downtime: one issue covering the whole gap
    scheduler.start()
    try:
        while not stop_event.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)
