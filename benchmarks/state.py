"""The state's cost per message and per cache read, on SQLite and on PostgreSQL (issue 15).

Run from the repository's root (PostgreSQL's binaries installed: Debian's `postgresql`):

    python benchmarks/state.py                          # a throwaway PostgreSQL cluster, 5 interleaved rounds
    python benchmarks/state.py --state postgresql://me@db.example:5432/postgres   # a server of yours
    python benchmarks/state.py --messages 500 --rounds 3    # a quick look

With no `--state`, it starts a throwaway cluster, the tests' own (tests/pg_server.py: initdb into a
temporary folder, a free port on 127.0.0.1, fsync and synchronous_commit on: PostgreSQL's defaults,
the durability the outbox relies on; as the `postgres` user when run as root), removed after. A `postgresql://` URL
is used as a maintenance connection: every case gets a database of its own (CREATE DATABASE),
dropped after; the password comes from DIGEST_STATE_PASSWORD or libpq's ~/.pgpass.

1. The outbox, one message at a time, in-process (no SMTP): claim + `data-sent` mark + wait for it
   to be durable + `sent` mark on one row, timed per message:

     outbox   digest's own `Outbox` through `open_state`, on a SQLite file and on PostgreSQL;
     psycopg  the same statements through psycopg 3 directly (sqlite3 for SQLite): the floor;
     sa-text  the same SQL strings through SQLAlchemy Core's `text()` (PostgreSQL);
     sa-core  the same statements as SQLAlchemy Core expressions (`update(outbox).where(...)`,
              compiled once and cached by SQLAlchemy, as an application would write them).

   SQLAlchemy is not a dependency: `pip install sqlalchemy` into the venv for its rows (they are
   skipped with a line saying so otherwise). It answers the issue's "choose the layer by
   measuring": what SQLAlchemy Core would add per message on the statements the outbox runs.

2. The caches, read as a warm build reads them (10,000 articles: every path's signature, the
   week's ~80 rows with their data, their summaries), and one point lookup (the render cache's),
   on a local SQLite file and on PostgreSQL over 127.0.0.1: why the caches stay a local file.

Rounds are interleaved (each round runs every case once, starting one case later than the
last); figures are medians over all messages of all rounds, with the 90th percentile beside.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from digest.state.connection import pg_sql
from digest.state.engine import open_ledger
from digest.state.outbox import _CLAIM_PG as CLAIM_PG
from digest.state.outbox import _CLAIM_SQLITE as CLAIM_SQLITE
from digest.state.outbox import Outbox
from digest.state.outbox_schema import create_schema

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- a throwaway PostgreSQL cluster (the tests' own: tests/pg_server.py), or the user's server -------------


@dataclass
class PgServer:
    """A PostgreSQL server: a throwaway cluster of ours (`cluster` set) or the one the user named."""

    admin_url: str  # the user's maintenance connection; unused for a cluster of ours (its admin is the socket)
    cluster: Any = None  # tests/pg_server.PgServer
    made: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (its backends are its children), for a cluster of ours."""
        if self.cluster is None:
            return None
        try:
            return int((self.cluster.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def admin(self) -> psycopg.Connection[Any]:
        return self.cluster.admin() if self.cluster is not None else connect_pg(self.admin_url)

    def url(self, database: str) -> str:
        if self.cluster is not None:
            return str(self.cluster.url(database))
        parts = urllib.parse.urlsplit(self.admin_url)
        return urllib.parse.urlunsplit(parts._replace(path="/" + database))

    def create_database(self) -> str:
        """A fresh, empty database; its URL (no password in it)."""
        if self.cluster is not None:
            name = str(self.cluster.create_database())
        else:
            name = f"digest_bench_{os.getpid()}_{len(self.made)}_{random.randrange(1 << 30)}"
            with self.admin() as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return self.url(name)

    def drop_databases(self) -> None:
        with self.admin() as conn:
            for name in self.made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.clear()

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            return
        with contextlib.suppress(psycopg.Error):
            self.drop_databases()


def connect_pg(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection; the password, if any, from DIGEST_STATE_PASSWORD (else libpq's files)."""
    password = os.environ.get("DIGEST_STATE_PASSWORD")
    extra = {"password": password} if password else {}
    return psycopg.connect(url, autocommit=True, **extra)


def open_server(state: str | None) -> PgServer:
    """The user's server when `state` is a postgresql:// URL, else a throwaway cluster (initdb into a
    temporary folder, a free 127.0.0.1 port, fsync on; as root, run as the `postgres` user): the tests'
    own, tests/pg_server.py. Raises SystemExit saying why when neither can be had."""
    if state and state.startswith(("postgresql://", "postgres://")):
        server = PgServer(state)
        try:
            with connect_pg(state):
                pass
        except psycopg.Error as exc:
            raise SystemExit(f"cannot connect to {state}: {exc}") from None
        return server
    sys.path.insert(0, str(REPO / "tests"))
    from pg_server import PgServer as Cluster
    from pg_server import PgUnavailable

    try:
        cluster = Cluster.start_new()
    except PgUnavailable as exc:
        raise SystemExit(f"no PostgreSQL to measure: {exc}") from None
    return PgServer(cluster.url("postgres"), cluster)


def machine_busy() -> float:
    """CPU seconds every process on the machine has used since boot (user, nice, system, irq, softirq,
    steal), from /proc/stat: the difference over a run, less ours, is what others took meanwhile."""
    try:
        with open("/proc/stat", "rb") as fh:
            fields = fh.readline().split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a process, its live descendants and the children it has waited
    for (a PostgreSQL backend that exited counts in the postmaster's): 0 without /proc or a pid."""
    if pid is None:
        return 0.0
    ticks = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            # utime, stime, and cutime, cstime: the children it has waited for (live ones count by
            # themselves below, so nothing is counted twice)
            ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", "rb") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (OSError, ValueError, IndexError):
            pass
    return ticks / CLK_TCK


# --- 1. the outbox, one message at a time ----------------------------------------------------------------

One = Callable[[], None]


@dataclass
class OutboxCase:
    """One way of recording messages: `prepare(n)` enrols n fresh rows (untimed) and returns the
    function that takes one message through claim, data-sent, durable, sent (timed)."""

    engine: str  # "SQLite" or "PostgreSQL"
    layer: str  # outbox, psycopg/sqlite3, sa-text, sa-core
    prepare: Callable[[int], One]
    close: Callable[[], None]
    samples_us: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # this process's CPU per message, per round
    note: str = ""

    @property
    def name(self) -> str:
        return f"{self.engine} {self.layer}"


_batch = itertools.count()


def fresh_issue() -> str:
    return f"2026-W{next(_batch):04d}-{random.randrange(1 << 20):05x}"


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def enrol_rows(issue_id: str, n: int) -> list[tuple[str, str, str, str, str | None, str, str]]:
    """(issue_id, recipient, address, name, topics, run_id, updated_at) for n readers."""
    now = iso_now()
    return [(issue_id, f"reader{i:06d}@example.org", f"Reader{i:06d}@example.org", "Zoë Brontë", None, "run-1", now)
            for i in range(n)]


# The statements digest's outbox runs (digest/state/outbox.py): the claim of each engine, taken from
# there; the marks, written there inline, copied here (keep them in step). `?` placeholders: psycopg's
# `%s` through the adapter's own pg_sql, as the outbox's go.
DATA_SENT = ("UPDATE outbox SET state = 'data-sent', updated_at = ?"
             " WHERE id = ? AND state IN ('claimed', 'data-sent') AND run_id = ?")
FINISH = "UPDATE outbox SET state = ?, reply = ?, retry_at = ?, updated_at = ? WHERE id = ? AND run_id = ?"
INSERT = ("INSERT INTO outbox (issue_id, recipient, address, name, topics, run_id, updated_at)"
          " VALUES (?,?,?,?,?,?,?) ON CONFLICT (issue_id, recipient) DO NOTHING")
REPLY = "250 2.0.0 Ok: queued as 4XyZ1234abcd"
OWNER = "run-1/0123abcd"  # a worker's id, as the outbox stamps its claims


def ledger_with_outbox(state: str, root: Path) -> None:
    """The outbox's tables in a ledger, made by digest's own code (the same table and indexes every case uses)."""
    conn = open_ledger(state, root=root)
    try:
        create_schema(conn)
    finally:
        conn.close()


def outbox_case(engine: str, state: str, root: Path) -> OutboxCase:
    """digest's own Outbox: on SQLite, its own connection and the WAL's fsync on a helper thread (one
    per message, waited for before the final "."); on PostgreSQL, a durable COMMIT per mark."""
    conn = open_ledger(state, root=root)
    path = Path(state) if engine == "SQLite" else None
    reopen = None if path is not None else (lambda: open_ledger(state, root=root))
    box = Outbox(conn, path, clock=time.time, reopen=reopen)

    def prepare(n: int) -> One:
        issue = fresh_issue()
        box.add(issue, "run-1", [(f"reader{i:06d}@example.org", f"Reader{i:06d}@example.org", "Zoë Brontë", None)
                                 for i in range(n)])

        def one() -> None:
            item = box.claim(issue, "run-1")
            assert item is not None
            wait = box.mark_data(item)
            assert wait is not None
            wait()
            box.mark_sent(item, REPLY)

        return one

    return OutboxCase(engine, "outbox", prepare, box.close)


def sqlite3_case(path: Path) -> OutboxCase:
    """The outbox's statements on sqlite3 directly: WAL, synchronous=NORMAL and one fsync of the WAL
    per message (the data-sent mark), as digest's outbox does it (there on a helper thread)."""
    ledger_with_outbox(str(path), path.parent)
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    wal = os.open(f"{path}-wal", os.O_RDONLY)

    def prepare(n: int) -> One:
        issue = fresh_issue()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT, enrol_rows(issue, n))
        os.fsync(wal)

        def one() -> None:
            now = iso_now()
            row = conn.execute(CLAIM_SQLITE, (OWNER, now, issue, "run-1", issue, "run-1", time.time())).fetchone()
            conn.execute(DATA_SENT, (now, row[0], OWNER))
            os.fsync(wal)
            conn.execute(FINISH, ("sent", REPLY, None, now, row[0], OWNER))

        return one

    def close() -> None:
        os.close(wal)
        conn.close()

    return OutboxCase("SQLite", "sqlite3", prepare, close)


def psycopg_case(url: str, root: Path) -> OutboxCase:
    """The outbox's statements on psycopg 3 directly, autocommit: each commit is durable when it
    returns (synchronous_commit on), so the data-sent mark needs no further wait."""
    ledger_with_outbox(url, root)
    conn = connect_pg(url)
    claim, data_sent, finish, insert = (pg_sql(q) for q in (CLAIM_PG, DATA_SENT, FINISH, INSERT))

    def prepare(n: int) -> One:
        issue = fresh_issue()
        with conn.transaction():
            conn.cursor().executemany(insert, enrol_rows(issue, n))

        def one() -> None:
            now = iso_now()
            row = conn.execute(claim, (OWNER, now, issue, issue, time.time())).fetchone()
            assert row is not None
            conn.execute(data_sent, (now, row[0], OWNER))
            conn.execute(finish, ("sent", REPLY, None, now, row[0], OWNER))

        return one

    return OutboxCase("PostgreSQL", "psycopg", prepare, conn.close)


def sqlalchemy_cases(new_database: Callable[[], str], root: Path) -> list[OutboxCase]:
    """The same statements through SQLAlchemy Core: as text() and as Core expressions. Empty when
    SQLAlchemy is not installed (it is not a dependency of digest)."""
    try:
        import sqlalchemy as sa
    except ImportError:
        return []
    password = os.environ.get("DIGEST_STATE_PASSWORD")

    def engine_for(url: str) -> Any:
        return sa.create_engine(
            sa.engine.make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT",
            poolclass=sa.pool.NullPool, connect_args={"password": password} if password else {},
        )

    meta = sa.MetaData()
    t = sa.Table(
        "outbox", meta,
        sa.Column("id", sa.BigInteger, primary_key=True), sa.Column("issue_id", sa.Text),
        sa.Column("recipient", sa.Text),
        sa.Column("address", sa.Text), sa.Column("name", sa.Text), sa.Column("topics", sa.Text),
        sa.Column("state", sa.Text), sa.Column("attempts", sa.BigInteger), sa.Column("retry_at", sa.Float),
        sa.Column("reply", sa.Text), sa.Column("resends", sa.BigInteger), sa.Column("run_id", sa.Text),
        sa.Column("updated_at", sa.Text),
    )

    def named(sql: str, names: Sequence[str]) -> Any:
        for name in names:
            sql = sql.replace("?", f":{name}", 1)
        return sa.text(sql)

    claim_text = named(CLAIM_PG, ("owner", "now", "i1", "i2", "due"))
    data_text = named(DATA_SENT, ("now", "id", "owner"))
    finish_text = named(FINISH, ("state", "reply", "retry_at", "now", "id", "owner"))
    insert_text = named(INSERT, ("issue_id", "recipient", "address", "name", "topics", "run_id", "now"))

    def pick(state: str, due: bool) -> Any:
        cond = [t.c.issue_id == sa.bindparam("issue"), t.c.state == state, t.c.run_id.is_not(None)]
        if due:
            cond.append(sa.func.coalesce(t.c.retry_at, 0) <= sa.bindparam("due"))
        return (sa.select(t.c.id).where(*cond).order_by(t.c.id).limit(1)
                .with_for_update(skip_locked=True).scalar_subquery())

    claim_core = (
        sa.update(t).where(t.c.id == sa.func.coalesce(pick("pending", False), pick("deferred", True)))
        .values(state="claimed", attempts=t.c.attempts + 1, run_id=sa.bindparam("owner"),
                updated_at=sa.bindparam("now"))
        .returning(t.c.id, t.c.issue_id, t.c.recipient, t.c.address, t.c.name, t.c.topics, t.c.attempts)
    )
    mine = (t.c.id == sa.bindparam("key"), t.c.run_id == sa.bindparam("owner"))
    data_core = sa.update(t).where(*mine, t.c.state.in_(("claimed", "data-sent"))).values(
        state="data-sent", updated_at=sa.bindparam("now"))
    finish_core = sa.update(t).where(*mine).values(
        state=sa.bindparam("st"), reply=sa.bindparam("rep"), retry_at=sa.bindparam("ra"),
        updated_at=sa.bindparam("now"))

    def make(layer: str) -> OutboxCase:
        url = new_database()
        ledger_with_outbox(url, root)
        conn = engine_for(url).connect()

        def prepare(n: int) -> One:
            issue = fresh_issue()
            rows = [dict(zip(("issue_id", "recipient", "address", "name", "topics", "run_id", "now"), r))
                    for r in enrol_rows(issue, n)]
            conn.execute(insert_text, rows)

            if layer == "sa-text":
                def one() -> None:
                    now = iso_now()
                    row = conn.execute(claim_text, {"owner": OWNER, "now": now, "i1": issue, "i2": issue,
                                                    "due": time.time()}).one()
                    conn.execute(data_text, {"now": now, "id": row[0], "owner": OWNER})
                    conn.execute(finish_text, {"state": "sent", "reply": REPLY, "retry_at": None, "now": now,
                                               "id": row[0], "owner": OWNER})
            else:
                def one() -> None:
                    now = iso_now()
                    row = conn.execute(claim_core, {"owner": OWNER, "now": now, "issue": issue,
                                                    "due": time.time()}).one()
                    conn.execute(data_core, {"now": now, "key": row[0], "owner": OWNER})
                    conn.execute(finish_core, {"st": "sent", "rep": REPLY, "ra": None, "now": now, "key": row[0],
                                               "owner": OWNER})

            return one

        return OutboxCase("PostgreSQL", layer, prepare, conn.close)

    return [make("sa-text"), make("sa-core")]


def run_outbox_cases(cases: Sequence[OutboxCase], messages: int, rounds: int) -> None:
    """Each case `rounds` times, interleaved; `messages` per case per round, each timed alone."""
    clock = time.perf_counter_ns
    for r in range(rounds):
        print(f"  outbox round {r + 1}/{rounds} …", file=sys.stderr, flush=True)
        shift = r % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            one = case.prepare(messages)
            times = []
            cpu0 = time.process_time()
            for _ in range(messages):
                start = clock()
                one()
                times.append((clock() - start) / 1000)
            case.cpu_us.append((time.process_time() - cpu0) / messages * 1e6)
            case.samples_us += times


def p90(values: Sequence[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


# --- 2. the caches: a warm build's reads, on a local file and over a connection ---------------------------

ARTICLES = 10_000
WEEK = 80  # the week's articles and their neighbours, whose rows a warm build reads whole
CACHE_TABLE = (
    "CREATE TABLE scan_cache (path TEXT PRIMARY KEY, sig BIGINT NOT NULL, kind INTEGER NOT NULL,"
    " date_ts DOUBLE PRECISION, data {blob}, summary {blob})"
)


def cache_rows() -> list[tuple[str, int, int, float, bytes, bytes]]:
    """10,000 articles' rows: ~1.2 KB of JSON front matter and a ~400 B summary each, one a day back."""
    rnd = random.Random(15)
    day = 86400.0
    return [
        (f"content/posts/{2000 + i // 365}/{i:05d}-a-post-about-things.md", rnd.getrandbits(62), 1,
         1.7e9 - i * day / 3, rnd.randbytes(600).hex().encode(), rnd.randbytes(200).hex().encode())
        for i in range(ARTICLES)
    ]


@dataclass
class CacheCase:
    engine: str
    warm_ms: list[float] = field(default_factory=list)
    point_us: list[float] = field(default_factory=list)
    fill_ms: float = 0.0
    connect_ms: list[float] = field(default_factory=list)


def warm_reads(execute: Callable[[str, Sequence[object]], list[Any]], p: str) -> int:
    """What a warm build asks the scan cache: every signature, the week's rows, their summaries."""
    sigs = execute("SELECT path, sig FROM scan_cache", ())
    low, high = 1.7e9 - WEEK * 86400.0 / 3, 1.7e9 + 1
    week = execute(f"SELECT path, kind, data FROM scan_cache WHERE kind = {p} AND date_ts >= {p} AND date_ts < {p}",
                   (1, low, high))
    paths = [r[0] for r in week]
    marks = ",".join([p] * len(paths))
    summaries = execute(f"SELECT path, summary FROM scan_cache WHERE path IN ({marks})", paths)
    return len(sigs) + len(week) + len(summaries)


def time_cache_reads(case: CacheCase, conn: Any, p: str, keys: list[str], lookups: int, expected: int) -> None:
    """Five warm builds' reads, then `lookups` point lookups of random keys, on one connection."""
    clock = time.perf_counter_ns

    def run(query: str, params: Sequence[object]) -> list[Any]:
        return list(conn.execute(query, params).fetchall())

    for _ in range(5):
        start = clock()
        got = warm_reads(run, p)
        case.warm_ms.append((clock() - start) / 1e6)
        assert got == expected, (got, expected)
    point = f"SELECT sig, kind, data FROM scan_cache WHERE path = {p}"
    for key in random.sample(keys, lookups):
        start = clock()
        conn.execute(point, (key,)).fetchone()
        case.point_us.append((clock() - start) / 1000)


def run_cache_cases(folder: Path, url: str, rounds: int, lookups: int = 500) -> tuple[CacheCase, CacheCase]:
    rows = cache_rows()
    lite, pg = CacheCase("SQLite (a local file)"), CacheCase("PostgreSQL (127.0.0.1)")
    path = folder / "cache.sqlite"

    def open_lite() -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    lc = open_lite()
    lc.execute(CACHE_TABLE.format(blob="BLOB"))
    start = time.perf_counter()
    with lc:
        lc.execute("BEGIN IMMEDIATE")
        lc.executemany("INSERT INTO scan_cache VALUES (?,?,?,?,?,?)", rows)
    lite.fill_ms = (time.perf_counter() - start) * 1000
    pc = connect_pg(url)
    pc.execute(CACHE_TABLE.format(blob="BYTEA"))
    pc.execute("CREATE INDEX scan_cache_date ON scan_cache (kind, date_ts)")
    lc.execute("CREATE INDEX scan_cache_date ON scan_cache (kind, date_ts)")
    start = time.perf_counter()
    with pc.transaction():
        pc.cursor().executemany("INSERT INTO scan_cache VALUES (%s,%s,%s,%s,%s,%s)", rows)
    pg.fill_ms = (time.perf_counter() - start) * 1000
    pc.execute("ANALYZE scan_cache")
    keys = [r[0] for r in rows]
    expected = warm_reads(lambda q, a: lc.execute(q, a).fetchall(), "?")
    clock = time.perf_counter_ns
    for r in range(rounds):
        print(f"  cache round {r + 1}/{rounds} …", file=sys.stderr, flush=True)
        for case in ((lite, pg) if r % 2 == 0 else (pg, lite)):
            start = clock()
            conn: Any = open_lite() if case is lite else connect_pg(url)
            case.connect_ms.append((clock() - start) / 1e6)
            time_cache_reads(case, conn, "?" if case is lite else "%s", keys, lookups, expected)
            conn.close()
    lc.close()
    pc.close()
    return lite, pg


# --- the report ----------------------------------------------------------------------------------------


def outbox_report(cases: Sequence[OutboxCase], messages: int, rounds: int, skipped: Sequence[str] = ()) -> list[str]:
    lines = [f"Per-message outbox cost: claim + data-sent + durable + sent on one row, in-process, no SMTP;"
             f" {messages} messages x {rounds} interleaved rounds per case; µs per message"]
    lines.append(f"  {'engine':11} {'layer':9} {'median':>8} {'p90':>8} {'msg/s (1 conn)':>15} {'CPU µs/msg':>11}")
    for case in cases:
        med, tail = statistics.median(case.samples_us), p90(case.samples_us)
        lines.append(f"  {case.engine:11} {case.layer:9} {med:8.0f} {tail:8.0f} {1e6 / med:15.0f}"
                     f" {statistics.median(case.cpu_us):11.0f}{('  ' + case.note) if case.note else ''}")
    by = {(c.engine, c.layer): statistics.median(c.samples_us) for c in cases}
    for engine, floor_layer, layers in (("SQLite", "sqlite3", ("outbox",)),
                                        ("PostgreSQL", "psycopg", ("outbox", "sa-text", "sa-core"))):
        floor = by.get((engine, floor_layer))
        for layer in layers:
            if floor and (engine, layer) in by:
                extra = by[(engine, layer)] - floor
                lines.append(f"  {engine} {layer} over {floor_layer} directly: {extra:+.0f} µs per message"
                             f" ({by[(engine, layer)] / floor:.2f}x)")
    lines += [f"  {s}" for s in skipped]
    return lines


def cache_report(lite: CacheCase, pg: CacheCase) -> list[str]:
    lines = [f"The caches: a warm build's scan-cache reads ({ARTICLES:,} articles: every signature, the week's"
             f" {WEEK} rows, their summaries), one point lookup, filling the cache once"]
    lines.append(f"  {'where':24} {'warm reads ms':>14} {'point lookup µs':>16} {'fill ms':>9} {'connect ms':>11}")
    for case in (lite, pg):
        lines.append(f"  {case.engine:24} {statistics.median(case.warm_ms):14.2f}"
                     f" {statistics.median(case.point_us):16.1f} {case.fill_ms:9.0f}"
                     f" {statistics.median(case.connect_ms):11.2f}")
    ratio = statistics.median(pg.warm_ms) / statistics.median(lite.warm_ms)
    lines.append(f"  PostgreSQL / SQLite: warm reads {ratio:.1f}x, point lookup"
                 f" {statistics.median(pg.point_us) / statistics.median(lite.point_us):.1f}x"
                 " (on the same host; across a network each round trip adds its latency)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", help="a postgresql:// URL (a maintenance connection); default: a throwaway cluster")
    parser.add_argument("--messages", type=int, default=2000, help="messages per case per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--no-cache", action="store_true", help="skip the cache reads")
    parser.add_argument("--no-outbox", action="store_true", help="skip the outbox cost")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-state-bench-") as tmp_name:
        tmp = Path(tmp_name)
        server = open_server(args.state)
        try:
            print(load_line(server), flush=True)
            if not args.no_outbox:
                cases, skipped = outbox_cases(server, tmp)
                try:
                    run_outbox_cases(cases, args.messages, args.rounds)
                finally:
                    for case in cases:
                        case.close()
                print("\n".join(outbox_report(cases, args.messages, args.rounds, skipped)), flush=True)
            if not args.no_cache:
                lite, pg = run_cache_cases(tmp, server.create_database(), args.rounds)
                print()
                print("\n".join(cache_report(lite, pg)), flush=True)
        finally:
            server.stop()


def load_line(server: PgServer) -> str:
    one, five, _ = os.getloadavg()
    with server.admin() as conn:
        version = conn.execute("SHOW server_version").fetchone()
        sync = conn.execute("SHOW synchronous_commit").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
    where = "a throwaway cluster" if server.cluster is not None else "the server given"
    return (f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load {one:.2f}/{five:.2f};"
            f" PostgreSQL {version[0] if version else '?'} ({where}, fsync {fsync[0] if fsync else '?'},"
            f" synchronous_commit {sync[0] if sync else '?'})")


def outbox_cases(server: PgServer, folder: Path) -> tuple[list[OutboxCase], list[str]]:
    """Every way of recording a message, each on a ledger of its own (a file, or a fresh database)."""
    cases = [
        outbox_case("SQLite", str(folder / "outbox.sqlite"), folder),
        sqlite3_case(folder / "raw.sqlite"),
        outbox_case("PostgreSQL", server.create_database(), folder),
        psycopg_case(server.create_database(), folder),
    ]
    skipped: list[str] = []
    sa_cases = sqlalchemy_cases(server.create_database, folder)
    cases += sa_cases
    if not sa_cases:
        skipped.append("sa-text, sa-core: skipped: SQLAlchemy is not installed (pip install sqlalchemy to measure it)")
    return cases, skipped


if __name__ == "__main__":
    main()
