"""Front matter values made into Article fields: dates, text, topics, links (spec §2).

Front matter is written by hand, so any value may have any type: every function here takes
`Any` and either returns a usable value, None, or raises ValueError with a short reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from digest.content.permalink import encode_url, join_url, resource_url

# 2025-06-13 · 2025-07-05T11:10:04+08:00 · 2025-01-29 18:15:32 +0530 · 2025-06-13 10:00 Z.
# One Jekyll post repeats its year before the offset ("18:30:22 2023 -0800"); Ruby reads it.
_DATE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"(?:\s+(\d{4}))?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
# The date keys, lower-cased as Hugo reads them; the first with a value wins (the date line reads them too).
DATE_KEYS = ("publishdate", "pubdate", "date")
_JEKYLL_NAME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-(.+)$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEADING = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_COMMAS = re.compile(r"[,，]")
_TRUE = {"true", "yes", "y", "on", "1", "t"}
_FALSE = {"false", "no", "n", "off", "0", "f"}


def lower_keys(data: Mapping[Any, Any]) -> dict[str, Any]:
    """Front matter keys folded to lower case, as Hugo reads them; the first spelling wins."""
    folded: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str):
            folded.setdefault(key.lower(), value)
    return folded


def first(fm: Mapping[str, Any], *keys: str) -> tuple[str, Any] | None:
    """The first of `keys` with a value that is not null or blank, with its key."""
    for key in keys:
        value = fm.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        return key, value
    return None


def parse_date(value: Any, tz: ZoneInfo) -> datetime:
    """An aware datetime; a date or time without an offset is in `tz`. ValueError when it does not parse."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0))
    elif isinstance(value, str):
        moment = _parse_date_text(value.strip())
    else:
        raise ValueError(f"{short(value)} does not parse")
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=tz)
    moment.astimezone(timezone.utc)  # raises OverflowError now, not later, for year 1 or 9999 edges
    return moment


def _parse_date_text(text: str) -> datetime:
    if _iso_shape(text):
        try:
            return datetime.fromisoformat(text)  # the usual shapes, 3x faster than the rules below
        except ValueError:
            pass  # the rules below give the reason
    match = _DATE.fullmatch(text)
    if match is None:
        try:
            # Loaded here, for the rare date that needs it: email.utils costs a warm build ~9 ms of imports.
            from email.utils import parsedate_to_datetime  # noqa: PLC0415

            return parsedate_to_datetime(text)  # RFC 2822, as in feeds: "Wed, 29 Jan 2025 18:15:32 +0530"
        except (TypeError, ValueError, IndexError):
            raise ValueError(f'"{short(text)}" does not parse') from None
    year, month, day, hour, minute, second, frac, again, offset = match.groups()
    if again is not None and again != year:
        raise ValueError(f'"{short(text)}" does not parse')
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                          int((frac or "0")[:6].ljust(6, "0")))
    except ValueError as exc:
        raise ValueError(f'"{short(text)}" does not parse ({exc})') from None
    if offset:
        moment = moment.replace(tzinfo=_offset(offset))
    return moment


def _iso_shape(text: str) -> bool:
    """Whether `text` has a shape on which `datetime.fromisoformat` and `_DATE` agree.

    YYYY-MM-DD, then [T ]HH:MM, :SS, and Z or ±HH:MM; fromisoformat reads more (20250705, weeks,
    any separator) that our rules reject, so anything else goes through the rules.
    """
    n = len(text)
    if n < 10 or text[4] != "-" or text[7] != "-":
        return False
    if n == 10:
        return True
    if n < 16 or text[10] not in "T " or text[13] != ":":
        return False
    if n == 16:
        return True
    if n < 19 or text[16] != ":":
        return False
    # fromisoformat takes an offset of +08:60 as +09:00; the rules refuse it, so such offsets go to them.
    return n == 19 or (n == 20 and text[19] == "Z") or (
        n == 25 and text[19] in "+-" and text[22] == ":" and text[20:22] <= "23" and text[23] in "012345"
    )


