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


@dataclass
class MailSettings:
    list_id: str | None = None  # defaults to the site's host
    unsubscribe_mailto: str | None = None
    unsubscribe_url: str | None = None  # https URL; {token} is replaced per recipient
    suppression_file: str | None = None
    recipients: str | None = None  # CSV with an `email` column, used by the schedule


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
    state: str = ".digest/state.sqlite"
    summary: SummarySettings = field(default_factory=SummarySettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    # Where config.yaml lives: relative paths in it are read from here.
    root: Path = field(default_factory=Path.cwd)

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
    def state_path(self) -> Path:
        return self.path(self.state)
