"""Issue → email: Jinja2 renders MJML, mjml-python compiles it, digest's CSS is inlined; a second template: the text.

Everything taken from an article is untrusted: titles become one line of at most 300
characters, only http(s) and mailto URLs become links, and Jinja2 escapes the rest. When the
HTML would pass `render.max_bytes` (Gmail clips past ~102 KB), the issue is shortened, TL;DRs
first, then the oldest articles move to the overflow list ("More this week", or "More in this
issue" when the issue spans more than a week), and a warning says so.
"""

from __future__ import annotations

import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from mjml import mjml2html

from digest.config import Settings
from digest.errors import DigestError
from digest.models import Article, Issue, RenderedEmail
from digest.render.i18n import FONT_STACK, format_day, format_range, issue_labels
from digest.render.inline import inline_css
from digest.render.templates import environment, render_template
from digest.text import ELLIPSIS, cut, one_line

HTML_TEMPLATE = "issue.mjml.j2"
TEXT_TEMPLATE = "issue.txt.j2"
TITLE_MAX = 300
PREHEADER_MAX = 90
TLDR_STEPS = (160, 80)  # characters: how far TL;DRs are cut, in turn, when an issue is too big
# The modules whose code decides the rendered bytes: a render cache stamps them.


# A run of a key-figure value (between its spaces) of up to this many columns (a CJK character
# counts two) is kept on one line: about the width of the narrowest phone (320 px) in bold 16 px.
# A longer run may break, as anything that would not fit on a line at all has to.
FIGURE_RUN_MAX = 24


@dataclass(frozen=True)
class Figure:
    """A key figure as a card shows it: `runs` are the value's parts between its spaces, each with
    whether it is kept on one line, so a value only ever breaks at its own spaces."""

    value: str
    context: str
    runs: tuple[tuple[str, bool], ...]


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def figure_view(value: str, context: str) -> Figure:
    runs = tuple((run, _columns(run) <= FIGURE_RUN_MAX) for run in value.split(" ") if run)
    return Figure(value, context, runs)


@dataclass
class Card:
    """One article as the templates see it: every field cleaned and safe to show."""

    title: str
    url: str | None
    date: str
    topics: list[str]
    image: str | None
    image_alt: str  # "" unless the front matter gives one: the image is decorative, the title follows it
    tldr: str
    figures: list[Figure]  # cut to fit a card
    read_label: str


@dataclass
class Group:
    name: str | None
    cards: list[Card] = field(default_factory=list)


def safe_url(
    value: object, base_url: str | None = None, *, schemes: tuple[str, ...] = ("http", "https", "mailto")
) -> str | None:
    """`value` as an absolute http(s) or mailto URL, or None when it cannot be one (javascript:, data:, …)."""
    if not isinstance(value, str):
        return None
    url = one_line(value).replace(" ", "%20")
    if not url:
        return None
    if base_url and url.startswith("/") and not url.startswith("//"):
        url = urllib.parse.urljoin(base_url, url)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        return None
    if scheme in ("http", "https") and not parts.netloc:
        return None
    if scheme == "mailto" and not parts.path:
        return None
    return url


def image_alt(front_matter: dict[str, Any]) -> str:
    """The featured image's alt text: `alt` beside the image in the field it came from (`image: {path, alt}`
    as jekyll-seo-tag writes it, `cover: {image, alt}` as Hugo themes do), else "": the image is
    decorative, and with images blocked an alt that repeats the title would show the title twice."""
    cover = front_matter.get("cover")
    for name in ("featured_image", "image", "cover", "images"):
        value = front_matter.get(name)
        if name == "cover" and isinstance(cover, dict):
            value = cover.get("image")
        if not value:
            continue
        holder = cover if name == "cover" else value
        alt = holder.get("alt") if isinstance(holder, dict) else None
        return cut(one_line(alt), TITLE_MAX) if isinstance(alt, str) else ""
    return ""


