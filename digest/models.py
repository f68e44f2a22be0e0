"""Plain data passed between the stages: Article, Issue, RenderedEmail, the outbox's rows, a tick's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple


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


# What a scanned file holds (ScanRow.kind): the content scan makes rows, the scan cache stores them.
ARTICLE, SKIPPED, NOT_ARTICLE, DATE_ONLY = 0, 1, 2, 3


class ScanRow(NamedTuple):
    """One content file as read: its signature (size and mtime) when read, what it holds, and its date.

    A named tuple, not a dataclass: a cold scan makes one per file in worker processes, and a tuple
    is made and pickled back to the parent several times faster (measured: 10,000 rows through a
    pool of two took longer than one process reading them all, with dataclass rows)."""

    path: str  # relative to the content folder, POSIX
    sig: int
    size: int
    mtime_ns: int
    kind: int  # ARTICLE, SKIPPED, NOT_ARTICLE or DATE_ONLY (read only as far as its date line)
    date_ts: float | None  # the date as a POSIX timestamp (ARTICLE and DATE_ONLY)
    data: Article | Skipped | None  # the Article (ARTICLE) or the Skipped (SKIPPED)


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
    """What the renderer made of an issue; it never changes the issue it was given."""

    subject: str
    html: str
    text: str
    warnings: tuple[str, ...] = ()
    # How many of the issue's articles fit within render.max_bytes; the rest were listed under
    # "More this week". None: all of them (a RenderedEmail not made by the renderer).
    shown: int | None = None


def normalise_topic(topic: str) -> str:
    """What makes two topics the same topic (`Data  Science` = `data science`): selection and delivery agree."""
    return " ".join(str(topic).split()).casefold()


# --- the outbox, as the sender and the state database both see it ------------------------------------

MAX_AUTO_RESENDS = 1  # an ambiguous row is sent again once by default, never more
NOT_SENT_STATES = ("failed", "exhausted", "ambiguous", "deferred", "data-sent", "claimed", "pending")
NOT_DONE_STATES = NOT_SENT_STATES[:-1]  # what a send report lists, one line each (not the pending)


@dataclass(frozen=True)
class Claimed:
    """One outbox row a worker took: the message it owes to one recipient."""

    rowid: int
    issue_id: str
    recipient: str
    address: str
    name: str | None
    topics: tuple[str, ...] | None
    attempts: int  # including this one


@dataclass
class Recovered:
    """What the outbox's recovery did to rows earlier runs left behind, by address."""

    ambiguous: list[str] = field(default_factory=list)  # found data-sent: a run died between DATA and the reply
    resent: list[str] = field(default_factory=list)  # ambiguous, back in the queue for their one resend
    requeued: int = 0  # claimed, exhausted (and with retry_failed, failed) rows back in the queue


# --- the schedule ------------------------------------------------------------------------------------


@dataclass
class TickOutcome:
    """What one scheduled tick did (or an earlier unfinished tick this run took up)."""

    tick: datetime | None
    outcome: str  # sent, written, skipped-empty, unfinished, gave-up, refused-late, already-done, no-tick
    issue_id: str | None = None
    number: int | None = None
    since: datetime | None = None
    articles: int = 0
    recipients: int = 0
    detail: str = ""
    key: str = ""  # the tick's wall-clock key in the state database
    resumed: list[TickOutcome] = field(default_factory=list)  # earlier unfinished ticks this run took up first

    def line(self) -> str:
        if self.tick is None:
            return f"tick: {self.outcome} {self.detail}".strip()
        rng = f", range {self.since.isoformat()} → {self.tick.isoformat()}" if self.since else ""
        num = f"issue {self.number}" if self.number else "no issue"
        return (
            f"tick {self.tick.isoformat()}: {num}{rng}, {self.articles} articles, "
            f"{self.recipients} recipients: {self.outcome}" + (f" ({self.detail})" if self.detail else "")
        )

    def all(self) -> list[TickOutcome]:
        """The resumed ticks' outcomes, then this one: what a run did, in order."""
        return [*self.resumed, self]


@dataclass(frozen=True)
class ArchivedIssue:
    """One built issue as the archive lists it, read from its manifest: raw text, shown by render/."""

    issue_id: str
    title: str  # the subject; "" when the manifest has none
    number: object  # as the manifest has it (an int, usually)
    since: datetime | None
    until: datetime | None
    page: str | None  # the issue's .html file name, when the manifest names one
    article_titles: tuple[str, ...]  # the title (else the path) of each article with a card
    count: int  # articles with a card, plus the "More this week" ones

