"""The rows of the content scan, stored in the local cache file, so a build reads only what changed.

The cache file (`settings.cache_path`) is the state file itself when `state:` is a file, and a
per-host SQLite file (`cache:`) beside a PostgreSQL state: this cache is read thousands of times a
build, and a network round trip each would cost more than rebuilding it.

A row per Markdown file, keyed by its path, size and mtime_ns: a warm build stats the files and
reads none whose size and mtime match. The Article (or the Skipped reason, or "not an article") is
kept as versioned JSON (`state.encode_article`; never a pickle: loading the state must not run
code) next to its date, so a build asking for one week decodes that week's rows only: at 100,000
articles, decoding them all would cost more than statting them. A row also keeps the article's
TL;DR and key figures once summarized, until the file changes.

The cache stores what the stages made and never calls them: the pipeline walks the folder and reads
the changed files (content/), hands the rows here, and hands over the summaries it made.

The cache is only ever a shortcut: a changed setting that shapes an Article (time zone, base URL,
permalink, content folder), a new digest or Python version, an old table layout or a row that will
not decode makes us read the files again, never fail the build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sqlite3
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from digest import __version__
from digest.config import Settings
from digest.models import ARTICLE, DATE_ONLY, SKIPPED, Article, ScanRow, Skipped
from digest.state.codec import (
    CacheDecodeError,
    decode_article,
    decode_skipped,
    decode_summary,
    encode_article,
    encode_skipped,
    encode_summary,
)
from digest.state.continuity import retire_old_caches
from digest.state.db import code_stamps, connect

log = logging.getLogger("digest")

SCHEMA = 5  # bump when the table layout changes (the blobs carry their own version: state.CACHE_FORMAT)
# The modules whose code decides an Article's fields, or its summary: when one changes, rows may be stale.
READER_MODULES = ("digest.content", "digest.models", "digest.text")  # packages stand for every module in them
SUMMARY_MODULES = ("digest.summarize", "digest.text", "digest.models")

_META = "CREATE TABLE IF NOT EXISTS scan_cache_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
_TABLE = """
CREATE TABLE IF NOT EXISTS scan_cache (
    path TEXT PRIMARY KEY,      -- the file, relative to the content folder, POSIX
    sig INTEGER NOT NULL,       -- signature(size, mtime_ns): what a warm build compares
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    kind INTEGER NOT NULL,      -- 0 Article, 1 Skipped, 2 not an article (no front matter, _index.md), 3 date only
    date_ts REAL,               -- the Article's date as a POSIX timestamp, for range queries
    data BLOB NOT NULL,         -- Article or Skipped, as state.encode_article / encode_skipped
    summary_key TEXT,           -- the summary settings and code the summary was made with
    summary BLOB,               -- (tldr, key_figures) as state.encode_summary, once summarized
    sentences_key TEXT,         -- the code the sentence fingerprints were made with
    sentences BLOB              -- the article's sentence fingerprints (spec §7), opaque here, once made
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS scan_cache_by_date ON scan_cache (date_ts) WHERE kind = 0"
_COLUMNS = ["path", "sig", "size", "mtime_ns", "kind", "date_ts", "data", "summary_key", "summary", "sentences_key",
            "sentences"]
_INSERT = f"INSERT OR REPLACE INTO scan_cache ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
BATCH = 2000  # rows per executemany while a cold scan streams in


@dataclass
class ScanStats:
    """How a scan went: files found, files read this time, files answered by the cache."""

    seen: int = 0
    reread: int = 0
    cached: int = 0
    deleted: int = 0  # cache rows dropped because their file is gone
    workers: int = 1  # processes that parsed front matter
    cache_used: bool = True  # False when the state database could not be used at all


def open_cache(settings: Settings, content_dir: Path) -> sqlite3.Connection:
    """The state database with the cache tables, emptied when the settings, reader code or layout changed.

    Raises sqlite3.Error: the caller then reads every file (a build must not depend on its cache).
    """
    conn = connect(settings.cache_path)
    try:
        # A cache can be rebuilt: losing its last transaction to a power cut is fine.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        retire_old_caches(conn, settings.cache_path)  # an older digest's pickles: dropped unread
        conn.execute(_META)
        columns = [r[1] for r in conn.execute("PRAGMA table_info(scan_cache)")]
        key = _fingerprint(settings, content_dir)
        row = conn.execute("SELECT value FROM scan_cache_meta WHERE key = 'fingerprint'").fetchone()
        if columns and (columns != _COLUMNS or row is None or row[0] != key):
            log.info("scan cache: settings, digest version or table layout changed; reading every file")
            conn.execute("DROP TABLE scan_cache")
        conn.execute(_TABLE)
        conn.execute(_INDEX)
        if row is None or row[0] != key:
            conn.execute("INSERT OR REPLACE INTO scan_cache_meta (key, value) VALUES ('fingerprint', ?)", (key,))
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def changed(conn: sqlite3.Connection, files: dict[str, int]) -> tuple[list[str], list[str]]:
    """(files to read: new or changed, sorted; cached paths whose file is gone), given {path: signature} of the walk."""
    known: dict[str, int] = dict(conn.execute("SELECT path, sig FROM scan_cache"))
    if files == known:
        return [], []  # the usual warm build: one C comparison, 20 ms at 100,000 (the set operations: 70)
    # Set operations on dict views run in C: a Python loop over 100,000 files costs 0.15 s.
    return sorted(rel for rel, _ in files.items() - known.items()), list(known.keys() - files.keys())


def store(conn: sqlite3.Connection, batches: Iterable[list[ScanRow]], gone: Sequence[str] = ()) -> Iterator[ScanRow]:
    """Write the scan's fresh rows and drop vanished files in one transaction, yielding each row on.

    A generator, so a cold scan streams: the caller keeps what it wants of each row as it is stored.
    """
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        for batch in batches:
            cur.executemany(_INSERT, [_encoded(row) for row in batch])
            yield from batch
        cur.executemany("DELETE FROM scan_cache WHERE path = ?", [(path,) for path in gone])
        cur.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            cur.execute("ROLLBACK")
        raise


def _encoded(row: ScanRow) -> tuple[object, ...]:
    data = row.data
    blob = encode_article(data) if isinstance(data, Article) else encode_skipped(data) if data is not None else b""
    return row.path, row.sig, row.size, row.mtime_ns, row.kind, row.date_ts, blob, None, None, None, None


def load(
    conn: sqlite3.Connection,
    low: float,
    high: float,
    margin: float,
    fresh: set[str],
    wanted: AbstractSet[str] = frozenset(),
) -> tuple[list[Article], list[Skipped], list[str], list[str]]:
    """The cached Articles dated in [low, high) or `wanted`, and every cached Skipped, leaving out the `fresh` paths.

    Also returns the paths to read in full: files known by their date line alone within `margin`
    seconds of the range or `wanted`, and files whose rows did not decode (never trusted, never
    executed: the row is replaced by what the file says now).
    """
    cur = conn.cursor()
    cur.row_factory = None  # plain tuples: sqlite3.Row costs ~1 µs a row, 0.1 s at 100,000
    rows = cur.execute("SELECT path, kind, data FROM scan_cache WHERE kind = ?", (SKIPPED,)).fetchall()
    # SQLite takes no infinities as parameters; 1e18 seconds is past any date Python can hold.
    low, high = max(low, -1e18), min(high, 1e18)
    rows += cur.execute(
        "SELECT path, kind, data FROM scan_cache WHERE kind = ? AND date_ts >= ? AND date_ts < ?", (ARTICLE, low, high)
    ).fetchall()
    reach: list[str] = [
        path for (path,) in cur.execute(
            "SELECT path FROM scan_cache WHERE kind = ? AND date_ts >= ? AND date_ts < ?",
            (DATE_ONLY, low - margin, high + margin),
        )
        if path not in fresh
    ]
    if wanted:
        # A few paths (the articles earlier issues carried), whatever their date.
        taken = {path for path, _, _ in rows}
        again = set(reach)
        for chunk in _chunks(sorted(wanted - fresh), 500):
            marks = ",".join("?" * len(chunk))
            for path, kind, data in cur.execute(
                f"SELECT path, kind, data FROM scan_cache WHERE kind IN (?, ?) AND path IN ({marks})",
                (ARTICLE, DATE_ONLY, *chunk),
            ):
                if kind == ARTICLE and path not in taken:
                    rows.append((path, kind, data))
                elif kind == DATE_ONLY and path not in again:
                    reach.append(path)
    articles: list[Article] = []
    skipped: list[Skipped] = []
    damaged: list[str] = []
    for path, kind, data in rows:
        if path in fresh:
            continue
        try:
            if kind == ARTICLE:
                articles.append(decode_article(data))
            else:
                skipped.append(decode_skipped(data))
        except CacheDecodeError:
            damaged.append(path)
    if damaged:
        log.warning(
            "scan cache: %d rows did not decode (damaged, or not written by this digest): "
            "dropped, reading those files again", len(damaged),
        )
    return articles, skipped, reach, damaged


def dates_outside(conn: sqlite3.Connection, low: float, high: float) -> dict[str, float]:
    """{path: date} of the cached articles and date-only files dated outside [low, high), without decoding a row.

    What `digest build --explain` says of the files far from the range: their date is their reason.
    """
    low, high = max(low, -1e18), min(high, 1e18)  # SQLite takes no infinities as parameters
    cur = conn.cursor()
    cur.row_factory = None
    return dict(cur.execute(
        "SELECT path, date_ts FROM scan_cache WHERE kind IN (?, ?) AND (date_ts < ? OR date_ts >= ?)",
        (ARTICLE, DATE_ONLY, low, high),
    ))


def summaries_from_cache(
    articles: Sequence[Article], settings: Settings, extra: Mapping[str, str] | None = None
) -> tuple[list[Article], list[Article]]:
    """(the articles with a cached summary, as new Articles with their TL;DR and figures; the others, to summarize).

    `extra`: by article path, what else its summary was made from (a digest of which neighbours' files it was
    judged against, spec §7): a summary cached with another is made again.
    """
    if not articles:
        return [], []
    key = summary_key(settings)
    extra = extra or {}
    rels = {_rel(a, settings.content_dir): a for a in articles}
    wanted = {rel: key + extra.get(a.path, "") for rel, a in rels.items()}
    found: dict[str, bytes] = {}
    try:
        conn = connect(settings.cache_path)
        try:
            for chunk in _chunks(list(rels), 500):
                marks = ",".join("?" * len(chunk))
                query = f"SELECT path, summary_key, summary FROM scan_cache WHERE path IN ({marks})"
                found.update(
                    (path, blob) for path, made, blob in conn.execute(query, chunk).fetchall()
                    if blob is not None and made == wanted[path]
                )
        finally:
            conn.close()
    except sqlite3.Error:
        return [], list(articles)
    done: list[Article] = []
    missing: list[Article] = []
    damaged = 0
    for rel, art in rels.items():
        if rel not in found:
            missing.append(art)
            continue
        try:
            tldr, figures = decode_summary(found[rel])
        except CacheDecodeError:
            damaged += 1  # summarized again, and the good summary replaces it (save_summaries)
            missing.append(art)
            continue
        done.append(dataclasses.replace(art, tldr=tldr, key_figures=figures))
    if damaged:
        log.warning("scan cache: %d cached summaries did not decode (damaged or foreign): made again", damaged)
    return done, missing


def save_summaries(articles: Iterable[Article], settings: Settings, extra: Mapping[str, str] | None = None) -> None:
    """Keep the summaries the pipeline made for these articles with their cache rows, until their files change
    (or, `extra`, what else they were made from)."""
    key = summary_key(settings)
    extra = extra or {}
    rows = [
        (key + extra.get(a.path, ""), encode_summary(a.tldr, a.key_figures), _rel(a, settings.content_dir))
        for a in articles
    ]
    if not rows:
        return
    try:
        conn = connect(settings.cache_path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("UPDATE scan_cache SET summary_key = ?, summary = ? WHERE path = ?", rows)
            conn.execute("COMMIT")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.info("summaries not cached: %s", exc)


def neighbour_order(settings: Settings, low: float, high: float, before: int) -> list[tuple[float, str, int]]:
    """(date, path, signature) of every article file dated in [low, high] and of the `before` ones dated just
    before `low`, sorted by date then path: the order an article's neighbours (spec §7) are taken from. Date-only
    files count: they are articles known by their date line. Raises sqlite3.Error."""
    low, high = max(low, -1e18), min(high, 1e18)
    conn = connect(settings.cache_path)
    try:
        cur = conn.cursor()
        cur.row_factory = None  # plain tuples, which sort
        rows: list[tuple[float, str, int]] = cur.execute(
            "SELECT date_ts, path, sig FROM scan_cache WHERE kind IN (?, ?) AND date_ts >= ? AND date_ts <= ?",
            (ARTICLE, DATE_ONLY, low, high),
        ).fetchall()
        rows += cur.execute(
            "SELECT date_ts, path, sig FROM scan_cache WHERE kind IN (?, ?) AND date_ts < ? "
            "ORDER BY date_ts DESC, path DESC LIMIT ?",
            (ARTICLE, DATE_ONLY, low, before),
        ).fetchall()
    finally:
        conn.close()
    return sorted(rows)


def sentences_from_cache(settings: Settings, paths: Iterable[str]) -> dict[str, bytes]:
    """{path: the sentence fingerprints stored for it} of these files (relative paths), where made by this code."""
    key = sentences_key()
    found: dict[str, bytes] = {}
    try:
        conn = connect(settings.cache_path)
        try:
            for chunk in _chunks(sorted(set(paths)), 500):
                marks = ",".join("?" * len(chunk))
                query = f"SELECT path, sentences FROM scan_cache WHERE sentences_key = ? AND path IN ({marks})"
                found.update(conn.execute(query, (key, *chunk)).fetchall())
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.info("sentence fingerprints not read from the cache: %s", exc)
    return found


def save_sentences(settings: Settings, blobs: Mapping[str, bytes]) -> None:
    """Keep the sentence fingerprints the pipeline made (by relative path) with their rows, until the files change."""
    if not blobs:
        return
    key = sentences_key()
    try:
        conn = connect(settings.cache_path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "UPDATE scan_cache SET sentences_key = ?, sentences = ? WHERE path = ?",
                [(key, blob, path) for path, blob in sorted(blobs.items())],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.info("sentence fingerprints not cached: %s", exc)


def sentences_key() -> str:
    """What an article's sentence fingerprints depend on besides its file: the summarizing code."""
    return hashlib.sha256(json.dumps(code_stamps(SUMMARY_MODULES), sort_keys=True).encode()).hexdigest()[:32]


def rel_path(article: Article, content_dir: Path) -> str:
    """The article's file, relative to the content folder: its key in the cache."""
    return _rel(article, content_dir)


def summary_key(settings: Settings) -> str:
    """What a summary depends on besides the file: the summary settings and the summarizing code."""
    parts = {"summary": dataclasses.asdict(settings.summary), "code": code_stamps(SUMMARY_MODULES)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


# --- the table ----------------------------------------------------------------------------------


def _fingerprint(settings: Settings, content_dir: Path) -> str:
    """What an Article read from a file depends on besides the file itself."""
    parts = {
        "schema": SCHEMA,
        "version": __version__,
        "python": list(sys.version_info[:2]),  # signatures hash tuples, whose hash may change with Python
        "content": str(content_dir.resolve()),
        "timezone": settings.site.timezone,
        "base_url": settings.site.base_url,
        "permalink": settings.site.permalink,
        "article": [f.name for f in dataclasses.fields(Article)],
        "code": code_stamps(READER_MODULES),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _rel(article: Article, content_dir: Path) -> str:
    try:
        return article.source.relative_to(content_dir).as_posix()
    except ValueError:
        return article.source.as_posix()


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    return (items[i : i + size] for i in range(0, len(items), size))
