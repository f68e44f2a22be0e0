"""A scheduled send under faults: the SMTP server down at the tick, kill -9 mid-send, a foreground
scheduler waiting for the server, and a send given up after schedule.max_lateness_hours.

Real parts only: an aiosmtpd server on a free 127.0.0.1 port (started late, or not at all),
`python -m digest` subprocesses driven with `--at`, a tiny HTTP server for the heartbeat.
"""

from __future__ import annotations

import http.server
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from sitegen import write_article, write_config
from smtp_servers import Inbox, free_port

SH = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2025, 7, 7, 8, 0, tzinfo=SH)
MESSAGE_ID = re.compile(rb"(?im)^Message-ID:\s*(<[^>\r\n]+>)")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}


def make_site(root: Path, port: int, subscribers: int, *, articles_before: datetime = MONDAY,
              smtp: dict[str, Any] | None = None, **schedule: Any) -> list[str]:
    """A site that sends on schedule to `subscribers` readers through 127.0.0.1:`port`."""
    write_config(
        root,
        smtp={"host": "127.0.0.1", "port": port, "security": "none", "retry_base_seconds": 0.01,
              "max_attempts": 3, "timeout": 5, **(smtp or {})},
        mail={"recipients": "subscribers.csv", "unsubscribe_mailto": "leave@news.example.com"},
        schedule={"action": "send", **schedule},
    )
    for day in range(3):
        write_article(root, f"story-{day}", articles_before - timedelta(days=day + 1))
    addresses = [f"reader{i:03d}@example.org" for i in range(subscribers)]
    (root / "subscribers.csv").write_text("email\n" + "\n".join(addresses) + "\n", encoding="utf-8")
    return addresses


@contextmanager
def smtp_on(port: int, inbox: Inbox) -> Iterator[None]:
    """The SMTP server comes up on the port the site was configured with."""
    controller = Controller(inbox, hostname="127.0.0.1", port=port, auth_require_tls=False)
    controller.start()
    try:
        yield
    finally:
        controller.stop()


def digest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest", *args], cwd=root, capture_output=True, text=True,
                          env=ENV, timeout=300, check=False)


def run_once(root: Path, at: datetime) -> subprocess.CompletedProcess[str]:
    return digest(root, "schedule", "--run-once", "--at", at.isoformat())


def start_run_once(root: Path, at: datetime) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "digest", "schedule", "--run-once", "--at", at.isoformat()],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def per_reader(inbox: Inbox) -> dict[str, Counter[str]]:
    """reader → Message-ID → how many times it arrived (the Message-ID is one per issue and reader)."""
    out: dict[str, Counter[str]] = {}
    with inbox.lock:
        for message in inbox.received:
            found = MESSAGE_ID.search(message.data)
            assert found, message.data[:500]
            for rcpt in message.rcpts:
                out.setdefault(rcpt.lower(), Counter())[found.group(1).decode()] += 1
    return out


def outbox_states(root: Path) -> dict[str, str]:
    conn = sqlite3.connect(root / ".digest" / "state.sqlite")
    try:
        return {r[0]: r[1] for r in conn.execute("SELECT recipient, state FROM outbox")}
    finally:
        conn.close()


def tick_outcomes(root: Path) -> list[str]:
    conn = sqlite3.connect(root / ".digest" / "state.sqlite")
    try:
        return [r[0] for r in conn.execute("SELECT outcome FROM schedule_ticks ORDER BY julianday(tick)")]
    finally:
        conn.close()


