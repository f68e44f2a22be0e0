"""Headers from structured values only: nothing a title, a subject or a name decodes to starts a header.

RFC 2047 encoded words (`=?utf-8?b?…?=`) in article titles and recipient names decode to CR/LF
in some versions of the standard library's folding (3.11.7 and 3.12.1 wrote them raw). digest
writes the header bytes itself, so these tests look at the bytes, then parse them back.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sitegen import write_article, write_config
from smtp_servers import Inbox, delivery_settings, serve

from digest.delivery.message import MessageFactory
from digest.models import RenderedEmail
from digest.render.check import check_issue_html

WHEN = datetime(2025, 7, 7, 8, 0, tzinfo=timezone.utc)  # the messages' Date
ISSUE_ID = "2025-07-01_2025-07-08"
# The cases of issue 10: a title that decodes to a Reply-To header, a name that decodes to a Bcc.
REPLY_TO_TITLE = "Weekly =?utf-8?b?DQpSZXBseS1UbzogcGhpc2hAZXZpbC5leGFtcGxl?="
BCC_NAME = "=?utf-8?b?SGkNCkJjYzogY0BldmlsLmV4YW1wbGU=?="


def encoded(text: str, kind: str = "b", charset: str = "utf-8") -> str:
    raw = text.encode("utf-8")
    if kind == "b":
        return f"=?{charset}?b?{base64.b64encode(raw).decode()}?="
    return f"=?{charset}?q?{''.join(f'={b:02X}' for b in raw)}?="


BODY_NAME = encoded("Hi\r\n\r\n<h1>Your account is locked</h1>")  # a blank line: the rest would be the body
HOSTILE = [
    REPLY_TO_TITLE,
    BCC_NAME,
    BODY_NAME,
    encoded("x\r\nBcc: c@evil.example", "q"),
    encoded("x\nReply-To: a@evil.example", "b", "iso-8859-1"),
    "=?utf-8?q?x=0D=0ABcc:_c@evil.example?=",
    "Big news\r\nBcc: victim@example.com\nX-Evil: 1",
    "\u202egnp.exe\u202c Invoice \u2066x\u2069 \u200e\u200f\u061c",
    "Ann <ann@evil.example>, bob@evil.example",
    '"quoted\\" \\\\ name" (comment) ; : , @',
    "市场周报 =?utf-8?b?DQpCY2M6IHhAZXZpbC5leGFtcGxl?= 😀",
    "a" * 300,
    " ".join(["word"] * 120),
]
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
CONTROL = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]) + "\u2028\u2029"
EXPECTED_NAMES = [
    "From", "Date", "MIME-Version", "List-Id", "To", "Subject", "Message-ID",
    "List-Unsubscribe", "List-Unsubscribe-Post", "Content-Type",
]
ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")


def expected_text(value: str, limit: int) -> str:
    """What a header should show: controls become one space, bidi controls go, spaces collapse."""
    value = re.sub(f"[{re.escape(BIDI)}]", "", value)
    value = re.sub(f"[{re.escape(CONTROL)}]", " ", value)
    return re.sub(r"\s+", " ", value).strip()[:limit].strip()


def header_block(data: bytes) -> list[bytes]:
    head, sep, _ = data.partition(b"\r\n\r\n")
    assert sep, "no blank line between the headers and the body"
    return head.split(b"\r\n")


def header_names(lines: list[bytes]) -> list[str]:
    """The name of each header, checking that every other line is a continuation."""
    names = []
    for line in lines:
        assert b"\r" not in line and b"\n" not in line, line
        assert line.isascii(), line
        assert len(line) <= 998, len(line)
        if line[:1] in (b" ", b"\t"):
            assert names, "a continuation line before any header"
            continue
        name, colon, _ = line.partition(b":")
        assert colon and re.fullmatch(rb"[!-9;-~]+", name), line
        names.append(name.decode("ascii"))
    return names


def display_name(data: bytes, parsed: str) -> str:
    """The To display name as an RFC 2047 decoder reads it.

    The standard library's address parser puts a space between adjacent encoded words of a
    phrase (its own folding of a long name does not survive a round trip either); RFC 2047
    says that space is not part of the text, as `email.header.decode_header` reads it.
    """
    raw = b"\r\n".join(header_block(data)).decode("ascii")
    value = re.search(r"\r\nTo: (.*?)\r\n(?! )", raw + "\r\n", re.S).group(1).replace("\r\n ", " ")
    phrase = value.rpartition(" <")[0] if value.endswith(">") else ""
    if "=?utf-8?b?" not in phrase:
        return parsed
    return str(make_header(decode_header(phrase)))


def make_factory(tmp_path: Path, subject: str) -> MessageFactory:
    rendered = RenderedEmail(
        subject=subject,
        text="Hello\nUnsubscribe: https://unsubscribe.digest.invalid/TOKEN\n",
        html="<html><body><p>Hello</p></body></html>",
    )
    return MessageFactory(delivery_settings(tmp_path), ISSUE_ID, rendered, date=WHEN)


def assert_sound(data: bytes, subject: str, name: str | None, address: str = "ann@example.org") -> None:
    """Exactly the expected headers, one line each or folded; parsed back, one From/To/Subject and no Bcc."""
    names = header_names(header_block(data))
    assert names == EXPECTED_NAMES, names
    msg = BytesParser(policy=policy.default).parsebytes(data)
    for once in ("From", "To", "Subject", "Message-ID"):
        assert len(msg.get_all(once) or []) == 1, once
    for never in ("Bcc", "Cc", "Reply-To", "X-Evil", "Sender"):
        assert msg[never] is None, never
    to = msg["To"].addresses
    assert len(to) == 1 and to[0].addr_spec == address
    assert str(msg["Subject"]) == expected_text(subject, 900)
    assert display_name(data, to[0].display_name) == (expected_text(name, 200) if name else "")
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "Hello" in msg.get_body(("plain",)).get_content()


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_subject_and_name_stay_inside_their_headers(tmp_path: Path, value: str) -> None:
    """Each of the known cases, as a subject (from `{title}`) and as a recipient's display name."""
    factory = make_factory(tmp_path, f"Test Digest: {value}")
    assert_sound(factory.build("ann@example.org", value), f"Test Digest: {value}", value)
    assert_sound(factory.build("ann@example.org"), f"Test Digest: {value}", None)


