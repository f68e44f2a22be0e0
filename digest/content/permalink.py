"""Article URLs from a permalink pattern: our `{slug}` style and Hugo's or Jekyll's `:placeholders`.

The two generators disagree on details, and the URL must be the one the site really serves:

- Hugo reads date parts from the date as written (its own offset); Jekyll converts the date to the
  site's time zone first, so `2025-01-29 02:00 +0530` is on the 28th in Los Angeles.
- Hugo's `:title` is the slugified title; Jekyll's `:title` is the slug from the file name (or the
  `slug` field), case kept.
- Hugo lowercases the values it puts in a path; Jekyll's `:slug` does too, its `:title` does not.

Non-ASCII characters are kept through slugification and percent-encoded (UTF-8) at the end, as
Hugo's `.Permalink` does: a bare `é` or `中` in an email link is what some clients mangle.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal, NamedTuple
from urllib.parse import quote
from zoneinfo import ZoneInfo

Generator = Literal["hugo", "jekyll"]
# Hugo's path for a page no permalink pattern names: its folders, then its slug or file (bundle) name.
HUGO_DEFAULT_PERMALINK = "/:sections/:slugorcontentbasename/"

# `{name}` is our config style; `:name` is Hugo's and Jekyll's, `:sections[1:]` Hugo's slice of the
# sections. Unknown names are left as written.
_TOKEN = re.compile(r"\{([a-z_]+)\}|:([a-z_]+)(\[[a-z0-9:]*\])?")
# Characters that may stand in a URL path as they are; everything else is percent-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._~-]*")
_PLAIN_SLUG = re.compile(r"[a-z0-9._~+@-]*")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_JEKYLL_PRETTY_EXTRA = set("._~!$&'()+,;=@")


def article_url(
    pattern: str,
    *,
    base_url: str,
    slug: str,
    date: datetime,
    tz: ZoneInfo,
    section: str,
    filename: str,
    title: str,
    generator: Generator = "hugo",
    categories: Sequence[str] = (),
    sections: Sequence[str] | None = None,
    slug_set: bool = True,
) -> str:
    """The absolute URL of one article: `pattern` with its placeholders filled, joined to `base_url`.

    `sections`: the folders above the article (a bundle's own folder not counted), for Hugo's
    `:sections`; default: `section` alone. `slug_set`: whether `slug` was written in the front
    matter (Hugo's `:slug` falls back to the title, `:slugorcontentbasename` to the file name).
    """
    jekyll = generator == "jekyll"
    moment = date.astimezone(tz) if jekyll else date  # Jekyll runs in the site's zone; Hugo keeps the offset
    folders = tuple(sections) if sections is not None else ((section,) if section else ())
    page = _Page(slug, moment, section, filename, title, categories, folders, slug_set)
    table = _JEKYLL if jekyll else _HUGO

    def fill(match: re.Match[str]) -> str:
        name, cut = match.group(1) or match.group(2), match.group(3)
        if cut and not jekyll and name == "sections":
            return "/".join(hugo_urlize(s) for s in _slice(page.sections, cut[1:-1]))
        make = table.get(name)
        if make is None or cut:
            return match.group(0)
        # Our `{slug}` is the slug, else the file's (or bundle's) name: never the title, as Hugo's `:slug` may be.
        return make(page._replace(slug_set=True) if match.group(1) else page)

    path = _TOKEN.sub(fill, pattern)
    # A placeholder that came out empty (no categories) must not leave `//` in the path.
    if "//" in path:
        path = re.sub(r"/{2,}", "/", path)
    return join_url(base_url, path, keep_query=False)


def join_url(base_url: str, path: str, *, keep_query: bool = True) -> str:
    """`path` as a path of the site at `base_url`, percent-encoded; never a second scheme or host."""
    path = path.strip()
    if not _PLAIN_PATH.fullmatch(path):  # most paths need no encoding; quote() is slow
        safe = _PATH_SAFE + ("?#" if keep_query else "")
        path = quote(_STRAY_PERCENT.sub("%25", path), safe=safe)
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def resource_url(page_url: str, path: str) -> str:
    """`path`, relative to the page at `page_url` (a folder URL, or a file's whose folder is taken), encoded.

    `./` and `../` are resolved as a browser would, never above the page's host.
    """
    scheme_host, _, page_path = page_url.partition("://")
    host, slash, rest = page_path.partition("/")
    folder = ("/" + rest if slash else "/").rsplit("/", 1)[0]  # `/posts/x/` -> `/posts/x`
    parts = [p for p in folder.split("/") if p]
    for piece in path.strip().split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return join_url(f"{scheme_host}://{host}", "/".join(parts))


def encode_url(url: str) -> str:
    """An absolute URL with spaces, quotes and non-ASCII percent-encoded; valid URLs come back unchanged."""
    return quote(_STRAY_PERCENT.sub("%25", url.strip()), safe=_PATH_SAFE + "?#[]")


def hugo_urlize(text: str) -> str:
    """Hugo's URLize: letters, digits, marks and `._-+~@#/` kept, spaces become one hyphen, lowercased."""
    if _PLAIN_SLUG.fullmatch(text):
        return text
    out: list[str] = []
    hyphen = False
    for ch in text:
        if ch.isalnum() or ch in "._-+~@#/\\" or unicodedata.category(ch).startswith("M"):
            if hyphen:
                out.append("-")
                hyphen = False
            out.append(ch)
        elif ch.isspace() and out:
            hyphen = True
    return "".join(out).lower()


def jekyll_slugify(text: str, *, pretty: bool = False, cased: bool = False) -> str:
    """Jekyll's Utils.slugify: runs of other characters become one hyphen, ends trimmed."""
    out: list[str] = []
    for ch in text:
        keep = ch.isalnum() or unicodedata.category(ch).startswith("M")
        if keep or (pretty and ch in _JEKYLL_PRETTY_EXTRA):
            out.append(ch)
        elif not out or out[-1] != "-":
            out.append("-")
    slug = "".join(out).strip("-")
    return slug if cased else slug.lower()


class _Page(NamedTuple):
    slug: str
    date: datetime  # already in the zone the generator reads it in
    section: str
    filename: str
    title: str
    categories: Sequence[str]
    sections: tuple[str, ...]
    slug_set: bool


def _slice(items: tuple[str, ...], cut: str) -> tuple[str, ...]:
    """Hugo's slice of the sections, as Go slices (end excluded) and never out of bounds: `1:`, `:last`, `last`, `0`."""
    def index(text: str, low: bool) -> int:
        if not text:
            return 0 if low else len(items)
        if text == "last":
            return len(items) - 1
        n = int(text) if text.isdigit() else 0
        return min(n, len(items))

    if ":" not in cut:
        at = index(cut, True)
        return items[at : at + 1] if 0 <= at < len(items) else ()
    low_text, _, high_text = cut.partition(":")
    low, high = max(index(low_text, True), 0), index(high_text, False)
    return items[low:high] if low < high else ()


def _unique_lower(items: Sequence[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        low = item.lower()
        if low and low not in out:
            out.append(low)
    return out


_DATES: dict[str, Callable[[_Page], str]] = {
    "year": lambda p: f"{p.date.year:04d}",
    "month": lambda p: f"{p.date.month:02d}",
    "day": lambda p: f"{p.date.day:02d}",
    "hour": lambda p: f"{p.date.hour:02d}",
    "minute": lambda p: f"{p.date.minute:02d}",
    "second": lambda p: f"{p.date.second:02d}",
}
_HUGO: dict[str, Callable[[_Page], str]] = {
    **_DATES,
    "monthname": lambda p: _MONTHS[p.date.month - 1],
    "weekday": lambda p: str((p.date.weekday() + 1) % 7),  # Go counts from Sunday = 0
    "weekdayname": lambda p: _WEEKDAYS[(p.date.weekday() + 1) % 7],
    "yearday": lambda p: str(p.date.timetuple().tm_yday),
    "section": lambda p: hugo_urlize(p.section),
    "sections": lambda p: "/".join(hugo_urlize(s) for s in p.sections),
    "title": lambda p: hugo_urlize(p.title),
    "slug": lambda p: hugo_urlize(p.slug if p.slug_set else p.title),
    "filename": lambda p: hugo_urlize(p.filename),
    "contentbasename": lambda p: hugo_urlize(p.filename),
    "slugorfilename": lambda p: hugo_urlize(p.slug if p.slug_set else p.filename),
    "slugorcontentbasename": lambda p: hugo_urlize(p.slug if p.slug_set else p.filename),
}
_JEKYLL: dict[str, Callable[[_Page], str]] = {
    **_DATES,
    "i_month": lambda p: str(p.date.month),
    "i_day": lambda p: str(p.date.day),
    "short_month": lambda p: _MONTHS[p.date.month - 1][:3],
    "long_month": lambda p: _MONTHS[p.date.month - 1],
    "short_year": lambda p: f"{p.date.year % 100:02d}",
    "y_day": lambda p: f"{p.date.timetuple().tm_yday:03d}",
    "short_day": lambda p: _WEEKDAYS[(p.date.weekday() + 1) % 7][:3],
    "long_day": lambda p: _WEEKDAYS[(p.date.weekday() + 1) % 7],
    "title": lambda p: jekyll_slugify(p.slug, pretty=True, cased=True),
    "slug": lambda p: jekyll_slugify(p.slug),
    "categories": lambda p: "/".join(_unique_lower(p.categories)),
    "output_ext": lambda p: ".html",
}
