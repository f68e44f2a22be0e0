"""Which articles an issue carries: date range, drafts, expiry, topics, already carried (spec §3)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from digest.models import Article, normalise_topic


@dataclass(frozen=True)
class Decision:
    """Why one file was or was not selected; `digest build --explain` prints these."""

    path: str
    selected: bool
    reason: str


def select_articles(
    articles: Iterable[Article],
    since: datetime,
    until: datetime,
    *,
    topics: Iterable[str] = (),
    include_drafts: bool = False,
    carried: Mapping[str, int | str] | None = None,
) -> tuple[list[Article], list[Decision]]:
    """Pick the articles of [since, until), newest first, with a decision for every article."""
    wanted = {normalise_topic(t) for t in topics if normalise_topic(t)}
    carried = carried or {}
    chosen: list[Article] = []
    decisions: list[Decision] = []
    for art in articles:
        reason = _rejection(art, since, until, wanted, include_drafts, carried)
        if reason is None:
            chosen.append(art)
            decisions.append(Decision(art.path, True, f"dated {art.date.isoformat()}, in range"))
        else:
            decisions.append(Decision(art.path, False, reason))
    # Newest first; the path breaks ties so that the same files always give the same issue.
    chosen.sort(key=lambda a: (-a.date.timestamp(), a.path))
    return chosen, decisions


def _rejection(
    art: Article,
    since: datetime,
    until: datetime,
    wanted: set[str],
    include_drafts: bool,
    carried: Mapping[str, int | str],
) -> str | None:
    if "digest_issue" in art.front_matter:
        return "a page of digest's own issue archive"
    if art.draft and not include_drafts:
        return "draft"
    if not since <= art.date < until:
        return f"outside the range (dated {art.date.isoformat()})"
    if art.expiry is not None and art.expiry <= until:
        return f"expired ({art.expiry.isoformat()})"
    if wanted and not wanted.intersection(normalise_topic(t) for t in art.topics):
        return "topic: none of " + ", ".join(sorted(wanted))
    if art.path in carried:
        return f"already carried by issue {carried[art.path]}"
    return None
