"""Content files → Article (spec §1 and §2): which files are articles, and their fields.

Selection needs the front matter only, so `read_article` stops there and leaves `body` as None;
`load_body` reads the rest for the few articles an issue carries.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from digest.config import Settings
from digest.content.fields import (
    DATE_KEYS,
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
from digest.content.frontmatter import decode, read_front_matter, sniff_format, split_front_matter
from digest.content.permalink import HUGO_DEFAULT_PERMALINK, article_url
from digest.content.walk import article_path
from digest.errors import ArticleError
from digest.models import Article
from digest.text import WARNING_MAX, one_line

SECTION_PAGES = ("_index.md", "_index.markdown")

# Front matter keys, lower-cased as Hugo reads them; first hit wins.
EXPIRY_KEYS = ("expirydate", "unpublishdate")
LASTMOD_KEYS = ("lastmod", "lastmodified", "modified", "last_modified_at")
# Jekyll's singular `category` is read with `categories`.
TOPIC_KEYS = ("main_topics", "topics", "categories", "category", "tags")


def read_article(source: Path, content_dir: Path, settings: Settings) -> Article | None:
    """The article in `source`, front matter only; None when the file is not an article at all.

    Raises ArticleError with a one-line reason when the file tried to be an article and failed.
    """
    rel = _relative(source, content_dir)
    if never_an_article(rel):
        return None
    try:
        head = read_front_matter(source)
    except IsADirectoryError:
        raise ArticleError("cannot read: it is a folder") from None
    except OSError as exc:
        raise ArticleError(one_line(f"cannot read: {exc.strerror or exc}", WARNING_MAX)) from None
    if head is None:
        return None
    return _build(article_path(rel), source, head.data, head.body, settings)


def never_an_article(rel: str) -> bool:
    """Whether the file at `rel` (relative, POSIX) is left out by its name alone: a section page or a Jekyll draft."""
    parts = rel.split("/")
    return parts[-1] in SECTION_PAGES or "_drafts" in parts[:-1]


def not_an_article(rel: str) -> str:
    """Why the file at `rel`, read without error, is not an article (for --explain)."""
    parts = rel.split("/")
    if parts[-1] in SECTION_PAGES:
        return "not an article: a section page (_index.md)"
    if "_drafts" in parts[:-1]:
        return "not published: in a drafts folder (Jekyll's _drafts)"
    return "not an article: no front matter"


def load_body(article: Article) -> str:
    """The Markdown after the front matter, BOM dropped and line endings `\\n`."""
    return read_body(article.source)


def read_body(source: Path) -> str:
    """The Markdown after the front matter of `source` (all of it when there is none)."""
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise ArticleError(one_line(f"cannot read: {exc.strerror or exc}", WARNING_MAX)) from None
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
        raise ArticleError(one_line(f"no usable date: {exc}", WARNING_MAX)) from None
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
        image=image_of(fm, base_url, url if bundle else None),  # a leaf bundle's files are its page's
        slug=slug,
        front_matter=data,
    )


def _permalink(
    path: str, source: Path, fm: dict[str, Any], settings: Settings, slug: str, date: datetime, stem: str, title: str
) -> str:
    parts = path.rstrip("/").split("/")
    folders = parts[:-1]  # a leaf bundle's own folder is the page, not a section
    # Jekyll posts live in a _posts folder (maybe the content folder itself); everything else is read as Hugo.
    jekyll = "_posts" in source.parent.parts
    own = fm.get("permalink")
    pattern = pattern_for(settings.site.permalink, folders[0] if folders else "")
    if jekyll and isinstance(own, str):
        pattern = own
    categories = parts[: parts.index("_posts")] if "_posts" in parts else []
    raw = fm.get("categories", fm.get("category"))
    if jekyll and isinstance(raw, str):
        categories += raw.split()  # Jekyll splits a categories string on spaces
    elif jekyll and isinstance(raw, list):
        categories += [t for t in (text_of(c) for c in raw if not isinstance(c, (list, dict))) if t]
    slug_value = fm.get("slug")
    return article_url(
        pattern,
        base_url=settings.site.base_url,
        slug=slug,
        date=date,
        tz=settings.tz,
        section=folders[0] if folders else "",
        filename=stem,
        title=title,
        generator="jekyll" if jekyll else "hugo",
        categories=categories,
        sections=folders,
        slug_set=bool(text_of(slug_value)) and not isinstance(slug_value, list),
    )


def pattern_for(permalink: str | dict[str, str], section: str) -> str:
    """The permalink pattern of an article in top-level `section`: the one pattern, or the section's (Hugo's
    map form), else Hugo's default, the article's own path."""
    if isinstance(permalink, str):
        return permalink
    return permalink.get(section) or permalink.get(section.lower()) or HUGO_DEFAULT_PERMALINK


def _optional_date(fm: dict[str, Any], keys: tuple[str, ...], settings: Settings, *, strict: bool) -> datetime | None:
    """An optional date field. A bad expiry date is an error (the article could outlive it); a bad lastmod is not."""
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
