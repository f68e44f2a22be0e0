"""What `digest subscribers` does to the subscriber store, for the CLI (rule 2: only the pipeline, the
schedule runner and the web app touch `state/`).

Each function opens the store of the settings' state database with the clock it is given (the
CLI's is `time.time`), does one command's work, and closes it; what to print is the CLI's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from digest.config import Settings
from digest.state.subscriber_formats import FORMATS, Format, detect_format, export_text, parse_export
from digest.state.subscribers import STATES, ImportReport, Subscriber, SubscriberStore

__all__ = ["FORMATS", "STATES", "Clock", "Imported", "Subscriber", "add_subscriber", "export_subscribers",
           "import_file", "list_subscribers", "open_store", "remove_subscriber", "show_subscriber"]

Clock = Callable[[], float]  # unix seconds


def open_store(settings: Settings, *, clock: Clock) -> SubscriberStore:
    """The subscriber store in the settings' ledger, a SQLite file or PostgreSQL (a context manager: close it)."""
    return SubscriberStore.open(settings, clock=clock, rate_per_address=settings.subscribe.rate_per_address)


def list_subscribers(settings: Settings, state: str | None, *, clock: Clock) -> list[Subscriber]:
    """Every subscriber, or those in `state`."""
    with open_store(settings, clock=clock) as store:
        return store.all(state)


def add_subscriber(settings: Settings, address: str, *, name: str | None, topics: tuple[str, ...] | None,
                   pending: bool, clock: Clock) -> tuple[str, Subscriber | None]:
    """("added" | "updated" | "kept", the row after). A reader who left is kept as they are."""
    with open_store(settings, clock=clock) as store:
        result = store.add(address, name=name, topics=topics, state="pending" if pending else "confirmed",
                           source="command")
        return result, store.get(address)


def remove_subscriber(settings: Settings, address: str, *, clock: Clock) -> tuple[bool, Subscriber | None]:
    """(whether this unsubscribed it, the row after); the row stays, unsubscribed."""
    with open_store(settings, clock=clock) as store:
        removed = store.remove(address)
        return removed, store.get(address)


def show_subscriber(settings: Settings, address: str, *,
                    clock: Clock) -> tuple[Subscriber | None, list[dict[str, object]]]:
    """(the row, or None; every change to it, oldest first)."""
    with open_store(settings, clock=clock) as store:
        return store.get(address), store.events(address)


@dataclass(frozen=True)
class Imported:
    fmt: Format  # the format read: the one asked for, else the one the file's columns say
    report: ImportReport  # added, updated, skipped (with why)
    problems: list[str]  # "FILE:LINE: reason" of each row not read


def import_file(settings: Settings, path: Path, fmt: str | None, *, status: str | None, dry_run: bool,
                clock: Clock) -> Imported:
    """Import an export (`fmt`, or the format its columns say); with `dry_run`, report and change nothing."""
    chosen = cast("Format", fmt) if fmt else detect_format(path)
    records, problems = parse_export(path, chosen, status=status)
    with open_store(settings, clock=clock) as store:
        report = store.import_records(records, dry_run=dry_run)
    return Imported(chosen, report, problems)


def export_subscribers(settings: Settings, fmt: Literal["csv", "json"], state: str | None, *,
                       clock: Clock) -> tuple[str, int]:
    """(digest's export of every subscriber, or those in `state`, as CSV or JSON; how many rows)."""
    rows = list_subscribers(settings, state, clock=clock)
    return export_text(rows, fmt), len(rows)
