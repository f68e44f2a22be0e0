"""The outbox: no message lost or doubled across reruns, faults, kills and SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from smtp_servers import Faults, FaultyInbox, Inbox, delivery_settings, fake_render, make_issue, serve

from digest.cli.progress import SendProgress
from digest.delivery.base import Outcome
from digest.delivery.memory import MemoryBackend
from digest.errors import DeliveryError
from digest.pipeline.send import send_issue
from digest.state.engine import StateConnection, open_sqlite, open_state
from digest.state.outbox import Outbox, outbox_summary

REPO = Path(__file__).resolve().parents[2]


def addresses(n: int, domain: str = "example.org") -> list[str]:
    return [f"reader{i:03d}@{domain}" for i in range(n)]


def ledger(settings) -> StateConnection:  # noqa: ANN001
    """The test's ledger (a SQLite file or a PostgreSQL database), opened as digest opens it."""
    return open_state(settings)


def states(settings) -> dict[str, str]:  # noqa: ANN001
    with ledger(settings) as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT recipient, state FROM outbox").fetchall()}


# -- reruns and leftovers ----------------------------------------------------------------------------


def test_rerun_sends_only_to_recipients_not_yet_sent(tmp_path: Path, state_engine: str) -> None:
    """A second run of the same send, with one recipient added, sends exactly one message: to the new one."""
    settings = delivery_settings(tmp_path, state=state_engine)
    backend = MemoryBackend()
    send_issue(settings, make_issue(), addresses(5), backend=backend, render=fake_render, env=os.environ)
    report = send_issue(settings, make_issue(), addresses(6), backend=backend, render=fake_render, env=os.environ)
    assert [m.recipient for m in backend.outbox] == addresses(6)
    assert (report.sent, report.sent_now, report.total) == (6, 1, 6)


def set_state(settings, recipient: str, state: str) -> None:  # noqa: ANN001
    with ledger(settings) as conn:
        conn.execute("UPDATE outbox SET state = ? WHERE recipient = ?", (state, recipient))


def test_rows_a_dead_run_left_claimed_are_sent_and_data_sent_ones_sent_again_once(
    tmp_path: Path, state_engine: str,
) -> None:
    """A run that died leaves `claimed` (sent by the next run, no warning) and `data-sent`
    (ambiguous: sent again once, never twice)."""
    settings = delivery_settings(tmp_path, state=state_engine)
    issue = make_issue()
    backend = MemoryBackend()
    send_issue(settings, issue, addresses(3), backend=backend, render=fake_render, env=os.environ)
    set_state(settings, "reader001@example.org", "data-sent")
    set_state(settings, "reader002@example.org", "claimed")
    report = send_issue(settings, issue, addresses(3), backend=backend, render=fake_render, env=os.environ)
    assert sorted(m.recipient for m in backend.outbox[3:]) == ["reader001@example.org", "reader002@example.org"]
    assert report.complete and report.exit_code == 0 and report.ambiguous == 0
    assert [w for w in report.warnings if "reader001@example.org" in w and "sending it again once" in w]
    assert not [w for w in report.warnings if "reader002" in w]
    set_state(settings, "reader001@example.org", "data-sent")  # its one resend died too
    again = send_issue(settings, issue, addresses(3), backend=backend, render=fake_render, env=os.environ)
    assert len(backend.outbox) == 5 and again.ambiguous == 1 and again.resendable == 0
    assert again.complete and again.exit_code == 1
    assert states(settings)["reader001@example.org"] == "ambiguous"


