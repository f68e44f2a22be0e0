"""Progress, the one way long work shows itself: a rich bar on a terminal, plain lines otherwise.

Two shapes of the same bar: `track` wraps a loop (scanning, summarizing) and shows the bar
once the loop has run for a second; `SendProgress` counts a send's outcomes from its worker
threads. The CLI makes them and passes them down: nothing below digest.cli imports rich.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TextIO, TypeVar

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

T = TypeVar("T")

SHOW_AFTER_SECONDS = 1.0  # a loop that ends sooner shows no bar at all
LINE_EVERY_SECONDS = 5.0  # without a terminal, a send prints a status line this often


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _bar(stream: TextIO, *, counts: bool, transient: bool) -> Progress:
    """The bar every display uses: description, bar, done/total, then (a send's) counts and time."""
    # Lazy: rich.progress costs every command ~170 ms of start-up (python -X importtime,
    # cumulative, 3 runs 172-225 ms), and only a terminal that waits a second sees a bar.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    tail: list[ProgressColumn] = [TimeRemainingColumn()]
    if counts:
        tail = [TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), *tail,
        console=Console(file=stream), transient=transient,
    )


def track(
    items: Iterable[T], total: int, description: str, *, enabled: bool | None = None, stream: TextIO | None = None
) -> Iterator[T]:
    """Yield `items`; after a second, show a bar on `stream` (stderr) if it is a terminal."""
    out = stream or sys.stderr
    if enabled is None:
        enabled = is_terminal(out)
    if not enabled:
        yield from items
        return
    started = time.monotonic()
    bar: Progress | None = None
    task: TaskID | None = None
    done = 0
    try:
        for item in items:
            yield item
            done += 1
            if bar is None and time.monotonic() - started > SHOW_AFTER_SECONDS:
                bar = _bar(out, counts=False, transient=True)
                bar.start()
                task = bar.add_task(description, total=total, completed=done)
            elif bar is not None and task is not None:
                bar.update(task, completed=done)
    finally:
        if bar is not None:
            bar.stop()


class SendProgress:
    """Counts outcomes from the worker threads; shows a bar (terminal) or a line every few seconds.

    The sender calls `event` per recipient and `note` for anything else worth a line; the CLI
    calls `close` when the send is over.
    """

    def __init__(self, issue_id: str, total: int, *, enabled: bool | None = True, stream: TextIO | None = None) -> None:
        self.issue_id = issue_id
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = enabled is not False
        self.counts = {"sent": 0, "deferred": 0, "failed": 0, "ambiguous": 0}
        self.done = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if self.enabled and total > 0 and is_terminal(self.stream):
            self._bar = _bar(self.stream, counts=True, transient=False)
            self._task = self._bar.add_task(f"Sending {issue_id}", total=total, counts=self._counts_text())
            self._bar.start()
        elif self.enabled and total > 0:
            self._write(f"sending issue {issue_id} to {total} recipients")

    def _counts_text(self) -> str:
        return " ".join(f"{k} {v}" for k, v in self.counts.items() if v or k == "sent")

    def _write(self, line: str) -> None:
        if self._bar is not None:
            self._bar.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def event(self, state: str, address: str, detail: str, *, final: bool = True) -> None:
        """One recipient's outcome; `final` is False for a deferral (the row will be tried again)."""
        with self._lock:
            if state in self.counts:
                self.counts[state] += 1
            if final:
                self.done += 1
            if not self.enabled:
                return
            if state != "sent":
                self._write(f"{state}: {address}: {detail}")
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, completed=self.done, counts=self._counts_text())
                return
            now = time.monotonic()
            if now - self._last_line >= LINE_EVERY_SECONDS:
                self._last_line = now
                self._write(self.status_line(now))

    def note(self, line: str) -> None:
        if self.enabled:
            with self._lock:
                self._write(line)

    def status_line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._started, 1e-6)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = f", ETA {int(left / rate)}s" if rate > 0 and left > 0 else ""
        return f"issue {self.issue_id}: {self.done}/{self.total} done ({self._counts_text()}), {rate:.0f} msg/s{eta}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
