"""bounces.fetch_before_send: the scheduled send reads the bounce mailbox first (real Dovecot and SMTP servers)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from imap_server import Dovecot, free_port, start_dovecot
from sitegen import write_article, write_config
from smtp_servers import Inbox, serve

from digest.config import load_settings
from digest.state.subscribers import SubscriberStore

SAMPLES = Path(__file__).parent.parent / "fixtures" / "bounces"
MONDAY = datetime(2025, 7, 7, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
READERS = ["ghost@example.org", "ok1@example.org", "ok2@example.org"]


@pytest.fixture(scope="module")
def imap() -> Iterator[Dovecot]:
    with start_dovecot() as server:
        yield server


def make_site(root: Path, smtp_port: int, bounces: dict[str, object]) -> None:
    write_config(
        root,
        smtp={"host": "127.0.0.1", "port": smtp_port, "security": "none", "retry_base_seconds": 0.01},
        mail={"recipients": "subscribers.csv", "unsubscribe_mailto": "leave@news.example.com"},
        schedule={"action": "send"},
        bounces={**bounces, "fetch_before_send": True},
    )
    for day in range(3):
        write_article(root, f"story-{day}", MONDAY - timedelta(days=day + 1))
    (root / "subscribers.csv").write_text("email\n" + "\n".join(READERS) + "\n", encoding="utf-8")
    settings = load_settings(root / "config.yaml", env={})
    with SubscriberStore.open(settings, clock=lambda: MONDAY.timestamp()) as store:
        store.add("ghost@example.org", source="command")  # a reader digest knows, so the DSN maps to it


def run_once(root: Path, password: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    return subprocess.run(
        [sys.executable, "-m", "digest", "schedule", "--run-once", "--at", (MONDAY + timedelta(minutes=1)).isoformat()],
        cwd=root, capture_output=True, text=True, timeout=300, env={**env, "DIGEST_IMAP_PASSWORD": password},
    )


def test_a_dsn_fetched_before_the_send_keeps_the_address_out_of_it(tmp_path: Path, imap: Dovecot) -> None:
    """The 5.1.1 DSN waiting in the mailbox is read before the scheduled send: ghost is bounced and not mailed."""
    mailbox = imap.new_mailbox()
    imap.deliver((SAMPLES / "postfix_5.1.1_user_unknown.eml").read_bytes(), mailbox=mailbox)
    inbox = Inbox()
    with serve(inbox) as port:
        make_site(tmp_path, port, imap.config(mailbox=mailbox))
        done = run_once(tmp_path, imap.password)
    assert done.returncode == 0, done.stderr
    received = {r for message in inbox.received for r in message.rcpts}
    assert received == {"ok1@example.org", "ok2@example.org"}, done.stderr
    assert imap.unseen(mailbox) == 0


def test_a_mailbox_that_cannot_be_read_is_a_warning_and_the_send_goes_on(tmp_path: Path, imap: Dovecot) -> None:
    """Nothing listening where the mailbox should be: one warning naming the host, and every reader is mailed."""
    inbox = Inbox()
    with serve(inbox) as port:
        make_site(tmp_path, port, imap.config(imap_port=free_port()))
        done = run_once(tmp_path, imap.password)
    assert done.returncode == 0, done.stderr
    assert "bounces not fetched before the send" in done.stderr and "cannot connect to IMAP server" in done.stderr
    assert {r for message in inbox.received for r in message.rcpts} == set(READERS)
