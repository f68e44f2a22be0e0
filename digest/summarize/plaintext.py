"""Markdown body → plain-text blocks, read from markdown-it tokens (spec §4, §5).

Template syntax is cut out of the raw text first, as Hugo or Jekyll would have replaced it
before Markdown ever saw it. Everything after that works on tokens, never on raw Markdown,
so emphasis inside code, HTML blocks, footnote definitions or escaped `\\*\\*` is never read
as strong emphasis.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from markdown_it.token import Token

from digest.summarize.parsing import MD

# Hugo's escaped shortcodes `{{</* x */>}}`, shortcodes, Liquid tags `{% %}` and outputs `{{ }}`.
_TEMPLATE = re.compile(
    r"\{\{<\s*/\*.*?\*/\s*>\}\}"
    r"|\{\{%\s*/\*.*?\*/\s*%\}\}"
    r"|\{\{<(?P<hugo_a>.*?)>\}\}"
    r"|\{\{%(?P<hugo_p>.*?)%\}\}"
    r"|\{%-?(?P<liquid>[^`]*?)-?%\}"
    r"|\{\{[^`]*?\}\}",
    re.S,
)
# Paired shortcodes and Liquid blocks whose inner content is code or never output: dropped whole.
# Any other pair (notes, details, admonitions) keeps its inner text, as the page shows it.
_DROP_INNER = frozenset(
    {
        "highlight", "hl", "code", "code-toggle", "codeblock", "code-block", "mermaid", "math",
        "katex", "chart", "rawhtml", "html", "datatable", "qr", "gist", "comment", "capture",
        "asciinema", "svg", "plantuml",
    }
)
# A template in a link's target position (`](`, or `[label]: ` of a reference definition):
# it gets a stand-in target, so the link still parses and keeps its text.
_LINK_TARGET = re.compile(r"(?:\]\(\s*|^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*)$", re.M)
_STRONG_OPEN, _STRONG_CLOSE = "\ue000", "\ue001"  # private-use marks for strong spans in block text
_SPACES = re.compile(r"\s+")
_MARKS = re.compile(f"([{_STRONG_OPEN}{_STRONG_CLOSE}])")
# Template delimiters left unpaired (`{{` and `}}` in separate code spans) are still not text.
_LONE_DELIMITER = re.compile(r"\{\{|\}\}|\{%|%\}")
_MORE = re.compile(r"^\s*<!--\s*more\s*-->\s*$", re.I)
_BR = re.compile(r"^<br\s*/?>$", re.I)
# GitHub-style alert markers (`> [!NOTE]`), which Hugo renders as a styled title, not text.
_ALERT = re.compile(r"^\[!(?:note|tip|important|warning|caution)\][+-]?\s*", re.I)


@dataclass(frozen=True)
class _Tag:
    start: int
    end: int
    name: str
    closing: bool
    hugo: bool = False


def _tag(match: re.Match[str]) -> _Tag:
    """Name and direction of one template match; outputs and self-closing tags get no name."""
    hugo = match.group("hugo_a") if match.group("hugo_a") is not None else match.group("hugo_p")
    liquid = match.group("liquid")
    inner = (hugo if hugo is not None else liquid or "").strip()
    if (hugo is None and liquid is None) or (hugo is not None and inner.endswith("/")):
        return _Tag(match.start(), match.end(), "", False)
    words = inner.split()
    name = words[0].lower() if words else ""
    if hugo is not None:
        closing = name.startswith("/")
        name = name.lstrip("/")
    else:
        closing = name.startswith("end")
        name = name[3:] if closing else name
    return _Tag(match.start(), match.end(), name, closing, hugo is not None)


def _blank(text: str) -> str:
    """What removed template text leaves behind: its line breaks, so line numbers still match."""
    return "\n" * text.count("\n")


def strip_templates(markdown: str) -> tuple[str, list[tuple[int, int]]]:
    """Remove shortcodes and Liquid; return the text and the line ranges inside kept pairs.

    Those ranges are content of paired shortcodes such as `{{% note %}}`: kept as text, but
    never taken as the article's first paragraph.
    """
    if "{{" not in markdown and "{%" not in markdown:
        return markdown, []
    tags = [_tag(m) for m in _TEMPLATE.finditer(markdown)]
    if not tags:
        return markdown, []
    # Pair each opening tag with its nearest later closing tag of the same name.
    partner: dict[int, int] = {}
    open_stack: dict[str, list[int]] = {}
    for i, tag in enumerate(tags):
        if not tag.name:
            continue
        if tag.closing:
            stack = open_stack.get(tag.name)
            if stack:
                partner[stack.pop()] = i
        else:
            open_stack.setdefault(tag.name, []).append(i)
    out: list[str] = []
    inner_lines: list[tuple[int, int]] = []
    pos = 0
    for i, tag in enumerate(tags):
        if tag.start < pos:  # inside a dropped pair
            continue
        out.append(markdown[pos:tag.start])
        close = partner.get(i)
        if close is not None and tag.name in _DROP_INNER:
            end = tags[close].end
            out.append(_blank(markdown[tag.start:end]))
            pos = end
        else:
            out.append(_blank(markdown[tag.start:tag.end]))
            if _LINK_TARGET.search(markdown, max(0, tag.start - 200), tag.start):
                out.append("#")
            pos = tag.end
            if close is not None and tag.hugo:
                first = markdown.count("\n", 0, tag.start)
                line_start = markdown.rfind("\n", 0, tag.start) + 1
                if markdown[line_start:tag.start].strip():
                    first += 1  # text before the tag on its line is outside the pair
                inner_lines.append((first, markdown.count("\n", 0, tags[close].start) + 1))
    out.append(markdown[pos:])
    return "".join(out), inner_lines


def parse(markdown: str) -> list[Token]:
    """Block tokens of a Markdown text, or none when the parser gives up on it."""
    try:
        return MD.parse(markdown)
    except Exception:  # markdown-it should not fail, but a summary must never crash a build
        return []


@dataclass(frozen=True)
class Parsed:
    """A body read once: its block tokens and the line ranges inside kept shortcode pairs.

    What the summary (§4, §5) and the sentence fingerprints (§7) both read, so an article that is
    summarized and is a neighbour is parsed once. `ok` is False when the body could not be read.
    """

    tokens: list[Token]
    inner_lines: list[tuple[int, int]]
    ok: bool = True

    @cached_property
    def blocks(self) -> list[Block]:
        """`text_blocks(tokens, with_strong=True)`, made once for the summary and the fingerprints."""
        return list(text_blocks(self.tokens, with_strong=True))


def parse_body(body: object) -> Parsed:
    """A Markdown body (templates cut out) parsed into block tokens; never raises (anything but a str reads as '')."""
    try:
        markdown, inner_lines = strip_templates(body if isinstance(body, str) else "")
        return Parsed(parse(markdown), inner_lines)
    except Exception:  # a summary must never crash a build
        return Parsed([], [], ok=False)


def collapse(text: str) -> str:
    """Runs of whitespace as one space, the ends trimmed: `re.sub(r"\\s+", " ", text).strip()`, several
    times faster (str.split's whitespace is the regex's \\s)."""
    return " ".join(text.split())


def _inline_parts(children: Sequence[Token] | None, mark_strong: bool) -> tuple[list[str], bool]:
    """The pieces of an inline token's plain text, and whether strong marks are among them."""
    parts: list[str] = []
    marked = False
    depth = 0
    for tok in children or ():
        kind = tok.type
        if kind == "text" or kind == "code_inline":
            content = tok.content
            if _STRONG_OPEN in content or _STRONG_CLOSE in content:
                content = content.replace(_STRONG_OPEN, "").replace(_STRONG_CLOSE, "")
            if kind == "code_inline":
                content = content.replace("`", "")  # `` `x` `` shows x quoted: the quotes are markers
            parts.append(_LONE_DELIMITER.sub("", content) if "{" in content or "}" in content else content)
        elif kind == "softbreak" or kind == "hardbreak":
            parts.append(" ")
        elif kind == "strong_open":
            if mark_strong and depth == 0:
                parts.append(_STRONG_OPEN)
                marked = True
            depth += 1
        elif kind == "strong_close":
            depth = max(depth - 1, 0)
            if mark_strong and depth == 0:
                parts.append(_STRONG_CLOSE)
                marked = True
        elif kind == "html_inline" and _BR.match(tok.content.strip()):
            parts.append(" ")
        # Everything else is a marker (links, emphasis, images, HTML tags, footnote refs).
    return parts, marked


