"""An article's neighbours (spec §7): which articles its boilerplate is judged against.

Its own module, importing nothing, so that the pipeline can tell which neighbours an article has
(to find its cached summary) without loading the summarizer and its Markdown parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

NEIGHBOURS = 30  # an article's neighbours: the articles of its content folder dated just before it

T = TypeVar("T")


def neighbours_before(order: Sequence[T], index: int, count: int = NEIGHBOURS) -> Sequence[T]:
    """The `count` items just before `index` in an order sorted by (date, path): an article's neighbours."""
    return order[max(index - count, 0) : index]
