"""Checks 1-4 and 7 of issue 3: built issues pass them, and each check catches what it is for."""

from __future__ import annotations

import pytest
from issue_factory import make_issue, make_settings

from digest.render.check import (
    check_head,
    check_issue_html,
    check_safe,
    check_size,
    check_structure,
    check_text,
)
from digest.render.issue import render_issue

SCENARIOS = {
    "english_20_articles": dict(n=20, language="en"),
    "chinese_20_articles_grouped": dict(n=20, language="zh-CN", group_by="topic"),
    "english_with_note_and_more_list": dict(n=5, language="en", note="Editor's note\n\nSecond", more=4),
    "chinese_one_article": dict(n=1, language="zh-CN"),
}


def _built(n, language, group_by="none", note=None, more=0):
    settings = make_settings(language=language, render={"group_by": group_by})
    return render_issue(make_issue(n, note=note, more=more), settings)


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def built(request):
    return _built(**SCENARIOS[request.param])


@pytest.fixture(scope="module")
def sample():
    return _built(n=4, language="en", more=1)


def test_built_issue_passes_checks_1_to_4_and_7(built):
    """Every scenario's built issue passes all of check_issue_html, text part included."""
    assert check_issue_html(built.html, built.text) == []


def test_check1_size_flags_an_issue_over_the_limit(sample):
    """1. An HTML over the byte limit is reported with its size."""
    assert check_size(sample.html) == []
    assert check_size(sample.html, max_bytes=1000) and "over 1000" in check_size(sample.html, 1000)[0]


@pytest.mark.parametrize(
    "change, expect",
    [
        (lambda h: h.replace("<!DOCTYPE html>", "", 1), "DOCTYPE"),
        (lambda h: h.replace("<!DOCTYPE html>", "<!doctype html>", 1), "DOCTYPE"),
        (lambda h: h.replace('lang="en"', 'lang="und"', 1), "lang"),
        (lambda h: h.replace('<meta charset="utf-8">', "", 1), "charset"),
        (lambda h: h.replace('name="viewport"', 'name="x"', 1), "viewport"),
        (lambda h: _between(h, "<title>", "</title>", ""), "title"),
        (lambda h: h.replace('name="supported-color-schemes"', 'name="x"', 1), "supported-color-schemes"),
    ],
    ids=["no_doctype", "lowercase_doctype", "lang_und", "no_charset", "no_viewport", "empty_title", "no_color_scheme"],
)
def test_check2_head_catches_each_missing_part(sample, change, expect):
    """2. Each missing head part (doctype, lang, charset, viewport, title, color-scheme metas) is reported."""
    assert check_head(sample.html) == []
    problems = check_head(change(sample.html))
    assert any(expect in p for p in problems), problems


def _between(html: str, start: str, end: str, new: str) -> str:
    a = html.index(start) + len(start)
    return html[:a] + new + html[html.index(end, a):]


def _in_body(html: str, snippet: str) -> str:
    return html.replace("</body>", snippet + "</body>", 1)


@pytest.mark.parametrize(
    "snippet, expect",
    [
        ("<script>alert(1)</script>", "<script>"),
        ('<form action="https://x.example"><input name="q"></form>', "<form>"),
        ('<iframe src="https://x.example"></iframe>', "<iframe>"),
        ('<video src="https://x.example/v.mp4"></video>', "<video>"),
        ('<link rel="stylesheet" href="https://x.example/a.css">', "<link>"),
        ("<style>@import url(https://x.example/a.css);</style>", "@import"),
        ('<div style="display: flex">x</div>', "display:flex/grid"),
        ('<div style="display:grid">x</div>', "display:flex/grid"),
        ('<div style="position:absolute">x</div>', "position"),
        ('<img src="https://x.example/a.png" style="float: right" width="10" alt="">', "float"),
        ("<section>x</section>", "<section>"),
        ('<a href="/relative">x</a>', "not an absolute"),
        ('<a href="javascript:alert(1)">x</a>', "not an absolute"),
        ('<img src="data:image/png;base64,AAAA" alt="">', "image"),
    ],
    ids=[
        "script", "form", "iframe", "video", "external_css", "css_import", "flex", "grid",
        "absolute", "float", "sectioning", "relative_link", "javascript_link", "data_image",
    ],
)
def test_check3_safe_catches_each_forbidden_thing(sample, snippet, expect):
    """3. Scripts, forms, frames, media, external CSS, flex/grid/absolute/float, sectioning tags and bad links
    are reported."""
    assert check_safe(sample.html) == []
    problems = check_safe(_in_body(sample.html, snippet))
    assert any(expect in p for p in problems), problems


