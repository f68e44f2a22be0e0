"""Content files → rows: what each file holds (an Article, a Skipped reason, nothing, or only its date).

The scan reads front matter only and never summarizes: the pipeline summarizes the few articles
an issue carries. `read_rows` parses the files it is given in a pool of processes when there are
many (a cold scan of a big site); `scan` is the whole folder without a cache. The scan cache
(state/) stores these rows; it never calls the scan.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from digest.config import Settings
from digest.content.articles import never_an_article, read_article
from digest.content.date_line import QUICK_BYTES, far_outside, timestamp_in
from digest.content.walk import article_path, signature, walk
from digest.errors import ArticleError
from digest.models import ARTICLE, DATE_ONLY, NOT_ARTICLE, SKIPPED, Article, Skipped
from digest.models import ScanRow as Row
from digest.text import WARNING_MAX, one_line

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

# Below this many files, starting worker processes costs more than it saves (measured: a pool
# of two costs ~40 ms to start and stop; one core reads ~13,000 front matters a second).
POOL_MIN_FILES = 2000
CHUNK = 250  # files per task sent to a worker: small enough to keep both cores busy to the end


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

    def widened(self, seconds: float) -> Window:
        return Window(self.low - seconds, self.high + seconds)

    @property
    def bounded(self) -> bool:
        return self.low > float("-inf") or self.high < float("inf")


@dataclass(frozen=True)
class ReadJob:
    """What every file read needs besides its path; sent once to each worker.

    `full`: files (relative paths) to read in full even when their date line puts them far outside
    the window, because the caller needs more than their date (say, the lastmod of carried articles).
    """

    content_dir: Path
    settings: Settings
    window: Window = Window()
    full: frozenset[str] = frozenset()

    # Cached: the date-only path runs ~10,000 times a cold scan, and each lookup is a call.
    @cached_property
    def root(self) -> str:
        return str(self.content_dir)

    @cached_property
    def tz(self) -> ZoneInfo:
        return self.settings.tz


def scan(content_dir: Path, settings: Settings, under: str = "") -> tuple[list[Article], list[Skipped]]:
    """Every article under `content_dir` (front matter only) and every file that failed, sorted by path.

    One bad file never stops the scan: it becomes a Skipped with a one-line reason. `under`: only
    the files of that subfolder (relative, POSIX), read as part of `content_dir` (their paths, so
    their sections and URLs, are the same as in a scan of the whole folder).
    """
    files, skipped = walk(content_dir / under if under else content_dir,
                          follow_outside_links=settings.follow_outside_links)
    if under:
        prefix = under.strip("/") + "/"
        files = {prefix + rel: sig for rel, sig in files.items()}
        skipped = [Skipped(prefix + s.path, s.reason) for s in skipped]
    articles: list[Article] = []
    for batch in read_rows(sorted(files), ReadJob(content_dir, settings))[0]:
        for row in batch:
            if isinstance(row.data, Article):
                articles.append(row.data)
            elif isinstance(row.data, Skipped):
                skipped.append(row.data)
    articles.sort(key=lambda a: a.path)
    skipped.sort(key=lambda s: s.path)
    return articles, skipped


def read_row(rel: str, job: ReadJob) -> Row:
    """The row of one file, stat taken before the read (so a file changed meanwhile is read again next time).

    Never raises: a bad file is a SKIPPED row with a one-line reason.
    """
    # A section page or a Jekyll draft is never an article, whatever its date: no date-only row for it.
    if job.window.bounded and rel not in job.full and not never_an_article(rel):
        quick = _date_only_row(rel, job)
        if quick is not None:
            return quick
    source = Path(job.content_dir, rel)
    try:
        st = os.stat(source)
    except OSError:
        return Row(rel, 0, -1, -1, NOT_ARTICLE, None, None)  # gone since the walk: no file has this sig
    head = (rel, signature(st.st_size, st.st_mtime_ns), st.st_size, st.st_mtime_ns)
    try:
        article = read_article(source, job.content_dir, job.settings)
    except ArticleError as exc:
        return Row(*head, SKIPPED, None, Skipped(article_path(rel), one_line(exc.message, WARNING_MAX)))
    except Exception as exc:
        reason = one_line(f"unexpected error: {type(exc).__name__}: {exc}", WARNING_MAX)
        return Row(*head, SKIPPED, None, Skipped(article_path(rel), reason))
    if article is None:
        return Row(*head, NOT_ARTICLE, None, None)
    return Row(*head, ARTICLE, article.date.timestamp(), article)


def _date_only_row(rel: str, job: ReadJob) -> Row | None:
    """The "date only" row of a file dated far outside the window; None when it must be read in full.

    Most files of a cold scan end here, so it runs on a string path with one open, fstat and read
    (a Path, os.stat and open() cost twice as much); anything odd goes to the full reader.
    """
    try:
        fd = os.open(f"{job.root}/{rel}", os.O_RDONLY | os.O_NONBLOCK)  # never wait on a FIFO
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        raw = os.read(fd, QUICK_BYTES) if stat.S_ISREG(st.st_mode) else b""
    except OSError:
        return None
    finally:
        os.close(fd)
    ts = timestamp_in(raw, len(raw) < QUICK_BYTES, job.tz) if raw else None
    window = job.window
    if ts is None or not far_outside(ts, window.low, window.high):
        return None
    return Row(rel, signature(st.st_size, st.st_mtime_ns), st.st_size, st.st_mtime_ns, DATE_ONLY, ts, None)


def read_rows(todo: list[str], job: ReadJob) -> tuple[Iterator[list[Row]], int, int]:
    """Rows for the files in `todo` in batches, in any order; how many batches; how many processes read them.

    One process reads a few files. Many are read by this process and one forked helper per other
    core, each taking the next chunk as it is free (see _shared_read). The caller counts batches for
    its progress bar.
    """
    cores = cores_available()
    if len(todo) < POOL_MIN_FILES or cores < 2 or not _can_fork():
        batches = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
        return ([read_row(rel, job) for rel in batch] for batch in batches), len(batches), 1
    # Dealt out like cards, not cut in runs: the articles in the window (often neighbours by
    # path, say posts/2025/07-*) are parsed in full, so a run of them in one chunk would leave
    # the other core idle at the end.
    count = -(-len(todo) // CHUNK)
    chunks = [todo[i::count] for i in range(count)]
    return _shared_read(chunks, job, cores - 1), count, cores


def _shared_read(chunks: list[list[str]], job: ReadJob, helpers: int) -> Iterator[list[Row]]:
    """The chunks' rows, read by this process and `helpers` forked ones that share one chunk counter.

    Not a Pool: with one, this process only waits while it unpickles every row, and on 2 cores the
    pool read 10,000 files slower than one process (measured: workers' CPU 310-360 ms, the parent's
    110 ms, one process alone 230-300 ms). Here this process reads (and its caller stores) chunks
    too, so the faster side simply takes more; each helper sends each chunk's rows as plain tuples,
    taken between this process's chunks. Chunks a helper took but never sent (it died) are read
    here: no row is lost.
    """
    import multiprocessing  # noqa: PLC0415 - lazy: a build that reads few files never forks (~14 ms of imports)

    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("l", 0)
    pipes, procs = [], []
    # Started now, not at the first batch: the helpers read while the caller does other work first.
    for _ in range(helpers):
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_helper, args=(chunks, job, counter, send), daemon=True)
        proc.start()
        send.close()
        pipes.append(receive)
        procs.append(proc)
    return _read_with_helpers(chunks, job, counter, pipes, procs)


def _read_with_helpers(
    chunks: list[list[str]], job: ReadJob, counter: Any, pipes: list[Connection], procs: Sequence[BaseProcess]
) -> Iterator[list[Row]]:
    done: set[int] = set()
    open_pipes = list(pipes)
    try:
        while (i := _take(counter)) < len(chunks):
            done.add(i)
            yield [read_row(rel, job) for rel in chunks[i]]
            # The helpers' chunks as they come, so that neither side holds many rows (memory at 100,000 files).
            for receive in list(open_pipes):
                while receive.poll():
                    batch = _received(receive, done)
                    if batch is None:
                        open_pipes.remove(receive)
                        break
                    yield batch
        for receive in open_pipes:
            while (batch := _received(receive, done)) is not None:
                yield batch
        for i in range(len(chunks)):
            if i not in done:  # a helper took it and died before sending it
                yield [read_row(rel, job) for rel in chunks[i]]
    finally:
        for receive in pipes:
            receive.close()
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


def _received(receive: Connection, done: set[int]) -> list[Row] | None:
    """A helper's next chunk of rows; None once it has sent its last (or died)."""
    try:
        i, rows = receive.recv()
    except (EOFError, OSError):
        return None
    done.add(i)
    return [Row._make(row) for row in rows]


def _take(counter: Any) -> int:
    with counter.get_lock():
        i: int = counter.value
        counter.value = i + 1
    return i


def _helper(chunks: list[list[str]], job: ReadJob, counter: Any, send: Connection) -> None:
    while (i := _take(counter)) < len(chunks):
        send.send((i, [tuple(read_row(rel, job)) for rel in chunks[i]]))
    send.close()


def _can_fork() -> bool:
    """Whether workers can be forked: in milliseconds, with digest already imported.

    Without fork (Windows) a worker would re-import `python -m digest`'s main module, and forking a
    process that runs other threads (the scheduler's) can copy a held lock: then one process reads.
    """
    import multiprocessing  # noqa: PLC0415 - lazy: see _shared_read

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def cores_available() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