def test_server_down_at_the_tick_then_the_next_cron_runs_deliver(tmp_path: Path) -> None:
    """Cron mode: the tick finds the server down and stays unfinished; the next run sends the issue to
    every reader once; a run at the next week's tick resumes first, then sends the new issue."""
    port = free_port()
    # max_lateness above a week, so the issue can still go out with the next week's tick.
    addresses = make_site(tmp_path, port, 200, max_lateness_hours=200)
    down = run_once(tmp_path, MONDAY + timedelta(minutes=1))
    assert down.returncode != 0, down.stdout + down.stderr
    assert "unfinished" in down.stdout, down.stdout
    assert "Traceback" not in down.stderr, down.stderr
    again = run_once(tmp_path, MONDAY + timedelta(minutes=20))  # still down: still unfinished, not "already-done"
    assert again.returncode != 0 and "unfinished" in again.stdout and "already-done" not in again.stdout, again.stdout
    status = digest(tmp_path, "status")
    assert re.search(r": unfinished, issue 1, 3 articles, 200 recipients \(sent 0 of 200", status.stdout), status.stdout

    inbox = Inbox()
    with smtp_on(port, inbox):
        up = run_once(tmp_path, MONDAY + timedelta(hours=1))
        assert up.returncode == 0, up.stdout + up.stderr
        assert ": sent" in up.stdout, up.stdout
        first = per_reader(inbox)
        print(f"after the server came back: delivered {len(first)} of {len(addresses)}, "
              f"{sum(sum(c.values()) - len(c) for c in first.values())} duplicates")
        assert set(first) == set(addresses)
        assert all(list(c.values()) == [1] for c in first.values())
        assert run_once(tmp_path, MONDAY + timedelta(hours=2)).stdout.count("already-done") == 1
        assert len(inbox.received) == 200
    assert ": sent, issue 1" in digest(tmp_path, "status").stdout

    # The other way round: nobody runs the schedule until next week's tick; that run finishes the old
    # issue first, then builds and sends the new one, which does not carry the old one's articles.
    other = tmp_path / "later"
    other.mkdir()
    port2 = free_port()
    make_site(other, port2, 200, max_lateness_hours=200)
    assert run_once(other, MONDAY + timedelta(minutes=1)).returncode != 0
    write_article(other, "midweek", MONDAY + timedelta(days=3))
    inbox2 = Inbox()
    with smtp_on(port2, inbox2):
        week = run_once(other, MONDAY + timedelta(days=7, minutes=1))
    assert week.returncode == 0, week.stdout + week.stderr
    assert "issue 1" in week.stdout and "issue 2" in week.stdout, week.stdout
    # The unfinished tick counted as processed: issue 2's range starts at it.
    assert f"issue 2, range {MONDAY.isoformat()} → " in week.stdout, week.stdout
    second = per_reader(inbox2)
    print(f"next week's tick: delivered {len(second)} of 200 readers, "
          f"{Counter(len(c) for c in second.values())} issues per reader")
    assert set(second) == set(addresses)
    assert all(len(c) == 2 and set(c.values()) == {1} for c in second.values())
    assert tick_outcomes(other) == ["sent", "sent"]
    manifests = sorted((other / "issues").glob("*_n2.json"))
    assert len(manifests) == 1 and "story-0" not in manifests[0].read_text(encoding="utf-8")


