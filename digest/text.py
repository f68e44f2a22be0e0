"""Text helpers every wing may import (it imports nothing of digest): the one one-line cleaner and the one cut."""

from __future__ import annotations

import re
from typing import Literal

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")
WARNING_MAX = 160  # characters of a one-line warning about a file (its reason, after the path)


def one_line(value: object, limit: int | None = None) -> str:
    """`value` as one line: control characters, CR and LF become spaces, runs of spaces one.

    With `limit`, cut to that many characters ending in `…`: warnings are printed one per file.
    """
    text = str(value)
    # The usual string is one line already (a render calls this ~600 times): the same answer, no regex.
    flat = text if text.isprintable() and "  " not in text and text == text.strip() else (
        _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip())
    return flat if limit is None or len(flat) <= limit else flat[: limit - 1] + "…"


ELLIPSIS = "…"
SENTENCE_ENDS = "。！？!?"  # and a full stop followed by a space (is_sentence_end)
_WORD_END_PUNCTUATION = " ,;:.，、；："  # dropped before the `…` of a cut at a word end


def is_sentence_end(text: str, i: int, ends: str = SENTENCE_ENDS) -> bool:
    """Whether text[i] ends a sentence: one of `ends`, or `.` followed by a space."""
    ch = text[i]
    return ch in ends or (ch == "." and text[i + 1 : i + 2] == " ")


def cut(text: str, limit: int, *, at: Literal["word", "sentence", "char"] = "word") -> str:
    """`text` as it is when it has at most `limit` characters, else cut and ended with `…`.

    - `word`: at most `limit` characters with the `…`, at a word end when one is in the last
      40 %, trailing punctuation dropped (titles, topics, TL;DRs on a card);
    - `char`: at most `limit` characters with the `…`, anywhere (a subject's lead title);
    - `sentence` (a TL;DR, spec §4): `limit` characters of text kept, then `…`: after the last
      sentence end that fits, else at the last space, else at the limit.
    """
    if len(text) <= limit:
        return text
    if at == "sentence":
        for i in range(limit - 1, -1, -1):
            if is_sentence_end(text, i):
                return text[: i + 1] + ELLIPSIS
        space = text.rfind(" ", 0, limit + 1)
        if space > 0:
            return text[:space].rstrip() + ELLIPSIS
        return text[:limit] + ELLIPSIS
    if at == "char":
        return text[: limit - 1].rstrip() + ELLIPSIS
    head = text[: max(limit - 1, 1)]
    space = head.rfind(" ")
    if space >= limit * 0.6:
        head = head[:space]
    return head.rstrip(_WORD_END_PUNCTUATION) + ELLIPSIS
