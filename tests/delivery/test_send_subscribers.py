"""Sends and the subscriber store: the confirmed list, blocked readers skipped, send-time bounces,
and the one-click header."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from smtp_servers import Inbox, delivery_settings, fake_render, make_issue, serve

from digest.pipeline.audience import recipients_for_schedule
from digest.pipeline.send import send_issue
from digest.state.subscribers import SubscriberStore
from digest.tokens import MANAGE, read_token

SECRET = "send-subscribers-test-secret-0123456789abcdef"
ENV = {"DIGEST_SECRET": SECRET}
T0 = 1_751_500_000.0  # the tests' clock: a fixed instant


def clock() -> float:
    return T0


class Recording(Inbox):
    """An Inbox that answers RCPT as `replies` says per address, and keeps every RCPT and envelope sender."""

    def __init__(self, replies: dict[str, str] | None = None) -> None:
        super().__init__()
        self.replies = replies or {}
        self.rcpts: list[str] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        self.rcpts.append(address.lower())
        if address.lower() in self.replies:
            return self.replies[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return self.accept(session, envelope)


def store_of(settings) -> SubscriberStore:  # noqa: ANN001
    return SubscriberStore.open(settings.state_path, clock=clock)


def test_mail_recipients_subscribers_sends_to_the_confirmed_rows_with_their_topics(tmp_path: Path) -> None:
    """`mail.recipients: subscribers`: confirmed readers get their topics' articles; pending and unsubscribed
    get nothing."""
    inbox = Recording()
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, mail={"recipients": "subscribers"})
        with store_of(settings) as store:
            store.add("ann@example.org", name="Ann")
            store.add("bo@example.org", topics=("Weather",))
            store.add("cy@example.org", state="pending")
            store.add("dee@example.org")
            store.remove("dee@example.org")
        listed = recipients_for_schedule(settings, clock=clock)
        assert sorted(r.address for r in listed.recipients) == ["ann@example.org", "bo@example.org"]
        report = send_issue(settings, make_issue(), listed, render=fake_render, env=ENV, clock=clock)
    assert report.sent == 2 and report.exit_code == 0
    by_rcpt = {m["To"].addresses[0].addr_spec: m for m in inbox.messages()}
    assert set(by_rcpt) == {"ann@example.org", "bo@example.org"}
    assert "Hello Ann," in by_rcpt["ann@example.org"].get_body(("plain",)).get_content()
    assert "Rain in July" in by_rcpt["bo@example.org"]["Subject"]
    assert "Chips and capital" not in by_rcpt["bo@example.org"]["Subject"]


def test_every_send_skips_whom_the_store_blocks(tmp_path: Path) -> None:
    """A CSV or --to list holding an unsubscribed, a bounced and a complained address: each skipped, with why."""
    inbox = Recording()
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port)
        with store_of(settings) as store:
            store.unsubscribe(store.sid_for("Una@example.org"), source="one-click")  # a CSV reader who left
            store.mark_bounced("bea@example.org", source="bounce", detail="550 5.1.1")
            store.mark_complained("cal@example.org", detail="abuse report")
        listed = ["una@example.org", "bea@example.org", "cal@example.org", "ok@example.org"]
        planned = send_issue(settings, make_issue(), listed, render=fake_render, env=ENV, clock=clock, dry_run=True)
        report = send_issue(settings, make_issue(), listed, render=fake_render, env=ENV, clock=clock)
    assert inbox.rcpts == ["ok@example.org"]
    assert report.sent == 1 and report.skipped == 3 and report.exit_code == 0
    lines = "\n".join(planned.planned)
    assert "una@example.org: skipped: unsubscribed" in lines
    assert "bea@example.org: skipped: bounced" in lines
    assert "cal@example.org: skipped: complained" in lines
    assert "ok@example.org: would send" in lines


def test_a_550_5_1_1_at_send_marks_the_address_bounced_and_the_next_issue_skips_it(tmp_path: Path) -> None:
    """User unknown (5.1.1) marks the reader bounced once; a policy refusal (5.7.1) does not; the next issue
    skips only the first."""
    unknown = "550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown"
    inbox = Recording({"gone@example.org": unknown, "picky@example.org": "550 5.7.1 message refused by policy"})
    readers = ["ann@example.org", "gone@example.org", "picky@example.org"]
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port)
        first = send_issue(settings, make_issue(), readers, render=fake_render, env=ENV, clock=clock)
        assert first.failed == 2 and first.bounced == ["gone@example.org"]
        with store_of(settings) as store:
            gone = store.get("gone@example.org")
            assert gone is not None and gone.state == "bounced" and gone.source == "send"
            assert store.get("picky@example.org") is None
            events = store.events("gone@example.org")
        assert [(e["to_state"], e["source"], e["detail"]) for e in events] == [
            ("bounced", "send", f"RCPT TO: {unknown}")
        ]
        again = send_issue(settings, make_issue(), readers, render=fake_render, env=ENV, clock=clock, retry_failed=True)
        assert again.bounced == []
        with store_of(settings) as store:
            assert len(store.events("gone@example.org")) == 1  # a rerun logs nothing twice
        inbox.rcpts.clear()
        nxt = make_issue("2025-07-08_2025-07-15")
        second = send_issue(settings, nxt, readers, render=fake_render, env=ENV, clock=clock)
    assert "gone@example.org" not in inbox.rcpts
    assert sorted(inbox.rcpts) == ["ann@example.org", "picky@example.org"]
    assert second.skipped == 1 and second.sent == 1 and second.failed == 1


def test_the_one_click_header_names_the_reader_only_by_a_signed_id(tmp_path: Path) -> None:
    """List-Unsubscribe: https public_url/unsubscribe?t=<MANAGE token of the sid>, then the mailto; -Post one-click."""
    inbox = Recording()
    with serve(inbox) as port:
        settings = delivery_settings(
            tmp_path, port, subscribe={"public_url": "https://news.example.com/newsletter"},
            mail={"unsubscribe_url": None, "unsubscribe_mailto": "leave@news.example.com"},
        )
        report = send_issue(settings, make_issue(), ["Ann.Lee@Example.org"], render=fake_render, env=ENV, clock=clock)
    assert report.sent == 1
    received = inbox.received[0]
    msg = received.message
    targets = re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"]))
    assert len(targets) == 2 and targets[1] == "mailto:leave@news.example.com?subject=unsubscribe"
    url = urlsplit(targets[0])
    assert (url.scheme, url.netloc, url.path) == ("https", "news.example.com", "/newsletter/unsubscribe")
    assert list(parse_qs(url.query)) == ["t"]
    sid, _ = read_token(SECRET.encode(), MANAGE, parse_qs(url.query)["t"][0], now=clock())
    with store_of(settings) as store:
        assert store.sid_for("ann.lee@example.org") == sid
    for form in ("ann.lee", "Ann.Lee", quote("Ann.Lee@Example.org"), "example.org"):
        assert form.lower() not in targets[0].lower()
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert targets[0] in msg.get_body(("plain",)).get_content()
    header_block = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"ann.lee" not in header_block.lower().replace(b"to: ann.lee@example.org", b"")
