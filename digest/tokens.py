"""Signed, opaque tokens for the reader's links: confirm a sign-up, manage a subscription.

A token is itsdangerous' URL-safe serialisation of `[sid, nonce, issued]`, signed with
HMAC-SHA256 under the site's secret and salted with its purpose, so a MANAGE token (in every
issue: unsubscribe and preferences) is never accepted as a CONFIRM one, nor the reverse. It
names the reader only by `sid`, the random id the subscriber store gives each address: an
address never appears in a URL, a proxy's log or a Referer.

A CONFIRM token carries the row's `confirm_nonce` (a fresh one for each sign-up request, so a
token mailed before an unsubscribe or a later request confirms nothing) and the time it was
made, and expires `max_age` seconds later. A MANAGE token carries no time and never expires:
the unsubscribe link in a year-old issue must still work.

Time is an argument: `now` is unix seconds from the caller's clock. A CONFIRM token needs the
`now` it was made at (`make_token(..., now=clock())`); reading it needs `now` and `max_age`.
"""

from __future__ import annotations

import functools
import hashlib
import math
from typing import Literal

from itsdangerous import BadData, URLSafeSerializer

from digest.errors import DigestError

CONFIRM, MANAGE = "confirm", "manage"  # purposes, used as itsdangerous salts
# A token made a little "in the future" (two machines' clocks a few seconds apart) is still fine;
# one from far in the future is not something this secret's holder made with a sane clock.
CLOCK_SKEW = 300.0


class TokenError(DigestError):
    """A token that is not one of ours (forged, cut, for another purpose) or is too old."""

    def __init__(self, reason: Literal["invalid", "expired"], message: str | None = None) -> None:
        super().__init__(message or f"the link's token is {reason}")
        self.reason: Literal["invalid", "expired"] = reason


@functools.lru_cache(maxsize=16)
def _serializer(secret: bytes, purpose: str) -> URLSafeSerializer:
    """One serializer per (secret, purpose), made once: building one costs ~40 µs, more than signing."""
    if not secret:
        raise ValueError("tokens need a secret")
    return URLSafeSerializer(secret, salt=f"digest.{purpose}", signer_kwargs={"digest_method": hashlib.sha256})


def make_token(secret: bytes, purpose: str, sid: str, nonce: str = "", *, now: float | None = None) -> str:
    """A URL-safe token naming `sid` (and `nonce`) for `purpose`; no address in it.

    `now` (unix seconds) stamps the token so that `read_token(..., max_age=…)` can expire it;
    a CONFIRM token must have one.
    """
    if purpose == CONFIRM and now is None:
        raise ValueError("make_token: a CONFIRM token expires: pass now=clock()")
    payload: list[str | int] = [sid]
    if nonce or now is not None:
        payload.append(nonce)
    if now is not None:
        payload.append(int(now))
    token = _serializer(secret, purpose).dumps(payload)
    return token if isinstance(token, str) else token.decode("ascii")


def read_token(
    secret: bytes, purpose: str, token: str, *, now: float, max_age: float | None = None
) -> tuple[str, str]:
    """(sid, nonce) of a token this secret made for this purpose; TokenError("invalid"/"expired") else.

    With `max_age`, a token made more than `max_age` seconds before `now` (or with no time in
    it) is "expired".
    """
    if not isinstance(token, str) or not token or len(token) > 512 or not token.isascii():
        raise TokenError("invalid")
    try:
        payload = _serializer(secret, purpose).loads(token)
    except (BadData, ValueError, UnicodeError):
        raise TokenError("invalid") from None
    if not (isinstance(payload, list) and 1 <= len(payload) <= 3 and isinstance(payload[0], str) and payload[0]):
        raise TokenError("invalid")
    sid = payload[0]
    nonce = payload[1] if len(payload) > 1 else ""
    issued = payload[2] if len(payload) > 2 else None
    if not isinstance(nonce, str) or (issued is not None and (isinstance(issued, bool) or not isinstance(issued, int))):
        raise TokenError("invalid")
    if max_age is not None:
        if issued is None or not math.isfinite(now):
            raise TokenError("expired")
        age = now - issued
        if age > max_age or age < -CLOCK_SKEW:
            raise TokenError("expired")
    return sid, nonce
