"""The scan cache: a warm build reads only the files that changed, and the cache never breaks a build."""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sitegen import settings_for, write_article, write_config

from digest.config import Settings
from digest.content import articles as content
from digest.content import scan as scan_files
from digest.content.walk import outside_link
from digest.content.walk import walk as walk_files
from digest.errors import ArticleError
from digest.models import Article, Skipped
from digest.pipeline import build as pipeline
from digest.state.scan_cache import ScanStats, save_summaries, summaries_from_cache
from digest.text import one_line

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2025, 7, 1, 9, tzinfo=TZ)
FIXTURES = Path(__file__).parents[1] / "fixtures"


def cached_scan(
    content_dir: Path, settings: Settings, *, since: datetime | None = None, until: datetime | None = None
) -> tuple[list[Article], list[Skipped], ScanStats]:
    """The pipeline's scan: the content walk and read, the rows stored by the cache (`content_dir` is the settings')."""
    assert content_dir == settings.content_dir
    return pipeline.scan_content(settings, since=since, until=until)


def touch(path: Path, seconds: int = 5) -> None:
    """Move a file's mtime forward, as an editor saving it unchanged would."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


@pytest.fixture
def ten(site: Path) -> Path:
    """A site of ten articles, one a day from July 1."""
    for i in range(10):
        write_article(site, f"post-{i}", DAY + timedelta(days=i))
    return site


def test_cold_run_reads_every_file_and_matches_a_plain_scan(ten: Path) -> None:
    """The first scan reads all ten files and returns what content.scan returns."""
    settings = settings_for(ten)
    articles, skipped, stats = cached_scan(settings.content_dir, settings)
    plain, plain_skipped = scan_files.scan(settings.content_dir, settings)
    assert (stats.seen, stats.reread, stats.cached) == (10, 10, 0)
    assert articles == plain and skipped == plain_skipped


def test_warm_run_reads_nothing(ten: Path) -> None:
    """A second scan with no file changed reads no file and returns the same articles."""
    settings = settings_for(ten)
    first, _, _ = cached_scan(settings.content_dir, settings)
    again, skipped, stats = cached_scan(settings.content_dir, settings)
    assert (stats.reread, stats.cached) == (0, 10)
    assert again == first and skipped == []


def test_touching_one_article_rereads_only_that_article(ten: Path) -> None:
    """After one file's mtime changes, the next scan reads that one file, not the site."""
    settings = settings_for(ten)
    cached_scan(settings.content_dir, settings)
    touch(ten / "content" / "posts" / "post-3.md")
    _, _, stats = cached_scan(settings.content_dir, settings)
    assert (stats.reread, stats.cached) == (1, 9)


def test_edited_article_shows_its_new_title(ten: Path) -> None:
    """An article rewritten between two scans comes back with its new front matter."""
    settings = settings_for(ten)
    cached_scan(settings.content_dir, settings)
    path = write_article(ten, "post-2", DAY + timedelta(days=2), title="A new title")
    touch(path)
    articles, _, stats = cached_scan(settings.content_dir, settings)
    assert stats.reread == 1
    assert {a.title for a in articles if a.path == "posts/post-2.md"} == {"A new title"}


def test_deleted_article_vanishes_from_results_and_cache(ten: Path) -> None:
    """A file removed between two scans is neither returned nor kept in the cache."""
    settings = settings_for(ten)
    cached_scan(settings.content_dir, settings)
    (ten / "content" / "posts" / "post-5.md").unlink()
    articles, _, stats = cached_scan(settings.content_dir, settings)
    assert "posts/post-5.md" not in {a.path for a in articles}
    assert (stats.seen, stats.reread, stats.deleted) == (9, 0, 1)
    with sqlite3.connect(settings.state_path) as db:
        assert db.execute("SELECT count(*) FROM scan_cache WHERE path = 'posts/post-5.md'").fetchone() == (0,)