PIECES = st.sampled_from(
    ["=?", "?=", "=?utf-8?b?", "=?utf-8?q?", "?b?", "?q?", "=0D=0A", "DQo", "Bcc:", "Reply-To:", "\r\n", "\n", "\r",
     "\t", " ", "\x00", "\x0b", "\x85", "\u2028", "<", ">", "@", ",", ";", ":", '"', "\\", "(", ")", "é", "中", "😀",
     *BIDI, "evil.example", "Ann", "=?iso-8859-1?q?", "_"]
)
HEADERISH = st.one_of(
    st.lists(st.one_of(PIECES, st.text(max_size=5)), max_size=30).map("".join),
    st.builds(encoded, st.text(max_size=40).map(lambda t: t + "\r\nBcc: c@evil.example"), st.sampled_from("bq")),
    st.text(max_size=400),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=HEADERISH, name=HEADERISH)
def test_no_value_ever_adds_a_header_or_a_line_break(tmp_path: Path, subject: str, name: str) -> None:
    """Whatever a subject or a name holds or decodes to, the header block has exactly the expected names."""
    factory = make_factory(tmp_path, subject)
    data = factory.build("ann@example.org", name or None)
    assert_sound(data, subject, name or None)
    # Folded by digest itself: lines of encoded words stay within 78 columns.
    for line in header_block(data):
        if b"=?utf-8?b?" in line:
            assert len(line) <= 78, line


def test_bidi_controls_are_removed_from_subject_and_names(tmp_path: Path) -> None:
    """A right-to-left override in a title or a name is not in the Subject, To or From received."""
    settings = delivery_settings(tmp_path, smtp={"sender": "Digest \u202eevil\u202c <digest@news.example.com>"})
    rendered = RenderedEmail(subject="Invoice \u202egpj.exe\u202c ready", text="Hi\n", html="<p>Hi</p>")
    factory = MessageFactory(settings, ISSUE_ID, rendered, date=WHEN)
    data = factory.build("ann@example.org", "Ann \u2067\u200fX")
    msg = BytesParser(policy=policy.default).parsebytes(data)
    for value in (str(msg["Subject"]), msg["To"].addresses[0].display_name, msg["From"].addresses[0].display_name):
        assert not set(value) & set(BIDI), repr(value)
    assert str(msg["Subject"]) == "Invoice gpj.exe ready"
    assert msg["To"].addresses[0].display_name == "Ann X"


