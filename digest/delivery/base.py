"""The backend contract, Django-mail style: open, close, a context manager, and send.

`deliver` sends one prepared message and says what happened in an `Outcome`, which is
what the outbox needs; `send_messages` is the plain list-of-messages form for everything
else. Backends: `smtp` (a real server), `file` (.eml files), `memory` (tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from types import TracebackType
from typing import Literal

Status = Literal["sent", "temporary", "permanent", "ambiguous"]
# Called at the start of DATA (for SMTP: the recipient accepted, no byte of the message sent yet);
# may return a wait to call before the message can be accepted (the final ".").
BeforeData = Callable[[], Callable[[], None] | None]


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to, with the server's reply (or the error) in one line."""

    status: Status
    reply: str = ""
    reconnect: bool = False  # the connection is unusable: open a new one before the next message


class Backend:
    """A delivery backend. Subclasses implement `deliver`; `open`/`close` default to nothing."""

    name = "base"

    def open(self) -> None:
        """Connect (a no-op for backends without a connection); raise DeliveryError if that fails."""

    def close(self) -> None:
        """Release the connection; safe to call twice."""

    @property
    def is_open(self) -> bool:
        return True

    def __enter__(self) -> Backend:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def deliver(
        self, sender: str, recipient: str, data: bytes, before_data: BeforeData | None = None, *, dot_free: bool = False
    ) -> Outcome:
        """Send one message to one recipient.

        `before_data` is called once nothing stands between us and sending the message but
        the message itself (for SMTP: the recipient accepted, DATA sent, no byte of the
        message yet): the outbox marks the row
        `data-sent` there. If it returns a function, that is called before the message can be
        accepted (for SMTP: before the final "."; the mark's fsync is awaited there). If either
        raises, the message is not delivered and the exception propagates.

        `dot_free`: the caller knows that no line of `data` starts with "." (a MessageFactory
        message never does), so SMTP sends it without doubling such dots (RFC 5321 4.5.2), a
        scan of the whole message that costs as much as building it.
        """
        raise NotImplementedError

    @staticmethod
    def _before_data(before_data: BeforeData | None) -> None:
        """For backends that deliver in one step: the mark, then its wait, before the message."""
        if before_data is not None and (wait := before_data()) is not None:
            wait()

    def send_messages(self, messages: Sequence[EmailMessage]) -> int:
        """Send each message to every address in its To/Cc/Bcc; return how many were sent."""
        opened = not self.is_open
        if opened:
            self.open()
        sent = 0
        try:
            for msg in messages:
                sender = parseaddr(str(msg.get("Sender") or msg.get("From") or ""))[1]
                rcpts = [a for _, a in getaddresses([str(v) for k in ("To", "Cc", "Bcc") for v in msg.get_all(k, [])])]
                del msg["Bcc"]
                data = msg.as_bytes(policy=policy.SMTP)
                ok = True
                for rcpt in rcpts:
                    outcome = self.deliver(sender, rcpt, data)
                    ok = ok and outcome.status == "sent"
                    if outcome.reconnect:
                        self.close()
                        self.open()
                sent += ok and bool(rcpts)
        finally:
            if opened:
                self.close()
        return sent
