"""One message from the bounce mailbox -> a `Report`: what happened to which recipient, and how to find them.

Read with the standard `email` package (compat32: bounce mailboxes hold every kind of broken
header, and this policy never raises on one):

- a delivery-status notification (RFC 3464: multipart/report; report-type=delivery-status)
  gives one `Failure` per recipient: Final-Recipient, Original-Recipient, Action, Status and
  Diagnostic-Code, classed by the enhanced status code (RFC 3463):
    hard      5.1.x (bad address: no such user, bad domain, 5.1.10 null MX) and 5.2.1 (mailbox
              disabled): the address is bad; the reader is marked bounced
    rejected  any other 5.x.x, 5.7.x policy above all: counted, never marked (the address is fine,
              the message or the sender was refused)
    soft      4.x.x, or Action: delayed: counted on the reader, never marked
  Delivered, relayed and expanded recipients are dropped.
- an abuse report (ARF, RFC 5965: multipart/report; report-type=feedback-report with
  Feedback-Type: abuse), or a Microsoft JMRP report (the complained-of message attached,
  its recipient in X-HmXmrOriginalRecipient), is a complaint about `complained`.
- anything else (an auto-reply, a human's answer, a bounce in free text) is "unparsed" with the reason.

Each report also carries what maps it back to a reader: the addresses the bounce was delivered
to (the VERP address: `verp_token` reads the reader's id back from it), and the returned
message's Message-ID (digest's are deterministic per issue and recipient).
"""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, replace
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from typing import Literal

Kind = Literal["hard", "rejected", "soft"]
ReportKind = Literal["dsn", "complaint", "unparsed"]

ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To")
COMPLAINT_TYPES = ("abuse",)  # RFC 5965 feedback types that mean "this reader called it spam"
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_TOKEN = "[A-Za-z0-9_-]+"  # a reader's sid (secrets.token_urlsafe)
MAX_FIELD = 500  # characters kept of a diagnostic or a reason


@dataclass(frozen=True)
class Failure:
    """One recipient of a delivery-status notification that was not delivered."""

    kind: Kind
    final: str | None  # Final-Recipient (after any forwarding)
    original: str | None  # Original-Recipient: the address digest sent to, when the MTA kept it
    action: str
    status: str  # "5.1.1"
    diagnostic: str

    @property
    def detail(self) -> str:
        """What is recorded beside the mark: the status and the receiving server's words."""
        return f"{self.status} {self.diagnostic}".strip()[:MAX_FIELD]


@dataclass(frozen=True)
class Report:
    """What one message in the bounce mailbox says, and what can map it back to a reader."""

    kind: ReportKind
    message_id: str | None  # the bounce's own Message-ID (with the mailbox, what makes it processed once)
    subject: str
    envelope_to: tuple[str, ...]  # where the bounce was delivered: the VERP address, when one was used
    original_message_id: str | None  # the Message-ID of the message that bounced or was complained about
    original_return_path: str | None  # its envelope sender, when the report carries its headers
    failures: tuple[Failure, ...] = ()  # dsn: the recipients not delivered
    complained: tuple[str, ...] = ()  # complaint: Original-Rcpt-To, else the original message's To
    feedback: str = ""  # complaint: the Feedback-Type and User-Agent, for the record
    reason: str = ""  # unparsed: why


def classify(status: str, action: str) -> Kind | None:
    """hard / rejected / soft for an enhanced status code and a DSN Action; None for a delivered one."""
    action = action.lower()
    if action in ("delivered", "relayed", "expanded"):
        return None
    match = _STATUS.search(status)
    if action == "delayed" or (match is not None and match.group(1) == "4"):
        return "soft"
    if match is None:
        return "rejected" if action == "failed" else None
    if match.group(1) == "2":
        return None
    subject, detail = match.group(2), match.group(3)
    if subject == "1" or (subject, detail) == ("2", "1"):
        return "hard"
    return "rejected"


def parse_report(raw: bytes) -> Report:
    """Read one raw message (as fetched) into a Report; never raises on malformed input."""
    msg = email.message_from_bytes(raw)
    original = _original_headers(msg)
    report = Report(
        "unparsed",
        message_id=_msgid(msg.get("Message-ID")),
        subject=_text(msg.get("Subject", "")),
        envelope_to=_envelope(msg),
        original_message_id=_msgid(original.get("Message-ID")) if original is not None else None,
        original_return_path=_address(original.get("Return-Path", "")) if original is not None else None,
    )
    dsn = _part(msg, "message/delivery-status")
    if dsn is not None:
        failures = _failures(dsn)
        if not failures:
            return replace(report, reason="a delivery-status report with no failed or delayed recipient")
        return replace(report, kind="dsn", failures=failures)
    feedback = _part(msg, "message/feedback-report")
    if feedback is not None:
        fields = _first_message(feedback) or Message()
        ftype = _one_line(fields.get("Feedback-Type", "")).lower()
        agent = _one_line(fields.get("User-Agent", ""))
        if ftype not in COMPLAINT_TYPES:
            return replace(report, reason=f"a feedback report of type {ftype or 'unknown'!r}, not a complaint")
        rcpts = _addresses(fields.get_all("Original-Rcpt-To", []))
        if not rcpts and original is not None:
            rcpts = _addresses(original.get_all("To", []))
        feedback_line = f"Feedback-Type: {ftype}; User-Agent: {agent}"[:MAX_FIELD]
        return replace(report, kind="complaint", complained=rcpts, feedback=feedback_line)
    jmrp = _addresses(original.get_all("X-HmXmrOriginalRecipient", [])) if original is not None else ()
    if jmrp:
        return replace(report, kind="complaint", complained=jmrp, feedback="Microsoft JMRP report")
    return replace(report, reason=_why_unparsed(msg))


