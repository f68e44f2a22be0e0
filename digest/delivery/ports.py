"""What the sender is given rather than imports: the outbox it records in, the progress it shows.

The sender never opens the state database nor draws a bar: the pipeline hands it a zero-argument
`open_outbox` (one outbox per worker thread: SQLite connections are not shared across threads),
`reader_ids` (each reader's opaque id and unsubscribe token, from the subscriber store) and the
CLI a `progress` factory. Anything with these methods will do (state.outbox.Outbox is one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from digest.models import Claimed, Recovered


class OutboxPort(Protocol):
    """One row per (issue, recipient), through one connection; see state/outbox.py for the states."""

    def recover(self, issue_id: str, *, resend_ambiguous: bool = True, retry_failed: bool = False) -> Recovered: ...

    def add(
        self,
        issue_id: str,
        run_id: str,
        rows: Iterable[tuple[str, str, str | None, tuple[str, ...] | None]],
        skipped: dict[str, str] | None = None,
    ) -> None: ...

    def claim(self, issue_id: str, run_id: str) -> Claimed | None: ...

    def mark_data(self, item: Claimed) -> Callable[[], None] | None: ...

    def pace(self, name: str, interval: float) -> float | None: ...

    def mark_sent(self, item: Claimed, reply: str) -> None: ...

    def mark_deferred(self, item: Claimed, reply: str, retry_at: float) -> None: ...

    def mark_exhausted(self, item: Claimed, reply: str) -> None: ...

    def mark_failed(self, item: Claimed, reply: str) -> None: ...

    def mark_ambiguous(self, item: Claimed, reply: str) -> None: ...

    def release(self, item: Claimed, reply: str = "") -> None: ...

    def next_retry(self, issue_id: str, run_id: str) -> float | None: ...

    def counts(self, issue_id: str, run_id: str | None = None) -> dict[str, int]: ...

    def rows(self, issue_id: str, states: Sequence[str], run_id: str | None = None) -> Sequence[Mapping[str, Any]]: ...

    def close(self) -> None: ...


OpenOutbox = Callable[[], OutboxPort]


@dataclass(frozen=True)
class ReaderId:
    """One reader as their message names them: never by address.

    `sid` is the store's opaque id (the VERP token in `smtp.return_path`); `token` the signed
    MANAGE token of that id that the unsubscribe URL carries.
    """

    sid: str
    token: str


# Addresses -> {recipient key (lower-cased): id}: called once per run, with the rows still to send.
ReaderIds = Callable[[Sequence[str]], Mapping[str, ReaderId]]


class SendProgress(Protocol):
    """How a send shows itself while it runs (the CLI's bar or log lines); called from worker threads."""

    def note(self, line: str) -> None: ...

    def event(self, state: str, address: str, detail: str, *, final: bool = True) -> None: ...

    def close(self) -> None: ...


ProgressFactory = Callable[[str, int], SendProgress]  # (issue id, messages to send) -> the progress shown


class QuietProgress:
    """Shows nothing: for tests, benchmarks and callers without a terminal to show it on."""

    def note(self, line: str) -> None:
        return None

    def event(self, state: str, address: str, detail: str, *, final: bool = True) -> None:
        return None

    def close(self) -> None:
        return None


def quiet_progress(issue_id: str, total: int) -> SendProgress:
    return QuietProgress()
