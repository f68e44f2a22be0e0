"""digest/text.py: the one one-line cleaner."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from digest.text import one_line

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@settings(max_examples=3000)
@given(st.text(alphabet="a 中\t") | st.text(alphabet="ab 中\t\n\r\x00\x85\u00a0\u2028\u3000\u200b\x7f") | st.text())
@example("a  b")
@example(" a")
@example("a\u00a0b")
@example("a\u3000b")
def test_one_line_is_the_two_substitutions_whatever_the_text(text: str) -> None:
    """The shortcut for text already on one line gives what the substitutions give."""
    assert one_line(text) == re.sub(r"\s+", " ", CONTROL.sub(" ", text)).strip()
