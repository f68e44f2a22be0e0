"""The double opt-in mail: "confirm your subscription", text + HTML, in en or zh-CN, as bytes for SMTP DATA.

Its headers are written by headers.py (the same byte-by-byte writing and folding as an
issue's), its bodies encoded by encoding.py (quoted-printable whose lines never start with
".", base64 for CJK), so it goes out without dot-stuffing. It carries no List-Unsubscribe: it
is the one mail a reader gets before subscribing, and ignoring it is how one declines.

Sending is `smtp_sender`: one SmtpBackend connection per mail, under a lock (sign-ups are rare;
a connection held open between them would only time out at the server).
"""

from __future__ import annotations

import html
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime, parseaddr

from digest.config import Settings, SmtpSettings
from digest.delivery.encoding import CRLF, base64_lines, choose_encoding, quoted_printable
from digest.delivery.headers import address_line, clean_header, header_line, text_pieces
from digest.delivery.smtp import SmtpBackend
from digest.errors import DeliveryError

SendMail = Callable[[bytes, str, str], None]  # (message bytes, envelope sender, recipient)

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Confirm your subscription to {site}",
        "hello": "Hello,",
        "asked": "Someone, we hope you, asked to get {site} by email at {address}.",
        "open": "To confirm, open this link and press the button on the page:",
        "button": "Confirm my subscription",
        "expires": "The link works for {hours} hours.",
        "ignore": "If you did not ask for this, ignore this email: you will get nothing more from us.",
    },
    "zh-CN": {
        "subject": "请确认订阅{site}",
        "hello": "您好：",
        "asked": "有人（希望是您）请求用 {address} 通过邮件接收{site}。",
        "open": "请打开下面的链接，并点击页面上的按钮确认：",
        "button": "确认订阅",
        "expires": "链接在 {hours} 小时内有效。",
        "ignore": "如果这不是您的请求，请忽略这封邮件：您不会再收到我们的邮件。",
    },
}


def _hours(hours: float) -> str:
    return f"{hours:g}"


def _part(content_type: str, text: str) -> bytes:
    data = text.replace("\r\n", "\n").encode("utf-8")
    cte = choose_encoding(data)
    body = base64_lines(data.replace(b"\n", CRLF)) if cte == "base64" else quoted_printable(data)
    if not body.endswith(CRLF):
        body += CRLF
    head = f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    return head.encode("ascii") + body


def confirmation_bodies(settings: Settings, address: str, confirm_url: str, language: str) -> tuple[str, str, str]:
    """(subject, text, HTML) of the mail, in `language` (English when digest has no words for it)."""
    words = WORDS.get(language, WORDS["en"])
    site = clean_header(settings.site.title, 200)
    hours = _hours(settings.subscribe.confirm_ttl_hours)
    subject = words["subject"].format(site=site)
    asked = words["asked"].format(site=site, address=address)
    expires = words["expires"].format(hours=hours)
    text = "\n".join([words["hello"], "", asked, words["open"], "", confirm_url, "", expires, words["ignore"], ""])
    e = html.escape
    page = (
        f'<!doctype html><html lang="{e(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(subject)}</title></head>\n"
        '<body style="margin:0;padding:24px;background:#ffffff;color:#1b1b1b;'
        'font:16px/1.6 -apple-system,BlinkMacSystemFont,\'Segoe UI\',Arial,\'PingFang SC\',\'Microsoft YaHei\','
        "'Noto Sans CJK SC',sans-serif\">\n"
        f"<p>{e(words['hello'])}</p>\n<p>{e(asked)}</p>\n"
        f'<p><a href="{e(confirm_url)}" style="display:inline-block;padding:12px 20px;background:#0b57d0;'
        f'color:#ffffff;border-radius:6px;font-weight:600;text-decoration:none">{e(words["button"])}</a></p>\n'
        f'<p style="font-size:14px;color:#4a4a4a">{e(words["open"])}<br>'
        f'<a href="{e(confirm_url)}" style="color:#0b57d0;word-break:break-all">{e(confirm_url)}</a></p>\n'
        f'<p style="font-size:14px;color:#4a4a4a">{e(expires)} {e(words["ignore"])}</p>\n'
        "</body></html>\n"
    )
    return subject, text, page


def confirmation_message(
    settings: Settings, *, address: str, confirm_url: str, language: str, date: datetime
) -> bytes:
    """The whole message for `address`, CRLF line ends, no line starting with "." (send with dot_free)."""
    subject, text, page = confirmation_bodies(settings, address, confirm_url, language)
    sender_name, sender_addr = parseaddr(clean_header(settings.smtp.sender))
    sender_addr = sender_addr or "digest@localhost"
    domain = sender_addr.rpartition("@")[2] or "localhost"
    boundary = f"=_digest_confirm_{secrets.token_hex(12)}"
    return b"".join(
        [
            address_line("From", sender_name, sender_addr),
            address_line("To", None, address),
            header_line("Subject", text_pieces(clean_header(subject))),
            header_line("Date", format_datetime(date).split(" ")),
            f"Message-ID: <{secrets.token_hex(16)}.confirm@{domain}>\r\n".encode("ascii"),
            b"MIME-Version: 1.0\r\n",
            b"Auto-Submitted: auto-generated\r\n",
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n'.encode("ascii"),
            CRLF,
            f"--{boundary}\r\n".encode("ascii"),
            _part("text/plain", text),
            f"--{boundary}\r\n".encode("ascii"),
            _part("text/html", page),
            f"--{boundary}--\r\n".encode("ascii"),
        ]
    )


def envelope_sender(settings: Settings, sid: str) -> str:
    """MAIL FROM for a reader's mail: smtp.return_path (its `{token}` the reader's id), else the From address."""
    if settings.smtp.return_path:
        return settings.smtp.return_path.replace("{token}", sid)
    return parseaddr(clean_header(settings.smtp.sender))[1] or "digest@localhost"


def smtp_sender(cfg: SmtpSettings, password: str | None) -> SendMail:
    """A `send_mail` that delivers through the configured SMTP server; raises DeliveryError if it is refused."""
    lock = threading.Lock()

    def send(data: bytes, sender: str, recipient: str) -> None:
        with lock, SmtpBackend(cfg, password) as backend:
            outcome = backend.deliver(sender, recipient, data, dot_free=True)
        if outcome.status != "sent":
            raise DeliveryError(f"confirmation mail to {recipient} not sent ({outcome.status}): {outcome.reply}")

    return send
