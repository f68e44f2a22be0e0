"""The list's config keys (subscribe:, bounces:, smtp.return_path, secret_file) and the signing secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import app_secret, secret_needed_by, secret_notice, secret_problem, settings_from_mapping
from digest.errors import ConfigError

GOOD = "f3b1c9e07a5d42e8b6c0d9a1e7f25c3b8d4a6e0f1c2b3a4d"


@pytest.mark.parametrize(("data", "key", "words"), [
    ({"mail": {"unsubscribe_url": "https://x.example/u?t={token}&e={email}"}}, "mail.unsubscribe_url", "address"),
    ({"mail": {"unsubscribe_url": "https://x.example/u?e={EMAIL}"}}, "mail.unsubscribe_url", "{token}"),
    ({"subscribe": {"public_url": "ftp://news.example.com/n"}}, "subscribe.public_url", "http(s)"),
    ({"subscribe": {"public_url": "https:///newsletter"}}, "subscribe.public_url", "host"),
    ({"subscribe": {"public_url": "https://news.example.com/n?x=1"}}, "subscribe.public_url", "no query"),
    ({"subscribe": {"confirm_ttl_hours": 0}}, "subscribe.confirm_ttl_hours", "above 0"),
    ({"subscribe": {"rate_per_ip": 0}}, "subscribe.rate_per_ip", "at least 1"),
    ({"subscribe": {"topics": ["AI", "AI"]}}, "subscribe.topics[1]", "once"),
    ({"subscribe": {"language": "xx-nope"}}, "subscribe.language", "language code"),
    ({"smtp": {"return_path": "bounces+{token}+{token}@example.com"}}, "smtp.return_path", "at most one"),
    ({"smtp": {"return_path": "bounces@{token}.example.com"}}, "smtp.return_path", "before the @"),
    ({"smtp": {"return_path": "Bounces <b@example.com>"}}, "smtp.return_path", "one address"),
    ({"bounces": {"security": "none", "imap_host": "imap.example.com"}}, "bounces.security", "127.0.0.1"),
    ({"bounces": {"imap_port": 0}}, "bounces.imap_port", "at least 1"),
])
def test_a_bad_value_names_its_key(data: dict[str, object], key: str, words: str) -> None:
    """Each rule refuses its value with one error naming the key and why."""
    with pytest.raises(ConfigError) as err:
        settings_from_mapping(data)
    assert err.value.key == key and words in str(err.value), str(err.value)


def test_good_values_load_and_public_url_gives_the_unsubscribe_url() -> None:
    """A VERP return path, a loopback IMAP without TLS (tests), and the unsubscribe URL made from public_url."""
    s = settings_from_mapping({
        "subscribe": {"public_url": "https://news.example.com/newsletter/", "topics": ["AI", "Climate"]},
        "smtp": {"return_path": "bounces+{token}@news.example.com"},
        "bounces": {"security": "none", "imap_host": "127.0.0.1", "imap_port": 1143},
    })
    assert s.mail.unsubscribe_url == "https://news.example.com/newsletter/unsubscribe?t={token}"
    assert s.subscribe.confirm_ttl_hours == 48.0 and s.subscribe.topics == ["AI", "Climate"]
    assert s.bounces.mailbox == "INBOX" and s.secret_file is None
    assert secret_needed_by(s) and not secret_needed_by(settings_from_mapping({}))
    kept = settings_from_mapping({"subscribe": {"public_url": "https://a.example"},
                                  "mail": {"unsubscribe_url": "https://b.example/u/{token}"}})
    assert kept.mail.unsubscribe_url == "https://b.example/u/{token}"


def test_the_secret_comes_from_the_environment_then_the_file_then_the_old_name(tmp_path: Path) -> None:
    """DIGEST_SECRET wins; else secret_file (relative to config.yaml, trailing newline dropped); else
    DIGEST_UNSUBSCRIBE_SECRET with a warning; else None."""
    (tmp_path / "key").write_text(GOOD[::-1] + "\n", encoding="utf-8")
    with_file = settings_from_mapping({"secret_file": "key"}, tmp_path)
    without = settings_from_mapping({}, tmp_path)
    assert app_secret(with_file, {"DIGEST_SECRET": GOOD}) == GOOD.encode()
    assert app_secret(with_file, {"DIGEST_UNSUBSCRIBE_SECRET": "old" * 12}) == GOOD[::-1].encode()
    assert app_secret(without, {"DIGEST_UNSUBSCRIBE_SECRET": GOOD}) == GOOD.encode()
    assert secret_notice(without, {"DIGEST_UNSUBSCRIBE_SECRET": GOOD})
    assert secret_notice(without, {"DIGEST_SECRET": GOOD}) is None
    assert app_secret(without, {}) is None and app_secret(without, {"DIGEST_SECRET": "  "}) is None


@pytest.mark.parametrize(("env", "file", "words"), [
    ({}, None, "no secret"),
    ({"DIGEST_SECRET": "x" * 31}, None, "31 bytes"),
    ({"DIGEST_SECRET": "ab" * 40}, None, "repeats"),
    ({}, "", "is empty"),
    ({}, "missing", "cannot read"),
])
def test_a_missing_weak_or_unreadable_secret_is_one_line(tmp_path: Path, env: dict[str, str], file: str | None,
                                                         words: str) -> None:
    """secret_problem says what is wrong in one line that never holds the secret."""
    if file == "":
        (tmp_path / "empty").write_text("\n", encoding="utf-8")
    settings = settings_from_mapping({"secret_file": {"": "empty", "missing": "nope/key"}[file]} if file is not None
                                     else {}, tmp_path)
    problem = secret_problem(settings, env)
    assert problem and words in problem and "\n" not in problem
    assert all(v not in problem for v in env.values())
    assert secret_problem(settings, {"DIGEST_SECRET": GOOD}) is None
