"""A content file's front matter, read without the rest of the file: YAML `---`, TOML `+++`, JSON `{`.

Scanning a big site must take seconds, so a file is read in one block of HEAD_BYTES and parsed up
to its closing delimiter; the body is not parsed, and a 10 MB article costs one 64 KB read. Only a
front matter longer than the block (or a JSON one cut by it) makes us read the whole file.

python-frontmatter's handlers parse the whole file, use the `toml` package rather than tomllib and
raise a different exception per format, so we detect the format and call the parsers directly.
"""

from __future__ import annotations

import codecs
import json
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from digest.errors import ArticleError
from digest.text import WARNING_MAX, one_line

HEAD_BYTES = 64 * 1024
# libyaml's parser is ~10x faster than the pure-Python one; a PyYAML built without it still works.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_OPENING = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:(---|\+\+\+)[ \t]*(?:\r?\n|\r|\Z)|(\{\s*[\"}]))")
# The closing lines, one definition each (date_line reads the YAML one on bytes).
YAML_CLOSING = r"^(?:---|\.\.\.)[ \t]*$"  # Jekyll also ends YAML with `...`
TOML_CLOSING = r"^\+\+\+[ \t]*$"
_CLOSING = {"YAML": re.compile(YAML_CLOSING, re.MULTILINE), "TOML": re.compile(TOML_CLOSING, re.MULTILINE)}
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG image bytes"),
    (b"\xff\xd8\xff", "JPEG image bytes"),
    (b"GIF87a", "GIF image bytes"),
    (b"GIF89a", "GIF image bytes"),
    (b"%PDF-", "PDF document bytes"),
    (b"PK\x03\x04", "ZIP archive bytes"),
    (b"\x1f\x8b", "gzip bytes"),
)
_UTF16_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
               (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


@dataclass
class FrontMatter:
    data: dict[str, Any]
    fmt: str  # "YAML", "TOML" or "JSON"
    body: str | None  # the body when the whole file was read anyway, else None


def read_front_matter(source: Path) -> FrontMatter | None:
    """The parsed front matter of `source`; None when the file has none (or is empty)."""
    with open(source, "rb") as fh:
        raw = fh.read(HEAD_BYTES)
        complete = len(raw) < HEAD_BYTES
        fmt = sniff_format(raw)
        if fmt is None:
            return None
        text = decode(raw, final=complete)
        found = split_front_matter(text, fmt)
        if found is None and not complete:
            raw += fh.read()
            complete = True
            text = decode(raw, final=True)
            found = split_front_matter(text, fmt)
    if found is None:
        closing = "a closing --- line" if fmt == "YAML" else "a closing +++ line" if fmt == "TOML" else "its closing }"
        raise ArticleError(f"front matter does not parse ({fmt}: no {closing})")
    fm_text, body_start, first_line = found
    data = parse_front_matter(fmt, fm_text, first_line)
    return FrontMatter(data, fmt, text[body_start:] if complete else None)


def decode(raw: bytes, *, final: bool = True) -> str:
    """UTF-8 text with the BOM dropped and line endings made `\\n`, or ArticleError naming what it is."""
    try:
        text = codecs.getincrementaldecoder("utf-8")("strict").decode(raw, final)
    except UnicodeDecodeError as exc:
        raise ArticleError(f"not UTF-8 ({_guess_encoding(raw, exc)})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def split_front_matter(text: str, fmt: str) -> tuple[str, int, int] | None:
    """(front matter text, where the body starts, file line of the front matter's first line); None when unclosed."""
    start = len(text) - len(text.lstrip())
    line = text.count("\n", 0, start) + 1
    if fmt == "JSON":
        try:
            _, end = json.JSONDecoder().raw_decode(text, start)
        except json.JSONDecodeError:
            # Let parse_front_matter report where, unless the block was only cut short.
            return (text[start:], len(text), line) if _json_complete(text, start) else None
        return text[start:end], _skip_newline(text, end), line
    first_end = text.find("\n", start)
    if first_end < 0:
        return None
    closing = _CLOSING[fmt].search(text, first_end + 1)
    if closing is None:
        return None
    return text[first_end + 1 : closing.start()], _skip_newline(text, closing.end()), line + 1


def parse_front_matter(fmt: str, text: str, first_line: int = 1) -> dict[str, Any]:
    """The mapping in `text`; ArticleError when it does not parse or is not a mapping."""
    try:
        if fmt == "YAML":
            data = yaml.load(text, Loader=_Loader)
        elif fmt == "TOML":
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ArticleError:
        raise
    except yaml.MarkedYAMLError as exc:
        raise ArticleError(f"front matter does not parse (YAML: {_yaml_problem(exc, first_line)})") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno + first_line - 1} column {exc.colno}"
        raise ArticleError(f"front matter does not parse (JSON: {exc.msg}, {where})") from None
    except (ValueError, TypeError, OverflowError, RecursionError, yaml.YAMLError) as exc:
        # tomllib.TOMLDecodeError is a ValueError; YAML raises ValueError for dates like 2025-02-30.
        message = re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) + first_line - 1}", str(exc))
        raise ArticleError(f"front matter does not parse ({fmt}: {one_line(message, WARNING_MAX)})") from None
    if data is None:
        return {}  # `---` straight after `---`: an article with no fields, as Jekyll allows
    if not isinstance(data, dict):
        raise ArticleError(f"front matter is not a mapping ({fmt} {_kind(data)})")
    return data


