"""`digest send ISSUE --test ADDR`: one copy of the issue, marked as a test, that counts for no one.

The copy is the issue as a reader with every topic gets it, its subject prefixed `[TEST] `,
sent straight through the backend: no outbox row, no manifest record, no subscriber-store
row, so a later real send to a list holding ADDR still sends to ADDR. Its Message-ID is its
own (the issue's id with a random suffix), never the one ADDR's real copy will carry, so a
mailbox that drops repeats by Message-ID does not drop the real one. Its unsubscribe link
carries no token (`NO_TOKEN`): a click on it, or on a forwarded test, unsubscribes no one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime

from digest.config import Settings
from digest.delivery.base import Backend, Outcome
from digest.delivery.message import MessageFactory, Slots
from digest.delivery.sender import RenderFn
from digest.models import Issue

TEST_PREFIX = "[TEST] "


@dataclass
class ProofReport:
    """What the test copy came to."""

    address: str
    outcome: Outcome
    message_id: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome.status == "sent" else 1

    def summary_line(self) -> str:
        if self.outcome.status == "sent":
            return f"Test copy sent to {self.address} ({self.outcome.reply}); it counts as no one's delivery."
        return f"Test copy to {self.address} not sent: {self.outcome.status}: {self.outcome.reply}"


def send_proof(
    settings: Settings, issue: Issue, address: str, name: str | None, *, render: RenderFn, backend: Backend,
    now: datetime,
) -> ProofReport:
    """Render and send one `[TEST]` copy of `issue` to `address` through `backend` (opened and closed here).

    Raises DeliveryError when the server cannot be reached or refuses the login."""
    slots = Slots.fresh()
    rendered = render(
        issue, settings, unsubscribe_url=slots.unsubscribe, recipient_name=slots.name if name else None
    )
    rendered = replace(rendered, subject=TEST_PREFIX + rendered.subject)
    factory = MessageFactory(settings, f"{issue.issue_id}.test-{secrets.token_hex(6)}", rendered, date=now, slots=slots)
    data = factory.build(address, name)
    backend.open()
    try:
        outcome = backend.deliver(factory.mail_from(None), address, data, dot_free=True)
    finally:
        backend.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    msgid = next((line[12:] for line in head.split("\r\n") if line.startswith("Message-ID: ")), "")
    return ProofReport(address, outcome, msgid, list(rendered.warnings))
