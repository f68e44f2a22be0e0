"""`digest schedule`: the weekly issue, in the foreground or one tick at a time."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timezone

import click

from digest.cli.instants import parse_instant
from digest.cli.options import config_options, pass_settings_keys, stop_on_signals
from digest.config import Settings

log = logging.getLogger("digest.schedule.runner")


@click.command()
@click.option(
    "--run-once", is_flag=True,
    help="Do what one tick would do now (or --at), then exit: for cron or systemd timers.",
)
@click.option("--at", metavar="INSTANT", help="With --run-once: act as if it were this ISO 8601 instant.")
@click.option(
    "--force", is_flag=True,
    help="Build and send a tick even if it is more than schedule.max_lateness_hours late,"
    " and go on with an unfinished send past that deadline.",
)
@click.option(
    "--next", "show_next", type=click.IntRange(1, 1000), metavar="N",
    help="Print the next N ticks in local time and UTC, then exit.",
)
@click.option(
    "--state-reset", is_flag=True,
    help="Go on although the state file is missing, empty or lacks sends that the issues' manifests record"
    " (digest refuses otherwise): articles and readers may get an issue again.",
)
@click.option(
    "--host-name", metavar="NAME", hidden=True,
    help="This host's name in the ledger's ticks (default: the system's host name); for tests.",
)
@config_options()
@pass_settings_keys
def schedule_command(
    settings: Settings, run_once: bool, at: str | None, force: bool, show_next: int | None, state_reset: bool,
    host_name: str | None,
) -> None:
    """Build (and, with schedule.action: send, send) the issue on the cron in config.yaml.

    Runs in the foreground with APScheduler (default: Mondays 08:00 in site.timezone). Each
    issue covers everything since the previous one; after downtime the next tick builds one
    catch-up issue. With action: send, a tick is done when its send is: a send left
    unfinished (the server was down, the process was killed) is taken up first by every later
    run, and retried with back-off in the foreground, until it is sent or, past
    schedule.max_lateness_hours after its tick, given up (`gave-up`). Exit status of --run-once:
    1 when a tick is unfinished or given up. Outcomes are kept in the state database: see
    `digest status`.
    """
    # Lazy: the scheduler, the pipeline and APScheduler are what `digest --help` need not load.
    from digest.cli.progress import SendProgress, track
    from digest.cron import cron_trigger
    from digest.schedule.runner import (
        GAVE_UP,
        AnotherRunHoldsTheLock,
        is_failure,
        lock_busy_line,
        run_forever,
        run_tick,
        schedule_lock,
    )
    from digest.schedule.ticks import describe_tick, next_ticks

    def send_progress(issue_id: str, total: int) -> SendProgress:
        return SendProgress(issue_id, total, enabled=None)

    host = host_name or socket.gethostname()
    tz = settings.tz
    now = parse_instant(at, tz) if at else datetime.now(timezone.utc).astimezone(tz)
    if show_next:
        for tick in next_ticks(cron_trigger(settings.schedule.cron, tz), now, show_next):
            click.echo(describe_tick(tick, tz))  # the real instant, also on a spring-forward day
        return
    if at and not run_once:
        raise click.UsageError("--at goes with --run-once")
    stop_event = threading.Event()
    if not run_once:
        logging.getLogger("digest.schedule.runner").setLevel(
            min(logging.INFO, logging.getLogger("digest").level or logging.INFO)
        )
        click.echo(
            f"digest schedule: cron {settings.schedule.cron!r} in {settings.site.timezone}; Ctrl-C to stop.", err=True
        )
        with stop_on_signals(stop_event):
            run_forever(
                settings, stop_event=stop_event, progress=track, send_progress=send_progress, env=os.environ,
                state_reset=state_reset, host=host,
            )
        return
    try:
        with schedule_lock(settings, host=host), stop_on_signals(stop_event):
            outcome = run_tick(
                settings, now, force=force, stop_event=stop_event, progress=track, send_progress=send_progress,
                env=os.environ, state_reset=state_reset, host=host,
            )
    except AnotherRunHoldsTheLock:
        # Not a failure: the other run does the work. Recorded in the ledger, and said on stderr.
        click.echo(lock_busy_line(settings, now, host=host), err=True)
        return
    for done in outcome.all():  # earlier unfinished ticks this run took up, then its own
        click.echo(done.line())
        if done.outcome == GAVE_UP:
            log.error(done.line())  # a final failure: also on stderr, where cron's mail and journals look
    if any(is_failure(done.outcome) for done in outcome.all()):
        raise SystemExit(1)