def inline_text(children: Sequence[Token] | None, mark_strong: bool = False) -> str:
    """Plain text of an inline token's children, whitespace collapsed.

    With mark_strong, the outermost strong spans are wrapped in private-use marks that
    `strong_spans` reads back.
    """
    parts, _ = _inline_parts(children, mark_strong)
    return collapse("".join(parts))


@dataclass
class StrongSpan:
    start: int
    end: int


@dataclass
class Block:
    """One block that holds inline text: a paragraph, heading or table cell."""

    kind: str  # "paragraph", "heading" or "cell"
    index: int  # of its inline token in the token list
    line: int  # first source line, -1 when unknown
    text: str = ""
    strong: list[StrongSpan] = field(default_factory=list)
    row: int = -1  # a cell's table row (its `tr_open` token index); -1 outside tables
    column: int = -1  # a cell's place in its row, from 0
    listed: bool = False  # a paragraph inside a list item
    unmarked: str | None = None  # the text read without strong marks, when that differs (`flat`)

    @property
    def plain(self) -> str:
        """The text with whitespace collapsed, for the TL;DR (strong offsets do not apply)."""
        return _SPACES.sub(" ", self.text) if "  " in self.text else self.text

    @property
    def flat(self) -> str:
        """The text as read without strong marks, whitespace collapsed: what §7 splits into sentences.

        Not always `plain`: marks stand between spaces that then are not collapsed, and a bold
        alert marker (`> **[!NOTE]**`) is only an alert marker without them.
        """
        return self.text if self.unmarked is None else self.unmarked


