"""The subscriber store: states, nonces, sids, the history of every change, and racing writers; on both
engines (a SQLite file, and a real PostgreSQL: tests/pg_server.py)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from digest.errors import DigestError
from digest.state.engine import Cursor, open_ledger
from digest.state.subscribers import SubscriberStore

T0 = 1_750_000_000.0


class Clock:
    """The tests' clock: seconds that move only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def open_store(state: str, clock: Clock | None = None, **kw: int) -> SubscriberStore:
    """The store in the ledger `state` names (a file, or a PostgreSQL database: the `state_engine` fixture)."""
    return SubscriberStore.open(state, clock=clock or Clock(), **kw)


def event_count(state: str) -> int:
    """Counted through a connection of its own: what is committed."""
    with open_ledger(state, root=Path("/")) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM subscriber_events").fetchone()[0])


def test_a_reader_signs_up_confirms_and_leaves_and_each_step_is_logged(state_engine: str) -> None:
    """request -> pending, confirm -> confirmed, unsubscribe -> unsubscribed, each an event with its source."""
    clock = Clock()
    with open_store(state_engine, clock) as store:
        req = store.request("Ann.Lee@Example.org", ("AI",), source="form", ip="203.0.113.9")
        assert (req.send_mail, req.why, req.subscriber.state) == (True, "new", "pending")
        sid = req.subscriber.sid
        assert re_sid(sid) and store.sid_for("ann.lee@example.org") == sid
        clock.now += 60
        assert store.confirm(sid, req.nonce) == "confirmed"
        row = store.get("ann.lee@EXAMPLE.org")
        assert row and row.state == "confirmed" and row.topics == ("AI",) and row.consent_ip == "203.0.113.9"
        assert row.confirmed_at == "2025-06-15T15:07:40Z"
        assert [s.key for s in store.confirmed()] == ["ann.lee@example.org"]
        assert store.unsubscribe(sid, source="one-click") == "unsubscribed"
        assert store.blocked_keys() == {"ann.lee@example.org"} and store.confirmed() == []
        steps = [(e["from_state"], e["to_state"], e["source"]) for e in store.events("ann.lee@example.org")]
    assert steps == [(None, "pending", "form"), ("pending", "confirmed", "form"),
                     ("confirmed", "unsubscribed", "one-click")]


def re_sid(sid: str) -> bool:
    return len(sid) == 16 and all(c.isalnum() or c in "-_" for c in sid)


def test_unsubscribing_twice_is_already(state_engine: str) -> None:
    """The second unsubscribe answers "already" and logs nothing more; an unknown sid is "unknown"."""
    with open_store(state_engine) as store:
        store.add("bob@example.org")
        sid = store.sid_for("bob@example.org")
        assert store.unsubscribe(sid, source="one-click") == "unsubscribed"
        before = len(store.events("bob@example.org"))
        assert store.unsubscribe(sid, source="form") == "already"
        assert len(store.events("bob@example.org")) == before
        assert store.unsubscribe("no-such-sid", source="form") == "unknown"


def test_a_confirm_token_from_before_an_unsubscribe_never_confirms(state_engine: str) -> None:
    """The nonce of an old request is stale after an unsubscribe, after a newer request, and forever after."""
    with open_store(state_engine) as store:
        first = store.request("cat@example.org", None, source="form", ip=None)
        sid = first.subscriber.sid
        assert store.unsubscribe(sid, source="form") == "unsubscribed"
        assert store.confirm(sid, first.nonce) == "stale"  # pending mail, then left: the old link does nothing
        assert store.get("cat@example.org").state == "unsubscribed"  # type: ignore[union-attr]
        second = store.request("cat@example.org", None, source="form", ip=None)
        assert second.nonce != first.nonce and second.why == "again"
        assert store.confirm(sid, first.nonce) == "stale"  # a re-subscribe does not revive the old link
        assert store.confirm(sid, "") == "stale"
        assert store.confirm(sid, second.nonce) == "confirmed"
        assert store.confirm(sid, second.nonce) == "already"
        assert store.confirm("unknown-sid", second.nonce) == "unknown"


