"""`digest schedule`: the weekly issue, in the foreground or one tick at a time."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import click

from ..config import Settings
from ..timeparse import parse_instant
from .common import config_options, pass_settings_keys, stop_on_signals


@click.command()
@click.option("--run-once", is_flag=True, help="Do what one tick would do now (or --at), then exit: for cron or systemd timers.")
@click.option("--at", metavar="INSTANT", help="With --run-once: act as if it were this ISO 8601 instant.")
@click.option("--force", is_flag=True, help="Build and send a tick even if it is more than schedule.max_lateness late.")
@click.option("--next", "show_next", type=click.IntRange(1, 1000), metavar="N", help="Print the next N ticks in local time and UTC, then exit.")
@config_options()
@pass_settings_keys
def schedule_command(settings: Settings, run_once: bool, at: str | None, force: bool, show_next: int | None) -> None:
    """Build (and, with schedule.action: send, send) the issue on the cron in config.yaml.

    Runs in the foreground with APScheduler (default: Mondays 08:00 in site.timezone). Each
    issue covers everything since the previous one; after downtime the next tick builds one
    catch-up issue. Outcomes are kept in the state database: see `digest status`.
    """
    from ..schedule import LockBusy, run_forever, run_tick, schedule_lock
    from ..ticks import cron_trigger, next_ticks

    tz = settings.tz
    now = parse_instant(at, tz) if at else datetime.now(timezone.utc).astimezone(tz)
    if show_next:
        for tick in next_ticks(cron_trigger(settings.schedule.cron, tz), now, show_next):
            local = tick.astimezone(tz)
            click.echo(f"{local:%a %Y-%m-%d %H:%M %Z} ({local.isoformat()})   {tick.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC")
        return
    if at and not run_once:
        raise click.UsageError("--at goes with --run-once")
    stop_event = threading.Event()
    if not run_once:
        import logging

        logging.getLogger("digest.schedule").setLevel(min(logging.INFO, logging.getLogger("digest").level or logging.INFO))
        click.echo(f"digest schedule: cron {settings.schedule.cron!r} in {settings.site.timezone}; Ctrl-C to stop.", err=True)
        with stop_on_signals(stop_event):
            run_forever(settings, stop_event=stop_event)
        return
    try:
        with schedule_lock(settings.state_path), stop_on_signals(stop_event):
            outcome = run_tick(settings, now, force=force, stop_event=stop_event)
    except LockBusy as exc:
        click.echo(exc.message, err=True)
        return
    click.echo(outcome.line())
    if outcome.outcome.startswith("failed"):
        raise SystemExit(1)
