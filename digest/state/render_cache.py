"""Rendered issues kept in the local cache file (`settings.cache_path`): rebuilding an issue nothing has
changed in renders nothing.

A rebuild with the same articles, render settings, templates and days (a preview refresh, a
second `digest build`, the scheduler retrying) would give byte-identical HTML and text, so the
key is everything rendering reads, and the value is what it gave. Rendering and importing Jinja2,
MJML and Babel is most of a warm build; a miss costs one small query.

The cache never renders: the pipeline asks it (`load`), renders on a miss, and stores what the
renderer made (`store`). What rendering reads besides the issue (a subset of the settings, its
template folders, its modules) is named by the renderer and handed in, so a setting it does not
read (smtp.rate, mail.recipients, …) never re-renders.

The value is versioned JSON (`state.encode_rendered`), never a pickle: a row that does not decode
is dropped and the issue rendered again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from digest.models import Article, Issue, RenderedEmail
from digest.state.codec import CacheDecodeError, decode_rendered, encode_rendered
from digest.state.continuity import retire_old_caches
from digest.state.db import code_stamps, connect

log = logging.getLogger("digest")

KEEP = 20  # issues kept; older entries are dropped
_TABLE = """CREATE TABLE IF NOT EXISTS render_cache (
    key TEXT PRIMARY KEY, rendered BLOB NOT NULL, shown INTEGER NOT NULL, stored REAL NOT NULL)"""  # rendered: JSON
# `stored` orders the entries for KEEP: one more than the newest, so no clock is read here.
_NO_SHOWN = -1  # a RenderedEmail whose `shown` is None


def _article_key(a: Article) -> list[Any]:
    figures = [[f.value, f.context] for f in a.key_figures]
    return [a.path, a.title, a.date.isoformat(), a.url, a.image, a.topics, a.tldr, figures]


def _folder_stamp(folder: Path) -> list[list[Any]]:
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.rglob("*")):
        try:
            st = path.stat()
        except OSError:
            continue
        out.append([str(path), st.st_size, st.st_mtime_ns])
    return out


def cache_key(
    issue: Issue, reads: Mapping[str, Any], folders: Sequence[Path], modules: Sequence[str], tz: Any
) -> str:
    """The key of `issue` rendered with `reads` (the settings the renderer reads), the templates
    in `folders` and the code of `modules`; days are taken in `tz`, as the renderer shows them."""
    parts = {
        "issue": [issue.issue_id, issue.number, issue.note, issue.since.astimezone(tz).date().isoformat(),
                  issue.until.astimezone(tz).date().isoformat()],
        "articles": [_article_key(a) for a in issue.articles],
        "more": [_article_key(a) for a in issue.more],
        "updated": [_article_key(a) for a in issue.updated],
        "settings": dict(reads),
        "templates": [_folder_stamp(f) for f in folders],
        "code": code_stamps(modules),
    }
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()


def load(cache_path: Path, key: str) -> RenderedEmail | None:
    """What the renderer made for `key`, or None (never stored, or it did not decode)."""
    if not cache_path.exists():
        return None
    try:
        conn = connect(cache_path)
        try:
            retire_old_caches(conn, cache_path)  # an older digest's pickles: dropped unread
            conn.execute(_TABLE)
            row = conn.execute("SELECT rendered, shown FROM render_cache WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            try:
                shown = row[1]
                if not isinstance(shown, int) or isinstance(shown, bool) or shown < _NO_SHOWN:
                    raise CacheDecodeError(f"shown is {shown!r}")
                rendered = decode_rendered(row[0])
                return dataclasses.replace(rendered, shown=None if shown == _NO_SHOWN else shown)
            except CacheDecodeError as exc:
                log.warning("render cache: the stored issue did not decode (%s): dropped, rendering again", exc)
                conn.execute("DELETE FROM render_cache WHERE key = ?", (key,))
                return None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.info("render cache unavailable: %s", exc)
        return None


def store(cache_path: Path, key: str, rendered: RenderedEmail) -> None:
    """Keep `rendered` under `key` (best effort: a cache that cannot be written is skipped)."""
    shown = _NO_SHOWN if rendered.shown is None else rendered.shown
    try:
        conn = connect(cache_path)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")  # a cache: losing its last write is fine
            retire_old_caches(conn, cache_path)  # marks a new state file as holding JSON caches
            conn.execute(_TABLE)
            conn.execute(
                "INSERT OR REPLACE INTO render_cache (key, rendered, shown, stored) "
                "VALUES (?, ?, ?, (SELECT COALESCE(MAX(stored), 0) + 1 FROM render_cache))",
                (key, encode_rendered(rendered), shown),
            )
            conn.execute(
                "DELETE FROM render_cache WHERE key NOT IN (SELECT key FROM render_cache ORDER BY stored DESC LIMIT ?)",
                (KEEP,),
            )
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.info("render cache not written: %s", exc)


# --- the archive's index.html and feed.xml -------------------------------------------------------------------
# A warm build changes no manifest: the archive pages it would render are those already written. The key is
# what render_archive reads (the manifests, the settings, templates and code the renderer names); the value is
# a digest of the bytes written for it, so a page edited or deleted since is rendered again.

_ARCHIVE_TABLE = """CREATE TABLE IF NOT EXISTS archive_cache (
    key TEXT PRIMARY KEY, written TEXT NOT NULL, stored REAL NOT NULL)"""


def archive_key(
    sources: Sequence[Any], reads: Mapping[str, Any], folders: Sequence[Path], modules: Sequence[str]
) -> str:
    """The key of the archive pages made from `sources` (say, the manifests' stamps) with `reads`, `folders`
    and `modules`."""
    parts = {
        "sources": list(sources),
        "settings": dict(reads),
        "templates": [_folder_stamp(f) for f in folders],
        "code": code_stamps(modules),
    }
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()


def pages_digest(pages: Sequence[bytes | None]) -> str:
    """A digest of the archive pages' bytes (None: a page that is not there)."""
    h = hashlib.sha256()
    for page in pages:
        h.update(b"-" if page is None else b"+%d:" % len(page) + page)
    return h.hexdigest()


def archive_written(cache_path: Path, key: str) -> str | None:
    """The digest of the pages written for `key`, or None (never written, or no cache)."""
    if not cache_path.exists():
        return None
    try:
        conn = connect(cache_path)
        try:
            conn.execute(_ARCHIVE_TABLE)
            row = conn.execute("SELECT written FROM archive_cache WHERE key = ?", (key,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.info("archive cache unavailable: %s", exc)
        return None
    return row[0] if row and isinstance(row[0], str) else None


def note_archive(cache_path: Path, key: str, written: str) -> None:
    """Remember that the pages with digest `written` were made for `key` (best effort; only in an existing
    state database: a bare refresh_archive never creates one)."""
    if not cache_path.exists():
        return
    try:
        conn = connect(cache_path)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_ARCHIVE_TABLE)
            conn.execute(
                "INSERT OR REPLACE INTO archive_cache (key, written, stored) "
                "VALUES (?, ?, (SELECT COALESCE(MAX(stored), 0) + 1 FROM archive_cache))",
                (key, written),
            )
            conn.execute(
                "DELETE FROM archive_cache WHERE key NOT IN "
                "(SELECT key FROM archive_cache ORDER BY stored DESC LIMIT ?)",
                (KEEP,),
            )
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.info("archive cache not written: %s", exc)
