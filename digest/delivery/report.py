"""What a send came to: the counts `digest send` prints and its exit status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digest.models import Recovered


@dataclass
class SendReport:
    """What a send came to, for this run's recipients (rows already sent by an earlier run count as sent)."""

    issue_id: str
    total: int = 0
    sent: int = 0
    sent_now: int = 0
    deferred: int = 0
    exhausted: int = 0  # temporary failures until smtp.max_attempts: the next run tries them again
    failed: int = 0  # permanent (5xx): sent again only with --retry-failed
    ambiguous: int = 0
    resendable: int = 0  # of the ambiguous: not sent again yet, so the next run sends them (once)
    skipped: int = 0
    pending: int = 0
    in_flight: int = 0  # claimed or data-sent: only when a worker stopped on an error mid-message
    failures: list[str] = field(default_factory=list)  # one line per recipient not sent (failed, ambiguous, …)
    problems: list[str] = field(default_factory=list)  # malformed addresses, skipped before the outbox
    warnings: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)  # --dry-run: one line per recipient
    failed_now: list[tuple[str, str]] = field(default_factory=list)  # (address, reply): failed permanently this run
    bounced: list[str] = field(default_factory=list)  # of those, marked bounced in the store (5.1.x, 5.2.1)
    stopped: bool = False
    dry_run: bool = False
    error: str | None = None
    elapsed: float = 0.0

    @property
    def done(self) -> int:
        """Recipients nothing is left to do for: sent, skipped, failed permanently, or ambiguous after their resend."""
        return self.sent + self.failed + self.skipped + self.ambiguous - self.resendable

    @property
    def complete(self) -> bool:
        """Nothing left to do for the issue: no row pending, in flight, deferred or out of attempts for
        this run, and no ambiguous row still due its one automatic resend. Permanent failures and
        ambiguous rows already sent again count as done (they are in `failures`)."""
        return not (self.pending or self.in_flight or self.deferred or self.exhausted or self.resendable)

    @property
    def exit_code(self) -> int:
        """0 when every recipient was sent or skipped; 1 when any is failed, ambiguous or left to do."""
        clean = self.complete and not (self.failed or self.ambiguous or self.error)
        return 0 if self.dry_run or clean else 1

    def note_recovered(self, done: Recovered) -> None:
        """Warnings for what the run found left behind by an earlier one (outbox.recover)."""
        resent = set(done.resent)
        for address in done.ambiguous:
            if address not in resent:
                self.warnings.append(f"{address}: a previous run died between DATA and the server's reply: ambiguous")
        for address in done.resent:
            self.warnings.append(
                f"{address}: may or may not have had the issue (ambiguous): sending it again once, same Message-ID"
            )

    def fill_counts(self, counts: Mapping[str, int], not_done: Iterable[Mapping[str, Any]]) -> None:
        """The outbox's counts for this run's recipients, and one failure line per row not done."""
        self.sent, self.deferred, self.failed = counts["sent"], counts["deferred"], counts["failed"]
        self.exhausted, self.ambiguous, self.resendable = counts["exhausted"], counts["ambiguous"], counts["resendable"]
        self.skipped, self.pending = counts["skipped"], counts["pending"]
        self.in_flight = counts["claimed"] + counts["data-sent"]
        self.failures += [f"{row['state']}: {row['address']}: {row['reply']}" for row in not_done]

    def summary_line(self) -> str:
        if self.dry_run:
            return f"Dry run of issue {self.issue_id}: {len(self.planned)} recipients listed, nothing sent."
        counts = (
            f"sent: {self.sent} ({self.sent_now} now), deferred: {self.deferred}, "
            f"out of attempts: {self.exhausted}, failed: {self.failed}, ambiguous: {self.ambiguous}, "
            f"pending: {self.pending + self.in_flight}, skipped: {self.skipped}"
        )
        how = "stopped" if self.stopped else "interrupted" if self.error else "done"
        rate = f", {self.sent_now / self.elapsed:.0f} msg/s" if self.sent_now and self.elapsed > 0 else ""
        return f"Issue {self.issue_id} {how}: {counts} of {self.total} recipients{rate}."