def test_article_broken_between_builds_becomes_skipped_and_stays_skipped(ten: Path) -> None:
    """A file whose front matter breaks is read once and reported as Skipped;
    the next scan reports it from the cache."""
    settings = settings_for(ten)
    cached_scan(settings.content_dir, settings)
    path = ten / "content" / "posts" / "post-4.md"
    path.write_text("---\ntitle: [unclosed\ndate: 2025-07-05\n---\nBody.\n", encoding="utf-8")
    touch(path)
    articles, skipped, stats = cached_scan(settings.content_dir, settings)
    assert stats.reread == 1
    assert [s.path for s in skipped] == ["posts/post-4.md"]
    assert "front matter does not parse" in skipped[0].reason
    assert "posts/post-4.md" not in {a.path for a in articles}
    _, again, stats = cached_scan(settings.content_dir, settings)
    assert again == skipped and stats.reread == 0


def test_range_returns_only_articles_that_can_be_in_it(ten: Path) -> None:
    """With since/until, only the articles dated in the window come back (selection makes the exact cut)."""
    settings = settings_for(ten)
    since, until = DAY + timedelta(days=2, hours=-1), DAY + timedelta(days=5, hours=-1)
    for _ in range(2):  # cold, then warm from the cache
        articles, _, _ = cached_scan(settings.content_dir, settings, since=since, until=until)
        assert [a.path for a in articles] == ["posts/post-2.md", "posts/post-3.md", "posts/post-4.md"]


def test_range_edges_match_selection_exactly(ten: Path) -> None:
    """An article dated exactly `since` is returned; one dated exactly `until` may be, and selection drops it."""
    settings = settings_for(ten)
    cached_scan(settings.content_dir, settings)
    articles, _, _ = cached_scan(
        settings.content_dir, settings, since=DAY + timedelta(days=2), until=DAY + timedelta(days=4)
    )
    assert {"posts/post-2.md", "posts/post-3.md"} <= {a.path for a in articles}
    assert "posts/post-1.md" not in {a.path for a in articles}


def test_changed_time_zone_rebuilds_the_cache(ten: Path) -> None:
    """Dates without an offset depend on site.timezone, so changing it reads every file again."""
    write_article(ten, "naive", DAY, date="2025-07-01 09:00:00")
    settings = settings_for(ten)
    cached_scan(settings.content_dir, settings)
    write_config(ten, site={"timezone": "UTC"})
    utc = settings_for(ten)
    articles, _, stats = cached_scan(utc.content_dir, utc)
    assert stats.reread == 11
    naive = next(a for a in articles if a.path == "posts/naive.md")
    assert naive.date.utcoffset() == timedelta(0)


def test_old_table_layout_is_dropped_and_rebuilt(ten: Path) -> None:
    """A scan_cache table from an older digest, with other columns, is replaced, not trusted."""
    settings = settings_for(ten)
    settings.state_path.parent.mkdir(parents=True)
    with sqlite3.connect(settings.state_path) as db:
        db.execute("CREATE TABLE scan_cache (path TEXT PRIMARY KEY, mtime REAL, article TEXT)")
        db.execute("INSERT INTO scan_cache VALUES ('posts/post-1.md', 1.0, 'junk')")
        db.execute("CREATE TABLE other_stage (kept INTEGER)")
    articles, _, stats = cached_scan(settings.content_dir, settings)
    assert stats.cache_used and stats.reread == 10 and len(articles) == 10
    _, _, stats = cached_scan(settings.content_dir, settings)
    assert stats.reread == 0
    with sqlite3.connect(settings.state_path) as db:
        assert db.execute("SELECT count(*) FROM other_stage").fetchone() == (0,)  # other tables untouched