def test_check3_ignores_markup_inside_outlook_comments(sample):
    """3. What only Outlook reads (inside <!--[if mso]> comments) is not taken for markup."""
    html = _in_body(sample.html, '<!--[if mso]><div style="float:left">x</div><![endif]-->')
    assert check_safe(html) == []


def test_check4_tables_need_role_presentation(sample):
    """4. A layout table without role="presentation" is reported; a data table with <th> is not."""
    assert check_structure(sample.html) == []
    assert check_structure(_in_body(sample.html, "<table><tr><td>x</td></tr></table>"))
    assert check_structure(_in_body(sample.html, "<table><tr><th>h</th></tr></table>")) == []


@pytest.mark.parametrize(
    "snippet",
    ["<!--[if mso]><table><tr><td>-->", "<!--<![endif]-->", "<!--[if !mso]><!-->x"],
    ids=["opened_never_closed", "closed_never_opened", "downlevel_revealed_open"],
)
def test_check4_unbalanced_mso_comments(sample, snippet):
    """4. An MSO conditional comment opened and not closed, or closed and not opened, is reported."""
    problems = check_structure(_in_body(sample.html, snippet))
    assert any("conditional comment" in p for p in problems), problems


def test_check7_text_reads_on_its_own(sample):
    """7. The text part has, per article, title, date, TL;DR, figures and link, plus the unsubscribe link."""
    assert check_text(sample.text, sample.html) == []


@pytest.mark.parametrize(
    "change, expect",
    [
        (lambda t: t.replace("Microsoft plans to spend", "", 1), "TL;DR"),
        (lambda t: t.replace("$80bn", "", 1), "key figure"),
        (lambda t: t.replace("https://news.example.com/posts/article-001/", "", 1), "link"),
        (lambda t: t.replace("Jul 7, 2025", "", 1), "date"),
        (lambda t: t.replace("https://news.example.com/unsubscribe?u=TOKEN", "", 1), "unsubscribe"),
        (lambda t: t + "\n" + "word " * 30, "columns wide"),
        (lambda t: t + '\n<a href="https://x.example">x</a>', "markup"),
        (lambda t: "  \n", "empty"),
    ],
    ids=["no_tldr", "no_figure", "no_link", "no_date", "no_unsubscribe", "unwrapped", "markup", "empty"],
)
def test_check7_catches_each_missing_part(sample, change, expect):
    """7. A text part missing a TL;DR, figure, link, date or the unsubscribe link, unwrapped or with markup,
    is reported."""
    problems = check_text(change(sample.text), sample.html)
    assert any(expect in p for p in problems), problems


def test_check7_allows_a_long_url_on_its_own_line(sample):
    """7. A URL longer than a line is not a wrapping problem: it must not be broken."""
    text = sample.text + "\nhttps://news.example.com/" + "a" * 120 + "\n"
    assert check_text(text) == []


def test_check_issue_html_without_text_runs_checks_1_to_4(sample):
    """`digest check` without a .txt beside the HTML runs checks 1-4 only."""
    assert check_issue_html(sample.html, None) == []
    assert check_issue_html(_in_body(sample.html, "<script></script>"), None)