def test_ascii_headers_stay_readable(tmp_path: Path) -> None:
    """Plain ASCII values are written as they are, not encoded; specials in a name are quoted."""
    factory = make_factory(tmp_path, "Test Digest: a plain subject")
    data = factory.build("ann@example.org", 'Doe, "Ann"')
    head = b"\r\n".join(header_block(data))
    assert b"\r\nSubject: Test Digest: a plain subject\r\n" in head
    assert b'\r\nTo: "Doe, \\"Ann\\"" <ann@example.org>\r\n' in head
    assert b"From: Test Digest <digest@news.example.com>\r\n" in head


# -- end to end: a built issue, `digest send` to a real SMTP server, `digest check` -----------------


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "digest", *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300, check=False)


def test_encoded_words_from_a_title_and_a_csv_never_reach_the_headers(tmp_path: Path) -> None:
    """The issue's cases through build and send: no Reply-To, no Bcc, the body intact, for every reader."""
    inbox = Inbox()
    with serve(inbox) as port:
        write_config(
            tmp_path,
            smtp={"host": "127.0.0.1", "port": port, "security": "none"},
            render={"subject": "{site}: {title}"},
            mail={"unsubscribe_mailto": "leave@news.example.com"},
        )
        write_article(tmp_path, "lead", datetime(2025, 7, 3, 10, tzinfo=timezone.utc), title=REPLY_TO_TITLE)
        (tmp_path / "readers.csv").write_text(
            f"email,name\nann@example.org,{BCC_NAME}\nbo@example.org,{BODY_NAME}\ncy@example.org,Cy\n", encoding="utf-8"
        )
        built = run(tmp_path, "build", "--since", "2025-07-01", "--until", "2025-07-08", "--json")
        assert built.returncode == 0, built.stderr
        issue = json.loads(built.stdout)["issue_id"]
        sent = run(tmp_path, "send", issue, "--recipients", "readers.csv")
        assert sent.returncode == 0, sent.stderr
    assert sorted(r for m in inbox.received for r in m.rcpts) == [f"{n}@example.org" for n in ("ann", "bo", "cy")]
    for received in inbox.received:
        assert header_names(header_block(received.data)) == [*EXPECTED_NAMES[:-2], "Content-Type"]
        msg = received.message
        assert msg["Reply-To"] is None and msg["Bcc"] is None and msg["Cc"] is None
        assert len(msg["To"].addresses) == 1 and msg["To"].addresses[0].addr_spec == received.rcpts[0]
        assert "Your account is locked" not in msg["To"].addresses[0].display_name
        assert "Weekly" in str(msg["Subject"]) and "\n" not in str(msg["Subject"])
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert "Weekly" in msg.get_body(("plain",)).get_content()
    # A name that is an encoded word is reported with its file and line, and left out.
    assert "readers.csv:2" in sent.stderr and "readers.csv:3" in sent.stderr
    # `digest check` rejects the built issue: its subject and title carry an encoded word.
    checked = run(tmp_path, "check", f"issues/{issue}.html")
    assert checked.returncode == 1, checked.stdout
    assert "encoded word" in checked.stdout


def test_check_rejects_encoded_words_and_controls_in_title_and_headers(tmp_path: Path) -> None:
    """check_issue_html looks at <title>; check_message_bytes at the .eml's header block and decoded values."""
    from digest.render.check import check_message_bytes

    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{}</title></head>'
        '<body><p class="dg-foot"><a href="mailto:x@example.org">unsubscribe</a></p></body></html>'
    )
    assert not [p for p in check_issue_html(html.format("Weekly news"), None) if p.startswith("header")]
    for bad in (REPLY_TO_TITLE, "Weekly \x1b[31m", "Invoice \u202egpj.exe"):
        problems = [p for p in check_issue_html(html.format(bad), None) if p.startswith("header")]
        assert problems, bad
    good = make_factory(tmp_path, "Weekly: 市场周报").build("ann@example.org", "Zoë")
    assert check_message_bytes(good) == []
    injected = good.replace(b"\r\nSubject:", b"\r\nBcc: c@evil.example\r\nSubject:", 1)
    assert any("Bcc" in p for p in check_message_bytes(injected))
    twice = good.replace(b"\r\nSubject:", b"\r\nSubject: again\r\nSubject:", 1)
    assert any("Subject" in p for p in check_message_bytes(twice))
    hidden = good.replace(b"\r\nSubject: ", b"\r\nSubject: " + encoded(REPLY_TO_TITLE).encode() + b" ", 1)
    assert any("encoded word" in p for p in check_message_bytes(hidden))
