"""Delivery: the message and its headers, recipients and topics, and one suite over every backend."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from smtp_servers import Inbox, delivery_settings, fake_render, make_issue, serve

from digest.delivery.file import FileBackend
from digest.delivery.memory import MemoryBackend
from digest.delivery.message import (
    NAME_PLACEHOLDER,
    NO_TOKEN,
    UNSUBSCRIBE_PLACEHOLDER,
    MessageFactory,
    build_message,
    parse_message,
)
from digest.delivery.recipients import Recipient, collect_recipients
from digest.delivery.smtp import SmtpBackend
from digest.models import RenderedEmail
from digest.pipeline.send import send_issue
from digest.state.subscribers import SubscriberStore

WHEN = datetime(2025, 7, 7, 8, 0, tzinfo=timezone.utc)  # the messages' Date
ISSUE_ID = "2025-07-01_2025-07-08"
SECRET = "delivery-tests-secret-0123456789abcdef"  # 32 bytes and more: a good secret
SECRET_ENV = {"DIGEST_SECRET": SECRET}


def rendered(subject: str = "Weekly", text: str | None = None, html: str | None = None) -> RenderedEmail:
    return RenderedEmail(
        subject=subject,
        text=text if text is not None else f"Hello\nRead on.\nUnsubscribe: {UNSUBSCRIBE_PLACEHOLDER}\n",
        html=(
            html if html is not None
            else f'<html><body><p>Hello</p><a href="{UNSUBSCRIBE_PLACEHOLDER}">x</a></body></html>'
        ),
    )


def token(address: str) -> str:
    """A stand-in for a reader's token (the factory is handed it; the pipeline makes the real ones)."""
    return "tok." + address.lower().replace("@", "_at_")


# -- the message -----------------------------------------------------------------------------------


def test_message_has_every_header_a_mailbox_provider_expects(tmp_path: Path) -> None:
    """From, To, Subject, Date, Message-ID, MIME-Version, List-Id, List-Unsubscribe(-Post) are all there."""
    settings = delivery_settings(tmp_path)
    msg = build_message(ISSUE_ID, rendered(), settings, "Ann@Example.org", date=WHEN, token=token("ann@example.org"))
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Id", "List-Unsubscribe"):
        assert msg[name], name
    assert msg["From"].addresses[0].addr_spec == "digest@news.example.com"
    assert msg["To"].addresses[0].addr_spec == "Ann@Example.org"
    assert msg["List-Id"] == "Test Digest <news.example.com>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    targets = re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"]))
    assert targets == [
        f"https://news.example.com/unsubscribe?t={token('ann@example.org')}",
        "mailto:unsubscribe@news.example.com?subject=unsubscribe",
    ]
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_message_id_is_derived_from_issue_and_recipient(tmp_path: Path) -> None:
    """The same (issue, recipient) always gets the same Message-ID, whatever the run or the letter case."""
    settings = delivery_settings(tmp_path)
    one = build_message(ISSUE_ID, rendered(), settings, "ann@example.org", date=WHEN)["Message-ID"]
    again = build_message(
        ISSUE_ID, rendered("Other"), settings, "ANN@example.org", date=WHEN
    )["Message-ID"]
    other = build_message(ISSUE_ID, rendered(), settings, "bo@example.org", date=WHEN)["Message-ID"]
    next_issue = build_message(
        "2025-07-08_2025-07-15", rendered(), settings, "ann@example.org", date=WHEN
    )["Message-ID"]
    assert one == again
    assert len({one, other, next_issue}) == 3
    assert re.fullmatch(r"<[0-9a-f]{24}\.2025-07-01_2025-07-08@news\.example\.com>", one)


def test_each_part_carries_the_recipients_own_unsubscribe_link(tmp_path: Path) -> None:
    """The text part has the URL as is; the HTML part has it HTML-escaped; other recipients get other tokens."""
    settings = delivery_settings(tmp_path)
    factory = MessageFactory(settings, ISSUE_ID, rendered(), date=WHEN)
    for address in ("ann@example.org", "bo@example.net"):
        msg = parse_message(factory.build(address, token=token(address)))
        url = f"https://news.example.com/unsubscribe?t={token(address)}"
        assert url in msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert url.replace("&", "&amp;") in html
        assert UNSUBSCRIBE_PLACEHOLDER not in html


def manage_token(settings, address: str) -> str:  # noqa: ANN001
    """The token a send puts in this reader's link: the MANAGE token of their id in the store."""
    from digest.tokens import MANAGE, make_token

    with SubscriberStore.open(settings.state_path, clock=lambda: WHEN.timestamp()) as store:
        return make_token(SECRET.encode(), MANAGE, store.sid_for(address))


