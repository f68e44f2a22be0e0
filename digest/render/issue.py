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
from dataclasses import dataclass, field, replace
from email.utils import parseaddr
from typing import Any

from mjml import mjml2html

from digest.config import Settings
from digest.errors import DigestError
from digest.models import Article, Issue, RenderedEmail
from digest.render import fit
from digest.render.i18n import FONT_STACK, format_day, format_range, issue_labels
from digest.render.inline import inline_css
from digest.render.templates import BlockWrap, environment, render_template
from digest.text import ELLIPSIS, cut, one_line

HTML_TEMPLATE = "issue.mjml.j2"
TEXT_TEMPLATE = "issue.txt.j2"
TITLE_MAX = 300
PREHEADER_MAX = 90


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
    if text.isascii():
        return len(text)
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


def _card(art: Article, settings: Settings, labels: dict[str, str]) -> Card:
    """An article's card, with its whole TL;DR."""
    title = cut(one_line(art.title), TITLE_MAX) or one_line(art.path) or "—"
    limit = max(settings.summary.key_figures_max, 0)
    figures = [figure_view(cut(one_line(f.value), 60), cut(one_line(f.context), 200)) for f in art.key_figures[:limit]]
    return Card(
        title=title,
        url=safe_url(art.url, settings.site.base_url),
        date=format_day(art.date, settings.tz, settings.site.language),
        topics=[t for t in (cut(one_line(t), 40) for t in art.topics) if t],
        image=safe_url(art.image, schemes=("http", "https")) if art.image else None,
        image_alt=image_alt(art.front_matter),
        tldr=show_tldr(one_line(art.tldr)),
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
        self._tldrs: dict[tuple[int, int], str] = {}
        self._lines: dict[int, str] = {}  # each TL;DR as one line, cut in turn
        site = settings.site
        self.labels = issue_labels(site.language, issue.since, issue.until)
        self.env = environment(settings.path(settings.render.templates))
        self.builtin = not (settings.path(settings.render.templates) / HTML_TEMPLATE).is_file()
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
        """An article's card, made once; with its TL;DR cut (shortening), a copy of it with that TL;DR."""
        key = (id(art), tldr_max)
        card = self._cards.get(key)
        if card is None:
            card = self._cards.get((id(art), None)) or _card(art, self.settings, self.labels)
            self._cards[id(art), None] = card
            if tldr_max is not None:
                card = self._cards[key] = replace(card, tldr=self.tldr(art, tldr_max))
        return card

    def tldr(self, art: Article, tldr_max: int | None) -> str:
        """The TL;DR a card shows, cut to `tldr_max` characters unless None."""
        if tldr_max is None:
            return self.card(art, None).tldr
        key = (id(art), tldr_max)
        if key not in self._tldrs:
            if id(art) not in self._lines:
                self._lines[id(art)] = one_line(art.tldr)
            self._tldrs[key] = show_tldr(cut(self._lines[id(art)], tldr_max))
        return self._tldrs[key]

    def preheader(self, tldrs: list[str]) -> str:
        """The preview line: render.preheader, else the first TL;DR shown, else the dates."""
        first_tldr = next((t for t in tldrs if t), "")
        return cut(one_line(self.settings.render.preheader or first_tldr or self.date_range), PREHEADER_MAX)

    def context(self, shown: list[Article], more: list[Article], tldr_max: int | None) -> dict[str, Any]:
        s = self.settings
        cards = [self.card(a, tldr_max) for a in shown]
        more_cards = [self.card(a, None) for a in more]
        count = len(shown) + len(more)
        return {
            **self.base,
            "subject": subject_line(s, self.issue, self.date_range, count),
            "preheader": self.preheader([c.tldr for c in cards]),
            "groups": _groups(cards, s.render.group_by == "topic", self.labels["other"]),
            "more": more_cards,
            "updated": [self.card(a, None) for a in self.issue.updated],
        }

    def headings(self, shown: list[Article]) -> list[tuple[int, str]]:
        """Each group heading the issue shows, with the first of `shown` under it (grouping by topic)."""
        index = {id(self.card(a, None)): i for i, a in enumerate(shown)}
        by_topic = self.settings.render.group_by == "topic"
        groups = _groups([self.card(a, None) for a in shown], by_topic, self.labels["other"])
        return [(min(index[id(c)] for c in g.cards), g.name) for g in groups if g.name is not None and g.cards]

    def mjml(self, context: dict[str, Any], wraps: dict[str, BlockWrap] | None = None) -> str:
        return render_template(self.env, HTML_TEMPLATE, context, wraps)

    def compile(self, mjml: str) -> str:
        """MJML → HTML with digest's CSS inlined."""
        try:
            compiled = mjml2html(mjml, fonts={})  # fonts={}: no web-font <link> or @import
        except (ValueError, RuntimeError) as exc:
            raise DigestError(
                f"template {HTML_TEMPLATE}: the MJML it produced does not compile: {exc}",
                hint="check the tags of your override: every mj-* element closed, raw HTML inside mj-text",
            ) from None
        return finish_document(inline_css(compiled))

    def html(self, context: dict[str, Any]) -> str:
        return self.compile(self.mjml(context))

    def text(self, context: dict[str, Any]) -> str:
        return render_template(self.env, TEXT_TEMPLATE, context)


def render_issue(
    issue: Issue,
    settings: Settings,
    *,
    unsubscribe_url: str | None = None,
    recipient_name: str | None = None,
) -> RenderedEmail:
    """The email for `issue`: subject, inlined HTML, plain text, warnings, and how many articles fit.

    When the HTML would pass `render.max_bytes`, the TL;DRs are cut, then the oldest articles that
    do not fit are listed under labels["more"] ("More this week") (render/fit.py); `shown` says how
    many of `issue.articles` kept their card, so the pipeline can record what was sent
    (`issue_as_rendered`). `issue` itself is left as it was.
    """
    r = _Renderer(issue, settings, unsubscribe_url, recipient_name)
    limit = settings.render.max_bytes
    fitted = fit.fit_issue(r, limit)
    n, k, tldr_max = len(issue.articles), fitted.shown, fitted.tldr_max
    warnings = list(r.warnings)
    steps = [f"TL;DRs cut to {tldr_max} characters"] if tldr_max is not None else []
    if k < n:
        noun = "article" if n - k == 1 else "articles"
        steps.append(f"{n - k} {noun} moved to the “{r.labels['more']}” list")
    if steps:
        warnings.append(f"issue shortened to fit {limit} bytes: " + "; ".join(steps) + f" (it was {fitted.full} bytes)")
    size = fit.size_of(fitted.html)
    if size > limit:
        warnings.append(f"issue is {size} bytes, over render.max_bytes ({limit}), even shortened")
    return RenderedEmail(
        subject=fitted.context["subject"],
        html=fitted.html,
        text=r.text(fitted.context),
        warnings=tuple(warnings),
        shown=k,
    )
