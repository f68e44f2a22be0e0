"""Delivery: build each subscriber's message, send it through a backend, and keep the outbox.

`send_issue` is what `digest send` and the schedule call. Backends share one small
contract (`base.Backend`): `smtp`, `file` and `memory`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digest.config import Settings
    from digest.delivery.base import Backend

# Loaded on first use: `digest build` needs only the message factory, and importing smtplib,
# the outbox and the sender would cost every build ~10 ms.
_EXPORTS = {
    "Backend": "base", "Outcome": "base", "FileBackend": "file", "MemoryBackend": "memory",
    "NAME_PLACEHOLDER": "message", "UNSUBSCRIBE_PLACEHOLDER": "message", "MessageFactory": "message",
    "build_message": "message", "Outbox": "outbox", "outbox_summary": "outbox", "Recipient": "recipients",
    "RecipientList": "recipients", "collect_recipients": "recipients", "SendReport": "report",
    "send_issue": "sender", "SmtpBackend": "smtp",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


BACKENDS = ("smtp", "file", "memory")


def get_backend(name: str, settings: Settings, *, folder: Path | None = None) -> Backend:
    """A backend by its short name: smtp (from settings.smtp), file (.eml files in `folder`), memory."""
    from digest.config import smtp_password
    from digest.delivery.file import FileBackend
    from digest.delivery.memory import MemoryBackend
    from digest.delivery.smtp import SmtpBackend

    if name == "smtp":
        return SmtpBackend(settings.smtp, smtp_password())
    if name == "file":
        return FileBackend(folder or settings.out_dir / "outbox")
    if name == "memory":
        return MemoryBackend()
    raise ValueError(f"unknown delivery backend {name!r}: expected one of {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS", "Backend", "FileBackend", "MemoryBackend", "MessageFactory", "NAME_PLACEHOLDER", "Outbox",
    "Outcome", "Recipient", "RecipientList", "SendReport", "SmtpBackend", "UNSUBSCRIBE_PLACEHOLDER",
    "build_message", "collect_recipients", "get_backend", "outbox_summary", "send_issue",
]
