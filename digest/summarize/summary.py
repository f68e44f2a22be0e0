"""An article's TL;DR and key figures, from its front matter and Markdown body (spec §4, §5)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from markdown_it.token import Token

from digest.config import SummarySettings
from digest.models import KeyFigure
from digest.summarize.figures import context_for, figure_value, is_key_figure, sentence_at
from digest.summarize.plaintext import MD, Block, inline_text, is_more_divider, parse, strip_templates, text_blocks
from digest.text import cut

_TLDR = re.compile(r"^(?:tl;dr|tldr|tl/dr)(?![A-Za-z0-9])\s*[:：]?\s*", re.I)
_SPACES = re.compile(r"\s+")


def summarize(body: str, front_matter: object, settings: SummarySettings) -> tuple[str, list[KeyFigure]]:
    """The TL;DR (plain text, cut to tldr_max_chars) and every key figure of one article.

    Never raises: an article with odd front matter or Markdown gets what can be read of it.
    """
    fm: Mapping[Any, Any] = front_matter if isinstance(front_matter, Mapping) else {}
    limit = getattr(settings, "tldr_max_chars", 280)
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 280
    units = getattr(settings, "figure_units", None)
    units = units if isinstance(units, (list, tuple)) else []
    # Each stage is guarded: a summary must never stop a build, and the article still goes out.
    try:
        markdown, inner_lines = strip_templates(body if isinstance(body, str) else "")
        tokens = parse(markdown)
        blocks = list(text_blocks(tokens, with_strong=True))
    except Exception:
        tokens, inner_lines, blocks = [], [], []
    try:
        tldr = cut(tldr_text(tokens, blocks, fm, inner_lines), limit, at="sentence")
    except Exception:
        tldr = ""
    try:
        figures = front_matter_figures(fm.get("key_figures"))
        if figures is None:
            figures = body_figures(blocks, units)
    except Exception:
        figures = []
    return tldr, figures


# --- TL;DR (§4) -------------------------------------------------------------------------------


def front_matter_text(value: Any) -> str:
    """A front matter string (tldr, summary, description) as plain text; '' for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    markdown, _ = strip_templates(str(value))
    try:
        # Inline parsing only: a summary that starts "1." or "#" is not a list or a heading.
        tokens = MD.parseInline(markdown)
    except Exception:
        return _SPACES.sub(" ", markdown).strip()
    return " ".join(inline_text(t.children) for t in tokens if t.type == "inline").strip()


def tldr_text(tokens: Sequence[Token], blocks: Sequence[Block], front_matter: Mapping[Any, Any],
              inner_lines: Sequence[tuple[int, int]] = ()) -> str:
    """The uncut TL;DR: the first of §4's five sources that gives any text."""
    return (
        front_matter_text(front_matter.get("tldr"))
        or body_tldr(tokens, blocks)
        or front_matter_text(front_matter.get("summary"))
        or front_matter_text(front_matter.get("description"))
        or before_more(tokens)
        or first_paragraph(blocks, inner_lines)
    )


def _block_text(tokens: Sequence[Token], start: int) -> str:
    """Text of the paragraph or blockquote that opens at or after `start`, skipping closings."""
    j = start
    while j < len(tokens) and tokens[j].nesting == -1:
        j += 1
    if j >= len(tokens):
        return ""
    if tokens[j].type == "paragraph_open" and j + 1 < len(tokens):
        return inline_text(tokens[j + 1].children)
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
    """A paragraph (or heading) starting TL;DR: its rest, else the block that follows it."""
    for block in blocks:
        if block.kind == "cell":
            continue
        match = _TLDR.match(block.plain)
        if not match:
            continue
        rest = block.plain[match.end():].strip()
        if rest and block.kind == "heading":
            continue  # a heading that merely mentions TL;DR
        return rest or _block_text(tokens, block.index + 2)
    return ""


def _is_prose(tokens: Sequence[Token], index: int) -> bool:
    return index > 0 and tokens[index - 1].type == "paragraph_open"


def before_more(tokens: Sequence[Token]) -> str:
    """The paragraphs before Hugo's `<!--more-->` divider, or '' when there is none."""
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


def first_paragraph(blocks: Sequence[Block], inner_lines: Sequence[tuple[int, int]] = ()) -> str:
    """The first paragraph with text, skipping headings, images, HTML, code and shortcodes."""
    for block in blocks:
        if block.kind != "paragraph" or not block.plain:
            continue
        if any(a <= block.line < b for a, b in inner_lines):
            continue  # inside a paired shortcode such as {{% note %}}
        return block.plain
    return ""


# --- Key figures (§5) -------------------------------------------------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return ""
    return _SPACES.sub(" ", str(value)).strip()


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


def body_figures(blocks: Sequence[Block], units: Sequence[object] = ()) -> list[KeyFigure]:
    """Every bold quantity of the body in document order, each value once, with its sentence."""
    figures: list[KeyFigure] = []
    seen: set[str] = set()
    for block in blocks:
        for span in block.strong:
            raw = block.text[span.start:span.end]
            value = figure_value(raw)
            if value in seen or not is_key_figure(value, units):
                continue
            seen.add(value)
            start = span.start + raw.index(value)  # value is raw, trimmed
            a, b = sentence_at(block.text, start, start + len(value))
            context = context_for(block.text[a:b], start - a, start - a + len(value))
            figures.append(KeyFigure(value, _SPACES.sub(" ", context)))
    return figures
