"""Per-recipient splicing: each message is what a straightforward build of the reader's own issue gives.

The straightforward build writes the reader's link and name into the rendered text and HTML
and encodes each part whole. The factory encodes the fixed pieces once and splices each
reader's values in; the two must agree: the same headers and part heads byte for byte, each
part decoding to exactly the same bytes (for base64, the very same characters), every line
within 76 characters, and no line starting with "." (the message goes to SMTP as it is).
"""

from __future__ import annotations

import base64
import binascii
import html
import random
import re
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_servers import Inbox, delivery_settings, serve

from digest.config import Settings
from digest.delivery.encoding import CRLF, quoted_printable
from digest.delivery.headers import clean_header
from digest.delivery.message import MessageFactory, Slots, parse_message
from digest.delivery.smtp import SmtpBackend
from digest.models import RenderedEmail

WHEN = datetime(2025, 7, 7, 8, 0, tzinfo=timezone.utc)
ISSUE_ID = "2025-07-01_2025-07-08"
# Names of many lengths (so every 3-byte and 57-byte offset comes up), CJK, accents, HTML specials,
# a leading dot, an emoji, and none at all.
NAMES = [
    None, "A", "Bo", "Zoë", "王小明", "欧阳建国", "María José García-López de la Cruz y Sánchez",
    'Tom & "Jerry" <tj>', ".dot first", "🦊 Fox", "x" * 57, "李" * 19, "Ng", "Éloïse", "O'Brien-Smythe III",
]
ADDRESSES = [
    "a@b.co", "ann@example.org", "ann.marie.long-address+news@mail.sub.example.org", "x_y.z@example.com",
    "reader000123@example.org",
]


def render_real(language: str, zh: bool, slots: Slots) -> tuple[Settings, RenderedEmail]:
    """A 12-article issue (all Chinese or all English) through the real renderer, slots in place of the reader's values.

    The shipped template greets no one by name: the name goes in the subject here, as a site may put it."""
    from issue_factory import make_article, make_issue, make_settings

    from digest.render.issue import render_issue

    issue = replace(make_issue(12), articles=[make_article(i, zh=zh) for i in range(12)])
    settings = make_settings(language=language)
    rendered = render_issue(issue, settings, unsubscribe_url=slots.unsubscribe, recipient_name=slots.name)
    return settings, replace(rendered, subject=f"{rendered.subject} for {slots.name}")


def cjk_page(slots: Slots) -> RenderedEmail:
    """A Chinese issue whose HTML is base64 too (mostly CJK), with both slots several times in each part."""
    paragraph = "阿里巴巴集团宣布，未来三年将投入超过3800亿元人民币，用于建设云计算和AI硬件基础设施。"
    text = "\n".join(
        [f"{slots.name}，你好：", *(paragraph * (i % 4 + 1) for i in range(40)), f"退订：{slots.unsubscribe}",
         f"再见，{slots.name}", f"{slots.unsubscribe}{slots.name}"]
    )
    page = (
        f"<html><body><p>{slots.name}，你好</p>"
        + "".join(f"<p>{paragraph * (i % 3 + 1)}</p>" for i in range(40))
        + f'<p><a href="{slots.unsubscribe}">退订</a> {slots.name}</p></body></html>'
    )
    return RenderedEmail(subject=f"新闻简报 {slots.name}", html=page, text=text)


def personal(rendered: RenderedEmail, slots: Slots, link: str, name: str | None) -> RenderedEmail:
    """The issue with one reader's values written in: what a straightforward build encodes whole."""
    name = clean_header(name, 200) if name else ""
    return RenderedEmail(
        subject=rendered.subject.replace(slots.name, name),
        text=rendered.text.replace(slots.unsubscribe, link).replace(slots.name, name),
        html=rendered.html.replace(slots.unsubscribe, html.escape(link, quote=True)).replace(
            slots.name, html.escape(name)
        ),
    )


