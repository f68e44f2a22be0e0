"""Fitting an issue to render.max_bytes by its measured bytes, instead of rendering it again and again.

An issue over the limit is shortened in turn: its TL;DRs are cut (TLDR_STEPS), then its oldest
cards move to the overflow list, one line each, as few as will do. Finding that cut by rendering
the whole issue for each try took five HTML passes for a week of 50 articles. Here one measuring
pass renders the issue with every card and, below the real overflow list, a list of every article
(one line each), each piece between HTML comments (marks); from the compiled HTML come the bytes of
each card, of each line and of the list's frame, and the size of the issue for any number of cards
and any TL;DR cut is a sum (`SizeModel`). The cut the sum chooses is then rendered for real; if its
bytes are the sum's to the byte, the sum is trusted for its neighbours too, else (a template whose
bytes do not add up like this) the cut is found by real renders from there (`search`).

The built-in template's blocks `articles`, `card`, `more` and `more_item` are what is measured; a
site's template that renders them differently, or not at all, is shortened by real renders only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jinja2.runtime import Context

from digest.models import Article, Issue
from digest.render.templates import Block, BlockWrap

ARTICLES, CARD, LIST, ITEM = "a", "c", "l", "i"
_MARK_HEAD = b"<!--digest-fit:"
_MARK_TEXT = re.compile(r"<!--digest-fit:/?[acli]-->")
# A mark is followed by the template's indentation, which mrml keeps after a comment (and drops
# between two elements): removed, so the pieces measure what they cost without the marks.
_SPACE_AFTER_MARK = re.compile(r"(<!--digest-fit:/?[acli]-->)\s+")
TLDR_STEPS = (160, 80)  # characters: how far TL;DRs are cut, in turn, when an issue is too big
STEPS: tuple[int | None, ...] = (None, *TLDR_STEPS)  # None: TL;DRs whole
TRY_MARGIN = 0.05  # search renders a TL;DR cut the sum puts this far (5 %) over the limit or less
# The built-in template's HTML is 1.92-2.10 times its MJML (digest's CSS inlined into every element),
# from 0 to 50 articles in Chinese and English: an issue whose MJML is under the limit by this factor
# is rendered as it is first; over it, it is measured at once.
HTML_PER_MJML = 1.9


def mark(kind: str, end: bool = False) -> str:
    """The HTML comment that opens (or ends) a measured piece: a card, a line, the list, the articles."""
    return f"<!--digest-fit:{'/' if end else ''}{kind}-->"


def text_bytes(text: str) -> int:
    """Bytes of `text` as a text node of the final HTML: css-inline (html5ever) writes `&`, `<`, `>` and the
    no-break space as entities, whatever entity Jinja2 used."""
    return (
        len(text.encode())
        + 4 * (text.count("&") + text.count("\u00a0"))
        + 3 * (text.count("<") + text.count(">"))
    )


class Measuring:
    """The block wrappers of the measuring pass, and the cards they saw, in the order rendered."""

    def __init__(self, listed: Sequence[Any]) -> None:
        self.listed = list(listed)  # the cards the measuring list shows, one line each
        self.cards: list[Any] = []
        self._listing = False

    def wraps(self) -> dict[str, BlockWrap]:
        return {"articles": self._articles, "card": self._card, "more": self._more, "more_item": self._item}

    # Each wrapper yields its block joined into one string: Jinja2 yields a string per tag and value,
    # and passing each through the wrappers' generators costs more than the join.
    def _articles(self, ctx: Context, block: Block) -> Iterator[str]:
        yield mark(ARTICLES) + "".join(block(ctx)) + mark(ARTICLES, end=True)

    def _card(self, ctx: Context, block: Block) -> Iterator[str]:
        self.cards.append(ctx.get("card"))
        yield mark(CARD) + "".join(block(ctx)) + mark(CARD, end=True)

    def _more(self, ctx: Context, block: Block) -> Iterator[str]:
        yield "".join(block(ctx))  # the issue's own overflow list, as it is
        self._listing = True
        yield mark(LIST) + "".join(block(ctx.derived({"more": self.listed}))) + mark(LIST, end=True)
        self._listing = False

    def _item(self, ctx: Context, block: Block) -> Iterator[str]:
        item = "".join(block(ctx))
        yield mark(ITEM) + item + mark(ITEM, end=True) if self._listing else item


def unmarked(mjml: str) -> str:
    """The measuring pass's MJML as the template renders it without measuring: no list, no marks."""
    start, end = mjml.find(mark(LIST)), mjml.find(mark(LIST, end=True))
    if start >= 0 and end > start:
        mjml = mjml[:start] + mjml[end + len(mark(LIST, end=True)) :]
    return _MARK_TEXT.sub("", mjml)


