"""The settings' shape: one typed model with every default written where it is defined.

config.py loads it (from config.yaml, the environment and flags) and config_rules.py checks
it; both import this module, which imports neither.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from digest.errors import DigestError

# `state: postgresql://…` (or postgres://): the ledger in PostgreSQL rather than a file.
STATE_URL_SCHEMES = ("postgresql://", "postgres://")

# `mail.recipients: subscribers`: send to the subscriber store's confirmed rows, not a CSV.
RECIPIENTS_SUBSCRIBERS = "subscribers"


@dataclass
class SiteSettings:
    title: str = "My site"
    base_url: str = "https://example.com"
    language: str = "en"  # built-in labels: en, zh-CN
    timezone: str = "UTC"  # dates without an offset are read in this zone
    # {slug} plus Hugo/Jekyll placeholders (:year, :title, …); or, as Hugo's [permalinks], a mapping of
    # top-level section to pattern, where an article of a section not listed keeps its own path.
    permalink: str | dict[str, str] = "/posts/{slug}/"
    logo: str | None = None
    archive_url: str | None = None  # where issues/ is published; enables "view in browser"
    postal_address: str = ""


@dataclass
class SummarySettings:
    tldr_max_chars: int = 280
    key_figures_max: int = 6
    figure_units: list[str] = field(default_factory=list)  # extra words that make a number a figure


@dataclass
class RenderSettings:
    templates: str = "templates"  # a site owner's overrides, relative to config.yaml
    group_by: Literal["none", "topic"] = "none"
    max_bytes: int = 100_000  # Gmail clips messages over ~102 KB
    preheader: str | None = None
    note: str | None = None
    subject: str = "{site} · {date_range}"  # also {number}, {count} and {title} (the lead story)
    archive_to_content: bool = False


@dataclass
class SmtpSettings:
    host: str = "localhost"
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    sender: str = "digest@localhost"
    timeout: float = 30.0
    connections: int = 1  # hosted relays cap parallel connections
    rate: float = 0.0  # messages per second; 0 means unlimited
    max_attempts: int = 5  # for temporary (4xx) failures
    retry_base_seconds: float = 2.0  # back-off doubles from here
    verify_tls: bool = True
    ca_file: str | None = None  # extra CA bundle, e.g. a company relay's
    # The envelope sender (MAIL FROM), where bounces go; default: the From address. "{token}" in
    # its local part becomes each reader's id (VERP: bounces+{token}@example.com), so a bounce
    # names its reader even when the report does not.
    return_path: str | None = None


@dataclass
class MailSettings:
    list_id: str | None = None  # defaults to the site's host
    unsubscribe_mailto: str | None = None
    unsubscribe_url: str | None = None  # https URL; {token} is replaced per recipient
    suppression_file: str | None = None
    # Who gets a send without --to: a CSV with an `email` column, or "subscribers": the state
    # database's confirmed subscribers (`digest subscribers`, `digest serve`).
    recipients: str | None = None


@dataclass
class ScheduleSettings:
    cron: str = "0 8 * * mon"  # minute hour day month day-of-week, in site.timezone
    action: Literal["write", "send"] = "write"
    first_window_days: int = 7
    lookback_days: int = 30
    max_lateness_hours: float = 24.0
    when_empty: Literal["skip", "send"] = "skip"
    show_updates: bool = False
    heartbeat_url: str | None = None


@dataclass
class SubscribeSettings:
    """`digest serve`: the sign-up, confirm, unsubscribe and preferences pages."""

    # Where readers reach `digest serve`, e.g. https://example.com/newsletter. When set and
    # mail.unsubscribe_url is not, every issue's unsubscribe link is public_url + /unsubscribe?t={token}.
    public_url: str | None = None
    topics: list[str] = field(default_factory=list)  # topics the form offers; none: every article
    confirm_ttl_hours: float = 48.0  # how long a confirmation link works
    record_ip: bool = False  # keep the sign-up's IP address in the consent record
    rate_per_ip: int = 10  # sign-up requests per IP address per hour
    rate_per_address: int = 3  # confirmation mails per address per 24 hours
    language: str | None = None  # the pages' language (en, zh-CN); default: site.language


@dataclass
class BounceSettings:
    """`digest bounces fetch`: the mailbox where bounces and complaints arrive (IMAP)."""

    imap_host: str | None = None
    imap_port: int = 993
    security: Literal["ssl", "starttls", "none"] = "ssl"  # none: only to 127.0.0.1 (tests)
    username: str | None = None  # the password only from DIGEST_IMAP_PASSWORD
    mailbox: str = "INBOX"
    verify_tls: bool = True
    ca_file: str | None = None  # extra CA bundle for the IMAP server
    fetch_before_send: bool = False  # the schedule fetches bounces before each send


@dataclass
class ContentSettings:
    """`content:` written as a mapping, for what goes beyond the folder: `content: {dir: content, …}`."""

    dir: str = "content"
    # A symlink that resolves outside the content folder is skipped with a warning: a link to a
    # private file elsewhere on the host must not be published. true reads it like any file.
    follow_outside_links: bool = False


@dataclass
class Settings:
    site: SiteSettings = field(default_factory=SiteSettings)
    content: str | ContentSettings = "content"  # the folder, or a mapping (ContentSettings)
    out: str = "issues"
    # The ledger (schedule, outbox, subscribers, bounces): a SQLite file, or a PostgreSQL database
    # `postgresql://user@host:5432/db` shared by several hosts (password: DIGEST_STATE_PASSWORD only).
    state: str = ".digest/state.sqlite"
    # The per-host caches (scan, render) when `state` is a PostgreSQL URL; with a file they live in it.
    cache: str = ".digest/cache.sqlite"
    summary: SummarySettings = field(default_factory=SummarySettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    subscribe: SubscribeSettings = field(default_factory=SubscribeSettings)
    bounces: BounceSettings = field(default_factory=BounceSettings)
    # A file holding the secret that signs readers' links (when DIGEST_SECRET is not set),
    # relative to config.yaml; e.g. made with `openssl rand -hex 32 > .digest/secret`.
    secret_file: str | None = None
    # Where config.yaml lives: relative paths in it are read from here.
    root: Path = field(default_factory=Path.cwd)
    # The PostgreSQL state's password, from DIGEST_STATE_PASSWORD only (never config.yaml); not in repr.
    state_password: str | None = field(default=None, repr=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)

    def path(self, value: str | os.PathLike[str]) -> Path:
        """A path from the config, read relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def content_dir(self) -> Path:
        return self.path(self.content if isinstance(self.content, str) else self.content.dir)

    @property
    def follow_outside_links(self) -> bool:
        return isinstance(self.content, ContentSettings) and self.content.follow_outside_links

    @property
    def out_dir(self) -> Path:
        return self.path(self.out)

    @property
    def state_url(self) -> str | None:
        """The PostgreSQL connection string (no password in it), or None when the state is a file."""
        value = self.state.strip()
        return value if value.lower().startswith(STATE_URL_SCHEMES) else None

    @property
    def state_path(self) -> Path:
        """The SQLite ledger file. With a PostgreSQL state there is none: a caller still asking for it
        would split the ledger between a file and the database, so it raises instead."""
        if self.state_url is not None:
            raise DigestError(
                "internal: settings.state_path asked for with a PostgreSQL state; "
                "open the ledger with open_state(settings), put caches in settings.cache_path"
            )
        return self.path(self.state)

    @property
    def state_where(self) -> str:
        """The ledger, as a manifest records it and an error names it: the URL (it holds no password:
        config_rules refuses one), or the state file's resolved path."""
        return self.state_url or str(self.path(self.state).resolve())

    @property
    def cache_path(self) -> Path:
        """The local SQLite file of the caches: the state file itself, or `cache:` beside a PostgreSQL state."""
        return self.path(self.cache) if self.state_url is not None else self.path(self.state)
