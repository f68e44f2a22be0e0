"""Plain data passed between the stages: Article, Issue, RenderedEmail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class KeyFigure:
    value: str
    context: str


@dataclass
class Article:
    """One article as read from its file, plus its summary once summarized."""

    path: str  # relative to the content folder, POSIX; a leaf bundle is "posts/foo/"
    source: Path  # the file actually read (index.md for a bundle)
    title: str
    date: datetime  # aware
    draft: bool = False
    expiry: datetime | None = None
    lastmod: datetime | None = None
    topics: list[str] = field(default_factory=list)
    url: str = ""
    image: str | None = None
    slug: str = ""
    front_matter: dict[str, Any] = field(default_factory=dict)
    body: str | None = None  # None until read; selection needs front matter only
    tldr: str = ""
    key_figures: list[KeyFigure] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    """A content file that tried to be an article and failed, with a one-line reason."""

    path: str
    reason: str


@dataclass
class Issue:
    """What one newsletter issue carries: its range and its articles, newest first."""

    issue_id: str
    since: datetime
    until: datetime
    articles: list[Article]
    number: int | None = None
    note: str | None = None
    more: list[Article] = field(default_factory=list)  # overflow, listed as plain links
    updated: list[Article] = field(default_factory=list)  # carried before, changed since (show_updates)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    warnings: tuple[str, ...] = ()
