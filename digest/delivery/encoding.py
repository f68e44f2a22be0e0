"""Content-Transfer-Encodings of a mail's text parts: quoted-printable and base64, CRLF line ends.

No encoded line starts with ".", so a message made of them goes over SMTP without dot-stuffing
(RFC 5321 4.5.2). Used by an issue's messages (`message.py`, which also splices each reader's
values into parts encoded once) and the confirmation mail (`confirmation.py`).
"""

from __future__ import annotations

import base64
import binascii

CRLF = b"\r\n"
MAX_LINE = 76  # characters of an encoded line, CRLF not counted (RFC 2045)
_HIGH_BYTES = bytes(range(0x80, 0x100))


def choose_encoding(data: bytes) -> str:
    """Quoted-printable for mostly-ASCII parts (readable), base64 when it would be shorter (CJK)."""
    high = len(data) - len(data.translate(None, _HIGH_BYTES))
    return "quoted-printable" if 2 * high < 0.35 * max(len(data), 1) else "base64"


def base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ending in CRLF."""
    return base64.encodebytes(data).replace(b"\n", CRLF)


def quoted_printable(data: bytes, *, continued: bool = False) -> bytes:
    """Quoted-printable, CRLF line ends, in lines of at most 76 characters none of which starts with ".".

    A line that would start with "." has it written "=2E", the same octet: SMTP would otherwise
    have to double such dots on the wire (RFC 5321 4.5.2), a scan of the whole message per
    recipient; a message with none goes out as it is. `continued`: the text goes on after it
    on the same line (the next piece follows a soft break, which this adds), so its last line
    keeps a column free for the "=".
    """
    lines = binascii.b2a_qp(data, False, True, False).split(b"\n")
    soft = continued and lines[-1] != b""  # a piece that ends its line needs no soft break
    if soft:
        lines[-1] += b"="
    # b2a_qp itself writes lines of 77-78 characters when it escapes a space before a line break.
    if any(len(line) > MAX_LINE or line.startswith(b".") for line in lines):
        lines = [fitted for line in lines for fitted in _fit(line)]
    return CRLF.join(lines) + (CRLF if soft else b"")


def _fit(line: bytes) -> list[bytes]:
    """One quoted-printable line as lines of at most 76 characters, softly broken (never inside an
    "=XX"), none starting with "."."""
    out = []
    while True:
        if line.startswith(b"."):
            line = b"=2E" + line[1:]
        if len(line) <= MAX_LINE:
            out.append(line)
            return out
        cut = MAX_LINE - 1
        while b"=" in line[cut - 2 : cut]:  # an escape would straddle the break: break before it
            cut -= 1
        out.append(line[:cut] + b"=")
        line = line[cut:]
