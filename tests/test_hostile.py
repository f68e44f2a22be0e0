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

import yaml
from sitegen import write_config
from smtp_servers import Inbox, serve

LONG = "Endless " * 625  # 5,000 characters
HOSTILE_ARTICLES = {
    "script-title": {
        "title": "Patch now: <script>alert(1)</script> & <b>bold</b>",
        "tldr": "Click <a href=\"javascript:alert(2)\">here</a> or [there](javascript:alert(3)) <img src=x onerror=alert(4)>",
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


def digest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
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
