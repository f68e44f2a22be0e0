"""`digest subscribers`: the list in the state database: list, add, remove, show, import, export."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.options import config_options, pass_settings_keys
from digest.config import Settings
from digest.errors import DigestError

if TYPE_CHECKING:
    from digest.pipeline.subscribers import Subscriber

# The same as the store's (tests/subscribers/test_subscribers_cli.py checks): written here so that
# the options are known without loading the store.
STATES = ("pending", "confirmed", "unsubscribed", "bounced", "complained")
FORMATS = ("csv", "mailchimp", "substack", "buttondown", "listmonk")
MAX_LINES = 50  # import lines listed one by one per kind; the rest are counted

# Each command imports digest.pipeline.subscribers where it runs, so the store and the import formats
# (sqlite3, csv, secrets, json) load only for the subscriber commands, not for `digest --help` or any
# other command: python -X importtime, 16-22 ms, and ~40 ms with the digest.pipeline package itself
# (its __init__ loads the builder) when nothing had loaded it yet.


def _topics(topics: tuple[str, ...] | None) -> str:
    return "every topic" if topics is None else ", ".join(topics) or "no topic"


def _line(s: Subscriber) -> str:
    name = f" ({s.name})" if s.name else ""
    return f"{s.address}{name}: {s.state}, {_topics(s.topics)}, since {s.updated_at} ({s.source})"


@click.group("subscribers")
def subscribers_group() -> None:
    """The subscriber list, kept in the state database.

    Readers join through `digest serve` (double opt-in) or are added here; those who
    unsubscribe, bounce or complain stay in the list in that state, so that no import or
    command mails them again. `mail.recipients: subscribers` sends to the confirmed ones.
    """


@subscribers_group.command("list")
@click.option("--state", "state", type=click.Choice(STATES), help="Only subscribers in this state.")
@config_options(content=False, out=False, state=False)
@pass_settings_keys
def list_command(settings: Settings, state: str | None) -> None:
    """Every subscriber (or those in --state): address, name, state, topics, and the last change.

    The list is in the state database the config names (`state:`).
    """
    from digest.pipeline.subscribers import list_subscribers  # lazy: see the note above

    rows = list_subscribers(settings, state, clock=time.time)
    for s in rows:
        click.echo(_line(s))
    counts = {st: sum(1 for s in rows if s.state == st) for st in STATES}
    click.echo(f"{len(rows)} subscribers" + (": " + ", ".join(f"{n} {st}" for st, n in counts.items() if n)
                                             if rows else "."), err=True)


@subscribers_group.command("add")
@click.argument("address")
@click.option("--name", help="The reader's name, for the greeting.")
@click.option("--topic", "topics", multiple=True, metavar="TOPIC",
              help="Send only articles of this topic (repeatable; default: every article).")
@click.option("--pending", is_flag=True,
              help="Add as pending (not mailed until confirmed) instead of confirmed.")
@config_options(content=False, out=False)
@pass_settings_keys
def add_command(settings: Settings, address: str, name: str | None, topics: tuple[str, ...], pending: bool) -> None:
    """Add ADDRESS as confirmed (you have their consent), or change its name and topics.

    An address that unsubscribed, bounced or complained is not resubscribed: they can sign up
    again through the form (`digest bounces forget` undoes a false bounce).
    """
    from digest.pipeline.subscribers import add_subscriber  # lazy: see the note above

    result, row = add_subscriber(settings, address, name=name, topics=topics or None, pending=pending,
                                 clock=time.time)
    if row is None:
        raise DigestError(f"{address}: not added")
    if result == "kept" and row.state not in ("pending", "confirmed"):
        raise DigestError(f"{row.address} is {row.state} since {row.updated_at} ({row.source}): not resubscribed",
                          hint="only the reader can subscribe again, through the form")
    click.echo({"added": "Added", "updated": "Updated", "kept": "Unchanged"}[result] + f": {_line(row)}")


@subscribers_group.command("remove")
@click.argument("address")
@config_options(content=False, out=False)
@pass_settings_keys
def remove_command(settings: Settings, address: str) -> None:
    """Unsubscribe ADDRESS. Its row stays (as unsubscribed), so that nothing subscribes it again."""
    from digest.pipeline.subscribers import remove_subscriber  # lazy: see the note above

    removed, row = remove_subscriber(settings, address, clock=time.time)
    if row is None:
        raise DigestError(f"{address} is not in the subscriber list")
    click.echo(f"Unsubscribed {row.address}." if removed else f"{row.address} was already unsubscribed.")


@subscribers_group.command("show")
@click.argument("address")
@config_options(content=False, out=False)
@pass_settings_keys
def show_command(settings: Settings, address: str) -> None:
    """ADDRESS's row (state, topics, consent) and every change to it, oldest first."""
    from digest.pipeline.subscribers import show_subscriber  # lazy: see the note above

    row, events = show_subscriber(settings, address, clock=time.time)
    if row is None:
        raise DigestError(f"{address} is not in the subscriber list")
    click.echo(_line(row))
    click.echo(f"  added {row.created_at}; confirmed {row.confirmed_at or 'never'}"
               + (f" from {row.consent_ip}" if row.consent_ip else "") + f"; soft bounces {row.soft_bounces}")
    for e in events:
        change = f"{e['from_state']} -> {e['to_state']}" if e["from_state"] else f"new, {e['to_state']}"
        click.echo(f"  {e['at']}  {change} ({e['source']}){': ' + str(e['detail']) if e['detail'] else ''}")