def test_a_token_for_one_sid_cannot_act_on_another(state_engine: str) -> None:
    """Ann's nonce does not confirm Bob's row; unsubscribing Ann's sid leaves Bob as he was."""
    with open_store(state_engine) as store:
        ann = store.request("ann@example.org", None, source="form", ip=None)
        bob = store.request("bob@example.org", None, source="form", ip=None)
        assert store.confirm(bob.subscriber.sid, ann.nonce) == "stale"
        assert store.confirm(ann.subscriber.sid, ann.nonce) == "confirmed"
        assert store.confirm(bob.subscriber.sid, bob.nonce) == "confirmed"
        assert store.unsubscribe(ann.subscriber.sid, source="one-click") == "unsubscribed"
        assert store.get("bob@example.org").state == "confirmed"  # type: ignore[union-attr]
        assert store.by_sid(bob.subscriber.sid).key == "bob@example.org"  # type: ignore[union-attr]


def test_a_confirmed_reader_asking_again_gets_no_mail_and_requests_are_rate_limited(state_engine: str) -> None:
    """Confirmed: no mail ("confirmed"). Pending: a mail per request up to rate_per_address a day, then "rate"."""
    clock = Clock()
    with open_store(state_engine, clock, rate_per_address=2) as store:
        store.add("ann@example.org")
        assert store.request("ann@example.org", None, source="form", ip=None).why == "confirmed"
        answers = [store.request("dan@example.org", None, source="form", ip=None) for _ in range(3)]
        assert [(r.send_mail, r.why) for r in answers] == [(True, "new"), (True, "again"), (False, "rate")]
        assert store.confirm(answers[0].subscriber.sid, answers[1].nonce) == "confirmed"  # "rate" kept the nonce
        store.unsubscribe(answers[0].subscriber.sid, source="form")
        clock.now += 24 * 3600 + 1
        assert store.request("dan@example.org", None, source="form", ip=None).send_mail


def test_every_change_writes_an_event(state_engine: str) -> None:
    """Each call that changes a row adds exactly one subscriber_events row; a call that changes nothing adds none."""
    path = state_engine
    with open_store(state_engine) as store:
        sid = store.sid_for("eve@example.org")  # a CSV recipient: an id, no row
        changes = [
            lambda: store.add("eve@example.org", name="Eve"),
            lambda: store.add("eve@example.org", name="Eve", topics=("AI",)),
            lambda: store.set_topics(sid, ("AI", "Climate")),
            lambda: store.note_soft_bounce("eve@example.org", detail="452 mailbox full"),
            lambda: store.mark_bounced("eve@example.org", source="bounce", detail="550 5.1.1"),
            lambda: store.forget_bounce("eve@example.org"),
            lambda: store.mark_complained("eve@example.org", detail="ARF abuse report"),
            lambda: store.forget_bounce("eve@example.org"),
            lambda: store.remove("eve@example.org"),
            lambda: store.request("eve@example.org", None, source="form", ip=None),
            lambda: store.unsubscribe(store.sid_for("fay@example.org"), source="one-click"),
        ]
        for i, change in enumerate(changes):
            count = event_count(path)
            change()
            assert event_count(path) == count + 1, f"change {i} wrote no event"
        assert store.forget_bounce("eve@example.org") == "kept"  # pending: nothing to forget
        for unchanged in (lambda: store.forget_bounce("eve@example.org"),
                          lambda: store.set_topics("no-such-sid", None),
                          lambda: store.unsubscribe(store.sid_for("fay@example.org"), source="form")):
            count = event_count(path)
            unchanged()
            assert event_count(path) == count
        assert store.get("eve@example.org").soft_bounces == 0  # type: ignore[union-attr]
        assert store.get("fay@example.org").state == "unsubscribed"  # type: ignore[union-attr]