def test_row_that_will_not_decode_is_read_again_with_one_warning(ten: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Damaged cache rows make the scan read those files again, store good rows, and say so in one line."""
    settings = settings_for(ten)
    cached_scan(settings.content_dir, settings)
    with sqlite3.connect(settings.state_path) as db:
        db.execute("UPDATE scan_cache SET data = x'00ff00' WHERE path = 'posts/post-6.md'")
        db.execute("UPDATE scan_cache SET data = '[1,\"article\",{}]' WHERE path = 'posts/post-7.md'")
        # another version
        db.execute("UPDATE scan_cache SET data = '[99,\"article\",{}]' WHERE path = 'posts/post-8.md'")
    with caplog.at_level(logging.WARNING, logger="digest"):
        articles, _, stats = cached_scan(settings.content_dir, settings)
    assert stats.reread == 3 and articles == scan_files.scan(settings.content_dir, settings)[0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "3 rows did not decode" in warnings[0]
    _, _, stats = cached_scan(settings.content_dir, settings)
    assert stats.reread == 0


class _Boom:
    """Unpickling this creates `marker`: what a crafted state file would do to a digest that unpickles."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_crafted_pickle_in_a_row_or_summary_is_never_loaded(ten: Path, tmp_path: Path) -> None:
    """A pickle placed in the cache (article, skipped file, summary) is dropped and rebuilt, never unpickled."""
    marker = tmp_path / "pwned"
    settings = settings_for(ten)
    (ten / "content" / "posts" / "bad.md").write_text("---\ntitle: [x\n---\n", encoding="utf-8")
    articles, _, _ = cached_scan(settings.content_dir, settings)
    save_summaries([dataclasses.replace(art, tldr="cached") for art in articles], settings)
    blob = pickle.dumps(_Boom(marker))
    with sqlite3.connect(settings.state_path) as db:
        db.execute("UPDATE scan_cache SET data = ? WHERE path IN ('posts/post-2.md', 'posts/bad.md')", (blob,))
        db.execute("UPDATE scan_cache SET summary = ? WHERE path = 'posts/post-3.md'", (blob,))
    again, skipped, stats = cached_scan(settings.content_dir, settings)
    assert again == scan_files.scan(settings.content_dir, settings)[0]
    missing = summaries_from_cache(again, settings)[1]
    assert not marker.exists()
    assert stats.reread == 2 and [s.path for s in skipped] == ["posts/bad.md"]
    assert [a.path for a in missing] == ["posts/post-2.md", "posts/post-3.md"]  # re-read, and the damaged summary


def test_front_matter_of_every_type_comes_back_from_the_cache_exactly(site: Path) -> None:
    """YAML and TOML values (dates, times, zones, binary, sets, pairs, odd keys, NaN) survive the JSON cache."""
    posts = site / "content" / "posts"
    posts.mkdir(parents=True)
    (posts / "yaml.md").write_text(
        "---\ntitle: Y\ndate: 2025-07-02 10:00:00+05:30\nday: 2025-01-01\nlocal: 2025-01-01 10:00:00\n"
        "blob: !!binary aGVsbG8=\nset: !!set {x, y}\npairs: !!omap [{a: 1}, {b: 2}]\n"
        "1: int key\n2.5: float key\nnull: none key\n"
        "\"\\0\": nul key\nnums: [.inf, -0.0, 12345678901234567890]\nnested: {a: [{b: 2025-02-02}]}\n---\nBody.\n",
        encoding="utf-8",
    )
    (posts / "toml.md").write_text(
        "+++\ntitle = 'T'\ndate = 2025-07-03T07:32:00-07:00\nat = 07:32:00\nlocal = 1979-05-27T07:32:00\n+++\nBody.\n",
        encoding="utf-8",
    )
    (posts / "zone.md").write_text("---\ntitle: Z\ndate: 2025-07-04\n---\nBody.\n", encoding="utf-8")  # site zone
    settings = settings_for(site)
    plain = scan_files.scan(settings.content_dir, settings)[0]
    cached_scan(settings.content_dir, settings)
    warm, _, stats = cached_scan(settings.content_dir, settings)
    assert stats.reread == 0 and warm == plain

    def typed(value: object) -> object:  # == says 1 == True and 0.0 == -0.0: compare the types too
        if isinstance(value, dict):
            return [(typed(k), typed(v)) for k, v in value.items()]
        if isinstance(value, (list, tuple)):
            return (type(value).__name__, [typed(v) for v in value])
        return (type(value).__name__, repr(value), getattr(value, "tzinfo", None))

    for cold, hot in zip(plain, warm):
        assert typed(hot.front_matter) == typed(cold.front_matter), cold.path
        assert hot.date.tzinfo == cold.date.tzinfo


def test_outside_links_are_skipped_and_the_setting_switches_them_in_and_out_of_the_cache(site: Path) -> None:
    """A link out of the content folder is never cached; turning follow_outside_links off again drops its row."""
    write_article(site, "inside", DAY)
    private = write_article(site.parent / (site.name + "-private"), "diary", DAY, title="PRIVATE")
    (site / "content" / "posts" / "leak.md").symlink_to(private)
    settings = settings_for(site)
    for _ in range(2):  # cold, then warm
        articles, skipped, _ = cached_scan(settings.content_dir, settings)
        assert [a.path for a in articles] == ["posts/inside.md"]
        assert [(s.path, str(private) in s.reason) for s in skipped] == [("posts/leak.md", True)]
    from digest.config import ContentSettings

    follow = settings_for(site)
    follow.content = ContentSettings(dir="content", follow_outside_links=True)
    articles, skipped, _ = cached_scan(follow.content_dir, follow)
    assert {a.title for a in articles} == {"Article inside", "PRIVATE"} and skipped == []
    articles, skipped, stats = cached_scan(settings.content_dir, settings)
    assert [a.path for a in articles] == ["posts/inside.md"] and stats.deleted == 1


def test_state_file_that_is_not_a_database_still_scans(ten: Path) -> None:
    """A state file of garbage bytes does not stop the scan: every file is read, the cache is skipped."""
    settings = settings_for(ten)
    settings.state_path.parent.mkdir(parents=True)
    settings.state_path.write_bytes(b"this is not a database" * 200)
    articles, _, stats = cached_scan(settings.content_dir, settings)
    assert not stats.cache_used and stats.reread == 10 and len(articles) == 10


def test_worker_pool_gives_the_same_result(ten: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading through the process pool (forced on for ten files) returns what one process returns."""
    settings = settings_for(ten)
    (ten / "content" / "posts" / "bad.md").write_text("---\ntitle: [x\n---\n", encoding="utf-8")
    one = cached_scan(settings.content_dir, settings)[:2]
    monkeypatch.setattr(scan_files, "POOL_MIN_FILES", 1)
    monkeypatch.setattr(scan_files, "cores_available", lambda: 2)
    settings.state_path.unlink()
    many, skipped, stats = cached_scan(settings.content_dir, settings)
    assert stats.workers == 2 and (many, skipped) == one


def test_a_helper_that_dies_mid_scan_loses_no_row(ten: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked reader that takes chunks and dies before sending them: this process reads those chunks itself."""
    settings = settings_for(ten)
    one = cached_scan(settings.content_dir, settings)[:2]
    died = settings.state_path.parent / "died"

    def take_two_then_die(chunks: list[list[str]], job: object, counter: object, send: object) -> None:
        for _ in range(2):
            scan_files._take(counter)
        died.touch()
        os._exit(1)

    monkeypatch.setattr(scan_files, "POOL_MIN_FILES", 1)
    monkeypatch.setattr(scan_files, "CHUNK", 1)
    monkeypatch.setattr(scan_files, "cores_available", lambda: 2)
    monkeypatch.setattr(scan_files, "_helper", take_two_then_die)
    settings.state_path.unlink()
    many, skipped, stats = cached_scan(settings.content_dir, settings)
    assert died.exists() and stats.workers == 2 and (many, skipped) == one


def test_summary_is_cached_until_the_file_changes(ten: Path) -> None:
    """A saved summary comes back on the next build; after the file changes it has to be made again."""
    settings = settings_for(ten)
    articles, _, _ = cached_scan(settings.content_dir, settings)
    assert summaries_from_cache(articles, settings) == ([], articles)  # nothing summarized yet
    save_summaries([dataclasses.replace(art, tldr=f"tldr of {art.path}") for art in articles], settings)
    touch(ten / "content" / "posts" / "post-1.md")
    again, _, _ = cached_scan(settings.content_dir, settings)
    done, missing = summaries_from_cache(again, settings)
    assert [a.path for a in missing] == ["posts/post-1.md"]
    assert {a.tldr for a in done if a.path == "posts/post-2.md"} == {"tldr of posts/post-2.md"}
    assert {a.tldr for a in again} == {""}  # new values: what it was given is unchanged


def test_the_scan_summarizes_nothing_and_the_pipeline_only_the_chosen(
    ten: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan of the whole folder (--explain) makes no summary; the pipeline summarizes the chosen, once."""
    # Their own sentences: the ten's shared template sentence is boilerplate (spec §7) and gives no figure.
    write_article(ten, "post-8", DAY + timedelta(days=8), body="Harbour traffic rose **12%** after the dredging.\n")
    write_article(ten, "post-9", DAY + timedelta(days=9), body="Ferry fares fell **8%** once the new line opened.\n")
    settings = settings_for(ten)
    made: list[str] = []
    from digest.summarize import summary as summary_module  # where the pipeline takes it from, when it needs it

    real = summary_module.summarize
    monkeypatch.setattr(
        summary_module, "summarize", lambda body, fm, s, **kw: made.append(body) or real(body, fm, s, **kw)
    )
    everything, _, _ = cached_scan(settings.content_dir, settings)  # no range, as --explain scans
    assert made == [] and summaries_from_cache(everything, settings)[0] == []
    chosen = [a for a in everything if a.date >= DAY + timedelta(days=8)]
    summarized, failed = pipeline.summarize_articles(chosen, settings)
    assert failed == [] and [a.path for a in summarized] == ["posts/post-8.md", "posts/post-9.md"]
    assert len(made) == 2 and {f.value for a in summarized for f in a.key_figures} >= {"12%"}
    assert {a.tldr for a in chosen} == {""}  # the chosen articles are not changed, new ones are returned
    # Warm: the summaries (keyed with their neighbours' boilerplate, spec §7) come from the cache.
    assert pipeline.summarize_articles(chosen, settings) == (summarized, []) and len(made) == 2


def test_explain_gives_far_files_their_date_and_near_files_their_real_reason(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--explain reads the front matter of the files near the range only; every file still gets its reason,
    the same cold, warm, and after a plain build left date-only rows."""
    since, until = DAY, DAY + timedelta(days=7)
    write_article(site, "old-draft", DAY - timedelta(days=400), draft=True)  # far: its date is the reason
    write_article(site, "later", DAY + timedelta(days=90))
    write_article(site, "eve-draft", DAY - timedelta(days=1), draft=True)  # near: read in full
    write_article(site, "in-draft", DAY + timedelta(days=2), draft=True)
    write_article(site, "in", DAY + timedelta(days=3))
    section = site / "content" / "posts" / "_index.md"
    section.write_text("---\ntitle: Posts\ndate: 2020-01-01\n---\n", encoding="utf-8")  # never an article
    settings = settings_for(site)
    read: list[str] = []
    real = scan_files.read_article
    monkeypatch.setattr(scan_files, "read_article", lambda src, *a: read.append(src.name) or real(src, *a))

    def explained() -> dict[str, str]:
        result = pipeline.build_issue(settings, since, until, explain=True)
        assert [a.path for a in result.issue.articles] == ["posts/in.md"]
        return {d.path: ("+ " if d.selected else "- ") + d.reason for d in result.decisions}

    cold = explained()
    assert cold == {
        "posts/_index.md": "- not an article: a section page (_index.md)",
        "posts/eve-draft.md": "- draft",
        "posts/in-draft.md": "- draft",
        "posts/in.md": f"+ dated {(DAY + timedelta(days=3)).isoformat()}, in range",
        "posts/later.md": f"- outside the range (dated {(DAY + timedelta(days=90)).isoformat()})",
        "posts/old-draft.md": f"- outside the range (dated {(DAY - timedelta(days=400)).isoformat()})",
    }
    assert "old-draft.md" not in read and "later.md" not in read and "in-draft.md" in read
    assert explained() == cold  # warm: from the cache
    shutil.rmtree(site / ".digest")
    pipeline.build_issue(settings, since, until)  # a plain build leaves date-only rows
    assert explained() == cold
    pipeline.scan_content(settings)  # the whole folder read in full: far articles cached as articles
    assert explained() == cold


def test_content_imports_no_other_stage() -> None:
    """Importing every content module loads no summarize, render, state, delivery, archive or cli module."""
    code = (
        "import sys, pkgutil, importlib, digest.content as c\n"
        "[importlib.import_module('digest.content.' + m.name) for m in pkgutil.iter_modules(c.__path__)]\n"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in [['digest', w] for w in "
        "('summarize', 'render', 'state', 'delivery', 'archive', 'cli', 'schedule', 'pipeline', 'selection')]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _walked(folder: Path, follow: bool = False) -> tuple[set[str], set[tuple[str, str]]]:
    files, problems = walk_files(folder, follow_outside_links=follow)
    return set(files), {(p.path, p.reason) for p in problems}


def _reference(folder: Path, follow: bool = False) -> tuple[set[str], set[tuple[str, str]]]:
    """The rules of spec §1 as the first walker wrote them (a slower, independent reading, kept as the oracle)."""
    found = list(_walk(folder, follow_outside_links=follow))
    return {rel for rel, _, problem in found if not problem}, {(rel, p) for rel, _, p in found if p}


def test_walk_finds_the_files_content_walk_finds_in_real_sites() -> None:
    """The walker follows the reference walk's rules on the real-site fixtures (bundles, _posts, _index.md)."""
    for site in ("hugo-docs", "jekyll-posts", "servicemesher-blog"):
        folder = FIXTURES / "real" / site
        assert _walked(folder) == _reference(folder), site


def test_walk_matches_content_walk_on_odd_trees(tmp_path: Path) -> None:
    """Drafts, dot files, bundles with resources, a folder named like an article, links to nothing and loops."""
    root = tmp_path / "content"
    for rel in ("a.md", "B.MARKDOWN", "notes.txt", ".hidden.md", "_drafts/d.md", "posts/_index.md",
                "posts/bundle/index.md", "posts/bundle/extra.md", "posts/bundle/_posts/2025-01-01-x.md",
                "weird.md/inside.md", ".git/x.md"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\ntitle: t\ndate: 2025-01-01\n---\n", encoding="utf-8")
    (root / "dangling.md").symlink_to(root / "nowhere.md")
    (root / "posts" / "loop").symlink_to(root / "posts")
    (root / "linked.md").symlink_to(root / "a.md")
    os.mkfifo(root / "pipe.md")
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "o.md").write_text("---\ntitle: o\ndate: 2025-01-01\n---\n", encoding="utf-8")
    (outside / "dir" / "in.md").write_text("---\ntitle: i\ndate: 2025-01-01\n---\n", encoding="utf-8")
    (root / "out.md").symlink_to(outside / "o.md")
    (root / "outdir").symlink_to(outside / "dir")
    (root / "outdir.md").symlink_to(outside / "dir")  # a folder with an article's name
    (root / "out-dangling.md").symlink_to(outside / "gone.md")
    (root / "posts" / "bundle" / "out.md").symlink_to(outside / "o.md")  # a bundle resource: not read at all
    (root / "x.md").symlink_to(root / "y.md")
    (root / "y.md").symlink_to(root / "x.md")
    assert _walked(root) == _reference(root)
    assert any("outside the content folder" in reason for _, reason in _walked(root)[1])
    assert _walked(root, follow=True) == _reference(root, follow=True)
    assert "outdir/in.md" in _walked(root, follow=True)[0]


def test_missing_content_folder_gives_no_files(tmp_path: Path) -> None:
    """A content folder that is gone is one unreadable-folder problem, as the reference walk reports it."""
    assert _walked(tmp_path / "gone") == _reference(tmp_path / "gone")


def test_scan_of_the_dev_fixture_matches_a_plain_scan(tmp_path: Path) -> None:
    """On the labelled dev site (bad files included), cold and warm scans equal content.scan."""
    shutil.copytree(FIXTURES / "dev" / "content", tmp_path / "content")
    write_config(tmp_path)
    settings = settings_for(tmp_path)
    plain = scan_files.scan(settings.content_dir, settings)
    for _ in range(2):
        articles, skipped, _ = cached_scan(settings.content_dir, settings)
        assert (articles, skipped) == plain


def test_files_far_outside_the_range_are_read_by_date_only_then_in_full_when_reached(ten: Path) -> None:
    """A narrow first build knows old files by their date line; a later wide build reads them in full."""
    settings = settings_for(ten)
    narrow, _, _ = cached_scan(
        settings.content_dir, settings, since=DAY + timedelta(days=8), until=DAY + timedelta(days=10)
    )
    assert [a.path for a in narrow] == ["posts/post-8.md", "posts/post-9.md"]
    conn = sqlite3.connect(settings.state_path)
    kinds = dict(conn.execute("SELECT path, kind FROM scan_cache"))
    conn.close()
    assert kinds["posts/post-0.md"] == scan_files.DATE_ONLY and kinds["posts/post-9.md"] == scan_files.ARTICLE
    wide, _, stats = cached_scan(
        settings.content_dir, settings, since=DAY - timedelta(days=1), until=DAY + timedelta(days=11)
    )
    assert wide == scan_files.scan(settings.content_dir, settings)[0]
    assert stats.reread >= 5  # the date-only files, now in range


def test_date_line_reader_declines_what_it_cannot_read_exactly(tmp_path: Path) -> None:
    """Quoted dates are read; two date lines, flow values or no front matter send the file to the full reader."""
    from digest.content.date_line import QUICK_BYTES, timestamp_in

    cases = {
        "quoted.md": ("---\ntitle: x\ndate: '2020-01-02'\n---\n", datetime(2020, 1, 2, tzinfo=TZ).timestamp()),
        "publish.md": ("---\ndate: 2019-01-01\npublishDate: 2020-01-02T10:00:00+00:00\n---\n",
                       datetime(2020, 1, 2, 10, tzinfo=ZoneInfo("UTC")).timestamp()),
        "twice.md": ("---\ndate: 2020-01-02\ndate: 2021-01-02\n---\n", None),
        "flow.md": ("---\ndate: [2020-01-02]\n---\n", None),
        "nested.toml.md": ("+++\n[params]\ndate = 2020-01-02\n+++\n", None),
        "none.md": ("just text\n", None),
    }
    for name, (text, want) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        raw = path.read_bytes()[:QUICK_BYTES]
        assert timestamp_in(raw, len(raw) < QUICK_BYTES, TZ) == want, name


def test_short_date_path_agrees_with_the_general_one_and_with_the_full_reader(tmp_path: Path) -> None:
    """On every fixture file the bytes short path answers as the text path, and as read_article's date."""
    from digest.content.date_line import QUICK_BYTES, _timestamp_read_as_text, timestamp_in

    write_config(tmp_path)
    settings = settings_for(tmp_path)  # only the time zone matters here
    roots = [FIXTURES / "dev" / "content", *sorted((FIXTURES / "real").glob("*/content"))]
    extra = {
        "crlf.md": b"---\r\ntitle: x\r\ndate: 2020-01-02\r\n---\r\nbody\r\n",
        "iso.md": b"---\ndate: 2020-01-02T03:04:05-07:30\n---\n",
        "utc.md": b"---\ndate: 2020-01-02 03:04:05Z\n---\n",
        "dots.md": b"---\ndate: 2020-01-02\n...\n",
        "bad-day.md": b"---\ndate: 2020-02-30\n---\n",
        "bad-offset.md": b"---\ndate: 2020-01-02T03:04:05+24:00\n---\n",
        "edge.md": b"---\ndate: 0001-01-01T00:00:00+08:00\n---\n",
        "latin1.md": b"---\ndate: 2020-01-02\n---\ncaf\xe9\n",
        "unclosed.md": b"---\ndate: 2020-01-02\n",
        "nul.md": b"---\ndate: 2020-01-02\n---\n\x00",
    }
    samples = [(p.read_bytes(), (p, root)) for root in roots for p in sorted(root.rglob("*.md"))]
    samples += [(raw, None) for raw in extra.values()]
    checked = 0
    for raw, where in samples:
        head, complete = raw[:QUICK_BYTES], len(raw) < QUICK_BYTES
        ts = timestamp_in(head, complete, settings.tz)
        assert ts == _timestamp_read_as_text(head, complete, settings.tz), where or raw
        if ts is None or where is None:
            continue
        try:
            article = content.read_article(where[0], where[1], settings)
        except ArticleError:
            continue  # broken elsewhere in the front matter: a date-only row until a build reaches it
        if article is not None:
            assert article.date.timestamp() == ts, where
            checked += 1
    assert checked > 100
    assert timestamp_in(extra["bad-day.md"], True, settings.tz) is None
    # Only the block is judged: a body that is not UTF-8 is the full read's to report, once a build reaches it.
    assert timestamp_in(extra["latin1.md"], True, settings.tz) == datetime(2020, 1, 2, tzinfo=settings.tz).timestamp()
    want = datetime.fromisoformat("2020-01-02T03:04:05-07:30").timestamp()
    assert timestamp_in(extra["iso.md"], True, settings.tz) == want


def test_a_pool_scan_with_a_window_equals_a_plain_scan_in_that_window(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many files, read by worker processes with most of them known by date only: the window's articles are exact."""
    monkeypatch.setattr(scan_files, "POOL_MIN_FILES", 10)
    for i in range(60):
        write_article(site, f"post-{i:02d}", DAY + timedelta(days=i))
    settings = settings_for(site)
    since, until = DAY + timedelta(days=30), DAY + timedelta(days=33)
    articles, _, stats = cached_scan(settings.content_dir, settings, since=since, until=until)
    window = scan_files.Window.of(since, until)  # padded by a second: selection makes the exact cut
    plain = [a for a in scan_files.scan(settings.content_dir, settings)[0] if window.holds(a.date.timestamp())]
    assert articles == plain and [a.path for a in plain] == [f"posts/post-{i}.md" for i in range(30, 34)]
    assert stats.reread == 60 and stats.workers == (scan_files.cores_available() if scan_files._can_fork() else 1)
    again, _, stats = cached_scan(settings.content_dir, settings, since=since, until=until)
    assert again == plain and stats.reread == 0


# --- the reference walk: the first walker of digest (issue 10), kept here as the test oracle ----------


def _walk(content_dir: Path, *, follow_outside_links: bool = False) -> Iterator[tuple[str, Path, str | None]]:
    """(relative path, file, problem) for every Markdown file; folders followed once each, so no symlink loop.

    A symbolic link (to a file or a folder) that resolves outside the content folder is a problem,
    not followed, unless `follow_outside_links`.
    """
    root = os.path.realpath(content_dir)
    seen: set[str] = set()
    stack: list[tuple[str, str]] = [(str(content_dir), "")]
    while stack:
        folder, rel = stack.pop()
        try:
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield (rel or ".") + "/", Path(folder), one_line(f"cannot read folder: {exc.strerror or exc}", 160)
            continue
        names = {e.name for e in entries}
        # A leaf bundle's other files are its resources, not pages (Hugo); its _posts stay posts (Jekyll).
        bundle = bool(rel) and any(n in names for n in ("index.md", "index.markdown"))
        folders: list[tuple[str, str]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue  # .git, editor swap files
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name != "_drafts" and (not bundle or entry.name == "_posts"):
                    away = None if follow_outside_links or not entry.is_symlink() else outside_link(entry.path, root)
                    if away:
                        yield child + "/", Path(entry.path), away
                    else:
                        folders.append((entry.path, child))
                continue
            if not entry.name.lower().endswith((".md", ".markdown")) or (
                bundle and entry.name not in ("index.md", "index.markdown")
            ):
                continue
            away = None if follow_outside_links or not entry.is_symlink() else outside_link(entry.path, root)
            yield child, Path(entry.path), away or _not_a_file(entry)
        stack.extend(reversed(folders))  # depth first in name order: the first path to a folder wins


def _not_a_file(entry: os.DirEntry[str]) -> str | None:
    """Why a Markdown name cannot be read as a file (a dangling link, a pipe), or None."""
    try:
        if entry.is_file():  # free for a plain file: the folder listing already says so
            return None
        mode = entry.stat().st_mode
    except FileNotFoundError:
        return "cannot read: a symbolic link to nothing"
    except OSError as exc:
        return one_line(f"cannot read: {exc.strerror or exc}", 160)
    return None if stat.S_ISREG(mode) else "cannot read: not a regular file"


def test_adding_renaming_or_editing_a_module_changes_the_code_stamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache is keyed on its code: a module renamed, added or edited in a stamped package changes the stamp."""
    import importlib

    from digest.state.db import code_stamps

    package = tmp_path / "stampedpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "reader.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    before = code_stamps(["stampedpkg"])
    assert code_stamps(["stampedpkg"]) == before  # stable while nothing changes
    (package / "reader.py").rename(package / "parser.py")
    renamed = code_stamps(["stampedpkg"])
    assert renamed != before
    (package / "extra.py").write_text("")
    assert code_stamps(["stampedpkg"]) != renamed
    with pytest.raises(ModuleNotFoundError):
        code_stamps(["stampedpkg_gone"])


def test_every_cache_stamps_the_modules_that_make_what_it_keeps() -> None:
    """The scan, summary and render caches stamp whole wings, so no module of theirs is left out."""
    from digest.render.reads import RENDER_MODULES
    from digest.state.db import code_stamps
    from digest.state.scan_cache import READER_MODULES, SUMMARY_MODULES

    stamped = {name for name, _, _ in code_stamps([*READER_MODULES, *SUMMARY_MODULES, *RENDER_MODULES])}
    for module in ("digest.content:scan.py", "digest.content:walk.py", "digest.summarize:figures.py",
                   "digest.render:issue.py", "digest.render:text.py", "digest.models", "digest.text"):
        assert module in stamped, module