def show_tldr(tldr: str) -> str:
    """A TL;DR as a card shows it: one cut after a full sentence (`evening.…`) gets a space before its `…`.

    The summary keeps spec §4's `…` right after the sentence end; in an email `.…` reads as a typo,
    so the ellipsis stands apart as after any complete sentence (`evening. …`), on the same line.
    """
    if len(tldr) >= 2 and tldr.endswith(ELLIPSIS) and tldr[-2] in ".!?":
        return tldr[:-1] + "\u00a0" + ELLIPSIS
    return tldr


def _card(art: Article, settings: Settings, labels: dict[str, str], tldr_max: int | None) -> Card:
    title = cut(one_line(art.title), TITLE_MAX) or one_line(art.path) or "—"
    tldr = one_line(art.tldr)
    if tldr_max is not None:
        tldr = cut(tldr, tldr_max)
    tldr = show_tldr(tldr)
    limit = max(settings.summary.key_figures_max, 0)
    figures = [figure_view(cut(one_line(f.value), 60), cut(one_line(f.context), 200)) for f in art.key_figures[:limit]]
    return Card(
        title=title,
        url=safe_url(art.url, settings.site.base_url),
        date=format_day(art.date, settings.tz, settings.site.language),
        topics=[t for t in (cut(one_line(t), 40) for t in art.topics) if t],
        image=safe_url(art.image, schemes=("http", "https")) if art.image else None,
        image_alt=image_alt(art.front_matter),
        tldr=tldr,
        figures=[f for f in figures if f.value],
        read_label=labels["read"].format(title=cut(title, 80)),
    )


def _groups(cards: list[Card], by_topic: bool, other: str) -> list[Group]:
    if not by_topic:
        return [Group(None, cards)]
    groups: dict[str, Group] = {}
    rest = Group(other)
    for card in cards:
        if card.topics:
            groups.setdefault(card.topics[0].casefold(), Group(card.topics[0])).cards.append(card)
        else:
            rest.cards.append(card)
    return list(groups.values()) + ([rest] if rest.cards else [])


def unsubscribe_link(settings: Settings, given: str | None) -> tuple[str, list[str]]:
    """The unsubscribe URL to show, and a warning when none is configured."""
    for candidate in (given, settings.mail.unsubscribe_url):
        url = safe_url(candidate) if candidate else None
        if url:
            return url, []
    mailto = settings.mail.unsubscribe_mailto
    if mailto:
        address = one_line(mailto).removeprefix("mailto:")
        return "mailto:" + urllib.parse.quote(address, safe="@.+-_?=&%"), []
    sender = parseaddr(settings.smtp.sender)[1] or "digest@localhost"
    return (
        "mailto:" + urllib.parse.quote(sender, safe="@.+-_") + "?subject=unsubscribe",
        ["no unsubscribe address configured (mail.unsubscribe_url or mail.unsubscribe_mailto): "
         f"the footer asks readers to write to {sender}"],
    )


def subject_line(settings: Settings, issue: Issue, date_range: str, count: int) -> str:
    """`render.subject` filled in, as one line: nothing that goes in can start a new header line."""
    site = one_line(settings.site.title)
    fields = {
        "site": site,
        "number": "" if issue.number is None else one_line(issue.number),
        "date_range": one_line(date_range),
        "count": count,
        # The lead story, as many newsletters put it in the subject; cut so the subject stays short.
        "title": cut(one_line(issue.articles[0].title), 100, at="char") if issue.articles else "",
    }
    try:
        subject = settings.render.subject.format(**fields)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise DigestError(
            f"config key 'render.subject': cannot fill in {settings.render.subject!r} ({exc})",
            hint="use only {site}, {number}, {date_range}, {count} and {title}",
        ) from None
    return one_line(subject) or site


