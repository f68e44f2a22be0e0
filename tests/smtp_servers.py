"""Real SMTP servers for the delivery tests: aiosmtpd on 127.0.0.1, each on a free port.

- `Inbox`: keeps every message (envelope recipients and bytes), parsed back with `email`.
- `FaultyInbox`: an Inbox that drops the connection after K messages, answers 451 to the
  first N recipients, 550 to chosen addresses, and can vanish after DATA (an ambiguous end).
- `serve(...)`: plain, STARTTLS (trustme test CA), implicit TLS, with or without AUTH.
"""

from __future__ import annotations

import email
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    rcpts: list[str]
    data: bytes
    peer: tuple[str, int] | None

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.on_message = None  # called with the count after each accepted message (tests use it to kill)

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201 - aiosmtpd's hook
        return self.accept(session, envelope)

    def accept(self, session, envelope) -> str:  # noqa: ANN001
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), envelope.original_content, session.peer))
            count = len(self.received)
        if self.on_message is not None:
            self.on_message(count)
        return "250 OK queued"

    def counts(self) -> Counter[str]:
        """Messages per recipient address (lower-cased)."""
        with self.lock:
            return Counter(r.lower() for m in self.received for r in m.rcpts)

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [m.message for m in self.received]


@dataclass
class Faults:
    drop_after: int | None = None  # drop each connection at the MAIL after this many messages on it
    tempfail_first: int = 0  # answer 451 to this many RCPT commands, across connections
    reject: set[str] = field(default_factory=set)  # answer 550 at RCPT for these addresses
    vanish_after_data: set[str] = field(default_factory=set)  # take the message, then drop without a reply


class FaultyInbox(Inbox):
    """An Inbox that misbehaves as `faults` says."""

    def __init__(self, faults: Faults) -> None:
        super().__init__()
        self.faults = faults
        self.per_connection: Counter[tuple[str, int] | None] = Counter()
        self.tempfailed = 0
        self.drops = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: ANN001, ANN201
        limit = self.faults.drop_after
        if limit is not None and self.per_connection[session.peer] >= limit:
            self.drops += 1
            server.transport.close()
            return "421 going away"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        if address.lower() in self.faults.reject:
            return "550 5.1.1 no such mailbox here"
        if self.tempfailed < self.faults.tempfail_first:
            self.tempfailed += 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        reply = self.accept(session, envelope)
        self.per_connection[session.peer] += 1
        if any(r.lower() in self.faults.vanish_after_data for r in envelope.rcpt_tos):
            server.transport.close()
        return reply


class _Controller(Controller):
    """aiosmtpd's Controller on a free port of 127.0.0.1."""

    def __init__(self, handler: object, **kwargs: object) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=free_port(), **kwargs)


@dataclass
class TestCA:
    """A trustme CA and a server certificate for 127.0.0.1 and localhost."""

    ca_file: Path
    server_context: ssl.SSLContext


def make_ca(folder: Path) -> TestCA:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    ca_file = folder / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return TestCA(ca_file, server_context)


def password_checker(username: str, password: str):  # noqa: ANN201
    """An aiosmtpd authenticator accepting exactly this login."""

    def check(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == username
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


@contextmanager
def serve(
    handler: Inbox,
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    login: tuple[str, str] | None = None,
    auth_require_tls: bool = True,
) -> Iterator[int]:
    """Run an SMTP server for `handler` on 127.0.0.1; yield its port."""
    kwargs: dict[str, object] = {}
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if implicit_tls is not None:
        kwargs["ssl_context"] = implicit_tls
    if login is not None:
        kwargs.update(authenticator=password_checker(*login), auth_require_tls=auth_require_tls)
    else:
        kwargs["auth_require_tls"] = False
    controller = _Controller(handler, **kwargs)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


# -- settings, issues and a renderer for the delivery tests ---------------------------------------


def delivery_settings(tmp: Path, port: int = 25, *, smtp: dict | None = None, mail: dict | None = None, **top: object):
    """Settings for a test send: state in `tmp`, SMTP on 127.0.0.1:`port` without TLS, fast retries."""
    from digest.config import settings_from_mapping

    data: dict[str, object] = {
        "site": {"title": "Test Digest", "base_url": "https://news.example.com", "timezone": "UTC"},
        "state": str(tmp / "state.sqlite"),
        "out": str(tmp / "issues"),
        "content": str(tmp / "content"),
        "smtp": {
            "host": "127.0.0.1", "port": port, "security": "none", "sender": "Test Digest <digest@news.example.com>",
            "timeout": 10, "retry_base_seconds": 0.01, "max_attempts": 5, **(smtp or {}),
        },
        "mail": {
            "unsubscribe_url": "https://news.example.com/unsubscribe?t={token}",
            "unsubscribe_mailto": "unsubscribe@news.example.com",
            **(mail or {}),
        },
        **top,
    }
    return settings_from_mapping(data, tmp)


def make_issue(issue_id: str = "2025-07-01_2025-07-08", titles: list[tuple[str, list[str]]] | None = None):
    """An Issue of a few summarized articles: (title, topics) pairs."""
    from datetime import datetime, timezone

    from digest.models import Article, Issue

    when = datetime(2025, 7, 5, 8, tzinfo=timezone.utc)
    titles = titles or [
        ("Chips and capital", ["AI", "Markets"]), ("Rain in July", ["Weather"]), ("市场周报", ["Markets"]),
    ]
    articles = [
        Article(
            path=f"posts/a{i}.md", source=Path(f"/nonexistent/a{i}.md"), title=title, date=when, topics=topics,
            url=f"https://news.example.com/posts/a{i}/", tldr=f"Summary {i} of {title}.",
        )
        for i, (title, topics) in enumerate(titles)
    ]
    return Issue(
        issue_id, datetime(2025, 7, 1, tzinfo=timezone.utc), datetime(2025, 7, 8, tzinfo=timezone.utc), articles
    )


def fake_render(issue, settings, *, unsubscribe_url=None, recipient_name=None):  # noqa: ANN001, ANN201
    """A stand-in for digest.render.issue: the titles, the greeting and the unsubscribe link, in text and HTML."""
    import html

    from digest.models import RenderedEmail

    hello = f"Hello {recipient_name}," if recipient_name else "Hello,"
    titles = [a.title for a in issue.articles]
    text = "\n".join([hello, "", *(f"* {t}" for t in titles), "", f"Unsubscribe: {unsubscribe_url}", ""])
    items = "".join(f"<li>{html.escape(t)}</li>" for t in titles)
    page = (
        f"<html><body><p>{html.escape(hello)}</p><ul>{items}</ul>"
        f'<p><a href="{html.escape(unsubscribe_url or "")}">Unsubscribe</a></p></body></html>'
    )
    return RenderedEmail(subject=f"{settings.site.title}: {', '.join(titles)}", html=page, text=text)
