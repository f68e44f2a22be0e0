"""Content files → Article (spec §1 and §2): which files are articles, and their fields.

Selection needs the front matter only, so `read_article` stops there and leaves `body` as None;
`load_body` reads the rest for the few articles an issue carries.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from digest.content.fields import (
    first,
    heading_of,
    image_of,
    jekyll_name,
    lower_keys,
    parse_date,
    short,
    site_url,
    text_of,
    topics_of,
    truthy,
)
from digest.config import Settings
from digest.errors import ArticleError
from digest.content.frontmatter import (
    decode,
    one_line,
    read_front_matter,
    sniff_format,
    split_front_matter,
)
from digest.models import Article, Skipped
from digest.content.permalink import article_url

SUFFIXES = (".md", ".markdown")
BUNDLE_INDEXES = ("index.md", "index.markdown")
SECTION_PAGES = ("_index.md", "_index.markdown")

# Front matter keys, lower-cased as Hugo reads them; first hit wins.
DATE_KEYS = ("publishdate", "pubdate", "date")
EXPIRY_KEYS = ("expirydate", "unpublishdate")
LASTMOD_KEYS = ("lastmod", "lastmodified", "modified", "last_modified_at")
# Jekyll's singular `category` is read with `categories`.
TOPIC_KEYS = ("main_topics", "topics", "categories", "category", "tags")


def scan(content_dir: Path, settings: Settings) -> tuple[list[Article], list[Skipped]]:
    """Every article under `content_dir` (front matter only) and every file that failed, sorted by path.

    One bad file never stops the scan: it becomes a Skipped with a one-line reason.
    """
    articles: list[Article] = []
    skipped: list[Skipped] = []
    for rel, source, problem in _walk(content_dir, follow_outside_links=settings.follow_outside_links):
        if problem:
            skipped.append(Skipped(rel, problem))
            continue
        try:
            article = read_article(source, content_dir, settings)
        except ArticleError as exc:
            skipped.append(Skipped(_article_path(rel), one_line(exc.message)))
            continue
        except Exception as exc:  # noqa: BLE001 - a bug on one odd file must not lose the whole issue
            skipped.append(Skipped(_article_path(rel), one_line(f"unexpected error: {type(exc).__name__}: {exc}")))
            continue
        if article is not None:
            articles.append(article)
    articles.sort(key=lambda a: a.path)
    skipped.sort(key=lambda s: s.path)
    return articles, skipped


def read_article(source: Path, content_dir: Path, settings: Settings) -> Article | None:
    """The article in `source`, front matter only; None when the file is not an article at all.

    Raises ArticleError with a one-line reason when the file tried to be an article and failed.
    """
    rel = _relative(source, content_dir)
    parts = rel.split("/")
    if parts[-1] in SECTION_PAGES or "_drafts" in parts[:-1]:
        return None
    try:
        head = read_front_matter(source)
    except IsADirectoryError:
        raise ArticleError("cannot read: it is a folder") from None
    except OSError as exc:
        raise ArticleError(one_line(f"cannot read: {exc.strerror or exc}")) from None
    if head is None:
        return None
    return _build(_article_path(rel), source, head.data, head.body, settings)


def load_body(article: Article) -> str:
    """The Markdown after the front matter, BOM dropped and line endings `\\n`."""
    return read_body(article.source)


def read_body(source: Path) -> str:
    """The Markdown after the front matter of `source` (all of it when there is none)."""
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ArticleError(one_line(f"cannot read: {exc.strerror or exc}")) from None
    fmt = sniff_format(raw)
    text = decode(raw)
    found = split_front_matter(text, fmt) if fmt else None
    return text[found[1] :] if found else text


def _build(path: str, source: Path, data: dict[str, Any], body: str | None, settings: Settings) -> Article:
    """Spec §2, field by field; any odd value becomes ArticleError or a fallback, never a crash."""
    fm = lower_keys(data)
    tz = settings.tz
    bundle = path.endswith("/")
    name = path.rstrip("/").rsplit("/", 1)[-1]
    stem = name if bundle else name.rsplit(".", 1)[0]
    from_name = jekyll_name(stem)

    hit = first(fm, *DATE_KEYS)
    try:
        if hit is not None:
            date = parse_date(hit[1], tz)
        elif from_name is not None:
            date = parse_date(from_name[0], tz)  # Jekyll: midnight of the file name's day, site zone
        else:
            raise ArticleError("no usable date: no date or publishDate, and the file name has no YYYY-MM-DD-")
    except (ValueError, OverflowError) as exc:
        raise ArticleError(one_line(f"no usable date: {exc}")) from None
    expiry = _optional_date(fm, EXPIRY_KEYS, settings, strict=True)

    title = text_of(fm.get("title")) if not isinstance(fm.get("title"), dict) else None
    if not title:
        if body is None:
            body = read_body(source)
        title = heading_of(body) or stem

    slug_value = text_of(fm.get("slug")) if not isinstance(fm.get("slug"), list) else None
    slug = slug_value or (from_name[1] if from_name else stem)
    draft = truthy(fm.get("draft")) is True or truthy(fm.get("published")) is False
    base_url = settings.site.base_url
    url = site_url(fm.get("url"), base_url) or _permalink(path, source, fm, settings, slug, date, stem, title)

    return Article(
        path=path,
        source=source,
        title=title,
        date=date,
        draft=draft,
        expiry=expiry,
        lastmod=_optional_date(fm, LASTMOD_KEYS, settings, strict=False),
        topics=topics_of(fm, TOPIC_KEYS),
        url=url,
        image=image_of(fm, base_url),
        slug=slug,
        front_matter=data,
    )


def _permalink(
    path: str, source: Path, fm: dict[str, Any], settings: Settings, slug: str, date: datetime, stem: str, title: str
) -> str:
    parts = path.rstrip("/").split("/")
    # Jekyll posts live in a _posts folder (maybe the content folder itself); everything else is read as Hugo.
    jekyll = "_posts" in source.parent.parts
    pattern = fm.get("permalink") if jekyll and isinstance(fm.get("permalink"), str) else settings.site.permalink
    categories = parts[: parts.index("_posts")] if "_posts" in parts else []
    raw = fm.get("categories", fm.get("category"))
    if jekyll and isinstance(raw, str):
        categories += raw.split()  # Jekyll splits a categories string on spaces
    elif jekyll and isinstance(raw, list):
        categories += [t for t in (text_of(c) for c in raw if not isinstance(c, (list, dict))) if t]
    return article_url(
        pattern,
        base_url=settings.site.base_url,
        slug=slug,
        date=date,
        tz=settings.tz,
        section=parts[0] if len(parts) > 1 else "",
        filename=stem,
        title=title,
        generator="jekyll" if jekyll else "hugo",
        categories=categories,
    )


def _optional_date(fm: dict[str, Any], keys: tuple[str, ...], settings: Settings, *, strict: bool) -> datetime | None:
    """An optional date field. A bad expiry date is an error (the article could outlive it); a bad lastmod is ignored."""
    hit = first(fm, *keys)
    if hit is None:
        return None
    try:
        return parse_date(hit[1], settings.tz)
    except (ValueError, OverflowError):
        if strict:
            raise ArticleError(f'{hit[0]}: "{short(hit[1])}" does not parse') from None
        return None


def _relative(source: Path, content_dir: Path) -> str:
    prefix = str(content_dir).rstrip(os.sep) + os.sep
    text = str(source)
    if text.startswith(prefix) and os.sep == "/":
        return text[len(prefix) :]  # the scan's case, without pathlib's slower parsing
    try:
        return source.relative_to(content_dir).as_posix()
    except ValueError:
        try:
            return source.resolve().relative_to(content_dir.resolve()).as_posix()
        except (ValueError, OSError):
            return source.name


def _article_path(rel: str) -> str:
    """A leaf bundle's index file stands for its folder, written with a trailing slash."""
    folder, _, name = rel.rpartition("/")
    return folder + "/" if folder and name in BUNDLE_INDEXES else rel