def test_outbox_summary_counts_each_state(tmp_path: Path, state_engine: str) -> None:
    """outbox_summary gives per-issue counts, for one issue or the recent ones."""
    settings = delivery_settings(tmp_path, state=state_engine)
    backend = MemoryBackend(
        respond=lambda rcpt: Outcome("permanent", "550 no") if rcpt.startswith("reader001") else None
    )
    send_issue(settings, make_issue(), addresses(3), backend=backend, render=fake_render, env=os.environ)
    send_issue(settings, make_issue("other-issue"), addresses(1), backend=backend, render=fake_render, env=os.environ)
    conn = ledger(settings)
    (one,) = outbox_summary(conn, "2025-07-01_2025-07-08")
    assert (one.counts["sent"], one.counts["failed"], one.total) == (2, 1, 3)
    assert "sent: 2" in one.line() and "failed: 1" in one.line()
    assert {s.issue_id for s in outbox_summary(conn, None)} == {"2025-07-01_2025-07-08", "other-issue"}
    (empty,) = outbox_summary(conn, "never-sent")
    assert empty.total == 0 and "sent: 0" in empty.line()
    conn.close()


def test_stop_event_finishes_the_message_in_flight_and_leaves_the_rest_pending(
    tmp_path: Path, state_engine: str,
) -> None:
    """Setting stop_event mid-run: the message being sent is recorded, the rest stay pending, a rerun finishes."""
    settings = delivery_settings(tmp_path, state=state_engine)
    stop = threading.Event()
    seen: list[str] = []

    def respond(rcpt: str) -> None:
        seen.append(rcpt)
        if len(seen) == 4:
            stop.set()  # arrives while message 4 is in flight

    backend = MemoryBackend(respond=respond)
    report = send_issue(
        settings, make_issue(), addresses(10), backend=backend, render=fake_render, env=os.environ, stop_event=stop
    )
    assert len(backend.outbox) == 4 and report.sent == 4 and report.pending == 6
    assert report.stopped and report.exit_code == 1
    rest = send_issue(settings, make_issue(), addresses(10), backend=backend, render=fake_render, env=os.environ)
    assert sorted(m.recipient for m in backend.outbox) == addresses(10)
    assert rest.complete


# -- a real server that misbehaves -----------------------------------------------------------------


def test_451_storm_and_dropped_connections_end_with_every_deliverable_sent_once(
    tmp_path: Path, state_engine: str,
) -> None:
    """451s, a connection dropped every 7 messages and 550 addresses: each deliverable gets one message; 550s fail."""
    rejected = {"reader003@example.org", "reader030@example.org"}
    inbox = FaultyInbox(Faults(drop_after=7, tempfail_first=12, reject=rejected))
    with serve(inbox) as port:
        settings = delivery_settings(
            tmp_path, port, smtp={"max_attempts": 20, "retry_base_seconds": 0.005}, state=state_engine,
        )
        report = send_issue(settings, make_issue(), addresses(40), render=fake_render, env=os.environ)
    counts = inbox.counts()
    assert set(counts) == set(addresses(40)) - rejected
    assert set(counts.values()) == {1}
    assert inbox.drops >= 4 and inbox.tempfailed == 12
    assert (report.sent, report.failed, report.deferred, report.ambiguous) == (38, 2, 0, 0)
    assert report.exit_code == 1
    failed = [line for line in report.failures if line.startswith("failed:")]
    assert len(failed) == 2 and all("550" in line for line in failed)


def test_temporary_failures_give_up_for_this_run_after_max_attempts(tmp_path: Path, state_engine: str) -> None:
    """A recipient answered 451 every time is tried smtp.max_attempts times, then left `exhausted`, not failed."""
    settings = delivery_settings(tmp_path, smtp={"max_attempts": 3, "retry_base_seconds": 0.001}, state=state_engine)
    tries: list[str] = []

    def respond(rcpt: str) -> Outcome | None:
        if rcpt == "reader000@example.org":
            tries.append(rcpt)
            return Outcome("temporary", "451 busy")
        return None

    report = send_issue(
        settings, make_issue(), addresses(2), backend=MemoryBackend(respond), render=fake_render, env=os.environ
    )
    assert len(tries) == 3
    assert (report.exhausted, report.failed, report.sent) == (1, 0, 1)
    assert not report.complete and report.exit_code == 1
    assert "exhausted: reader000@example.org: gave up for this run after 3 attempts: 451 busy" in report.failures[0]


