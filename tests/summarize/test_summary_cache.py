"""The summary cache and §7: a cached summary stands until the article's file or a neighbour's file changes."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_boilerplate import SERIES, weekly_site

from digest.config import load_settings
from digest.pipeline import build
from digest.pipeline.build import scan_content, summarize_articles

SINCE = datetime(2025, 8, 3, tzinfo=timezone(timedelta(hours=8)))


def test_a_neighbour_that_changes_makes_the_summary_again(tmp_path: Path) -> None:
    """The third issue skips the series line while two neighbours share it; once one of them drops it (a new
    file), the next build judges again and the series line is its TL;DR."""
    settings = load_settings(weekly_site(tmp_path), env={})
    until = SINCE + timedelta(days=1)
    chosen, _, _ = scan_content(settings, since=SINCE, until=until)
    first, _ = summarize_articles(chosen, settings)
    assert [a.tldr for a in first] == ["第3周的新闻：调度器重写了第3部分。"]
    path = settings.content_dir / "weekly-2.md"
    once = "第二期的导语只此一回，不再重复了。"
    path.write_text(path.read_text(encoding="utf-8").replace(SERIES, once), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a new signature, whatever the clock
    chosen, _, _ = scan_content(settings, since=SINCE, until=until)
    again, _ = summarize_articles(chosen, settings)
    assert [a.tldr for a in again] == [SERIES]


def test_an_unchanged_site_takes_every_summary_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Warm: the same summaries, no body read and no fingerprint made (their column, emptied, stays empty)."""
    settings = load_settings(weekly_site(tmp_path), env={})
    until = SINCE + timedelta(days=3)
    chosen, _, _ = scan_content(settings, since=SINCE, until=until)
    cold, _ = summarize_articles(chosen, settings)
    conn = sqlite3.connect(settings.state_path)
    with conn:
        conn.execute("UPDATE scan_cache SET sentences = NULL, sentences_key = NULL")
    chosen, _, _ = scan_content(settings, since=SINCE, until=until)

    def no_body(*args: object) -> str:
        raise AssertionError("a warm build read a body")

    monkeypatch.setattr(build, "load_body", no_body)
    monkeypatch.setattr(build, "read_article", no_body)
    warm, failed = summarize_articles(chosen, settings)
    assert not failed and [(a.tldr, a.key_figures) for a in warm] == [(a.tldr, a.key_figures) for a in cold]
    assert conn.execute("SELECT COUNT(*) FROM scan_cache WHERE sentences IS NOT NULL").fetchone() == (0,)
    conn.close()
