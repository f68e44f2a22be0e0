"""Building an issue: scan → select → summarize → render → write, in that order and only here."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Protocol, TypeVar

from digest.archive.index import write_archive
from digest.archive.manifest import (
    issue_id_for,
    issue_to_manifest,
    read_manifests,
    write_manifest,
)
from digest.config import Settings, folder_problem
from digest.content.articles import load_body
from digest.content.date_line import MARGIN_SECONDS
from digest.content.scan import ReadJob, Window, read_rows
from digest.content.walk import walk
from digest.delivery.message import MessageFactory
from digest.errors import ArticleError, DigestError
from digest.files import write_atomic
from digest.models import ARTICLE, Article, Issue, RenderedEmail, ScanRow, Skipped
from digest.render.archive_page import render_archive
from digest.render.i18n import labels_for
from digest.render.issue import RENDER_MODULES, issue_as_rendered, render_issue, render_reads, template_folders
from digest.selection import Decision, select_articles
from digest.state import render_cache, scan_cache
from digest.state.scan_cache import ScanStats
from digest.summarize.summary import summarize

log = logging.getLogger("digest")

T = TypeVar("T")


class Track(Protocol):
    """Shows progress over `items` while yielding them: the CLI passes its bar; below it, nothing prints."""

    def __call__(self, items: Iterable[T], total: int, description: str) -> Iterable[T]: ...


def untracked(items: Iterable[T], total: int, description: str) -> Iterable[T]:
    """No progress shown: the default for callers that are not a terminal's CLI."""
    return items


@dataclass
class BuildResult:
    """What a build found and made; `files` is empty when nothing was written."""

    issue: Issue
    skipped: list[Skipped]
    decisions: list[Decision]
    rendered: RenderedEmail | None = None
    files: dict[str, Path] = field(default_factory=dict)
    scanned: int = 0


def scan_content(
    settings: Settings,
    *,
    progress: Track | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[Article], list[Skipped], ScanStats]:
    """The articles dated in [since, until) (all, without bounds), every file that failed, and how the scan went.

    The content stage reads only the files whose size or modification time changed since the last
    build; the scan cache (state/) keeps the rows it made. Articles outside the range are not
    returned: building 100,000 Article objects is most of a warm build's cost. Sorted by path.
    """
    folder = settings.content_dir
    problem = folder_problem(folder)
    if problem:
        raise DigestError(problem, hint="set `content:` in config.yaml or pass --content")
    files, problems = walk(folder, follow_outside_links=settings.follow_outside_links)
    job = ReadJob(folder, settings, Window.of(since, until))
    stats = ScanStats(seen=len(files) + len(problems))
    try:
        articles, skipped = _scan_with_cache(files, job, stats, progress)
    except sqlite3.Error as exc:
        # The build must not depend on its cache: a locked, full or damaged database means reading every file.
        log.warning("scan cache unavailable (%s): reading every file", exc)
        stats = ScanStats(seen=stats.seen, reread=len(files), cache_used=False)
        articles, skipped = [], []
        batches, count, stats.workers = read_rows(sorted(files), job)
        _keep(chain.from_iterable((progress or untracked)(batches, count, "Scanning")), job.window, articles, skipped)
    articles.sort(key=lambda a: a.path)
    skipped = sorted(skipped + problems, key=lambda s: s.path)
    log.info("scanned %d files: %d read, %d from the cache", stats.seen, stats.reread, stats.cached)
    return articles, skipped, stats


