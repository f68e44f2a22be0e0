"""A file's date without parsing its front matter: for the files a build will not carry.

On a cold scan of a big site almost every file is outside the issue's range, and parsing its
YAML is most of the cost. The date line alone tells that a file is far outside the range;
anything unusual (no date line, two of them, a quoted or flow value we do not read, TOML
tables, JSON) returns None and the file is read in full. A file read this way is cached as
"date only" and read in full the day a build's range reaches it.

This runs once per file of the site on a cold scan, so the common case (a file opening with
`---\\n`, `\\n` line endings, a plain ISO date) takes a short path on the bytes: the closing line
is found with bytes.find, only the block is decoded, the date line is found on the block's bytes.
Measured on the 10k benchmark site (5 KB files, mostly Chinese): 6-7 µs a file, against ~20 µs
when the whole 8 KB head was decoded and searched as text, and ~8 µs to open and read it. The date
goes through `fields.parse_date`, the one date parser.

Only the front matter block is judged: like a broken key elsewhere in the block, bytes after it
that are not UTF-8 are for the full read to report, the day a build's range reaches the file.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from digest.content.fields import DATE_KEYS, parse_date
from digest.content.frontmatter import decode, sniff_format, split_front_matter
from digest.errors import ArticleError

# The first block only: a front matter longer than this is read in full (sniff_format looks for
# NUL bytes in the same 8 KB, so the short path rejects what it rejects).
QUICK_BYTES = 8192
_LINE = {
    "YAML": re.compile(r"^(publishdate|pubdate|date)[ \t]*:[ \t]*(.*?)[ \t]*$", re.IGNORECASE | re.MULTILINE),
    "TOML": re.compile(r"^(publishdate|pubdate|date)[ \t]*=[ \t]*(.*?)[ \t]*$", re.IGNORECASE | re.MULTILINE),
}
_YAML_LINE_BYTES = re.compile(_LINE["YAML"].pattern.encode(), re.IGNORECASE | re.MULTILINE)
_KEYS_BYTES = frozenset(key.encode() for key in DATE_KEYS)
_PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?: ?(?:Z|[+-]\d{2}:?\d{2}))?)?")
# A date this far outside the range is outside it however the full reader interprets it.
MARGIN_SECONDS = 2 * 86400


def timestamp_in(raw: bytes, complete: bool, tz: ZoneInfo) -> float | None:
    """The instant of the date line in a file's first bytes (`complete`: the whole file), or None."""
    if raw.startswith(b"---\n") and b"\r" not in raw and b"\x00" not in raw:
        # What sniff_format, decode and split_front_matter would do for this file, on the bytes.
        end = _yaml_closing(raw)
        if end < 0:
            return None
        block = raw[4:end]
        try:
            block.decode()  # the block must be text, as the full reader requires
        except UnicodeDecodeError:
            return None
        lower = block.lower()
        if lower.count(b"date") == 1:
            # The usual block: the one line that can be a date line is known, and read without a regex.
            start = lower.rfind(b"\n", 0, lower.find(b"date")) + 1
            end = lower.find(b"\n", start)
            key, colon, value = block[start : end if end >= 0 else len(block)].partition(b":")
            key = key.rstrip(b" \t").lower()
            if not colon or key not in _KEYS_BYTES:
                return None
            return _timestamp_of(value.strip(b" \t").decode(), tz)
        lines = _YAML_LINE_BYTES.findall(block)
        return _date_of({key.decode().lower(): value.decode() for key, value in lines}, len(lines), tz)
    return _timestamp_read_as_text(raw, complete, tz)


def _yaml_closing(raw: bytes) -> int:
    """Where the line that closes a YAML block opened at 0 starts (YAML_CLOSING's match), or -1."""
    at = 3  # the newline that ends the opening `---`
    while True:
        dashes = raw.find(b"\n---", at)
        dots = raw.find(b"\n...", at, dashes if dashes >= 0 else len(raw))  # `...` only counts before any `---`
        found = dots if dots >= 0 else dashes
        if found < 0:
            return -1
        end = raw.find(b"\n", found + 4)
        if not raw[found + 4 : end if end >= 0 else len(raw)].strip(b" \t"):
            return found + 1
        at = found + 1


def _timestamp_read_as_text(raw: bytes, complete: bool, tz: ZoneInfo) -> float | None:
    """timestamp_in for any file, through the general reader's steps (a test holds the two paths equal)."""
    try:
        fmt = sniff_format(raw)
        if fmt not in _LINE:
            return None
        try:
            text = decode(raw, final=complete)
        except ArticleError:
            # Only the block is judged (see the module's note): the text as far as it decodes.
            try:
                raw.decode()
            except UnicodeDecodeError as exc:
                text = decode(raw[: exc.start])
    except (ArticleError, UnicodeDecodeError):
        return None
    found = split_front_matter(text, fmt)
    if found is None:
        return None
    head = found[0]
    if fmt == "TOML":
        table = re.search(r"^\s*\[", head, re.MULTILINE)  # keys after a [table] are not top-level
        head = head[: table.start()] if table else head
    lines = _LINE[fmt].findall(head)
    return _date_of({key.lower(): value for key, value in lines}, len(lines), tz)


def _date_of(values: dict[str, str], count: int, tz: ZoneInfo) -> float | None:
    """The date of a block's date lines ({lower-cased key: value}, `count` lines in all), or None."""
    if len(values) != count:
        return None
    key = next((k for k in DATE_KEYS if k in values), None)
    return None if key is None else _timestamp_of(values[key], tz)


def _timestamp_of(value: str, tz: ZoneInfo) -> float | None:
    """The instant of a date line's value (quotes dropped), or None when YAML might read it otherwise."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    if not _PLAIN_DATE.fullmatch(value):
        return None  # a value YAML would read otherwise (a quoted time, a flow list): the full read says
    try:
        return parse_date(value, tz).timestamp()
    except (ValueError, OverflowError):
        return None


def far_outside(ts: float, low: float, high: float) -> bool:
    return ts < low - MARGIN_SECONDS or ts >= high + MARGIN_SECONDS
