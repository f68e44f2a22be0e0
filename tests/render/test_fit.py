"""Shortening by measured bytes (render/fit.py): the limit is kept, as many cards as fit are kept, and an
oversized issue costs two HTML passes (measure, then the cut chosen), not one per try."""

from __future__ import annotations

import dataclasses

import pytest
from issue_factory import make_article, make_issue, make_settings, make_week

from digest.models import Issue, KeyFigure
from digest.render import fit
from digest.render import issue as render_module
from digest.render.issue import _Renderer, render_issue
from digest.text import cut, one_line

STEPS = fit.STEPS


def _as_cut(issue: Issue, k: int, step: int | None) -> Issue:
    """The issue showing its first k cards, TL;DRs already cut to `step`: nothing left to shorten."""
    shown = issue.articles[:k]
    if step is not None:
        shown = [dataclasses.replace(a, tldr=cut(one_line(a.tldr), step)) for a in shown]
    return dataclasses.replace(issue, articles=shown, more=issue.articles[k:] + issue.more)


def _unlimited(settings):
    return dataclasses.replace(settings, render=dataclasses.replace(settings.render, max_bytes=10**9))


def _real(issue: Issue, settings, k: int, step: int | None) -> int:
    """Bytes of the issue cut so, rendered once as it is."""
    return len(render_issue(_as_cut(issue, k, step), _unlimited(settings)).html.encode())


def _expected(issue: Issue, settings, limit: int) -> tuple[int, int | None]:
    """The rule, by brute force: the first TL;DR cut that lets every card fit, else the most cards at the last."""
    n = len(issue.articles)
    for step in STEPS:
        if _real(issue, settings, n, step) <= limit:
            return n, step
    return next((k for k in range(n - 1, -1, -1) if _real(issue, settings, k, STEPS[-1]) <= limit), 0), STEPS[-1]


def _cut_of(rendered) -> int | None:
    for w in rendered.warnings:
        if "TL;DRs cut to " in w:
            return int(w.split("TL;DRs cut to ")[1].split()[0])
    return None


def _awkward_issue(n: int) -> Issue:
    """Articles whose text needs escaping (`&`, `<`), TL;DRs cut after a full stop (`.…` shown `. …`), and
    articles without a URL, an image, topics, figures or a TL;DR."""
    arts = [make_article(i) for i in range(n)]
    arts[0].tldr = "Tom & Jerry <b>won</b> the vote & left early. " * 5 + "Then evening.…"
    arts[1].title = "A & B <c> " + arts[1].title
    arts[2].url, arts[2].image, arts[2].topics, arts[2].key_figures = "", None, [], []
    arts[3].tldr = ""
    arts[4].key_figures = [KeyFigure("3 & 4 <x>", "ampersands & angles")]
    return dataclasses.replace(make_issue(0), articles=arts, more=[make_article(90), make_article(91)])