def test_forget_bounce_tells_an_undone_bounce_from_nothing_to_undo(state_engine: str) -> None:
    """"confirmed" only when it undid a bounce or complaint; "kept" for a row that was neither; "unknown": no row."""
    with open_store(state_engine) as store:
        store.add("ok@example.org")
        store.mark_bounced("gone@example.org", source="bounce", detail="550 5.1.1")
        store.mark_complained("cross@example.org", detail="abuse")
        assert [store.forget_bounce(a) for a in ("gone@example.org", "cross@example.org")] == ["confirmed"] * 2
        assert store.forget_bounce("gone@example.org") == "kept"  # confirmed now: nothing left to undo
        assert store.forget_bounce("ok@example.org") == "kept"
        assert store.forget_bounce("nobody@example.org") == "unknown"
        assert {s.address for s in store.confirmed()} == {"ok@example.org", "gone@example.org", "cross@example.org"}


def test_unsubscribe_many_decides_each_as_unsubscribe_would_in_one_commit(state_engine: str) -> None:
    """A subscriber, a CSV reader's sid, one already gone, an unknown sid and a sid twice: the outcomes of
    unsubscribe in turn, an event per change, and a single transaction for them all (SQLite: one BEGIN
    IMMEDIATE ... COMMIT; PostgreSQL: every row it wrote has the same transaction id, xmin)."""
    path = state_engine
    with open_store(state_engine) as store:
        store.add("ann@example.org")
        store.add("gus@example.org")
        store.remove("gus@example.org")
        ann, csv, gus = (store.sid_for(a) for a in ("ann@example.org", "csv@example.org", "gus@example.org"))
        count = event_count(path)
        last = store.conn.execute("SELECT MAX(id) FROM subscriber_events").fetchone()[0]
        statements: list[str] = []
        sqlite = store.conn.dialect == "sqlite"
        if sqlite:
            store.conn.raw.set_trace_callback(statements.append)  # type: ignore[attr-defined]
        outcomes = store.unsubscribe_many([ann, csv, gus, "no-such-sid", ann], source="one-click")
        if sqlite:
            store.conn.raw.set_trace_callback(None)  # type: ignore[attr-defined]
            assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"]
        else:
            xids = store.conn.execute(
                "SELECT DISTINCT e.xmin::text FROM subscriber_events e WHERE e.id > ? UNION"
                " SELECT DISTINCT s.xmin::text FROM subscribers s WHERE s.key IN (?, ?)",
                (last, "ann@example.org", "csv@example.org"),
            ).fetchall()
            assert len(xids) == 1, xids
        assert outcomes == ["unsubscribed", "unsubscribed", "already", "unknown", "already"]
        assert event_count(path) == count + 2
        for address in ("ann@example.org", "csv@example.org"):
            row = store.get(address)
            assert row is not None and (row.state, row.source) == ("unsubscribed", "one-click")
            assert store.events(address)[-1]["source"] == "one-click"
        assert store.unsubscribe_many([], source="form") == []


def test_a_left_address_is_not_resubscribed_by_add_and_a_bounce_keeps_what_says_more(state_engine: str) -> None:
    """add() keeps an unsubscribed row; a bounce on an unsubscribed row leaves it unsubscribed."""
    with open_store(state_engine) as store:
        store.add("gus@example.org")
        assert store.remove("gus@example.org") and not store.remove("gus@example.org")
        assert store.add("gus@example.org") == "kept"
        assert store.mark_bounced("gus@example.org", source="send", detail="550") == "unsubscribed"
        assert store.get("gus@example.org").state == "unsubscribed"  # type: ignore[union-attr]
        assert store.mark_bounced("new@example.org", source="send", detail="550 5.1.1") == "bounced"
        assert store.mark_bounced("new@example.org", source="send", detail="550 5.1.1") == "already"
        assert store.blocked_keys() == {"gus@example.org", "new@example.org"}
        assert store.note_soft_bounce("nobody@example.org", detail="451") == 0


