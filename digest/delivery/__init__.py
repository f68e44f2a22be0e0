"""Delivery: build each subscriber's message, send it through a backend, and keep the outbox.

`send_issue` is what `digest send` and the schedule call. Backends share one small
contract (`base.Backend`): `smtp`, `file` and `memory`.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Settings, smtp_password
from .base import Backend, Outcome
from .file import FileBackend
from .memory import MemoryBackend
from .message import NAME_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, MessageFactory, build_message
from .outbox import Outbox, outbox_summary
from .recipients import Recipient, RecipientList, collect_recipients
from .sender import SendReport, send_issue
from .smtp import SmtpBackend

BACKENDS = ("smtp", "file", "memory")


def get_backend(name: str, settings: Settings, *, folder: Path | None = None) -> Backend:
    """A backend by its short name: smtp (from settings.smtp), file (.eml files in `folder`), memory."""
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
