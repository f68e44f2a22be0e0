"""The one address checker: is a piece of text exactly one addr-spec digest can mail?

Addresses are checked strictly, never repaired: a dot-atom before the @ (ASCII only: digest
does not speak SMTPUTF8), a host name after it, no display name, comment, quoted local part
or second address, so that `alice@corp.com .evil.io` never becomes `alice@corp.com.evil.io`.
An internationalised domain is converted to its IDNA form, and refused when that conversion
would change it (a zero-width or full-width character that IDNA folds away). The recipients
CSV, `--to`, the subscribe form, imports and the bounce parser all ask here.
"""

from __future__ import annotations

import re

_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_NAME_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bBqQ]\?")
EDGE_SPACE = " \t"  # stripped around a value; any other whitespace or control inside it is refused


def check_address(text: str) -> tuple[str | None, str]:
    """(address, "") when `text` is exactly one addr-spec (domain lower-cased, in IDNA form); else (None, reason)."""
    raw = text.strip(EDGE_SPACE)
    if not raw:
        return None, "empty address"
    if any(c in raw for c in "\r\n\x00"):
        return None, "contains a line break or NUL"
    if raw.count("@") != 1:
        return None, "not exactly one address (one @)" if "@" in raw else "not an email address"
    if any(c.isspace() or c in "<>()[],;:\\\"" for c in raw):
        return None, "not exactly one address: spaces, a display name, a comment or a list are not allowed here"
    local, domain = raw.split("@")
    if not local or len(local) > 64:
        return None, "the part before @ is empty or too long"
    if not local.isascii():
        return None, "non-ASCII before the @ (SMTPUTF8) is not supported"
    if not _LOCAL.fullmatch(local):
        return None, "the part before @ has characters an address cannot have, or a dot at an end or twice"
    if not domain.isascii():
        try:
            ascii_domain = domain.encode("idna").decode("ascii")
            same = ascii_domain.encode("ascii").decode("idna") == domain.lower()
        except UnicodeError:
            return None, "the domain is not a valid internationalised name"
        if not same:
            return None, "the domain holds characters its internationalised form would drop or change"
        domain = ascii_domain
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return None, "the domain is not a valid host name"
    return f"{local}@{domain.lower()}", ""


def check_name(name: str) -> str:
    """Why a display name cannot be used ("" when it can)."""
    if _NAME_CONTROL.search(name):
        return "control characters (a line break, a tab)"
    if _ENCODED_WORD.search(name):
        return "an RFC 2047 encoded word (=?charset?b?…?=)"
    return ""
