"""Boilerplate (spec §7): what an article's 30 neighbours repeat is never its TL;DR nor a figure's sentence."""

from __future__ import annotations

import os
import random
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.config import SummarySettings, load_settings
from digest.pipeline.build import scan_content, summarize_articles
from digest.summarize.boilerplate import (
    SENTENCE_ENDS,
    Boilerplate,
    Fingerprints,
    article_fingerprints,
    fingerprints_of,
    front_matter_text,
    plates_for,
    split_sentences,
)
from digest.summarize.neighbours import neighbours_before
from digest.summarize.parsing import MD
from digest.summarize.plaintext import inline_text, strip_templates
from digest.summarize.summary import summarize
from digest.text import is_sentence_end

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


def weekly_site(tmp_path: Path) -> Path:
    """Four weekly posts of one series (2025-08-01..04) and a config for them: the pipeline's §7 cases."""
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
    settings = load_settings(weekly_site(tmp_path), env={})
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


def test_case_folding_keeps_digits_whitespace_and_marks() -> None:
    """No character folds to or from a digit, whitespace, `*` or `_`: a sentence is folded before it is masked."""
    kept = re.compile(r"[0-9０-９\s*_]")
    changed = [chr(cp) for cp in range(sys.maxunicode + 1) if chr(cp).casefold() != chr(cp)]
    assert len(changed) > 1000
    assert not [c for c in changed if kept.search(c.casefold()) or kept.match(c)]


def reference_split(text: str) -> list[str]:
    """§5's sentences, read character by character."""
    out, start = [], 0
    for i, ch in enumerate(text):
        if ch in SENTENCE_ENDS or (ch == "." and is_sentence_end(text, i)):
            out.append(text[start : i + 1].strip())
            start = i + 1
    return [s for s in [*out, text[start:].strip()] if s]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab .。！？；!?\n\t\u00a0"))
def test_sentences_end_at_every_end_mark_and_at_a_full_stop_before_a_space(text: str) -> None:
    """split_sentences cuts where §5 says, whatever the text."""
    assert split_sentences(text) == reference_split(text)


def test_plates_for_windows_are_what_each_articles_neighbours_share() -> None:
    """One tally moved from window to window gives each article what Boilerplate.among of its neighbours
    gives, whatever the windows' order, with articles that have no fingerprints and a path given twice."""
    rng = random.Random(13)
    order = [f"posts/{i}.md" for i in range(80)]
    prints = {p: Fingerprints(frozenset(rng.sample(range(30), 6)), frozenset(rng.sample(range(30), 6)))
              for p in order if rng.random() > 0.1}
    windows = {f"article {i}": neighbours_before(order, i) for i in [0, 1, 5, 6, 7, 40, 41, 79, 78]}
    windows["twice"] = [order[3], order[3], order[4]]
    for keys in (list(windows), sorted(windows, reverse=True), rng.sample(list(windows), len(windows))):
        plates = plates_for({k: windows[k] for k in keys}, prints)
        assert list(plates) == keys
        for key in keys:
            assert plates[key] == Boilerplate.among(prints[p] for p in windows[key] if p in prints)
    assert any(plate.texts for plate in plates.values()) and plates["twice"].texts == prints[order[3]].texts


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["**", "*", "a", "中", " ", "  \n", "\n", "\r", "\0", "。", "[x](y)", "{{< x >}}",
                                 "1."]), max_size=12).map("".join))
def test_front_matter_text_is_its_inline_parse(value: str) -> None:
    """A summary or description reads as the plain text of its inline parse, whichever way it is made."""
    markdown, _ = strip_templates(value)
    tokens = MD.parseInline(markdown)
    assert front_matter_text(value) == " ".join(inline_text(t.children) for t in tokens if t.type == "inline").strip()
