"""When the schedule fires: cron ticks in the site's zone, each local wall-clock time once.

APScheduler's CronTrigger returns a tick inside the hour that a DST change repeats twice
(2025-10-26 02:30 in Europe/Berlin, at +02:00 and again at +01:00); a weekly newsletter must
go out once, so ticks are keyed and deduplicated on their local wall-clock time. A tick in
the hour that spring-forward skips (02:30 on 2025-03-30) fires at the real instant that
follows, 03:30 summer time: `describe_tick` shows that instant, not the missing wall time.

The expression itself is read in `digest/cron.py`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

# -- ticks ------------------------------------------------------------------------------------


def wall_key(tick: datetime) -> str:
    """The tick's local wall-clock time as the trigger computed it: the same for both repeats."""
    return tick.replace(tzinfo=None).isoformat(timespec="minutes")


def ticks_between(trigger: CronTrigger, start: datetime, end: datetime, limit: int = 10_000) -> list[datetime]:
    """Ticks in [start, end], oldest first, each local wall-clock time once."""
    out: list[datetime] = []
    seen: set[str] = set()
    prev: datetime | None = None
    now = start
    while len(out) < limit:
        nxt = trigger.get_next_fire_time(prev, now)
        if nxt is None or nxt > end:
            break
        key = wall_key(nxt)
        if key not in seen:
            seen.add(key)
            out.append(nxt)
        prev, now = nxt, nxt
    return out


def next_ticks(trigger: CronTrigger, after: datetime, count: int) -> list[datetime]:
    """The next `count` ticks after `after` (exclusive), each wall-clock time once."""
    out: list[datetime] = []
    seen: set[str] = set()
    prev: datetime | None = None
    now = after + timedelta(microseconds=1)
    while len(out) < count:
        nxt = trigger.get_next_fire_time(prev, now)
        if nxt is None:
            break
        if wall_key(nxt) not in seen:
            seen.add(wall_key(nxt))
            out.append(nxt)
        prev, now = nxt, nxt
    return out


def last_tick(trigger: CronTrigger, at: datetime) -> datetime | None:
    """The latest tick at or before `at` (the first of a repeated pair)."""
    for days in (1, 8, 32, 367, 3 * 367):
        ticks = ticks_between(trigger, at - timedelta(days=days), at)
        if ticks:
            return ticks[-1]
    return None


def normalise(tick: datetime, tz: ZoneInfo) -> datetime:
    """The tick as a real instant in the zone (a skipped 02:30 becomes 03:30 summer time)."""
    return tick.astimezone(ZoneInfo("UTC")).astimezone(tz)


def describe_tick(tick: datetime, tz: ZoneInfo) -> str:
    """One line of `digest schedule --next`: the real instant in local time and UTC.

    A tick in the hour spring-forward skips is shown at the instant it fires (03:30 summer
    time), and says so, rather than at a local time that does not exist that day.
    """
    real = normalise(tick, tz)
    utc = real.astimezone(timezone.utc)
    line = f"{real:%a %Y-%m-%d %H:%M %Z} ({real.isoformat()})   {utc:%Y-%m-%d %H:%M} UTC"
    if real.replace(tzinfo=None) != tick.replace(tzinfo=None):
        line += f"   ({tick:%H:%M} does not exist that day: clocks go forward, so it runs at {real:%H:%M})"
    return line
