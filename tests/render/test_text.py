"""The text part's wrapping: CJK two columns wide, breaks between CJK characters but never before closing
punctuation, URLs whole; the fast wrap gives exactly what the character-by-character one gave."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from wcwidth import wcwidth

from digest.render.text import WIDE_CLASS, text_width, wrap
from digest.text import one_line

# --- the reference: the wrap digest had before issue 13, one regular-expression token per character ---

_NO_LINE_START = set("，。、；：！？）」』】》〉,.;:!?)]}…%")
_TOKEN = re.compile(r"\s+|[a-zA-Z][a-zA-Z0-9+.-]*://\S+|mailto:\S+|[^\s]")


def _is_wide(ch: str) -> bool:
    return len(ch) == 1 and wcwidth(ch) == 2


def _reference_words(text: str) -> list[str]:
    out: list[str] = []
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok.isspace():
            out.append(" ")
        elif len(tok) > 1 or _is_wide(tok) or not out or out[-1] == " " or _is_wide(out[-1][-1]):
            out.append(tok)
        else:
            out[-1] += tok
    return out


def reference_wrap(text: str, width: int = 72, indent: str = "", subsequent: str | None = None) -> list[str]:
    subsequent = indent if subsequent is None else subsequent
    lines: list[str] = []
    line, lw = indent, text_width(indent)
    base = len(indent)
    for word in _reference_words(one_line(text)):
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


# ---------------------------------------------------------------------------------------------------------

PIECES = [
    *"ab Z9 .,:;!?)%-_/", "…", "，", "。", "、", "）", "」", "中", "文", "字", "한", "ｶ", "Ａ", "é", "e\u0301",
    "😀", "❤\ufe0f", "👩\u200d💻", "\u200b", "\u00a0", "\u3000", "\t", "\n", "\x00", "\x7f", "ℹ",
    "https://news.example.com/a?b=1&c=2", "mailto:x@example.com", "see:https://x.example/y", "ftp://", "a://b",
    "阿里巴巴集团宣布，未来三年将投入超过3800亿元人民币。", "Microsoft plans to spend about $80 billion",
]


@settings(max_examples=400, deadline=None)
@given(
    text=st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    width=st.integers(1, 80),
    indent=st.sampled_from(["", "* ", "  * ", "中"]),
    subsequent=st.sampled_from([None, "", "  ", "    "]),
)
def test_wrap_gives_what_the_reference_wrap_gives(text, width, indent, subsequent):
    """Any text, width and indents: the fast wrap's lines are the character-by-character wrap's lines."""
    assert wrap(text, width, indent, subsequent) == reference_wrap(text, width, indent, subsequent)


def test_every_character_taken_as_wide_without_asking_wcwidth_is_wide():
    """The CJK ranges wrapped by arithmetic hold only characters wcwidth counts as two columns."""
    ranges = re.findall(r"(.)-(.)", WIDE_CLASS)
    assert ranges
    narrow = [hex(c) for a, b in ranges for c in range(ord(a), ord(b) + 1) if wcwidth(chr(c)) != 2]
    assert narrow == []


def test_chinese_breaks_between_characters_never_before_closing_punctuation():
    """A Chinese paragraph fills 72 columns (36 characters) a line, and no line starts with `，` or `。`."""
    text = "阿里巴巴集团宣布，未来三年将投入超过三千八百亿元人民币，用于建设云计算和人工智能硬件基础设施。" * 3
    lines = wrap(text)
    assert all(text_width(line) <= 74 for line in lines)  # a closing mark may hang past the edge
    assert len(lines) > 2 and not any(line[0] in "，。" for line in lines)
    assert "".join(lines) == text


def test_url_is_never_broken_and_english_breaks_at_spaces():
    """A URL longer than the line stays whole on a line of its own; words are never split."""
    url = "https://news.example.com/" + "a" * 90
    lines = wrap(f"Read the whole story at {url} before Friday", width=40)
    assert lines == ["Read the whole story at", url, "before Friday"]