def _echo_some(prefix: str, lines: list[str]) -> None:
    for line in lines[:MAX_LINES]:
        click.echo(f"{prefix}{line}")
    if len(lines) > MAX_LINES:
        click.echo(f"{prefix}… and {len(lines) - MAX_LINES} more")


@subscribers_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "fmt", type=click.Choice(FORMATS),
              help="The tool the file came from (default: guessed from its columns). csv: digest's own export "
              "(CSV or .json), or any CSV with an `email` column.")
@click.option("--status", type=click.Choice(("subscribed", "unsubscribed", "cleaned")),
              help="Mailchimp: the status of every row of FILE, when neither its columns nor its name say.")
@click.option("--dry-run", is_flag=True, help="Say what would be added, updated and skipped; change nothing.")
@config_options(content=False, out=False)
@pass_settings_keys
def import_command(settings: Settings, file: Path, fmt: str | None, status: str | None, dry_run: bool) -> None:
    """Import subscribers from FILE: a Mailchimp, Substack, Buttondown or listmonk export, or digest's own.

    Subscribed readers are added as confirmed, the export's unsubscribed, cleaned (bounced)
    and complained ones in that state, so that they are never mailed. An address that left
    (unsubscribed, bounced or complained) here is never resubscribed by an import. Prints
    what was added, updated and skipped and why; a row that cannot be read is one `Error:`
    line naming the file and line, and the rest is imported (exit status 1).
    """
    from digest.pipeline.subscribers import import_file  # lazy: see the note above

    imported = import_file(settings, file, fmt, status=status, dry_run=dry_run, clock=time.time)
    report, problems = imported.report, imported.problems
    for problem in problems:
        click.echo(f"Error: {problem}", err=True)
    _echo_some("Added: ", report.added)
    _echo_some("Updated: ", report.updated)
    _echo_some("Skipped: ", [f"{address}: {why}" for address, why in report.skipped])
    unread = f", {len(problems)} rows not read (above)" if problems else ""
    would = " (dry run: nothing changed)" if dry_run else ""
    click.echo(f"{file} ({imported.fmt}): {report.summary_line()[:-1]}{unread}.{would}", err=True)
    if problems:
        sys.exit(1)


@subscribers_group.command("export")
@click.option("--format", "fmt", type=click.Choice(("csv", "json")), default="csv", show_default=True,
              help="CSV (email, name, state, topics, created_at, confirmed_at, consent_ip) or JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (default: standard output).")
@click.option("--state", "state", type=click.Choice(STATES), help="Only subscribers in this state.")
@config_options(content=False, out=False, state=False)
@pass_settings_keys
def export_command(settings: Settings, fmt: str, output: Path | None, state: str | None) -> None:
    """Every subscriber, in every state, as CSV or JSON; `digest subscribers import` reads it back.

    The list is in the state database the config names (`state:`).
    """
    from digest.files import write_atomic
    from digest.pipeline.subscribers import export_subscribers  # lazy: see the note above

    text, count = export_subscribers(settings, "json" if fmt == "json" else "csv", state, clock=time.time)
    if output is None:
        click.echo(text, nl=False)
        return
    write_atomic(output, text)
    click.echo(f"Wrote {count} subscribers to {output}.", err=True)
