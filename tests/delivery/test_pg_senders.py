"""Four `digest send` processes on one issue of 5,000 readers, sharing a PostgreSQL outbox, under faults.

- kill -9 one of them at a random moment, five times over, restarting it each time: every reader
  gets the issue; a reader who got it twice had an ambiguous row (the dead process had their
  message in flight between DATA and the reply); the kills that left a message in flight (a
  claimed or data-sent row of a dead worker) are counted and printed;
- PostgreSQL restarted in the middle of a send (2,000 readers, restarted after 600): the senders
  reconnect, say so, and finish; nothing is sent twice except ambiguous rows.

The SMTP server is a small asyncio sink in this file that records every message's recipient and
Message-ID (aiosmtpd would be the bottleneck; Postfix's smtp-sink records nothing). Kill moments
are random: DIGEST_KILL_SEED replays one (the seed is printed and in every assertion message).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from pg_server import PgServer
from test_outbox import addresses, make_site, start_send

from digest.state.connection import lock_key

READERS = 5000
RESTART_READERS = 2000  # the restart needs a send in progress, not the kill test's 5,000 (half the time)
SENDERS = 4
KILLS = 5
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class RecordingSink:
    """An SMTP server (EHLO, PIPELINING, MAIL, RCPT, DATA, RSET, NOOP, QUIT) that accepts everything and
    records (recipient, Message-ID) for each message, just before its 250."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.got: list[tuple[str, str]] = []

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.got)

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(rcpt for rcpt, _ in self.got)

    def message_ids(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        with self.lock:
            for rcpt, ident in self.got:
                out.setdefault(rcpt, set()).add(ident)
        return out

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rcpts: list[str] = []
        try:
            writer.write(b"220 sink ESMTP\r\n")
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == b"MAIL":
                    rcpts = []
                    writer.write(b"250 ok\r\n")
                elif verb == b"RCPT":
                    rcpts.append(line.split(b"<", 1)[1].split(b">", 1)[0].decode().lower())
                    writer.write(b"250 ok\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go on\r\n")
                    await writer.drain()
                    data = await reader.readuntil(b"\r\n.\r\n")
                    found = MESSAGE_ID.search(data)
                    ident = found.group(1).decode() if found else "?"
                    with self.lock:
                        self.got.extend((rcpt, ident) for rcpt in rcpts)
                    writer.write(b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    break
                elif verb in (b"RSET", b"NOOP", b"HELO"):
                    writer.write(b"250 ok\r\n")
                else:
                    writer.write(b"502 not here\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # a sender killed mid-transaction: what it sent without its final "." is dropped
        finally:
            writer.close()


@contextmanager
def serve_sink(sink: RecordingSink) -> Iterator[int]:
    """The sink on 127.0.0.1 (a free port), on its own event loop thread."""
    loop = asyncio.new_event_loop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    started = threading.Event()
    stop = asyncio.Event()

    async def main() -> None:
        server = await asyncio.start_server(sink.session, "127.0.0.1", port, limit=1 << 24)
        started.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def rows(url: str, issue_id: str) -> dict[str, tuple[str, int]]:
    """Each recipient's (state, resends) in the shared outbox."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT recipient, state, resends FROM outbox WHERE issue_id = %s", (issue_id,))
        return {r[0]: (r[1], r[2]) for r in found.fetchall()}


def wait_until(done: object, what: str, timeout: float = 240.0) -> None:
    """Poll `done()` (a condition on the sink or the processes) every 10 ms."""
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def dead_in_flight(url: str, issue_id: str) -> int:
    """Rows claimed or data-sent by workers whose advisory lock is free (dead): what a kill left mid-send."""
    with psycopg.connect(url, autocommit=True) as conn:
        owners = conn.execute(
            "SELECT run_id, COUNT(*) FROM outbox WHERE issue_id = %s AND state IN ('claimed', 'data-sent')"
            " GROUP BY run_id", (issue_id,),
        ).fetchall()
        dead = 0
        for owner, n in owners:
            key = lock_key(f"digest outbox worker {owner}")
            if conn.execute("SELECT pg_try_advisory_lock(%s::bigint)", (key,)).fetchone()[0]:
                conn.execute("SELECT pg_advisory_unlock(%s::bigint)", (key,))
                dead += n
        return dead


def workers_holding_locks(url: str) -> int:
    """Advisory locks held in the test's database: one per sender worker that has claimed its first row."""
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()[0])


def check(sink: RecordingSink, url: str, issue_id: str, where: str, readers: int = READERS) -> int:
    """Every reader got the issue; a repeat only of an ambiguous row, with the same Message-ID. Returns the repeats."""
    counts = sink.counts()
    missing = set(addresses(readers)) - set(counts)
    assert not missing, f"{where}: {len(missing)} readers never got the issue, e.g. {sorted(missing)[:3]}"
    table = rows(url, issue_id)
    states = Counter(state for state, _ in table.values())
    assert set(states) <= {"sent", "ambiguous"}, f"{where}: {states}"
    twice = {rcpt: n for rcpt, n in counts.items() if n > 1}
    not_ambiguous = {r: n for r, n in twice.items() if table[r][0] != "ambiguous" and table[r][1] == 0}
    assert not not_ambiguous, f"{where}: sent twice without an ambiguous row: {not_ambiguous}"
    assert all(n <= 2 for n in twice.values()), f"{where}: more than two messages: {twice}"
    ids = sink.message_ids()
    assert all(len(ids[rcpt]) == 1 for rcpt in twice), f"{where}: a repeat with another Message-ID"
    return len(twice)


def finish(procs: list[subprocess.Popen[str]], where: str) -> list[str]:
    errors = []
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode in (0, 1), f"{where}: a sender ended {proc.returncode}: {stderr[-2000:]}"
        errors.append(stderr)
    return errors


@pytest.fixture
def shared_site(
    tmp_path: Path, pg_server: PgServer, request: pytest.FixtureRequest,
) -> Iterator[tuple[Path, str, str, RecordingSink]]:
    """A site on a fresh database with READERS readers (or the number the test passes by indirect parametrization)."""
    sink = RecordingSink()
    url = pg_server.url(pg_server.create_database())
    with serve_sink(sink) as port:
        site, issue_id = make_site(tmp_path, port, getattr(request, "param", READERS), state=url)
        yield site, issue_id, url, sink


def test_four_senders_one_killed_five_times_every_reader_gets_the_issue(
    shared_site: tuple[Path, str, str, RecordingSink],
) -> None:
    """kill -9 a random one of four senders at a random moment, five times, restarting it: nobody missed, a repeat
    only of an ambiguous row."""
    site, issue_id, url, sink = shared_site
    seed = int(os.environ.get("DIGEST_KILL_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    where = f"DIGEST_KILL_SEED={seed}"
    print(where)
    args = [issue_id, "--recipients", "subscribers.csv"]
    started = time.monotonic()
    procs = [start_send(site, *args) for _ in range(SENDERS)]
    landed = mid_send = 0
    target = 0
    for _ in range(KILLS):
        target += rng.randint(150, 600)
        wait_until(
            lambda at=target: sink.count >= at or all(p.poll() is not None for p in procs), f"{target} messages"
        )
        time.sleep(rng.uniform(0, 0.005))  # anywhere in the next transaction
        alive = [i for i, p in enumerate(procs) if p.poll() is None]
        if not alive:
            break
        victim = rng.choice(alive)
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].communicate(timeout=60)
        landed += procs[victim].returncode == -signal.SIGKILL
        # the killed sender had a message claimed or data-sent (its locks go once the server sees its sockets close)
        deadline = time.monotonic() + 2
        while not (found := dead_in_flight(url, issue_id) > 0) and time.monotonic() < deadline:
            time.sleep(0.01)
        mid_send += found
        procs[victim] = start_send(site, *args)
        # the next kill lands on senders that are all sending, not on one still starting up
        wait_until(
            lambda: workers_holding_locks(url) >= SENDERS or all(p.poll() is not None for p in procs), "four senders",
        )
    finish(procs, where)
    repeats = check(sink, url, issue_id, where)
    print(f"{where}: {landed} kills landed ({mid_send} with a message in flight), {repeats} repeats (ambiguous),"
          f" {time.monotonic() - started:.1f} s")
    assert landed >= 3, f"{where}: only {landed} kills landed before the send finished"


@pytest.mark.parametrize("shared_site", [RESTART_READERS], indirect=True)
def test_postgresql_restarted_mid_send_the_senders_reconnect_and_finish(
    shared_site: tuple[Path, str, str, RecordingSink], pg_server: PgServer,
) -> None:
    """PostgreSQL stopped and started again while four senders are busy: they reconnect and finish; nothing twice
    but ambiguous rows."""
    site, issue_id, url, sink = shared_site
    args = [issue_id, "--recipients", "subscribers.csv"]
    procs = [start_send(site, *args) for _ in range(SENDERS)]
    wait_until(lambda: sink.count >= 600 or any(p.poll() is not None for p in procs), "600 messages")
    assert all(p.poll() is None for p in procs), [p.communicate()[1][-1500:] for p in procs if p.poll() is not None]
    before = sink.count
    pg_server.restart()
    assert sink.count < RESTART_READERS - 200, "the send (nearly) finished before the restart took effect"
    errors = finish(procs, "restart")
    repeats = check(sink, url, issue_id, "restart", RESTART_READERS)
    print(f"restart after {before} messages: {repeats} repeats (ambiguous)")
    assert not [e for e in errors if "Traceback" in e], errors
    assert sum("the connection was lost" in e for e in errors) >= SENDERS, errors  # each reconnected, and said so
