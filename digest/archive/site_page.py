"""`render.archive_to_content`: each sent issue also becomes a Markdown page of the site itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from digest.archive.manifest import load_manifest
from digest.config import Settings

ISSUE_KEY = "digest_issue"  # front matter key that marks a page as one of our own issues


def archive_sent_issue(settings: Settings, issue_id: str) -> Path | None:
    """With `render.archive_to_content`, write the sent issue's page into the site; else nothing."""
    if not settings.render.archive_to_content:
        return None
    manifest = load_manifest(settings, issue_id)
    lines = []
    for art in manifest.get("articles", []) + manifest.get("more", []):
        title = str(art.get("title", "")).replace("[", "\\[").replace("]", "\\]")
        lines.append(f"## [{title}]({art.get('url', '')})\n\n{art.get('tldr', '')}\n")
    return write_archive_page(settings, manifest, "\n".join(lines))


def write_archive_page(settings: Settings, manifest: dict[str, Any], body_text: str) -> Path:
    """Write content/newsletter/<issue-id>.md; digest itself never selects such a page."""
    folder = settings.content_dir / "newsletter"
    folder.mkdir(parents=True, exist_ok=True)
    slugs = [a["url"].rstrip("/").rsplit("/", 1)[-1] for a in manifest.get("articles", [])]
    front = {
        "title": manifest.get("subject") or f"Issue {manifest.get('number') or manifest['issue_id']}",
        "date": manifest["until"],
        ISSUE_KEY: manifest.get("number") or manifest["issue_id"],
        "articles": slugs,
    }
    page = folder / f"{manifest['issue_id']}.md"
    text = "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False) + "---\n\n" + body_text.strip() + "\n"
    page.write_text(text, encoding="utf-8")
    return page
