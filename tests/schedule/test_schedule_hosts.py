"""The schedule's single runner across hosts: two schedulers on two "hosts" (two processes with
different host names, `--host-name`) fire the same tick against one ledger, a PostgreSQL database
(an advisory lock) or one SQLite state file (its file lock): one issue, one send; the other one
records that the tick was taken, and by whom, and exits 0.

Real parts only: an aiosmtpd server on a free 127.0.0.1 port, a real PostgreSQL (tests/pg_server.py),
`python -m digest` subprocesses driven with `--at`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from sitegen import write_article, write_config
from smtp_servers import Inbox, free_port

from digest.state.engine import open_ledger

SH = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2025, 7, 7, 8, 0, tzinfo=SH)
MESSAGE_ID = re.compile(rb"(?im)^Message-ID:\s*(<[^>\r\n]+>)")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
HOSTS = ("alpha", "beta")


def make_site(root: Path, state: str, port: int, readers: int) -> list[str]:
    write_config(
        root, state=state,
        smtp={"host": "127.0.0.1", "port": port, "security": "none", "retry_base_seconds": 0.01, "timeout": 5},
        mail={"recipients": "subscribers.csv", "unsubscribe_mailto": "leave@news.example.com"},
        schedule={"action": "send"},
    )
    for day in range(3):
        write_article(root, f"story-{day}", MONDAY - timedelta(days=day + 1))
    addresses = [f"reader{i:03d}@example.org" for i in range(readers)]
    (root / "subscribers.csv").write_text("email\n" + "\n".join(addresses) + "\n", encoding="utf-8")
    return addresses


def test_two_schedulers_on_two_hosts_at_the_same_tick_make_one_issue_and_one_send(
    tmp_path: Path, state_engine: str
) -> None:
    root = tmp_path / "site"
    port = free_port()
    addresses = make_site(root, state_engine, port, 40)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, auth_require_tls=False)
    controller.start()
    try:
        at = (MONDAY + timedelta(minutes=1)).isoformat()
        runs = {
            host: subprocess.Popen(
                [sys.executable, "-m", "digest", "schedule", "--run-once", "--at", at, "--host-name", host],
                cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
            )
            for host in HOSTS
        }
        done = {host: run.communicate(timeout=300) for host, run in runs.items()}
    finally:
        controller.stop()
    for host, run in runs.items():
        assert run.returncode == 0, (host, done[host])

    # One send: every reader got exactly one message, all of one issue.
    per_reader: dict[str, Counter[str]] = {}
    for message in inbox.received:
        found = MESSAGE_ID.search(message.data)
        assert found
        for rcpt in message.rcpts:
            per_reader.setdefault(rcpt.lower(), Counter())[found.group(1).decode()] += 1
    assert sorted(per_reader) == addresses
    assert all(list(c.values()) == [1] for c in per_reader.values()), per_reader

    # One issue, recorded by the host that ran it; the other found the tick taken by it, said so, and kept it.
    with open_ledger(state_engine, root=root) as conn:
        ticks = [dict(r) for r in conn.execute("SELECT wall_key, outcome, number, host FROM schedule_ticks")]
        taken = [dict(r) for r in conn.execute("SELECT wall_key, host, taken_by FROM schedule_taken")]
        issues = {r[0] for r in conn.execute("SELECT DISTINCT issue_id FROM outbox")}
    assert len(ticks) == 1 and ticks[0]["outcome"] == "sent" and ticks[0]["number"] == 1, ticks
    assert len(issues) == 1
    winner = ticks[0]["host"]
    assert winner in HOSTS
    loser = next(h for h in HOSTS if h != winner)
    assert taken == [{"wall_key": ticks[0]["wall_key"], "host": loser, "taken_by": winner}]
    said = done[loser][0] + done[loser][1]
    assert f"taken by {winner}" in said, said
    assert "sent" not in done[loser][0].replace("already", ""), done[loser]
    assert len(list((root / "issues").glob("*_n*.html"))) == 1
