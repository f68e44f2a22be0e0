"""The shared outbox's guards on PostgreSQL, each seen through two or more real connections.

1. `recover` takes back only the rows in flight of dead workers (their advisory lock free), never a
   live one's on another connection.
2. Every write after a claim is made only while the row is still the worker's: a worker whose row was
   taken back (its connection lost, another sender recovered the row) marks nothing.
3. Claims are exclusive: a row another worker is claiming is skipped (`FOR UPDATE SKIP LOCKED`), never
   waited for and never claimed twice.
4. Enrolment: a sender enrolling the list another has enrolled writes only the rows that changed, and
   whether a reader is skipped is decided afresh by each.

Each guard, removed from digest/state/outbox.py, fails a test here (see each test's docstring).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import psycopg
import pytest
from pg_server import PgServer

from digest.models import Claimed
from digest.state import migrations
from digest.state.engine import StateConnection, open_postgresql
from digest.state.outbox import Outbox

ISSUE = "2025-07-07"
NOW = 1_751_000_000.0  # the tests' clock: a fixed moment (no deferred row comes due by waiting)


def clock() -> float:
    return NOW


def enrol(n: int) -> list[tuple[str, str, str | None, tuple[str, ...] | None]]:
    return [(f"r{i:03d}@example.org", f"r{i:03d}@example.org", None, None) for i in range(n)]


@pytest.fixture
def workers(pg_url: str) -> Iterator[Callable[[], Outbox]]:
    """Makes outboxes on the test's database, each on its own connection (a worker, as a sender runs one per
    SMTP connection), able to reconnect as digest's are; closes them all at the end."""
    made: list[Outbox] = []

    def connect() -> StateConnection:
        conn = open_postgresql(pg_url)
        migrations.migrate(conn)
        return conn

    def make() -> Outbox:
        outbox = Outbox(connect(), clock=clock, reopen=connect)
        made.append(outbox)
        return outbox

    yield make
    for outbox in made:
        if not outbox.conn.closed:
            outbox.close()


def table(url: str) -> dict[str, tuple[str, str | None]]:
    """Each recipient's (state, run_id), read on a connection of its own."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT recipient, state, run_id FROM outbox WHERE issue_id = %s", (ISSUE,))
        return {r[0]: (r[1], r[2]) for r in found.fetchall()}


def kill_backend(pg_server: PgServer, outbox: Outbox) -> None:
    """The server ends the worker's session (as a restart or a cut network does): its session locks go with it."""
    pid = outbox.conn.raw.info.backend_pid  # type: ignore[attr-defined]
    with pg_server.admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def claim(outbox: Outbox, run_id: str = "run-a") -> Claimed:
    item = outbox.claim(ISSUE, run_id)
    assert item is not None
    return item


# -- 1. recover: the dead-owner check ----------------------------------------------------------------


def test_recover_in_another_sender_leaves_a_live_workers_rows_in_flight(
    workers: Callable[[], Outbox], pg_url: str,
) -> None:
    """A (live) has one row data-sent and one claimed; B's recover (another sender starting) leaves both alone, and A
    finishes them. Guard broken (`_dead_owners` treats every owner as dead): B makes A's data-sent row ambiguous,
    requeues its claimed one, and A's data-sent mark for it is refused."""
    a, b = workers(), workers()
    a.add(ISSUE, "run-a", enrol(3))
    first = claim(a)
    assert a.mark_data(first) is not None
    second = claim(a)
    before = table(pg_url)

    done = b.recover(ISSUE)
    assert (done.ambiguous, done.resent, done.requeued) == ([], [], 0)
    assert table(pg_url) == before
    assert before[first.recipient][0] == "data-sent" and before[second.recipient][0] == "claimed"
    b.add(ISSUE, "run-b", enrol(3))  # B enrols the same recipients: A's rows in flight stay A's
    assert {r: s for r, (s, _) in table(pg_url).items()} == {
        first.recipient: "data-sent", second.recipient: "claimed", "r002@example.org": "pending",
    }

    a.mark_sent(first, "250 ok")
    assert a.mark_data(second) is not None
    a.mark_sent(second, "250 ok")
    assert {s for s, _ in table(pg_url).values()} - {"pending"} == {"sent"}
    assert b.counts(ISSUE)["sent"] == 2


