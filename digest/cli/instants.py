"""Reading instants given on the command line: dates are midnight in the site's zone."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import click


def parse_instant(value: str, tz: ZoneInfo) -> datetime:
    """`2025-07-01` → midnight that day in `tz`; an ISO instant keeps its offset; naive ones are in `tz`."""
    text = value.strip()
    if text.lower() == "now":
        return datetime.now(timezone.utc).astimezone(tz)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=tz)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 instant (2025-07-01T08:00:00+08:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
