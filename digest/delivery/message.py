"""One subscriber's message: multipart/alternative (text + HTML) with the headers a mailbox provider expects.

The issue is rendered once per distinct topic set with a `Slots` pair in place of the
unsubscribe link and the greeting's name; `MessageFactory` encodes the fixed text of each
part once and makes each recipient's message by encoding only their link and name and
splicing them in (`_Body`): tens of microseconds a reader, for base64 and quoted-printable
parts alike. Sending 10,000 messages thus costs one render, not 10,000. The slots hold a random
nonce made when the sender renders (`Slots.fresh()`), so an article that holds a slot-like
string (in its url, title or text) is never filled in with a reader's name, address or token.

Unsubscribe links name no address. Each reader's link carries a token: the signed MANAGE
token of their opaque id in the subscriber store (`digest.tokens`), which the pipeline makes
once per run for the rows still to send and hands in per message (`build(..., token=)`); the
send refuses to start without a good `DIGEST_SECRET` when messages carry a URL. The URL is
`mail.unsubscribe_url` with `{token}` replaced (`t=<token>` appended to a URL without it), or,
when that is unset and `subscribe.public_url` is set, `<public_url>/unsubscribe?t=<token>`
(`digest serve`'s page). `List-Unsubscribe` carries that URL and/or `mail.unsubscribe_mailto`
(the sender's address when neither is set); `List-Unsubscribe-Post: List-Unsubscribe=One-Click`
is added only with an https URL, as RFC 8058 requires.

Headers are written by `headers.py` (byte by byte from structured values, folded at 78 columns
only between words) and the parts encoded by `encoding.py` (quoted-printable or base64, no line
starting with "."), the same writers as the confirmation mail's.
"""

from __future__ import annotations

import hashlib
import html as html_mod
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import quote, urlsplit

from digest.config import Settings
from digest.delivery.encoding import CRLF, base64_lines, choose_encoding, quoted_printable
from digest.delivery.headers import address_line, clean_header, header_line, phrase_pieces, text_pieces
from digest.models import RenderedEmail

# The token of a message built without one (`digest build`'s preview .eml, a `--test` copy):
# not a signed token, so no endpoint accepts it and a click on it unsubscribes no one.
NO_TOKEN = "no-reader"


@dataclass(frozen=True)
class Slots:
    """What the issue is rendered with in place of each reader's unsubscribe link and name.

    Made with a random nonce per render (`fresh`), so no article can hold them; they survive
    HTML escaping and text wrapping unchanged (letters, digits, `:/.` only).
    """

    unsubscribe: str
    name: str

    @classmethod
    def fresh(cls) -> Slots:
        unsubscribe, name = secrets.token_hex(12), secrets.token_hex(12)
        return cls(f"https://unsubscribe.digest.invalid/{unsubscribe}", f"DigestReaderName{name}")


# The slots of a factory given none (previews, tests): random per process, never a fixed string.
DEFAULT_SLOTS = Slots.fresh()
UNSUBSCRIBE_PLACEHOLDER = DEFAULT_SLOTS.unsubscribe
NAME_PLACEHOLDER = DEFAULT_SLOTS.name

_MSGID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_TOKEN_SAFE = re.compile(r"[A-Za-z0-9._~-]*")  # goes into a URL as it is
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def _list_id(settings: Settings, host: str) -> bytes:
    """`List-Id: phrase <id>`: mail.list_id (either form), else the site's title and host."""
    phrase = clean_header(settings.site.title, 200)
    ident = host
    if settings.mail.list_id:
        given = clean_header(settings.mail.list_id)
        bracketed = re.fullmatch(r"(.*?)\s*<([^<>]*)>", given)
        phrase, ident = (bracketed.group(1), bracketed.group(2)) if bracketed else ("", given)
    ident = _MSGID_UNSAFE.sub("-", ident).strip("-.") or "digest.invalid"
    return header_line("List-Id", [*phrase_pieces(phrase.replace("<", "").replace(">", "").strip()), f"<{ident}>"])


