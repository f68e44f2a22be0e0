"""The summarizer's parser makes the tokens markdown-it makes, only faster (digest/summarize/parsing.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLink
from markdown_it.token import Token
from mdit_py_plugins.footnote import footnote_plugin

from digest.content.articles import read_body
from digest.summarize.parsing import MD, simple_inline
from digest.summarize.plaintext import strip_templates

FIXTURES = Path(__file__).parents[1] / "fixtures"

# markdown-it as the summarizer configures it, with markdown-it's own inline parsing.
REFERENCE = MarkdownIt("commonmark").use(footnote_plugin).enable(["table", "strikethrough"])
REFERENCE.validateLink = MD.validateLink  # type: ignore[method-assign]
REFERENCE.normalizeLink = MD.normalizeLink  # type: ignore[method-assign]

# Text around `**` runs and line breaks, with what decides their flanking: spaces, punctuation
# (ASCII, CJK, Unicode), letters, digits; and some markup that sends text to markdown-it.
PIECES = ["**", "**", "**", "*", "***", "a", "Z", "中", "。", "，", "“", "”", "%", "$", "-", ".", "(", ")", "1",
          " ", "  ", "\t", "\u00a0", "\u3000", "\n", "  \n", " \n", "\n   ", "_", "]", "[", "!", "`", "\\", "é",
          "😀", "> ", "\n\n", "- ", "#", "\r\n", "\r", "\0"]


def dump(tokens: list[Token] | None) -> Any:
    """Every field of every token, children included."""
    if tokens is None:
        return None
    return [(t.type, t.tag, t.nesting, t.attrs, t.map, t.level, t.content, t.markup, t.info, t.meta, t.block,
             t.hidden, dump(t.children)) for t in tokens]


def reference_inline(content: str) -> list[Token]:
    out: list[Token] = []
    REFERENCE.inline.parse(content, REFERENCE, {}, out)
    return out


def corpus_bodies() -> list[str]:
    """A body of every fifth article of the real sites, and every dev one (the rest take too long)."""
    real = sorted((FIXTURES / "real").rglob("*.md"))[::5]
    bodies = []
    for path in [*real, *sorted((FIXTURES / "dev").rglob("*.md"))]:
        try:
            bodies.append(strip_templates(read_body(path))[0])
        except Exception:  # noqa: BLE001 - a fixture that is not an article (a PNG named .md)
            continue
    return bodies


def test_tokens_are_markdown_its_on_the_corpora() -> None:
    """Real articles (Hugo docs, Jekyll, a Chinese blog) and the dev corpus parse to markdown-it's tokens."""
    bodies = corpus_bodies()
    assert len(bodies) > 250
    for body in bodies:
        assert dump(MD.parse(body)) == dump(REFERENCE.parse(body))


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30).map("".join))
def test_tokens_are_markdown_its_on_any_text(text: str) -> None:
    """Blocks, and inline text alone (a front matter summary), parse to markdown-it's tokens."""
    assert dump(MD.parse(text)) == dump(REFERENCE.parse(text))
    assert dump(MD.parseInline(text)) == dump(REFERENCE.parseInline(text))


@pytest.mark.parametrize("text", [
    "达到**59.0%**投资",  # a closing run after punctuation, before a letter: no strong span
    "达到 **59.0%** 投资", "reaching **$175 billion** in exports", "**bold** at the start, at the **end**",
    "**a **nested** b**", "**open only", "closing only** here", "a****b", "x **\nline** two",
    "trailing two  \nhard break", "one \nsoft break", "tab\t\n\t  next", "**", "** **", "中**文**字",
])
def test_simple_text_is_made_here_as_markdown_it_makes_it(text: str) -> None:
    """Bold runs and line breaks are made here (None would be markdown-it's work), token for token."""
    made = simple_inline(text, MD, {})
    if "****" not in text:
        assert made is not None
    assert dump(made if made is not None else reference_inline(text)) == dump(reference_inline(text))


@pytest.mark.parametrize("text", ["*em*", "***both***", "[link](x)", "`code`", "a\\*b", "&amp;", "<b>x</b>",
                                  "_em_", "~~gone~~", "![img](x)", "^[note]", "a**b*"])
def test_other_markup_is_left_to_markdown_it(text: str) -> None:
    """Emphasis, links, code, escapes, entities, HTML and footnotes are not made here."""
    assert simple_inline(text, MD, {}) is None


def test_link_targets_are_kept_as_written() -> None:
    """A target is never read, so not normalised; with surrogates it fails as markdown-it's does."""
    assert MD.normalizeLink("http://例子.测试/a b%zz") == "http://例子.测试/a b%zz"
    with pytest.raises(UnicodeEncodeError):
        normalizeLink("x\ud83d\ude00")
    with pytest.raises(UnicodeEncodeError):
        MD.normalizeLink("x\ud83d\ude00")
