"""`smtp.return_path`: the envelope sender (MAIL FROM), per reader with `{token}` (VERP); the headers unchanged."""

from __future__ import annotations

from pathlib import Path

from smtp_servers import delivery_settings, fake_render, make_issue, serve
from test_send_subscribers import ENV, Recording, clock, store_of

from digest.pipeline.send import send_issue

READERS = ["ann@example.org", "Bo@example.net", "cy@example.org"]


def test_return_path_with_token_gives_each_reader_their_own_envelope_sender(tmp_path: Path) -> None:
    """bounces+{token}@…: each MAIL FROM carries that reader's store id; From stays smtp.sender."""
    inbox = Recording()
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, smtp={"return_path": "bounces+{token}@news.example.com"})
        report = send_issue(settings, make_issue(), READERS, render=fake_render, env=ENV, clock=clock)
    assert report.sent == 3
    with store_of(settings) as store:
        sids = {a.lower(): store.sid_for(a) for a in READERS}
    assert len(set(sids.values())) == 3
    got = {rcpts[0].lower(): mail_from for mail_from, rcpts in inbox.envelopes}
    assert got == {key: f"bounces+{sid}@news.example.com" for key, sid in sids.items()}
    for msg in inbox.messages():
        assert msg["From"].addresses[0].addr_spec == "digest@news.example.com"
        assert msg["Return-Path"] is None and msg["Sender"] is None


def test_return_path_without_token_is_the_same_for_everyone(tmp_path: Path) -> None:
    """A fixed return path: every MAIL FROM is that address; without the setting, the From address."""
    inbox = Recording()
    with serve(inbox) as port:
        fixed = delivery_settings(tmp_path / "a", port, smtp={"return_path": "bounces@news.example.com"})
        send_issue(fixed, make_issue(), READERS, render=fake_render, env=ENV, clock=clock)
        assert [m for m, _ in inbox.envelopes] == ["bounces@news.example.com"] * 3
        inbox.envelopes.clear()
        plain = delivery_settings(tmp_path / "b", port)
        send_issue(plain, make_issue(), READERS, render=fake_render, env=ENV, clock=clock)
    assert [m for m, _ in inbox.envelopes] == ["digest@news.example.com"] * 3
