"""The outbox: no message lost or doubled across reruns, faults, kills and SIGTERM."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from smtp_servers import Faults, FaultyInbox, Inbox, delivery_settings, fake_render, make_issue, serve

from digest.delivery import MemoryBackend, Outcome, send_issue
from digest.delivery.outbox import Outbox, outbox_summary
from digest.errors import DeliveryError

REPO = Path(__file__).resolve().parent.parent


def addresses(n: int, domain: str = "example.org") -> list[str]:
    return [f"reader{i:03d}@{domain}" for i in range(n)]


def states(settings) -> dict[str, str]:  # noqa: ANN001
    conn = sqlite3.connect(settings.state_path)
    try:
        return dict(conn.execute("SELECT recipient, state FROM outbox"))
    finally:
        conn.close()


# -- reruns and leftovers ----------------------------------------------------------------------------


def test_rerun_sends_only_to_recipients_not_yet_sent(tmp_path: Path) -> None:
    """A second run of the same send, with one recipient added, sends exactly one message: to the new one."""
    settings = delivery_settings(tmp_path)
    backend = MemoryBackend()
    send_issue(settings, make_issue(), addresses(5), backend=backend, render=fake_render, progress=False)
    report = send_issue(settings, make_issue(), addresses(6), backend=backend, render=fake_render, progress=False)
    assert [m.recipient for m in backend.outbox] == addresses(6)
    assert (report.sent, report.sent_now, report.total) == (6, 1, 6)


def test_a_row_left_sending_is_ambiguous_and_not_resent_unless_asked(tmp_path: Path) -> None:
    """A run that died mid-transaction leaves `sending`: the next run reports it ambiguous; --resend-ambiguous sends it."""
    settings = delivery_settings(tmp_path)
    issue = make_issue()
    backend = MemoryBackend()
    send_issue(settings, issue, addresses(3), backend=backend, render=fake_render, progress=False)
    conn = sqlite3.connect(settings.state_path)
    conn.execute("UPDATE outbox SET state = 'sending' WHERE recipient = ?", ("reader001@example.org",))
    conn.execute("UPDATE outbox SET state = 'pending' WHERE recipient = ?", ("reader002@example.org",))
    conn.commit()
    conn.close()
    report = send_issue(settings, issue, addresses(3), backend=backend, render=fake_render, progress=False)
    assert [m.recipient for m in backend.outbox][3:] == ["reader002@example.org"]
    assert report.ambiguous == 1 and report.exit_code == 1
    assert any("reader001@example.org" in w for w in report.warnings)
    again = send_issue(
        settings, issue, addresses(3), backend=backend, render=fake_render, progress=False, resend_ambiguous=True
    )
    assert [m.recipient for m in backend.outbox][4:] == ["reader001@example.org"]
    assert again.complete and again.exit_code == 0


def test_outbox_summary_counts_each_state(tmp_path: Path) -> None:
    """outbox_summary gives per-issue counts, for one issue or the recent ones."""
    settings = delivery_settings(tmp_path)
    backend = MemoryBackend(respond=lambda rcpt: Outcome("permanent", "550 no") if rcpt.startswith("reader001") else None)
    send_issue(settings, make_issue(), addresses(3), backend=backend, render=fake_render, progress=False)
    send_issue(settings, make_issue("other-issue"), addresses(1), backend=backend, render=fake_render, progress=False)
    conn = sqlite3.connect(settings.state_path)
    (one,) = outbox_summary(conn, "2025-07-01_2025-07-08")
    assert (one.counts["sent"], one.counts["failed"], one.total) == (2, 1, 3)
    assert "sent: 2" in one.line() and "failed: 1" in one.line()
    assert {s.issue_id for s in outbox_summary(conn, None)} == {"2025-07-01_2025-07-08", "other-issue"}
    (empty,) = outbox_summary(conn, "never-sent")
    assert empty.total == 0 and "sent: 0" in empty.line()


def test_stop_event_finishes_the_message_in_flight_and_leaves_the_rest_pending(tmp_path: Path) -> None:
    """Setting stop_event mid-run: the message being sent is recorded, the rest stay pending, a rerun finishes."""
    settings = delivery_settings(tmp_path)
    stop = threading.Event()
    seen: list[str] = []

    def respond(rcpt: str) -> None:
        seen.append(rcpt)
        if len(seen) == 4:
            stop.set()  # arrives while message 4 is in flight

    backend = MemoryBackend(respond=respond)
    report = send_issue(
        settings, make_issue(), addresses(10), backend=backend, render=fake_render, progress=False, stop_event=stop
    )
    assert len(backend.outbox) == 4 and report.sent == 4 and report.pending == 6
    assert report.stopped and report.exit_code == 1
    rest = send_issue(settings, make_issue(), addresses(10), backend=backend, render=fake_render, progress=False)
    assert sorted(m.recipient for m in backend.outbox) == addresses(10)
    assert rest.complete


# -- a real server that misbehaves -----------------------------------------------------------------


def test_451_storm_and_dropped_connections_end_with_every_deliverable_sent_once(tmp_path: Path) -> None:
    """451s, a connection dropped every 7 messages and 550 addresses: each deliverable gets one message; 550s fail."""
    rejected = {"reader003@example.org", "reader030@example.org"}
    inbox = FaultyInbox(Faults(drop_after=7, tempfail_first=12, reject=rejected))
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, smtp={"max_attempts": 20, "retry_base_seconds": 0.005})
        report = send_issue(settings, make_issue(), addresses(40), render=fake_render, progress=False)
    counts = inbox.counts()
    assert set(counts) == set(addresses(40)) - rejected
    assert set(counts.values()) == {1}
    assert inbox.drops >= 4 and inbox.tempfailed == 12
    assert (report.sent, report.failed, report.deferred, report.ambiguous) == (38, 2, 0, 0)
    assert report.exit_code == 1
    failed = [line for line in report.failures if line.startswith("failed:")]
    assert len(failed) == 2 and all("550" in line for line in failed)


def test_temporary_failures_give_up_after_max_attempts(tmp_path: Path) -> None:
    """A recipient answered 451 every time is tried smtp.max_attempts times, then recorded as failed."""
    settings = delivery_settings(tmp_path, smtp={"max_attempts": 3, "retry_base_seconds": 0.001})
    tries: list[str] = []

    def respond(rcpt: str) -> Outcome | None:
        if rcpt == "reader000@example.org":
            tries.append(rcpt)
            return Outcome("temporary", "451 busy")
        return None

    report = send_issue(
        settings, make_issue(), addresses(2), backend=MemoryBackend(respond), render=fake_render, progress=False
    )
    assert len(tries) == 3
    assert report.failed == 1 and report.sent == 1
    assert "gave up after 3 attempts: 451 busy" in report.failures[0]


def test_connection_lost_after_the_final_dot_is_ambiguous_and_not_resent(tmp_path: Path) -> None:
    """The server takes a message and vanishes before replying: that recipient is ambiguous, the others sent once."""
    inbox = FaultyInbox(Faults(vanish_after_data={"reader002@example.org"}))
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port)
        report = send_issue(settings, make_issue(), addresses(5), render=fake_render, progress=False)
        again = send_issue(settings, make_issue(), addresses(5), render=fake_render, progress=False)
    assert set(inbox.counts().values()) == {1} and len(inbox.counts()) == 5
    assert report.ambiguous == 1 and report.sent == 4
    assert again.sent_now == 0 and again.ambiguous == 1


def test_parallel_connections_each_claim_their_own_rows(tmp_path: Path) -> None:
    """smtp.connections: 3 opens three connections; every recipient still gets exactly one message."""
    inbox = Inbox()
    with serve(inbox) as port:
        settings = delivery_settings(tmp_path, port, smtp={"connections": 3})
        report = send_issue(settings, make_issue(), addresses(60), render=fake_render, progress=False)
    assert set(inbox.counts().values()) == {1} and len(inbox.counts()) == 60
    assert len({m.peer for m in inbox.received}) == 3
    assert report.complete


def test_rate_limit_spaces_the_messages(tmp_path: Path) -> None:
    """smtp.rate: 40 messages a second makes 9 messages take at least 0.2 s."""
    settings = delivery_settings(tmp_path, smtp={"rate": 40})
    started = time.monotonic()
    send_issue(settings, make_issue(), addresses(9), backend=MemoryBackend(), render=fake_render, progress=False)
    assert time.monotonic() - started >= 0.19


def test_server_down_is_one_delivery_error_and_nothing_sent(tmp_path: Path) -> None:
    """No server listening: DeliveryError naming host and port; every row stays pending."""
    from smtp_servers import free_port

    settings = delivery_settings(tmp_path, free_port())
    with pytest.raises(DeliveryError) as caught:
        send_issue(settings, make_issue(), addresses(3), render=fake_render, progress=False)
    assert "cannot connect to SMTP server 127.0.0.1:" in caught.value.message
    assert "\n" not in caught.value.message
    assert set(states(settings).values()) == {"pending"}


def test_plain_log_lines_when_not_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a terminal the progress is plain lines: a start line and one per recipient not sent."""
    settings = delivery_settings(tmp_path)
    backend = MemoryBackend(respond=lambda r: Outcome("permanent", "550 gone") if r.startswith("reader001") else None)
    send_issue(settings, make_issue(), addresses(3), backend=backend, render=fake_render, progress=True)
    err = capsys.readouterr().err
    assert "sending issue 2025-07-01_2025-07-08 to 3 recipients" in err
    assert "failed: reader001@example.org: 550 gone" in err
    assert "\x1b[" not in err


