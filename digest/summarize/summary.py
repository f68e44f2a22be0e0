"""An article's TL;DR and key figures, from its front matter and Markdown body (spec §4, §5)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from markdown_it.token import Token

from digest.config import SummarySettings
from digest.models import KeyFigure
from digest.summarize.boilerplate import NO_BOILERPLATE, Boilerplate, front_matter_text, is_reading_time_line
from digest.summarize.figures import body_figures
from digest.summarize.plaintext import Block, Parsed, collapse, inline_text, is_more_divider, parse_body
from digest.text import cut

# The marker, then any run of `:` `：` `.` `-` `—` `–` and spaces (`**TL;DR.**`, `TL;DR —`).
_TLDR = re.compile(r"^(?:tl;dr|tldr|tl/dr)(?![A-Za-z0-9])[\s:：.\-—–]*", re.I)


def summarize(
    body: str | Parsed,
    front_matter: object,
    settings: SummarySettings,
    *,
    title: str | None = None,
    boilerplate: Boilerplate = NO_BOILERPLATE,
) -> tuple[str, list[KeyFigure]]:
    """The TL;DR (plain text, cut to tldr_max_chars) and every key figure of one article.

    `body` is the Markdown body, or the same already parsed (`parse_body`): the pipeline parses a
    body once for both the summary and the article's sentence fingerprints (§7).

    `title` (default: the front matter's) is never taken as the TL;DR; `boilerplate` is what
    the article's neighbours share (§7), made by the pipeline from their fingerprints: this
    function reads no other file. Never raises: an article with odd front matter or Markdown
    gets what can be read of it.
    """
    fm: Mapping[Any, Any] = front_matter if isinstance(front_matter, Mapping) else {}
    limit = getattr(settings, "tldr_max_chars", 280)
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 280
    units = getattr(settings, "figure_units", None)
    units = units if isinstance(units, (list, tuple)) else []
    # Each stage is guarded: a summary must never stop a build, and the article still goes out.
    parsed = body if isinstance(body, Parsed) else parse_body(body)
    try:
        tokens, inner_lines = parsed.tokens, parsed.inner_lines
        blocks = parsed.blocks
    except Exception:
        tokens, inner_lines, blocks = [], [], []
    try:
        if title is None:
            title = fm.get("title") if isinstance(fm.get("title"), str) else ""
        text = tldr_text(tokens, blocks, fm, inner_lines, title=title or "", boilerplate=boilerplate)
        tldr = cut(text, limit, at="sentence")
    except Exception:
        tldr = ""
    try:
        figures = front_matter_figures(fm.get("key_figures"))
        if figures is None:
            figures = body_figures(blocks, units, boilerplate.is_template_sentence if boilerplate.masks else None)
    except Exception:
        figures = []
    return tldr, figures


# --- TL;DR (§4) -------------------------------------------------------------------------------


def _title_key(text: str) -> str:
    """A text as the title test compares it: case-folded, without whitespace and punctuation."""
    return "".join(ch for ch in text.casefold() if not ch.isspace() and unicodedata.category(ch)[0] not in "PZ")


def _is_title(text: str, key: str) -> bool:
    """`_title_key(text) == key`, stopping at the first character that differs (most texts: the first)."""
    n = 0
    for ch in text.casefold():
        if ch.isspace() or unicodedata.category(ch)[0] in "PZ":
            continue
        if n == len(key) or ch != key[n]:
            return False
        n += 1
    return n == len(key)


@dataclass(frozen=True)
class _Judge:
    """§4's three kinds of text that are never a TL;DR: the title again, boilerplate, a reading-time line."""

    title: str = ""
    boilerplate: Boilerplate = NO_BOILERPLATE

    def accepts(self, text: str) -> bool:
        if not text.strip():
            return False
        if self.title and _is_title(text, self.title):
            return False
        return not is_reading_time_line(text) and not self.boilerplate.is_boilerplate_text(text)


def tldr_text(tokens: Sequence[Token], blocks: Sequence[Block], front_matter: Mapping[Any, Any],
              inner_lines: Sequence[tuple[int, int]] = (), *, title: str = "",
              boilerplate: Boilerplate = NO_BOILERPLATE) -> str:
    """The uncut TL;DR: the first text of §4's five sources that is not the title, boilerplate or a reading time."""
    judge = _Judge(_title_key(title), boilerplate)
    candidates = chain(
        (front_matter_text(front_matter.get("tldr")),),
        (body_tldr(tokens, blocks),),
        (front_matter_text(front_matter.get("summary")), front_matter_text(front_matter.get("description"))),
        (before_more(tokens),),
        paragraphs(tokens, blocks, inner_lines),
    )
    return next((text for text in candidates if judge.accepts(text)), "")


_LISTS = ("bullet_list_open", "ordered_list_open")
_ITEM_END = ".;。；"


def _list_items(tokens: Sequence[Token], start: int) -> list[str]:
    """The texts of the top-level items of the list that opens at `start`, each its inlines joined by a space."""
    items: list[str] = []
    level = 0
    for tok in tokens[start:]:
        level += tok.nesting
        if tok.type == "list_item_open" and level == 2:
            items.append("")
        elif tok.type == "inline" and items:
            text = inline_text(tok.children)
            if text:
                items[-1] = f"{items[-1]} {text}" if items[-1] else text
        if level == 0:
            break
    return [item for item in items if item]


def _next_open(tokens: Sequence[Token], start: int) -> int:
    """The index of the first opening (or standalone) token at or after `start`, skipping closings."""
    j = start
    while j < len(tokens) and tokens[j].nesting == -1:
        j += 1
    return j


def with_list(tokens: Sequence[Token], after: int, text: str) -> str:
    """A lead-in (a text ending `:` or `：`) followed by a list, at `after`: the lead-in, then its items.

    `Three things changed: A; B; C.`; after a `：` the items are joined by `；` and end with `。`.
    Any other text is returned as it is.
    """
    if not text.endswith((":", "：")):
        return text
    j = _next_open(tokens, after)
    if j >= len(tokens) or tokens[j].type not in _LISTS:
        return text
    items = [item.rstrip(_ITEM_END).rstrip() for item in _list_items(tokens, j)]
    items = [item for item in items if item]
    if not items:
        return text
    if text.endswith("："):
        return text + "；".join(items) + "。"
    return f"{text} " + "; ".join(items) + "."


def _block_text(tokens: Sequence[Token], start: int) -> str:
    """Text of the paragraph, blockquote or list that opens at or after `start`, skipping closings."""
    j = _next_open(tokens, start)
    if j >= len(tokens):
        return ""
    if tokens[j].type in _LISTS:
        return " ".join(_list_items(tokens, j))
    if tokens[j].type == "paragraph_open" and j + 1 < len(tokens):
        return with_list(tokens, j + 2, inline_text(tokens[j + 1].children))
    if tokens[j].type != "blockquote_open":
        return ""
    texts, level = [], 0
    for tok in tokens[j:]:
        level += tok.nesting
        if tok.type == "inline":
            texts.append(inline_text(tok.children))
        if level == 0:
            break
    return " ".join(t for t in texts if t)


def body_tldr(tokens: Sequence[Token], blocks: Sequence[Block]) -> str:
    """A paragraph (or a heading that is only `TL;DR`) starting TL;DR: its rest, else the block that follows it."""
    for block in blocks:
        if block.kind == "cell":
            continue
        match = _TLDR.match(block.plain)
        if not match:
            continue
        rest = block.plain[match.end():].strip()
        if rest and block.kind == "heading":
            continue  # a heading that merely mentions TL;DR
        # block.index is the inline token; +1 its closing, +2 what follows the block.
        return with_list(tokens, block.index + 2, rest) if rest else _block_text(tokens, block.index + 2)
    return ""


def _is_prose(tokens: Sequence[Token], index: int) -> bool:
    return index > 0 and tokens[index - 1].type == "paragraph_open"


def before_more(tokens: Sequence[Token]) -> str:
    """The paragraphs before Hugo's `<!--more-->` divider, or '' when there is none."""
    # The divider is an HTML block or inline HTML, whose text an inline token's holds: most bodies have none.
    if not any((tok.type == "html_block" or tok.type == "inline") and "<!--" in tok.content for tok in tokens):
        return ""
    texts: list[str] = []
    in_footnotes = False
    for i, tok in enumerate(tokens):
        if tok.type.startswith("footnote_block"):
            in_footnotes = tok.nesting == 1
        elif is_more_divider(tok):
            return " ".join(texts)
        elif tok.type == "inline" and not in_footnotes and _is_prose(tokens, i):
            children = tok.children or []
            cut = next((k for k, c in enumerate(children) if is_more_divider(c)), None)
            text = inline_text(children[:cut] if cut is not None else children)
            if text:
                texts.append(text)
            if cut is not None:
                return " ".join(texts)
    return ""


def is_label(block: Block) -> bool:
    """A label paragraph: all of its text is bold, brackets and punctuation aside (`[**编者按**]`)."""
    if not block.strong:
        return False
    outside, pos = [], 0
    for span in block.strong:
        outside.append(block.text[pos:span.start])
        pos = span.end
    outside.append(block.text[pos:])
    return all(ch.isspace() or unicodedata.category(ch)[0] in "PS" for ch in "".join(outside))


def paragraphs(tokens: Sequence[Token], blocks: Sequence[Block],
               inner_lines: Sequence[tuple[int, int]] = ()) -> Iterator[str]:
    """The paragraphs with text in order (source 5), skipping headings, images, HTML, code, shortcodes and labels.

    A paragraph that is a lead-in to a list comes with the list's items.
    """
    for block in blocks:
        if block.kind != "paragraph" or not block.plain:
            continue
        if any(a <= block.line < b for a, b in inner_lines):
            continue  # inside a paired shortcode such as {{% note %}}
        if is_label(block):
            continue
        yield with_list(tokens, block.index + 2, block.plain)


# --- Key figures (§5) -------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return collapse(str(value))


def front_matter_figures(value: Any) -> list[KeyFigure] | None:
    """Front matter `key_figures` as given, or None when there is no usable list."""
    if isinstance(value, (str, Mapping)):
        value = [value]
    if not isinstance(value, list):
        return None
    figures: list[KeyFigure] = []
    for item in value:
        if isinstance(item, Mapping):
            text = _scalar(item.get("value"))
            label = _scalar(item.get("label", item.get("context")))
        else:
            text, label = _scalar(item), ""
        if text:
            figures.append(KeyFigure(text, label))
    return figures
