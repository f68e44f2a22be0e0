"""Is a built issue email-safe? Checks 1-4 and 7 of issue 3, over the HTML (and text) alone, and its headers.

Each check returns a list of problems, one line each, empty when it passes. They read the
document with `html.parser` (MSO conditional comments are comments, so what only Outlook
sees is not mistaken for markup) and are used by the tests and by `digest check ISSUE.html`.
The per-article part of the text check finds articles by the built-in template's `dg-`
classes; an override that keeps them keeps that check. The header checks (issue 10) read the
<title>, the manifest's subject and the .eml beside the HTML: no RFC 2047 encoded word, control
or bidirectional control in what a reader sees as the subject or a name, and a header block of
the headers digest writes, each once, with no line break inside a value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

from digest.render.text import text_width

MAX_BYTES = 100_000
TEXT_MAX_COLUMNS = 78

VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
FORBIDDEN = frozenset(
    "script noscript form input button select textarea iframe frame frameset object embed applet "
    "video audio source track picture canvas link base".split()
)
SECTIONING = frozenset("article section nav aside header footer main hgroup".split())
BAD_CSS = [
    (re.compile(r"display\s*:\s*(inline-)?(flex|grid)\b", re.I), "display:flex/grid"),
    (re.compile(r"position\s*:\s*(absolute|fixed)\b", re.I), "position:absolute/fixed"),
    (re.compile(r"(?<![-\w])float\s*:\s*(left|right|inline-start|inline-end)\b", re.I), "float"),
    (re.compile(r"@import\b", re.I), "@import"),
]


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self) -> Iterator[Node]:
        yield self
        for c in self.children:
            if isinstance(c, Node):
                yield from c.iter()

    def find_class(self, name: str) -> list[Node]:
        return [n for n in self.iter() if name in n.classes()]


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.first: str | None = None  # the first thing in the document: "decl:…", "tag:…" or "text"
        self.comments: list[str] = []
        self.styles: list[str] = []  # contents of <style> tags

    def _first(self, what: str) -> None:
        if self.first is None:
            self.first = what

    def handle_decl(self, decl: str) -> None:
        self._first("decl:" + decl)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._first("tag:" + tag)
        node = Node(tag, {k: v or "" for k, v in attrs}, self.stack[-1])
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                if tag == "style":
                    self.styles.append(self.stack[i].text())
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if data.strip():
            self._first("text")
        self.stack[-1].children.append(data)

    def handle_comment(self, data: str) -> None:
        self._first("comment")
        self.comments.append(data)


def parse(html: str) -> _Parser:
    p = _Parser()
    p.feed(html)
    p.close()
    return p


def _meta(doc: Node, name: str) -> str | None:
    for n in doc.iter():
        if n.tag == "meta" and n.attrs.get("name", "").lower() == name:
            return n.attrs.get("content", "")
    return None


# --- 1. size ---------------------------------------------------------------------------------


def check_size(html: str, max_bytes: int = MAX_BYTES) -> list[str]:
    """1. Gmail clips a message past ~102 KB: the HTML must stay under `max_bytes`."""
    size = len(html.encode("utf-8"))
    return [f"size: {size} bytes, over {max_bytes} (Gmail clips it)"] if size > max_bytes else []


# --- 2. head ---------------------------------------------------------------------------------


def check_head(html: str) -> list[str]:
    """2. Doctype first, lang, charset, viewport, a title, and both color-scheme metas."""
    p = parse(html)
    doc = p.root
    problems = []
    if not (p.first or "").lower().startswith("decl:doctype html") or not html.startswith("<!DOCTYPE html>"):
        problems.append("head: the document must start with <!DOCTYPE html>")
    root = next((n for n in doc.iter() if n.tag == "html"), None)
    lang = root.attrs.get("lang", "").strip() if root else ""
    if not lang or lang.lower() == "und":
        problems.append(f"head: <html lang> must name the language, found {lang or 'none'!r}")
    if not any(n.tag == "meta" and n.attrs.get("charset", "").lower() == "utf-8" for n in doc.iter()):
        problems.append('head: no <meta charset="utf-8">')
    if "width=device-width" not in (_meta(doc, "viewport") or "").replace(" ", ""):
        problems.append("head: no viewport meta with width=device-width")
    title = next((n for n in doc.iter() if n.tag == "title"), None)
    if title is None or not title.text().strip():
        problems.append("head: <title> is missing or empty")
    for name in ("color-scheme", "supported-color-schemes"):
        if "dark" not in (_meta(doc, name) or ""):
            problems.append(f'head: no <meta name="{name}" content="light dark">')
    return problems


# --- 3. nothing a mail client strips or blocks --------------------------------------------------


def _link_ok(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    return (scheme in ("http", "https") and bool(parts.netloc)) or (scheme == "mailto" and bool(parts.path))


def check_safe(html: str) -> list[str]:
    """3. No scripts, forms, frames, media, external CSS, flex/grid/absolute/float, sectioning tags; absolute links."""
    p = parse(html)
    problems = []
    seen: set[str] = set()
    for n in p.root.iter():
        if n.tag in FORBIDDEN and n.tag not in seen:
            seen.add(n.tag)
            problems.append(f"safe: <{n.tag}> is not allowed in email")
        if n.tag in SECTIONING and n.tag not in seen:
            seen.add(n.tag)
            problems.append(f"safe: HTML5 sectioning tag <{n.tag}>: many clients drop or misstyle it")
        style = n.attrs.get("style", "")
        for rx, what in BAD_CSS:
            if style and rx.search(style):
                problems.append(f"safe: {what} in the style attribute of <{n.tag}>")
        if n.tag in ("a", "area") and "href" in n.attrs and not _link_ok(n.attrs["href"]):
            problems.append(f"safe: link {n.attrs['href'][:80]!r} is not an absolute http(s) or mailto URL")
        if n.tag == "img":
            src = n.attrs.get("src", "")
            if urlsplit(src).scheme.lower() not in ("http", "https") or not urlsplit(src).netloc:
                problems.append(f"safe: image {src[:80]!r} is not an absolute http(s) URL")
    for css in p.styles:
        for rx, what in BAD_CSS:
            if rx.search(css):
                problems.append(f"safe: {what} in a <style> block")
    return sorted(set(problems), key=problems.index)


# Domains reserved for examples (RFC 2606): a link there is a placeholder, never the site's.
PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")


def _placeholder(host: str) -> str | None:
    """The reserved example domain `host` is, or is under; None for a real host."""
    host = host.lower().rstrip(".")
    return next((d for d in PLACEHOLDER_DOMAINS if host == d or host.endswith("." + d)), None)


def check_placeholder_links(html: str, base_url: str) -> list[str]:
    """Links and images on example.com or example.org while the site's base URL is another host: an issue
    built with a placeholder base URL (a site configuration that gave none), which would send readers nowhere."""
    own = (urlsplit(base_url.strip()).hostname or "").lower()
    found: dict[str, int] = {}
    for n in parse(html).root.iter():
        url = n.attrs.get("href") if n.tag in ("a", "area") else n.attrs.get("src") if n.tag == "img" else None
        try:
            host = (urlsplit(url.strip()).hostname or "") if url else ""
        except ValueError:
            continue
        if host and host.lower() != own and _placeholder(host):
            found[host.lower()] = found.get(host.lower(), 0) + 1
    return [
        f"links: {count} link{'s' if count > 1 else ''} point at {host}, a placeholder domain, while site.base_url is "
        f"{base_url.strip()!r}: rebuild the issue with the site's base URL"
        for host, count in sorted(found.items())
    ]


# --- 4. tables and Outlook comments -------------------------------------------------------------


def mso_comments(html: str) -> list[str]:
    """Every MSO conditional comment of the document, in order (for comparing before and after inlining)."""
    return [c for c in parse(html).comments if c.lstrip().startswith("[if") or "[endif]" in c]


def check_structure(html: str) -> list[str]:
    """4. Layout tables carry role="presentation"; MSO conditional comments are balanced."""
    p = parse(html)
    problems = []
    bare = [
        n for n in p.root.iter()
        if n.tag == "table" and n.attrs.get("role") != "presentation"
        and not any(c.tag in ("th", "caption") for c in n.iter())  # a real data table may say so
    ]
    if bare:
        problems.append(f'structure: {len(bare)} layout table(s) without role="presentation"')
    depth = 0
    for c in p.comments:
        body = c.strip()
        if body.startswith("[if"):
            depth += 1
        if body.endswith("[endif]"):
            depth -= 1
        if depth < 0:
            problems.append("structure: an <![endif]--> closes a conditional comment that was never opened")
            depth = 0
    if depth:
        problems.append(f"structure: {depth} MSO conditional comment(s) opened and never closed")
    return problems


# --- 7. the text part -------------------------------------------------------------------------


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def unsubscribe_href(html: str) -> str | None:
    """The visible unsubscribe link: the footer's first link, else a link that says unsubscribe."""
    doc = parse(html).root
    for foot in doc.find_class("dg-foot"):
        for n in foot.iter():
            if n.tag == "a" and n.attrs.get("href"):
                return n.attrs["href"]
    for n in doc.iter():
        if n.tag == "a" and re.search(r"unsubscribe|退订", n.text() + n.attrs.get("href", ""), re.I):
            return n.attrs.get("href")
    return None