def _scan_with_cache(
    files: dict[str, int], job: ReadJob, stats: ScanStats, progress: Track | None
) -> tuple[list[Article], list[Skipped]]:
    """Read the changed files, store their rows, and take the rest from the cache."""
    articles: list[Article] = []
    skipped: list[Skipped] = []
    conn = scan_cache.open_cache(job.settings, job.content_dir)
    try:
        todo, gone = scan_cache.changed(conn, files)
        stats.reread, stats.cached, stats.deleted = len(todo), len(files) - len(todo), len(gone)
        if todo or gone:
            batches, count, stats.workers = read_rows(todo, job)
            rows = scan_cache.store(conn, (progress or untracked)(batches, count, "Scanning"), gone)
            _keep(rows, job.window, articles, skipped)
        if len(todo) < len(files):
            window = job.window
            cached, cached_skipped, reach, damaged = scan_cache.load(
                conn, window.low, window.high, MARGIN_SECONDS, set(todo)
            )
            articles += cached
            skipped += cached_skipped
            # Files known by their date line alone that the range now reaches, and rows that did not decode.
            again = sorted(reach + damaged)
            if again:
                batches, count, _ = read_rows(again, job)
                rows = scan_cache.store(conn, (progress or untracked)(batches, count, "Scanning"))
                _keep(rows, window, articles, skipped)
                stats.reread += len(again)
                stats.cached -= len(again)
    finally:
        conn.close()
    return articles, skipped


def _keep(rows: Iterable[ScanRow], window: Window, articles: list[Article], skipped: list[Skipped]) -> None:
    """Keep the articles in the window and every skipped file of freshly read rows."""
    for row in rows:
        if row.kind == ARTICLE and window.holds(row.date_ts):
            articles.append(row.data)  # type: ignore[arg-type]  # an ARTICLE row holds an Article
        elif isinstance(row.data, Skipped):
            skipped.append(row.data)


def summarize_articles(
    articles: Iterable[Article], settings: Settings, *, progress: Track | None = None
) -> tuple[list[Article], list[Skipped]]:
    """The chosen articles, in order, with their TL;DR and key figures (new values), and the ones whose body failed.

    Only these bodies are read. Summaries are cached with the scan until the file changes, so a
    warm build summarizes nothing; the cache is handed the summaries made here.
    """
    wanted = list(articles)
    done, todo = scan_cache.summaries_from_cache(wanted, settings)
    made: list[Article] = []
    failed: list[Skipped] = []
    for art in (progress or untracked)(todo, len(todo), "Summarizing"):
        try:
            body = art.body if art.body is not None else load_body(art)
        except (ArticleError, OSError, UnicodeDecodeError) as exc:
            failed.append(Skipped(art.path, str(exc) or type(exc).__name__))
            continue
        tldr, figures = summarize(body, art.front_matter, settings.summary)
        # Bodies are not kept: an issue of 50 articles should not hold 50 bodies.
        made.append(dataclasses.replace(art, tldr=tldr, key_figures=figures, body=None))
    scan_cache.save_summaries(made, settings)
    summarized = {a.path: a for a in (*done, *made)}
    return [summarized[a.path] for a in wanted if a.path in summarized], failed


def build_issue(
    settings: Settings,
    since: datetime,
    until: datetime,
    *,
    topics: Iterable[str] = (),
    include_drafts: bool = False,
    carried: Mapping[str, int | str] | None = None,
    number: int | None = None,
    note: str | None = None,
    issue_id: str | None = None,
    progress: Track | None = None,
    explain: bool = False,
    updated_since: datetime | None = None,
) -> BuildResult:
    """Select and summarize the issue of [since, until); nothing is written yet."""
    topics = [t for t in topics if t.strip()]
    # --explain wants a reason for every file, so it scans the whole folder, not the range only.
    window = {} if explain or updated_since else {"since": since, "until": until}
    articles, skipped, stats = scan_content(settings, progress=progress, **window)
    chosen, decisions = select_articles(
        articles, since, until, topics=topics, include_drafts=include_drafts, carried=carried
    )
    chosen, failed = summarize_articles(chosen, settings, progress=progress)
    skipped = skipped + failed
    # Articles an earlier issue carried whose lastmod moved since: listed, never carried again.
    updated = [] if updated_since is None else sorted(
        (a for a in articles if carried and a.path in carried and a.lastmod and updated_since <= a.lastmod < until),
        key=lambda a: (-a.lastmod.timestamp(), a.path),  # type: ignore[union-attr]
    )
    issue = Issue(
        issue_id=issue_id or issue_id_for(since, until, settings.tz, topics),
        since=since,
        until=until,
        articles=chosen,
        number=number,
        note=note if note is not None else settings.render.note,
        updated=updated,
    )
    decisions += [Decision(s.path, False, f"unreadable: {s.reason}") for s in skipped]
    decisions.sort(key=lambda d: d.path)
    return BuildResult(issue, skipped, decisions, scanned=stats.seen)


