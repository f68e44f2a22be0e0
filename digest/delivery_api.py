"""What the schedule calls: recipients from `mail.recipients`, and sending a built issue by id."""

from __future__ import annotations

import threading

from digest.config import Settings
from digest.errors import DigestError
from digest.delivery.recipients import RecipientList, collect_recipients
from digest.delivery.sender import SendReport, send_issue


def load_recipients_for_schedule(settings: Settings) -> RecipientList:
    """The recipients CSV named by `mail.recipients` (read relative to config.yaml)."""
    if not settings.mail.recipients:
        raise DigestError(
            "schedule.action is send but mail.recipients is not set",
            hint="set mail.recipients to a CSV with an `email` column",
        )
    return collect_recipients(csv_path=settings.path(settings.mail.recipients))


def send_built_issue(
    settings: Settings,
    issue_id: str,
    recipients: RecipientList,
    *,
    stop_event: threading.Event | None = None,
    progress: bool | None = None,
    resend_ambiguous: bool = True,
) -> SendReport:
    """Send the issue built under `issue_id` (its manifest in the out folder); resumes where a run stopped.

    Resumes as a rerun of `digest send` does: ambiguous rows are sent again once (`resend_ambiguous`).
    Raises DeliveryError when the server cannot be reached at all.
    """
    from digest.archive.site_page import archive_sent_issue
    from digest.archive.manifest import load_issue

    issue = load_issue(settings, issue_id)
    report = send_issue(
        settings, issue, recipients, progress=progress, stop_event=stop_event, resend_ambiguous=resend_ambiguous
    )
    if report.complete:
        archive_sent_issue(settings, issue_id)
    return report