def for_measuring(mjml: str) -> str:
    return _SPACE_AFTER_MARK.sub(r"\1", mjml)


@dataclass(frozen=True)
class Measured:
    """What the measuring pass's compiled HTML says, in bytes."""

    full: int  # the issue as it is: without the marks and the measuring list
    cards: list[int]  # each card, in the order rendered
    items: list[int]  # each line of the measuring list
    frame: int  # the list around its lines: heading, <ul>, its table row
    headings: int  # the articles block less its cards: the group headings


def measure(html: bytes, cards: int, items: int) -> Measured | None:
    """Read the marks of the measuring pass; None when they are not as many, or not nested, as rendered."""
    spans: dict[str, list[tuple[int, int]]] = {ARTICLES: [], CARD: [], LIST: [], ITEM: []}
    opened: dict[str, tuple[int, int]] = {}  # kind → (where its open mark starts, where it ends)
    mark_bytes = dict.fromkeys(spans, 0)
    pieces = html.split(_MARK_HEAD)  # bytes.split finds the marks faster than a regular expression
    at = len(pieces[0])
    for piece in pieces[1:]:
        closing = piece[:1] == b"/"
        tail = 5 if closing else 4  # `/c-->` or `c-->`
        kind = chr(piece[tail - 4]) if len(piece) >= tail else ""
        if kind not in spans or piece[tail - 3 : tail] != b"-->":
            return None
        start, end = at, at + len(_MARK_HEAD) + tail
        at += len(_MARK_HEAD) + len(piece)
        mark_bytes[kind] += end - start
        if closing == (kind not in opened):  # a close without an open, or an open inside its own kind
            return None
        if closing:
            outer, inner = opened.pop(kind)
            spans[kind].append((start - inner, end - outer))  # (content, content with marks)
        else:
            opened[kind] = (start, end)
    if opened or len(spans[LIST]) != 1 or len(spans[CARD]) != cards or len(spans[ITEM]) != items:
        return None
    if len(spans[ARTICLES]) > 1:
        return None
    card_sizes = [content for content, _ in spans[CARD]]
    item_sizes = [content for content, _ in spans[ITEM]]
    (listed, list_outer), = spans[LIST]
    frame = listed - sum(item_sizes) - mark_bytes[ITEM]
    headings = 0
    for content, _ in spans[ARTICLES]:
        headings = content - sum(card_sizes) - mark_bytes[CARD]
    outside = mark_bytes[ARTICLES] + mark_bytes[CARD]  # the item marks are inside the list
    return Measured(len(html) - list_outer - outside, card_sizes, item_sizes, frame, headings)


