"""Build small throwaway sites for tests: a config.yaml and articles with chosen dates."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from digest.config import Settings, load_settings


def write_config(root: Path, **sections: Any) -> Path:
    """config.yaml in `root` for a site whose content is root/content and state root/.digest."""
    data: dict[str, Any] = {
        "site": {"title": "Test Site", "base_url": "https://news.example.com", "timezone": "Asia/Shanghai"},
        "content": "content",
        "out": "issues",
        "state": ".digest/state.sqlite",
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    (root / "content").mkdir(parents=True, exist_ok=True)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def write_article(root: Path, slug: str, when: datetime, *, title: str | None = None, body: str | None = None,
                  **front: Any) -> Path:
    """One article under content/posts/ dated `when`, with a bold figure so it has a key-figures box."""
    fm = {"title": title or f"Article {slug}", "date": when.isoformat(), **front}
    text = "---\n" + yaml.safe_dump(fm, allow_unicode=True) + "---\n\n"
    text += body or f"The {slug} story: revenue rose **12%** to **$4.5 billion** this quarter.\n"
    path = root / "content" / "posts" / f"{slug}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def settings_for(root: Path) -> Settings:
    return load_settings(root / "config.yaml", env={})
