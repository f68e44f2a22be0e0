"""How a send shows itself: a rich progress bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

LINE_EVERY_SECONDS = 5.0


class SendProgress:
    """Counts outcomes from the worker threads; shows a bar (terminal) or a line every few seconds."""

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
        self._bar = None
        self._task = None
        if self.enabled and total > 0 and getattr(self.stream, "isatty", lambda: False)():
            from rich.console import Console
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=self.stream), transient=False,
            )
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