def render(result: BuildResult, settings: Settings) -> RenderedEmail:
    """Render the issue (from the render cache when nothing it reads changed); `result.issue`
    becomes a new Issue as the email shows it: articles that did not fit moved to `more`."""
    key = render_cache.cache_key(
        result.issue, render_reads(settings), template_folders(settings), RENDER_MODULES, settings.tz
    )
    rendered = render_cache.load(settings.state_path, key)
    if rendered is None:
        rendered = render_issue(result.issue, settings)
        render_cache.store(settings.state_path, key, rendered)
    result.rendered = rendered
    result.issue = issue_as_rendered(result.issue, rendered)
    return rendered


def write_issue(result: BuildResult, settings: Settings, *, now: datetime) -> dict[str, Path]:
    """Write the issue's .html, .txt, .eml and .json into the out folder, then refresh the archive.

    `now` is the Date of the .eml preview (the CLI or the runner reads the clock)."""
    rendered = result.rendered or render(result, settings)
    out = settings.out_dir
    out.mkdir(parents=True, exist_ok=True)
    issue = result.issue
    files = {
        "html": out / f"{issue.issue_id}.html",
        "text": out / f"{issue.issue_id}.txt",
        "eml": out / f"{issue.issue_id}.eml",
        "manifest": out / f"{issue.issue_id}.json",
    }
    write_atomic(files["html"], rendered.html)
    write_atomic(files["text"], rendered.text)
    write_atomic(files["eml"], _preview_message(issue, rendered, settings, now))  # bytes: CRLF as on the wire
    reasons = {d.path: d.reason for d in result.decisions if d.selected}
    manifest = issue_to_manifest(issue, rendered.subject, {k: p.name for k, p in files.items()}, reasons)
    write_manifest(files["manifest"], manifest)
    refresh_archive(out, settings)
    result.files = files
    return files


def refresh_archive(out_dir: Path, settings: Settings) -> None:
    """Rewrite the archive's index.html and feed.xml from every manifest in `out_dir`."""
    index_html, feed_xml = render_archive(read_manifests(out_dir), settings)
    write_archive(out_dir, index_html, feed_xml)


def _preview_message(issue: Issue, rendered: RenderedEmail, settings: Settings, now: datetime) -> bytes:
    """The complete MIME message, as a subscriber would get it, to open in a mail client."""
    # Built by the same factory `digest send` uses, so the preview is exactly what goes out.
    # No secret: a preview's unsubscribe link carries no valid token.
    factory = MessageFactory(settings, issue.issue_id, rendered, date=now, secret=None, ensure_link=False)
    return factory.build("reader@example.com")


# --- the schedule's build: one tick's issue ---------------------------------------------------------------


def build_tick_issue(
    settings: Settings,
    *,
    select_since: datetime,
    stated_since: datetime,
    tick: datetime,
    number: int,
    carried: Mapping[str, int | str],
    updated_since: datetime | None,
    skip_empty: bool,
    now: datetime,
    progress: Track | None = None,
    explain: bool = False,
) -> BuildResult:
    """Build and write the issue of a scheduled tick; `result.files` is empty when it was empty and skipped.

    The issue states the range since the previous tick, but carries everything not carried
    before from `select_since` (the lookback) on.
    """
    issue_id = f"{issue_id_for(stated_since, tick, settings.tz)}_n{number}"
    result = build_issue(
        settings, select_since, tick, carried=carried, number=number, issue_id=issue_id, progress=progress,
        explain=explain, updated_since=updated_since,
    )
    result.issue = dataclasses.replace(result.issue, since=stated_since)
    if not result.issue.articles:
        if skip_empty:
            return result
        note = result.issue.note or labels_for(settings.site.language)["nothing_new"]
        result.issue = dataclasses.replace(result.issue, note=note)
    write_issue(result, settings, now=now)
    return result
