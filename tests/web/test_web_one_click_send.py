"""The issue's first "done when", end to end: a real `digest send`, a mail provider's one-click POST to the
List-Unsubscribe URL it put in the message, and the next `digest send` skipping that reader."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
from smtp_servers import Inbox, serve
from web_servers import Clock, running_app, tls_files

from digest.config import settings_from_mapping
from digest.state.subscribers import SubscriberStore

REPO = Path(__file__).resolve().parents[2]
READERS = ["ann@example.org", "bo@example.org", "cy@example.org"]


def digest(site: Path, *args: str) -> str:
    """`digest ARGS` in the site, as its owner runs it; what it printed."""
    done = subprocess.run([sys.executable, "-m", "digest", *args], cwd=site, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    return done.stdout


def build(site: Path, since: str, until: str) -> str:
    return str(json.loads(digest(site, "build", "--since", since, "--until", until, "--json"))["issue_id"])


def test_a_providers_one_click_unsubscribes_and_the_next_send_skips_the_reader(tmp_path: Path) -> None:
    """Send issue 1 to three subscribers; POST List-Unsubscribe=One-Click (no cookie, form-encoded) to Bo's
    header URL: 200, no Set-Cookie, Bo unsubscribed by one-click; issue 2 reaches Ann and Cy only."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "content", site / "content")
    config: dict[str, object] = {
        "site": {"title": "One-Click Test", "base_url": "https://news.example.com", "timezone": "Asia/Shanghai"},
        "state": "state.sqlite",
        "mail": {"recipients": "subscribers"},
    }
    secret = os.environ["DIGEST_SECRET"].encode()  # conftest sets it for the test and its subprocesses
    inbox = Inbox()
    tls = tls_files(tmp_path)
    clock = Clock()
    with serve(inbox) as smtp_port, running_app(settings_from_mapping(config, site), clock, secret=secret,
                                                tls=tls) as url:
        config["smtp"] = {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                          "sender": "One-Click Test <digest@news.example.com>", "retry_base_seconds": 0.01}
        config["subscribe"] = {"public_url": url}
        (site / "config.yaml").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        with SubscriberStore.open(site / "state.sqlite", clock=clock) as store:
            for address in READERS:
                store.add(address)
        first, second = build(site, "2025-07-01", "2025-07-10"), build(site, "2025-07-10", "2025-08-01")
        assert first != second
        digest(site, "send", first)
        assert sorted(inbox.counts()) == READERS

        message = next(m for m in inbox.messages() if m["To"] == "bo@example.org")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        target = next(t for t in re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"])) if t.startswith("https:"))
        assert target.startswith(f"{url}/unsubscribe?t=")
        trust = ssl.create_default_context(cafile=tls.ca_file)
        with httpx.Client(verify=trust, timeout=10) as provider:  # a fresh client: no cookie, no page seen
            answer = provider.post(target, content=b"List-Unsubscribe=One-Click",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200, answer.text
        assert "set-cookie" not in answer.headers
        with SubscriberStore.open(site / "state.sqlite", clock=clock) as store:
            bo = store.get("bo@example.org")
            assert bo is not None and (bo.state, bo.source) == ("unsubscribed", "one-click")
            assert [s.address for s in store.confirmed()] == ["ann@example.org", "cy@example.org"]

        inbox.received.clear()
        digest(site, "send", second)
    assert sorted(inbox.counts()) == ["ann@example.org", "cy@example.org"]