def test_a_sends_links_carry_the_readers_signed_id_and_a_previews_none(tmp_path: Path) -> None:
    """A send's link is the MANAGE token of the reader's store id under DIGEST_SECRET; a preview's is no token."""
    from digest.tokens import MANAGE, read_token

    settings = delivery_settings(tmp_path)
    preview = MessageFactory(settings, ISSUE_ID, rendered(), date=WHEN).link_for(NO_TOKEN)
    assert preview == f"https://news.example.com/unsubscribe?t={NO_TOKEN}"
    backend = MemoryBackend()
    send_issue(settings, make_issue(), ["Ann@example.org"], backend=backend, render=fake_render, env=SECRET_ENV)
    url = re.findall(r"<(https://[^>]+)>", str(backend.outbox[0].message["List-Unsubscribe"]))[0]
    assert url == f"https://news.example.com/unsubscribe?t={manage_token(settings, 'ann@example.org')}"
    sid, _ = read_token(SECRET.encode(), MANAGE, url.split("t=", 1)[1], now=WHEN.timestamp())
    with SubscriberStore.open(settings.state_path, clock=lambda: WHEN.timestamp()) as store:
        assert store.by_sid(sid) is None and store.address_of(sid) == "Ann@example.org"  # a CSV reader: no row
    assert "ann" not in url.lower()


def test_a_newline_in_a_title_never_becomes_a_header(tmp_path: Path) -> None:
    """CR/LF in the subject (from an article title) is flattened: no Bcc header appears."""
    settings = delivery_settings(tmp_path)
    evil = rendered(subject="Big news\r\nBcc: victim@example.com\nX-Evil: 1")
    factory = MessageFactory(settings, ISSUE_ID, evil, date=WHEN)
    data = factory.build("ann@example.org", name="Ann\r\nCc: x@example.com")
    msg = parse_message(data)
    assert msg["Bcc"] is None and msg["Cc"] is None and msg["X-Evil"] is None
    assert msg["Subject"] == "Big news Bcc: victim@example.com X-Evil: 1"
    assert msg["To"].addresses[0].display_name == "Ann Cc: x@example.com"
    header_block = data.split(b"\r\n\r\n", 1)[0]
    assert all(not line.startswith((b"Bcc", b"Cc", b"X-Evil")) for line in header_block.split(b"\r\n"))


@pytest.mark.parametrize(
    "text",
    [
        "Plain English text. " * 200,  # long lines: quoted-printable with soft breaks
        "中文新闻摘要，" * 300,  # mostly CJK: base64
        ".leading dot\n. \nFrom the start\ntrailing space \n",
    ],
)
def test_bodies_decode_to_exactly_the_rendered_text(tmp_path: Path, text: str) -> None:
    """Whatever the encoding chosen, each part decodes to the rendered text with the link filled in, lines <= 76."""
    settings = delivery_settings(tmp_path)
    body = f"{text}\nHi {NAME_PLACEHOLDER}!\nUnsubscribe: {UNSUBSCRIBE_PLACEHOLDER}\nEnd"
    factory = MessageFactory(
        settings, ISSUE_ID, rendered(text=body, html=f"<p>{body}</p>"), date=WHEN
    )
    data = factory.build("ann@example.org", name="Zoë & Co", token=token("ann@example.org"))
    msg = parse_message(data)
    link = f"https://news.example.com/unsubscribe?t={token('ann@example.org')}"
    want = body.replace(UNSUBSCRIBE_PLACEHOLDER, link).replace(NAME_PLACEHOLDER, "Zoë & Co")
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n") == want
    html = msg.get_body(("html",)).get_content().replace("\r\n", "\n").rstrip("\n")
    assert html == "<p>" + want.replace("&", "&amp;") + "</p>"
    body_lines = data.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(line) for line in body_lines) <= 76


# -- recipients ------------------------------------------------------------------------------------


def test_recipients_csv_reports_malformed_and_collapses_duplicates(tmp_path: Path) -> None:
    """Malformed addresses are reported with file and line and skipped; the same address twice counts once."""
    csv_file = tmp_path / "subscribers.csv"
    csv_file.write_text(
        "email,name,topics\n"
        "ann@example.org,Ann,AI; Markets\n"
        "not-an-address,Bad,\n"
        "ANN@EXAMPLE.ORG,Ann again,\n"
        "bo@example.net,,\n"
        "cy@@example.com,,\n"
        "dee@localhost,,\n",
        encoding="utf-8",
    )
    listed = collect_recipients(["Bo <bo@example.net>", "eve@example.com"], csv_file)
    assert [r.address for r in listed.recipients] == ["bo@example.net", "eve@example.com", "ann@example.org"]
    assert listed.recipients[2] == Recipient("ann@example.org", "Ann", ("AI", "Markets"))
    assert listed.duplicates == 2
    assert len(listed.problems) == 3
    assert any("subscribers.csv:3" in p and "not-an-address" in p for p in listed.problems)


def test_suppressed_addresses_are_never_sent_to(tmp_path: Path) -> None:
    """An address in mail.suppression_file (any case, # comments allowed) gets no message and is recorded as skipped."""
    (tmp_path / "suppress.txt").write_text("# bounced\nBO@example.net  # hard bounce\n\n", encoding="utf-8")
    settings = delivery_settings(tmp_path, mail={"suppression_file": "suppress.txt"})
    backend = MemoryBackend()
    report = send_issue(
        settings, make_issue(), ["ann@example.org", "bo@example.net"], backend=backend, render=fake_render,
        env=os.environ,
    )
    assert [m.recipient for m in backend.outbox] == ["ann@example.org"]
    assert report.sent == 1 and report.skipped == 1 and report.exit_code == 0


