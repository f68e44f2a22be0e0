"""`digest summarize`: the machine-readable view of articles (spec §6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from digest.config import Settings
from digest.content import articles as content_mod
from digest.content.scan import scan
from digest.errors import ArticleError
from digest.summarize.summary import summarize


def summarize_paths(settings: Settings, paths: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """One dict per article (or per failed file) in the order given; folders sorted by path."""
    rows: list[dict[str, Any]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            articles, skipped = scan(path, settings)
            entries: list[tuple[str, dict[str, Any]]] = []
            entries += [(a.path, _article_row(a, settings)) for a in articles]
            entries += [(s.path, {"path": s.path, "error": s.reason}) for s in skipped]
            entries.sort(key=lambda e: e[0])
            rows.extend(row for _, row in entries)
            continue
        root = _content_root_for(path, settings)
        try:
            art = content_mod.read_article(path, root, settings)
        except ArticleError as exc:
            rows.append({"path": raw, "error": str(exc)})
            continue
        if art is not None:
            row = _article_row(art, settings)
            row["path"] = raw
            rows.append(row)
    return rows


def _content_root_for(path: Path, settings: Settings) -> Path:
    try:
        path.resolve().relative_to(settings.content_dir.resolve())
        return settings.content_dir
    except ValueError:
        return path.resolve().parent


def _article_row(art: Any, settings: Settings) -> dict[str, Any]:
    try:
        body = content_mod.load_body(art)
    except (ArticleError, OSError) as exc:
        return {"path": art.path, "error": str(exc)}
    tldr, figures = summarize(body, art.front_matter, settings.summary)
    return {
        "path": art.path,
        "title": art.title,
        "date": art.date.isoformat(),
        "draft": art.draft,
        "topics": art.topics,
        "url": art.url,
        "image": art.image,
        "tldr": tldr,
        "key_figures": [{"value": f.value, "context": f.context} for f in figures],
    }