def strong_spans(marked: str) -> tuple[str, list[StrongSpan]]:
    """Remove the strong marks from a block's text; return it and where the spans were."""
    if _STRONG_OPEN not in marked:
        return marked.replace(_STRONG_CLOSE, ""), []
    text: list[str] = []
    spans: list[StrongSpan] = []
    start, n = -1, 0
    for piece in _MARKS.split(marked):
        if piece == _STRONG_OPEN:
            start = n
        elif piece == _STRONG_CLOSE:
            if start >= 0:
                spans.append(StrongSpan(start, n))
            start = -1
        else:
            text.append(piece)
            n += len(piece)
    return "".join(text), spans


_BLOCK_KINDS = {"paragraph_open": "paragraph", "heading_open": "heading", "th_open": "cell", "td_open": "cell"}


def text_blocks(tokens: Sequence[Token], with_strong: bool = False) -> Iterator[Block]:
    """Every paragraph, heading and table cell outside footnote definitions, in order."""
    in_footnotes = 0
    kind = ""
    line = -1
    quoted = False
    row, column, items = -1, -1, 0
    for i, tok in enumerate(tokens):
        t = tok.type
        if t in _BLOCK_KINDS:
            kind = _BLOCK_KINDS[t]
            line = tok.map[0] if tok.map else line
            quoted = i > 0 and tokens[i - 1].type == "blockquote_open"
            if kind == "cell":
                column += 1
        elif t == "footnote_block_open":
            in_footnotes += 1
        elif t == "footnote_block_close":
            in_footnotes = max(in_footnotes - 1, 0)
        elif t in ("list_item_open", "list_item_close"):
            items = max(items + tok.nesting, 0)
        elif t == "tr_open":
            row, column = i, -1
        elif t == "tr_close":
            row = -1
        elif t == "inline" and not in_footnotes and kind:
            parts, has_marks = _inline_parts(tok.children, with_strong)
            marked = collapse("".join(parts))
            unmarked = None
            if has_marks:  # the same text without the marks, as §7 reads it (`Block.flat`)
                unmarked = marked.replace(_STRONG_OPEN, "").replace(_STRONG_CLOSE, "")
                # Its only whitespace is single spaces, but a mark may have stood between two, or at an end.
                if "  " in unmarked or unmarked[:1] == " " or unmarked[-1:] == " ":
                    unmarked = collapse(unmarked)
                if quoted and unmarked.startswith("[!"):
                    unmarked = _ALERT.sub("", unmarked)
            if quoted and marked.startswith("[!"):
                marked = _ALERT.sub("", marked)
            text, spans = strong_spans(marked) if with_strong else (marked, [])
            # An empty strong span between spaces leaves two; the TL;DR reads `plain`.
            cell = kind == "cell"
            yield Block(kind, i, line, text, spans, row if cell else -1, column if cell else -1,
                        kind == "paragraph" and items > 0, unmarked)
            kind = ""


def is_more_divider(tok: Token) -> bool:
    """Hugo's summary divider `<!--more-->`, as an HTML block or inline."""
    return tok.type in ("html_block", "html_inline") and bool(_MORE.match(tok.content))
