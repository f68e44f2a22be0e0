"""Header lines written byte by byte from structured values: the one header writer of every mail digest sends.

Headers are never written by the `email` package's folding (which in some Python versions
decodes an encoded word found in a value and writes the CR/LF it holds). Every value first
loses bidirectional controls and has each run of control characters and spaces made one
space (`clean_header`); printable ASCII without `=?` is written as it is (a display name with
specials as a quoted string), and anything else, including text that looks like an RFC 2047
encoded word, becomes UTF-8 base64 encoded words made here, so what a receiver decodes is
exactly the cleaned text. Lines are folded at 78 columns by `header_line`, only between words.

Used by an issue's messages (`message.py`) and the confirmation mail (`confirmation.py`).
"""

from __future__ import annotations

import base64
import re

from digest.errors import DigestError

_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPACES = re.compile(r"\s+")
_PLAIN = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")  # printable ASCII words, one space between
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?: [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")  # a phrase as is
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")  # dot-atom @ host
_PIECE = re.compile(r'[\x21-\x7e]+|"[\x20-\x7e]*"')  # what a header line may hold between its spaces
_WORD_BYTES = 39  # UTF-8 bytes per encoded word: 52 base64 characters, 64 with `=?utf-8?b?…?=`
FOLD_AT = 78


def clean_header(value: str, limit: int = 900) -> str:
    """`value` as one line of text: bidi controls dropped, each run of controls and spaces one space."""
    value = _SPACES.sub(" ", _CONTROL.sub(" ", _BIDI.sub("", value))).strip()
    return value[:limit].rstrip()


def _encoded_words(text: str) -> list[str]:
    """`text` as UTF-8 base64 encoded words (RFC 2047) of at most 64 characters, never splitting a character."""
    data = text.encode("utf-8", "replace")
    words = []
    start = 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a continuation byte: end before its character
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return words


def text_pieces(text: str) -> list[str]:
    """An unstructured value (a subject): its words when plain ASCII, else encoded words."""
    if not text:
        return []
    if "=?" not in text and _PLAIN.fullmatch(text):
        return text.split(" ")
    return _encoded_words(text)


def phrase_pieces(name: str) -> list[str]:
    """A display name: atoms as they are, other ASCII as one quoted string, anything else as encoded words."""
    if not name:
        return []
    if "=?" in name or not _PLAIN.fullmatch(name):
        return _encoded_words(name)
    if _ATOMS.fullmatch(name):
        return name.split(" ")
    return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']


def header_line(name: str, pieces: list[str]) -> bytes:
    """`Name: piece piece …` and CRLF, a line break (CRLF, space) before a piece that would pass 78 columns.

    Unfolding gives back the pieces joined by one space. Each piece is checked to be printable
    ASCII without spaces (or a quoted string), so no value can end the line or start a header.
    """
    lines: list[str] = []
    line = name + ":"
    for piece in pieces:
        if not _PIECE.fullmatch(piece):
            raise ValueError(f"unsafe piece in the {name} header: {piece!r}")
        if line != name + ":" and len(line) + 1 + len(piece) > FOLD_AT:
            lines.append(line)
            line = " " + piece
        else:
            line += " " + piece
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def address_line(name: str, display: str | None, addr: str) -> bytes:
    """`From:`/`To:` with one address, its display name (cleaned, at most 200 characters) before it."""
    if not _ADDR.fullmatch(addr):
        raise DigestError(f"{addr!r} is not an address digest can write in a {name} header")
    phrase = phrase_pieces(clean_header(display or "", 200))
    return header_line(name, [*phrase, f"<{addr}>"] if phrase else [addr])