def test_a_dead_workers_rows_are_recovered_ambiguous_and_pending(
    workers: Callable[[], Outbox], pg_url: str,
) -> None:
    """A has one row data-sent and one claimed, then dies (its connection closed: its lock goes with it); B's
    recover makes the data-sent row ambiguous (sent again once) and puts the claimed one back in the queue.
    (The other half of guard 1: a recover that never takes a row back, `_dead_owners` finding no one dead,
    fails here.)"""
    a, b = workers(), workers()
    a.add(ISSUE, "run-a", enrol(3))
    first = claim(a)
    assert a.mark_data(first) is not None
    second = claim(a)
    a.close()

    done = b.recover(ISSUE, resend_ambiguous=False)
    assert done.ambiguous == [first.recipient] and done.requeued == 1
    assert {r: s for r, (s, _) in table(pg_url).items()} == {
        first.recipient: "ambiguous", second.recipient: "pending", "r002@example.org": "pending",
    }


def test_recover_tells_live_from_dead_among_several_workers(workers: Callable[[], Outbox], pg_url: str) -> None:
    """Three workers with rows in flight, one of them dead: a fourth's recover takes back the dead one's rows only."""
    a, b, c, d = workers(), workers(), workers(), workers()
    a.add(ISSUE, "run-a", enrol(6))
    flying = {}
    for name, worker in (("a", a), ("b", b), ("c", c)):
        data = claim(worker)
        assert worker.mark_data(data) is not None
        flying[name] = (data.recipient, claim(worker).recipient)
    b.close()

    done = d.recover(ISSUE, resend_ambiguous=False)
    assert done.ambiguous == [flying["b"][0]] and done.requeued == 1
    states = {r: s for r, (s, _) in table(pg_url).items()}
    for name in ("a", "c"):
        assert (states[flying[name][0]], states[flying[name][1]]) == ("data-sent", "claimed"), name
    assert (states[flying["b"][0]], states[flying["b"][1]]) == ("ambiguous", "pending")


def advisory_waiter(pg_server: PgServer) -> bool:
    """Whether some session is waiting for an advisory lock."""
    with pg_server.admin() as admin:
        found = admin.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event = 'advisory'").fetchone()
        return found is not None


@pytest.mark.parametrize("step", ["claim", "mark_data"])
def test_a_reconnected_worker_writes_only_once_it_holds_its_lock_again(
    workers: Callable[[], Outbox], pg_url: str, pg_server: PgServer, step: str,
) -> None:
    """A's session ends (its lock freed) and another sender's recover is meanwhile holding A's lock (as
    `_dead_owners` does while it decides). A's next write, once reconnected (a claim, or the data-sent mark of
    the row it holds), waits until A holds its own lock again; so a later recover sees A alive and leaves its
    data-sent row alone. Guard broken (A goes on when its lock is taken, as it once did): A writes unlocked and
    the next recover makes its row ambiguous while A is sending it."""
    a, b = workers(), workers()
    a.add(ISSUE, "run-a", enrol(2))
    item = claim(a)
    owner = table(pg_url)[item.recipient][1]
    assert owner is not None
    kill_backend(pg_server, a)
    holder = open_postgresql(pg_url)  # a recover in another sender, deciding A is dead
    try:
        assert holder.try_advisory_lock(f"digest outbox worker {owner}")
        done: list[object] = []
        if step == "claim":
            work = threading.Thread(target=lambda: done.append(a.claim(ISSUE, "run-a")))
        else:
            work = threading.Thread(target=lambda: done.append(a.mark_data(item)))
        work.start()
        deadline = time.monotonic() + 10
        while work.is_alive() and not advisory_waiter(pg_server) and time.monotonic() < deadline:
            work.join(0.005)
        holder.advisory_unlock(f"digest outbox worker {owner}")
    finally:
        holder.close()
    work.join(10)
    assert not work.is_alive() and done
    if step == "claim":
        assert isinstance(done[0], Claimed)
        item = done[0]
        assert a.mark_data(item) is not None
    else:
        assert done[0] is not None
    assert table(pg_url)[item.recipient] == ("data-sent", owner)
    assert b.recover(ISSUE).ambiguous == []
    assert table(pg_url)[item.recipient] == ("data-sent", owner)


# -- 2. the ownership check on every write after a claim ---------------------------------------------