def test_bad_addresses_are_refused_with_the_reason(state_engine: str) -> None:
    """A malformed or SMTPUTF8 address is one DigestError naming it and why, and writes nothing."""
    with open_store(state_engine) as store:
        for bad in ("ann@example.org\r\nBcc: x@evil.example", "用户@example.org", "a@b@c.org"):
            with pytest.raises(DigestError, match=r"ann|用户|a@b"):
                store.request(bad, None, source="form", ip=None)
        assert store.all() == []


def _race_confirm(path: str, sid: str, nonce: str, barrier: object) -> str:
    with SubscriberStore.open(path, clock=Clock()) as store:
        barrier.wait()  # type: ignore[attr-defined]
        return store.confirm(sid, nonce)


def _race_unsubscribe(path: str, sid: str, barrier: object) -> str:
    with SubscriberStore.open(path, clock=Clock()) as store:
        barrier.wait()  # type: ignore[attr-defined]
        return store.unsubscribe(sid, source="one-click")


def _check_race(state_engine: str, outcomes: list[tuple[str, str]]) -> None:
    """Whatever the order: one consistent row, both events logged, the answers agreeing with the order."""
    with open_store(state_engine) as store:
        for i, (confirmed, unsubscribed) in enumerate(outcomes):
            address = f"r{i}@example.org"
            row = store.get(address)
            steps = [(e["from_state"], e["to_state"]) for e in store.events(address)]
            assert row is not None and row.state == "unsubscribed" and unsubscribed == "unsubscribed"
            if confirmed == "confirmed":  # the confirm went first
                assert steps == [(None, "pending"), ("pending", "confirmed"), ("confirmed", "unsubscribed")]
                assert row.confirmed_at is not None
            else:  # the unsubscribe went first: the confirm found a withdrawn nonce
                assert confirmed == "stale" and steps == [(None, "pending"), ("pending", "unsubscribed")]


def _pending(state_engine: str, n: int) -> list[tuple[str, str]]:
    with open_store(state_engine) as store:
        return [(r.subscriber.sid, r.nonce) for r in
                (store.request(f"r{i}@example.org", None, source="form", ip=None) for i in range(n))]