SCENARIOS = {
    "english_week": (lambda: make_week(12, language="en"), dict(language="en")),
    "chinese_week_by_topic": (lambda: make_week(12, language="zh-CN"), dict(language="zh-CN", group_by="topic")),
    "awkward_text_with_more_list": (lambda: _awkward_issue(12), dict(language="en")),
    "awkward_by_topic": (lambda: _awkward_issue(10), dict(language="zh-CN", group_by="topic")),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_sum_of_measured_pieces_is_exact_for_the_built_in_template(scenario):
    """For every number of cards and every TL;DR cut, the measured sum is the real render's size to the byte,
    so one measuring pass and one render of the cut chosen are enough."""
    make, options = SCENARIOS[scenario]
    issue = make()
    issue.updated = [make_article(80)]
    settings = make_settings(language=options["language"], render={"group_by": options.get("group_by", "none")})
    r = _Renderer(issue, settings, None)
    layouts = fit._Layouts(r)
    n = len(issue.articles)
    measuring = fit.Measuring([r.card(a, None) for a in issue.articles])
    marked = r.mjml(layouts.context(n, None), measuring.wraps())
    model = fit._model(r, layouts.shown, measuring, r.compile(fit.for_measuring(marked)))
    assert model is not None
    wrong = [(k, step) for step in STEPS for k in range(n + 1) if model.size(k, step) != layouts.size(k, step)]
    assert wrong == []


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_measuring_pass_less_its_marks_is_the_issue_as_rendered(scenario):
    """With the built-in template one Jinja2 pass serves both: the measuring MJML, its marks and list taken
    out, is byte for byte the MJML of a plain render."""
    make, options = SCENARIOS[scenario]
    issue = make()
    issue.updated, issue.note = [make_article(80)], "A note & more"
    settings = make_settings(language=options["language"], render={"group_by": options.get("group_by", "none")})
    r = _Renderer(issue, settings, None)
    assert r.builtin
    context = fit._Layouts(r).context(len(issue.articles), None)
    measuring = fit.Measuring([r.card(a, None) for a in issue.articles])
    marked = r.mjml(context, measuring.wraps())
    assert marked != r.mjml(context) and fit.unmarked(marked) == r.mjml(context)


def test_limits_at_the_edge_of_a_card_keep_the_limit_and_the_most_cards():
    """A limit one byte under, at and over the size of each of several cuts: the issue never passes the limit
    and keeps exactly the cards (and TL;DR cut) the rule gives, found by rendering every cut."""
    issue, settings = make_week(20, language="zh-CN"), make_settings(language="zh-CN")
    n = len(issue.articles)
    edges = [_real(issue, settings, n, None), _real(issue, settings, n, 160), _real(issue, settings, n, 80)]
    edges += [_real(issue, settings, k, 80) for k in (1, 7, 13, 19)]
    for edge in edges:
        for limit in (edge - 1, edge, edge + 1):
            s = make_settings(language="zh-CN", render={"max_bytes": limit})
            r = render_issue(make_week(20, language="zh-CN"), s)
            assert len(r.html.encode()) <= limit
            assert (r.shown, _cut_of(r)) == _expected(issue, settings, limit), f"limit {limit}"
            assert "digest-fit" not in r.html


def test_an_oversized_week_takes_two_html_passes_and_a_fitting_one_one(monkeypatch):
    """50 articles over the limit: MJML is compiled twice (measure, send); an issue that fits, once."""
    compiled: list[int] = []
    original = render_module.mjml2html
    monkeypatch.setattr(render_module, "mjml2html", lambda *a, **k: compiled.append(1) or original(*a, **k))
    r = render_issue(make_week(50, language="en"), make_settings(language="en"))
    assert r.shown is not None and r.shown < 50 and len(compiled) == 2
    compiled.clear()
    render_issue(make_week(8, language="en"), make_settings(language="en"))
    assert len(compiled) == 1


def test_the_warning_gives_the_real_size_of_the_whole_issue():
    """"(it was N bytes)": N is what the issue weighs rendered whole, though it was never sent whole."""
    settings = make_settings(language="en")
    r = render_issue(make_week(50, language="en"), settings)
    whole = render_issue(make_week(50, language="en"), _unlimited(settings))
    assert f"(it was {len(whole.html.encode())} bytes)" in r.warnings[-1]


TWICE = """{% extends "builtin/issue.mjml.j2" %}
{% block card %}{{ super() }}<mj-text css-class="dg-t"><p>{{ card.tldr }}</p></mj-text>{% endblock %}"""
NO_ITEM_BLOCK = """{% extends "builtin/issue.mjml.j2" %}
{% block more %}{% if more %}<mj-text css-class="dg-t"><ul class="dg-more">{% for c in more %}<li>{{ c.title }}</li>
{% endfor %}</ul></mj-text>{% endif %}{% endblock %}"""


@pytest.mark.parametrize("template", [TWICE, NO_ITEM_BLOCK], ids=["tldr_shown_twice", "more_without_items"])
def test_a_template_whose_bytes_do_not_add_up_is_fitted_by_real_renders(tmp_path, template):
    """A site template the sum cannot follow (a TL;DR shown twice, an overflow list without `more_item`):
    the cut is still the rule's, found by rendering, and the limit is kept."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "issue.mjml.j2").write_text(template, encoding="utf-8")
    issue, site = make_week(16, language="en"), make_settings(tmp_path)
    for limit in (_real(issue, site, 5, 80), _real(issue, site, 11, 80), 30_000):  # two at a card's very edge
        settings = make_settings(tmp_path, render={"max_bytes": limit})
        r = render_issue(make_week(16, language="en"), settings)
        assert len(r.html.encode()) <= limit and "digest-fit" not in r.html
        assert (r.shown, _cut_of(r)) == _expected(issue, settings, limit), f"limit {limit}"


def test_an_error_met_only_while_measuring_names_the_template_and_line(tmp_path):
    """A broken `more_item` is first rendered by the measuring pass (no article is in the list yet): the error
    still names the site's template and the line, as any template error does."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "issue.mjml.j2").write_text(
        '{% extends "builtin/issue.mjml.j2" %}\n\n{% block more_item %}{{ card.nope }}{% endblock %}', encoding="utf-8"
    )
    render_issue(make_week(3, language="en"), make_settings(tmp_path))  # fits: the list is never rendered
    with pytest.raises(render_module.DigestError, match=r"templates/issue\.mjml\.j2, line 3: .*nope"):
        render_issue(make_week(50, language="en"), make_settings(tmp_path))