def check_text(text: str, html: str | None = None) -> list[str]:
    """7. The text part reads on its own: wrapped lines, no markup, each article's parts, the unsubscribe link."""
    problems = []
    if not text.strip():
        return ["text: the text part is empty"]
    for i, line in enumerate(text.splitlines(), 1):
        if text_width(line) > TEXT_MAX_COLUMNS and len(line.split()) > 1 and not re.search(r"\w+://\S{40,}", line):
            problems.append(f"text: line {i} is {text_width(line)} columns wide (wrap at {TEXT_MAX_COLUMNS})")
    if re.search(r"</?(a|p|div|table|td|span|br)\b[^>]*>|&(amp|lt|gt|quot|#\d+);", text):
        problems.append("text: contains HTML markup or entities")
    if html is None:
        return problems
    flat = _squash(text)
    doc = parse(html).root
    cards = []
    for k, card in enumerate(doc.find_class("dg-article"), 1):
        title_nodes = card.find_class("dg-title")
        title = title_nodes[0].text().strip() if title_nodes else ""
        parts: list[tuple[str, str]] = []
        meta = card.find_class("dg-meta")
        if meta:
            parts.append(("date", "".join(c for c in meta[0].children if isinstance(c, str)).strip()))
        parts += [("TL;DR", n.text()) for n in card.find_class("dg-tldr")]
        parts += [("key figure", n.text()) for n in card.find_class("dg-kf-v")]
        links = {n.attrs["href"] for n in card.iter() if n.tag == "a" and n.attrs.get("href")}
        parts += [("link", href) for href in sorted(links)]
        cards.append((title or f"article {k}", _squash(title), parts))
    # Each article's parts must be in its own stretch of the text: from its title to the next one.
    cursor = 0
    starts = []
    for label, key, _ in cards:
        pos = flat.find(key, cursor) if key else -1
        if pos < 0:
            problems.append(f"text: {label[:50]!r}: its title is missing")
        starts.append(pos)
        cursor = pos + len(key) if pos >= 0 else cursor
    for i, (label, _key, parts) in enumerate(cards):
        begin = starts[i] if starts[i] >= 0 else 0
        later = [s for s in starts[i + 1 :] if s >= 0]
        stretch = flat[begin : later[0] if later else len(flat)]
        for what, value in parts:
            if value.strip() and _squash(value) not in stretch:
                problems.append(f"text: {label[:50]!r}: its {what} {value.strip()[:60]!r} is missing")
    for n in doc.find_class("dg-more"):
        for a in n.iter():
            if a.tag == "a" and a.attrs.get("href") and a.attrs["href"] not in text:
                problems.append(f"text: the link {a.attrs['href'][:80]!r} of the more list is missing")
    unsub = unsubscribe_href(html)
    if unsub is None:
        problems.append("text: the HTML has no visible unsubscribe link")
    elif unsub not in text:
        problems.append(f"text: the unsubscribe link {unsub[:80]!r} is missing")
    return problems


