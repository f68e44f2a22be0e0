"""The renderer: Issue → subject, inlined HTML, text; untrusted input, size limit, speed, overrides, goldens."""

from __future__ import annotations

import dataclasses
import html as htmllib
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from issue_factory import make_article, make_issue, make_settings
from mjml import mjml2html

from digest.errors import DigestError
from digest.models import ArchivedIssue, KeyFigure
from digest.render.archive_page import render_archive
from digest.render.check import check_issue_html, mso_comments, parse
from digest.render.issue import _Renderer, render_issue, safe_url
from digest.render.reads import issue_as_rendered
from digest.render.templates import render_template

GOLDEN = Path(__file__).parents[1] / "golden"


def _links(html: str) -> list[str]:
    return [n.attrs["href"] for n in parse(html).root.iter() if n.tag == "a" and "href" in n.attrs]


def _imgs(html: str) -> list[dict[str, str]]:
    return [n.attrs for n in parse(html).root.iter() if n.tag == "img"]


# --- subject -------------------------------------------------------------------------------


def test_subject_filled_from_template_and_one_line():
    """The subject fills {site} {number} {date_range} {count} and any CR, LF or control character becomes a space."""
    s = make_settings(render={"subject": "{site} #{number}: {count} stories, {date_range}"})
    s.site.title = "Evil\r\nBcc: victim@example.com\x00\x07 Site"
    r = render_issue(make_issue(3, more=1), s)
    assert "\n" not in r.subject and "\r" not in r.subject and "\x00" not in r.subject
    assert r.subject.startswith("Evil Bcc: victim@example.com Site #7: 4 stories, Jul 1")


def test_subject_with_unknown_placeholder_names_the_key():
    """A placeholder render.subject does not know is a DigestError naming the key."""
    s = make_settings(render={"subject": "{site} {volume}"})
    with pytest.raises(DigestError, match=re.escape("render.subject")):
        render_issue(make_issue(1), s)


# --- untrusted article fields ------------------------------------------------------------------


def test_markup_in_title_and_tldr_is_escaped():
    """A title or TL;DR with <script> and quotes shows as text, never as markup."""
    art = make_article(1)
    art.title = '<script>alert("x")</script> & "quoted" \'title\''
    art.tldr = "<img src=x onerror=alert(1)> <b>bold</b>"
    r = render_issue(_issue_of([art]), make_settings())
    doc = parse(r.html).root
    assert not any(n.tag == "script" or "onerror" in n.attrs for n in doc.iter())
    assert "&lt;script&gt;" in r.html and "&lt;img src=x" in r.html
    assert '<script>alert("x")</script>' in r.text  # the text part is plain text: no entities


def _issue_of(arts):
    issue = make_issue(0)
    issue.articles = list(arts)
    return issue


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "vbscript:x", "ftp://x.example/a"],
)
def test_unsafe_article_url_becomes_no_link(url):
    """An article URL that is not http(s) or mailto is shown as a plain title, with no link anywhere."""
    art = make_article(1)
    art.url = url
    r = render_issue(_issue_of([art]), make_settings())
    assert all(not h.lower().startswith(("javascript", "data", "vbscript", "ftp")) for h in _links(r.html))
    assert art.title in r.html and url not in r.text


def test_relative_article_url_is_joined_to_the_base_url():
    """A site-relative URL becomes absolute on site.base_url."""
    assert safe_url("/posts/x/", "https://news.example.com") == "https://news.example.com/posts/x/"
    assert safe_url("posts/x/", "https://news.example.com") is None


def test_image_only_absolute_http_with_numeric_width_and_empty_alt():
    """Only absolute http(s) images are shown, each with a numeric width and alt="" (decorative: the title follows)."""
    good, relative, data = make_article(0), make_article(2), make_article(4)
    relative.image = "/images/x.jpg"
    data.image = "data:image/png;base64,AAAA"
    r = render_issue(_issue_of([good, relative, data]), make_settings())
    imgs = _imgs(r.html)
    assert [i["src"] for i in imgs] == [good.image]
    assert imgs[0]["width"].isdigit() and imgs[0]["alt"] == ""


