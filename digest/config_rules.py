"""What a valid config is, beyond types: ranges, URLs, the cron, the language, the open-file limit.

Called by `settings_from_mapping` for every Settings digest builds, so `build`, `send`,
`schedule` and `check` all refuse the same values, each error naming its key (and, through
`load_settings`, the environment variable when the value came from one).
"""

from __future__ import annotations

import ipaddress
import math
import re
import resource
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError

from digest.addresses import check_address
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
_EMAIL_SLOT = re.compile(r"\{email\}", re.IGNORECASE)


def _check_state(settings: Settings) -> None:
    """`state:` as a PostgreSQL URL: parseable, and no password in it (it would sit in config.yaml)."""
    url = settings.state_url
    if url is None:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigError.for_key(
            "state", "expected postgresql://user@host:5432/database, found a URL that does not parse"
        ) from None
    query = {k.strip().lower() for k, _, _ in (p.partition("=") for p in parts.query.split("&"))}
    if parts.password is not None or "password" in query:
        # Not `found(value)`: the value holds the password.
        raise ConfigError.for_key(
            "state", "the connection string holds a password; it must not be in the config",
            hint="remove it from the URL and set DIGEST_STATE_PASSWORD (or use ~/.pgpass or a libpq service file)",
        )
    if not parts.path.strip("/") and "service" not in query and "dbname" not in query:
        raise ConfigError.for_key("state", f"expected postgresql://user@host:5432/database, found {found(url)}: "
                                  "no database name")


def validate(settings: Settings) -> None:
    """Raise ConfigError naming the first key whose value digest cannot work with."""
    _check_state(settings)
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
        if _EMAIL_SLOT.search(url):
            raise ConfigError.for_key(
                "mail.unsubscribe_url",
                "{email} puts the reader's address in a URL that proxies and logs see: use {token}",
                hint="{token} is an opaque, signed id of the reader; `digest serve` answers /unsubscribe?t={token}",
            )
    _check_list(settings)


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


def _check_list(settings: Settings) -> None:
    """The subscriber list's keys: the public pages, the envelope sender, the bounce mailbox."""
    sub, bounces = settings.subscribe, settings.bounces
    for key, value, low, high in (
        ("subscribe.rate_per_ip", sub.rate_per_ip, 1, None),
        ("subscribe.rate_per_address", sub.rate_per_address, 1, None),
        ("bounces.imap_port", bounces.imap_port, 1, MAX_PORT),
    ):
        _check_range(key, value, low, high)
    if not (math.isfinite(sub.confirm_ttl_hours) and sub.confirm_ttl_hours > 0):
        raise ConfigError.for_key(
            "subscribe.confirm_ttl_hours", f"expected a number of hours above 0, found {found(sub.confirm_ttl_hours)}"
        )
    url = sub.public_url
    if url is not None:
        parts = urlsplit(url.strip())
        if not is_web_url(url.strip()) or parts.query or parts.fragment or url != url.strip():
            raise ConfigError.for_key(
                "subscribe.public_url",
                "expected the http(s) address where readers reach `digest serve`, with a host and no query, "
                f"such as 'https://example.com/newsletter', found {found(url)}",
            )
    for i, topic in enumerate(sub.topics):
        if not topic.strip() or topic != topic.strip() or any(c in topic for c in ",;|\r\n") or \
                topic in sub.topics[:i]:
            raise ConfigError.for_key(
                f"subscribe.topics[{i}]", f"expected a topic name (once, without , ; or |), found {found(topic)}"
            )
    if sub.language is not None:
        _check_language(sub.language, "subscribe.language")
    if settings.smtp.return_path is not None:
        problem = return_path_problem(settings.smtp.return_path)
        if problem:
            raise ConfigError.for_key("smtp.return_path", f"{problem}, found {found(settings.smtp.return_path)}")
    if bounces.security == "none" and bounces.imap_host is not None and not _is_loopback(bounces.imap_host):
        raise ConfigError.for_key(
            "bounces.security",
            f"'none' sends the mailbox password in clear: only allowed to 127.0.0.1, not to {bounces.imap_host!r}",
            hint="use ssl (port 993) or starttls (port 143)",
        )


def return_path_problem(value: str) -> str | None:
    """Why `smtp.return_path` is not one address with at most one {token} in its local part; None if it is."""
    if value.count("{token}") > 1:
        return "expected at most one {token}"
    if "{token}" in value.rpartition("@")[2]:
        return "expected {token} before the @ (the domain must stay the same for every reader)"
    _, reason = check_address(value.replace("{token}", "sid"))
    return f"expected one address such as 'bounces+{{token}}@example.com' ({reason})" if reason else None


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_language(language: str, key: str = "site.language") -> None:
    if language.replace("_", "-").casefold() in (lang.casefold() for lang in LABELLED_LANGUAGES):
        return  # the built-in ones, answered without loading Babel at every start
    try:
        Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ConfigError.for_key(
            key,
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