def test_recipient_topics_choose_the_articles(tmp_path: Path) -> None:
    """A recipient with topics gets only those articles; with none matching, no message and a skipped row."""
    settings = delivery_settings(tmp_path)
    backend = MemoryBackend()
    recipients = [
        Recipient("all@example.org", "All"),
        Recipient("weather@example.org", topics=("weather",)),
        Recipient("sports@example.org", topics=("Sports",)),
    ]
    report = send_issue(settings, make_issue(), recipients, backend=backend, render=fake_render, env=os.environ)
    got = {m.recipient: m.message.get_body(("plain",)).get_content() for m in backend.outbox}
    assert set(got) == {"all@example.org", "weather@example.org"}
    assert "Chips and capital" in got["all@example.org"] and "Hello All," in got["all@example.org"]
    assert "Rain in July" in got["weather@example.org"] and "Chips" not in got["weather@example.org"]
    assert (report.sent, report.skipped) == (2, 1)


def test_dry_run_lists_and_records_nothing(tmp_path: Path) -> None:
    """--dry-run lists each recipient's fate, sends nothing and creates no state database."""
    settings = delivery_settings(tmp_path)
    backend = MemoryBackend()
    report = send_issue(
        settings, make_issue(), ["ann@example.org", Recipient("x@example.org", topics=("none",))],
        dry_run=True, backend=backend, render=fake_render, env=os.environ,
    )
    assert backend.outbox == []
    assert not settings.state_path.exists()
    assert report.planned == [
        "ann@example.org: would send 3 articles", "x@example.org: skipped: no article this issue has topics none",
    ]


# -- one suite over the backends -------------------------------------------------------------------


@pytest.fixture(params=["memory", "file", "smtp"])
def any_backend(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    """Each backend, with a way to read back what it delivered."""
    if request.param == "memory":
        backend = MemoryBackend()
        yield backend, lambda: [parse_message(m.data) for m in backend.outbox]
    elif request.param == "file":
        backend = FileBackend(tmp_path / "eml")
        yield backend, lambda: [parse_message(p.read_bytes()) for p in sorted((tmp_path / "eml").glob("*.eml"))]
    else:
        inbox = Inbox()
        with serve(inbox) as port:
            settings = delivery_settings(tmp_path, port)
            yield SmtpBackend(settings.smtp), inbox.messages


def test_backend_send_messages_delivers_each_message(any_backend) -> None:  # noqa: ANN001
    """send_messages sends a list of EmailMessages and counts them; each arrives intact."""
    backend, delivered = any_backend
    messages = []
    for i, to in enumerate(["ann@example.org", "bo@example.net"]):
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = "digest@news.example.com"
        msg["To"] = to
        msg["Subject"] = f"Issue {i} 新闻"
        msg.set_content(f"text {i}")
        msg.add_alternative(f"<p>html {i}</p>", subtype="html")
        messages.append(msg)
    with backend:
        assert backend.send_messages(messages) == 2
    got = sorted(delivered(), key=lambda m: str(m["Subject"]))
    assert [str(m["Subject"]) for m in got] == ["Issue 0 新闻", "Issue 1 新闻"]
    assert got[1].get_body(("html",)).get_content().strip() == "<p>html 1</p>"


def test_backend_carries_a_whole_issue_send(any_backend, tmp_path: Path) -> None:  # noqa: ANN001
    """send_issue through each backend: one message per recipient, with the headers and both parts."""
    backend, delivered = any_backend
    port = backend.cfg.port if isinstance(backend, SmtpBackend) else 25
    settings = delivery_settings(tmp_path, port)
    recipients = ["ann@example.org", "bo@example.net", "cy@example.com"]
    report = send_issue(settings, make_issue(), recipients, backend=backend, render=fake_render, env=os.environ)
    assert report.sent_now == 3 and report.exit_code == 0
    got = delivered()
    assert sorted(m["To"].addresses[0].addr_spec for m in got) == recipients
    for msg in got:
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_a_renderer_that_ignores_the_placeholder_still_yields_a_link_per_recipient(tmp_path: Path) -> None:
    """When the rendered issue lacks the placeholder, send_issue appends each recipient's link to both parts."""
    settings = delivery_settings(tmp_path)
    backend = MemoryBackend()

    def plain_render(issue, settings, **_):  # noqa: ANN001, ANN202
        return RenderedEmail("S", "<html><body><p>Hi</p></body></html>", "Hi\n")

    send_issue(settings, make_issue(), ["ann@example.org"], backend=backend, render=plain_render, env=SECRET_ENV)
    msg = backend.outbox[0].message
    link = f"https://news.example.com/unsubscribe?t={manage_token(settings, 'ann@example.org')}"
    assert link in msg.get_body(("plain",)).get_content()
    assert link.replace("&", "&amp;") + '">Unsubscribe</a></p></body>' in msg.get_body(("html",)).get_content()
