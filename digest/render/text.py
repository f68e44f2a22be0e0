"""The text part's wrapping, which knows CJK is two columns wide, and the one display width of digest.

`textwrap` counts characters and only breaks at spaces, so a Chinese paragraph becomes one
200-column line. Here a line is filled by display width, CJK text may break between any two
characters (but never before closing punctuation), and a URL is never broken.
"""

from __future__ import annotations

import re

from wcwidth import wcswidth, wcwidth

from digest.text import one_line

WIDTH = 72  # columns; the check allows up to 78 (RFC 5322's recommended line length)

# Characters a line should not start with (kinsoku): closing punctuation of CJK and Latin.
_NO_LINE_START = set("，。、；：！？）」』】》〉,.;:!?)]}…%")
_TOKEN = re.compile(r"\s+|[a-zA-Z][a-zA-Z0-9+.-]*://\S+|mailto:\S+|[^\s]")


def text_width(text: str) -> int:
    """Columns `text` takes in a terminal or a monospaced mail client: CJK counts two, combining marks none.

    The one display width of digest (the wrapper and `digest check` agree on it). Measured on the
    21,321 distinct non-ASCII lines of tests/fixtures: wcwidth agrees with the unicodedata loop it
    replaced on every line, and is about 9x faster (0.5 ms against 4.6 ms for 1,351 lines).
    """
    if text.isascii() and text.isprintable():
        return len(text)
    width = wcswidth(text)
    if width >= 0:
        return width
    return sum(max(wcwidth(ch), 0) for ch in text)  # a control character: counted as nothing


def _is_wide(ch: str) -> bool:
    return len(ch) == 1 and wcwidth(ch) == 2


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
