"""The pages' group commit: concurrent unsubscribes share one transaction, each answered after it with its own
outcome; and a rush of one-click POSTs over real HTTP all land."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
from smtp_servers import Inbox, serve
from web_servers import ONE_CLICK, SECRET, Clock, running_app, site_settings

from digest.state.subscribers import SubscriberStore
from digest.tokens import MANAGE, make_token
from digest.web.store_access import PageStore


def readers(path: Path, clock: Clock, count: int) -> list[str]:
    """`count` confirmed subscribers; their sids."""
    addresses = [f"reader{i}@example.org" for i in range(count)]
    with SubscriberStore.open(path, clock=clock) as store:
        for address in addresses:
            store.add(address)
        return [store.sid_for(a) for a in addresses]


def committed_state(path: Path, sid: str) -> str | None:
    """The row's state as another connection sees it: only what was committed."""
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT s.state FROM subscribers s JOIN reader_ids r ON r.key = s.key WHERE r.sid = ?",
                           (sid,)).fetchone()
    return None if row is None else str(row[0])


def test_concurrent_unsubscribes_are_one_commit_and_each_gets_its_own_answer(tmp_path: Path) -> None:
    """Twelve unsubscribes waiting together (one unknown sid, one sid twice, two sources): one transaction per
    source, the outcomes of lone unsubscribes, and each row committed when its request is answered."""
    path, clock = tmp_path / "state.sqlite", Clock()
    sids = readers(path, clock, 10)
    store = PageStore(path, clock, 3)
    seen_when_answered: dict[int, str | None] = {}

    async def one(i: int, sid: str, source: str) -> str:
        outcome = await store.unsubscribe(sid, source=source)
        seen_when_answered[i] = committed_state(path, sid)
        return outcome

    async def rush() -> list[str]:
        await store.run(lambda s: s.sid_for("warm@example.org"))  # the connection opened before the rush
        asks = [(sid, "one-click") for sid in sids[:9]] + [("no-such-sid", "one-click"), (sids[0], "one-click"),
                                                            (sids[9], "form")]
        return list(await asyncio.gather(*(one(i, sid, source) for i, (sid, source) in enumerate(asks))))

    try:
        outcomes = asyncio.run(rush())
    finally:
        store.close()
    assert outcomes == ["unsubscribed"] * 9 + ["unknown", "already", "unsubscribed"]
    assert store.commits == 2  # one-click and form: one transaction each
    assert all(seen_when_answered[i] == "unsubscribed" for i in range(12) if i != 9)
    with SubscriberStore.open(path, clock=clock) as check:
        assert [e["source"] for e in check.events("reader0@example.org")] == ["command", "one-click"]
        assert check.events("reader9@example.org")[-1]["source"] == "form"


def test_a_rush_of_one_click_posts_over_http_all_land(tmp_path: Path) -> None:
    """Forty one-click POSTs at once from separate cookie-less clients: each 200 with no cookie, each reader
    unsubscribed by one-click, exactly one event each."""
    clock = Clock()
    inbox = Inbox()
    with serve(inbox) as smtp_port:
        settings = site_settings(tmp_path, smtp_port)
        sids = readers(settings.state_path, clock, 40)

        async def post(url: str, sid: str) -> httpx.Response:
            async with httpx.AsyncClient(timeout=10) as provider:
                return await provider.post(f"{url}/unsubscribe", params={"t": make_token(SECRET, MANAGE, sid)},
                                           content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)

        async def rush(url: str) -> list[httpx.Response]:
            return list(await asyncio.gather(*(post(url, sid) for sid in sids)))

        with running_app(settings, clock) as url:
            answers = asyncio.run(rush(url))
    assert [a.status_code for a in answers] == [200] * 40
    assert not any("set-cookie" in a.headers for a in answers)
    with SubscriberStore.open(settings, clock=clock) as store:
        assert {s.state for s in store.all()} == {"unsubscribed"}
        for i in range(40):
            assert [e["source"] for e in store.events(f"reader{i}@example.org")] == ["command", "one-click"]