def test_a_reply_lost_after_the_final_dot_is_sent_again_once_not_twice(tmp_path: Path, state_engine: str) -> None:
    """The server takes reader002's message and vanishes before replying, every time: ambiguous; the next run sends it
    again once (same Message-ID); the run after that does not; the others get one message each."""
    inbox = FaultyInbox(Faults(vanish_after_data={"reader002@example.org"}))
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, state=state_engine)
        first = send_issue(settings, make_issue(), addresses(5), render=fake_render, env=os.environ)
        assert (first.ambiguous, first.resendable, first.sent) == (1, 1, 4)
        assert not first.complete  # its one resend is still to do
        second = send_issue(settings, make_issue(), addresses(5), render=fake_render, env=os.environ)
        third = send_issue(settings, make_issue(), addresses(5), render=fake_render, env=os.environ)
    counts = inbox.counts()
    assert counts.pop("reader002@example.org") == 2
    assert set(counts.values()) == {1} and len(counts) == 4
    repeats = [m["Message-ID"] for m in inbox.messages() if m["To"].addresses[0].addr_spec == "reader002@example.org"]
    assert len(set(repeats)) == 1
    assert (second.sent_now, second.ambiguous, second.resendable) == (0, 1, 0)
    assert second.complete and second.exit_code == 1  # nothing left to do, but not clean
    assert (third.sent_now, third.ambiguous) == (0, 1) and third.complete


def test_a_reply_lost_once_then_a_healthy_server_ends_sent(tmp_path: Path, state_engine: str) -> None:
    """Ambiguous after a lost reply, then the server behaves: the rerun's resend is answered 250
    and the row ends `sent`."""
    inbox = FaultyInbox(Faults(vanish_after_data={"reader001@example.org"}))
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, state=state_engine)
        send_issue(settings, make_issue(), addresses(3), render=fake_render, env=os.environ)
        inbox.faults.vanish_after_data.clear()
        again = send_issue(settings, make_issue(), addresses(3), render=fake_render, env=os.environ)
    assert inbox.counts()["reader001@example.org"] == 2
    assert (again.sent, again.sent_now, again.ambiguous) == (3, 1, 0) and again.exit_code == 0


def test_no_resend_ambiguous_leaves_them_unsent_and_the_send_incomplete(tmp_path: Path, state_engine: str) -> None:
    """resend_ambiguous=False (--no-resend-ambiguous) never sends an ambiguous row again;
    a later plain run does, once."""
    inbox = FaultyInbox(Faults(vanish_after_data={"reader001@example.org"}))
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, state=state_engine)
        send_issue(settings, make_issue(), addresses(3), render=fake_render, env=os.environ)
        inbox.faults.vanish_after_data.clear()
        kept = send_issue(
            settings, make_issue(), addresses(3), render=fake_render, env=os.environ, resend_ambiguous=False
        )
        assert inbox.counts()["reader001@example.org"] == 1
        assert (kept.sent_now, kept.ambiguous, kept.resendable) == (0, 1, 1) and not kept.complete
        send_issue(settings, make_issue(), addresses(3), render=fake_render, env=os.environ)
    assert inbox.counts()["reader001@example.org"] == 2


def test_parallel_connections_each_claim_their_own_rows(tmp_path: Path, state_engine: str) -> None:
    """smtp.connections: 3 opens three connections; every recipient still gets exactly one message."""
    inbox = Inbox()
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, smtp={"connections": 3}, state=state_engine)
        report = send_issue(settings, make_issue(), addresses(60), render=fake_render, env=os.environ)
    assert set(inbox.counts().values()) == {1} and len(inbox.counts()) == 60
    assert len({m.peer for m in inbox.received}) == 3
    assert report.complete


def test_rate_limit_spaces_the_messages(tmp_path: Path, state_engine: str) -> None:
    """smtp.rate: 40 messages a second makes 9 messages take at least 0.2 s."""
    settings = delivery_settings(tmp_path, smtp={"rate": 40}, state=state_engine)
    started = time.monotonic()
    send_issue(settings, make_issue(), addresses(9), backend=MemoryBackend(), render=fake_render, env=os.environ)
    assert time.monotonic() - started >= 0.19