def finish_document(html: str) -> str:
    """What neither MJML nor the inliner gives: an upper-case doctype first and `<meta charset>`."""
    start = html.find("<html")
    html = "<!DOCTYPE html>" + (html[start:] if start >= 0 else html)
    return html.replace("<head>", '<head><meta charset="utf-8">', 1)


class _Renderer:
    """One render_issue call: the context that does not change while the issue is shortened."""

    def __init__(
        self, issue: Issue, settings: Settings, unsubscribe_url: str | None, recipient_name: str | None = None
    ) -> None:
        self.issue = issue
        self.settings = settings
        self._cards: dict[tuple[int, int | None], Card] = {}
        site = settings.site
        self.labels = issue_labels(site.language, issue.since, issue.until)
        self.env = environment(settings.path(settings.render.templates))
        self.date_range = format_range(issue.since, issue.until, settings.tz, site.language)
        self.unsubscribe, self.warnings = unsubscribe_link(settings, unsubscribe_url)
        archive = safe_url(site.archive_url, schemes=("http", "https")) if site.archive_url else None
        browser = f"{archive.rstrip('/')}/{urllib.parse.quote(issue.issue_id)}.html" if archive else None
        note = issue.note if issue.note is not None else settings.render.note
        paragraphs = [one_line(p) for p in (note or "").replace("\r\n", "\n").split("\n\n")]
        self.base = {
            "lang": one_line(site.language) or "en",
            "labels": self.labels,
            "site": {
                "title": one_line(site.title),
                "url": safe_url(site.base_url, schemes=("http", "https")),
                "logo": safe_url(site.logo, schemes=("http", "https")) if site.logo else None,
                "postal_address": one_line(site.postal_address),
            },
            "number": issue.number,
            "date_range": self.date_range,
            "note": [p for p in paragraphs if p],
            "unsubscribe_url": self.unsubscribe,
            "browser_url": browser,
            "font_stack": FONT_STACK,
            "recipient_name": one_line(recipient_name) if recipient_name else None,
        }

    def card(self, art: Article, tldr_max: int | None) -> Card:
        """An article's card, made once per TL;DR length: shortening an issue re-renders it several times."""
        key = (id(art), tldr_max)
        if key not in self._cards:
            self._cards[key] = _card(art, self.settings, self.labels, tldr_max)
        return self._cards[key]

    def context(self, shown: list[Article], more: list[Article], tldr_max: int | None) -> dict[str, Any]:
        s = self.settings
        cards = [self.card(a, tldr_max) for a in shown]
        more_cards = [self.card(a, None) for a in more]
        count = len(shown) + len(more)
        first_tldr = next((c.tldr for c in cards if c.tldr), "")
        preheader = cut(one_line(s.render.preheader or first_tldr or self.date_range), PREHEADER_MAX)
        return {
            **self.base,
            "subject": subject_line(s, self.issue, self.date_range, count),
            "preheader": preheader,
            "groups": _groups(cards, s.render.group_by == "topic", self.labels["other"]),
            "more": more_cards,
            "updated": [self.card(a, None) for a in self.issue.updated],
        }

    def html(self, context: dict[str, Any]) -> str:
        mjml = render_template(self.env, HTML_TEMPLATE, context)
        try:
            compiled = mjml2html(mjml, fonts={})  # fonts={}: no web-font <link> or @import
        except (ValueError, RuntimeError) as exc:
            raise DigestError(
                f"template {HTML_TEMPLATE}: the MJML it produced does not compile: {exc}",
                hint="check the tags of your override: every mj-* element closed, raw HTML inside mj-text",
            ) from None
        return finish_document(inline_css(compiled))

    def text(self, context: dict[str, Any]) -> str:
        return render_template(self.env, TEXT_TEMPLATE, context)


def _size(html: str) -> int:
    return len(html.encode("utf-8"))