def unsubscribe_template(settings: Settings) -> str | None:
    """The unsubscribe URL with `{token}` where each reader's token goes; None when messages carry no URL."""
    template = settings.mail.unsubscribe_url
    if not template and settings.subscribe.public_url:
        template = settings.subscribe.public_url.rstrip("/") + "/unsubscribe?t={token}"
    if template and "{token}" not in template:
        template += ("&" if "?" in template else "?") + "t={token}"
    return template or None


def unsubscribe_links(settings: Settings, token: str, template: str | None = None) -> tuple[str | None, str | None]:
    """(URL, mailto URL) for one reader's token; either may be None. `template`: unsubscribe_template's."""
    template = template if template is not None else unsubscribe_template(settings)
    url = quote(clean_header(template.replace("{token}", token)), safe=_URL_SAFE) if template else None
    mailto_addr = settings.mail.unsubscribe_mailto
    if not mailto_addr and not url:
        mailto_addr = parseaddr(settings.smtp.sender)[1] or None
    mailto = f"mailto:{quote(clean_header(mailto_addr), safe='@')}?subject=unsubscribe" if mailto_addr else None
    return url, mailto


def message_id(issue_id: str, address: str, domain: str) -> str:
    """The same (issue, recipient) always gets the same Message-ID, so a receiver can drop a repeat."""
    digest = hashlib.sha256(f"{issue_id}\0{address.lower()}".encode()).hexdigest()[:24]
    safe_issue = _MSGID_UNSAFE.sub("-", issue_id).strip("-.")[:80] or "issue"
    return f"<{digest}.{safe_issue}@{domain}>"


_B64_RUN_MIN = 3 * 57  # a static piece shorter than three base64 lines is encoded with its seam

def _split_run(data: bytes, skip: int) -> tuple[bytes, bytes, bytes]:
    """(the `skip` bytes before the run, the run of whole 3-byte groups after them in base64, the 0-2 bytes left)."""
    end = len(data) - (len(data) - skip) % 3
    return data[:skip], base64_lines(data[skip:end]), data[end:]


