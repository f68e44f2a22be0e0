"""Boilerplate (spec §7): what an article's 30 neighbours repeat is never its TL;DR nor a figure's sentence."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from digest.config import SummarySettings, load_settings
from digest.pipeline.build import scan_content, summarize_articles
from digest.summarize.boilerplate import Boilerplate, Fingerprints, article_fingerprints, fingerprints_of
from digest.summarize.summary import summarize

SERIES = "每周精选社区动态，同步开源进展。"


def weekly(n: int, news: str) -> str:
    return (f"---\ntitle: 周报 第{n}期\ndate: 2025-08-{n:02d}T10:00:00+08:00\ndescription: \"{SERIES}\"\n---\n\n"
            f"{news}\n\n欢迎加入社区群 **21457890** 与我们交流，本周合并 **{n} 个** PR。\n")


def plate(*bodies: str) -> Boilerplate:
    return Boilerplate.among(article_fingerprints(b, {"description": SERIES}) for b in bodies)


def test_series_description_is_boilerplate_once_two_neighbours_share_it() -> None:
    """A description two neighbours also have is skipped; with one neighbour it is still the TL;DR."""
    body = "本周社区共合并 25 个 PR，新增贡献者 6 位。"
    one, two = plate("甲乙丙丁戊己庚辛。"), plate("甲乙丙丁戊己庚辛。", "壬癸子丑寅卯辰巳。")
    assert summarize(body, {"description": SERIES}, SummarySettings(), boilerplate=one)[0] == SERIES
    assert summarize(body, {"description": SERIES}, SummarySettings(), boilerplate=two)[0] == body


def test_release_post_whose_number_changes_is_not_boilerplate() -> None:
    """Text is compared word for word: "announce Rust 1.10" against "announce Rust 1.9" is news."""
    shared = Boilerplate.among([fingerprints_of(["We announce Rust 1.9 today."])] * 2)
    assert not shared.is_boilerplate_text("We announce Rust 1.10 today.")
    assert shared.is_boilerplate_text("We  announce RUST 1.9 today.")


def test_template_sentence_is_judged_by_its_mask() -> None:
    """A figure whose sentence only changes its number is a template line: its figures are dropped."""
    shared = plate("本周合并 **12 个** PR，新增贡献者 **3 位**。", "本周合并 **9 个** PR，新增贡献者 **5 位**。")
    body = "本周合并 **25 个** PR，新增贡献者 **6 位**。\n\n内存下降了 **40%**。\n"
    assert [k.value for k in summarize(body, {}, SummarySettings(), boilerplate=shared)[1]] == ["40%"]


def test_short_sentences_never_count() -> None:
    """A sentence whose mask is under 8 characters is never boilerplate."""
    shared = Boilerplate.among([fingerprints_of(["Thanks!"])] * 3)
    assert not shared.is_boilerplate_text("Thanks!")


def test_fingerprints_survive_the_cache_encoding() -> None:
    """What the scan cache stores decodes to the same fingerprints."""
    body = "One sentence here. Another one there.\n\n- an item of a list\n"
    fp = article_fingerprints(body, {"summary": "A summary."})
    assert Fingerprints.decode(fp.encode()) == fp and len(fp.texts) == 4


def _site(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    content.mkdir()
    for n in range(1, 5):
        (content / f"weekly-{n}.md").write_text(weekly(n, f"第{n}周的新闻：调度器重写了第{n}部分。"), encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(f"site: {{timezone: Asia/Shanghai}}\ncontent: {content}\nstate: {tmp_path / 's.sqlite'}\n",
                      encoding="utf-8")
    return config


def test_pipeline_judges_against_neighbours_and_a_warm_build_reads_no_neighbour(tmp_path: Path) -> None:
    """The build skips the series line from the third issue on; warm, it takes the neighbours from the cache."""
    settings = load_settings(_site(tmp_path), env={})
    since = datetime(2025, 8, 3, tzinfo=timezone(timedelta(hours=8)))
    until = since + timedelta(days=3)
    chosen, _, _ = scan_content(settings, since=since, until=until)
    cold, failed = summarize_articles(chosen, settings)
    assert not failed
    assert [a.tldr for a in cold] == ["第3周的新闻：调度器重写了第3部分。", "第4周的新闻：调度器重写了第4部分。"]
    # The neighbours change on disk, same size and time: a warm build that read them would see it.
    for n in (1, 2):
        path = settings.content_dir / f"weekly-{n}.md"
        stat = path.stat()
        changed = path.read_text(encoding="utf-8").replace(SERIES, "一二三四五六七八九十一二三四五。")
        path.write_text(changed, encoding="utf-8")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    chosen, _, _ = scan_content(settings, since=since, until=until)
    warm, _ = summarize_articles(chosen, settings)
    assert [a.tldr for a in warm] == [a.tldr for a in cold]
    assert [k.value for k in warm[0].key_figures] == []  # "本周合并 N 个 PR" is a template line
