"""`digest summarize`: the machine-readable view of articles (spec §6)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from digest.config import Settings
from digest.content import articles as content_mod
from digest.content.scan import scan
from digest.content.walk import BUNDLE_INDEXES
from digest.errors import ArticleError
from digest.models import Article, Skipped
from digest.pipeline.build import neighbour_boilerplate
from digest.summarize.boilerplate import NO_BOILERPLATE, Boilerplate
from digest.summarize.summary import summarize


def summarize_paths(settings: Settings, paths: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """One dict per article (or per failed file) in the order given; folders sorted by path."""
    rows: list[dict[str, Any]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            articles, skipped, shown = _scan_folder(path, settings)
            plates = _boilerplates(articles, path, settings)
            entries: list[tuple[str, dict[str, Any]]] = []
            entries += [
                (shown(a.path), {**_article_row(a, settings, plates.get(a.source.absolute())), "path": shown(a.path)})
                for a in articles
            ]
            entries += [(shown(s.path), {"path": shown(s.path), "error": s.reason}) for s in skipped]
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
            row = _article_row(art, settings, _boilerplates([art], root, settings).get(art.source.absolute()))
            row["path"] = raw
            rows.append(row)
    return rows


def _scan_folder(folder: Path, settings: Settings) -> tuple[list[Article], list[Skipped], Callable[[str], str]]:
    """The articles of `folder` read as the site reads them, and how to show their paths (relative to `folder`).

    Inside the configured content folder (or the content folder itself), paths are the content
    folder's, so sections and URLs are the same whichever folder is passed. A folder that holds the
    content folder (the site's root) means the content folder: the articles are there, not in its
    themes or archetypes. Any other folder is a content folder of its own.
    """
    content = settings.content_dir.resolve()
    here = folder.resolve()
    if here == content or content in here.parents:
        under = here.relative_to(content).as_posix() if here != content else ""
        articles, skipped = scan(settings.content_dir, settings, under)
        cut = len(under) + 1 if under else 0
        return articles, skipped, lambda p: p[cut:]
    if here in content.parents:
        above = content.relative_to(here).as_posix() + "/"
        articles, skipped = scan(settings.content_dir, settings)
        return articles, skipped, lambda p: above + p
    articles, skipped = scan(folder, settings)
    return articles, skipped, lambda p: p


def _content_root_for(path: Path, settings: Settings) -> Path:
    """The folder a single file's path is read from: the content folder when it is inside; else its own folder
    (a leaf bundle's index: the folder above, so the file is still its bundle)."""
    try:
        path.resolve().relative_to(settings.content_dir.resolve())
        return settings.content_dir
    except ValueError:
        parent = path.resolve().parent
        return parent.parent if path.name in BUNDLE_INDEXES and parent.parent != parent else parent


def _boilerplates(articles: list[Article], folder: Path, settings: Settings) -> dict[Path, Boilerplate]:
    """What each article's neighbours share (spec §7): those of the configured content folder when `folder`
    is inside it, else of `folder`."""
    try:
        folder.resolve().relative_to(settings.content_dir.resolve())
        root = settings.content_dir
    except ValueError:
        root = folder
    pool = articles if root.resolve() == folder.resolve() else scan(root, settings)[0]
    return neighbour_boilerplate(articles, pool)


def _article_row(art: Any, settings: Settings, boilerplate: Boilerplate | None = None) -> dict[str, Any]:
    try:
        body = content_mod.load_body(art)
    except (ArticleError, OSError) as exc:
        return {"path": art.path, "error": str(exc)}
    tldr, figures = summarize(
        body, art.front_matter, settings.summary, title=art.title, boilerplate=boilerplate or NO_BOILERPLATE
    )
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
