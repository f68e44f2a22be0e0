"""Rendered issues kept in the state database: rebuilding an issue nothing has changed in renders nothing.

A rebuild with the same articles, settings, templates and days (a preview refresh, a second
`digest build`, the scheduler retrying) would give byte-identical HTML and text, so the key is
everything rendering reads, and the value is what it gave. Rendering and importing Jinja2, MJML
and Babel is most of a warm build; a miss costs one small query.

The value is versioned JSON (`state.encode_rendered`), never a pickle: a row that does not decode
is dropped and the issue rendered again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

from digest.config import Settings
from digest.models import Article, Issue, RenderedEmail
from digest.render.templates import BUILTIN_DIR as BUILTIN_TEMPLATES
from digest.state.scan_cache import code_stamps
from digest.state.db import (
    CacheDecodeError,
    connect,
    decode_rendered,
    encode_rendered,
    retire_old_caches,
)

log = logging.getLogger("digest")

RENDER_MODULES = tuple(f"digest.{m}" for m in ("render.issue", "render.templates", "render.i18n", "render.inline", "render.text", "models"))
KEEP = 20  # issues kept; older entries are dropped
_TABLE = """CREATE TABLE IF NOT EXISTS render_cache (
    key TEXT PRIMARY KEY, rendered BLOB NOT NULL, shown INTEGER NOT NULL, stored REAL NOT NULL)"""  # rendered: JSON


def _article_key(a: Article) -> list[Any]:
    figures = [[f.value, f.context] for f in a.key_figures]
    return [a.path, a.title, a.date.isoformat(), a.url, a.image, a.topics, a.tldr, figures]


def _templates_stamp(folder: Path) -> list[list[Any]]:
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


def cache_key(issue: Issue, settings: Settings) -> str:
    """Everything `render_issue` reads: the issue, the settings, the templates and its own code."""
    tz = settings.tz
    parts = {
        "issue": [issue.issue_id, issue.number, issue.note, issue.since.astimezone(tz).date().isoformat(),
                  issue.until.astimezone(tz).date().isoformat()],
        "articles": [_article_key(a) for a in issue.articles],
        "more": [_article_key(a) for a in issue.more],
        "updated": [_article_key(a) for a in issue.updated],
        "settings": repr(settings),
        "templates": _templates_stamp(settings.path(settings.render.templates)) + _templates_stamp(BUILTIN_TEMPLATES),
        "code": code_stamps(RENDER_MODULES),
    }
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()


def cached_render(issue: Issue, settings: Settings) -> RenderedEmail:
    """`render_issue(issue, settings)`, from the cache when nothing it reads has changed."""
    key = cache_key(issue, settings)
    found = _load(settings, key)
    if found is not None:
        rendered, shown = found
        # The renderer moves the articles that did not fit to "More this week": do the same.
        issue.more = issue.articles[shown:] + issue.more
        issue.articles = issue.articles[:shown]
        return rendered
    from digest.render.issue import render_issue

    rendered = render_issue(issue, settings)
    _store(settings, key, rendered, len(issue.articles))
    return rendered


def _load(settings: Settings, key: str) -> tuple[RenderedEmail, int] | None:
    if not settings.state_path.exists():
        return None
    try:
        conn = connect(settings.state_path)
        try:
            retire_old_caches(conn, settings.state_path)  # an older digest's pickles: dropped unread
            conn.execute(_TABLE)
            row = conn.execute("SELECT rendered, shown FROM render_cache WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            try:
                shown = row[1]
                if not isinstance(shown, int) or isinstance(shown, bool) or shown < 0:
                    raise CacheDecodeError(f"shown is {shown!r}")
                return decode_rendered(row[0]), shown
            except CacheDecodeError as exc:
                log.warning("render cache: the stored issue did not decode (%s): dropped, rendering again", exc)
                conn.execute("DELETE FROM render_cache WHERE key = ?", (key,))
                return None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.info("render cache unavailable: %s", exc)
        return None


def _store(settings: Settings, key: str, rendered: RenderedEmail, shown: int) -> None:
    import time

    try:
        conn = connect(settings.state_path)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")  # a cache: losing its last write is fine
            retire_old_caches(conn, settings.state_path)  # marks a new state file as holding JSON caches
            conn.execute(_TABLE)
            conn.execute(
                "INSERT OR REPLACE INTO render_cache (key, rendered, shown, stored) VALUES (?, ?, ?, ?)",
                (key, encode_rendered(rendered), shown, time.time()),
            )
            conn.execute(
                "DELETE FROM render_cache WHERE key NOT IN (SELECT key FROM render_cache ORDER BY stored DESC LIMIT ?)",
                (KEEP,),
            )
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.info("render cache not written: %s", exc)
