"""Cron expressions: checked the way APScheduler reads them, and read the way crontab means them.

`cron_problem` checks an expression without importing APScheduler (a tenth of a second at
every start) for plain crontab syntax, so that the config model can refuse a bad cron in
every command; `cron_trigger` makes APScheduler's trigger, with day-of-week numbers meaning
what crontab means.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from digest.errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

# A five-field cron repeats every few years at most, so whether it ever fires does not depend on
# when it is asked: no clock is read.
_ANY_INSTANT = datetime(2001, 1, 1, tzinfo=timezone.utc)

CRON_EXPECTED = "a five-field cron expression (minute hour day month day-of-week) such as '0 8 * * mon'"


def cron_trigger(expr: str, tz: ZoneInfo) -> CronTrigger:
    # Lazy: APScheduler costs ~100 ms of import (python -X importtime), and `digest` checks a plain
    # cron on every config load without it (cron_problem).
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415

    try:
        return CronTrigger.from_crontab(crontab_weekdays_as_names(expr), timezone=tz)
    except ValueError as exc:
        raise ConfigError(
            f"config key 'schedule.cron': expected {CRON_EXPECTED}, found {expr!r} ({exc})",
            key="schedule.cron", detail=f"expected {CRON_EXPECTED}, found {expr!r} ({exc})",
        ) from None


# -- checking an expression -----------------------------------------------------------------

# The fields: name, lowest and highest value, names it takes. Day-of-week numbers are crontab's
# (0 and 7 are Sunday, 1 is Monday), names are APScheduler's (it orders them mon … sun).
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 7, ("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
)
_CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_NUMERIC = re.compile(r"(?:\*|(?P<first>\d+)(?:-(?P<last>\d+))?)(?:/(?P<step>\d+))?")
_NAMED = re.compile(r"(?P<first>[a-z]+)(?:-(?P<last>[a-z]+))?", re.IGNORECASE)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # 29: February 29 comes round


class _NotPlain(Exception):
    """An item outside plain crontab syntax (`last`, `mon-fri/2`, …): APScheduler itself decides."""


def _field_values(text: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    """The values one field matches; ValueError with APScheduler's reason when it would refuse it."""
    values: set[int] = set()
    for item in text.split(","):
        numeric = _NUMERIC.fullmatch(item)
        named = None if numeric else _NAMED.fullmatch(item) if names else None
        if numeric:
            step = int(numeric["step"]) if numeric["step"] is not None else None
            if step == 0:
                raise ValueError("Increment must be higher than 0")
            if numeric["first"] is None:  # * or */step
                first, last = low, high
                if step and step > high - low:
                    raise ValueError(f"the step value ({step}) is higher than the total range ({high - low})")
            else:
                first = int(numeric["first"])
                given = int(numeric["last"]) if numeric["last"] is not None else None
                if given is None and step is None:
                    given = first
                if given is not None and first > given:
                    raise ValueError("the minimum value in a range must not be higher than the maximum")
                if first < low:
                    raise ValueError(f"the first value ({first}) is lower than the minimum value ({low})")
                if given is not None and given > high:
                    raise ValueError(f"the last value ({given}) is higher than the maximum value ({high})")
                span = (given or high) - first  # `or`: APScheduler reads a range ending at 0 so
                if step and step > span:
                    raise ValueError(f"the step value ({step}) is higher than the total range ({span})")
                last = high if given is None else given
            values.update(range(first, last + 1, step or 1))
        elif named:
            try:
                first = names.index(named["first"].lower())
                last = names.index(named["last"].lower()) if named["last"] else first
            except ValueError:
                raise ValueError(f"{item!r} is not a name this field takes ({', '.join(names)})") from None
            if first > last:
                raise ValueError("the minimum value in a range must not be higher than the maximum")
            offset = 1 if names[0] == "jan" else 0
            values.update(range(first + offset, last + offset + 1))
        else:
            raise _NotPlain(item)
    return values


def crontab_weekdays_as_names(expr: str) -> str:
    """`expr` with day-of-week numbers written as names, read as crontab reads them.

    APScheduler 3 counts day-of-week 0 as Monday, so `0 8 * * 1` would run on Tuesdays;
    every crontab and every cron guide means Monday. Names mean the same to both.
    """
    parts = expr.split()
    if len(parts) != 5 or parts[4] == "*":
        return expr
    _, low, high, _ = _FIELDS[4]
    items = []
    for item in parts[4].split(","):
        if not _NUMERIC.fullmatch(item) or item == "*":
            items.append(item)
            continue
        try:
            days = _field_values(item, low, high, ())
        except (ValueError, _NotPlain):
            items.append(item)  # left for APScheduler to refuse
            continue
        items.extend(dict.fromkeys(_CRONTAB_DAYS[d] for d in sorted(days)))
    return " ".join([*parts[:4], ",".join(dict.fromkeys(items))])


def plain_cron_problem(expr: str) -> str | None:
    """`cron_problem` for plain crontab syntax; _NotPlain when it takes APScheduler to tell."""
    parts = expr.split()
    if len(parts) != 5:
        return f"expected {CRON_EXPECTED}, found {expr!r} ({len(parts)} fields)"
    sets = []
    for text, (name, low, high, names) in zip(parts, _FIELDS):
        try:
            sets.append(_field_values(text, low, high, names))
        except ValueError as exc:
            return f"expected {CRON_EXPECTED}, found {expr!r} ({name} {text!r}: {exc})"
    days, months = sets[2], sets[3]
    if not any(day <= _DAYS_IN_MONTH[month - 1] for day in days for month in months):
        return f"{expr!r} never fires: no such day in those months"
    return None


def cron_problem(expr: str) -> str | None:
    """Why `expr` cannot be the schedule (malformed, or it never fires), or None when it can."""
    try:
        return plain_cron_problem(expr)
    except _NotPlain:
        pass
    try:
        trigger = cron_trigger(expr, ZoneInfo("UTC"))
    except ConfigError as exc:
        return exc.detail
    if trigger.get_next_fire_time(None, _ANY_INSTANT) is None:
        return f"{expr!r} never fires"
    return None
