"""`digest serve` as a process: it refuses a missing or weak secret, and serves the pages with a good one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from smtp_servers import free_port

GOOD = "serve-cli-secret-0123456789abcdefghijklmnop"


def run_serve(site: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", "--config", str(site / "config.yaml"), *args],
        cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DIGEST_SECRET", "DIGEST_UNSUBSCRIBE_SECRET")}
    return env


@pytest.mark.parametrize(("secret", "shown"), [(None, "no secret"), ("short", "weak"), ("ab" * 20, "weak")])
def test_serve_refuses_without_a_good_secret(site: Path, secret: str | None, shown: str) -> None:
    """No DIGEST_SECRET, or a weak one: one Error line naming the problem, exit 1, nothing listening."""
    env = clean_env() | ({"DIGEST_SECRET": secret} if secret else {})
    proc = run_serve(site, env, "--listen", f"127.0.0.1:{free_port()}")
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, (out, err)
    assert err.startswith("Error: digest serve refuses to start") and shown in err
    assert not secret or secret not in err  # never printed


def test_serve_answers_with_a_good_secret(site: Path) -> None:
    """With DIGEST_SECRET set, `digest serve --listen` answers /healthz and the form, and stops on SIGTERM."""
    port = free_port()
    proc = run_serve(site, clean_env() | {"DIGEST_SECRET": GOOD}, "--listen", f"127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.1)
        assert health.status_code == 200 and health.text == "ok\n"
        form = httpx.get(f"http://127.0.0.1:{port}/subscribe", timeout=5)
        assert form.status_code == 200 and 'name="email"' in form.text
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_serve_help_explains_the_routes_and_the_secret() -> None:
    """--help names every route, the secret and the proxy option."""
    out = subprocess.run([sys.executable, "-m", "digest", "serve", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for word in ("/subscribe", "/unsubscribe", "RFC 8058", "DIGEST_SECRET", "--forwarded-allow-ips", "--listen"):
        assert word in out
