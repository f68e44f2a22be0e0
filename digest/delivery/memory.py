"""The in-memory backend: keeps every message, for tests (like Django's `mail.outbox`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from digest.delivery.base import Backend, BeforeData, Outcome
from digest.delivery.message import parse_message


@dataclass(frozen=True)
class Sent:
    sender: str
    recipient: str
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return parse_message(self.data)


class MemoryBackend(Backend):
    """Stores messages in `self.outbox`; thread-safe, so parallel workers may share one.

    `respond`, when given, decides each outcome (to test how the outbox reacts to replies).
    """

    name = "memory"

    def __init__(self, respond: Callable[[str], Outcome | None] | None = None) -> None:
        self.outbox: list[Sent] = []
        self.respond = respond
        self.opened = 0
        self._lock = threading.Lock()

    def open(self) -> None:
        with self._lock:
            self.opened += 1

    def deliver(
        self, sender: str, recipient: str, data: bytes, before_data: BeforeData | None = None, *, dot_free: bool = False
    ) -> Outcome:
        outcome = self.respond(recipient) if self.respond else None
        if outcome is not None and outcome.status != "sent":
            return outcome
        self._before_data(before_data)
        with self._lock:
            self.outbox.append(Sent(sender, recipient, data))
        return outcome or Outcome("sent", "250 kept in memory")
