"""The one Markdown parser of the summarizer: markdown-it, with the tokens it would make made faster.

Inline parsing is half of a parse, and most inline text is plain, or plain with `**bold**` runs
and line breaks (a key figure is a bold value). For those, the core `inline` rule here makes the
tokens markdown-it makes (tests/summarize/test_parsing.py compares both on the test corpora and
on random text); anything else goes through markdown-it's inline parser.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLink
from markdown_it.common.utils import isMdAsciiPunct, isPunctChar, isWhiteSpace
from markdown_it.rules_core.normalize import normalize
from markdown_it.rules_core.state_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

# One parser for the process: building one costs more than parsing a short article.
# Tables and strikethrough because Hugo (Goldmark) and Jekyll (kramdown) both have them.
MD = MarkdownIt("commonmark").use(footnote_plugin).enable(["table", "strikethrough"])
# markdown-it refuses javascript:/data: links by leaving `[text](javascript:…)` as literal text;
# we only ever keep a link's text, never its target, so let it parse them as links and drop the target.
MD.validateLink = lambda url: True  # type: ignore[method-assign]
_SURROGATE = re.compile("[\ud800-\udfff]")


def _link_target(url: str) -> str:
    """A link's target as it is: never read, so not normalised (percent-encoding and punycode cost 35 µs a
    link). markdown-it's normalisation fails only on surrogates (front matter escapes): then it runs, to fail
    the same way."""
    return normalizeLink(url) if _SURROGATE.search(url) else url


MD.normalizeLink = _link_target  # type: ignore[method-assign]

# The characters at which one of MD's inline rules can start: newline, `*` (emphasis), and the
# others: escape, backticks, strikethrough, `_` emphasis, link and footnote reference, image,
# inline footnote, autolink and HTML, entity.
_OTHER_STARTS = "\\`~_[!^<&"
_INLINE_STARTS = "\n*" + _OTHER_STARTS
_INLINE_RULE_AT = re.compile(f"[{re.escape(_INLINE_STARTS)}]")
# markdown-it's text rule also stops at `#$%+-:=>@{}` (kept for plugins that start there) and at
# every stop tries each rule in turn; MD's rules start only at the characters above, and `]` ends a
# link label (parseLinkLabel steps token by token looking for it). Same tokens, fewer steps.
MD.inline.terminator_re = re.compile(f"[{re.escape(_INLINE_STARTS + ']')}]")

# Text whose only rule starts are `*` and line breaks is made here when every `*` run is `**`.
_NOT_SIMPLE = re.compile(f"[{re.escape(_OTHER_STARTS)}]")


def _inline_rule(state: StateCore) -> None:
    """markdown-it's core `inline` rule, with `simple_inline` first."""
    md, env = state.md, state.env
    for token in state.tokens:
        if token.type != "inline":
            continue
        if token.children is None:
            token.children = []
        made = simple_inline(token.content, md, env)
        if made is None:
            md.inline.parse(token.content, md, env, token.children)
        else:
            token.children.extend(made)


def simple_inline(content: str, md: MarkdownIt, env: Any) -> list[Token] | None:
    """The inline tokens markdown-it makes of `content` when its only markup is line breaks and `**` runs;
    None for any other text (`md` and `env` are markdown-it's, for the signature of its parser).

    What markdown-it does there, step by step: the text before a line break or a `**` run becomes
    a text token (`newline`: before a break, one trailing space is dropped, two or more make a hard
    break; the next line's leading spaces and tabs are skipped). Each `**` run can open or close
    by its flanking (`scanDelims`). With every run two long the rule of three never applies, so a
    run that can close takes the nearest open run before it (`balance_pairs`), and the pair is a
    strong span whose outer `*` are left as empty text tokens (`emphasis.postProcess`); a run left
    unpaired is text. Adjacent text tokens are joined, and levels set, last (`fragments_join`).
    """
    if _INLINE_RULE_AT.search(content) is None:
        return [Token("text", "", 0, content=content)] if content else []
    if _NOT_SIMPLE.search(content) is not None:
        return None
    items: list[list[Any]] = []  # ["text", str], ["br", "softbreak" | "hardbreak"] or ["run", can open, can close]
    lines = content.split("\n")
    for i, line in enumerate(lines):
        if i:
            line = line.lstrip(" \t")  # the next line's leading spaces and tabs are skipped
        pieces = line.split("**")  # the text around the runs
        if line.count("*") != 2 * len(pieces) - 2 or "" in pieces[1:-1]:
            return None  # `*` and runs of three or more: emphasis, and runs the rule of three may split
        for k, piece in enumerate(pieces):
            if k:  # a run between pieces[k - 1] and this; a line's ends are whitespace to it
                items.append(["run", *_flanking(pieces[k - 1][-1] if pieces[k - 1] else " ", piece[:1] or " ")])
            if k == len(pieces) - 1 and i < len(lines) - 1:  # the text before a line break
                kind = "softbreak"
                if piece.endswith(" "):
                    kind, piece = ("hardbreak", piece.rstrip(" ")) if piece.endswith("  ") else (kind, piece[:-1])
                if piece:
                    items.append(["text", piece])
                items.append(["br", kind])
            elif piece:
                items.append(["text", piece])
    return _tokens(items)


@functools.lru_cache(maxsize=4096)
def _flanking(last: str, following: str) -> tuple[bool, bool]:
    """(can open, can close) of a `*` run between these characters: markdown-it's `scanDelims`, its
    own character classes; a `*` run may split a word, so flanking alone decides."""
    last_punct = isMdAsciiPunct(ord(last)) or isPunctChar(last)
    next_punct = isMdAsciiPunct(ord(following)) or isPunctChar(following)
    last_space = isWhiteSpace(ord(last))
    next_space = isWhiteSpace(ord(following))
    left = not (next_space or (next_punct and not (last_space or last_punct)))
    right = not (last_space or (last_punct and not (next_space or next_punct)))
    return left, right


def _tokens(items: list[list[Any]]) -> list[Token]:
    """Pair the `**` runs of `simple_inline`'s items and make the tokens."""
    openers: list[list[Any]] = []
    for item in items:
        if item[0] == "run":
            if item[2] and openers:
                openers.pop()[0] = "open"
                item[0] = "close"
            elif item[1]:
                openers.append(item)
    tokens: list[Token] = []
    texts: list[str] = []  # adjacent text, one token
    level = 0
    for item in items:
        kind = item[0]
        if kind == "text":
            texts.append(item[1])
            continue
        if kind == "run":
            texts.append("**")
            continue
        if kind == "open":
            texts.append("")  # the run's first `*`
        if texts:
            tokens.append(Token("text", "", 0, content="".join(texts), level=level))
            texts.clear()
        if kind == "open":
            tokens.append(Token("strong_open", "strong", 1, markup="**", level=level))
            level += 1
        elif kind == "close":
            level -= 1
            tokens.append(Token("strong_close", "strong", -1, markup="**", level=level))
            texts.append("")  # the run's second `*`
        else:
            tokens.append(Token(item[1], "br", 0, level=level))
    if texts:
        tokens.append(Token("text", "", 0, content="".join(texts), level=level))
    return tokens


def _normalize_rule(state: StateCore) -> None:
    """markdown-it's core `normalize` rule (CR and CRLF to LF, NUL to U+FFFD) when there is something to
    replace: its regular expression rewrites every line break, the bodies read here have LF already."""
    if "\r" in state.src or "\0" in state.src:
        normalize(state)


MD.core.ruler.at("normalize", _normalize_rule)
MD.core.ruler.at("inline", _inline_rule)