class _Body:
    """One MIME part of the issue: its fixed text encoded once, each reader's values spliced in.

    The text is split at the slots (static, slot, static, …, static). Per recipient only the
    values (link, name) and the few bytes at each seam are encoded, and the static pieces'
    encodings are joined as they are. What a reader decodes is exactly the text with their
    values in (what encoding that whole text gives); only where the encoded lines break differs.

    - quoted-printable: a soft line break ("=" CRLF) may stand anywhere, so each piece is
      encoded on its own and the pieces are joined by soft breaks.
    - base64: 3 bytes make 4 characters, so a piece can be encoded on its own only from a
      3-byte boundary of the whole text, which moves with the length of the values before it.
      Each long static piece is encoded once for each of the three places that boundary can
      fall in it (skipping 0, 1 or 2 of its bytes); per recipient the seam (the bytes left over
      from before, the value, the 0-2 skipped bytes: a multiple of 3) is encoded and joined to
      the run for that skip. The base64 characters are exactly those of the whole text; lines
      hold at most 76 of them, and each run ends its line.

    No line of either starts with ".", so the message needs no SMTP dot-stuffing.
    """

    def __init__(self, content_type: str, text: str, slots: Slots, *, escape: bool) -> None:
        self.cte = choose_encoding(text.encode("utf-8"))
        self.escape = escape
        self.slots = slots
        self.head = (
            f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: {self.cte}\r\n\r\n'
        ).encode("ascii")
        split = re.compile(f"({re.escape(slots.unsubscribe)}|{re.escape(slots.name)})")
        pieces = split.split(text)  # static, slot, static, slot, …, static
        self.slot_order = pieces[1::2]
        self.static: list[bytes] = []
        self.runs: list[list[tuple[bytes, bytes, bytes]] | None] = []
        self.encoded: list[bytes] = []
        if self.cte == "base64":
            self.static = [p.encode("utf-8").replace(b"\n", CRLF) for p in pieces[::2]]  # canonical: CRLF line ends
            # Per static piece and skip (0-2 bytes): (skipped head, its run of whole 3-byte groups
            # encoded, the 0-2 bytes after them); None for a piece short enough to go with its seam.
            self.runs = [
                [_split_run(data, k) for k in range(3)] if len(data) >= _B64_RUN_MIN else None
                for data in self.static
            ]
        else:  # b2a_qp reads "\n" as the line break, and writes it: CRLF after
            last = len(pieces) - 1
            self.encoded = [
                quoted_printable(p.encode("utf-8"), continued=i < last) for i, p in enumerate(pieces) if i % 2 == 0
            ]

    def values(self, link: str, name: str | None) -> list[bytes]:
        """The bytes that go in each slot, in order, for one recipient."""
        name = name or ""
        if self.escape:
            link, name = html_mod.escape(link, quote=True), html_mod.escape(name)
        by_slot = {self.slots.unsubscribe: link.encode("utf-8"), self.slots.name: name.encode("utf-8")}
        return [by_slot[slot] for slot in self.slot_order]

    def render(self, link: str, name: str | None, out: list[bytes]) -> None:
        """Append the part (its head, then its body ending in CRLF) to `out`: the pieces, not copied into one."""
        values = self.values(link, name)
        out.append(self.head)
        start = len(out)
        if self.cte == "base64":
            self._base64_body(values, out)
        else:
            self._qp_body(values, out)
        if len(out) == start or not out[-1].endswith(CRLF):
            out.append(CRLF)

    def _qp_body(self, values: list[bytes], out: list[bytes]) -> None:
        for i, static in enumerate(self.encoded):
            if i and values[i - 1]:
                out.append(quoted_printable(values[i - 1], continued=True))
            if static:
                out.append(static)

    def _base64_body(self, values: list[bytes], out: list[bytes]) -> None:
        carry = b""  # bytes not yet encoded: they start on a 3-byte boundary of the whole text
        for i, runs in enumerate(self.runs):
            if i:
                carry += values[i - 1]
            if runs is None:
                carry += self.static[i]
                continue
            head, run, tail = runs[-len(carry) % 3]
            if carry or head:
                out.append(base64_lines(carry + head))
            if run:
                out.append(run)
            carry = tail
        if carry:
            out.append(base64_lines(carry))


def _with_link(text: str, html: str, footer: str, slot: str) -> tuple[str, str]:
    """Bodies that lack the link's slot (a renderer that ignores it) still get a per-recipient link."""
    if slot not in text:
        text = text.rstrip("\n") + f"\n\n{footer}: {slot}\n"
    if slot not in html:
        link = f'<p style="font-size:12px"><a href="{slot}">{html_mod.escape(footer)}</a></p>'
        at = html.lower().rfind("</body>")
        html = html[:at] + link + html[at:] if at >= 0 else html + link
    return text, html


