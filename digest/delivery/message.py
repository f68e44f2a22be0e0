"""One subscriber's message: multipart/alternative (text + HTML) with the headers a mailbox provider expects.

The issue is rendered once per distinct topic set with `UNSUBSCRIBE_PLACEHOLDER` as its
unsubscribe link (and `NAME_PLACEHOLDER` as the greeting's name); `MessageFactory` then
makes each recipient's message by substituting their link and name and encoding the two
parts with C-speed codecs. Sending 10,000 messages thus costs one render, not 10,000.

Unsubscribe links. Each recipient gets a token, the first 32 hex digits of
HMAC-SHA256(secret, lower-cased address). The secret is `DIGEST_UNSUBSCRIBE_SECRET` from
the environment; without it, one derived from `site.base_url` (stable, but guessable by
anyone who knows the site: set the variable when the endpoint acts on tokens). In
`mail.unsubscribe_url`, `{token}` and `{email}` (URL-quoted) are replaced; a URL with
neither gets `?email=…&token=…` appended, so an endpoint can check
`hmac(secret, email) == token` before unsubscribing. `List-Unsubscribe` carries that https
URL and/or `mail.unsubscribe_mailto` (the sender's address when neither is set);
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` is added only with an https URL, as
RFC 8058 requires.

Headers never carry CR, LF or other control characters from article text or a CSV: they
are replaced by spaces before any header is written, and non-ASCII text is RFC 2047
encoded by the `email` package's SMTP policy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html as html_mod
import os
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.headerregistry import Address
from email.utils import format_datetime, parseaddr
from urllib.parse import quote, urlsplit

from ..config import Settings
from ..models import RenderedEmail

# Rendered into the issue in place of the unsubscribe link and the reader's name, then
# replaced per recipient. Chosen so that nothing else in an issue contains them and so that
# HTML escaping leaves them unchanged.
UNSUBSCRIBE_PLACEHOLDER = "https://unsubscribe.digest.invalid/TOKEN"
NAME_PLACEHOLDER = "DigestReaderName7f3a9c"
SECRET_ENV = "DIGEST_UNSUBSCRIBE_SECRET"

CRLF = b"\r\n"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")
_MSGID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SMTP = policy.SMTP
_HIGH_BYTES = bytes(range(0x80, 0x100))
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def clean_header(value: str, limit: int = 900) -> str:
    """A header value with no CR, LF or control characters: each run becomes one space."""
    value = _SPACES.sub(" ", _CONTROL.sub(" ", value)).strip()
    return value[:limit]


def unsubscribe_secret(settings: Settings, env: Mapping[str, str] | None = None) -> bytes:
    """The HMAC key for unsubscribe tokens: `DIGEST_UNSUBSCRIBE_SECRET`, else derived from the site URL."""
    env = os.environ if env is None else env
    secret = env.get(SECRET_ENV)
    if secret:
        return secret.encode("utf-8")
    return hashlib.sha256(b"digest-unsubscribe\0" + settings.site.base_url.encode("utf-8")).digest()


def unsubscribe_token(secret: bytes, address: str) -> str:
    return hmac.new(secret, address.lower().encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def unsubscribe_links(settings: Settings, address: str, token: str) -> tuple[str | None, str | None]:
    """(https URL, mailto URL) for one recipient; either may be None."""
    url = None
    template = settings.mail.unsubscribe_url
    if template:
        email_q = quote(address, safe="@")
        if "{token}" in template or "{email}" in template:
            url = template.replace("{token}", token).replace("{email}", email_q)
        else:
            url = f"{template}{'&' if '?' in template else '?'}email={email_q}&token={token}"
        url = quote(clean_header(url), safe=_URL_SAFE)
    mailto_addr = settings.mail.unsubscribe_mailto
    if not mailto_addr and not url:
        mailto_addr = parseaddr(settings.smtp.sender)[1] or None
    mailto = f"mailto:{quote(clean_header(mailto_addr), safe='@')}?subject=unsubscribe" if mailto_addr else None
    return url, mailto


def message_id(issue_id: str, address: str, domain: str) -> str:
    """The same (issue, recipient) always gets the same Message-ID, so a receiver can drop a repeat."""
    digest = hashlib.sha256(f"{issue_id}\0{address.lower()}".encode("utf-8")).hexdigest()[:24]
    safe_issue = _MSGID_UNSAFE.sub("-", issue_id).strip("-.")[:80] or "issue"
    return f"<{digest}.{safe_issue}@{domain}>"


def _fold(name: str, value: str) -> bytes:
    header = _SMTP.header_factory(name, clean_header(value))
    return header.fold(policy=_SMTP).encode("ascii")


def _address(name: str, display: str | None, addr: str) -> bytes:
    header = _SMTP.header_factory(name, Address(display_name=clean_header(display or "", 200), addr_spec=addr))
    return header.fold(policy=_SMTP).encode("ascii")


def _choose_encoding(data: bytes) -> str:
    """Quoted-printable for mostly-ASCII parts (readable), base64 when it would be shorter (CJK)."""
    high = len(data) - len(data.translate(None, _HIGH_BYTES))
    return "quoted-printable" if 2 * high < 0.35 * max(len(data), 1) else "base64"


def _encode(data: bytes, cte: str) -> bytes:
    """Text in its canonical form (CRLF line breaks), encoded; quoted-printable writes them as CRLF too."""
    if cte == "base64":
        return base64.encodebytes(data.replace(b"\n", CRLF)).replace(b"\n", CRLF)
    return binascii.b2a_qp(data, False, True, False).replace(b"\n", CRLF)


_PLACEHOLDERS = re.compile(f"({re.escape(UNSUBSCRIBE_PLACEHOLDER)}|{re.escape(NAME_PLACEHOLDER)})")
SOFT_BREAK = b"=\r\n"


class _Body:
    """One MIME part of the issue, encoded once; per recipient only the link and the name are encoded.

    Quoted-printable allows a soft line break ("=" CRLF) anywhere, so the text between
    placeholders is encoded here once and each recipient's values are encoded between
    soft breaks: every line stays within 76 characters and decodes to the whole text.
    Base64 has no such seams: it is encoded whole each time, at C speed.
    """

    def __init__(self, content_type: str, text: str, *, escape: bool) -> None:
        self.cte = _choose_encoding(text.encode("utf-8"))
        self.escape = escape
        self.head = (
            f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: {self.cte}\r\n\r\n'
        ).encode("ascii")
        self.pieces = _PLACEHOLDERS.split(text)  # static, placeholder, static, placeholder, …, static
        self.encoded = [_encode(p.encode("utf-8"), self.cte) for p in self.pieces[::2]] if self.cte != "base64" else []

    def render(self, link: str, name: str | None) -> bytes:
        name = name or ""
        if self.escape:
            link, name = html_mod.escape(link, quote=True), html_mod.escape(name)
        values = {UNSUBSCRIBE_PLACEHOLDER: link, NAME_PLACEHOLDER: name}
        if self.cte == "base64":
            pieces = self.pieces
            text = "".join(p if i % 2 == 0 else values[p] for i, p in enumerate(pieces))
            body = _encode(text.encode("utf-8"), self.cte)
        else:
            out: list[bytes] = []
            for i, static in enumerate(self.encoded):
                if i:
                    value = _encode(values[self.pieces[2 * i - 1]].encode("utf-8"), self.cte)
                    if value:
                        out += [value, SOFT_BREAK]
                if static:
                    out.append(static)
                    if i < len(self.encoded) - 1 and not static.endswith(CRLF):
                        out.append(SOFT_BREAK)
            body = b"".join(out)
        if not body.endswith(CRLF):
            body += CRLF
        return self.head + body


def _with_link(text: str, html: str, footer: str) -> tuple[str, str]:
    """Bodies that lack the placeholder (a renderer that ignores it) still get a per-recipient link."""
    if UNSUBSCRIBE_PLACEHOLDER not in text:
        text = text.rstrip("\n") + f"\n\n{footer}: {UNSUBSCRIBE_PLACEHOLDER}\n"
    if UNSUBSCRIBE_PLACEHOLDER not in html:
        link = f'<p style="font-size:12px"><a href="{UNSUBSCRIBE_PLACEHOLDER}">{html_mod.escape(footer)}</a></p>'
        at = html.lower().rfind("</body>")
        html = html[:at] + link + html[at:] if at >= 0 else html + link
    return text, html


class MessageFactory:
    """Makes each recipient's message bytes from one rendered issue (placeholders in it)."""

    def __init__(
        self,
        settings: Settings,
        issue_id: str,
        rendered: RenderedEmail,
        *,
        date: datetime | None = None,
        secret: bytes | None = None,
        ensure_link: bool = True,
    ) -> None:
        """`ensure_link` adds an unsubscribe line to a body that lacks the placeholder."""
        self.settings = settings
        self.issue_id = issue_id
        self.secret = secret if secret is not None else unsubscribe_secret(settings)
        sender_name, sender_addr = parseaddr(clean_header(settings.smtp.sender))
        self.envelope_sender = sender_addr or "digest@localhost"
        self.domain = self.envelope_sender.rpartition("@")[2] or "localhost"
        text = rendered.text.replace("\r\n", "\n").replace("\r", "\n")
        html = rendered.html.replace("\r\n", "\n").replace("\r", "\n")
        if ensure_link:
            text, html = _with_link(text, html, "Unsubscribe")
        self._text = _Body("text/plain", text, escape=False)
        self._html = _Body("text/html", html, escape=True)
        self._subject = rendered.subject
        when = date or datetime.now(timezone.utc)
        host = urlsplit(settings.site.base_url).hostname or self.domain
        list_name = clean_header(settings.site.title).replace("<", "").replace(">", "")
        list_id = settings.mail.list_id or f"{list_name} <{host}>"
        if "<" not in list_id:
            list_id = f"<{list_id}>"
        self.boundary = f"=_digest_{uuid.uuid5(uuid.NAMESPACE_URL, issue_id + str(when.timestamp())).hex}"
        self._head = b"".join(
            [
                _address("From", sender_name, self.envelope_sender),
                _fold("Date", format_datetime(when)),
                b"MIME-Version: 1.0\r\n",
                _fold("List-Id", list_id),
            ]
        )
        self._subject_line = None if NAME_PLACEHOLDER in self._subject else _fold("Subject", self._subject)
        self._multipart = f'Content-Type: multipart/alternative;\r\n boundary="{self.boundary}"\r\n'.encode("ascii")

    def build(self, address: str, name: str | None = None) -> bytes:
        """The complete message for one recipient, CRLF line ends, ready for SMTP DATA."""
        token = unsubscribe_token(self.secret, address)
        url, mailto = unsubscribe_links(self.settings, address, token)
        link = url or mailto or ""
        name = clean_header(name, 200) if name else None
        subject_line = self._subject_line
        if subject_line is None:
            subject_line = _fold("Subject", self._subject.replace(NAME_PLACEHOLDER, name or ""))
        lines = [
            self._head,
            _address("To", name, address) if name else f"To: {address}\r\n".encode("ascii"),
            subject_line,
            f"Message-ID: {message_id(self.issue_id, address, self.domain)}\r\n".encode("ascii"),
        ]
        targets = [f"<{u}>" for u in (url, mailto) if u]
        if targets:
            lines.append(("List-Unsubscribe: " + ",\r\n ".join(targets) + "\r\n").encode("ascii"))
        if url and url.startswith("https://"):
            lines.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        lines.append(self._multipart)
        delimiter = f"--{self.boundary}\r\n".encode("ascii")
        return b"".join(
            [
                *lines,
                CRLF,
                delimiter,
                self._text.render(link, name),
                delimiter,
                self._html.render(link, name),
                f"--{self.boundary}--\r\n".encode("ascii"),
            ]
        )

    def link_for(self, address: str) -> str:
        """The unsubscribe link this recipient's message carries in its bodies."""
        url, mailto = unsubscribe_links(self.settings, address, unsubscribe_token(self.secret, address))
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
    name: str | None = None,
    date: datetime | None = None,
    secret: bytes | None = None,
) -> EmailMessage:
    """One recipient's message as an EmailMessage (for previews and tests; sending uses the factory).

    The bodies are used as rendered: a link is substituted where `UNSUBSCRIBE_PLACEHOLDER`
    appears, and none is added where it does not.
    """
    factory = MessageFactory(settings, issue_id, rendered, date=date, secret=secret, ensure_link=False)
    return parse_message(factory.build(recipient, name))