def test_server_down_is_one_delivery_error_and_nothing_sent(tmp_path: Path, state_engine: str) -> None:
    """No server listening: DeliveryError naming host and port; every row stays pending."""
    from smtp_servers import free_port

    settings = delivery_settings(tmp_path, free_port(), state=state_engine)
    with pytest.raises(DeliveryError) as caught:
        send_issue(settings, make_issue(), addresses(3), render=fake_render, env=os.environ)
    assert "cannot connect to SMTP server 127.0.0.1:" in caught.value.message
    assert "\n" not in caught.value.message
    assert set(states(settings).values()) == {"pending"}


def test_plain_log_lines_when_not_a_terminal(
    tmp_path: Path, state_engine: str, capsys: pytest.CaptureFixture[str],
) -> None:
    """Without a terminal the progress is plain lines: a start line and one per recipient not sent."""
    settings = delivery_settings(tmp_path, state=state_engine)
    backend = MemoryBackend(respond=lambda r: Outcome("permanent", "550 gone") if r.startswith("reader001") else None)
    send_issue(
        settings, make_issue(), addresses(3), backend=backend, render=fake_render, env=os.environ,
        progress=lambda issue_id, total: SendProgress(issue_id, total),
    )
    err = capsys.readouterr().err
    assert "sending issue 2025-07-01_2025-07-08 to 3 recipients" in err
    assert "failed: reader001@example.org: 550 gone" in err
    assert "\x1b[" not in err


# -- a real `digest send` process, killed ----------------------------------------------------------


