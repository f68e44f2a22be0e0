"""The order of the stages, and the only place that knows it.

`build`: scan → select → summarize → render → write (and a scheduled tick's issue).
`send`: recipients → outbox → sender → archive. The CLI and the schedule runner call these
functions; the stages never call each other.
"""

from digest.pipeline.build import (
    BuildResult,
    Track,
    build_issue,
    build_tick_issue,
    refresh_archive,
    render,
    scan_content,
    summarize_articles,
    untracked,
    write_issue,
)
from digest.pipeline.send import (
    SendStatus,
    SentIssue,
    check_state,
    recipients_for_schedule,
    send_built_issue,
    send_issue,
    send_status,
)

__all__ = [
    "BuildResult",
    "SendStatus",
    "SentIssue",
    "Track",
    "build_issue",
    "build_tick_issue",
    "check_state",
    "recipients_for_schedule",
    "refresh_archive",
    "render",
    "scan_content",
    "send_built_issue",
    "send_issue",
    "send_status",
    "summarize_articles",
    "untracked",
    "write_issue",
]
