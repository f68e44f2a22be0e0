"""What a valid config is, beyond types: ranges, URLs, the cron, the language, the open-file limit.

Called by `settings_from_mapping` for every Settings digest builds, so `build`, `send`,
`schedule` and `check` all refuse the same values, each error naming its key (and, through
`load_settings`, the environment variable when the value came from one).
"""

from __future__ import annotations

import math
import resource
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError

from digest.config_model import Settings
from digest.cron import cron_problem
from digest.errors import ConfigError, found

# Open files a send needs: some for the process itself (stdio, the state database and its
# WAL, the schedule lock), then per SMTP connection its socket and its worker's own state
# connection (database, WAL and the WAL opened again to fsync it). Measured under
# `ulimit -n 64`: 12 connections ran, 14 ran out.
FDS_BASE = 24
FDS_PER_CONNECTION = 4
MAX_PORT = 65535
UNSUBSCRIBE_SCHEMES = ("https", "http", "mailto")
# The languages render/i18n.py has labels for (a test holds the two equal): named here so that
# the config, at the bottom of the house, need not import the render wing to say so.
LABELLED_LANGUAGES = ("en", "zh-CN")


def validate(settings: Settings) -> None:
    """Raise ConfigError naming the first key whose value digest cannot work with."""
    site = settings.site
    try:
        ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError.for_key(
            "site.timezone", f"expected an IANA time zone such as 'Europe/Berlin', found {found(site.timezone)}"
        ) from None
    if not is_web_url(site.base_url):
        raise ConfigError.for_key(
            "site.base_url", f"expected an absolute http(s) URL with a host, found {found(site.base_url)}"
        )
    _check_language(site.language)
    if isinstance(site.permalink, dict) and not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in site.permalink.items()
    ):
        raise ConfigError.for_key(
            "site.permalink", f"expected a pattern, or a mapping of section to pattern, found {found(site.permalink)}"
        )
    smtp, sched = settings.smtp, settings.schedule
    for key, value, low, high in (
        ("summary.tldr_max_chars", settings.summary.tldr_max_chars, 20, None),
        ("summary.key_figures_max", settings.summary.key_figures_max, 0, None),
        ("smtp.port", smtp.port, 1, MAX_PORT),
        ("smtp.connections", smtp.connections, 1, None),
        ("smtp.max_attempts", smtp.max_attempts, 1, None),
        ("smtp.rate", smtp.rate, 0, None),
        ("smtp.retry_base_seconds", smtp.retry_base_seconds, 0, None),
        ("render.max_bytes", settings.render.max_bytes, 10_000, None),
        ("schedule.first_window_days", sched.first_window_days, 1, None),
        ("schedule.lookback_days", sched.lookback_days, 0, None),
    ):
        _check_range(key, value, low, high)
    # Zero would make smtplib's sockets non-blocking; an hour of lateness of 0 would refuse
    # every tick (and APScheduler needs a grace time of at least a second).
    if not (math.isfinite(smtp.timeout) and smtp.timeout > 0):
        raise ConfigError.for_key("smtp.timeout", f"expected a number of seconds above 0, found {found(smtp.timeout)}")
    if not (math.isfinite(sched.max_lateness_hours) and sched.max_lateness_hours * 3600 >= 1):
        raise ConfigError.for_key(
            "schedule.max_lateness_hours",
            f"expected a number of hours above 0, found {found(sched.max_lateness_hours)}",
        )
    _check_open_files(smtp.connections)
    problem = cron_problem(sched.cron)
    if problem:
        raise ConfigError.for_key("schedule.cron", problem)
    url = settings.mail.unsubscribe_url
    if url is not None:
        scheme = urlsplit(url.strip()).scheme.lower()
        if scheme not in UNSUBSCRIBE_SCHEMES or (scheme != "mailto" and not is_web_url(url)):
            raise ConfigError.for_key(
                "mail.unsubscribe_url",
                f"expected an https, http or mailto URL (it goes into every message), found {found(url)}",
            )


def is_web_url(url: str) -> bool:
    """An absolute http(s) URL with a host (and a numeric port, if any)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_range(key: str, value: float, low: float, high: float | None) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError.for_key(key, f"expected a finite number, found {found(value)}")
    if value < low:
        raise ConfigError.for_key(key, f"expected at least {low}, found {value}")
    if high is not None and value > high:
        raise ConfigError.for_key(key, f"expected at most {high}, found {value}")


def _check_language(language: str) -> None:
    if language.replace("_", "-").casefold() in (lang.casefold() for lang in LABELLED_LANGUAGES):
        return  # the built-in ones, answered without loading Babel at every start
    try:
        Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ConfigError.for_key(
            "site.language",
            f"expected a language code such as 'en' or 'zh-CN' (labels built in for {', '.join(LABELLED_LANGUAGES)}; "
            f"other languages Babel knows get English labels and their own dates), found {found(language)}",
        ) from None


def _check_open_files(connections: int) -> None:
    """Each SMTP connection holds open files: refuse before a send runs out of them mid-way."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return  # no such limit on this system
    if soft == resource.RLIM_INFINITY:
        return
    need = FDS_BASE + FDS_PER_CONNECTION * connections
    if need <= soft:
        return
    most = max((soft - FDS_BASE) // FDS_PER_CONNECTION, 0)
    raise ConfigError.for_key(
        "smtp.connections",
        f"{connections} connections need about {need} open files, over this process's limit of {soft}",
        hint=f"lower smtp.connections to {most} or less, or raise the limit first (`ulimit -n {need}`"
        + (f"; the hard limit is {hard})" if hard != resource.RLIM_INFINITY else ")"),
    )