def test_a_worker_whose_row_was_taken_back_marks_nothing(
    workers: Callable[[], Outbox], pg_url: str, pg_server: PgServer,
) -> None:
    """A claims a row; the server ends A's session (a restart, a cut network); B recovers the row (A's lock is
    free) and claims it. A, reconnected, is refused the data-sent mark (so it never sends), and its sent, failed,
    deferred, ambiguous and release writes leave B's row alone. Guard broken (the writes' `run_id = ?` dropped):
    A's data-sent mark is written over B's claim, and A's `sent` over B's data-sent."""
    a, b = workers(), workers()
    a.add(ISSUE, "run-a", enrol(1))
    item = claim(a)
    kill_backend(pg_server, a)

    assert b.recover(ISSUE).requeued == 1
    again = claim(b, "run-b")
    assert again.rowid == item.rowid
    owner_b = table(pg_url)[item.recipient]
    assert owner_b[0] == "claimed"

    assert a.mark_data(item) is None  # reconnects, finds the row B's: the message must not go out
    assert table(pg_url)[item.recipient] == owner_b
    assert b.mark_data(again) is not None
    for write in (a.mark_sent, a.mark_failed, a.mark_ambiguous, a.mark_exhausted, a.release):
        write(item, "stale")
    a.mark_deferred(item, "stale", NOW + 60)
    assert table(pg_url)[item.recipient] == ("data-sent", owner_b[1])
    b.mark_sent(again, "250 ok")
    assert table(pg_url)[item.recipient] == ("sent", owner_b[1])


def test_a_row_taken_back_and_still_pending_is_not_marked_data_sent(
    workers: Callable[[], Outbox], pg_url: str, pg_server: PgServer,
) -> None:
    """Taken back but not yet claimed again (pending, still carrying A's id): A's data-sent mark is refused and
    the row stays in the queue. Guard broken (mark_data's `state IN ('claimed', 'data-sent')` dropped): A marks
    a pending row data-sent and sends it while another sender may claim it."""
    a, b = workers(), workers()
    a.add(ISSUE, "run-a", enrol(1))
    item = claim(a)
    kill_backend(pg_server, a)
    assert b.recover(ISSUE).requeued == 1
    assert a.mark_data(item) is None
    assert table(pg_url)[item.recipient][0] == "pending"


# -- 3. claims: exclusive, and never waiting on another worker's -------------------------------------


def test_a_row_being_claimed_elsewhere_is_skipped_not_waited_for_nor_claimed_twice(
    workers: Callable[[], Outbox], pg_url: str, pg_server: PgServer,
) -> None:
    """A claims row 1 inside a transaction it has not committed yet; B's claim meanwhile returns row 2 at once.
    Guard broken: without `SKIP LOCKED` B waits for A's transaction (caught: B is seen waiting on a lock); without
    `FOR UPDATE SKIP LOCKED` B waits, then claims row 1 too."""
    a, b = workers(), workers()
    a.add(ISSUE, "run-a", enrol(3))
    got: list[Claimed | None] = []
    with a.conn.transaction():
        mine = claim(a)
        taker = threading.Thread(target=lambda: got.append(b.claim(ISSUE, "run-b")))
        taker.start()
        pid = b.conn.raw.info.backend_pid  # type: ignore[attr-defined]
        waited = False
        with pg_server.admin() as admin:
            deadline = time.monotonic() + 10
            while taker.is_alive() and time.monotonic() < deadline:
                row = admin.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
                if row and row[0] == "Lock":
                    waited = True
                    break
                taker.join(0.005)
    taker.join(10)
    assert not taker.is_alive()
    assert not waited, "B waited for the row A was claiming"
    assert got and got[0] is not None and got[0].rowid != mine.rowid
    states = Counter(s for s, _ in table(pg_url).values())
    assert states == Counter({"claimed": 2, "pending": 1})