def split_message(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """(the headers, [(part head, part body)]), cut at the multipart boundary."""
    boundary = re.search(rb'boundary="([^"]+)"', data)
    assert boundary is not None
    delimiter = b"--" + boundary.group(1)
    chunks = data.split(delimiter + b"\r\n")
    assert chunks[-1].endswith(delimiter + b"--\r\n")
    chunks[-1] = chunks[-1][: -len(delimiter + b"--\r\n")]
    parts = []
    for chunk in chunks[1:]:
        head, body = chunk.split(b"\r\n\r\n", 1)
        parts.append((head, body))
    return chunks[0], parts


def decode(head: bytes, body: bytes) -> bytes:
    """A part's bytes; the CRLF before the next boundary belongs to the boundary (RFC 2046), not to them."""
    assert body.endswith(CRLF)
    body = body[:-2]
    if b"Content-Transfer-Encoding: base64" in head:
        return binascii.a2b_base64(body.replace(CRLF, b""), strict_mode=True)
    assert b"Content-Transfer-Encoding: quoted-printable" in head
    return binascii.a2b_qp(body)


def assert_wire_safe(data: bytes) -> None:
    """CRLF line ends only, lines within 76 characters in the bodies, no line starting with "."."""
    assert b"\n" not in data.replace(CRLF, b"")
    assert b"\r" not in data.replace(CRLF, b"")
    assert not data.startswith(b".") and b"\n." not in data
    _, parts = split_message(data)
    for _, body in parts:
        assert max(len(line) for line in body.split(CRLF)) <= 76


def reader_token(address: str) -> str:
    """A stand-in for the reader's signed token (URL-safe base64 and a dot, as itsdangerous makes them)."""
    return base64.urlsafe_b64encode(address.encode()).decode().rstrip("=") + ".c2ln"


def assert_same_as_straightforward(
    settings: Settings, rendered: RenderedEmail, slots: Slots, address: str, name: str | None
) -> None:
    factory = MessageFactory(settings, ISSUE_ID, rendered, date=WHEN, slots=slots)
    token = reader_token(address)
    spliced = factory.build(address, name, token=token)
    link = factory.link_for(token)
    reader = personal(rendered, slots, link, name)
    whole = MessageFactory(
        settings, ISSUE_ID, reader, date=WHEN, ensure_link=False, slots=Slots.fresh()
    ).build(address, name, token=token)

    assert_wire_safe(spliced)
    headers, parts = split_message(spliced)
    whole_headers, whole_parts = split_message(whole)
    assert headers == whole_headers
    assert len(parts) == len(whole_parts) == 2
    for (head, body), (whole_head, whole_body), want in zip(
        parts, whole_parts, (reader.text, reader.html), strict=True
    ):
        assert head == whole_head
        wanted = want.encode("utf-8").replace(b"\n", CRLF)
        assert decode(head, body) == decode(whole_head, whole_body)
        assert decode(head, body).removesuffix(CRLF) == wanted.removesuffix(CRLF)
        if b"base64" in head:  # the very characters of the whole text's base64; only line breaks may differ
            assert body.replace(CRLF, b"") == base64.b64encode(wanted)
    msg = parse_message(spliced)
    plain = msg.get_body(("plain",))
    page = msg.get_body(("html",))
    assert plain is not None and page is not None
    assert plain.get_content().replace("\r\n", "\n").rstrip("\n") == reader.text.rstrip("\n")
    assert page.get_content().replace("\r\n", "\n").rstrip("\n") == reader.html.rstrip("\n")
    if name and slots.name in rendered.text:
        assert clean_header(name) in plain.get_content()
    assert link in plain.get_content()


def part_encodings(settings: Settings, rendered: RenderedEmail, slots: Slots) -> list[str]:
    data = MessageFactory(settings, ISSUE_ID, rendered, date=WHEN, slots=slots).build("a@b.co", "A")
    return [m.decode() for m in re.findall(rb"Content-Transfer-Encoding: ([\w-]+)", data)]


def test_cjk_issue_spliced_in_base64_equals_the_whole_build(tmp_path: Path) -> None:
    """A Chinese issue (both parts base64): each reader's message is the straightforward build's, to the character."""
    slots = Slots.fresh()
    settings = delivery_settings(tmp_path)
    rendered = cjk_page(slots)
    assert part_encodings(settings, rendered, slots) == ["base64", "base64"]
    for i, name in enumerate(NAMES):
        assert_same_as_straightforward(settings, rendered, slots, ADDRESSES[i % len(ADDRESSES)], name)


def test_real_chinese_render_splices_to_the_whole_build() -> None:
    """The real renderer's Chinese issue (text part base64): spliced equals whole for names of every length."""
    slots = Slots.fresh()
    settings, rendered = render_real("zh-CN", zh=True, slots=slots)
    assert part_encodings(settings, rendered, slots)[0] == "base64"
    for i, name in enumerate(NAMES):
        assert_same_as_straightforward(settings, rendered, slots, ADDRESSES[i % len(ADDRESSES)], name)


def test_real_english_render_in_quoted_printable_splices_to_the_whole_build() -> None:
    """The real renderer's English issue (both parts quoted-printable): spliced decodes exactly as the whole build."""
    slots = Slots.fresh()
    settings, rendered = render_real("en", zh=False, slots=slots)
    assert part_encodings(settings, rendered, slots) == ["quoted-printable", "quoted-printable"]
    for i, name in enumerate(NAMES):
        assert_same_as_straightforward(settings, rendered, slots, ADDRESSES[i % len(ADDRESSES)], name)


def test_every_offset_of_a_base64_seam_decodes_exactly(tmp_path: Path) -> None:
    """Names of 0 to 120 bytes put the fixed text at every 3-byte and 57-byte offset: each one is exact."""
    slots = Slots.fresh()
    settings = delivery_settings(tmp_path)
    rendered = cjk_page(slots)
    for length in range(121):
        name = ("王" * (length // 3) + "a" * (length % 3)) or None
        assert_same_as_straightforward(settings, rendered, slots, "ann@example.org", name)


def test_lines_starting_with_a_dot_are_written_so_smtp_needs_no_stuffing(tmp_path: Path) -> None:
    """Text lines (and a name) starting with "." or "..", a lone ".", long dotted lines: "=2E", decoded exactly."""
    slots = Slots.fresh()
    settings = delivery_settings(tmp_path)
    lines = [
        ".", "..", ".leading dot", "..two dots", "." + "a" * 200, "." + "=" * 90, ". " * 60, "x" * 75 + ".y" * 40,
        "trailing space ", f".{slots.name}.", f"{slots.unsubscribe}", "end",
    ]
    text = "\n".join(lines)
    rendered = RenderedEmail(subject="Dots", text=text, html="<p>" + "<br>\n".join(lines) + "</p>")
    assert part_encodings(settings, rendered, slots) == ["quoted-printable", "quoted-printable"]
    for name in (".dot first", "..", None, "." * 80):
        assert_same_as_straightforward(settings, rendered, slots, "ann@example.org", name)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*". =\n\ta李é", "\u00a0"]), max_size=400))