class MessageFactory:
    """Makes each recipient's message bytes from one rendered issue (`slots` in it where each reader's values go)."""

    def __init__(
        self,
        settings: Settings,
        issue_id: str,
        rendered: RenderedEmail,
        *,
        date: datetime,
        ensure_link: bool = True,
        slots: Slots = DEFAULT_SLOTS,
    ) -> None:
        """`date` is the messages' Date. `ensure_link` adds an unsubscribe line to a body that lacks
        the slot. Each reader's token comes made, per message (`build(..., token=)`)."""
        self.settings = settings
        self.issue_id = issue_id
        self.slots = slots
        sender_name, sender_addr = parseaddr(clean_header(settings.smtp.sender))
        self.envelope_sender = sender_addr or "digest@localhost"
        self.return_path = settings.smtp.return_path
        template = unsubscribe_template(settings)
        # The URL around the token, quoted once: a token (URL-safe base64 and dots) goes in as it is.
        parts = template.split("{token}") if template else []
        self._url = [quote(clean_header(part), safe=_URL_SAFE) for part in parts]
        self._mailto = unsubscribe_links(settings, NO_TOKEN, template)[1]
        self.domain = _MSGID_UNSAFE.sub("-", self.envelope_sender.rpartition("@")[2]).strip("-.") or "localhost"
        text = rendered.text.replace("\r\n", "\n").replace("\r", "\n")
        html = rendered.html.replace("\r\n", "\n").replace("\r", "\n")
        if ensure_link:
            text, html = _with_link(text, html, "Unsubscribe", slots.unsubscribe)
        self._text = _Body("text/plain", text, slots, escape=False)
        self._html = _Body("text/html", html, slots, escape=True)
        self._subject = clean_header(rendered.subject)
        when = date
        host = urlsplit(settings.site.base_url).hostname or self.domain
        self.boundary = f"=_digest_{uuid.uuid5(uuid.NAMESPACE_URL, issue_id + str(when.timestamp())).hex}"
        self._head = b"".join(
            [
                address_line("From", sender_name, self.envelope_sender),
                header_line("Date", format_datetime(when).split(" ")),
                b"MIME-Version: 1.0\r\n",
                _list_id(settings, host),
            ]
        )
        self._subject_line = None if slots.name in self._subject else header_line("Subject", text_pieces(self._subject))
        self._multipart = f'Content-Type: multipart/alternative;\r\n boundary="{self.boundary}"\r\n'.encode("ascii")
        self._delimiter = f"--{self.boundary}\r\n".encode("ascii")
        self._close = f"--{self.boundary}--\r\n".encode("ascii")

    def mail_from(self, sid: str | None) -> str:
        """The envelope sender for one reader: `smtp.return_path` with `{token}` as their id (VERP),
        else the From address."""
        if not self.return_path:
            return self.envelope_sender
        return self.return_path.replace("{token}", sid or NO_TOKEN)

    def links(self, token: str) -> tuple[str | None, str | None]:
        """(URL, mailto) for one reader's token."""
        if not self._url:
            return None, self._mailto
        if not _TOKEN_SAFE.fullmatch(token):
            token = quote(token, safe="")
        return token.join(self._url), self._mailto

    def build(self, address: str, name: str | None = None, *, token: str = NO_TOKEN) -> bytes:
        """The complete message for one recipient, CRLF line ends, ready for SMTP DATA: no line starts with ".".

        `token`: the reader's unsubscribe token (NO_TOKEN for a preview or a test copy)."""
        url, mailto = self.links(token)
        link = url or mailto or ""
        name = clean_header(name, 200) if name else None
        subject_line = self._subject_line
        if subject_line is None:
            subject = clean_header(self._subject.replace(self.slots.name, name or ""))
            subject_line = header_line("Subject", text_pieces(subject))
        lines = [
            self._head,
            address_line("To", name, address),
            subject_line,
            f"Message-ID: {message_id(self.issue_id, address, self.domain)}\r\n".encode("ascii"),
        ]
        targets = [f"<{u}>" for u in (url, mailto) if u]
        if targets:
            lines.append(header_line("List-Unsubscribe", [t + "," for t in targets[:-1]] + targets[-1:]))
        if url and url.startswith("https://"):
            lines.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        lines += [self._multipart, CRLF, self._delimiter]
        self._text.render(link, name, lines)
        lines.append(self._delimiter)
        self._html.render(link, name, lines)
        lines.append(self._close)
        return b"".join(lines)  # the one copy of the bodies per recipient

    def link_for(self, token: str) -> str:
        """The unsubscribe link a message with this token carries in its bodies."""
        url, mailto = self.links(token)
        return url or mailto or ""


def parse_message(data: bytes) -> EmailMessage:
    """Message bytes back as an EmailMessage (policy.default)."""
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def build_message(
    issue_id: str,
    rendered: RenderedEmail,
    settings: Settings,
    recipient: str,
    *,
    date: datetime,
    token: str = NO_TOKEN,
    name: str | None = None,
) -> EmailMessage:
    """One recipient's message as an EmailMessage (for previews and tests; sending uses the factory).

    The bodies are used as rendered: a link is substituted where `UNSUBSCRIBE_PLACEHOLDER`
    (this process's default slot) appears, and none is added where it does not.
    """
    factory = MessageFactory(settings, issue_id, rendered, date=date, ensure_link=False)
    return parse_message(factory.build(recipient, name, token=token))