class SizeModel:
    """The bytes of the issue showing its first `k` cards, TL;DRs cut to `step`, as a sum of measured pieces.

    Moving card i to the overflow list takes its card out and puts its line in (and the list's
    frame, when the issue had no list); cutting the TL;DRs of the cards kept takes their cut
    characters out; the preheader follows the first card kept; a group heading goes when the
    last of its cards does.
    """

    def __init__(
        self,
        measured: Measured,
        cards: Sequence[int],
        lines: Sequence[int],
        tldrs: Mapping[int | None, Sequence[int]],
        preheader: Callable[[int, int | None], int],
        headings: Sequence[tuple[int, int]],
        has_list: bool,
    ) -> None:
        """`cards`/`lines`: each article's card and line bytes (newest first); `tldrs`: each article's TL;DR
        bytes per cut (None: whole); `preheader(k, step)`: its bytes; `headings`: (first article under it,
        name bytes) of each group heading; `has_list`: the issue has an overflow list with every card shown."""
        n = len(cards)
        self.n, self.full, self.preheader, self.has_list = n, measured.full, preheader, has_list
        self.frame = measured.frame
        self._moved = [0] * (n + 1)  # moved[k]: bytes the cards k… cost over their lines
        for i in range(n - 1, -1, -1):
            self._moved[i] = self._moved[i + 1] + cards[i] - lines[i]
        self._cut: dict[int | None, list[int]] = {}
        whole = tldrs[None]
        for step, cut in tldrs.items():
            saved = [0] * (n + 1)  # saved[k]: bytes cutting the TL;DRs of the cards before k saves
            for i in range(n):
                saved[i + 1] = saved[i] + whole[i] - cut[i]
            self._cut[step] = saved
        # A heading costs the same markup around its name: the measured total, shared out.
        per_heading = (measured.headings - sum(b for _, b in headings)) // len(headings) if headings else 0
        self._headings = [(first, per_heading + name) for first, name in headings]
        self._preheader_full = preheader(n, None)

    def size(self, k: int, step: int | None) -> int:
        size = self.full - self._moved[k] - self._cut[step][k]
        if k < self.n and not self.has_list:
            size += self.frame
        size += self.preheader(k, step) - self._preheader_full
        return size - sum(b for first, b in self._headings if first >= k)


def choose(
    n: int, steps: Sequence[int | None], limit: int, size: Callable[[int, int | None], int]
) -> tuple[int, int | None]:
    """The rule, on any size: the first TL;DR cut with which every card fits, else at the last cut the most
    cards that fit (none, when not even the bare issue fits)."""
    for step in steps:
        if size(n, step) <= limit:
            return n, step
    step = steps[-1]
    return next((k for k in range(n - 1, -1, -1) if size(k, step) <= limit), 0), step


def search(
    n: int,
    steps: Sequence[int | None],
    limit: int,
    real: Callable[[int, int | None], int],
    guess: Callable[[int, int | None], int] | None,
) -> tuple[int, int | None]:
    """`choose` by real renders, when the sum was not exact: the cuts the sum puts well over the limit are
    not tried; the number of cards is stepped to from the sum's choice (else from the bytes per card)."""
    for step in steps:
        if guess is not None and guess(n, step) > limit * (1 + TRY_MARGIN):
            continue
        if real(n, step) <= limit:
            return n, step
    step = steps[-1]
    if n == 0:
        return 0, step
    if guess is not None:
        k = choose(n, steps, limit, guess)[0]
    else:
        empty = real(0, step)
        per_card = max((real(n, step) - empty) / max(n, 1), 1.0)
        k = max(0, min(n - 1, int((limit - empty) / per_card)))
    k = min(k, n - 1)
    if real(k, step) <= limit:
        while k + 1 < n and real(k + 1, step) <= limit:
            k += 1
    else:
        while k > 0 and real(k, step) > limit:
            k -= 1
    return k, step


# --- the issue: measure, choose, render the choice -------------------------------------------------


class Renderer(Protocol):
    """What fitting needs of render/issue.py's renderer."""

    issue: Issue
    builtin: bool  # the issue is rendered from the built-in template, whose blocks have no side effects

    def card(self, art: Article, tldr_max: int | None) -> Any: ...
    def tldr(self, art: Article, tldr_max: int | None) -> str: ...
    def preheader(self, tldrs: list[str]) -> str: ...
    def headings(self, shown: list[Article]) -> list[tuple[int, str]]: ...
    def context(self, shown: list[Article], more: list[Article], tldr_max: int | None) -> dict[str, Any]: ...
    def mjml(self, context: dict[str, Any], wraps: dict[str, BlockWrap] | None = None) -> str: ...
    def compile(self, mjml: str) -> str: ...


def size_of(html: str) -> int:
    return len(html.encode("utf-8"))


@dataclass(frozen=True)
class Fitted:
    shown: int  # how many of the issue's articles keep their card
    tldr_max: int | None  # how far the TL;DRs are cut (None: whole)
    context: dict[str, Any]
    html: str
    full: int  # bytes of the issue as it was, every card shown with its whole TL;DR


