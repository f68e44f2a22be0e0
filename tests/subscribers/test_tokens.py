"""Signed reader tokens: not forgeable, bound to their purpose, expiring (confirm), and free of addresses."""

from __future__ import annotations

import base64
import re

import pytest

from digest.tokens import CONFIRM, MANAGE, TokenError, make_token, read_token

SECRET = b"k3y-for-tests-0123456789abcdefghijklmnopqrstuvwxyz"
OTHER = b"an0ther-secret-0123456789abcdefghijklmnopqrstuvwxyz"
T0 = 1_750_000_000.0  # the clock of these tests: unix seconds, never the machine's
HOUR = 3600.0


def test_a_manage_token_reads_back_its_sid_and_never_expires() -> None:
    """A MANAGE token gives back its sid, a year later too (it is in every issue ever sent)."""
    token = make_token(SECRET, MANAGE, "sid_AbC-123")
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", token)  # URL-safe as it is
    assert read_token(SECRET, MANAGE, token, now=T0 + 365 * 24 * HOUR) == ("sid_AbC-123", "")


def test_a_confirm_token_carries_its_nonce_and_expires() -> None:
    """A CONFIRM token reads back (sid, nonce) within max_age, and is "expired" after it."""
    token = make_token(SECRET, CONFIRM, "sid1", "nonce1", now=T0)
    assert read_token(SECRET, CONFIRM, token, now=T0 + 47 * HOUR, max_age=48 * HOUR) == ("sid1", "nonce1")
    with pytest.raises(TokenError) as err:
        read_token(SECRET, CONFIRM, token, now=T0 + 49 * HOUR, max_age=48 * HOUR)
    assert err.value.reason == "expired"


def test_a_confirm_token_needs_the_time_it_was_made() -> None:
    """Without `now` a confirm token could never expire: refused when made; one without a time is expired."""
    with pytest.raises(ValueError, match="now"):
        make_token(SECRET, CONFIRM, "sid1", "nonce1")
    untimed = make_token(SECRET, MANAGE, "sid1", "nonce1")
    with pytest.raises(TokenError) as err:
        read_token(SECRET, MANAGE, untimed, now=T0, max_age=48 * HOUR)
    assert err.value.reason == "expired"


@pytest.mark.parametrize("how", ["other secret", "other purpose", "tampered payload", "tampered signature",
                                 "cut", "empty", "garbage", "non-ascii"])
def test_a_forged_token_is_invalid(how: str) -> None:
    """Another secret, another purpose, a changed byte, a cut or junk token: TokenError("invalid")."""
    token = make_token(SECRET, MANAGE, "sid1")
    payload, sig = token.rsplit(".", 1)
    forged_payload = base64.urlsafe_b64encode(b'["sid2"]').rstrip(b"=").decode()
    secret, purpose, candidate = {
        "other secret": (OTHER, MANAGE, token),
        "other purpose": (SECRET, CONFIRM, make_token(SECRET, MANAGE, "sid1", "n", now=T0)),
        "tampered payload": (SECRET, MANAGE, f"{forged_payload}.{sig}"),
        "tampered signature": (SECRET, MANAGE, f"{payload}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"),
        "cut": (SECRET, MANAGE, token[:-5]),
        "empty": (SECRET, MANAGE, ""),
        "garbage": (SECRET, MANAGE, "not.a.token"),
        "non-ascii": (SECRET, MANAGE, token + "é"),
    }[how]
    with pytest.raises(TokenError) as err:
        read_token(secret, purpose, candidate, now=T0, max_age=48 * HOUR if purpose == CONFIRM else None)
    assert err.value.reason == "invalid"


def test_a_token_made_by_another_secret_for_the_same_sid_is_refused() -> None:
    """Knowing the sid is not enough: a token signed with any other secret does not read."""
    with pytest.raises(TokenError):
        read_token(SECRET, MANAGE, make_token(OTHER, MANAGE, "sid1"), now=T0)


def test_a_token_carries_no_address() -> None:
    """The token decodes to the sid and nonce only: no address, no part of one."""
    address = "ann.lee@example.org"
    for token in (make_token(SECRET, MANAGE, "Qx7_sid"), make_token(SECRET, CONFIRM, "Qx7_sid", "n0", now=T0)):
        payload = token.split(".")[0]
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        assert "@" not in decoded and "ann" not in decoded and address not in token