def make_site(tmp_path: Path, port: int, recipients: int, state: str | None = None) -> tuple[Path, str]:
    """A site with the sample content, a config pointing at 127.0.0.1:port, a built issue and a recipients CSV;
    `state`: a `state:` value (the default file when None)."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(REPO / "content", site / "content")
    (site / "config.yaml").write_text(
        (f"state: {state}\n" if state else "")
        + "site:\n  title: Kill Test\n  base_url: https://news.example.com\n  timezone: Asia/Shanghai\n"
        f"smtp:\n  host: 127.0.0.1\n  port: {port}\n  security: none\n  sender: Kill Test <digest@news.example.com>\n"
        "  retry_base_seconds: 0.01\n"
        "mail:\n  unsubscribe_url: https://news.example.com/unsubscribe/{token}\n",
        encoding="utf-8",
    )
    (site / "subscribers.csv").write_text(
        "email,name\n" + "".join(f"{a},Reader {i}\n" for i, a in enumerate(addresses(recipients))), encoding="utf-8"
    )
    built = digest(site, "build", "--since", "2025-07-01", "--until", "2025-08-01", "--json")
    assert built.returncode == 0, built.stderr
    return site, json.loads(built.stdout)["issue_id"]


def forget_bounce(settings, address: str) -> None:  # noqa: ANN001
    """What `digest bounces forget ADDR` does: the address is confirmed again, so a send may mail it."""
    from digest.pipeline.subscribers import open_store

    with open_store(settings, clock=time.time) as store:
        assert store.forget_bounce(address) == "confirmed"


def digest(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args], cwd=site, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DIGEST_SMTP_HOST": "127.0.0.1"},
    )


def start_send(site: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "send", *args], cwd=site, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "DIGEST_SMTP_HOST": "127.0.0.1"},
    )


def test_sigterm_finishes_the_message_in_flight_and_a_rerun_completes(tmp_path: Path) -> None:
    """SIGTERM mid-send: the message in flight is finished and recorded, nothing is ambiguous;
    a rerun sends the rest once."""
    inbox = Inbox()
    with serve(inbox) as port:
        site, issue_id = make_site(tmp_path, port, 200)
        args = [issue_id, "--recipients", "subscribers.csv"]
        proc = start_send(site, *args)
        # Sent from inside the server while message 60 is in flight: the client has not had its 250 yet.
        inbox.on_message = lambda count: proc.send_signal(signal.SIGTERM) if count == 60 else None
        _, stderr = proc.communicate(timeout=300)
        inbox.on_message = None
        assert proc.returncode == 1, stderr
        assert "Received SIGTERM" in stderr and "run the same command again" in stderr
        assert sum(inbox.counts().values()) == 60
        status = digest(site, "status", issue_id)
        assert "sent: 60," in status.stdout and "ambiguous: 0," in status.stdout, status.stdout
        rerun = digest(site, "send", *args)
        assert rerun.returncode == 0, rerun.stderr
    counts = inbox.counts()
    assert set(counts) == set(addresses(200)) and set(counts.values()) == {1}


def test_a_claim_is_committed_and_goes_back_to_pending_when_a_run_dies_before_data(
    tmp_path: Path, state_engine: str,
) -> None:
    """claim -> `claimed` (visible to another connection at once); a new run puts it back to pending, attempt not
    counted. After mark_data -> `data-sent`; a new run makes it ambiguous and queues its one resend."""
    settings = delivery_settings(tmp_path, state=state_engine)
    outbox = Outbox.open(settings, clock=time.time)
    outbox.add("i", "run", [("a@example.org", "a@example.org", None, None)])
    item = outbox.claim("i", "run")
    assert item is not None and item.attempts == 1
    assert states(settings) == {"a@example.org": "claimed"}
    outbox.close()
    reopened = Outbox.open(settings, clock=time.time)
    done = reopened.recover("i")
    assert (done.ambiguous, done.resent, done.requeued) == ([], [], 1)
    assert states(settings) == {"a@example.org": "pending"}
    reopened.add("i", "run2", [("a@example.org", "a@example.org", None, None)])
    item = reopened.claim("i", "run2")
    assert item is not None and item.attempts == 1
    reopened.mark_data(item)()
    assert states(settings) == {"a@example.org": "data-sent"}
    reopened.close()
    third = Outbox.open(settings, clock=time.time)
    done = third.recover("i", resend_ambiguous=False)
    assert done.ambiguous == ["a@example.org"] and done.resent == []
    assert states(settings) == {"a@example.org": "ambiguous"}
    assert third.recover("i").resent == ["a@example.org"]
    assert states(settings) == {"a@example.org": "pending"}
    third.close()


# -- the data-sent mark, seen from the server ------------------------------------------------------


class StateWatchingInbox(Inbox):
    """An Inbox that reads the sender's outbox row at RCPT and at the end of DATA, through its own connection."""

    def __init__(self) -> None:
        super().__init__()
        self.settings = None
        self.seen: list[tuple[str, str, str]] = []

    def row_state(self, address: str) -> str:
        with ledger(self.settings) as conn:
            return conn.execute("SELECT state FROM outbox WHERE recipient = ?", (address.lower(),)).fetchone()[0]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        self.seen.append(("RCPT", address, self.row_state(address)))
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        for address in envelope.rcpt_tos:
            self.seen.append(("DATA", address, self.row_state(address)))
        return self.accept(session, envelope)


def test_the_durable_mark_is_made_after_rcpt_and_before_the_final_dot(tmp_path: Path, state_engine: str) -> None:
    """At RCPT TO the row is still `claimed` (a kill there is safe to resend); when the server has the whole message,
    it already reads `data-sent` (a kill after that is ambiguous, never lost)."""
    inbox = StateWatchingInbox()
    with serve(inbox) as port:
        settings = inbox.settings = delivery_settings(tmp_path, port, state=state_engine)
        report = send_issue(settings, make_issue(), addresses(3), render=fake_render, env=os.environ)
    assert report.complete and report.sent_now == 3
    assert [(stage, state) for stage, _, state in inbox.seen] == [("RCPT", "claimed"), ("DATA", "data-sent")] * 3


# -- temporary and permanent failures, then a rerun ------------------------------------------------