def _offset(text: str) -> timezone:
    if text.upper() in ("Z", "UTC", "GMT"):
        return timezone.utc
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f'offset "{text}" is out of range')
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def jekyll_name(name: str) -> tuple[date, str] | None:
    """(date, slug) from a Jekyll post name `YYYY-MM-DD-slug`; None for any other name."""
    match = _JEKYLL_NAME.match(name)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3])), match[4]
    except ValueError:
        return None


def truthy(value: Any) -> bool | None:
    """A front matter boolean (`true`, `"yes"`, 1); None when the value says neither."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    return None


def text_of(value: Any) -> str | None:
    """A scalar as text (numbers, booleans and dates too); a list joined with ", "; None otherwise."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, list):
        # Only scalars: str() of a nested structure could be huge (YAML aliases share subtrees).
        parts = [t for t in (text_of(v) for v in value if not isinstance(v, (list, dict))) if t]
        return ", ".join(parts) or None
    return None


def topics_of(fm: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    """The union of the topic fields in order; a comma-separated string is a list; duplicates (any case) once."""
    seen: set[str] = set()
    topics: list[str] = []
    for key in keys:
        value = fm.get(key)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str):
                names = _COMMAS.split(item) if ("," in item or "，" in item) else (item,)
            elif isinstance(item, (list, dict)) or item is None:
                continue  # a nested list or mapping is not a topic name
            else:
                names = [text_of(item) or ""]
            for name in names:
                name = name.strip()
                if name and name.casefold() not in seen:
                    seen.add(name.casefold())
                    topics.append(name)
    return topics


def image_of(fm: Mapping[str, Any], base_url: str, page_url: str | None = None) -> str | None:
    """featured_image, image, cover.image (or `cover` itself, a string), then the first of images: the first
    one that makes a safe link. With `page_url` (a leaf bundle's), a relative path is a page resource."""
    cover = fm.get("cover")
    images = fm.get("images")
    candidates = [
        fm.get("featured_image"),
        fm.get("image"),
        cover.get("image") if isinstance(cover, dict) else cover,
        images[0] if isinstance(images, list) and images else images,
    ]
    for value in candidates:
        if isinstance(value, dict):  # `image: {path: ...}` as jekyll-seo-tag allows
            value = value.get("path") or value.get("src") or value.get("url")
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str):
            link = image_url(value, base_url, page_url)
            if link:
                return link
    return None


def image_url(value: str, base_url: str, page_url: str | None = None) -> str | None:
    """An absolute http(s) URL kept; a site path joined to base_url; any other scheme dropped.

    A relative path (no leading `/`) with `page_url` is a page resource: relative to the page, as
    Hugo publishes a leaf bundle's files next to its page (`cranes.jpg` of /posts/harbor/ is
    /posts/harbor/cranes.jpg).
    """
    text = value.strip()
    if not text:
        return None
    if text.startswith("//"):
        text = "https:" + text  # protocol-relative, as themes write CDN links
    if _SCHEME.match(text):
        return encode_url(text) if text.lower().startswith(("http://", "https://")) else None
    if page_url and not text.startswith("/"):
        return resource_url(page_url, text)
    return join_url(base_url, text)


def site_url(value: Any, base_url: str) -> str | None:
    """Front matter `url`: an absolute http(s) URL as is, anything else a path of the site (never a link of its own)."""
    text = text_of(value) if not isinstance(value, list) else None
    if not text:
        return None
    if text.lower().startswith(("http://", "https://")):
        return encode_url(text)
    return join_url(base_url, text)


def heading_of(body: str) -> str | None:
    """The text of the body's first `# ` heading outside code blocks."""
    fence: str | None = None
    for line in body.split("\n"):
        marker = _FENCE.match(line)
        if marker:
            if fence is None:
                fence = marker.group(1)[0]
            elif marker.group(1)[0] == fence:
                fence = None
            continue
        if fence is None:
            match = _HEADING.match(line)
            if match:
                return match.group(1).strip()
    return None


def short(value: Any, limit: int = 40) -> str:
    """A value quoted in a one-line warning, cut to `limit` characters."""
    text = " ".join((value if isinstance(value, str) else text_of(value) or type(value).__name__).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
