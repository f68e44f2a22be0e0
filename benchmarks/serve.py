"""`digest serve` under load: one-click unsubscribes and sign-ups per second, p50/p99 latency, beside a floor.

Run from the repository's root (needs `wrk`: `apt-get install -y wrk`):

    python benchmarks/serve.py                       # 3 interleaved runs of 5 s, 16 connections
    python benchmarks/serve.py --runs 1 --seconds 2  # a quick look

Set-up (untimed): a state database with `--readers` confirmed subscribers (imported in one
transaction) and each reader's MANAGE token, as their issues carry it. Three servers, each
uvicorn with one worker on 127.0.0.1 in its own process, as `digest serve` runs it (no access
log, proxy headers on), and an aiosmtpd sink in a fourth taking the confirmation mails:

  unsubscribe  POST /unsubscribe?t=TOKEN, body `List-Unsubscribe=One-Click`, form-encoded, no
               cookie: a mailbox provider's RFC 8058 one-click. A distinct reader each request
               (never one already unsubscribed), so each is a real write, durable (WAL,
               synchronous=FULL) before it is answered; the one-clicks waiting together share
               one transaction and one fsync (group commit: digest/web/store_access.py).
  subscribe    POST /subscribe with a new address each request: the address check, the limits,
               one transaction, the confirmation mail built and sent after the answer.
  floor        a Starlette app that answers 200 to the same one-click POST, doing nothing, on
               the same server: what uvicorn and Starlette cost alone on this machine.

The load generator is wrk (one thread, `--connections` connections (16: a p99 under 50 ms at
500/s leaves room for at most 25 requests in flight, by Little's law), a Lua script that gives
each request its own token or address), in another process. Runs are interleaved (the order
turns each run); printed are the medians of requests/s, p50 and p99. Target: >= 500 one-click
unsubscribes/s with p99 < 50 ms. Afterwards the database is checked: one unsubscribed row per
answered one-click.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import child_env, load_note, table, verdict

SECRET = b"benchmark-secret-0123456789abcdefghijklmnopqrstuv"
TARGET_RPS, TARGET_P99_MS = 500.0, 50.0

LUA = r"""
local tokens = {}
local mode = os.getenv("BENCH_MODE")
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
if mode ~= "subscribe" then
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
request = function()
  counter = counter + 1
  local n = offset + counter
  if mode == "subscribe" then
    return wrk.format(nil, "/subscribe", nil, "lang=en&website=&email=bench" .. n .. "%40example.org")
  end
  return wrk.format(nil, "/unsubscribe?t=" .. tokens[((n - 1) % #tokens) + 1], nil, "List-Unsubscribe=One-Click")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings_for(folder: Path, smtp_port: int):  # noqa: ANN201 - digest.config.Settings, imported late
    from digest.config import settings_from_mapping

    return settings_from_mapping(
        {
            "site": {"title": "Bench Digest", "base_url": "https://news.example.com"},
            "state": str(folder / "state.sqlite"),
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "sender": "digest@news.example.com"},
            # A load test comes from one IP: the per-IP limit is what it would measure, not the app.
            "subscribe": {"public_url": "https://news.example.com/newsletter", "rate_per_ip": 10**9},
        },
        folder,
    )


def serve(kind: str, folder: Path, port: int, smtp_port: int) -> None:
    """The server process: `digest serve`'s app (or the floor) under uvicorn, one worker."""
    import uvicorn

    if kind == "floor":
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        async def nothing(request: Request) -> PlainTextResponse:
            return PlainTextResponse("ok\n")

        app = Starlette(routes=[Route("/unsubscribe", nothing, methods=["POST"])])
    else:
        from digest.delivery.confirmation import smtp_sender
        from digest.web.app import create_app

        settings = settings_for(folder, smtp_port)
        app = create_app(settings, secret=SECRET, clock=time.time, send_mail=smtp_sender(settings.smtp, None))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, proxy_headers=True,
                server_header=False)


def sink(port: int) -> None:
    """An SMTP server that takes every message and keeps none."""
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
            return "250 OK"

    controller = Controller(Discard(), hostname="127.0.0.1", port=port)
    controller.start()
    while True:
        time.sleep(3600)


def prepare(folder: Path, readers: int) -> Path:
    """`readers` confirmed subscribers; their tokens, one a line, in tokens.txt."""
    from digest.state.subscriber_schema import ImportRecord
    from digest.state.subscribers import SubscriberStore
    from digest.tokens import MANAGE, make_token

    addresses = [f"reader{i}@example.org" for i in range(readers)]
    with SubscriberStore.open(folder / "state.sqlite", clock=time.time) as store:
        store.import_records(ImportRecord(a, None, "confirmed", None, "benchmark") for a in addresses)
        sids = store.sids_for(addresses)
    tokens = folder / "tokens.txt"
    tokens.write_text("".join(make_token(SECRET, MANAGE, sids[a]) + "\n" for a in addresses))
    return tokens


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a server exited at start ({proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def wrk(port: int, mode: str, script: Path, tokens: Path, offset: int, args: argparse.Namespace) -> list[int]:
    """[requests, duration µs, p50 µs, p99 µs, non-2xx, socket errors] of one wrk run."""
    env = {**child_env(), "BENCH_MODE": mode, "BENCH_TOKENS": str(tokens), "BENCH_OFFSET": str(offset)}
    out = subprocess.run(
        ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds:g}s", "--timeout", "5s", "-s", str(script),
         f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    return [int(v) for v in line.split()[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--readers", type=int, default=60_000)
    parser.add_argument("--serve", choices=["app", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--smtp-port", type=int, default=25, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, Path(args.folder), args.port, args.smtp_port)
    if args.sink:
        return sink(args.sink)
    if shutil.which("wrk") is None:
        raise SystemExit("benchmarks/serve.py needs wrk: apt-get install -y wrk")

    with tempfile.TemporaryDirectory(prefix="digest-bench-serve-") as tmp:
        folder = Path(tmp)
        print(f"preparing {args.readers} subscribers …", file=sys.stderr, flush=True)
        tokens = prepare(folder, args.readers)
        script = folder / "bench.lua"
        script.write_text(LUA)
        smtp_port, app_port, floor_port = free_port(), free_port(), free_port()
        me = [sys.executable, __file__, "--folder", str(folder), "--smtp-port", str(smtp_port)]
        procs = [
            subprocess.Popen([*me, "--sink", str(smtp_port)], env=child_env()),
            subprocess.Popen([*me, "--serve", "app", "--port", str(app_port)], env=child_env()),
            subprocess.Popen([*me, "--serve", "floor", "--port", str(floor_port)], env=child_env()),
        ]
        try:
            for port, proc in zip((smtp_port, app_port, floor_port), procs):
                wait_listening(port, proc)
            results = measure(args, script, tokens, app_port, floor_port)
        finally:
            for proc in reversed(procs):  # the servers first: the sink takes their last mails
                proc.terminate()
                proc.wait(10)
        report(args, results, folder)


def measure(args: argparse.Namespace, script: Path, tokens: Path, app_port: int, floor_port: int
            ) -> dict[str, list[list[int]]]:
    cases = {"unsubscribe": (app_port, "unsubscribe"), "subscribe": (app_port, "subscribe"),
             "floor": (floor_port, "floor")}
    results: dict[str, list[list[int]]] = {name: [] for name in cases}
    offsets = {"unsubscribe": 0, "subscribe": 0, "floor": 0}
    names = list(cases)
    for r in range(args.runs):
        print(f"  run {r + 1}/{args.runs} …", file=sys.stderr, flush=True)
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            port, mode = cases[name]
            figures = wrk(port, mode, script, tokens, offsets[name], args)
            offsets[name] += figures[0]
            results[name].append(figures)
    if offsets["unsubscribe"] > args.readers:
        print(f"note: {offsets['unsubscribe']} one-clicks for {args.readers} readers: some hit a reader already "
              "unsubscribed (raise --readers)", file=sys.stderr)
    return results


def report(args: argparse.Namespace, results: dict[str, list[list[int]]], folder: Path) -> None:
    import sqlite3

    rows = []
    medians: dict[str, tuple[float, float, float]] = {}
    for name, runs in results.items():
        rps = statistics.median(r[0] / (r[1] / 1e6) for r in runs)
        p50 = statistics.median(r[2] for r in runs) / 1000
        p99 = statistics.median(r[3] for r in runs) / 1000
        bad = sum(r[4] + r[5] for r in runs)
        medians[name] = (rps, p50, p99)
        rows.append([name, f"{rps:,.0f}", f"{p50:.1f}", f"{p99:.1f}", str(sum(r[0] for r in runs)), str(bad)])
    print(f"digest serve, one uvicorn worker, wrk -t1 -c{args.connections}, {args.runs} interleaved runs of "
          f"{args.seconds:g} s (medians). {load_note()}")
    print(table(["POST", "req/s", "p50 ms", "p99 ms", "requests", "errors"], rows))
    rps, _, p99 = medians["unsubscribe"]
    floor = medians["floor"][0]
    met = verdict(rps >= TARGET_RPS and p99 < TARGET_P99_MS)
    print(f"one-click unsubscribe: {rps:,.0f}/s = {rps / floor:.0%} of the floor's {floor:,.0f}/s; "
          f"target >= {TARGET_RPS:.0f}/s at p99 < {TARGET_P99_MS:.0f} ms: {met}")
    answered = sum(r[0] - r[4] for r in results["unsubscribe"])
    with sqlite3.connect(folder / "state.sqlite") as db:
        left = db.execute("SELECT COUNT(*) FROM subscribers WHERE state = 'unsubscribed'").fetchone()[0]
    # wrk stops with up to one request in flight per connection: answered by the app, not counted by wrk.
    ok = min(answered, args.readers) <= left <= answered + args.connections * args.runs
    print(f"database: {left} readers unsubscribed after {answered} one-clicks wrk saw answered "
          f"({'every one recorded' if ok else 'MISMATCH'})")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