@pytest.mark.parametrize(
    ("front_matter", "alt"),
    [
        ({"cover": {"image": "x.png", "alt": "A harbour crane at dusk"}}, "A harbour crane at dusk"),
        ({"image": {"path": "/x.png", "alt": "Two cranes"}}, "Two cranes"),
        ({"featured_image": "/a.png", "cover": {"image": "x.png", "alt": "not this image's"}}, ""),
        ({"cover": "x.png"}, ""),
    ],
)
def test_image_alt_from_the_front_matter_field_the_image_came_from(front_matter, alt):
    """A featured image's alt is the `alt` given beside it in the front matter (cover.alt, image.alt), else ""."""
    art = make_article(0)
    art.front_matter = front_matter
    r = render_issue(_issue_of([art]), make_settings())
    img = _imgs(r.html)[0]
    assert img["alt"] == alt
    link = next(n for n in parse(r.html).root.iter() if n.tag == "a" and any(c.tag == "img" for c in n.iter()))
    assert ("aria-hidden" in link.attrs) == (alt == "")


def test_tldr_cut_after_a_full_stop_shows_its_ellipsis_apart():
    """A TL;DR cut after a sentence (`evening.…`, spec §4) shows `evening. …` on the card and in the text part."""
    art = make_article(1)
    art.tldr = "Shops squeezed their discounts into a single evening.…"
    r = render_issue(_issue_of([art]), make_settings())
    tldr = parse(r.html).root.find_class("dg-tldr")[0].text()
    assert tldr.endswith("evening.\u00a0…") and ".…" not in r.html and ".…" not in r.text
    assert check_issue_html(r.html, r.text) == []
    art.tldr = "A TL;DR that was cut at a word…"
    r = render_issue(_issue_of([art]), make_settings())
    assert parse(r.html).root.find_class("dg-tldr")[0].text() == "A TL;DR that was cut at a word…"


@pytest.mark.parametrize(
    ("language", "days", "label"),
    [("en", 7, "More this week"), ("en", 365, "More in this issue"), ("en", 31, "More in this issue"),
     ("zh-CN", 7, "本期更多"), ("zh-CN", 365, "本期更多")],
)
def test_overflow_list_named_for_the_issue_span(language, days, label):
    """The overflow list is "More this week" only in an issue of a week; a month or a year says "More in this issue"."""
    issue = make_issue(2, more=2)
    issue.since = issue.until - timedelta(days=days)
    r = render_issue(issue, make_settings(language=language))
    heads = [n.text() for n in parse(r.html).root.find_class("dg-group")]
    assert heads == [label]
    assert label in r.text
    other = "More this week" if label != "More this week" else "More in this issue"
    assert other not in r.html and other not in r.text


def test_key_figure_value_kept_whole_between_its_spaces():
    """Each run of a key-figure value between its spaces is kept on one line (dg-kf-w, nowrap); a run too long
    for any phone line is not, so it can never push the page wider."""
    art = make_article(1)
    art.key_figures = [KeyFigure("$3.2 billion", "raised"), KeyFigure("2,300亿元", "fund"), KeyFigure("9" * 40, "long")]
    r = render_issue(_issue_of([art]), make_settings())
    doc = parse(r.html).root
    values = doc.find_class("dg-kf-v")
    assert [v.text() for v in values] == ["$3.2 billion", "2,300亿元", "9" * 40]
    kept = [[w.text() for w in v.find_class("dg-kf-w")] for v in values]
    assert kept == [["$3.2", "billion"], ["2,300亿元"], []]
    assert "white-space:nowrap" in values[0].find_class("dg-kf-w")[0].attrs["style"]


def test_long_title_cut_and_newline_never_breaks_anything():
    """A 1000-character title is cut to 300 with an ellipsis; a newline in it becomes a space everywhere."""
    art = make_article(1)
    art.title = "Line one\r\nSubject: injected\n" + "x" * 1000
    r = render_issue(_issue_of([art]), make_settings(render={"subject": "{site}"}))
    titles = [n.text() for n in parse(r.html).root.find_class("dg-title")]
    assert len(titles[0]) <= 300 and titles[0].endswith("…")
    assert titles[0].startswith("Line one Subject: injected x")
    assert "Line one\n" not in r.text
    assert check_issue_html(r.html, r.text) == []