def test_quoted_printable_never_starts_a_line_with_a_dot_and_decodes_back(text: str) -> None:
    """Any text of dots, spaces, "=", line breaks and non-ASCII: lines <= 76, none starts with ".", decodes back."""
    data = text.encode("utf-8")
    encoded = quoted_printable(data)
    assert not encoded.startswith(b".") and b"\n." not in encoded
    assert all(len(line) <= 76 for line in encoded.split(CRLF))
    assert binascii.a2b_qp(encoded) == data.replace(b"\n", CRLF)


@pytest.mark.parametrize("continued", [False, True])
def test_a_full_line_starting_with_a_dot_breaks_before_an_escape_never_inside_it(continued: bool) -> None:
    """A 76-character line starting "." whose break would fall inside "=3D" is broken before the escape."""
    data = b"." + b"a" * 71 + b"=" + b"b" * 10
    encoded = quoted_printable(data, continued=continued)
    lines = encoded.split(CRLF)
    assert all(len(line) <= 76 for line in lines)
    assert encoded.startswith(b"=2E") and b"\n." not in encoded
    assert b"=\r\n3D" not in encoded and b"=3\r\n" not in encoded
    assert binascii.a2b_qp(encoded) == data
    assert encoded.endswith(b"=\r\n") == continued


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from([*". =\n\ta李é", "\u00a0"]), max_size=200), st.booleans())
def test_a_continued_piece_leaves_room_for_its_soft_break(text: str, continued: bool) -> None:
    """Followed by the next piece, a piece's last line plus its "=" still fits in 76 characters."""
    encoded = quoted_printable(text.encode("utf-8"), continued=continued)
    assert all(len(line) <= 76 for line in encoded.split(CRLF))
    assert not encoded.startswith(b".") and b"\n." not in encoded
    assert binascii.a2b_qp(encoded) == text.encode("utf-8").replace(b"\n", CRLF)


