"""What a send came to: the counts `digest send` prints and its exit status."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SendReport:
    """What a send came to, for this run's recipients (rows already sent by an earlier run count as sent)."""

    issue_id: str
    total: int = 0
    sent: int = 0
    sent_now: int = 0
    deferred: int = 0
    failed: int = 0
    ambiguous: int = 0
    skipped: int = 0
    pending: int = 0
    failures: list[str] = field(default_factory=list)  # one line per recipient not sent (failed, ambiguous, …)
    problems: list[str] = field(default_factory=list)  # malformed addresses, skipped before the outbox
    warnings: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)  # --dry-run: one line per recipient
    stopped: bool = False
    dry_run: bool = False
    error: str | None = None
    elapsed: float = 0.0

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped + self.ambiguous

    @property
    def complete(self) -> bool:
        """Everything sent or skipped: nothing failed, ambiguous or left to do."""
        return not (self.pending or self.deferred or self.failed or self.ambiguous or self.error)

    @property
    def exit_code(self) -> int:
        return 0 if self.dry_run or self.complete else 1

    def summary_line(self) -> str:
        if self.dry_run:
            return f"Dry run of issue {self.issue_id}: {len(self.planned)} recipients listed, nothing sent."
        counts = (
            f"sent: {self.sent} ({self.sent_now} now), deferred: {self.deferred}, failed: {self.failed}, "
            f"ambiguous: {self.ambiguous}, pending: {self.pending}, skipped: {self.skipped}"
        )
        how = "stopped" if self.stopped else "interrupted" if self.error else "done"
        rate = f", {self.sent_now / self.elapsed:.0f} msg/s" if self.sent_now and self.elapsed > 0 else ""
        return f"Issue {self.issue_id} {how}: {counts} of {self.total} recipients{rate}."