def test_451_until_max_attempts_then_a_healthy_server_gets_every_message_on_the_next_run(
    tmp_path: Path, state_engine: str,
) -> None:
    """Every RCPT answered 451 until smtp.max_attempts: all `exhausted`, the send incomplete; the next run, against a
    server that recovered, delivers each of them once."""
    inbox = FaultyInbox(Faults(tempfail_first=10_000))
    with serve(inbox) as port:
        settings = delivery_settings(
            tmp_path, port, smtp={"max_attempts": 3, "retry_base_seconds": 0.001}, state=state_engine,
        )
        first = send_issue(settings, make_issue(), addresses(4), render=fake_render, env=os.environ)
        assert inbox.tempfailed == 12 and not inbox.received
        assert (first.exhausted, first.failed, first.sent) == (4, 0, 0)
        assert not first.complete and first.exit_code == 1
        inbox.faults.tempfail_first = 0
        second = send_issue(settings, make_issue(), addresses(4), render=fake_render, env=os.environ)
    assert inbox.counts() == dict.fromkeys(addresses(4), 1)
    assert second.complete and second.exit_code == 0 and second.sent_now == 4


class SlowRcptInbox(Inbox):
    """Answers RCPT only after `delay` seconds while `slow` is set (a server slower than smtp.timeout)."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.slow = True

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        import asyncio

        if self.slow:
            await asyncio.sleep(self.delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_slow_rcpt_that_times_out_every_attempt_is_delivered_by_the_next_run(tmp_path: Path) -> None:
    """RCPT slower than smtp.timeout on every attempt: timed out, out of attempts, then sent by the next run."""
    inbox = SlowRcptInbox(delay=0.5)
    with serve(inbox) as port:
        settings = delivery_settings(
            tmp_path, port, smtp={"max_attempts": 2, "retry_base_seconds": 0.001, "timeout": 0.1}
        )
        first = send_issue(settings, make_issue(), addresses(2), render=fake_render, env=os.environ)
        assert first.exhausted == 2 and not inbox.received and not first.complete
        inbox.slow = False
        second = send_issue(settings, make_issue(), addresses(2), render=fake_render, env=os.environ)
    assert inbox.counts() == dict.fromkeys(addresses(2), 1)
    assert second.complete and second.exit_code == 0


def test_permanent_failures_stay_failed_until_retry_failed(tmp_path: Path, state_engine: str) -> None:
    """A 550 is final for plain reruns (the send is complete, exit 1); retry_failed (--retry-failed) sends it again
    (once the bounce its 5.1.1 marked is forgotten)."""
    inbox = FaultyInbox(Faults(reject={"reader001@example.org"}))
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, state=state_engine)
        first = send_issue(settings, make_issue(), addresses(3), render=fake_render, env=os.environ)
        assert (first.failed, first.sent) == (1, 2) and first.complete and first.exit_code == 1
        assert first.bounced == ["reader001@example.org"]
        inbox.faults.reject.clear()  # the owner fixed something
        plain = send_issue(settings, make_issue(), addresses(3), render=fake_render, env=os.environ)
        assert plain.sent_now == 0 and plain.failed == 1 and plain.bounced == []
        forget_bounce(settings, "reader001@example.org")
        fixed = send_issue(settings, make_issue(), addresses(3), render=fake_render, env=os.environ, retry_failed=True)
    assert inbox.counts() == dict.fromkeys(addresses(3), 1)
    assert fixed.sent_now == 1 and fixed.complete and fixed.exit_code == 0


# -- what `complete` means ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "complete"),
    [
        ({"sent": 3}, True),
        ({"sent": 2, "failed": 1}, True),  # permanent: nothing more to do without --retry-failed
        ({"sent": 2, "ambiguous": 1}, True),  # already sent again once
        ({"sent": 2, "ambiguous": 1, "resendable": 1}, False),  # its one resend is still due
        ({"sent": 2, "exhausted": 1}, False),
        ({"sent": 2, "deferred": 1}, False),
        ({"sent": 2, "pending": 1}, False),
        ({"sent": 2, "in_flight": 1}, False),
    ],
)
def test_complete_means_nothing_left_to_do(counts: dict[str, int], complete: bool) -> None:
    """SendReport.complete is true exactly when no row is left to do, whatever failed for good."""
    from digest.delivery.report import SendReport

    report = SendReport("i", total=3, **counts)
    assert report.complete is complete
    assert report.exit_code == (0 if counts == {"sent": 3} else 1)


# -- a state file from digest 0.1 ------------------------------------------------------------------

OUTBOX_0_1 = """
CREATE TABLE outbox (
    issue_id TEXT NOT NULL, recipient TEXT NOT NULL, address TEXT NOT NULL, name TEXT, topics TEXT,
    state TEXT NOT NULL DEFAULT 'pending'
          CHECK (state IN ('pending','sending','sent','deferred','failed','skipped','ambiguous')),
    attempts INTEGER NOT NULL DEFAULT 0, retry_at REAL, reply TEXT NOT NULL DEFAULT '', run_id TEXT,
    updated_at TEXT NOT NULL, PRIMARY KEY (issue_id, recipient)
);
CREATE INDEX outbox_claim ON outbox (issue_id, run_id, state);
"""


def test_a_0_1_state_file_is_migrated_and_its_leftovers_sent(tmp_path: Path) -> None:
    """0.1's `sending` becomes ambiguous (sent again once), its "gave up after N attempts" failures are retried, a 550
    stays failed, sent stays sent; the new table enforces the new states."""
    settings = delivery_settings(tmp_path)
    conn = sqlite3.connect(settings.state_path)
    conn.executescript(OUTBOX_0_1)
    old = [
        ("reader000@example.org", "sent", "250 OK"), ("reader001@example.org", "sending", ""),
        ("reader002@example.org", "failed", "gave up after 5 attempts: RCPT TO: 451 4.3.0 try again later"),
        ("reader003@example.org", "failed", "RCPT TO: 550 5.1.1 no such mailbox here"),
    ]
    conn.executemany(
        "INSERT INTO outbox (issue_id, recipient, address, state, attempts, reply, run_id, updated_at)"
        " VALUES ('2025-07-01_2025-07-08', ?, ?, ?, 5, ?, 'old', '2025-07-01T00:00:00+00:00')",
        [(a, a, state, reply) for a, state, reply in old],
    )
    conn.commit()
    conn.close()
    with open_sqlite(settings.state_path) as ledger_file:
        (summary,) = outbox_summary(ledger_file, "2025-07-01_2025-07-08")
    assert {k: v for k, v in summary.counts.items() if v} == {"sent": 1, "ambiguous": 1, "exhausted": 1, "failed": 1}
    backend = MemoryBackend()
    report = send_issue(settings, make_issue(), addresses(4), backend=backend, render=fake_render, env=os.environ)
    assert sorted(m.recipient for m in backend.outbox) == ["reader001@example.org", "reader002@example.org"]
    assert (report.sent, report.failed) == (3, 1) and report.complete
    conn = sqlite3.connect(settings.state_path)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE outbox SET state = 'sending'")
    assert conn.execute("SELECT value FROM outbox_meta WHERE key = 'schema_version'").fetchone() == ("3",)
    conn.close()


def test_status_line_shows_every_state() -> None:
    """`digest status ISSUE` counts each state, and says how many ambiguous rows the next run sends again."""
    from digest.state.outbox import SUMMARY_STATES, IssueSummary

    line = IssueSummary("i", {"sent": 5, "exhausted": 2, "ambiguous": 3, "data-sent": 1}, resendable=2).line()
    for state in (
        "sent: 5", "exhausted: 2", "ambiguous: 3 (2 to send again)", "data-sent: 1", "claimed: 0", "failed: 0",
    ):
        assert state in line
    assert {"claimed", "data-sent", "exhausted"} <= set(SUMMARY_STATES)