def render_issue(
    issue: Issue,
    settings: Settings,
    *,
    unsubscribe_url: str | None = None,
    recipient_name: str | None = None,
) -> RenderedEmail:
    """The email for `issue`: subject, inlined HTML, plain text, warnings, and how many articles fit.

    When the HTML would pass `render.max_bytes`, the oldest articles that do not fit are listed
    under labels["more"] ("More this week"); `shown` says how many of `issue.articles` kept their card, so the
    pipeline can record what was sent (`issue_as_rendered`). `issue` itself is left as it was.
    """
    r = _Renderer(issue, settings, unsubscribe_url, recipient_name)
    limit = settings.render.max_bytes
    shown, more = list(issue.articles), list(issue.more)
    tldr_max: int | None = None
    context = r.context(shown, more, tldr_max)
    html = r.html(context)
    full_size = _size(html)
    steps: list[str] = []
    for i, step in enumerate(TLDR_STEPS):
        if _size(html) <= limit:
            break
        last = i == len(TLDR_STEPS) - 1
        if not last and full_size - _tldr_bytes_saved(shown, step) > limit:
            continue  # this cut cannot be enough: skip a render that would only confirm it
        cut_changes = any(r.card(a, step).tldr != r.card(a, tldr_max).tldr for a in shown)
        tldr_max = step
        if cut_changes:  # else the context, and so the HTML, is the one just rendered: skip the pass
            context = r.context(shown, more, tldr_max)
            html = r.html(context)
        steps[:] = [f"TL;DRs cut to {step} characters"]
    if _size(html) > limit and shown:
        shown, moved, context, html = _fit_articles(r, shown, more, tldr_max, limit, html)
        if moved:
            noun = "article" if len(moved) == 1 else "articles"
            steps.append(f"{len(moved)} {noun} moved to the “{r.labels['more']}” list")
    warnings = list(r.warnings)
    if steps:
        warnings.append(f"issue shortened to fit {limit} bytes: " + "; ".join(steps) + f" (it was {full_size} bytes)")
    if _size(html) > limit:
        warnings.append(f"issue is {_size(html)} bytes, over render.max_bytes ({limit}), even shortened")
    return RenderedEmail(
        subject=context["subject"],
        html=html,
        text=r.text(context),
        warnings=tuple(warnings),
        shown=len(shown),
    )


def _tldr_bytes_saved(articles: list[Article], step: int) -> int:
    """About how many bytes cutting every TL;DR to `step` characters saves (escaping aside)."""
    return sum(max(0, len(a.tldr.encode()) - len(cut(a.tldr, step).encode())) for a in articles)


def _fit_articles(
    r: _Renderer, shown: list[Article], more: list[Article], tldr_max: int | None, limit: int, html: str
) -> tuple[list[Article], list[Article], dict[str, Any], str]:
    """Keep the most cards that fit: estimate from the bytes per card, then step to the exact count."""
    n = len(shown)
    empty_ctx = r.context([], shown + more, tldr_max)
    empty_size = _size(r.html(empty_ctx))
    per_card = max((_size(html) - empty_size) / n, 1.0)
    keep = max(0, min(n - 1, int((limit - empty_size) / per_card)))
    best: tuple[int, dict[str, Any], str] | None = None
    tried: dict[int, bool] = {}
    while True:
        ctx = r.context(shown[:keep], shown[keep:] + more, tldr_max) if keep else empty_ctx
        page = r.html(ctx) if keep else r.html(empty_ctx)
        fits = _size(page) <= limit
        tried[keep] = fits
        if fits:
            best = (keep, ctx, page)
            if keep + 1 >= n or tried.get(keep + 1) is False:
                break
            keep += 1
        else:
            if keep == 0 or tried.get(keep - 1) is True:
                break
            keep -= 1
    if best is None:  # not even the bare issue fits: send it as small as it gets, with a warning
        best = (0, empty_ctx, r.html(empty_ctx))
    keep, ctx, page = best
    return shown[:keep], shown[keep:], ctx, page

