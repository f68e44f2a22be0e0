"""Reading bounce-mailbox messages: real-looking DSN and ARF samples, and what each is classed as."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.bounces.parse import classify, parse_report, verp_token
from digest.delivery.message import message_id

SAMPLES = Path(__file__).parent.parent / "fixtures" / "bounces"
ISSUE = "2025-07-01_2025-07-08"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize(
    ("status", "action", "kind"),
    [
        ("5.1.1", "failed", "hard"),  # no such user
        ("5.1.10", "failed", "hard"),  # null MX: the domain takes no mail
        ("5.1.2", "failed", "hard"),  # no such domain
        ("5.2.1", "failed", "hard"),  # mailbox disabled
        ("5.2.2", "failed", "rejected"),  # mailbox full, reported permanent: the address is fine
        ("5.7.1", "failed", "rejected"),  # policy: the sender is refused, not the address
        ("5.7.26", "failed", "rejected"),  # DMARC
        ("5.0.0", "failed", "rejected"),
        ("4.2.2", "delayed", "soft"),
        ("4.4.1", "failed", "soft"),  # given up after retries, but the last word was temporary
        ("", "delayed", "soft"),
        ("2.0.0", "delivered", None),
        ("2.1.5", "relayed", None),
    ],
)
def test_enhanced_status_codes_are_classed_hard_rejected_or_soft(status: str, action: str, kind: str | None) -> None:
    """Only 5.1.x and 5.2.1 say the address is bad; other 5.x.x are rejections; 4.x.x and delayed are soft."""
    assert classify(status, action) == kind


def test_postfix_user_unknown_is_a_hard_bounce_for_its_recipient() -> None:
    """Postfix's 550 5.1.1 DSN: one hard failure, the returned headers' Message-ID read from text/rfc822-headers."""
    report = parse_report(sample("postfix_5.1.1_user_unknown.eml"))
    assert report.kind == "dsn"
    [failure] = report.failures
    assert (failure.kind, failure.final, failure.original, failure.status) == (
        "hard", "ghost@example.org", "ghost@example.org", "5.1.1"
    )
    assert "User unknown" in failure.diagnostic and not failure.diagnostic.startswith("smtp;")
    assert report.original_message_id == message_id(ISSUE, "ghost@example.org", "example.com")
    assert report.message_id == "<20250708071403.4Zt8Qm1yQWz9sVb@mail.example.com>"


def test_exim_status_5_0_0_takes_the_finer_code_from_the_servers_reply() -> None:
    """Exim writes Status: 5.0.0 and the remote 550-5.1.1 in Diagnostic-Code: that is a hard bounce."""
    report = parse_report(sample("exim_5.1.1_verp.eml"))
    [failure] = report.failures
    assert (failure.kind, failure.status, failure.final) == ("hard", "5.1.1", "erin@example.net")
    assert "bounces+TOKEN@example.com" in report.envelope_to


def test_gmail_dsn_for_a_forwarded_address_keeps_the_original_message_id() -> None:
    """Gmail's DSN names the forwarding target; the returned headers still carry digest's Message-ID."""
    report = parse_report(sample("gmail_5.1.1_forwarded.eml"))
    [failure] = report.failures
    assert (failure.kind, failure.final) == ("hard", "carol.forward@gmail.com")
    assert report.original_message_id == message_id(ISSUE, "carol@example.net", "example.com")


def test_mailbox_full_delayed_warning_is_soft() -> None:
    """Postfix's "Delayed Mail (still being retried)" with 4.2.2 is a soft bounce."""
    [failure] = parse_report(sample("postfix_4.2.2_mailbox_full_delayed.eml")).failures
    assert (failure.kind, failure.action, failure.status) == ("soft", "delayed", "4.2.2")


def test_policy_rejection_5_7_1_is_rejected_not_hard() -> None:
    """A blocklist refusal (550 5.7.1) is about the sender: rejected, never a bad address."""
    [failure] = parse_report(sample("outlook_5.7.1_policy.eml")).failures
    assert (failure.kind, failure.status) == ("rejected", "5.7.1")


def test_arf_abuse_report_names_the_complaining_reader() -> None:
    """Yahoo's ARF report (RFC 5965): Feedback-Type abuse, Original-Rcpt-To the reader."""
    report = parse_report(sample("yahoo_arf_abuse.eml"))
    assert report.kind == "complaint"
    assert report.complained == ("dave@example.net",)
    assert "abuse" in report.feedback and "Yahoo" in report.feedback
    assert report.original_message_id == message_id(ISSUE, "dave@example.net", "example.com")


def test_arf_without_original_rcpt_to_falls_back_to_the_original_to() -> None:
    """An ARF report that leaves out Original-Rcpt-To names the reader through the attached message's To."""
    raw = sample("yahoo_arf_abuse.eml").replace(b"Original-Rcpt-To: dave@example.net\n", b"")
    assert parse_report(raw).complained == ("dave@example.net",)


def test_other_feedback_types_are_not_complaints() -> None:
    """A feedback report of type auth-failure or not-spam is filed, not counted as a complaint."""
    raw = sample("yahoo_arf_abuse.eml").replace(b"Feedback-Type: abuse", b"Feedback-Type: auth-failure")
    report = parse_report(raw)
    assert report.kind == "unparsed" and "auth-failure" in report.reason


def test_microsoft_jmrp_report_is_a_complaint() -> None:
    """Microsoft's JMRP: the complained-of message attached, its recipient in X-HmXmrOriginalRecipient."""
    report = parse_report(sample("microsoft_jmrp_complaint.eml"))
    assert (report.kind, report.complained) == ("complaint", ("heidi@example.org",))


def test_an_out_of_office_reply_is_unparsed_with_the_reason() -> None:
    """An auto-reply is no bounce: unparsed, and the reason says what it is."""
    report = parse_report(sample("out_of_office.eml"))
    assert report.kind == "unparsed"
    assert "automatic reply" in report.reason


@pytest.mark.parametrize("raw", [b"", b"garbage\x00\xff", b"Content-Type: multipart/report\n\n--x\n", b"A" * 5000])
def test_malformed_input_is_unparsed_never_an_exception(raw: bytes) -> None:
    """Whatever the mailbox holds, parsing gives a report."""
    assert parse_report(raw).kind == "unparsed"


def test_verp_token_is_read_back_from_the_return_path_pattern() -> None:
    """bounces+{token}@example.com: the token from the envelope address; the domain case-insensitive, the token not."""
    pattern = "bounces+{token}@example.com"
    assert verp_token(["bounces@example.com", "bounces+Ab_9-z@EXAMPLE.com"], pattern) == "Ab_9-z"
    assert verp_token(["bounces+Ab_9-z@example.org"], pattern) is None  # another domain
    assert verp_token(["bounces+a.b@example.com"], pattern) is None  # not a sid
    assert verp_token(["bounces+Ab@example.com"], None) is None
    assert verp_token(["x-Ab-y@example.com"], "x-{token}-y@example.com") == "Ab"