def test_kill_9_mid_send_then_the_next_runs_deliver_to_every_reader(tmp_path: Path) -> None:
    """Cron mode: kill -9 during the tick's send, and again during the run that resumes it; the third run
    leaves no reader without the issue, and repeats only rows that were in flight at a kill."""
    seed = int(os.environ.get("DIGEST_TEST_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (DIGEST_TEST_SEED={seed} replays it)")
    rng = random.Random(seed)
    port = free_port()
    readers = 150
    addresses = make_site(tmp_path, port, readers)
    inbox = Inbox()
    kills = 0
    in_flight: set[str] = set()  # rows neither sent nor waiting when a run was killed: the only ones that may repeat
    with smtp_on(port, inbox):
        for run, at in enumerate((MONDAY + timedelta(minutes=1), MONDAY + timedelta(minutes=30))):
            kill_at = len(inbox.received) + rng.randint(1, 60)
            print(f"run {run + 1}: kill -9 when the server has {kill_at} messages")
            proc = start_run_once(tmp_path, at)
            inbox.on_message = lambda count, p=proc, n=kill_at: os.kill(p.pid, signal.SIGKILL) if count == n else None
            out, err = proc.communicate(timeout=300)
            inbox.on_message = None
            assert proc.returncode == -signal.SIGKILL, out + err
            kills += 1
            states = outbox_states(tmp_path)
            assert any(s != "sent" for s in states.values()), "the kill came after the last message"
            in_flight |= {r for r, s in states.items() if s not in ("sent", "pending", "deferred", "failed", "skipped")}
            assert tick_outcomes(tmp_path) == ["unfinished"]
            status = digest(tmp_path, "status")
            assert ": unfinished, issue 1" in status.stdout, status.stdout
        final = run_once(tmp_path, MONDAY + timedelta(hours=1))
        assert final.returncode == 0, final.stdout + final.stderr
        assert ": sent" in final.stdout
    got = per_reader(inbox)
    duplicates = {r: sum(c.values()) - 1 for r, c in got.items() if sum(c.values()) > 1}
    print(f"after {kills} kills: delivered {len(got)} of {readers}, {sum(duplicates.values())} duplicates "
          f"({sorted(duplicates)}); in flight at a kill: {sorted(in_flight)}")
    assert set(got) == set(addresses), f"missing {sorted(set(addresses) - set(got))[:10]}"
    assert all(len(c) == 1 for c in got.values())  # one issue, one Message-ID per reader
    assert sum(duplicates.values()) <= kills, duplicates  # one connection: at most one in flight per kill
    assert set(duplicates) <= in_flight, "a reader recorded as sent (or never tried) got the issue twice"
    assert tick_outcomes(tmp_path) == ["sent"]


def test_foreground_scheduler_waits_for_the_server_with_back_off(tmp_path: Path) -> None:
    """`digest schedule` in the foreground: the catch-up tick finds the server down, retries with growing
    waits, and delivers once the server is up; SIGTERM then stops it cleanly."""
    port = free_port()
    now = datetime.now(timezone.utc).astimezone(SH)
    # An hourly cron: the catch-up tick is at most an hour old, well inside max_lateness.
    addresses = make_site(tmp_path, port, 50, articles_before=now - timedelta(hours=1, minutes=1),
                          smtp={"retry_base_seconds": 0.02}, cron="0 * * * *")
    proc = subprocess.Popen([sys.executable, "-m", "digest", "schedule"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:  # appended as they come: the test watches them
            lines.append(line)  # noqa: PERF402

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    inbox = Inbox()
    try:
        deadline = time.monotonic() + 60
        while sum("trying again in" in line for line in lines) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        waits = [float(m.group(1)) for line in lines if (m := re.search(r"trying again in ([\d.]+)s", line))]
        assert waits == sorted(waits) and waits[-1] > waits[0], waits  # back-off, not a poll loop
        with smtp_on(port, inbox):
            while len(inbox.received) < len(addresses):
                assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
                time.sleep(0.05)
            time.sleep(0.3)  # nothing more may arrive
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=5)
    got = per_reader(inbox)
    print(f"foreground: delivered {len(got)} of {len(addresses)} after {len(waits)} retries (waits {waits}), "
          f"{sum(sum(c.values()) - 1 for c in got.values())} duplicates")
    assert proc.returncode == 0, "".join(lines)
    assert set(got) == set(addresses) and all(list(c.values()) == [1] for c in got.values())
    assert tick_outcomes(tmp_path)[-1] == "sent", "".join(lines)


class Heartbeat:
    """A tiny HTTP server on 127.0.0.1 that records every path requested."""

    def __init__(self) -> None:
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/ping"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_unfinished_send_past_max_lateness_is_given_up_and_the_heartbeat_says_so(tmp_path: Path) -> None:
    """An unfinished send is resumed until tick + max_lateness, then given up: a final failure that the
    heartbeat reports and the log names, nothing sent after it, and next week's issue goes on normally."""
    heartbeat = Heartbeat()
    port = free_port()
    try:
        addresses = make_site(tmp_path, port, 60, max_lateness_hours=24, heartbeat_url=heartbeat.url)
        down = run_once(tmp_path, MONDAY + timedelta(minutes=1))
        assert down.returncode != 0 and "unfinished" in down.stdout, down.stdout + down.stderr
        assert heartbeat.hits == ["/ping?outcome=unfinished&status=fail"]
        inbox = Inbox()
        with smtp_on(port, inbox):
            late = run_once(tmp_path, MONDAY + timedelta(hours=25))
            assert late.returncode != 0, late.stdout + late.stderr
            assert "gave-up" in late.stdout and "max_lateness_hours" in late.stdout, late.stdout
            assert re.search(r"(?m)^(ERROR|WARNING) .*gave up", late.stderr), late.stderr
            assert len(inbox.received) == 0  # a week-old issue is not sent a day late
            assert heartbeat.hits[-1] == "/ping?outcome=gave-up&status=fail", heartbeat.hits
            status = digest(tmp_path, "status")
            assert ": gave-up, issue 1" in status.stdout and "sent 0 of 60" in status.stdout, status.stdout
            write_article(tmp_path, "midweek", MONDAY + timedelta(days=3))
            nxt = run_once(tmp_path, MONDAY + timedelta(days=7, minutes=1))
            assert nxt.returncode == 0, nxt.stdout + nxt.stderr
            assert f"issue 2, range {MONDAY.isoformat()} → " in nxt.stdout, nxt.stdout  # gave-up counts as processed
        print(
            f"gave up: heartbeat hits {heartbeat.hits}; next week delivered {len(inbox.received)} of {len(addresses)}"
        )
        assert heartbeat.hits[-1] == "/ping?outcome=sent"
        assert tick_outcomes(tmp_path) == ["gave-up", "sent"]
        manifests = sorted((tmp_path / "issues").glob("*_n2.json"))
        assert len(manifests) == 1 and "story-0" not in manifests[0].read_text(encoding="utf-8")
        assert len(inbox.received) == 60
    finally:
        heartbeat.close()


def test_an_unfinished_tick_still_bounds_the_next_issue(tmp_path: Path) -> None:
    """Two ticks with the server down: both stay unfinished, and the second issue's range starts at the
    first tick and carries none of its articles; when the server is back one run sends both."""
    from sitegen import settings_for

    from digest.schedule.runner import run_tick

    port = free_port()
    addresses = make_site(tmp_path, port, 20, max_lateness_hours=400)
    settings = settings_for(tmp_path)
    first = run_tick(settings, MONDAY + timedelta(minutes=1))
    write_article(tmp_path, "midweek", MONDAY + timedelta(days=3))
    second = run_tick(settings, MONDAY + timedelta(days=7, minutes=1))
    assert [o.outcome for o in second.all()] == ["unfinished", "unfinished"], second.all()
    assert first.outcome == "unfinished" and second.number == 2 and second.since == first.tick
    assert second.articles == 1
    inbox = Inbox()
    with smtp_on(port, inbox):
        third = run_tick(settings, MONDAY + timedelta(days=7, hours=1))
    assert [(o.number, o.outcome) for o in third.all()] == [(1, "sent"), (2, "sent")], third.all()
    got = per_reader(inbox)
    assert set(got) == set(addresses) and all(len(c) == 2 and set(c.values()) == {1} for c in got.values())