def sniff_format(raw: bytes) -> str | None:
    """The front matter format of a file's first bytes; None without one; ArticleError for binary or UTF-16."""
    if not raw.strip():
        return None
    for bom, name in _UTF16_BOMS:
        if raw.startswith(bom):
            raise ArticleError(f"not UTF-8 ({name} text)")
    for signature, name in _SIGNATURES:
        if raw.startswith(signature):
            raise ArticleError(f"not UTF-8 ({name})")
    head = raw[:8192]
    if b"\x00" in head:
        odd_nuls = head[1::2].count(0)
        guess = "UTF-16 text without a byte-order mark" if odd_nuls > len(head) // 3 else "binary data"
        raise ArticleError(f"not UTF-8 ({guess})")
    match = _OPENING.match(raw)
    if match is None:
        return None
    if match.group(2):
        return "JSON"
    return "YAML" if match.group(1) == b"---" else "TOML"


def _guess_encoding(raw: bytes, exc: UnicodeDecodeError) -> str:
    """A short guess at what a non-UTF-8 file is, for the warning."""
    sample = raw[: raw.rfind(b"\n")] if b"\n" in raw else raw
    try:
        sample.decode("gbk")
        # Chinese text in GBK is almost all in GB2312's range, both bytes >= 0xA1; Latin-1
        # accents followed by ASCII letters also decode as GBK but fail this test.
        pairs = re.findall(rb"[\x81-\xfe][\x40-\xfe]", sample)
        if pairs and sum(1 for p in pairs if p[1] >= 0xA1 and p[0] >= 0xA1) >= 0.8 * len(pairs):
            return "GBK-encoded"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "Latin-1/Windows-1252-encoded"
    except UnicodeDecodeError:
        pass
    line = raw.count(b"\n", 0, exc.start) + 1
    return f"invalid byte 0x{raw[exc.start]:02X} on line {line}"


def _yaml_problem(exc: yaml.MarkedYAMLError, first_line: int) -> str:
    mark = exc.context_mark if "quoted scalar" in (exc.context or "") else exc.problem_mark
    where = f" from line {mark.line + first_line}" if mark is not None else ""
    if "quoted scalar" in (exc.context or "") and "end of stream" in (exc.problem or ""):
        return f"unclosed quoted string{where}"
    return one_line(f"{exc.problem or exc.context or 'invalid YAML'}{where.replace(' from', ',')}", WARNING_MAX)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, date):
        return "date"
    return type(value).__name__


def _json_complete(text: str, start: int) -> bool:
    """Whether the braces opened at `start` close within `text` (else the block was cut short)."""
    depth, in_string, escaped = 0, False, False
    for ch in text[start:]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return True
    return False


def _skip_newline(text: str, index: int) -> int:
    return index + 1 if text.startswith("\n", index) else index
