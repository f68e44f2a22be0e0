"""SMTP PIPELINING (RFC 2920): MAIL and RCPT in one write when the server offers it, the rest unchanged.

aiosmtpd does not offer PIPELINING; these servers add it to their EHLO reply (it reads
commands in order either way), and note whether each RCPT was already waiting when its MAIL
was answered, which is what pipelining means on the wire.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from smtp_servers import Faults, FaultyInbox, delivery_settings, fake_render, make_issue, serve

from digest.delivery.smtp import SmtpBackend
from digest.pipeline.send import send_issue


def addresses(n: int) -> list[str]:
    return [f"reader{i:03d}@example.org" for i in range(n)]


class PipeliningInbox(FaultyInbox):
    """A FaultyInbox that offers PIPELINING; it can refuse the first `refuse_mail` MAIL commands with a 452."""

    def __init__(self, faults: Faults, refuse_mail: int = 0) -> None:
        super().__init__(faults)
        self.refuse_mail = refuse_mail
        self.rcpt_waiting: list[bool] = []  # per MAIL: was its RCPT already read into the buffer?

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: ANN001, ANN201
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: ANN001, ANN201
        self.rcpt_waiting.append(b"RCPT TO:" in bytes(server._reader._buffer))
        if self.refuse_mail > 0:
            self.refuse_mail -= 1
            return "452 4.3.1 insufficient system storage, try later"
        return await super().handle_MAIL(server, session, envelope, address, mail_options)


def test_mail_and_rcpt_go_in_one_write_when_the_server_offers_pipelining(tmp_path: Path) -> None:
    """Each RCPT reaches the server with its MAIL; every message arrives once."""
    inbox = PipeliningInbox(Faults())
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port)
        backend = SmtpBackend(settings.smtp)
        backend.open()
        assert backend._pipelining
        backend.close()
        report = send_issue(settings, make_issue(), addresses(5), render=fake_render, env=os.environ)
    assert report.sent_now == 5 and report.complete
    assert inbox.rcpt_waiting == [True] * 5
    assert set(inbox.counts().values()) == {1}


def test_a_refused_mail_consumes_its_rcpt_reply_and_the_next_message_goes_through(tmp_path: Path) -> None:
    """A 452 to MAIL: the pipelined RCPT's 503 is read before RSET, so replies stay paired; retried, all sent."""
    inbox = PipeliningInbox(Faults(), refuse_mail=3)
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, smtp={"retry_base_seconds": 0.005})
        report = send_issue(settings, make_issue(), addresses(6), render=fake_render, env=os.environ)
    assert report.sent_now == 6 and report.complete and report.exit_code == 0
    assert set(inbox.counts()) == set(addresses(6)) and set(inbox.counts().values()) == {1}
    assert len(inbox.rcpt_waiting) == 6 + 3  # one MAIL per message and per refusal: no reply read out of turn
    conn = sqlite3.connect(settings.state_path)
    try:
        assert conn.execute("SELECT SUM(attempts) FROM outbox").fetchone()[0] == 6 + 3
    finally:
        conn.close()


def test_faults_with_pipelining_end_with_every_deliverable_sent_once(tmp_path: Path) -> None:
    """451s, 550s and a connection dropped at MAIL every 5 messages, pipelined: each deliverable gets one message."""
    rejected = {"reader002@example.org", "reader017@example.org"}
    inbox = PipeliningInbox(Faults(drop_after=5, tempfail_first=6, reject=rejected))
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, smtp={"max_attempts": 20, "retry_base_seconds": 0.005})
        report = send_issue(settings, make_issue(), addresses(25), render=fake_render, env=os.environ)
    counts = inbox.counts()
    assert set(counts) == set(addresses(25)) - rejected
    assert set(counts.values()) == {1}
    assert inbox.drops >= 3 and inbox.tempfailed == 6
    assert (report.sent, report.failed, report.deferred, report.ambiguous) == (23, 2, 0, 0)
    conn = sqlite3.connect(settings.state_path)
    try:
        failed = dict(conn.execute("SELECT recipient, reply FROM outbox WHERE state = 'failed'"))
    finally:
        conn.close()
    assert set(failed) == rejected and all("550" in reply for reply in failed.values())