def test_concurrent_confirm_and_unsubscribe_threads_leave_a_consistent_row(state_engine: str) -> None:
    """Two threads, each with its own connection, race a confirm and an unsubscribe on one row, 20 times."""
    outcomes = []
    path = state_engine
    for sid, nonce in _pending(path, 20):
        barrier = threading.Barrier(2)
        results: dict[str, str] = {}

        def confirm(sid: str = sid, nonce: str = nonce, barrier: object = barrier, out: dict = results) -> None:
            out["c"] = _race_confirm(path, sid, nonce, barrier)

        def unsubscribe(sid: str = sid, barrier: object = barrier, out: dict = results) -> None:
            out["u"] = _race_unsubscribe(path, sid, barrier)

        threads = [threading.Thread(target=confirm), threading.Thread(target=unsubscribe)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        outcomes.append((results["c"], results["u"]))
    _check_race(state_engine, outcomes)


def test_concurrent_confirm_and_unsubscribe_processes_leave_a_consistent_row(state_engine: str) -> None:
    """The same race between two processes (each its own connection: SQLite's lock, or PostgreSQL's row lock)."""
    ctx = multiprocessing.get_context("spawn")
    path = state_engine
    pairs = _pending(path, 6)
    outcomes = []
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        for sid, nonce in pairs:
            barrier = manager.Barrier(2)
            c = pool.apply_async(_race_confirm, (path, sid, nonce, barrier))
            u = pool.apply_async(_race_unsubscribe, (path, sid, barrier))
            outcomes.append((c.get(60), u.get(60)))
    _check_race(state_engine, outcomes)


def _stored_sids(state: str) -> dict[str, str]:
    """key -> sid as committed, read through a connection of its own."""
    with open_ledger(state, root=Path("/")) as conn:
        return {str(r[0]): str(r[1]) for r in conn.execute("SELECT key, sid FROM reader_ids").fetchall()}


def test_concurrent_sids_for_over_overlapping_readers_agree_on_every_sid(state_engine: str) -> None:
    """Three threads, each with its own connection, ask the sids of overlapping address sets at once (the
    start of three senders of one issue), five rounds of new addresses: every key gets one sid, the one
    stored, whoever inserted it first (on PostgreSQL the later INSERTs wait for the first and do nothing), and
    no deadlock (each inserts in key order, whatever order it was given)."""
    for round_ in range(5):
        everyone = [f"Reader{i}.R{round_}@Example.org" for i in range(600)]
        shares = [everyone[0:400], everyone[200:600], everyone[::-2]]  # each key asked by two or three, in two orders
        barrier = threading.Barrier(len(shares))
        answers: list[dict[str, str]] = [{} for _ in shares]
        errors: list[BaseException] = []

        def ask(i: int, barrier: threading.Barrier = barrier, shares: list[list[str]] = shares,
                answers: list[dict[str, str]] = answers, errors: list[BaseException] = errors) -> None:
            try:
                with open_store(state_engine) as store:
                    store.sid_for("warm@example.org")  # connected and migrated before the race
                    barrier.wait()
                    answers[i] = store.sids_for(shares[i])
            except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
                errors.append(exc)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(shares))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        stored = _stored_sids(state_engine)
        for share, answer in zip(shares, answers, strict=True):
            assert set(answer) == {a.lower() for a in share}
            assert {key: stored[key] for key in answer} == answer, f"round {round_}: a sid that is not the stored one"
        assert len(set(stored.values())) == len(stored)


def test_sids_for_takes_a_few_statements_however_many_readers(state_engine: str) -> None:
    """The ids of a send's readers cost no statement per reader: 3 new addresses take 3 statements (read,
    insert all, read back), 1,200 (half already known) take 6 (3 chunks of at most 500 read, one insert,
    the 600 new ones read back in 2), and all of them again, known now, take the 3 reads; each answer the
    stored sid."""
    with open_store(state_engine) as store:
        calls: list[str] = []
        execute, executemany = store.conn.execute, store.conn.executemany

        def counted_execute(sql: str, params: Sequence[object] = ()) -> Cursor:
            calls.append(sql)
            return execute(sql, params)

        def counted_executemany(sql: str, rows: Iterable[Sequence[object]]) -> None:
            calls.append(sql)
            executemany(sql, rows)

        store.conn.execute = counted_execute  # type: ignore[method-assign]
        store.conn.executemany = counted_executemany  # type: ignore[method-assign]
        first = store.sids_for(["a@example.org", "B@example.org", "c@example.org", "a@example.org"])
        assert (len(first), len(calls)) == (3, 3), calls
        known = store.sids_for([f"r{i}@example.org" for i in range(0, 1200, 2)])
        calls.clear()
        everyone = store.sids_for([f"r{i}@example.org" for i in range(1200)])
        assert len(everyone) == 1200 and len(calls) == 6, calls
        assert [s.split(" ", 1)[0] for s in calls] == ["SELECT"] * 3 + ["INSERT"] + ["SELECT"] * 2
        calls.clear()
        assert store.sids_for([f"R{i}@example.org" for i in range(1200)]) == everyone and len(calls) == 3
        assert {k: everyone[k] for k in known} == known
        assert store.sid_for(" B@Example.org ") == first["b@example.org"]
        assert store.sids_for([]) == {}
    assert {k: v for k, v in _stored_sids(state_engine).items() if k in everyone} == everyone
