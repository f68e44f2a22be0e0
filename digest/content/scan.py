"""Finding and reading content files for the scan cache: one stat per file, parsing spread over the cores.

`walk_files` finds the files `content.scan` would read, with the size and mtime the cache compares;
`read_rows` turns the files that changed into cache rows, in a pool of processes when there are
many (a cold scan of a big site), and summarizes on the way the articles the issue will carry,
so their bodies are parsed in parallel too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from digest.content import articles as content_mod
from digest.config import Settings
from digest.errors import ArticleError
from digest.content.frontmatter import one_line
from digest.models import Article, Skipped
from digest.cli.progress import track
from digest.content.date_line import QUICK_BYTES, far_outside, timestamp_in
from digest.state.db import encode_article, encode_skipped, encode_summary

ARTICLE, SKIPPED, NOT_ARTICLE, DATE_ONLY = 0, 1, 2, 3  # what a row's data holds
# Below this many files, starting worker processes costs more than it saves (measured: a pool
# of two costs ~40 ms to start and stop; one core reads ~13,000 front matters a second).
POOL_MIN_FILES = 2000
CHUNK = 250  # files per task sent to a worker: small enough to keep both cores busy to the end

# path, sig, size, mtime_ns, kind, date_ts, data, summary_key, summary (data and summary: state.encode_*, JSON)
Row = tuple[str, int, int, int, int, "float | None", bytes, "str | None", "bytes | None"]


@dataclass(frozen=True)
class Window:
    """The date range a build asks for, as timestamps padded by a second (selection makes the exact cut)."""

    low: float = float("-inf")
    high: float = float("inf")

    @classmethod
    def of(cls, since: datetime | None, until: datetime | None) -> Window:
        return cls(
            since.timestamp() - 1 if since is not None else float("-inf"),
            until.timestamp() + 1 if until is not None else float("inf"),
        )

    def holds(self, ts: float | None) -> bool:
        return ts is not None and self.low <= ts < self.high


@dataclass(frozen=True)
class ReadJob:
    """What every file read needs besides its path; sent once to each worker."""

    content_dir: Path
    settings: Settings
    window: Window
    summary_key: str | None  # summarize the articles in the window under this key; None: don't

    @property
    def root(self) -> str:
        return str(self.content_dir)  # pathlib caches it


def walk_files(content_dir: Path, *, follow_outside_links: bool = False) -> tuple[dict[str, int], list[Skipped]]:
    """{relative path: signature of size and mtime} of every Markdown file `content.scan` reads, and the unreadable ones.

    The same rules as `content._walk` (a test holds them equal), but with the stat the cache needs
    and without a Path per file: at 100,000 files those cost a third of a second. Folders are
    listed through a descriptor where the OS allows, so each stat skips the path lookup (-20%).
    A symbolic link that resolves outside the content folder is a problem, not followed, unless
    `follow_outside_links` (`content.outside_link`); telling a link costs nothing (the listing says so).
    """
    root = os.path.realpath(content_dir)
    outside_link, watch_links = content_mod.outside_link, not follow_outside_links
    files: dict[str, int] = {}
    problems: list[Skipped] = []
    seen: set[str] = set()
    stack: list[tuple[str, str]] = [(str(content_dir), "")]
    suffixes, indexes = content_mod.SUFFIXES, content_mod.BUNDLE_INDEXES
    is_regular = stat.S_ISREG
    by_fd = os.scandir in os.supports_fd
    while stack:
        folder, rel = stack.pop()
        fd = -1
        try:
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            if by_fd:
                fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            with os.scandir(fd if by_fd else folder) as it:
                entries = list(it)
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            problems.append(Skipped((rel or ".") + "/", one_line(f"cannot read folder: {exc.strerror or exc}")))
            continue
        try:
            prefix = rel + "/" if rel else ""
            # A leaf bundle's other files are its resources, not pages (Hugo); its _posts stay posts (Jekyll).
            bundle = bool(rel) and any(e.name in indexes for e in entries)
            folders: list[tuple[str, str]] = []
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue  # .git, editor swap files
                wanted = (name.endswith(suffixes) or name.lower().endswith(suffixes)) and (
                    not bundle or name in indexes
                )
                # A link out of the content folder is never read (nor its folder walked): content.outside_link.
                away = outside_link(os.path.join(folder, name), root) if watch_links and entry.is_symlink() else None
                if wanted and away is None:
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        problems.append(Skipped(prefix + name, "cannot read: a symbolic link to nothing"))
                        continue
                    except OSError as exc:
                        problems.append(Skipped(prefix + name, one_line(f"cannot read: {exc.strerror or exc}")))
                        continue
                    if is_regular(st.st_mode):
                        files[prefix + name] = hash((st.st_size, st.st_mtime_ns))  # signature(st), inlined
                        continue
                    if not stat.S_ISDIR(st.st_mode):
                        problems.append(Skipped(prefix + name, "cannot read: not a regular file"))
                        continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if not is_dir:
                    if wanted and away is not None:
                        problems.append(Skipped(prefix + name, away))
                elif name != "_drafts" and (not bundle or name == "_posts"):
                    if away is not None:
                        problems.append(Skipped(prefix + name + "/", away))
                        continue
                    folders.append((name, prefix + name))
        finally:
            if fd >= 0:
                os.close(fd)
        # Depth first in name order, as content._walk: the first path to a folder wins.
        folders.sort(reverse=True)
        stack.extend((os.path.join(folder, name), child) for name, child in folders)
    return files, problems


def signature(st: os.stat_result) -> int:
    """One integer for a file's size and mtime_ns; a changed file gets a new one (tuple hashes of ints are stable)."""
    return hash((st.st_size, st.st_mtime_ns))


