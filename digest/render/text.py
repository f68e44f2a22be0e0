"""Plain-text helpers for the email: one-line cleaning, cutting, and wrapping that knows CJK is two columns wide.

`textwrap` counts characters and only breaks at spaces, so a Chinese paragraph becomes one
200-column line. Here a line is filled by display width, CJK text may break between any two
characters (but never before closing punctuation), and a URL is never broken.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

WIDTH = 72  # columns; the check allows up to 78 (RFC 5322's recommended line length)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")
# Characters a line should not start with (kinsoku): closing punctuation of CJK and Latin.
_NO_LINE_START = set("，。、；：！？）」』】》〉,.;:!?)]}…%")
_TOKEN = re.compile(r"\s+|[a-zA-Z][a-zA-Z0-9+.-]*://\S+|mailto:\S+|[^\s]")


def one_line(value: object) -> str:
    """`value` as one line: control characters, CR and LF become spaces, runs of spaces one."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", str(value))).strip()


def cut(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, at a word end when there is one near, with `…`."""
    if len(text) <= limit:
        return text
    head = text[: max(limit - 1, 1)]
    space = head.rfind(" ")
    if space >= limit * 0.6:
        head = head[:space]
    return head.rstrip(" ,;:.，、；：") + "…"


@lru_cache(maxsize=8192)
def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(map(char_width, text))


def _is_wide(ch: str) -> bool:
    return len(ch) == 1 and char_width(ch) == 2


def _words(text: str) -> list[str]:
    """Split into units a line may break between: space runs, URLs, Latin words, single CJK characters."""
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok.isspace():
            out.append(" ")
        elif len(tok) > 1 or _is_wide(tok) or not out or out[-1] == " " or _is_wide(out[-1][-1]):
            out.append(tok)
        else:
            out[-1] += tok  # glue Latin letters (and punctuation) into a word
    return out


def wrap(text: str, width: int = WIDTH, indent: str = "", subsequent: str | None = None) -> list[str]:
    """Lines of at most `width` columns (a URL or an unbreakable word may run longer)."""
    subsequent = indent if subsequent is None else subsequent
    lines: list[str] = []
    line, lw = indent, text_width(indent)
    base = len(indent)
    for word in _words(one_line(text)):
        ww = text_width(word)
        if word == " ":
            if len(line) > base:
                line, lw = line + " ", lw + 1
            continue
        if lw + ww > width and len(line.rstrip()) > base and word[0] not in _NO_LINE_START:
            lines.append(line.rstrip())
            line, lw = subsequent, text_width(subsequent)
            base = len(subsequent)
        line, lw = line + word, lw + ww
    if len(line.rstrip()) > base or not lines:
        lines.append(line.rstrip())
    return lines
