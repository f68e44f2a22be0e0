"""One exception root: the CLI alone turns a DigestError into `Error: …` and an exit code."""

from __future__ import annotations


class DigestError(Exception):
    """A user-facing failure: a one-line message and an optional hint."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(DigestError):
    """config.yaml (or an override) is invalid; the message names the key path."""

    exit_code = 2


class ArticleError(DigestError):
    """One content file could not be used as an article; the message names the reason."""


class DeliveryError(DigestError):
    """The SMTP server could not be reached, refused us, or a send failed."""

    exit_code = 3