def outside_link(path: str, root: str) -> str | None:
    """Why the symbolic link at `path` is not followed: it resolves outside `root` (a real path); else None.

    A link to a private file elsewhere on the host (~/.ssh/config.md, /etc/…) must never be
    published in an issue; `content.follow_outside_links: true` lifts this for sites built of links.
    """
    target = os.path.realpath(path)
    if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
        return None
    # Not cut to the usual 160 characters: the whole target is the point of the warning.
    return one_line(
        f"a symbolic link to {target}, outside the content folder: skipped "
        "(content.follow_outside_links: true reads it)", limit=4500,
    )


def _walk(content_dir: Path, *, follow_outside_links: bool = False) -> Iterator[tuple[str, Path, str | None]]:
    """(relative path, file, problem) for every Markdown file; folders followed once each, so no symlink loop.

    A symbolic link (to a file or a folder) that resolves outside the content folder is a problem,
    not followed, unless `follow_outside_links`.
    """
    root = os.path.realpath(content_dir)
    seen: set[str] = set()
    stack: list[tuple[str, str]] = [(str(content_dir), "")]
    while stack:
        folder, rel = stack.pop()
        try:
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield (rel or ".") + "/", Path(folder), one_line(f"cannot read folder: {exc.strerror or exc}")
            continue
        names = {e.name for e in entries}
        # A leaf bundle's other files are its resources, not pages (Hugo); its _posts stay posts (Jekyll).
        bundle = bool(rel) and any(n in names for n in BUNDLE_INDEXES)
        folders: list[tuple[str, str]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue  # .git, editor swap files
            child = f"{rel}/{entry.name}" if rel else entry.name
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name != "_drafts" and (not bundle or entry.name == "_posts"):
                    away = None if follow_outside_links or not entry.is_symlink() else outside_link(entry.path, root)
                    if away:
                        yield child + "/", Path(entry.path), away
                    else:
                        folders.append((entry.path, child))
                continue
            if not entry.name.lower().endswith(SUFFIXES) or (bundle and entry.name not in BUNDLE_INDEXES):
                continue
            away = None if follow_outside_links or not entry.is_symlink() else outside_link(entry.path, root)
            yield child, Path(entry.path), away or _not_a_file(entry)
        stack.extend(reversed(folders))  # depth first in name order: the first path to a folder wins


def _not_a_file(entry: os.DirEntry[str]) -> str | None:
    """Why a Markdown name cannot be read as a file (a dangling link, a pipe), or None."""
    try:
        if entry.is_file():  # free for a plain file: the folder listing already says so
            return None
        mode = entry.stat().st_mode
    except FileNotFoundError:
        return "cannot read: a symbolic link to nothing"
    except OSError as exc:
        return one_line(f"cannot read: {exc.strerror or exc}")
    return None if stat.S_ISREG(mode) else "cannot read: not a regular file"