# --- headers (issue 10) ---------------------------------------------------------------------------

ENCODED_WORD = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^?\s]*\?=")
HEADER_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
BIDI_CONTROL = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
WRITTEN = frozenset(
    "from to subject date message-id mime-version list-id list-unsubscribe list-unsubscribe-post "
    "content-type content-transfer-encoding".split()
)
ONCE = ("From", "To", "Subject", "Date", "Message-ID")


def check_header_text(what: str, value: str) -> list[str]:
    """A subject or a name as the reader sees it: no encoded word (a decoder may make it a header), no controls."""
    problems = []
    word = ENCODED_WORD.search(value)
    if word:
        problems.append(f"header: the {what} carries an RFC 2047 encoded word {word.group(0)[:60]!r}")
    if HEADER_CONTROL.search(value):
        problems.append(f"header: the {what} carries a control character (a line break, an escape)")
    if BIDI_CONTROL.search(value):
        problems.append(f"header: the {what} carries a bidirectional control (it can reverse what the reader sees)")
    return problems


def check_title(html: str) -> list[str]:
    """The <title>, which is the subject: the header checks."""
    title = next((n for n in parse(html).root.iter() if n.tag == "title"), None)
    return check_header_text("title", title.text()) if title is not None else []


def check_message_bytes(data: bytes) -> list[str]:
    """A whole message (the .eml): its header block holds only what digest writes, each once, and clean values."""
    head, sep, _ = data.partition(b"\r\n\r\n")
    if not sep:
        return ["header: no blank line (CRLF CRLF) ends the header block"]
    problems = []
    names: list[str] = []
    for number, line in enumerate(head.split(b"\r\n"), 1):
        if b"\r" in line or b"\n" in line:
            problems.append(f"header: line {number} holds a bare CR or LF")
        if not line.isascii() or len(line) > 998:
            problems.append(f"header: line {number} is not ASCII or longer than 998 bytes")
        if line[:1] in (b" ", b"\t"):
            continue
        field_name, colon, _ = line.partition(b":")
        if not colon or not re.fullmatch(rb"[!-9;-~]+", field_name):
            problems.append(f"header: line {number} is neither a header nor a continuation: {line[:60]!r}")
            continue
        names.append(field_name.decode("ascii"))
    lower = [n.lower() for n in names]
    for name in sorted({n for n in names if n.lower() not in WRITTEN}):
        problems.append(f"header: {name} is not a header digest writes")
    for name in ONCE:
        if lower.count(name.lower()) != 1:
            problems.append(f"header: {name} appears {lower.count(name.lower())} times, not once")
    msg = BytesParser(policy=policy.default).parsebytes(data, headersonly=True)
    for name in ("Subject", "List-Id"):
        problems += check_header_text(name, str(msg.get(name, "")))
    for name in ("From", "To"):
        for address in getattr(msg.get(name), "addresses", ()):
            problems += check_header_text(f"{name} name", address.display_name)
    return problems


def check_built_files(html_path: Path) -> list[str]:
    """The header checks of what `digest build` wrote beside ISSUE.html: the manifest's subject and the .eml."""
    problems = []
    manifest = html_path.with_suffix(".json")
    if manifest.exists():
        try:
            subject = json.loads(manifest.read_text(encoding="utf-8")).get("subject")
        except (OSError, ValueError, AttributeError):
            subject = None
        if isinstance(subject, str):
            problems += [p.replace("header:", "manifest:", 1) for p in check_header_text("subject", subject)]
    eml = html_path.with_suffix(".eml")
    if eml.exists():
        problems += [p.replace("header:", "eml:", 1) for p in check_message_bytes(eml.read_bytes())]
    return problems


def check_issue_html(html: str, text: str | None, max_bytes: int = MAX_BYTES) -> list[str]:
    """Checks 1-4, the title's header check, and 7 when the text part is given: every problem found, one line each."""
    problems = check_size(html, max_bytes) + check_head(html) + check_safe(html) + check_structure(html)
    problems += check_title(html)
    if unsubscribe_href(html) is None:
        problems.append("footer: no visible unsubscribe link")
    if text is not None:
        problems += [p for p in check_text(text, html) if "no visible unsubscribe" not in p]
    return problems