class _Layouts:
    """The issue with its first k cards shown and TL;DRs cut to a step: contexts, and HTML rendered at most once."""

    def __init__(self, r: Renderer) -> None:
        self.r, self.shown = r, list(r.issue.articles)
        self._html: dict[tuple[int, int | None], str] = {}

    def context(self, k: int, tldr_max: int | None) -> dict[str, Any]:
        return self.r.context(self.shown[:k], self.shown[k:] + list(self.r.issue.more), tldr_max)

    def keep(self, k: int, tldr_max: int | None, html: str) -> int:
        self._html[k, tldr_max] = html
        return size_of(html)

    def size(self, k: int, tldr_max: int | None) -> int:
        """Bytes of the real render (made once)."""
        if (k, tldr_max) not in self._html:
            self._html[k, tldr_max] = self.r.compile(self.r.mjml(self.context(k, tldr_max)))
        return size_of(self._html[k, tldr_max])

    def html(self, k: int, tldr_max: int | None) -> str:
        self.size(k, tldr_max)
        return self._html[k, tldr_max]


def fit_issue(r: Renderer, limit: int) -> Fitted:
    """The issue as it fits in `limit` bytes. The HTML returned is always a render of the layout chosen
    (with the built-in template, the measuring pass less its marks and list is that render, byte for byte)."""
    layouts = _Layouts(r)
    shown, n = layouts.shown, len(layouts.shown)
    context = layouts.context(n, None)
    measuring = Measuring([r.card(a, None) for a in shown])
    # The built-in template's blocks render the same however often they run: one Jinja2 pass gives the
    # issue and its measuring pass. A site's template is rendered as it is, and measured only if need be.
    marked = r.mjml(context, measuring.wraps()) if r.builtin and n else None
    plain = unmarked(marked) if marked is not None else r.mjml(context)
    full: int | None = None
    if size_of(plain) * HTML_PER_MJML <= limit or not n:  # likely to fit: try it as it is
        full = layouts.keep(n, None, r.compile(plain))
        if full <= limit:
            return Fitted(n, None, context, layouts.html(n, None), full)
    model = None
    if n:  # the measuring pass is never sent
        marked = marked if marked is not None else r.mjml(context, measuring.wraps())
        model = _model(r, shown, measuring, r.compile(for_measuring(marked)))
    if model is not None:
        k, tldr_max = choose(n, STEPS, limit, model.size)
    if model is None or layouts.size(k, tldr_max) != model.size(k, tldr_max):  # the sum is trusted when exact
        k, tldr_max = search(n, STEPS, limit, layouts.size, model.size if model else None)
    if full is None:
        full = model.full if model else layouts.size(n, None)
    return Fitted(k, tldr_max, layouts.context(k, tldr_max), layouts.html(k, tldr_max), full)


def _model(r: Renderer, shown: list[Article], measuring: Measuring, html: str) -> SizeModel | None:
    """The sum of measured pieces that gives the issue's bytes for any cut (None: the marks did not add up)."""
    n = len(shown)
    measured = measure(html.encode(), len(measuring.cards), n)
    order = {id(r.card(a, None)): i for i, a in enumerate(shown)}
    if measured is None or sorted(order.get(id(c), -1) for c in measuring.cards) != list(range(n)):
        return None
    cards = [0] * n
    for card, size in zip(measuring.cards, measured.cards, strict=True):
        cards[order[id(card)]] = size
    tldrs = {step: [text_bytes(r.tldr(a, step)) for a in shown] for step in STEPS}
    headings = [(first, text_bytes(name)) for first, name in r.headings(shown)]
    first = next((i for i, a in enumerate(shown) if r.tldr(a, None)), n)  # the preheader's TL;DR, if any

    def preheader(k: int, step: int | None) -> int:
        return text_bytes(r.preheader([r.tldr(shown[first], step)] if first < k else []))

    return SizeModel(measured, cards, measured.items, tldrs, preheader, headings, has_list=bool(r.issue.more))
