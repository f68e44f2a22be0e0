"""The order of the stages, and the only place that knows it.

`build`: scan → select → summarize → render → write (and a scheduled tick's issue).
`send`: recipients → outbox → sender → archive (import `digest.pipeline.send` for it: a build
does not load the sender). The CLI and the schedule runner call these functions; the stages
never call each other.
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

__all__ = [
    "BuildResult",
    "Track",
    "build_issue",
    "build_tick_issue",
    "refresh_archive",
    "render",
    "scan_content",
    "summarize_articles",
    "untracked",
    "write_issue",
]