def test_key_figures_capped_and_no_box_without_figures():
    """At most summary.key_figures_max figures are shown, and an article without figures has no box."""
    with_figs, without = make_article(0), make_article(2)
    assert with_figs.key_figures and not without.key_figures
    r = render_issue(_issue_of([with_figs, without]), make_settings(summary={"key_figures_max": 2}))
    doc = parse(r.html).root
    assert len(doc.find_class("dg-kf")) == 1
    assert [n.text() for n in doc.find_class("dg-kf-v")] == [f.value for f in with_figs.key_figures[:2]]


# --- structure and options ---------------------------------------------------------------------


def test_header_note_footer_and_view_in_browser():
    """Header shows site, number and range; the note, unsubscribe, view-in-browser and postal address appear."""
    s = make_settings()
    r = render_issue(make_issue(2, note="Welcome & thanks\n\nSecond paragraph"), s)
    assert "Newsroom Digest" in r.html and "Issue 7" in r.html and "Jul 1 – 7, 2025" in htmllib.unescape(r.html)
    assert "Welcome &amp; thanks" in r.html and "Second paragraph" in r.text
    assert "https://news.example.com/newsletter/2025-07-01_2025-07-08.html" in _links(r.html)
    assert "1 Example Road" in r.html and "1 Example Road" in r.text
    no_archive = make_settings(site={"archive_url": None})
    assert "View in browser" not in render_issue(make_issue(1), no_archive).html


def test_unsubscribe_placeholder_appears_verbatim_in_html_and_text():
    """An https URL passed as unsubscribe_url is in the HTML attribute-escaped only, and in the text as is."""
    placeholder = "https://news.example.com/u/__DIGEST_UNSUBSCRIBE__?list=weekly&lang=zh-CN&x=é"
    r = render_issue(make_issue(2), make_settings(), unsubscribe_url=placeholder)
    assert htmllib.escape(placeholder, quote=True).replace("&#x27;", "'") in r.html
    assert placeholder in _links(r.html)
    assert placeholder in r.text


def test_unsubscribe_defaults_to_config_url_then_mailto():
    """Without an argument: mail.unsubscribe_url, else mailto: unsubscribe_mailto, else the sender with a warning."""
    s = make_settings(mail={"unsubscribe_url": None, "unsubscribe_mailto": "leave@news.example.com"})
    r = render_issue(make_issue(1), s)
    assert "mailto:leave@news.example.com" in _links(r.html) and "mailto:leave@news.example.com" in r.text
    s = make_settings(mail={"unsubscribe_url": None})
    r = render_issue(make_issue(1), s)
    assert any("no unsubscribe address" in w for w in r.warnings)
    assert any(h.startswith("mailto:") for h in _links(r.html))


def test_group_by_topic_orders_groups_by_first_appearance():
    """With render.group_by: topic, articles sit under their first topic, groups in order of first appearance."""
    s = make_settings(render={"group_by": "topic"})
    arts = [make_article(i, zh=False) for i in range(5)]
    for art, topics in zip(arts, (["Tech", "AI"], ["Energy"], [], ["tech"], ["Energy", "Tech"])):
        art.topics = topics
    r = render_issue(_issue_of(arts), s)
    groups = [n.text() for n in parse(r.html).root.find_class("dg-group")]
    assert groups == ["Tech", "Energy", "Other"]
    titles = [n.text() for n in parse(r.html).root.find_class("dg-title")]
    assert titles == [arts[i].title for i in (0, 3, 1, 4, 2)]
    assert "## Tech" in r.text and "## Other" in r.text


def test_more_list_and_localised_labels_in_chinese():
    """zh-CN: <html lang="zh-CN">, Chinese labels and dates, and the more list as plain links."""
    r = render_issue(make_issue(2, more=2), make_settings(language="zh-CN"))
    assert '<html lang="zh-CN"' in r.html
    assert "本期更多" in r.html and "第 7 期" in r.html and "2025年7月7日" in r.html
    more = parse(r.html).root.find_class("dg-more")[0]
    assert len([n for n in more.iter() if n.tag == "a"]) == 2
    assert "PingFang SC" in r.html


