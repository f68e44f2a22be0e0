"""Hostile content end to end: what an article says never becomes markup, a link scheme or a header."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from sitegen import write_config
from smtp_servers import Inbox, delivery_settings, fake_render, make_issue, serve

from digest.delivery.memory import MemoryBackend
from digest.errors import DigestError
from digest.pipeline.send import send_issue

LONG = "Endless " * 625  # 5,000 characters
HOSTILE_ARTICLES = {
    "script-title": {
        "title": "Patch now: <script>alert(1)</script> & <b>bold</b>",
        "tldr": (
            "Click <a href=\"javascript:alert(2)\">here</a> or [there](javascript:alert(3))"
            " <img src=x onerror=alert(4)>"
        ),
        "url": "javascript:alert(5)",
        "featured_image": "data:image/png;base64,AAAA",
    },
    "newline-title": {
        "title": "Quarterly results\nBcc: victim@example.com\r\nX-Injected: yes",
        "url": "data:text/html,<script>alert(6)</script>",
    },
    "long-title": {"title": LONG.strip()},
}
BODY = "Revenue rose **12%** to **$4.5 billion**. See [a link](javascript:alert(7)) and <script>alert(8)</script>.\n"


class Page(HTMLParser):
    """Every tag, every URL-bearing attribute, and the visible text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.urls: list[str] = []
        self.handlers: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        for name, value in attrs:
            if name in ("href", "src", "action", "background"):
                self.urls.append(value or "")
            if name.startswith("on"):
                self.handlers.append(name)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def make_site(root: Path, port: int = 25) -> None:
    write_config(
        root,
        smtp={"host": "127.0.0.1", "port": port, "security": "none"},
        render={"subject": "{site}: {title}"},
        mail={"unsubscribe_mailto": "leave@news.example.com"},
    )
    for i, (slug, front) in enumerate(HOSTILE_ARTICLES.items()):
        fm = {"date": f"2025-07-0{i + 2}T10:00:00+08:00", **front}
        text = "---\n" + yaml.safe_dump(fm, allow_unicode=True) + "---\n\n" + BODY
        path = root / "content" / "posts" / f"{slug}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def digest(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`digest ARGS` in `root` with no DIGEST_* variable from the test's environment, only those of `env`."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}, **(env or {})}
    return subprocess.run([sys.executable, "-m", "digest", *args], cwd=root, capture_output=True, text=True,
                          timeout=300, env=env)


def build(root: Path) -> dict:
    result = digest(root, "build", "--since", "2025-07-01", "--until", "2025-07-10", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_hostile_titles_and_links_are_escaped_in_the_html(tmp_path: Path) -> None:
    """Markup from articles is text, not tags; only http(s) and mailto URLs survive; long titles are cut."""
    make_site(tmp_path)
    manifest = build(tmp_path)
    page = Page()
    page.feed(Path(manifest["files"]["html"]).read_text(encoding="utf-8"))
    assert page.tags["script"] == 0 and page.tags["iframe"] == 0 and page.tags["b"] == 0
    assert page.handlers == []
    assert page.urls and all(u.startswith(("https://", "http://", "mailto:")) for u in page.urls), page.urls
    text = "".join(page.text)
    assert "<script>alert(1)</script>" in text  # shown to the reader as text
    # A non-http `url:` is a site path under base_url (spec §2): a harmless https link.
    assert not any(u.split(":", 1)[0] in ("javascript", "data", "vbscript") for u in page.urls)
    long_titles = [t for t in page.text if "Endless Endless" in t]
    assert long_titles and all(len(t.strip()) < 1000 and "…" in t for t in long_titles)


def test_hostile_text_part_has_no_unsafe_link(tmp_path: Path) -> None:
    """The text part carries no javascript: or data: URL."""
    make_site(tmp_path)
    text = Path(build(tmp_path)["files"]["text"]).read_text(encoding="utf-8")
    # `javascript:x` as `url:` became https://news.example.com/javascript:x (a site path): not a scheme.
    assert not re.search(r"(?<![/\w])(javascript|data|vbscript):", text), text


def test_newline_in_title_never_starts_a_header(tmp_path: Path) -> None:
    """A title holding CR/LF and `Bcc:` stays inside the Subject of the message received."""
    inbox = Inbox()
    with serve(inbox) as port:
        make_site(tmp_path, port)
        (tmp_path / "content" / "posts" / "script-title.md").unlink()
        (tmp_path / "content" / "posts" / "long-title.md").unlink()
        issue_id = build(tmp_path)["issue_id"]
        sent = digest(tmp_path, "send", issue_id, "--to", "reader@example.org")
        assert sent.returncode == 0, sent.stderr
    assert len(inbox.received) == 1
    received = inbox.received[0]
    msg = received.message
    assert received.rcpts == ["reader@example.org"]
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert "Quarterly results" in msg["Subject"] and "\n" not in str(msg["Subject"])
    for part in msg.walk():
        assert part["Bcc"] is None and part["X-Injected"] is None


# -- per-recipient values only where the template put them ------------------------------------------

# The slots digest once rendered in place of each reader's link and name, and strings like them.
OLD_SLOTS = ["https://unsubscribe.digest.invalid/TOKEN", "DigestReaderName7f3a9c", "{token}", "{email}"]
HARVEST_URL = (
    "https://tracker.evil.example/c?u=https://unsubscribe.digest.invalid/TOKEN&n=DigestReaderName7f3a9c"
    "&x=https://unsubscribe.digest.invalid/&y=DigestReaderName&t={token}&e={email}"
)
SECRET = {"DIGEST_SECRET": "hostile-test-secret-5f0c-9a8b7c6d5e4f3a2b1c"}


def harvest_site(root: Path, port: int) -> None:
    """One article whose url, title and body hold the placeholders; three named readers; a token URL."""
    write_config(
        root,
        smtp={"host": "127.0.0.1", "port": port, "security": "none"},
        mail={"unsubscribe_url": "https://news.example.com/unsubscribe?t={token}"},
    )
    fm = {
        "date": "2025-07-02T10:00:00+08:00",
        "title": "Harvest " + " ".join(OLD_SLOTS),
        "url": HARVEST_URL,
        "tldr": "Read " + " ".join(OLD_SLOTS) + " now.",
    }
    path = root / "content" / "posts" / "harvest.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n" + yaml.safe_dump(fm) + "---\n\nSee " + " ".join(OLD_SLOTS) + ".\n", encoding="utf-8")
    (root / "readers.csv").write_text(
        "email,name\nann@example.org,Ann Lee\nbo@example.org,Bo\ncy@example.org,\n", encoding="utf-8"
    )