def test_many_workers_claiming_at_once_never_share_a_row(workers: Callable[[], Outbox], pg_url: str) -> None:
    """Six workers on six connections claim everything as fast as they can: each row exactly once. Guard broken
    (`FOR UPDATE SKIP LOCKED` dropped from the claim): rows are claimed by two workers (not certain on every run,
    but on nearly every one here; the test above is the deterministic one)."""
    first = workers()
    first.add(ISSUE, "run", enrol(600))
    pool = [first] + [workers() for _ in range(5)]
    for worker in pool:  # every connection open and its session set up before the race
        worker.counts(ISSUE)
    claimed: list[list[int]] = [[] for _ in pool]
    go = threading.Barrier(len(pool))

    def run(i: int) -> None:
        go.wait()
        while (item := pool[i].claim(ISSUE, "run")) is not None:
            claimed[i].append(item.rowid)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(pool))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [rowid for rows in claimed for rowid in rows]
    twice = [rowid for rowid, n in Counter(every).items() if n > 1]
    assert not twice, f"{len(twice)} rows claimed by two workers, e.g. {twice[:5]}"
    assert len(every) == 600
    assert sum(1 for rows in claimed if rows) >= 2, "one worker took everything: no race was run"
    assert {s for s, _ in table(pg_url).values()} == {"claimed"}


def test_the_rate_is_shared_by_every_sender(workers: Callable[[], Outbox]) -> None:
    """`smtp.rate` holds for all senders together: each slot taken from the shared pacing row, by any
    worker on any connection, comes one interval after the one before (the waits are returned, not slept)."""
    interval = 60.0  # so long that the few milliseconds between the calls cannot blur which slot is which
    a, b, c = workers(), workers(), workers()
    waits = [w.pace("smtp relay:587 news", interval) for w in (a, b, c, a, b)]
    assert waits[0] is not None and waits[0] < 1.0  # the first slot is now
    for k, wait in enumerate(waits[1:], start=1):
        assert wait is not None and k * interval - 1.0 < wait <= k * interval, waits
    other = workers().pace("smtp other:587 news", interval)  # another server's rate is its own
    assert other is not None and other < 1.0


# -- 4. enrolment: the senders of a fleet enrol the same list ------------------------------------------


def row_versions(url: str) -> dict[str, tuple[str, str | None, str]]:
    """Each recipient's (xmin, run_id, state): a row written again gets a new xmin."""
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT recipient, xmin::text, run_id, state FROM outbox WHERE issue_id = %s", (ISSUE,))
        return {r[0]: (r[1], r[2], r[3]) for r in found.fetchall()}


def test_a_second_sender_enrolling_the_same_list_writes_no_row(workers: Callable[[], Outbox], pg_url: str) -> None:
    """B enrols the list A enrolled: not one row is written again (their xmin stays). Then C enrols it with one
    reader's topics changed and one reader gone: only those two rows are written, the gone one unenrolled.
    Guard broken (the upsert's `outbox.name IS DISTINCT FROM …` condition dropped): B rewrites all five rows."""
    a, b, c = workers(), workers(), workers()
    a.add(ISSUE, "run-a", enrol(5))
    first = row_versions(pg_url)
    b.add(ISSUE, "run-b", enrol(5))
    assert row_versions(pg_url) == first

    changed = [(k, addr, name, ("ai",) if k == "r001@example.org" else topics) for k, addr, name, topics in enrol(4)]
    c.add(ISSUE, "run-c", changed)
    now = row_versions(pg_url)
    rewritten = {r for r in now if now[r][0] != first[r][0]}
    assert rewritten == {"r001@example.org", "r004@example.org"}
    assert now["r004@example.org"][1] is None and now["r001@example.org"][1] == "run-c"
    assert {r for r, (_, run_id, _) in now.items() if run_id is not None} == {f"r{i:03d}@example.org" for i in range(4)}


def test_a_reader_skipped_by_one_sender_is_sent_by_the_next_if_no_longer_skipped(
    workers: Callable[[], Outbox], pg_url: str,
) -> None:
    """A skips r002 (say, blocked when it started); B, started later, finds r002 no longer blocked: the row is
    pending again, although B's enrolment wrote nothing to it (same name and topics). Guard broken (the un-skip
    limited to rows enrolled by B's own run id, as on SQLite): r002 stays skipped and is never sent."""
    a, b = workers(), workers()
    a.add(ISSUE, "run-a", enrol(3), {"r002@example.org": "unsubscribed (subscriber store)"})
    assert row_versions(pg_url)["r002@example.org"][2] == "skipped"
    b.add(ISSUE, "run-b", enrol(3))
    assert {r: s for r, (_, _, s) in row_versions(pg_url).items()} == dict.fromkeys(
        ["r000@example.org", "r001@example.org", "r002@example.org"], "pending"
    )
