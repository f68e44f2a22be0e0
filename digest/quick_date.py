"""A file's date without parsing its front matter: for the files a build will not carry.

On a cold scan of a big site almost every file is outside the issue's range, and parsing its
YAML is most of the cost. The date line alone tells that a file is far outside the range;
anything unusual (no date line, two of them, a quoted or flow value we do not read, TOML
tables, JSON) returns None and the file is read in full. A file read this way is cached as
"date only" and read in full the day a build's range reaches it.
"""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

from .article_fields import parse_date
from .errors import ArticleError
from .frontmatter_read import HEAD_BYTES, decode, sniff_format, split_front_matter

DATE_KEYS = ("publishdate", "pubdate", "date")  # the order content.py reads them in
_LINE = {
    "YAML": re.compile(r"^(publishdate|pubdate|date)[ \t]*:[ \t]*(.*?)[ \t]*$", re.IGNORECASE | re.MULTILINE),
    "TOML": re.compile(r"^(publishdate|pubdate|date)[ \t]*=[ \t]*(.*?)[ \t]*$", re.IGNORECASE | re.MULTILINE),
}
_PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?: ?(?:Z|[+-]\d{2}:?\d{2}))?)?")
# A date this far outside the range is outside it however the full reader interprets it.
MARGIN_SECONDS = 2 * 86400


def quick_timestamp(source: Path, tz: ZoneInfo) -> float | None:
    """The instant of `source`'s date line, or None when only a full read can tell."""
    try:
        with open(source, "rb") as fh:
            raw = fh.read(HEAD_BYTES)
        fmt = sniff_format(raw)
        if fmt not in _LINE:
            return None
        text = decode(raw, final=len(raw) < HEAD_BYTES)
    except (OSError, ArticleError, UnicodeDecodeError):
        return None
    found = split_front_matter(text, fmt)
    if found is None:
        return None
    head = found[0]
    if fmt == "TOML":
        table = re.search(r"^\s*\[", head, re.MULTILINE)  # keys after a [table] are not top-level
        head = head[: table.start()] if table else head
    lines = _LINE[fmt].findall(head)
    values = {key.lower(): value for key, value in lines}
    if len(values) != len(lines):
        return None
    key = next((k for k in DATE_KEYS if k in values), None)
    if key is None:
        return None
    value = values[key]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    if not _PLAIN_DATE.fullmatch(value):
        return None
    try:
        return parse_date(value, tz).timestamp()
    except (ValueError, OverflowError, ArticleError):
        return None


def far_outside(ts: float, low: float, high: float) -> bool:
    return ts < low - MARGIN_SECONDS or ts >= high + MARGIN_SECONDS