def test_a_spliced_message_reaches_a_real_smtp_server_byte_for_byte(tmp_path: Path) -> None:
    """Sent without dot-stuffing (dot_free): the server receives exactly the built bytes, dots and all."""
    slots = Slots.fresh()
    inbox = Inbox()
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port)
        text = "\n".join([".", ".leading", f"{slots.name}", "..", f"{slots.unsubscribe}"])
        rendered = RenderedEmail(subject="Dots", text=text, html=text.replace("\n", "<br>\n"))
        factory = MessageFactory(settings, ISSUE_ID, rendered, date=WHEN, slots=slots)
        data = factory.build("ann@example.org", ".Ann")
        backend = SmtpBackend(settings.smtp)
        with backend:
            assert backend.deliver(factory.envelope_sender, "ann@example.org", data, dot_free=True).status == "sent"
            other = b"Subject: x\r\n\r\n.\r\n..\r\n.x\r\nend\r\n"  # not from the factory: stuffed on the way
            assert backend.deliver(factory.envelope_sender, "ann@example.org", other).status == "sent"
    assert inbox.received[0].data.replace(b"\r\n", b"\n") == data.replace(b"\r\n", b"\n")
    assert inbox.received[1].data.replace(b"\r\n", b"\n") == other.replace(b"\r\n", b"\n")


def test_many_random_readers_match_the_whole_build(tmp_path: Path) -> None:
    """200 readers with random names (CJK, accents, dots, spaces) on the CJK issue and an English one."""
    rng = random.Random(13)
    alphabet = "王李欧阳éøß.- abcXYZ&<>\"'🦊"
    slots = Slots.fresh()
    settings = delivery_settings(tmp_path)
    english = RenderedEmail(
        subject="Weekly", text="Hi " + slots.name + ",\n" + "Plain English words. " * 300 + "\n" + slots.unsubscribe,
        html=f"<p>Hi {slots.name}</p>" + "<p>Plain English words.</p>" * 300 + f'<a href="{slots.unsubscribe}">u</a>',
    )
    for rendered in (cjk_page(slots), english):
        for i in range(100):
            name = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))).strip() or None
            assert_same_as_straightforward(settings, rendered, slots, ADDRESSES[i % len(ADDRESSES)], name)


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_a_reader_costs_a_fraction_of_encoding_the_parts_whole(tmp_path: Path, encoding: str) -> None:
    """Base64 as quoted-printable: no part is encoded whole per reader (the best of 30 builds, against the best of
    30 whole encodings: a loaded machine slows both, never the build alone)."""
    slots = Slots.fresh()
    settings = delivery_settings(tmp_path)
    rendered = cjk_page(slots) if encoding == "base64" else RenderedEmail(
        subject="Weekly", text="Hi " + slots.name + "\n" + "Plain English words. " * 3000 + slots.unsubscribe,
        html="<p>" + slots.name + "</p>" + "<p>Plain English words.</p>" * 3000 + slots.unsubscribe,
    )
    rendered = replace(rendered, text=rendered.text * 4, html=rendered.html * 4)  # ~100 KB and more a part
    factory = MessageFactory(settings, ISSUE_ID, rendered, date=WHEN, slots=slots)
    assert part_encodings(settings, rendered, slots) == [encoding, encoding]

    def fastest(fn, runs: int = 30) -> float:  # noqa: ANN001
        best = float("inf")
        for _ in range(runs):
            start = time.perf_counter_ns()
            fn()
            best = min(best, time.perf_counter_ns() - start)
        return best

    build = fastest(lambda: factory.build("ann@example.org", "王小明"))
    whole = fastest(lambda: MessageFactory(
        settings, ISSUE_ID, personal(rendered, slots, "https://x.example/u", "王小明"), date=WHEN,
        ensure_link=False,
    ))
    assert build * 3 < whole
