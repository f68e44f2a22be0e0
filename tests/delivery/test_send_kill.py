"""kill -9 a real `digest send` process, rerun the same command: nobody misses the issue, repeats are bounded.

The server is a real aiosmtpd on 127.0.0.1 that keeps every message with its recipient and
Message-ID. Kill moments are random: set DIGEST_KILL_SEED to replay a failure (the seed is
printed; `pytest -s` shows it, and it is in every assertion message).
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from smtp_servers import Faults, FaultyInbox, Inbox, serve
from test_outbox import addresses, digest, forget_bounce, make_site, start_send

from digest.config import load_settings

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
READERS = 500
KILLS = 5


def deliveries(inbox: Inbox) -> Counter[tuple[str, str]]:
    """Messages received per (recipient, Message-ID)."""
    with inbox.lock:
        received = list(inbox.received)
    out: Counter[tuple[str, str]] = Counter()
    for message in received:
        found = MESSAGE_ID.search(message.data)
        ident = found.group(1).decode() if found else "?"
        for rcpt in message.rcpts:
            out[(rcpt.lower(), ident)] += 1
    return out


@dataclass
class Kill:
    """Kill the running send `delay` s after the server received `after` more messages, or `timer` s after it started
    (whichever comes first: the count caps how much a run sends, so that all five kills land)."""

    after: int
    delay: float = 0.0
    timer: float | None = None

    def __str__(self) -> str:
        if self.timer is not None:
            return f"{self.timer:.2f} s after start (or after {self.after} messages)"
        return f"after {self.after} more messages + {self.delay * 1000:.1f} ms"


class Killer:
    """Fires one Kill at one process, from the server's thread (by message count) or a timer."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None
        self.at: int | None = None
        self.delay = 0.0
        inbox.on_message = self.on_message

    def arm(self, proc: subprocess.Popen[str], kill: Kill) -> None:
        with self.lock:
            self.proc, self.delay = proc, kill.delay
            with self.inbox.lock:
                self.at = len(self.inbox.received) + kill.after
        if kill.timer is not None:
            threading.Timer(kill.timer, proc.send_signal, (signal.SIGKILL,)).start()

    def on_message(self, count: int) -> None:
        with self.lock:
            if self.at is None or count < self.at or self.proc is None:
                return
            proc, self.at = self.proc, None
        threading.Timer(self.delay, proc.send_signal, (signal.SIGKILL,)).start()


def random_kills(rng: random.Random) -> list[Kill]:
    """Mostly by message count, with a sub-message delay that puts the kill anywhere in the next transaction; some by
    time, which can also land before the first message (while rendering, enrolling, connecting)."""
    kills = []
    for _ in range(KILLS):
        if rng.random() < 0.7:
            kills.append(Kill(rng.randint(1, 70), rng.uniform(0, 0.006)))
        else:
            kills.append(Kill(80, timer=rng.uniform(0.0, 1.2)))
    return kills