def read_row(rel: str, job: ReadJob) -> Row:
    """The cache row of one file, stat taken before the read (so a file changed meanwhile is read again next time).

    Never raises, like `content.scan`.
    """
    if job.window.low > float("-inf") or job.window.high < float("inf"):
        quick = _date_only_row(rel, job)
        if quick is not None:
            return quick
    source = Path(job.content_dir, rel)
    try:
        st = os.stat(source)
    except OSError:
        return rel, 0, -1, -1, NOT_ARTICLE, None, b"", None, None  # gone since the walk: no file has this sig
    head = (rel, signature(st), st.st_size, st.st_mtime_ns)
    try:
        article = content_mod.read_article(source, job.content_dir, job.settings)
    except ArticleError as exc:
        failed = Skipped(content_mod._article_path(rel), one_line(exc.message))
        return (*head, SKIPPED, None, encode_skipped(failed), None, None)
    except Exception as exc:  # noqa: BLE001 - a bug on one odd file must not lose the whole issue
        failed = Skipped(content_mod._article_path(rel), one_line(f"unexpected error: {type(exc).__name__}: {exc}"))
        return (*head, SKIPPED, None, encode_skipped(failed), None, None)
    if article is None:
        return (*head, NOT_ARTICLE, None, b"", None, None)
    date_ts = article.date.timestamp()
    summary = None
    if job.summary_key is not None and job.window.holds(date_ts):
        summary = summarize_article(article, job.settings)
    key = job.summary_key if summary is not None else None
    return (*head, ARTICLE, date_ts, encode_article(article), key, summary)


def _date_only_row(rel: str, job: ReadJob) -> Row | None:
    """The "date only" row of a file dated far outside the window; None when it must be read in full.

    Most files of a cold scan end here, so it runs on a string path with one open, fstat and read
    (a Path, os.stat and open() cost twice as much); anything odd goes to the full reader.
    """
    try:
        fd = os.open(os.path.join(job.root, rel), os.O_RDONLY | os.O_NONBLOCK)  # never wait on a FIFO
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        raw = os.read(fd, QUICK_BYTES) if stat.S_ISREG(st.st_mode) else b""
    except OSError:
        return None
    finally:
        os.close(fd)
    ts = timestamp_in(raw, len(raw) < QUICK_BYTES, job.settings.tz) if raw else None
    if ts is None or not far_outside(ts, job.window.low, job.window.high):
        return None
    return rel, hash((st.st_size, st.st_mtime_ns)), st.st_size, st.st_mtime_ns, DATE_ONLY, ts, b"", None, None


def summarize_article(article: Article, settings: Settings) -> bytes | None:
    """The encoded (tldr, key_figures) of an article; None when its body cannot be read (the pipeline reports it)."""
    from digest.summarize.summary import summarize

    try:
        body = content_mod.load_body(article)
    except (ArticleError, OSError, UnicodeDecodeError):
        return None
    return encode_summary(*summarize(body, article.front_matter, settings.summary))


_job: ReadJob | None = None


def _worker_init(job: ReadJob) -> None:
    global _job
    _job = job


def _worker_read(chunk: list[str]) -> list[Row]:
    assert _job is not None
    return [read_row(rel, _job) for rel in chunk]


def read_rows(todo: list[str], job: ReadJob, *, progress: bool | None = None) -> tuple[Iterator[Row], int]:
    """Rows for the files in `todo`, in any order, and how many processes read them.

    One process reads a few files; a pool of one process per core reads many.
    """
    cores = cores_available()
    if len(todo) < POOL_MIN_FILES or cores < 2 or not _can_fork():
        return (read_row(rel, job) for rel in track(todo, len(todo), "Scanning", enabled=progress)), 1
    return _pooled(todo, job, cores, progress), cores


def _pooled(todo: list[str], job: ReadJob, cores: int, progress: bool | None) -> Iterator[Row]:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    # Dealt out like cards, not cut in runs: the few articles in the window (often neighbours by
    # path, say posts/2025/07-*) are parsed and summarized, ~1 ms each, so a run of them in one
    # chunk would leave the other core idle at the end.
    count = -(-len(todo) // CHUNK)
    chunks = [todo[i::count] for i in range(count)]
    with ctx.Pool(cores, initializer=_worker_init, initargs=(job,)) as pool:
        for rows in track(pool.imap_unordered(_worker_read, chunks), len(chunks), "Scanning", enabled=progress):
            yield from rows


def _can_fork() -> bool:
    """Whether workers can be forked: in milliseconds, with digest already imported.

    Without fork (Windows) a worker would re-import `python -m digest`'s main module, and forking a
    process that runs other threads (the scheduler's) can copy a held lock: then one process reads.
    """
    import multiprocessing
    import threading

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def cores_available() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