# -- a real `digest send` process, killed ----------------------------------------------------------


def make_site(tmp_path: Path, port: int, recipients: int) -> tuple[Path, str]:
    """A site with the sample content, a config pointing at 127.0.0.1:port, a built issue and a recipients CSV."""
    import shutil

    site = tmp_path / "site"
    shutil.copytree(REPO / "content", site / "content")
    (site / "config.yaml").write_text(
        "site:\n  title: Kill Test\n  base_url: https://news.example.com\n  timezone: Asia/Shanghai\n"
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


def ambiguous_in(stderr: str) -> set[str]:
    return {m.lower() for m in re.findall(r"^ambiguous: (\S+):", stderr, re.M)}


def test_sigkill_at_random_points_never_loses_or_doubles(tmp_path: Path) -> None:
    """Five times: kill -9 a send to 500 at a random point, rerun: one message each, repeats only if reported ambiguous."""
    inbox = Inbox()
    rng = random.Random(int(os.environ.get("DIGEST_KILL_SEED", time.time_ns() % 10_000)))
    with serve(inbox) as port:
        site, issue_id = make_site(tmp_path, port, 500)
        everyone = set(addresses(500))
        for trial in range(5):
            with inbox.lock:
                inbox.received.clear()
            state = f"trial-{trial}.sqlite"
            args = [issue_id, "--recipients", "subscribers.csv", "--state", state]
            kill_at, delay = rng.randint(1, 450), rng.uniform(0, 0.004)
            proc = start_send(site, *args)

            def maybe_kill(count: int, proc: subprocess.Popen[str] = proc, kill_at: int = kill_at, delay: float = delay) -> None:
                if count == kill_at:
                    threading.Timer(delay, proc.send_signal, (signal.SIGKILL,)).start()

            inbox.on_message = maybe_kill
            proc.communicate(timeout=300)
            inbox.on_message = None
            assert proc.returncode == -signal.SIGKILL, f"trial {trial}: not killed (kill_at={kill_at})"
            first = inbox.counts()
            assert set(first.values()) <= {1}, f"trial {trial}: a repeat before any rerun"

            rerun = digest(site, "send", *args)
            assert rerun.returncode in (0, 1), rerun.stderr
            ambiguous = ambiguous_in(rerun.stderr)
            print(f"trial {trial}: killed after message {kill_at} (+{delay * 1000:.1f} ms), ambiguous: {sorted(ambiguous)}")
            assert len(ambiguous) <= 1, f"trial {trial}: more ambiguous than connections: {ambiguous}"
            counts = inbox.counts()
            assert set(counts) | ambiguous == everyone, f"trial {trial} (kill_at={kill_at}): someone lost"
            assert set(counts.values()) == {1}, f"trial {trial}: a message doubled without --resend-ambiguous"

            if ambiguous:
                resend = digest(site, "send", *args, "--resend-ambiguous")
                assert resend.returncode == 0, resend.stderr
                counts = inbox.counts()
                assert set(counts) == everyone
                assert {a for a, n in counts.items() if n > 1} <= ambiguous
            status = digest(site, "status", issue_id, "--state", state)
            assert f"sent: {500}" in status.stdout, status.stdout


def test_sigterm_finishes_the_message_in_flight_and_a_rerun_completes(tmp_path: Path) -> None:
    """SIGTERM mid-send: the message in flight is finished and recorded, nothing is ambiguous; a rerun sends the rest once."""
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


def test_claims_survive_in_the_database_file(tmp_path: Path) -> None:
    """A claim is visible to another connection at once (committed), before any outcome is recorded."""
    settings = delivery_settings(tmp_path)
    outbox = Outbox.open(settings.state_path)
    outbox.add("i", "run", [("a@example.org", "a@example.org", None, None)])
    item = outbox.claim("i", "run")
    assert item is not None
    outbox.wait_durable()
    assert states(settings) == {"a@example.org": "sending"}
    outbox.close()
    reopened = Outbox.open(settings.state_path)
    assert reopened.recover("i") == ["a@example.org"]
    reopened.close()
    assert states(settings) == {"a@example.org": "ambiguous"}
