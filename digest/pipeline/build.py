"""Building an issue: scan → select → summarize → render → write, in that order and only here."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from digest.archive.index import FEED_FILE, INDEX_FILE, write_archive
from digest.archive.manifest import (
    issue_id_for,
    issue_to_manifest,
    read_manifests,
    write_manifest,
)
from digest.config import Settings, folder_problem
from digest.content.articles import load_body, not_an_article, read_article
from digest.content.date_line import MARGIN_SECONDS
from digest.content.scan import ReadJob, Window, read_rows
from digest.content.walk import article_path, walk
from digest.errors import ArticleError, DigestError
from digest.files import write_atomic, write_if_changed
from digest.models import ARTICLE, DATE_ONLY, Article, Issue, RenderedEmail, ScanRow, Skipped
from digest.render.reads import RENDER_MODULES, issue_as_rendered, render_reads, template_folders
from digest.selection import Decision, select_articles
from digest.state import render_cache, scan_cache
from digest.state.scan_cache import ScanStats
from digest.summarize.neighbours import NEIGHBOURS, neighbours_before

if TYPE_CHECKING:
    from digest.summarize.boilerplate import Boilerplate
    from digest.summarize.plaintext import Parsed

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


@dataclass
class ContentScan:
    """What a scan found: the articles asked for, every file that failed, how it went, and (only when
    asked, for --explain) the date of every other article file, far outside the range, by article path."""

    articles: list[Article]
    skipped: list[Skipped]
    stats: ScanStats
    far: dict[str, float] = field(default_factory=dict)
    others: list[Skipped] = field(default_factory=list)  # with `near`: every other Markdown file, and why not


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
    found = scan_range(settings, progress=progress, since=since, until=until)
    return found.articles, found.skipped, found.stats


def scan_range(
    settings: Settings,
    *,
    progress: Track | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    near: bool = False,
    also: Iterable[str] = (),
) -> ContentScan:
    """`scan_content`, and what --explain and the schedule's updates need besides.

    `near`: also the articles dated within `MARGIN_SECONDS` of the range (read in full, so the
    selection gives their real reason: a draft the day before is a draft), and in `far` the date of
    every other article file, most known by their date line alone: a reason for every file without
    parsing every front matter. `also`: article paths returned in full whatever their date (the
    articles earlier issues carried, whose lastmod the schedule's updates compare).
    """
    folder = settings.content_dir
    problem = folder_problem(folder)
    if problem:
        raise DigestError(problem, hint="set `content:` in config.yaml or pass --content")
    left_out: list[Skipped] | None = [] if near else None
    files, problems = walk(folder, follow_outside_links=settings.follow_outside_links, left_out=left_out)
    wanted = set(also)
    full = frozenset(rel for rel in files if article_path(rel) in wanted) if wanted else frozenset()
    window = Window.of(since, until)
    job = ReadJob(folder, settings, window, full)
    # The files the date-only rows leave out are exactly those outside the range widened by the margin.
    keep = window.widened(MARGIN_SECONDS) if near else window
    found = ContentScan([], [], ScanStats(seen=len(files) + len(problems)))
    try:
        _scan_with_cache(files, job, keep, near, found, progress)
    except sqlite3.Error as exc:
        # The build must not depend on its cache: a locked, full or damaged database means reading every file.
        log.warning("scan cache unavailable (%s): reading every file", exc)
        found = ContentScan([], [], ScanStats(seen=found.stats.seen, reread=len(files), cache_used=False))
        batches, count, found.stats.workers = read_rows(sorted(files), job)
        rows = chain.from_iterable((progress or untracked)(batches, count, "Scanning"))
        _keep(rows, keep, full, found, near)
    found.articles.sort(key=lambda a: a.path)
    found.skipped = sorted(found.skipped + problems, key=lambda s: s.path)
    found.far = {article_path(rel): ts for rel, ts in sorted(found.far.items())}
    if left_out is not None:  # --explain: the files that are no article, and those the walk left out
        known = {a.path for a in found.articles} | {s.path for s in found.skipped} | found.far.keys()
        others = [Skipped(article_path(rel), not_an_article(rel)) for rel in files if article_path(rel) not in known]
        found.others = sorted(others + left_out, key=lambda s: s.path)
    stats = found.stats
    log.info("scanned %d files: %d read, %d from the cache", stats.seen, stats.reread, stats.cached)
    return found


def _scan_with_cache(
    files: dict[str, int], job: ReadJob, keep: Window, near: bool, found: ContentScan, progress: Track | None
) -> None:
    """Read the changed files, store their rows, and take the rest from the cache, into `found`."""
    stats = found.stats
    conn = scan_cache.open_cache(job.settings, job.content_dir)
    try:
        todo, gone = scan_cache.changed(conn, files)
        stats.reread, stats.cached, stats.deleted = len(todo), len(files) - len(todo), len(gone)
        if todo or gone:
            batches, count, stats.workers = read_rows(todo, job)
            if stats.workers > 1:
                _load_ahead(job.settings)
            rows = scan_cache.store(conn, (progress or untracked)(batches, count, "Scanning"), gone)
            _keep(rows, keep, job.full, found, near=False)
        if len(todo) < len(files):
            # Date-only rows within the margin of `keep` are read in full (none when `near`: keep has the margin).
            margin = 0 if near else MARGIN_SECONDS
            cached, cached_skipped, reach, damaged = scan_cache.load(
                conn, keep.low, keep.high, margin, set(todo), job.full
            )
            found.articles += cached
            found.skipped += cached_skipped
            # Files known by their date line alone that the range now reaches, and rows that did not decode.
            again = sorted(reach + damaged)
            if again:
                batches, count, _ = read_rows(again, job)
                rows = scan_cache.store(conn, (progress or untracked)(batches, count, "Scanning"))
                _keep(rows, keep, job.full, found, near=False)
                stats.reread += len(again)
                stats.cached -= len(again)
        if near:
            # Every file has its current row now: the dates of the others come from the table, none decoded.
            found.far = scan_cache.dates_outside(conn, keep.low, keep.high)
    finally:
        conn.close()


def _load_ahead(settings: Settings) -> None:
    """Load the renderer and the site language's date formats now, while forked helpers read files: a
    cold build that scans many files renders an issue, and these cost it ~50-90 ms (Jinja2, MJML,
    css-inline, Babel's locale data) that this process would otherwise spend after the scan."""
    import digest.render.issue  # noqa: F401, PLC0415 - lazy: see render()
    from digest.render.i18n import format_range  # noqa: PLC0415

    now = datetime.now(settings.tz)
    format_range(now, now, settings.tz, settings.site.language)


def _keep(rows: Iterable[ScanRow], keep: Window, full: frozenset[str], found: ContentScan, near: bool) -> None:
    """Keep the articles in `keep` or `full` and every skipped file of freshly read rows (with `near`, the
    dates of the other articles and date-only files)."""
    for row in rows:
        if row.kind == ARTICLE:
            inside = keep.holds(row.date_ts)
            if inside or row.path in full:
                found.articles.append(row.data)  # type: ignore[arg-type]  # an ARTICLE row holds an Article
            if near and not inside:
                found.far[row.path] = row.date_ts  # type: ignore[assignment]  # an ARTICLE row has a date
        elif row.kind == DATE_ONLY:
            if near:
                found.far[row.path] = row.date_ts  # type: ignore[assignment]  # a DATE_ONLY row has a date
        elif isinstance(row.data, Skipped):
            found.skipped.append(row.data)


def summarize_articles(
    articles: Iterable[Article], settings: Settings, *, progress: Track | None = None
) -> tuple[list[Article], list[Skipped]]:
    """The chosen articles, in order, with their TL;DR and key figures (new values), and the ones whose body failed.

    Each is judged against its neighbours' boilerplate (spec §7). Summaries are cached with the scan
    until the file or one of its neighbours' files changes: the cache is asked first, by which
    neighbours' files (path and signature) an article has, so a warm build reads no body, decodes no
    fingerprint and summarizes nothing. For the others the neighbours' sentence fingerprints come
    from the scan cache, and only those never made are made here, from their bodies; a chosen
    article that is also a neighbour is read and parsed once, for its fingerprints and its summary.
    """
    wanted = list(articles)
    near = _neighbours(wanted, settings)
    extra = {path: _neighbours_key(neighbours) for path, neighbours in near.items()}
    done, todo = scan_cache.summaries_from_cache(wanted, settings, extra)
    if not todo:
        return done, []
    # Loaded only now: a build whose summaries all come from the cache (warm) never needs the
    # summarizer, and its Markdown parser costs ~60-70 ms of imports (python -X importtime).
    from digest.summarize.boilerplate import NO_BOILERPLATE  # noqa: PLC0415
    from digest.summarize.summary import summarize  # noqa: PLC0415

    parsed: dict[str, Parsed] = {}
    failed: dict[str, Skipped] = {}
    plates = _plates(todo, {a.path: near[a.path] for a in todo if a.path in near}, settings, parsed, failed)
    made: list[Article] = []
    for art in (progress or untracked)(todo, len(todo), "Summarizing"):
        if art.path in failed:
            continue
        try:
            body = parsed.pop(art.path) if art.path in parsed else art.body if art.body is not None else load_body(art)
        except (ArticleError, OSError, UnicodeDecodeError) as exc:
            failed[art.path] = Skipped(art.path, str(exc) or type(exc).__name__)
            continue
        plate = plates.get(art.path, NO_BOILERPLATE)
        tldr, figures = summarize(body, art.front_matter, settings.summary, title=art.title, boilerplate=plate)
        # Bodies are not kept: an issue of 50 articles should not hold 50 bodies (`parsed` gave its one up).
        made.append(dataclasses.replace(art, tldr=tldr, key_figures=figures, body=None))
    scan_cache.save_summaries(made, settings, extra)
    summarized = {a.path: a for a in (*done, *made)}
    return [summarized[a.path] for a in wanted if a.path in summarized], [failed[p] for p in sorted(failed)]


def neighbour_plates(
    wanted: list[Article], settings: Settings, parsed: dict[str, Parsed] | None = None,
    failed: dict[str, Skipped] | None = None,
) -> dict[str, Boilerplate]:
    """{article path: what its neighbours share} for the wanted articles (spec §7), from the scan cache's order.

    Neighbours whose fingerprints were never made are read here (and cached); the parsed bodies of wanted
    articles read on the way go into `parsed`, so they are read and parsed once, and those that failed into
    `failed`.
    """
    return _plates(wanted, _neighbours(wanted, settings), settings, {} if parsed is None else parsed,
                   {} if failed is None else failed)


# An article's neighbours: (path relative to the content folder, signature) of each, oldest first.
Neighbours = list[tuple[str, int]]


def _neighbours(wanted: list[Article], settings: Settings) -> dict[str, Neighbours]:
    """{article path: its neighbours} for the wanted articles the scan cache orders (none without a cache)."""
    if not wanted:
        return {}
    folder = settings.content_dir
    dates = [a.date.timestamp() for a in wanted]
    try:
        order = scan_cache.neighbour_order(settings, min(dates), max(dates), NEIGHBOURS)
    except sqlite3.Error as exc:
        log.info("no boilerplate check (scan cache unavailable: %s)", exc)
        return {}
    paths = [path for _, path, _ in order]
    sigs = {path: sig for _, path, sig in order}
    place = {path: i for i, path in enumerate(paths)}
    near: dict[str, Neighbours] = {}
    for art in wanted:
        i = place.get(scan_cache.rel_path(art, folder))
        if i is not None:
            near[art.path] = [(rel, sigs[rel]) for rel in neighbours_before(paths, i)]
    return near


def _neighbours_key(neighbours: Neighbours) -> str:
    """What a summary was judged against, as its cache knows it: its neighbours' files (a file's signature
    changes with its size or mtime, as in the scan cache; the code that reads them is in the summary's key)."""
    return hashlib.sha256(json.dumps(neighbours).encode()).hexdigest()[:32]


def _plates(
    wanted: list[Article], near: Mapping[str, Neighbours], settings: Settings, parsed: dict[str, Parsed],
    failed: dict[str, Skipped],
) -> dict[str, Boilerplate]:
    """{article path: what its neighbours in `near` share}; see neighbour_plates."""
    if not near:
        return {}
    from digest.summarize.boilerplate import Fingerprints, article_fingerprints, plates_for  # noqa: PLC0415
    from digest.summarize.plaintext import parse_body  # noqa: PLC0415 - lazy: see summarize_articles

    folder = settings.content_dir
    rels = {scan_cache.rel_path(a, folder): a for a in wanted}
    need = {rel for neighbours in near.values() for rel, _ in neighbours}
    fingerprints: dict[str, Fingerprints] = {}
    for rel, blob in scan_cache.sentences_from_cache(settings, need).items():
        try:
            fingerprints[rel] = Fingerprints.decode(blob)
        except ValueError:
            continue  # made again below
    fresh: dict[str, bytes] = {}
    for rel in sorted(need - fingerprints.keys()):
        art = rels.get(rel)
        try:
            if art is None:
                art = read_article(folder / rel, folder, settings)
            body = "" if art is None else art.body if art.body is not None else load_body(art)
        except (ArticleError, OSError, UnicodeDecodeError) as exc:
            if rel in rels:
                failed[rels[rel].path] = Skipped(rels[rel].path, str(exc) or type(exc).__name__)
            body, art = "", None
        tree = parse_body(body)
        if rel in rels and art is not None:
            parsed[art.path] = tree
        fingerprints[rel] = article_fingerprints(tree, art.front_matter if art is not None else {})
        fresh[rel] = fingerprints[rel].encode()
    scan_cache.save_sentences(settings, fresh)
    # One running count moved from window to window, not 30 fingerprints counted again per article.
    return plates_for({path: [rel for rel, _ in neighbours] for path, neighbours in near.items()}, fingerprints)


def neighbour_boilerplate(articles: Iterable[Article], pool: Iterable[Article]) -> dict[Path, Boilerplate]:
    """{article's file: what its neighbours share} without a cache (`digest summarize`): the neighbours are
    the articles of `pool` (the content folder's) dated just before it, ties by path; their bodies are read."""
    from digest.summarize.boilerplate import Boilerplate, Fingerprints, article_fingerprints  # noqa: PLC0415

    ordered = sorted(pool, key=lambda a: (a.date.timestamp(), a.source.as_posix()))
    place = {a.source.absolute(): i for i, a in enumerate(ordered)}
    made: dict[Path, Fingerprints] = {}

    def fingerprints(art: Article) -> Fingerprints:
        if art.source not in made:
            try:
                body = art.body if art.body is not None else load_body(art)
            except (ArticleError, OSError, UnicodeDecodeError):
                body = ""
            made[art.source] = article_fingerprints(body, art.front_matter)
        return made[art.source]

    plates: dict[Path, Boilerplate] = {}
    for art in articles:
        key = art.source.absolute()
        i = place.get(key)
        if i is not None:
            plates[key] = Boilerplate.among(fingerprints(n) for n in ordered[max(i - NEIGHBOURS, 0) : i])
    return plates


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
    # --explain wants a reason for every file: the files far outside the range are known by their
    # date line alone, and that date is their reason; the others go through the selection. The
    # updates need the articles earlier issues carried, whatever their date.
    found = scan_range(
        settings, progress=progress, since=since, until=until, near=explain,
        also=carried if updated_since is not None and carried else (),
    )
    articles, skipped, stats = found.articles, found.skipped, found.stats
    chosen, decisions = select_articles(
        [a for a in articles if a.path not in found.far], since, until,
        topics=topics, include_drafts=include_drafts, carried=carried,
    )
    decisions += [
        Decision(path, False, f"outside the range (dated {_dated(ts, settings)})") for path, ts in found.far.items()
    ]
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
    decisions += [Decision(s.path, False, f"skipped: {s.reason}") for s in skipped]
    decisions += [Decision(s.path, False, s.reason) for s in found.others]
    decisions.sort(key=lambda d: d.path)
    return BuildResult(issue, skipped, decisions, scanned=stats.seen)


def _dated(ts: float, settings: Settings) -> str:
    """A date-only file's date as the selection writes an article's (in the site's zone: the offset written
    in the file, if any, is not known without its front matter)."""
    try:
        return datetime.fromtimestamp(ts, settings.tz).isoformat()
    except (OverflowError, OSError, ValueError):
        return (datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=ts)).isoformat()


def render(result: BuildResult, settings: Settings) -> RenderedEmail:
    """Render the issue (from the render cache when nothing it reads changed); `result.issue`
    becomes a new Issue as the email shows it: articles that did not fit moved to `more`."""
    key = render_cache.cache_key(
        result.issue, render_reads(settings), template_folders(settings), RENDER_MODULES, settings.tz
    )
    rendered = render_cache.load(settings.cache_path, key)
    if rendered is None:
        # Lazy, like every load of the renderer here: Jinja2, MJML, css-inline and Babel cost a build
        # 35-45 ms of imports (python -X importtime) that one whose issue and archive come from the
        # caches never uses. The one exception to imports-at-the-top outside cli/ besides cron.py.
        from digest.render.issue import render_issue  # noqa: PLC0415

        rendered = render_issue(result.issue, settings)
        render_cache.store(settings.cache_path, key, rendered)
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
    # A warm rebuild makes the same bytes: files that hold them already are left as they are. The
    # .eml preview is dated when its issue last changed, so it is made again only then.
    changed = write_if_changed(files["html"], rendered.html)
    changed = write_if_changed(files["text"], rendered.text) or changed
    if changed or not files["eml"].exists():
        write_atomic(files["eml"], _preview_message(issue, rendered, settings, now))  # bytes: CRLF as on the wire
    reasons = {d.path: d.reason for d in result.decisions if d.selected}
    manifest = issue_to_manifest(issue, rendered.subject, {k: p.name for k, p in files.items()}, reasons)
    write_manifest(files["manifest"], manifest)
    refresh_archive(out, settings)
    result.files = files
    return files


def refresh_archive(out_dir: Path, settings: Settings) -> None:
    """Rewrite the archive's index.html and feed.xml from every manifest, unless they are already those.

    Both pages follow from the manifests, the settings, the templates and the code alone. They are
    left as they are when the pages on disk are the ones written for the same manifests (by name,
    size and mtime: a rebuild rewrites a manifest only when it changes) and the same rest (the state
    database remembers a digest of their bytes): reading every manifest and formatting its dates
    costs a warm build ~25 ms, and rendering the index loads Jinja2."""
    manifests = sorted(out_dir.glob("*.json"))
    key = render_cache.archive_key(
        [_file_stamp(path) for path in manifests], render_reads(settings), template_folders(settings), RENDER_MODULES
    )
    pages = (out_dir / INDEX_FILE, out_dir / FEED_FILE)
    if render_cache.archive_written(settings.cache_path, key) == render_cache.pages_digest(_read_pages(pages)):
        return
    from digest.render.archive_feed import archive_entries, atom_feed  # noqa: PLC0415 - lazy: see render()
    from digest.render.archive_page import render_index  # noqa: PLC0415

    entries = archive_entries(read_manifests(out_dir), settings)
    write_archive(out_dir, render_index(entries, settings), atom_feed(entries, settings))
    render_cache.note_archive(settings.cache_path, key, render_cache.pages_digest(_read_pages(pages)))


def _file_stamp(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except OSError:
        return path.name, -1, -1
    return path.name, st.st_size, st.st_mtime_ns


def _read_pages(paths: Iterable[Path]) -> list[bytes | None]:
    out: list[bytes | None] = []
    for path in paths:
        try:
            out.append(path.read_bytes())
        except OSError:
            out.append(None)
    return out


def _preview_message(issue: Issue, rendered: RenderedEmail, settings: Settings, now: datetime) -> bytes:
    """The complete MIME message, as a subscriber would get it, to open in a mail client."""
    # Built by the same factory `digest send` uses, so the preview is exactly what goes out.
    # No secret: a preview's unsubscribe link carries no valid token. Imported here, as the renderer
    # is (see render()): a build whose issue did not change makes no message (~20 ms of imports).
    from digest.delivery.message import MessageFactory  # noqa: PLC0415

    factory = MessageFactory(settings, issue.issue_id, rendered, date=now, ensure_link=False)
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
        from digest.render.i18n import labels_for  # noqa: PLC0415 - lazy: see render()

        note = result.issue.note or labels_for(settings.site.language)["nothing_new"]
        result.issue = dataclasses.replace(result.issue, note=note)
    write_issue(result, settings, now=now)
    return result
