"""Real servers for the web tests: the app under uvicorn on a free 127.0.0.1 port, aiosmtpd for its mail.

- `Clock`: the app's clock, moved by the test (`clock.advance(hours=49)`), never slept on.
- `site_settings(tmp, smtp_port, **subscribe)`: a site whose pages offer two topics.
- `running_app(settings, clock, ...)`: uvicorn in a thread serving create_app; yields its base URL
  (https with `tls=tls_files(folder)`: a trustme CA and a certificate for 127.0.0.1).
- `confirm_link(inbox, address)`: the link in the newest confirmation mail to `address`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme
import uvicorn
from smtp_servers import Inbox, free_port

from digest.config import Settings, settings_from_mapping
from digest.delivery.confirmation import smtp_sender
from digest.web.app import create_app

SECRET = b"web-test-secret-0123456789abcdefghijklmnop"
START = 1_750_000_000.0  # 2025-06-15, the tests' "now"
ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, *, hours: float) -> None:
        self.now += hours * 3600


def site_settings(tmp: Path, smtp_port: int, *, language: str = "en", state: str | None = None,
                  **subscribe: object) -> Settings:
    """A site for the pages; `state`: its ledger (a file or a postgresql:// URL; default a file in `tmp`)."""
    data = {
        "site": {"title": "Test Digest", "base_url": "https://news.example.com", "language": language},
        "state": state or str(tmp / "state.sqlite"),
        "out": str(tmp / "issues"),
        "content": str(tmp / "content"),
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                 "sender": "Test Digest <digest@news.example.com>", "timeout": 10},
        "subscribe": {"topics": ["AI", "Markets"], **subscribe},
    }
    return settings_from_mapping(data, tmp)


@dataclass(frozen=True)
class Tls:
    ca_file: Path  # what a client trusts
    cert_file: Path  # the server's certificate for 127.0.0.1, and its key
    key_file: Path


def tls_files(folder: Path) -> Tls:
    """A throwaway CA and a server certificate for 127.0.0.1, written as the files uvicorn reads."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    tls = Tls(folder / "web-ca.pem", folder / "web-cert.pem", folder / "web-key.pem")
    ca.cert_pem.write_to_path(str(tls.ca_file))
    cert.cert_chain_pems[0].write_to_path(str(tls.cert_file))
    cert.private_key_pem.write_to_path(str(tls.key_file))
    return tls


@contextmanager
def running_app(settings: Settings, clock: Clock, *, secret: bytes = SECRET, tls: Tls | None = None) -> Iterator[str]:
    """create_app under uvicorn (one worker, proxy headers from 127.0.0.1 believed); yields its base URL."""
    app = create_app(settings, secret=secret, clock=clock, send_mail=smtp_sender(settings.smtp, None))
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=True, forwarded_allow_ips="127.0.0.1",
        lifespan="on", ssl_certfile=str(tls.cert_file) if tls else None, ssl_keyfile=str(tls.key_file) if tls else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def wait_for_mail(inbox: Inbox, count: int, timeout: float = 10.0) -> None:
    """Until the inbox holds `count` messages (the app sends after answering)."""
    deadline = time.monotonic() + timeout
    while len(inbox.received) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} mails, got {len(inbox.received)}")
        time.sleep(0.01)


def confirm_link(inbox: Inbox, address: str) -> str:
    """The confirm link of the newest mail to `address`, read from its text part."""
    for received in reversed(inbox.received):
        if address.lower() in (r.lower() for r in received.rcpts):
            body = received.message.get_body(("plain",))
            assert body is not None
            found = re.search(r"https?://\S+/confirm\?\S+", body.get_content())
            assert found, body.get_content()
            return found.group(0)
    raise AssertionError(f"no mail to {address}")