def test_dark_mode_css_and_important_survive_inlining():
    """The prefers-color-scheme: dark rules stay in a <style> with !important; digest's own CSS is inlined and gone."""
    r = render_issue(make_issue(2), make_settings())
    styles = "".join(parse(r.html).styles)
    assert "@media (prefers-color-scheme: dark)" in styles and "!important" in styles
    assert "data-digest-inline" not in r.html and ".dg-tldr{" not in styles.replace(" ", "")
    tldr = parse(r.html).root.find_class("dg-tldr")[0]
    assert "color:#1f2937" in tldr.attrs["style"].replace(" ", "")


def test_mso_conditional_comments_unchanged_by_inlining():
    """Every MSO conditional comment of the compiled MJML is in the final HTML, unchanged and in order."""
    s = make_settings()
    r = _Renderer(make_issue(3), s, None)
    ctx = r.context(make_issue(3).articles, [], None)
    compiled = mjml2html(render_template(r.env, "issue.mjml.j2", ctx), fonts={})
    final = r.html(ctx)
    assert mso_comments(compiled) and mso_comments(compiled) == mso_comments(final)


def test_rendering_is_deterministic():
    """The same Issue and Settings give byte-identical HTML and text."""
    a = render_issue(make_issue(5, more=2), make_settings())
    b = render_issue(make_issue(5, more=2), make_settings())
    assert a == b


# --- size and speed -------------------------------------------------------------------------------


def test_twenty_articles_well_under_gmail_limit():
    """A 20-article issue (CJK and English, figures, images) is well under 100,000 bytes."""
    r = render_issue(make_issue(20), make_settings(language="zh-CN"))
    size = len(r.html.encode())
    print(f"20-article issue: {size} bytes")
    assert size < 80_000 and not r.warnings


def test_oversized_issue_shortened_with_warning_and_overflow_moved_to_more():
    """Past render.max_bytes the TL;DRs are cut, then the oldest articles go to "More this week", and a warning says so.

    The renderer says how many fit (`shown`) and leaves the issue it was given as it was;
    `issue_as_rendered` is the new issue the manifest records.
    """
    issue = make_issue(20)
    before = dataclasses.replace(issue, articles=list(issue.articles), more=list(issue.more))
    limit = 30_000
    r = render_issue(issue, make_settings(render={"max_bytes": limit}))
    assert len(r.html.encode()) <= limit
    assert any(w.startswith(f"issue shortened to fit {limit} bytes") for w in r.warnings)
    assert issue == before and len(issue.articles) == 20, "the renderer changed the issue it was given"
    assert r.shown is not None and 0 < r.shown < 20
    sent = issue_as_rendered(issue, r)
    assert sent is not issue and len(sent.articles) == r.shown and len(sent.more) == 20 - r.shown
    assert sent.more[0].path == f"posts/article-{r.shown:03d}.md"
    assert check_issue_html(r.html, r.text, max_bytes=limit) == []


# --- templates ---------------------------------------------------------------------------------


def _site_with_template(tmp_path: Path, name: str, body: str):
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / name).write_text(body, encoding="utf-8")
    return make_settings(tmp_path)


def test_site_template_overrides_one_block(tmp_path):
    """A site's templates/issue.mjml.j2 extending builtin/ changes one block and keeps the rest."""
    s = _site_with_template(
        tmp_path,
        "issue.mjml.j2",
        '{% extends "builtin/issue.mjml.j2" %}'
        '{% block footer_extra %}<p class="dg-foot">Forwarded? Subscribe.</p>{% endblock %}',
    )
    r = render_issue(make_issue(2), s)
    assert "Forwarded? Subscribe." in r.html and "dg-kf" in r.html
    assert check_issue_html(r.html, r.text) == []


def test_shipped_example_override_changes_nothing():
    """The repo's templates/issue.mjml.j2 example renders exactly what the built-in template does."""
    root = Path(__file__).resolve().parents[2]
    assert (root / "templates" / "issue.mjml.j2").exists()
    with_example = render_issue(make_issue(3), make_settings(root))
    builtin_only = render_issue(make_issue(3), make_settings())
    assert with_example.html == builtin_only.html