def kill_and_rerun(tmp_path: Path, connections: int) -> tuple[int, int, str]:
    """Five kills of one send, each followed by the same command; then a last run to the end.

    Checks that every reader has the issue; returns (kills that landed, repeats, seed line)."""
    seed = int(os.environ.get("DIGEST_KILL_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    kills = random_kills(rng)
    where = f"DIGEST_KILL_SEED={seed} (connections: {connections})"
    print(where, "; ".join(map(str, kills)))
    inbox = Inbox()
    with serve(inbox) as port:
        site, issue_id = make_site(tmp_path, port, READERS)
        if connections != 1:
            config = site / "config.yaml"
            config.write_text(config.read_text().replace("smtp:\n", f"smtp:\n  connections: {connections}\n"))
        args = [issue_id, "--recipients", "subscribers.csv"]
        killer = Killer(inbox)
        landed = 0
        for i, kill in enumerate(kills):
            proc = start_send(site, *args)
            killer.arm(proc, kill)
            _, stderr = proc.communicate(timeout=300)
            landed += proc.returncode == -signal.SIGKILL
            got = deliveries(inbox)
            print(f"  run {i + 1} ({kill}): exit {proc.returncode}, {len(got)} readers so far, "
                  f"{sum(got.values()) - len(got)} repeats")
            assert proc.returncode in (-signal.SIGKILL, 0, 1), f"{where}: run {i + 1}: {stderr}"
        inbox.on_message = None
        last = digest(site, "send", *args)
        got = deliveries(inbox)
        check(got, where)
        # A kill can land twice in one reader's DATA: once in the first send, once in its one resend. That reader stays
        # ambiguous (never a third copy) and the run says so with exit 1; anything else left over is a failure.
        twice = re.findall(r"^ambiguous: (\S+): ", last.stderr, re.MULTILINE)
        assert last.returncode == (1 if twice else 0), f"{where}: last run: {last.stderr}"
        assert "each was already sent again once" in last.stderr or not twice, f"{where}: last run: {last.stderr}"
        status = digest(site, "status", issue_id)
        assert f"sent: {READERS - len(twice)}," in status.stdout, f"{where}: {status.stdout}"
    return landed, sum(got.values()) - len(got), where


def check(got: Counter[tuple[str, str]], where: str) -> None:
    readers = Counter(rcpt for rcpt, _ in got)
    missing = set(addresses(READERS)) - set(readers)
    assert not missing, f"{where}: {len(missing)} readers without the issue: {sorted(missing)[:5]}"
    assert set(readers.values()) == {1}, f"{where}: a reader got two different Message-IDs"
    assert max(got.values()) <= 2, f"{where}: a reader got the issue three times or more"


def test_five_kills_of_one_send_then_reruns_miss_no_reader_and_repeat_at_most_one_per_kill(tmp_path: Path) -> None:
    """One connection: kill -9 at five random moments, the same command rerun after each: every reader gets the issue,
    with at most one repeat (same Message-ID) per kill."""
    landed, repeats, where = kill_and_rerun(tmp_path, connections=1)
    print(f"{where}: {landed} kills landed, {repeats} repeats")
    assert landed == KILLS, where
    assert repeats <= landed, f"{where}: {repeats} repeats for {landed} kills"


def test_five_kills_with_four_connections_repeat_at_most_four_per_kill(tmp_path: Path) -> None:
    """smtp.connections: 4: the same, with at most one repeat per connection per kill."""
    landed, repeats, where = kill_and_rerun(tmp_path, connections=4)
    print(f"{where}: {landed} kills landed, {repeats} repeats")
    assert landed == KILLS, where
    assert repeats <= 4 * landed, f"{where}: {repeats} repeats for {landed} kills"


# -- one kill at a chosen point ----------------------------------------------------------------------


class KillAtRcpt(Inbox):
    """Kills the sending process when it names `victim` at RCPT TO: before DATA, before any byte of the message."""

    def __init__(self, victim: str) -> None:
        super().__init__()
        self.victim = victim
        self.proc: subprocess.Popen[str] | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        if address.lower() == self.victim and self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_kill_before_data_is_sent_exactly_once_by_a_plain_rerun(tmp_path: Path) -> None:
    """kill -9 while the server answers RCPT TO for reader010: that row is merely claimed, so the same command, rerun,
    sends it (once) with everyone else; nothing is ambiguous."""
    victim = "reader010@example.org"
    inbox = KillAtRcpt(victim)
    with serve(inbox) as port:
        site, issue_id = make_site(tmp_path, port, 20)
        args = [issue_id, "--recipients", "subscribers.csv"]
        inbox.proc = proc = start_send(site, *args)
        proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL
        conn = sqlite3.connect(site / ".digest" / "state.sqlite")
        left = dict(conn.execute("SELECT recipient, state FROM outbox WHERE state != 'sent'").fetchall())
        conn.close()
        assert left.get(victim) == "claimed"
        rerun = digest(site, "send", *args)
        assert rerun.returncode == 0, rerun.stderr
        assert "ambiguous: 0," in rerun.stderr and "Warning" not in rerun.stderr, rerun.stderr
    assert inbox.counts() == dict.fromkeys(addresses(20), 1)


def test_the_cli_flags_no_resend_ambiguous_and_retry_failed(tmp_path: Path) -> None:
    """`digest send --no-resend-ambiguous` leaves an ambiguous reader alone (exit 1); the same command without it sends
    once; a 550 stays failed until `--retry-failed` (its 5.1.1 marked it bounced: forgotten first)."""
    inbox = FaultyInbox(Faults(vanish_after_data={"reader001@example.org"}, reject={"reader002@example.org"}))
    with serve(inbox) as port:
        site, issue_id = make_site(tmp_path, port, 4)
        args = [issue_id, "--recipients", "subscribers.csv"]
        first = digest(site, "send", *args)
        assert first.returncode == 1 and "1 ambiguous" in first.stderr, first.stderr
        inbox.faults.vanish_after_data.clear()
        inbox.faults.reject.clear()
        kept = digest(site, "send", *args, "--no-resend-ambiguous")
        assert kept.returncode == 1 and inbox.counts()["reader001@example.org"] == 1, kept.stderr
        assert "will be sent again, once" in kept.stderr
        plain = digest(site, "send", *args)
        assert plain.returncode == 1, plain.stderr  # reader002 still failed
        assert inbox.counts()["reader001@example.org"] == 2 and "reader002@example.org" not in inbox.counts()
        status = digest(site, "status", issue_id)
        assert "failed: 1," in status.stdout and "exhausted: 0," in status.stdout, status.stdout
        assert "reader002@example.org: the server says the mailbox does not exist" in first.stderr, first.stderr
        forget_bounce(load_settings(site / "config.yaml", env={}), "reader002@example.org")
        fixed = digest(site, "send", *args, "--retry-failed")
        assert fixed.returncode == 0, fixed.stderr
    assert inbox.counts() == {"reader000@example.org": 1, "reader001@example.org": 2,
                              "reader002@example.org": 1, "reader003@example.org": 1}


@pytest.mark.parametrize("flag", ["--resend-ambiguous", "--no-resend-ambiguous", "--retry-failed"])
def test_send_help_explains_the_flags(flag: str) -> None:
    """`digest send --help` names each flag."""
    from click.testing import CliRunner

    from digest.cli.main import cli

    result = CliRunner().invoke(cli, ["send", "--help"])
    assert flag in result.output
