"""Selection (spec §3): range, drafts, expiry, topics, already carried; newest first."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.models import Article
from digest.selection import select_articles

TZ = ZoneInfo("Asia/Shanghai")
SINCE = datetime(2025, 7, 1, tzinfo=TZ)
UNTIL = datetime(2025, 7, 8, tzinfo=TZ)


def art(path: str, day: int, **kw: object) -> Article:
    return Article(path=path, source=Path(path), title=path, date=datetime(2025, 7, day, 12, tzinfo=TZ), **kw)  # type: ignore[arg-type]


def test_range_is_half_open_and_newest_first() -> None:
    """since is included, until excluded, and the newest article comes first."""
    edge = Article(path="edge", source=Path("edge"), title="edge", date=UNTIL)
    start = Article(path="start", source=Path("start"), title="start", date=SINCE)
    chosen, _ = select_articles([art("a", 2), art("b", 5), edge, start], SINCE, UNTIL)
    assert [a.path for a in chosen] == ["b", "a", "start"]


def test_range_compares_instants_across_time_zones() -> None:
    """An article at 23:30 New York time on June 30 is July 1 11:30 in Shanghai: inside the range."""
    ny = Article(
        path="ny", source=Path("ny"), title="ny",
        date=datetime(2025, 6, 30, 23, 30, tzinfo=ZoneInfo("America/New_York")),
    )
    chosen, _ = select_articles([ny], SINCE, UNTIL)
    assert [a.path for a in chosen] == ["ny"]


def test_drafts_are_left_out_unless_asked_for() -> None:
    """A draft is not selected, except with include_drafts."""
    draft = art("d", 3, draft=True)
    assert select_articles([draft], SINCE, UNTIL)[0] == []
    assert select_articles([draft], SINCE, UNTIL, include_drafts=True)[0] == [draft]


def test_expired_article_is_left_out_once_the_issue_end_passes_its_expiry() -> None:
    """Expiry before the issue's end: not selected; expiry after it: selected."""
    gone = art("gone", 3, expiry=datetime(2025, 7, 6, tzinfo=TZ))
    live = art("live", 3, expiry=datetime(2025, 7, 9, tzinfo=TZ))
    chosen, decisions = select_articles([gone, live], SINCE, UNTIL)
    assert [a.path for a in chosen] == ["live"]
    assert any(d.path == "gone" and d.reason.startswith("expired") for d in decisions)


def test_topics_match_any_case_insensitively_ignoring_spaces() -> None:
    """`--topic ' central banks '` matches an article tagged `Central Banks`."""
    a = art("a", 3, topics=["Central Banks", "bonds"])
    b = art("b", 3, topics=["sport"])
    chosen, _ = select_articles([a, b], SINCE, UNTIL, topics=[" central  banks ", "nothing"])
    assert [x.path for x in chosen] == ["a"]


def test_already_carried_articles_are_explained() -> None:
    """An article carried by issue 3 is left out, and the decision says so."""
    chosen, decisions = select_articles([art("a", 3)], SINCE, UNTIL, carried={"a": 3})
    assert chosen == [] and decisions[0].reason == "already carried by issue 3"
