"""The whole path from the README: build the sample issue, look at it, send it to a real SMTP server."""

from __future__ import annotations

import email
import json
import os
import shutil
import socket
import subprocess
import sys
from email import policy
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

REPO = Path(__file__).resolve().parents[2]


class Inbox:
    """An aiosmtpd handler that keeps every message it receives, with its envelope."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201 - aiosmtpd's hook
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_inbox():
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd's start-up check cannot use port 0: find a free one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def sample_site(tmp_path: Path) -> Path:
    """A copy of the repo's sample site (config.yaml and content/), so the test writes nothing in the repo."""
    shutil.copytree(REPO / "content", tmp_path / "content")
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    return tmp_path


def digest(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, **(env or {})},
    )


class LinkText(HTMLParser):
    """Collects visible text and the href of every link."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "title", "head"):
            self._skip += 1
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title", "head"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def test_build_sample_issue_shows_title_link_tldr_and_figures(sample_site: Path) -> None:
    """`digest build --since 2025-07-01` on the sample writes an issue with the sample article in full."""
    result = digest(sample_site, "build", "--since", "2025-07-01", "--until", "2025-08-01", "--json")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    html_path = Path(manifest["files"]["html"])
    assert html_path.parent == sample_site / "issues"
    assert Path(manifest["files"]["text"]).exists()
    dates = [a["date"] for a in manifest["articles"]]
    assert dates == sorted(dates, reverse=True)
    parser = LinkText()
    parser.feed(html_path.read_text(encoding="utf-8"))
    text = " ".join(parser.text)
    assert "智力资本的狂想曲：当硅谷向AI的基石与细分腹地深挖" in text
    assert "https://news.example.com/posts/ai-capital/" in parser.links
    assert "535亿美元" in text
    assert "美国AI初创公司正经历一场前所未有的资本狂欢" in text
    assert "新闻简报 Newsroom Digest" in text
    plain = Path(manifest["files"]["text"]).read_text(encoding="utf-8")
    assert "535亿美元" in plain and "https://news.example.com/posts/ai-capital/" in plain


def test_build_with_topic_keeps_only_matching_articles(sample_site: Path) -> None:
    """`--topic` keeps only articles with one of the topics."""
    result = digest(sample_site, "build", "--since", "2025-07-01", "--until", "2025-08-01", "--json",
                    "--topic", "风险投资")
    assert result.returncode == 0, result.stderr
    paths = [a["path"] for a in json.loads(result.stdout)["articles"]]
    assert paths == ["posts/2025-07-05-ai-capital.md"]


def test_empty_selection_writes_no_issue(sample_site: Path) -> None:
    """A range with no articles says so and writes nothing."""
    result = digest(sample_site, "build", "--since", "2020-01-01", "--until", "2020-02-01")
    assert result.returncode == 0
    assert "No articles" in result.stderr
    assert not (sample_site / "issues").exists()


def test_broken_article_is_reported_and_the_issue_still_built(sample_site: Path) -> None:
    """A file whose front matter does not parse is one warning line; the rest is built."""
    (sample_site / "content" / "posts" / "broken.md").write_text("---\ntitle: 'unclosed\ndate: 2025-07-06\n---\nx\n")
    result = digest(sample_site, "build", "--since", "2025-07-01", "--until", "2025-08-01", "--json")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "broken.md" in line]
    assert len(warnings) == 1 and "front matter" in warnings[0]
    assert len(json.loads(result.stdout)["articles"]) >= 3


def test_bad_config_names_key_and_expectation(sample_site: Path) -> None:
    """A wrong value in config.yaml is a one-line error naming the key and what was expected."""
    (sample_site / "config.yaml").write_text("site:\n  timezone: Nowhere/Land\n", encoding="utf-8")
    result = digest(sample_site, "build", "--since", "2025-07-01")
    assert result.returncode == 2
    assert "site.timezone" in result.stderr and "expected" in result.stderr


def test_send_delivers_one_multipart_alternative_message_per_recipient(sample_site: Path, smtp_inbox) -> None:
    """`digest send` to a local SMTP server: exactly one text+HTML message per recipient."""
    inbox, port = smtp_inbox
    built = digest(sample_site, "build", "--since", "2025-07-01", "--until", "2025-08-01", "--json")
    issue_id = json.loads(built.stdout)["issue_id"]
    env = {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none"}
    recipients = ["ann@example.org", "bo@example.net", "cy@example.com"]
    args = ["send", issue_id] + [x for r in recipients for x in ("--to", r)]
    result = digest(sample_site, *args, env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(r for rcpts, _ in inbox.messages for r in rcpts) == sorted(recipients)
    for rcpts, raw in inbox.messages:
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert msg.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert msg["To"] == rcpts[0]
        assert "535亿美元" in msg.get_body(("html",)).get_content()
    again = digest(sample_site, *args, env=env)
    assert again.returncode == 0
    assert len(inbox.messages) == len(recipients), "a rerun sent again"


def test_send_to_a_server_that_is_down_fails_in_one_line(sample_site: Path) -> None:
    """No SMTP server listening: one-line error, non-zero exit, nothing recorded as sent."""
    built = digest(sample_site, "build", "--since", "2025-07-01", "--until", "2025-08-01", "--json")
    issue_id = json.loads(built.stdout)["issue_id"]
    env = {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": "9", "DIGEST_SMTP_SECURITY": "none"}
    result = digest(sample_site, "send", issue_id, "--to", "ann@example.org", env=env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    status = digest(sample_site, "status", issue_id)
    assert "sent 0" in status.stdout.replace(":", "") or "0 sent" in status.stdout


def test_dry_run_lists_and_sends_nothing(sample_site: Path, smtp_inbox) -> None:
    """`--dry-run` lists who would get the issue and sends nothing."""
    inbox, port = smtp_inbox
    built = digest(sample_site, "build", "--since", "2025-07-01", "--until", "2025-08-01", "--json")
    html = json.loads(built.stdout)["files"]["html"]
    env = {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": str(port), "DIGEST_SMTP_SECURITY": "none"}
    result = digest(sample_site, "send", html, "--to", "ann@example.org", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert "ann@example.org" in result.stdout
    assert inbox.messages == []


def test_explain_gives_a_reason_for_every_file(sample_site: Path) -> None:
    """`--explain` lists every article file, selected or not, with why."""
    result = digest(sample_site, "build", "--since", "2025-07-06", "--until", "2025-08-01", "--explain")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line[:2] in ("+ ", "- ")]
    assert any(line.startswith("- posts/2025-07-05-ai-capital.md: outside the range") for line in lines)
    assert any(line.startswith("+ posts/2025-07-08-rate-pause.md") for line in lines)
