"""The scheduled path with schedule.action: send, against a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sitegen import write_article, write_config
from smtp_servers import Inbox, serve

MONDAY = datetime(2025, 7, 7, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def make_site(root: Path, port: int, subscribers: int, **render: object) -> list[str]:
    """A site that sends on schedule to `subscribers` addresses through 127.0.0.1:`port`."""
    write_config(
        root,
        smtp={"host": "127.0.0.1", "port": port, "security": "none", "retry_base_seconds": 0.01},
        mail={"recipients": "subscribers.csv", "unsubscribe_mailto": "leave@news.example.com"},
        schedule={"action": "send"},
        render=dict(render),
    )
    for day in range(5):
        write_article(root, f"story-{day}", MONDAY - timedelta(days=day + 1))
    addresses = [f"reader{i:03d}@example.org" for i in range(subscribers)]
    (root / "subscribers.csv").write_text("email\n" + "\n".join(addresses) + "\n", encoding="utf-8")
    return addresses


def run_once(root: Path, at: datetime) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "schedule", "--run-once", "--at", at.isoformat()],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")},
    )


def received_counts(inbox: Inbox) -> Counter[str]:
    return Counter(r for message in inbox.received for r in message.rcpts)


def test_sigterm_during_a_scheduled_send_then_the_next_run_finishes_it(tmp_path: Path) -> None:
    """SIGTERM mid-send stops after the message in flight; the next run sends the rest, each recipient once."""
    inbox = Inbox()
    with serve(inbox) as port:
        addresses = make_site(tmp_path, port, 120)
        proc = run_once(tmp_path, MONDAY + timedelta(minutes=1))
        inbox.on_message = lambda count: proc.send_signal(signal.SIGTERM) if count == 40 else None
        out, err = proc.communicate(timeout=300)
        inbox.on_message = None
        assert proc.returncode == 1, err
        assert ": unfinished (sent " in out and " of 120" in out and "stopped" in out, out
        assert 40 <= sum(received_counts(inbox).values()) < 120
        status = subprocess.run(
            [sys.executable, "-m", "digest", "status"], cwd=tmp_path, capture_output=True, text=True
        )
        assert ": unfinished, issue 1" in status.stdout, status.stdout
        again = run_once(tmp_path, MONDAY + timedelta(minutes=30))
        _out2, err2 = again.communicate(timeout=300)
        assert again.returncode == 0, err2
    counts = received_counts(inbox)
    assert set(counts) == set(addresses) and set(counts.values()) == {1}
    status = subprocess.run([sys.executable, "-m", "digest", "status"], cwd=tmp_path, capture_output=True, text=True)
    assert ": sent, issue 1" in status.stdout, status.stdout


def test_sent_issue_is_archived_into_the_site_and_never_selected(tmp_path: Path) -> None:
    """With render.archive_to_content, a sent issue becomes a page of the site; the next issue skips it."""
    inbox = Inbox()
    with serve(inbox) as port:
        make_site(tmp_path, port, 3, archive_to_content=True)
        first = run_once(tmp_path, MONDAY + timedelta(minutes=1))
        _out, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        pages = list((tmp_path / "content" / "newsletter").glob("*.md"))
        assert len(pages) == 1
        text = pages[0].read_text(encoding="utf-8")
        assert "digest_issue: 1" in text and "story-0" in text
        write_article(tmp_path, "next-week", MONDAY + timedelta(days=3))
        second = run_once(tmp_path, MONDAY + timedelta(days=7, minutes=1))
        _out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err
    assert len(inbox.received) == 6
    manifests = sorted((tmp_path / "issues").glob("*_n2.json"))
    carried = json.loads(manifests[0].read_text(encoding="utf-8"))["articles"]
    assert [a["path"] for a in carried] == ["posts/next-week.md"]