def harvest_lines(text: str) -> list[str]:
    """The text part's lines that come from the article (the footer's own link aside)."""
    lines = [line for line in text.splitlines() if "news.example.com/unsubscribe" not in line]
    return [line for line in lines if any(s in line for s in ("tracker.evil", *OLD_SLOTS))]


def test_placeholders_in_an_article_are_never_filled_in(tmp_path: Path) -> None:
    """An article's url, title and TL;DR holding the placeholder strings reach every reader byte for byte."""
    inbox = Inbox()
    with serve(inbox) as port:
        harvest_site(tmp_path, port)
        manifest = build(tmp_path)
        sent = digest(tmp_path, "send", manifest["issue_id"], "--recipients", "readers.csv", env=SECRET)
        assert sent.returncode == 0, sent.stderr
    built = Page()
    built.feed(Path(manifest["files"]["html"]).read_text(encoding="utf-8"))
    article_links = [u for u in built.urls if "tracker.evil.example" in u]
    assert article_links
    assert all(u.startswith("https://tracker.evil.example/c?u=https://unsubscribe") for u in article_links)
    built_text = harvest_lines(Path(manifest["files"]["text"]).read_text(encoding="utf-8"))
    assert any("tracker.evil.example" in line for line in built_text)
    assert len(inbox.received) == 3
    for received in inbox.received:
        msg = received.message
        page = Page()
        html = msg.get_body(("html",)).get_content()
        page.feed(html)
        assert [u for u in page.urls if "tracker.evil.example" in u] == article_links, received.rcpts
        assert harvest_lines(msg.get_body(("plain",)).get_content()) == built_text, received.rcpts
        # The reader's own link is where the template put it, and nowhere in the article.
        own = re.findall(r"<(https://news\.example\.com/unsubscribe[^>]+)>", str(msg["List-Unsubscribe"]))
        assert own and html.count(own[0].replace("&", "&amp;")) == 1
        for secret in (received.rcpts[0], own[0].split("t=")[1].split("&")[0], "Ann Lee"):
            assert all(secret not in u for u in article_links + page.urls if "tracker" in u)


# -- unsubscribe tokens need a secret ----------------------------------------------------------------


def test_send_with_a_token_url_refuses_without_the_secret(tmp_path: Path) -> None:
    """No DIGEST_SECRET with mail.unsubscribe_url: one `Error:` line, nothing sent; with it, sent."""
    inbox = Inbox()
    with serve(inbox) as port:
        harvest_site(tmp_path, port)
        issue_id = build(tmp_path)["issue_id"]
        refused = digest(tmp_path, "send", issue_id, "--to", "ann@example.org")
        assert refused.returncode == 1 and inbox.received == []
        errors = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "DIGEST_SECRET" in errors[0], refused.stderr
        assert "Traceback" not in refused.stderr and "Hint:" in refused.stderr
        sent = digest(tmp_path, "send", issue_id, "--to", "ann@example.org", env=SECRET)
        assert sent.returncode == 0, sent.stderr
        assert len(inbox.received) == 1
    for output in (refused.stdout, refused.stderr, sent.stdout, sent.stderr):
        assert SECRET["DIGEST_SECRET"] not in output


def test_send_issue_refuses_before_recording_anything(tmp_path: Path) -> None:
    """The API refuses too, before the outbox is touched; without a token URL no secret is needed."""
    settings = delivery_settings(tmp_path)
    backend = MemoryBackend()
    with pytest.raises(DigestError, match="DIGEST_SECRET"):
        send_issue(
            settings, make_issue(), ["ann@example.org"], backend=backend, render=fake_render, env={}
        )
    assert backend.outbox == [] and not settings.state_path.exists()
    mailto_only = delivery_settings(tmp_path, mail={"unsubscribe_url": None})
    report = send_issue(mailto_only, make_issue(), ["ann@example.org"], backend=backend, render=fake_render,
                        env={})
    assert report.sent == 1 and len(backend.outbox) == 1


def test_check_reports_a_token_url_without_the_secret(tmp_path: Path) -> None:
    """`digest check` exits 1 naming DIGEST_SECRET when unsubscribe_url is set and it is not."""
    harvest_site(tmp_path, 25)
    missing = digest(tmp_path, "check")
    assert missing.returncode == 1 and "DIGEST_SECRET" in missing.stdout, missing.stdout
    present = digest(tmp_path, "check", env=SECRET)
    assert "DIGEST_SECRET" not in present.stdout and present.returncode == 0, present.stdout
    assert SECRET["DIGEST_SECRET"] not in missing.stdout + present.stdout
