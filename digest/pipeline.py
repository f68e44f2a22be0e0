"""The order of the stages, and the only module that knows it: scan → select → summarize → render → write."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from digest.content import articles as content_mod
from digest.config import Settings
from digest.errors import ArticleError, DigestError
from digest.archive.manifest import issue_id_for, issue_to_manifest, write_manifest
from digest.models import Article, Issue, RenderedEmail, Skipped
from digest.cli.progress import track
from digest.selection import Decision, select_articles

log = logging.getLogger("digest")


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
    progress: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[Article], list[Skipped], int]:
    """The articles dated in [since, until) (all, without bounds), the files that failed, and how many files were seen.

    Front matter comes from the scan cache in the state database: only files whose size or
    modification time changed since the last build are read.
    """
    from digest.config import folder_problem
    from digest.state.scan_cache import cached_scan

    folder = settings.content_dir
    problem = folder_problem(folder)
    if problem:
        raise DigestError(problem, hint="set `content:` in config.yaml or pass --content")
    articles, skipped, stats = cached_scan(
        folder, settings, since=since, until=until, summarize=True, progress=progress
    )
    log.info("scanned %d files: %d read, %d from the cache", stats.seen, stats.reread, stats.cached)
    return articles, skipped, stats.seen


def summarize_articles(articles: Iterable[Article], settings: Settings, *, progress: bool | None = None) -> list[Skipped]:
    """Read the bodies of the chosen articles only, and fill in their TL;DR and key figures."""
    from digest.state.scan_cache import save_summaries, summaries_from_cache

    failed: list[Skipped] = []
    # Summaries are cached with the scan until the file changes: a warm build summarizes nothing.
    items = summaries_from_cache(list(articles), settings)
    if items:
        from digest.summarize.summary import summarize
    for art in track(items, len(items), "Summarizing", enabled=progress):
        try:
            body = art.body if art.body is not None else content_mod.load_body(art)
        except (ArticleError, OSError, UnicodeDecodeError) as exc:
            failed.append(Skipped(art.path, str(exc) or type(exc).__name__))
            continue
        art.tldr, art.key_figures = summarize(body, art.front_matter, settings.summary)
        art.body = None  # bodies are not kept: an issue of 50 articles should not hold 50 bodies
    bad = {f.path for f in failed}
    save_summaries([a for a in items if a.path not in bad], settings)
    return failed


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
    progress: bool | None = None,
    explain: bool = False,
    updated_since: datetime | None = None,
) -> BuildResult:
    """Select and summarize the issue of [since, until); nothing is written yet."""
    topics = [t for t in topics if t.strip()]
    # --explain wants a reason for every file, so it scans the whole folder, not the range only.
    window = {} if explain or updated_since else {"since": since, "until": until}
    articles, skipped, seen = scan_content(settings, progress=progress, **window)
    chosen, decisions = select_articles(
        articles, since, until, topics=topics, include_drafts=include_drafts, carried=carried
    )
    failed = summarize_articles(chosen, settings, progress=progress)
    if failed:
        bad = {f.path for f in failed}
        chosen = [a for a in chosen if a.path not in bad]
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
    return BuildResult(issue, skipped, decisions, scanned=seen)


def render(result: BuildResult, settings: Settings) -> RenderedEmail:
    from digest.state.render_cache import cached_render

    result.rendered = cached_render(result.issue, settings)
    # The renderer may have moved overflow articles to issue.more to fit the size limit.
    return result.rendered


def write_issue(result: BuildResult, settings: Settings) -> dict[str, Path]:
    """Write the issue's .html, .txt, .eml and .json into the out folder, then refresh the archive."""
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
    _write_atomic(files["html"], rendered.html)
    _write_atomic(files["text"], rendered.text)
    _write_atomic(files["eml"], _preview_message(issue, rendered, settings))  # bytes: CRLF as on the wire
    reasons = {d.path: d.reason for d in result.decisions if d.selected}
    manifest = issue_to_manifest(issue, rendered.subject, {k: p.name for k, p in files.items()}, reasons)
    write_manifest(files["manifest"], manifest)
    try:
        from digest.archive.index import write_archive

        write_archive(out, settings)
    except ImportError:  # pragma: no cover - archive is optional during development
        pass
    result.files = files
    return files


def _preview_message(issue: Issue, rendered: RenderedEmail, settings: Settings) -> bytes:
    """The complete MIME message, as a subscriber would get it, to open in a mail client."""
    from digest.delivery.message import MessageFactory

    # Built by the same factory `digest send` uses, so the preview is exactly what goes out.
    factory = MessageFactory(settings, issue.issue_id, rendered, ensure_link=False)
    return factory.build("reader@example.com")


def _write_atomic(path: Path, data: str | bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data, encoding="utf-8", newline="")
    tmp.replace(path)