def test_template_syntax_error_names_template_and_line(tmp_path):
    """A syntax error in an override is a DigestError with the template's path and line."""
    s = _site_with_template(
        tmp_path, "issue.mjml.j2",
        '{% extends "builtin/issue.mjml.j2" %}\n\n{% block footer %}{{ oops }\n{% endblock %}',
    )
    with pytest.raises(DigestError, match=r"issue\.mjml\.j2, line 3"):
        render_issue(make_issue(1), s)


def test_template_undefined_variable_names_template_and_line(tmp_path):
    """An unknown variable in an override is a DigestError naming the template and line, not a blank."""
    s = _site_with_template(
        tmp_path, "issue.txt.j2",
        '{% extends "builtin/issue.txt.j2" %}\n{% block footer %}\n{{ artcle.title }}\n{% endblock %}',
    )
    with pytest.raises(DigestError, match=r"issue\.txt\.j2, line 3: 'artcle' is undefined"):
        render_issue(make_issue(1), s)


def test_override_producing_broken_mjml_is_a_digest_error(tmp_path):
    """An override whose MJML does not compile is a DigestError naming the template."""
    s = _site_with_template(tmp_path, "issue.mjml.j2", "<mjml><mj-body><mj-section><mj-column><mj-text><p>x</mj-text>")
    with pytest.raises(DigestError, match=re.escape("issue.mjml.j2")):
        render_issue(make_issue(1), s)


# --- golden files -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_golden_issue(language):
    """The HTML and text of a 4-article issue match tests/golden/ (DIGEST_REGEN_GOLDEN=1 rewrites them)."""
    issue = make_issue(4, note="A short note from the editor.", more=2)
    r = render_issue(issue, make_settings(language=language, render={"group_by": "topic"}))
    for ext, got in (("html", r.html), ("txt", r.text)):
        path = GOLDEN / f"issue-{language}.{ext}"
        got = _normalise(got, ext)
        if os.environ.get("DIGEST_REGEN_GOLDEN") == "1":
            path.parent.mkdir(exist_ok=True)
            path.write_text(got, encoding="utf-8", newline="")
        assert path.exists(), f"{path} missing: run with DIGEST_REGEN_GOLDEN=1"
        assert got == path.read_text(encoding="utf-8"), f"{path.name} differs: review, then DIGEST_REGEN_GOLDEN=1"


def _normalise(text: str, ext: str) -> str:
    """Nothing in a render is volatile: line endings are made uniform and, so that a change reads
    as a small diff, the one-line HTML is broken before each block tag and comment."""
    text = re.sub(r"\r\n?", "\n", text)
    if ext == "html":
        text = re.sub(r"(?<!\n)(<(?:!--|/?(?:table|tr|td|div|p|h1|h2|ul|li|style|meta|title|body)\b))", r"\n\1", text)
    return text


def test_models_untouched_when_no_shortening():
    """Rendering an issue that fits leaves its articles and more list as they were."""
    issue = make_issue(3, more=1)
    before = [dataclasses.asdict(a) for a in issue.articles + issue.more]
    render_issue(issue, make_settings())
    assert [dataclasses.asdict(a) for a in issue.articles + issue.more] == before


def test_header_without_number_and_with_logo():
    """No issue number: no "Issue" label; a configured https logo shows with numeric width and the site as alt."""
    s = make_settings(site={"logo": "https://news.example.com/logo.png"})
    r = render_issue(make_issue(1, number=None), s)
    assert "Issue " not in r.html and "Issue " not in r.text
    logo = _imgs(r.html)[0]
    assert (
        logo["src"] == "https://news.example.com/logo.png" and logo["width"] == "160"
        and logo["alt"] == "Newsroom Digest"
    )


def _build(issue, settings):
    from digest.pipeline.build import BuildResult

    return BuildResult(issue, [], [])


