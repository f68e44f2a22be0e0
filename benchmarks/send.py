"""Send throughput: digest's send path against a bare smtplib loop, both into a local SMTP sink.

Run from the repository's root (after `pip install -e '.[test]'`, which brings aiosmtpd):

    python benchmarks/send.py                   # 10,000 recipients
    python benchmarks/send.py --recipients 2000 # quicker

It starts an aiosmtpd sink on 127.0.0.1 in a child process (it accepts and discards every
message), builds the sample issue from content/ with config.yaml, and then, in the same
run, sends to N recipients:

  digest      `send_issue`, the code `digest send` runs: outbox rows in a fresh state
              database, one durable claim per message, one SMTP connection
              (smtp.connections: 1), the per-recipient message factory;
  no fsync    the same with `send_issue(..., fsync=False)`: every outbox change still
              committed, but not fsynced (safe against kill -9, not a power cut);
  bare loop   `smtplib.SMTP.sendmail` of one prebuilt message of the same size, N times,
              over one connection, with nothing recorded.

It prints messages per second for both and their ratio (target: at least 0.8). The bare
loop runs once before and once after digest, and the ratio uses their mean, so that a
machine whose speed drifts during the run does not favour either side.
"""

from __future__ import annotations

import argparse
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


# The sender refuses to put tokens in messages without a secret; a fixed one will do for a benchmark.
BENCH_ENV = {**os.environ, "DIGEST_UNSUBSCRIBE_SECRET": "benchmark-only-secret"}

def run_sink() -> None:
    """Child process: an aiosmtpd server that discards messages, until stdin closes."""
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201 - aiosmtpd's hook
            return "250 OK discarded"

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Discard(), hostname="127.0.0.1", port=port, data_size_limit=0)
    controller.start()
    print(port, flush=True)
    sys.stdin.read()
    controller.stop()


def start_sink() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--sink"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def sample_issue(settings):  # noqa: ANN001, ANN201
    from datetime import datetime

    from digest.pipeline import build_issue

    tz = settings.tz
    result = build_issue(settings, datetime(2025, 7, 1, tzinfo=tz), datetime(2025, 8, 1, tzinfo=tz))
    return result.issue


def bench_digest(settings, issue, recipients: list[str], *, fsync: bool = True) -> float:  # noqa: ANN001
    from digest.pipeline.send import send_issue

    started = time.perf_counter()
    report = send_issue(settings, issue, recipients, fsync=fsync, env=BENCH_ENV)
    elapsed = time.perf_counter() - started
    if report.sent_now != len(recipients):
        raise SystemExit(f"digest sent {report.sent_now} of {len(recipients)}: {report.summary_line()}")
    return len(recipients) / elapsed


def bench_bare(port: int, data: bytes, sender: str, recipients: list[str]) -> float:
    started = time.perf_counter()
    conn = smtplib.SMTP("127.0.0.1", port)
    for rcpt in recipients:
        conn.sendmail(sender, [rcpt], data)
    conn.quit()
    return len(recipients) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        run_sink()
        return

    from digest.config import load_settings
    from digest.delivery.message import UNSUBSCRIBE_PLACEHOLDER, MessageFactory
    from digest.render.issue import render_issue

    proc, port = start_sink()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(REPO)
            settings = load_settings(
                REPO / "config.yaml",
                env={},
                overrides={
                    "state": str(Path(tmp) / "state.sqlite"),
                    "smtp.host": "127.0.0.1", "smtp.port": port, "smtp.security": "none", "smtp.username": None,
                    "mail.unsubscribe_url": "https://news.example.com/unsubscribe?token={token}",
                },
            )
            issue = sample_issue(settings)
            recipients = [f"reader{i:05d}@example.org" for i in range(args.recipients)]
            factory = MessageFactory(
                settings, issue.issue_id, render_issue(issue, settings, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER),
                date=datetime.now(timezone.utc), secret=b"bench",
            )
            data = factory.build(recipients[0])
            print(
                f"{args.recipients} recipients, issue {issue.issue_id} ({len(issue.articles)} articles), "
                f"message {len(data):,} bytes, sink on 127.0.0.1:{port}",
                flush=True,
            )
            # The bare loop runs before and after digest and the two are averaged: on a shared
            # machine throughput drifts during a run, and this way the drift cancels out.
            before = bench_bare(port, data, factory.envelope_sender, recipients)
            print(f"bare smtplib loop, 1 connection:  {before:8.0f} msg/s (before)", flush=True)
            ours = bench_digest(settings, issue, recipients)
            print(f"digest send path, 1 connection:   {ours:8.0f} msg/s (outbox fsynced per message)", flush=True)
            lax = bench_digest(settings, replace(issue, issue_id=issue.issue_id + "-nofsync"), recipients, fsync=False)
            print(f"digest send path, no fsync:       {lax:8.0f} msg/s (commits only; for comparison)", flush=True)
            after = bench_bare(port, data, factory.envelope_sender, recipients)
            print(f"bare smtplib loop, 1 connection:  {after:8.0f} msg/s (after)", flush=True)
            bare = (before + after) / 2
            print(f"ratio digest / bare: {ours / bare:.2f} (bare = {bare:.0f} msg/s, the mean; target >= 0.80)")
            print(f"ratio without the per-message fsync: {lax / bare:.2f}")
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
