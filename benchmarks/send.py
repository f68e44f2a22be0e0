"""Send throughput as a user meets it: whole `digest send` processes against a bare smtplib loop.

Run from the repository's root (after `pip install -e '.[test]'`, which brings aiosmtpd):

    python benchmarks/send.py                                  # 3,000 recipients, 3 interleaved runs
    python benchmarks/send.py --recipients 1000 --runs 1       # a quick look
    python benchmarks/send.py --sinks c --issues zh --connections 1

It builds two real issues in site folders under a temporary directory, with `digest build`:

  zh  the Chinese ServiceMesher blog (shared corpus), 2019-05 to 2019-12: 65 articles,
      shortened to the size limit, a ~170 KB message whose parts are base64;
  en  the English Jekyll news posts (shared corpus), 2013 to 2017: 65 articles, a ~125 KB
      message whose parts are quoted-printable.

(The sample site in content/ has one Chinese article among four: a 41 KB message, too small
to be a real week.) Each recipient has a name (Chinese, accented and plain, of different
lengths) and a tokenised https unsubscribe link, so every message is personalised.

Then, per sink, issue and connection count, interleaved (the order flips every run):

  digest  `python -m digest send ISSUE --recipients FILE` on a fresh copy of the built issue
          and a fresh state file: start-up, the render, the outbox (one fsynced `data-sent`
          mark per message) and all; `smtp.connections` 1 or 4;
  bare    a Python process with an smtplib loop, `SMTP.sendmail` of one message of the same
          size to each recipient, nothing recorded; with 4 connections, 4 threads each with
          its own connection and a quarter of the recipients. This is the floor.

Both are timed from spawn to exit (messages per second over the whole process), with the
child's CPU time from wait4. The sinks, each in its own process, discard every message:

  aiosmtpd   Python/asyncio: caps both sides near the same rate, so it hides the client's cost;
  smtp-sink  Postfix's C test server, taken from Debian's `postfix` package with
             `apt-get download` and `dpkg -x` into benchmarks/_tools/ (no MTA installed);
             when that cannot be had, its rows say why and are skipped.

Printed: msg/s from the median and from the best run, the ratio digest/bare (target:
>= 0.90 with smtp-sink, for both issues and both connection counts), and the per-recipient
cost of building a message (`MessageFactory.build`, median over many recipients; target
<= 100 µs). PASS/MISS per target.

Several senders on one issue (issue 15):

    python benchmarks/send.py --workers 1,2,4 --issues en --sinks c,relay        # a throwaway PostgreSQL
    python benchmarks/send.py --workers 1,2,4 --state postgresql://me@db:5432/postgres   # a server of yours

For each N, N `digest send` processes are started together on one issue, on one PostgreSQL
outbox (a fresh database each run: a throwaway cluster, as the tests start it, or CREATE DATABASE
on the server given, the password from DIGEST_STATE_PASSWORD), each with its own copy of the
built issue and its own cache file, as on N machines; beside them N bare smtplib processes
sending n/N each (the floor), and today's one process on a SQLite file. Every run checks the
outbox after: every row `sent`, once. Sinks: `c` (smtp-sink, as above) and `relay`: a relay
`--sink-delay` ms away (default 20: a provider across a network), an asyncio server of our own
that answers the end of DATA that much later without using the CPU, and notes when it answered
each message, so that the steady rate (the middle 80% of the messages, every sender sending)
is printed beside the whole-process one. Printed per N: msg/s, the speed-up over one sender
(target: 4 senders >= 3x one when the sink is not the bottleneck), the CPU a message costs in
the senders, in PostgreSQL's processes and in the sink, the most the machine's cores could send
at that cost, the sink's share of a core, and the cores other processes took meanwhile; a MISS
says why (the sink, the cores, or waiting). Then the per-message outbox cost on SQLite and
PostgreSQL (benchmarks/state.py: claim + data-sent + durable + sent, in-process).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import re
import resource
import shutil
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from state import (
    PgServer,
    connect_pg,
    load_line,
    machine_busy,
    open_server,
    outbox_cases,
    outbox_report,
    run_outbox_cases,
    tree_cpu,
)

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "real"
TOOLS = Path(__file__).resolve().parent / "_tools"
SECRET = "benchmark-only-secret-0123456789abcdef"  # the sender refuses tokens without one; any value will do here
SENDER = "digest@news.example.com"
RATIO_TARGET = 0.90
BUILD_TARGET_US = 100.0


@dataclass(frozen=True)
class IssueSpec:
    key: str
    corpus: str
    since: str
    until: str
    config: str
    names: tuple[str, ...]


ISSUES = {
    "zh": IssueSpec(
        "zh", "servicemesher-blog", "2019-05-01", "2020-01-01",
        "site:\n  title: ServiceMesher 社区周报\n  base_url: https://www.servicemesher.com\n"
        "  language: zh-CN\n  timezone: Asia/Shanghai\n",
        ("王小明", "李华", "欧阳建国", "Zhang Wei", "陈", "María José García", "Chris"),
    ),
    "en": IssueSpec(
        "en", "jekyll-posts", "2013-01-01", "2018-01-01",
        "site:\n  title: Jekyll News Digest\n  base_url: https://jekyllrb.com\n"
        "  language: en\n  timezone: America/Los_Angeles\n",
        ("Alice", "Bob Jones", "Zoë Brontë-Łukasiewicz", "Dr. Christopher Montgomery-Smythe", "Li", "渡辺", "Eve"),
    ),
}


def site_config(spec: IssueSpec, connections: int) -> str:
    return (
        spec.config
        + "content: content\nout: issues\nstate: .digest/state.sqlite\n"
        + f"smtp:\n  sender: Newsletter <{SENDER}>\n  connections: {connections}\n  security: none\n"
        + "mail:\n  unsubscribe_url: https://news.example.com/unsubscribe?t={token}\n"
    )


# --- children: the sinks and the bare loop ---------------------------------------------------------


def run_aiosmtpd(port: int) -> None:
    """Child process: an aiosmtpd server that discards messages, until stdin closes."""
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201 - aiosmtpd's hook
            return "250 OK discarded"

    controller = Controller(Discard(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


def run_relay(port: int, delay_ms: float) -> None:
    """Child process: a relay `delay_ms` away, as a provider's is across a network: it answers each command
    at once and the end of DATA after `delay_ms` (asyncio.sleep: no CPU), reading DATA in bulk, so that its
    own CPU stays small beside the senders'. Discards every message; runs until stdin closes."""
    import asyncio

    accepted: list[float] = []  # when each message was answered (monotonic): XSTAT hands them over

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 relay ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    writer.write(b"250-relay\r\n250-8BITMIME\r\n250 SIZE 0\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    await reader.readuntil(b"\r\n.\r\n")
                    await asyncio.sleep(delay_ms / 1000)
                    writer.write(b"250 2.0.0 Ok: queued\r\n")
                    accepted.append(time.monotonic())
                elif verb == b"XSTA":  # the benchmark's own: the times since the last XSTAT
                    writer.write(b"250 " + " ".join(f"{t:.6f}" for t in accepted).encode() + b"\r\n")
                    accepted.clear()
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                else:  # MAIL, RCPT, RSET, NOOP
                    writer.write(b"250 Ok\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(session, "127.0.0.1", port, limit=64 * 1024 * 1024)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        server.close()

    asyncio.run(main())


def run_bare(port: int, message: Path, recipients: int, connections: int) -> None:
    """Child process: the floor, `sendmail` of one prebuilt message per recipient, nothing recorded."""
    data = message.read_bytes()
    rcpts = [f"reader{i:06d}@example.org" for i in range(recipients)]
    failures: list[str] = []

    def loop(share: list[str]) -> None:
        conn = smtplib.SMTP("127.0.0.1", port)
        for rcpt in share:
            if conn.sendmail(SENDER, [rcpt], data):
                failures.append(rcpt)
        conn.quit()

    threads = [threading.Thread(target=loop, args=(rcpts[i::connections],)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"bare loop: {len(failures)} refused")


# --- the sinks, from the parent -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 10.0) -> str | None:
    """None once the port accepts connections; else why not."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            return f"exited with {proc.returncode}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return None
        except OSError:
            time.sleep(0.05)
    return "did not listen within 10 s"


@dataclass
class Sink:
    name: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    unavailable: str | None = None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        if self.name == "smtp-sink":
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def relay_times(sink: Sink) -> list[float]:
    """The relay's answer times (monotonic seconds) of the messages since the last call; [] for other sinks."""
    if not sink.name.startswith("relay"):
        return []
    with socket.create_connection(("127.0.0.1", sink.port)) as conn, conn.makefile("rb") as fh:
        fh.readline()
        conn.sendall(b"XSTAT\r\n")
        line = fh.readline().decode().split()[1:]
        conn.sendall(b"QUIT\r\n")
    return [float(t) for t in line]


def steady_rate(times: list[float]) -> float | None:
    """msg/s between the 10th and the 90th percentile of the answer times: every sender sending, start-up
    and the last stragglers left out."""
    if len(times) < 20:
        return None
    times = sorted(times)
    lo, hi = len(times) // 10, len(times) * 9 // 10
    return (hi - lo) / (times[hi] - times[lo]) if times[hi] > times[lo] else None


def start_aiosmtpd(delay_ms: float | None = None) -> Sink:
    """aiosmtpd; or, with `delay_ms`, the slow relay (run_relay)."""
    port = free_port()
    child = ["aiosmtpd"] if delay_ms is None else ["relay", "--sink-delay", str(delay_ms)]
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", *child, "--port", str(port)], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    problem = wait_for_port(port, proc)
    return Sink("aiosmtpd" if delay_ms is None else f"relay{delay_ms:g}ms", port, proc, problem)


def fetch_smtp_sink() -> tuple[Path | None, str]:
    """Postfix's smtp-sink, extracted from Debian's package into benchmarks/_tools/ (nothing installed)."""
    root = TOOLS / "postfix"
    binary = root / "usr" / "sbin" / "smtp-sink"
    if binary.exists():
        return binary, ""
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        return None, "apt-get/dpkg not available"
    TOOLS.mkdir(parents=True, exist_ok=True)
    for deb in TOOLS.glob("postfix_*.deb"):
        deb.unlink()
    got = subprocess.run(["apt-get", "download", "postfix"], cwd=TOOLS, capture_output=True, text=True)
    debs = sorted(TOOLS.glob("postfix_*.deb"))
    if got.returncode != 0 or not debs:
        return None, f"`apt-get download postfix` failed: {(got.stderr or got.stdout).strip()[-200:]}"
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(root)], check=True)
    return (binary, "") if binary.exists() else (None, "the postfix package holds no smtp-sink")


def start_smtp_sink() -> Sink:
    binary, why = fetch_smtp_sink()
    if binary is None:
        return Sink("smtp-sink", unavailable=why)
    port = free_port()
    env = {**os.environ, "LD_LIBRARY_PATH": str(binary.parents[2] / "usr" / "lib" / "postfix")}
    as_root = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root without a user
    proc = subprocess.Popen(
        [str(binary), *as_root, "-4", f"127.0.0.1:{port}", "256"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    problem = wait_for_port(port, proc)
    if problem and proc.stderr is not None and proc.poll() is not None:
        problem += ": " + proc.stderr.read().decode("utf-8", "replace").strip()[-200:]
    return Sink("smtp-sink", port, proc, problem)


# --- the sites -----------------------------------------------------------------------------------


@dataclass
class Site:
    spec: IssueSpec
    root: Path
    issue_id: str = ""
    message: Path = Path()
    message_bytes: int = 0
    cte: str = ""
    build_us: list[float] = field(default_factory=list)


def make_site(spec: IssueSpec, tmp: Path, recipients: int, corpus: Path = CORPUS) -> Site:
    """A site folder with the corpus as its content, its issue built by `digest build`, a recipients CSV."""
    root = tmp / spec.key
    shutil.copytree(corpus / spec.corpus, root / "content")
    for conns in (1, 4):
        (root / f"config-{conns}.yaml").write_text(site_config(spec, conns), encoding="utf-8")
    built = subprocess.run(
        [sys.executable, "-m", "digest", "build", "--config", "config-1.yaml", "--since", spec.since,
         "--until", spec.until, "--json"],
        cwd=root, capture_output=True, text=True, check=True,
    )
    site = Site(spec, root, json.loads(built.stdout)["issue_id"])
    with (root / "recipients.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "name"])
        for i in range(recipients):
            writer.writerow([f"reader{i:06d}@example.org", spec.names[i % len(spec.names)]])
    return site


def measure_build(site: Site, count: int) -> None:
    """Each recipient's message through the factory `digest send` uses; keeps one message for the bare loop."""
    sys.path.insert(0, str(REPO))
    from digest.archive.manifest import load_issue
    from digest.config import load_settings
    from digest.delivery.message import MessageFactory, Slots
    from digest.render.issue import render_issue
    from digest.tokens import MANAGE, make_token

    env = {"DIGEST_SECRET": SECRET}
    settings = load_settings(site.root / "config-1.yaml", env=env)
    issue = load_issue(settings, site.issue_id)
    slots = Slots.fresh()
    rendered = render_issue(issue, settings, unsubscribe_url=slots.unsubscribe, recipient_name=slots.name)
    factory = MessageFactory(
        settings, issue.issue_id, rendered, date=issue.until, slots=slots
    )
    names = site.spec.names
    tokens = [make_token(SECRET.encode(), MANAGE, f"sid{i:012d}") for i in range(count)]  # the pipeline's, made once
    data = factory.build("reader000000@example.org", names[0], token=tokens[0])
    site.message = site.root / "message.eml"
    site.message.write_bytes(data)
    site.message_bytes = len(data)
    site.cte = "base64" if b"Content-Transfer-Encoding: base64" in data else "quoted-printable"
    clock = time.perf_counter_ns
    for i in range(count):
        address, name = f"reader{i:06d}@example.org", names[i % len(names)]
        start = clock()
        factory.build(address, name, token=tokens[i])
        site.build_us.append((clock() - start) / 1000)


# --- one timed process ---------------------------------------------------------------------------


@dataclass
class Sample:
    wall: float
    cpu: float


def timed(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> Sample:
    """Run `cmd` to its end: wall time from spawn to exit, and its CPU time (user + system, from wait4)."""
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} … exited {proc.returncode}:\n{log.read_text()[-2000:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime)


def fsync_probe(folder: Path, count: int = 50) -> list[float]:
    """fsync latencies (s) of 4 KB appends in `folder`: the disk's floor under digest's one fsync a message."""
    path = folder / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    times = []
    try:
        for _ in range(count):
            os.write(fd, b"\0" * 4096)
            start = time.perf_counter()
            os.fsync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return times


def run_digest(site: Site, sink: Sink, conns: int, n: int, run: int) -> Sample:
    work = site.root / f"run-{sink.name}-{conns}-{run}"
    shutil.copytree(site.root / "issues", work / "issues")  # a fresh copy: its manifest records no send yet
    env = {
        **os.environ, "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(sink.port),
        "DIGEST_SMTP_SECURITY": "none", "DIGEST_SECRET": SECRET,
    }
    cmd = [
        sys.executable, "-m", "digest", "send", site.issue_id, "--recipients", str(site.root / "recipients.csv"),
        "--config", f"config-{conns}.yaml", "--out", str(work / "issues"), "--state", str(work / "state.sqlite"),
    ]
    log = work / "send.log"
    sample = timed(cmd, site.root, env, log)
    if f"sent: {n} ({n} now)" not in log.read_text(encoding="utf-8"):
        raise SystemExit(f"digest send did not send all {n}:\n{log.read_text()[-2000:]}")
    shutil.rmtree(work)
    return sample


def run_bare_process(site: Site, sink: Sink, conns: int, n: int) -> Sample:
    cmd = [
        sys.executable, __file__, "--child", "bare", "--port", str(sink.port), "--message", str(site.message),
        "--recipients", str(n), "--connections", str(conns),
    ]
    return timed(cmd, site.root, dict(os.environ), site.root / "bare.log")


# --- several senders on one issue (issue 15): N `digest send` processes sharing a PostgreSQL outbox ------------


@dataclass
class Fleet:
    """One timed start of N processes together: wall from the first spawn to the last exit."""

    wall: float
    cpu: float  # the N processes, user + system (wait4)
    db_cpu: float  # the PostgreSQL server's processes over the same time (0 when not ours to see)
    sink_cpu: float  # the sink's process over the same time
    others: float  # CPU seconds the rest of the machine took over the same time (other users' load)
    steady: float | None = None  # msg/s at the relay over the middle 80% of the messages (relay only)
    split: list[int] = field(default_factory=list)  # messages each process sent


def fleet_config(spec: IssueSpec, state: str, cache: Path, connections: int) -> str:
    return (
        spec.config
        + f"content: content\nout: issues\nstate: {state}\ncache: {cache}\n"
        + f"smtp:\n  sender: Newsletter <{SENDER}>\n  connections: {connections}\n  security: none\n"
        + "mail:\n  unsubscribe_url: https://news.example.com/unsubscribe?t={token}\n"
    )


def run_fleet(cmds: list[list[str]], cwd: Path, env: dict[str, str], logs: list[Path],
              db_pid: int | None, sink_pid: int | None) -> Fleet:
    """Start every command at once and wait for all; a failure stops the benchmark with its log."""
    outs = [log.open("wb") for log in logs]
    db0, sink0, all0 = tree_cpu(db_pid), tree_cpu(sink_pid), machine_busy()
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
             for cmd, out in zip(cmds, outs)]
    cpu = 0.0
    codes = []
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        codes.append(proc.returncode)
        cpu += usage.ru_utime + usage.ru_stime
    wall = time.perf_counter() - start
    db_cpu, sink_cpu = tree_cpu(db_pid) - db0, tree_cpu(sink_pid) - sink0
    others = max(machine_busy() - all0 - cpu - db_cpu - sink_cpu, 0.0)
    for out in outs:
        out.close()
    for code, cmd, log in zip(codes, cmds, logs):
        if code != 0:
            raise SystemExit(f"{' '.join(cmd[:4])} … exited {code}:\n{log.read_text()[-2000:]}")
    return Fleet(wall, cpu, db_cpu, sink_cpu, others)


def outbox_states(state: str, issue_id: str) -> dict[str, int]:
    """The issue's outbox rows per state, read straight from the database."""
    sql = "SELECT state, COUNT(*) FROM outbox WHERE issue_id = {p} GROUP BY state"
    if state.startswith(("postgresql://", "postgres://")):
        with connect_pg(state) as conn:
            return {str(k): int(v) for k, v in conn.execute(sql.format(p="%s"), (issue_id,)).fetchall()}
    conn = sqlite3.connect(state)
    try:
        return {str(k): int(v) for k, v in conn.execute(sql.format(p="?"), (issue_id,)).fetchall()}
    finally:
        conn.close()


def recipients_file(site: Site, n: int) -> Path:
    """The site's first n recipients, as a CSV of their own (made once)."""
    path = site.root / f"recipients-{n}.csv"
    if not path.exists():
        lines = (site.root / "recipients.csv").read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(lines[: n + 1]), encoding="utf-8")
    return path


def run_digest_fleet(site: Site, sink: Sink, server: PgServer | None, workers: int, conns: int, n: int,
                     tag: str) -> Fleet:
    """`workers` `digest send` processes on one issue, each with its own copy of the built issue and its
    own cache file (as on `workers` machines), all on one ledger: a fresh PostgreSQL database, or (no
    server) a fresh SQLite file."""
    work = site.root / f"fleet-{tag}"
    work.mkdir()
    state = server.create_database() if server is not None else str(work / "state.sqlite")
    env = {
        **os.environ, "DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(sink.port),
        "DIGEST_SMTP_SECURITY": "none", "DIGEST_SECRET": SECRET,
    }
    cmds, logs = [], []
    for i in range(workers):
        box = work / f"w{i}"
        shutil.copytree(site.root / "issues", box / "issues")  # a fresh copy: its manifest records no send yet
        config = box / "config.yaml"
        config.write_text(fleet_config(site.spec, state, box / "cache.sqlite", conns), encoding="utf-8")
        # the config's folder is the site's: relative paths (content:) are read from there
        shutil.copy(config, site.root / f"config-{tag}-w{i}.yaml")
        cmds.append([
            sys.executable, "-m", "digest", "send", site.issue_id, "--recipients", str(recipients_file(site, n)),
            "--config", f"config-{tag}-w{i}.yaml", "--out", str(box / "issues"),
        ])
        logs.append(box / "send.log")
    try:
        fleet = run_fleet(cmds, site.root, env, logs, server.pid if server else None,
                          sink.proc.pid if sink.proc else None)
        for log in logs:
            text = log.read_text(encoding="utf-8")
            found = re.search(r"sent: \d+ \((\d+) now\)", text)
            if found is None:
                raise SystemExit(f"digest send printed no count:\n{text[-2000:]}")
            fleet.split.append(int(found.group(1)))
        states = outbox_states(state, site.issue_id)
        if states != {"sent": n} or sum(fleet.split) != n:
            raise SystemExit(f"{workers} senders: outbox {states}, sent now {fleet.split}; expected {n} sent once")
    finally:
        for i in range(workers):
            (site.root / f"config-{tag}-w{i}.yaml").unlink(missing_ok=True)
        if server is not None:
            server.drop_databases()
        shutil.rmtree(work)
    return fleet


def run_bare_fleet(site: Site, sink: Sink, workers: int, conns: int, n: int) -> Fleet:
    """The floor: `workers` bare smtplib processes, each sending its share of the n messages."""
    shares = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    cmds = [
        [sys.executable, __file__, "--child", "bare", "--port", str(sink.port), "--message", str(site.message),
         "--recipients", str(share), "--connections", str(conns)]
        for share in shares
    ]
    logs = [site.root / f"bare-{i}.log" for i in range(workers)]
    fleet = run_fleet(cmds, site.root, dict(os.environ), logs, None, sink.proc.pid if sink.proc else None)
    fleet.split = shares
    return fleet


def fleet_main(args: argparse.Namespace) -> None:
    """`--workers 1,2,4`: N senders on one issue against the sink, beside N bare loops; then the outbox's
    per-message cost (benchmarks/state.py)."""
    n = args.recipients
    keys = [k.strip() for k in args.issues.split(",") if k.strip()]
    counts = [int(w) for w in args.workers.split(",")]
    conns = int(args.connections.split(",")[0])
    wanted = [s.strip() for s in args.sinks.split(",")]
    sinks: list[Sink] = []
    server: PgServer | None = None
    with tempfile.TemporaryDirectory(prefix="digest-send-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            server = open_server(None if args.state in ("pg", "postgresql") else args.state)
            if "c" in wanted:
                sinks.append(start_smtp_sink())
            if "relay" in wanted:
                sinks.append(start_aiosmtpd(args.sink_delay or 20.0))
            if "aiosmtpd" in wanted:
                sinks.append(start_aiosmtpd())
            print(load_line(server), flush=True)
            sites = [make_site(ISSUES[k], tmp, n, args.corpus) for k in keys]
            for site in sites:
                measure_build(site, 10)
                print(f"issue {site.spec.key}: {site.issue_id}, message {site.message_bytes:,} bytes ({site.cte}),"
                      f" {n} recipients", flush=True)
            for sink in sinks:
                where = f"127.0.0.1:{sink.port}" if not sink.unavailable else f"skipped: {sink.unavailable}"
                print(f"sink {sink.name}: {where}", flush=True)
            live = [s for s in sinks if not s.unavailable]
            cases = [("postgresql", w) for w in counts] + [("bare", w) for w in counts] + [("sqlite", 1)]
            samples: dict[tuple[str, str, str, int], list[Fleet]] = {}
            tags = itertools.count()
            for run in range(args.runs):
                for sink in live:
                    count = sink_count(sink, n, args.relay_recipients)
                    for site in sites:
                        shift = run % len(cases)
                        for who, w in cases[shift:] + cases[:shift]:
                            if who == "bare":
                                fleet = run_bare_fleet(site, sink, w, conns, count)
                            else:
                                fleet = run_digest_fleet(site, sink, server if who == "postgresql" else None, w,
                                                         conns, count, f"{next(tags)}")
                            fleet.steady = steady_rate(relay_times(sink))
                            samples.setdefault((sink.name, site.spec.key, who, w), []).append(fleet)
                print(f"run {run + 1} of {args.runs} done", flush=True)
            print()
            print("\n".join(fleet_report(sinks, sites, counts, conns, n, args, samples)), flush=True)
            if not args.no_outbox:
                print()
                cost_cases, skipped = outbox_cases(server, tmp)
                try:
                    run_outbox_cases(cost_cases, args.outbox_messages, args.runs + 2)
                finally:
                    for case in cost_cases:
                        case.close()
                print("\n".join(outbox_report(cost_cases, args.outbox_messages, args.runs + 2, skipped)), flush=True)
        finally:
            for sink in sinks:
                sink.stop()
            if server is not None:
                server.stop()


def sink_count(sink: Sink, n: int, relay_n: int) -> int:
    """Messages per send against this sink: fewer against the slow relay (each takes its delay)."""
    return min(n, relay_n) if sink.name.startswith("relay") else n


def fleet_report(
    sinks: list[Sink], sites: list[Site], counts: list[int], conns: int, total: int, args: argparse.Namespace,
    samples: dict[tuple[str, str, str, int], list[Fleet]],
) -> list[str]:
    cores = os.cpu_count() or 1
    lines = [
        f"N `digest send` processes on one issue of {total} recipients ({min(total, args.relay_recipients)} against"
        " the slow relay), each with its own copy of the issue, its own cache file and smtp.connections"
        f" {conns}, on one PostgreSQL outbox (`sqlite 1`: today's one process on a state file); beside them"
        f" N bare smtplib processes sending n/N each. {args.runs} interleaved runs, spawn to last exit;"
        " msg/s from the median / the best run.",
        "CPU µs a message: the senders (all N) / PostgreSQL (every backend) / the sink, and their sum;"
        f" 'ceiling': {cores} cores / that sum, the most this machine sends at that cost; 'sink': its share of"
        " one core; 'others': cores other processes on the machine took meanwhile (load not ours);"
        " 'steady' (the relay only): msg/s at the relay over the middle 80% of the messages, while every"
        " sender is sending (start-up and the last stragglers left out).",
    ]
    head = (f"{'sink':10} {'issue':5} {'state':10} {'N':>2} {'msg/s med/best':>15} {'xN=1':>5} {'bare':>6}"
            f" {'d/bare':>6} {'steady':>6} {'CPU µs/msg send/pg/sink=sum':>27} {'ceiling':>7} {'sink':>5} {'others':>6}"
            "  split")
    for sink in sinks:
        n = sink_count(sink, total, args.relay_recipients)
        for site in sites:
            lines += ["", head]
            if sink.unavailable:
                lines.append(f"{sink.name:10} {site.spec.key:5} skipped: {sink.unavailable}")
                continue
            base: dict[str, float] = {}
            for who, w in [("postgresql", c) for c in counts] + [("bare", c) for c in counts] + [("sqlite", 1)]:
                fleets = samples[(sink.name, site.spec.key, who, w)]
                med, best = rate(n, [f.wall for f in fleets])
                ref = base.setdefault("bare" if who == "bare" else "digest", med)
                mid = sorted(fleets, key=lambda f: f.wall)[len(fleets) // 2]
                per = [statistics.median(getattr(f, k) for f in fleets) / n * 1e6
                       for k in ("cpu", "db_cpu", "sink_cpu")]
                busy = statistics.median(f.sink_cpu / f.wall for f in fleets)
                others = statistics.median(f.others / f.wall for f in fleets)
                bare = samples.get((sink.name, site.spec.key, "bare", w)) if who != "bare" else None
                bare_med = rate(n, [f.wall for f in bare])[0] if bare else None
                steadies = [f.steady for f in fleets if f.steady]
                steady = f"{statistics.median(steadies):6.0f}" if steadies else ""
                lines.append(
                    f"{sink.name:10} {site.spec.key:5} {who:10} {w:>2} {med:7.0f}/{best:<7.0f} {med / ref:4.2f}x"
                    f" {f'{bare_med:6.0f}' if bare_med else '':>6} {f'{med / bare_med:6.2f}' if bare_med else '':>6}"
                    f" {steady:>6} {per[0]:6.0f}/{per[1]:4.0f}/{per[2]:5.0f}={sum(per):6.0f}"
                    f" {cores / sum(per) * 1e6:7.0f}"
                    f" {busy * 100:4.0f}% {others:6.2f}  {'/'.join(str(x) for x in mid.split)}"
                )
            lines += fleet_verdict(samples, sink, site, counts, n, cores)
    return lines


def fleet_verdict(samples: dict[tuple[str, str, str, int], list[Fleet]], sink: Sink, site: Site, counts: list[int],
                  n: int, cores: int) -> list[str]:
    """N senders against one (target: 4 >= 3x when the sink is not the bottleneck), or why not: said plainly."""
    if 1 not in counts or max(counts) < 2:
        return []
    top = max(counts)
    one = samples[(sink.name, site.spec.key, "postgresql", 1)]
    many = samples[(sink.name, site.spec.key, "postgresql", top)]
    r1, rn = rate(n, [f.wall for f in one])[0], rate(n, [f.wall for f in many])[0]
    speedup, target = rn / r1, 3.0 * top / 4
    cpu_per = statistics.median((f.cpu + f.db_cpu + f.sink_cpu) / n for f in many)
    sink_busy = statistics.median(f.sink_cpu / f.wall for f in many)
    ours = statistics.median((f.cpu + f.db_cpu + f.sink_cpu) / f.wall for f in many)
    others = statistics.median(f.others / f.wall for f in many)
    per_sender = statistics.median(f.cpu / n for f in one) * 1e6
    verdict = "PASS" if speedup >= target else "MISS"
    lines = [f"  {top} senders / 1 sender, whole processes: {speedup:.2f}x ({rn:.0f} / {r1:.0f} msg/s; target >="
             f" {target:.1f}x when the sink is not the bottleneck): {verdict}"]
    s1, sn = ([f.steady for f in fleets if f.steady] for fleets in (one, many))
    if s1 and sn:
        ratio = statistics.median(sn) / statistics.median(s1)
        lines.append(
            f"  {top} senders / 1 sender, steady (at the relay, the middle 80% of the messages): {ratio:.2f}x"
            f" ({statistics.median(sn):.0f} / {statistics.median(s1):.0f} msg/s):"
            f" {'PASS' if ratio >= target else 'MISS'}")
    if speedup >= target:
        return lines
    if sink_busy > 0.85:
        lines.append(f"  why: the sink is the bottleneck: its one process was busy {sink_busy * 100:.0f}% of the time.")
    elif ours + others > 0.85 * cores:
        lines.append(
            f"  why: the CPU. With {top} senders the machine's {cores} cores were busy: {ours:.2f} cores for the"
            f" send (senders, PostgreSQL, sink: {cpu_per * 1e6:.0f} CPU µs a message) and {others:.2f} for other"
            f" processes. At that cost {cores} cores send at most {cores / cpu_per:.0f} msg/s; {target:.1f}x one"
            f" sender is {r1 * target:.0f} msg/s. One sender alone spends {per_sender:.0f} CPU µs a message"
            f" ({r1 * per_sender / 1e6:.2f} of a core at {r1:.0f} msg/s), so {top} of them need"
            f" {top * r1 * per_sender / 1e6:.2f} cores before PostgreSQL and the sink. The sink used"
            f" {sink_busy * 100:.0f}% of one core: not the limit. On {top} machines (a core or more each, the"
            " database elsewhere) this limit is not shared.")
    else:
        lines.append(f"  why: neither the CPU ({ours:.2f} + {others:.2f} others of {cores} cores) nor the sink"
                     f" ({sink_busy * 100:.0f}%): the senders wait (locks, round trips): see the outbox cost below.")
    if s1 and sn:
        # what the whole process pays beside the steady send: start-up (imports, recover, enrol, reader ids,
        # render) and the tail, all N at once
        fixed1 = n / r1 - n / statistics.median(s1)
        fixedn = n / rn - n / statistics.median(sn)
        lines.append(f"  start-up and tail (wall - n / steady rate): {fixed1:.1f} s with 1 sender, {fixedn:.1f} s with"
                     f" {top} started together: each pays its own, and they share the cores and the database.")
    return lines


# --- the report -----------------------------------------------------------------------------------


def rate(n: int, walls: list[float]) -> tuple[float, float]:
    """msg/s from the median and from the best (shortest) run."""
    return n / statistics.median(walls), n / min(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=3000, help="messages per send (default 3000)")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs of each pair (default 3)")
    parser.add_argument("--issues", default="zh,en", help="zh, en or both (default zh,en)")
    parser.add_argument("--connections", default="1,4", help="smtp.connections values (default 1,4)")
    parser.add_argument("--sinks", default="c,aiosmtpd",
                        help="c (smtp-sink), aiosmtpd, or both; with --workers also relay (--sink-delay ms away)")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"the shared real corpus (default {CORPUS})")
    parser.add_argument("--build-count", type=int, default=3000, help="recipients timed for message building")
    parser.add_argument("--workers", help="N `digest send` processes on one issue, e.g. 1,2,4 (with --state)")
    parser.add_argument("--state", default="pg",
                        help="with --workers: a postgresql:// URL (a maintenance connection: a database per run is"
                        " made and dropped), or pg for a throwaway cluster (default)")
    parser.add_argument("--sink-delay", type=float, default=0.0,
                        help="with --sinks relay: ms the relay waits before answering a message (default 20)")
    parser.add_argument("--relay-recipients", type=int, default=1000,
                        help="with --sinks relay: messages per send against it (default 1000)")
    parser.add_argument("--outbox-messages", type=int, default=2000, help="messages per round of the outbox cost")
    parser.add_argument("--no-outbox", action="store_true", help="with --workers: skip the outbox cost")
    parser.add_argument("--child", choices=("aiosmtpd", "bare", "relay"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--message", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "aiosmtpd":
        run_aiosmtpd(args.port)
        return
    if args.child == "relay":
        run_relay(args.port, args.sink_delay)
        return
    if args.child == "bare":
        run_bare(args.port, args.message, args.recipients, int(args.connections))
        return
    if args.workers:
        if args.connections == "1,4":
            args.connections = "1"
        if args.sinks == "c,aiosmtpd":
            args.sinks = "c"
        fleet_main(args)
        return

    n = args.recipients
    keys = [k.strip() for k in args.issues.split(",") if k.strip()]
    conn_counts = [int(c) for c in args.connections.split(",")]
    sinks: list[Sink] = []
    wanted = [s.strip() for s in args.sinks.split(",")]
    with tempfile.TemporaryDirectory(prefix="digest-send-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            if "c" in wanted:
                sinks.append(start_smtp_sink())
            if "aiosmtpd" in wanted:
                sinks.append(start_aiosmtpd())
            sites = [make_site(ISSUES[k], tmp, n, args.corpus) for k in keys]
            for site in sites:
                measure_build(site, args.build_count)
                print(
                    f"issue {site.spec.key}: {site.issue_id} from {site.spec.corpus}, message {site.message_bytes:,} "
                    f"bytes ({site.cte}), {n} named recipients",
                    flush=True,
                )
            for sink in sinks:
                where = f"127.0.0.1:{sink.port}" if not sink.unavailable else f"skipped: {sink.unavailable}"
                print(f"sink {sink.name}: {where}", flush=True)
            live = [s for s in sinks if not s.unavailable]
            samples: dict[tuple[str, str, int, str], list[Sample]] = {}
            fsyncs: list[float] = []
            for run in range(args.runs):
                for sink in live:
                    for site in sites:
                        for conns in conn_counts:
                            order = ("digest", "bare") if (run + conns) % 2 == 0 else ("bare", "digest")
                            fsyncs += fsync_probe(tmp)
                            for who in order:
                                sample = (
                                    run_digest(site, sink, conns, n, run) if who == "digest"
                                    else run_bare_process(site, sink, conns, n)
                                )
                                samples.setdefault((sink.name, site.spec.key, conns, who), []).append(sample)
                print(f"run {run + 1} of {args.runs} done", flush=True)
            report(args, sinks, sites, conn_counts, samples, fsyncs)
        finally:
            for sink in sinks:
                sink.stop()


def report(
    args: argparse.Namespace, sinks: list[Sink], sites: list[Site], conn_counts: list[int],
    samples: dict[tuple[str, str, int, str], list[Sample]], fsyncs: list[float],
) -> None:
    n = args.recipients
    print()
    if fsyncs:
        med, low = statistics.median(fsyncs) * 1e6, min(fsyncs) * 1e6
        print(
            f"fsync of a 4 KB append on this disk (probed before each pair): median {med:.0f} µs, min {low:.0f} µs."
            " digest fsyncs once per message (the outbox's data-sent mark, before the final dot); the bare loop never."
        )
    print(f"Whole-process sends of {n} messages, {args.runs} interleaved runs; msg/s from the median / the best run")
    print(f"{'sink':9} {'issue':5} {'conns':>5}  {'digest msg/s':>15}  {'bare msg/s':>15}  {'ratio':>11}  "
          f"{'CPU µs/msg d/b':>15}  target")
    for sink in sinks:
        for site in sites:
            for conns in conn_counts:
                key = site.spec.key
                if sink.unavailable:
                    print(f"{sink.name:9} {key:5} {conns:>5}  skipped: {sink.unavailable}")
                    continue
                ours, bare = samples[(sink.name, key, conns, "digest")], samples[(sink.name, key, conns, "bare")]
                d_med, d_best = rate(n, [s.wall for s in ours])
                b_med, b_best = rate(n, [s.wall for s in bare])
                ratio_med, ratio_best = d_med / b_med, d_best / b_best
                cpu = (f"{statistics.median(s.cpu for s in ours) / n * 1e6:6.0f}/"
                       f"{statistics.median(s.cpu for s in bare) / n * 1e6:<6.0f}")
                if sink.name == "smtp-sink":
                    verdict = f"{'PASS' if ratio_med >= RATIO_TARGET else 'MISS'} (>= {RATIO_TARGET:.2f})"
                else:
                    verdict = "(the sink is the bottleneck)"
                print(
                    f"{sink.name:9} {key:5} {conns:>5}  {d_med:7.0f} / {d_best:5.0f}  {b_med:7.0f} / {b_best:5.0f}  "
                    f"{ratio_med:5.2f}/{ratio_best:<5.2f}  {cpu:>15}  {verdict}"
                )
    print()
    print(f"Per-recipient message building (MessageFactory.build), {args.build_count} named recipients each")
    for site in sites:
        med, low = statistics.median(site.build_us), min(site.build_us)
        verdict = "PASS" if med <= BUILD_TARGET_US else "MISS"
        print(
            f"  {site.spec.key} ({site.cte}, {site.message_bytes:,} bytes): median {med:6.1f} µs, min {low:6.1f} µs"
            f"  {verdict} (<= {BUILD_TARGET_US:.0f} µs)"
        )
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"(CPU of all children: {usage.ru_utime + usage.ru_stime:.1f} s)")


if __name__ == "__main__":
    main()