def _counting_renders(monkeypatch) -> list[int]:
    """Count the renderer's calls made by the pipeline (the cache itself never renders)."""
    import digest.render.issue as render_module  # the pipeline loads the renderer from here on a cache miss

    calls: list[int] = []
    original = render_module.render_issue
    monkeypatch.setattr(render_module, "render_issue", lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


def test_rebuilding_an_unchanged_issue_reuses_the_render_and_an_edit_does_not(tmp_path, monkeypatch):
    """A second render of the same issue comes from the cache, identical, with the same articles moved
    to "More this week"; a changed TL;DR renders anew."""
    from digest.pipeline.build import render

    s = make_settings(tmp_path, render={"max_bytes": 40_000})
    s.state = str(tmp_path / "state.sqlite")
    calls = _counting_renders(monkeypatch)
    first_result = _build(make_issue(30), s)
    first = render(first_result, s)
    again_result = _build(make_issue(30), s)
    again = render(again_result, s)
    assert again == first and calls == [1]
    assert first.shown is not None and 0 < first.shown < 30, "the size limit should move some articles"
    assert again_result.issue == first_result.issue and len(again_result.issue.articles) == first.shown
    changed = make_issue(30)
    changed.articles[0].tldr = "A different summary."
    render(_build(changed, s), s)
    assert calls == [1, 1]


def _leaf_settings(obj, prefix=""):
    """(dotted name, value) of every plain setting: str, int, float, bool or None."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _leaf_settings(value, f"{prefix}{f.name}.")
        elif value is None or isinstance(value, (str, int, float, bool)):
            yield f"{prefix}{f.name}", value


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 7
    return "https://changed.example.org/x" if value is None else value + "-changed"


def _with(settings, name, value):
    s = dataclasses.replace(settings)
    owner = s
    *parents, leaf = name.split(".")
    for part in parents:
        section = dataclasses.replace(getattr(owner, part))
        setattr(owner, part, section)
        owner = section
    setattr(owner, leaf, value)
    return s


def test_render_cache_ignores_settings_the_renderer_does_not_read(tmp_path, monkeypatch):
    """smtp.rate or mail.recipients changed: the cache hits; a render setting changed: it misses."""
    from digest.pipeline.build import render

    s = make_settings(tmp_path)
    s.state = str(tmp_path / "state.sqlite")
    calls = _counting_renders(monkeypatch)
    render(_build(make_issue(3), s), s)
    for name, value in [("smtp.rate", 5.0), ("mail.recipients", "readers.csv"), ("smtp.host", "relay.example.org"),
                        ("schedule.cron", "0 9 * * tue"), ("summary.tldr_max_chars", 100)]:
        render(_build(make_issue(3), s), _with(s, name, value))
        assert calls == [1], f"changing {name} rendered the issue again"
    for n, (name, value) in enumerate([("render.subject", "{site}: {count}"), ("site.title", "Other"),
                                       ("summary.key_figures_max", 1), ("mail.unsubscribe_url", "https://x.example/u")]):
        render(_build(make_issue(3), s), _with(s, name, value))
        assert len(calls) == n + 2, f"changing {name} served the cached issue"


def test_every_setting_the_render_cache_ignores_leaves_the_email_unchanged():
    """Each plain setting changed in turn: when `render_reads` does not change, the rendered bytes must not."""
    from digest.render.reads import render_reads

    s = make_settings()
    base = render_issue(make_issue(3), s)
    ignored = []
    for name, value in _leaf_settings(s):
        other = _with(s, name, _changed(value))
        try:
            same_key = render_reads(other) == render_reads(s)
        except Exception:  # noqa: BLE001 - a value the renderer cannot read (a bad zone): it is read
            continue
        if same_key:
            ignored.append(name)
            r = render_issue(make_issue(3), other)
            assert (r.subject, r.html, r.text) == (base.subject, base.html, base.text), (
                f"{name} changes the email but render_reads does not include it:"
                " the render cache would serve a stale issue"
            )
    assert "smtp.rate" in ignored and "mail.recipients" in ignored


def test_archive_counts_1_article_and_2_articles():
    """The archive page lists an issue of one article as `1 article`, of two as `2 articles`."""
    one = ArchivedIssue("2025-07-01_2025-07-08", "One", 1, None, None, None, ("A",), 1)
    two = ArchivedIssue("2025-07-08_2025-07-15", "Two", 2, None, None, None, ("B", "C"), 2)
    page, _feed = render_archive([two, one], make_settings())
    assert "· 1 article<" in page.replace("</span>", "<") and "· 2 articles<" in page.replace("</span>", "<")