def verp_token(addresses: tuple[str, ...] | list[str], return_path: str | None) -> str | None:
    """The `{token}` of `return_path` (e.g. bounces+{token}@example.com) in the first address that fits it."""
    if not return_path or return_path.count("{token}") != 1 or "@" not in return_path:
        return None
    local, _, domain = return_path.rpartition("@")
    before, _, after = local.partition("{token}")
    pattern = re.compile(f"{re.escape(before)}({_TOKEN}){re.escape(after)}")
    for address in addresses:
        addr_local, _, addr_domain = address.strip().rpartition("@")
        if addr_domain.lower() != domain.lower():
            continue  # the domain is case-insensitive; the token (base64url) is not
        match = pattern.fullmatch(addr_local)
        if match is not None:
            return match.group(1)
    return None


# --- the parts ------------------------------------------------------------------------------------


def _part(msg: Message, content_type: str) -> Message | None:
    for part in msg.walk():
        if part.get_content_type() == content_type:
            return part
    return None


def _first_message(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _failures(dsn: Message) -> tuple[Failure, ...]:
    """The per-recipient blocks of a message/delivery-status part (the first block is per-message)."""
    payload = dsn.get_payload()
    blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
    if not isinstance(payload, list):  # a delivery-status part the parser left as text (base64, say)
        text = dsn.get_payload(decode=True)
        if isinstance(text, bytes):
            chunks = re.split(r"\r?\n\r?\n", text.decode("utf-8", "replace"))
            blocks = [email.message_from_string(chunk) for chunk in chunks]
    out = []
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        final = _typed_address(block.get("Final-Recipient", ""))
        if final is None and "Action" not in block:
            continue
        action = _one_line(block.get("Action", "")).lower()
        diagnostic = _one_line(block.get("Diagnostic-Code", ""))
        status = _one_line(block.get("Status", ""))
        code = _code(status, diagnostic)
        kind = classify(code, action)
        if kind is None:
            continue
        diagnostic = re.sub(r"^\s*smtp\s*;\s*", "", diagnostic, flags=re.IGNORECASE)
        original = _typed_address(block.get("Original-Recipient", ""))
        out.append(Failure(kind, final, original, action, code or "", diagnostic[:MAX_FIELD]))
    return tuple(out)


def _code(status: str, diagnostic: str) -> str:
    """The enhanced status code: Status, unless it is a bare X.0.0 (Exim's habit) and the receiving
    server's reply names a finer one of the same class (550-5.1.1 behind Status: 5.0.0)."""
    stated, said = _STATUS.search(status), _STATUS.search(diagnostic)
    if stated is None:
        return ".".join(said.groups()) if said else status
    if said is not None and stated.group(2, 3) == ("0", "0") and said.group(1) == stated.group(1):
        return ".".join(said.groups())
    return ".".join(stated.groups())


def _original_headers(msg: Message) -> Message | None:
    """The returned message's headers: a message/rfc822 part, else a text/rfc822-headers part."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            return _first_message(part)
        if ctype == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(part.get_payload())
            return email.message_from_string(text.lstrip())
    return None


def _why_unparsed(msg: Message) -> str:
    auto = _one_line(msg.get("Auto-Submitted", "")).lower()
    if auto and auto != "no":
        return f"an automatic reply (Auto-Submitted: {auto}), not a bounce"
    precedence = _one_line(msg.get("Precedence", "")).lower()
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or precedence == "auto_reply":
        return "an automatic reply, not a bounce"
    ctype = msg.get_content_type()
    if ctype == "multipart/report":
        return f"a report of type {msg.get_param('report-type') or 'unknown'!r}, not a delivery-status or abuse report"
    return f"not a delivery-status or abuse report (Content-Type: {ctype})"


# --- fields ---------------------------------------------------------------------------------------


def _one_line(value: object) -> str:
    return " ".join(str(value or "").split())


def _text(value: object) -> str:
    """A header as text, its encoded words decoded; never raises."""
    try:
        return _one_line(str(make_header(decode_header(str(value)))))
    except (UnicodeError, LookupError, ValueError):
        return _one_line(value)


def _msgid(value: object) -> str | None:
    match = re.search(r"<[^<>\s]+>", _one_line(value))
    return match.group(0) if match else None


def _address(value: str) -> str | None:
    pairs = getaddresses([_one_line(value)])
    addr = pairs[0][1] if pairs else ""
    return addr if "@" in addr else None


def _addresses(values: list[str]) -> tuple[str, ...]:
    seen = []
    for _, addr in getaddresses([_one_line(v) for v in values]):
        if "@" in addr and addr not in seen:
            seen.append(addr)
    return tuple(seen)


def _typed_address(value: object) -> str | None:
    """`rfc822; user@example.com` (RFC 3464's address-type; value) -> user@example.com."""
    text = _one_line(value)
    if ";" in text:
        kind, _, text = text.partition(";")
        if kind.strip().lower() not in ("rfc822", "utf-8"):
            return None
    text = text.strip().strip("<>").strip()
    return text if "@" in text else None


def _envelope(msg: Message) -> tuple[str, ...]:
    values: list[str] = []
    for name in ENVELOPE_HEADERS:
        values.extend(str(v) for v in msg.get_all(name, []))
    return _addresses(values)
