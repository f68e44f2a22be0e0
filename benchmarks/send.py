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
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

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
        if self.name != "aiosmtpd":
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_aiosmtpd() -> Sink:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", "aiosmtpd", "--port", str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
    )
    problem = wait_for_port(port, proc)
    return Sink("aiosmtpd", port, proc, problem)


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
    parser.add_argument("--sinks", default="c,aiosmtpd", help="c (smtp-sink), aiosmtpd, or both")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"the shared real corpus (default {CORPUS})")
    parser.add_argument("--build-count", type=int, default=3000, help="recipients timed for message building")
    parser.add_argument("--child", choices=("aiosmtpd", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--message", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "aiosmtpd":
        run_aiosmtpd(args.port)
        return
    if args.child == "bare":
        run_bare(args.port, args.message, args.recipients, int(args.connections))
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
