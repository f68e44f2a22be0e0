"""`digest bounces`: fetch bounces and complaints from the bounce mailbox, list them, forget a false one."""

from __future__ import annotations

import os
import time

import click

from digest.cli.options import config_options, pass_settings_keys
from digest.config import Settings
from digest.errors import DigestError


@click.group("bounces")
def bounces_group() -> None:
    """Bounces and complaints: read from an IMAP mailbox, marked on the subscriber list.

    Bounces come back to the envelope sender (smtp.return_path, or the From address); point
    bounces.imap_host, bounces.username and bounces.mailbox at that mailbox, and export
    DIGEST_IMAP_PASSWORD. A hard bounce (5.1.x: no such address, 5.2.1: mailbox disabled)
    marks the reader `bounced`, an abuse report (ARF) marks them `complained`: neither is
    mailed again. Soft bounces (4.x.x, delayed) are counted only; policy rejections (5.7.x)
    are logged, not marked.
    """


@bounces_group.command("fetch")
@config_options(content=False, out=False)
@pass_settings_keys
def fetch_command(settings: Settings) -> None:
    """Read the unseen messages of the bounce mailbox, mark bounced and complained readers, file the rest.

    Each message is marked \\Seen on the server once what it said is recorded in the state
    database; a message read twice (a run killed in between) is counted once. Reports that name
    no known reader, and messages that are no report (an auto-reply), are filed: see
    `digest bounces list`. Exit status 3 when the mailbox cannot be reached or refuses the login.
    """
    # Lazy: imaplib, the email parser, the store and the pipeline (~200 ms, python -X importtime) load
    # only for the bounces commands, not for every `digest` command.
    from digest.pipeline.bounces import fetch_bounces, imap_password

    summary = fetch_bounces(settings, password=imap_password(os.environ), clock=time.time)
    for line in summary.marked:
        click.echo(f"  {line}")
    click.echo(summary.line())


@bounces_group.command("list")
@click.option("--limit", default=50, show_default=True, help="Filed messages shown, newest first.")
@config_options(content=False, out=False)
@pass_settings_keys
def list_command(settings: Settings, limit: int) -> None:
    """What `bounces fetch` could not map to a reader or could not parse, and the latest bounced and
    complained readers (from a fetch, or from a 5.1.x refusal at send time)."""
    from digest.pipeline.bounces import list_bounces  # lazy: see fetch_command

    listing = list_bounces(settings, clock=time.time, limit=limit)
    click.echo(f"Filed (not mapped to a reader, or not a report): {len(listing.filed)}")
    for row in listing.filed:
        subject = f" [{row['subject']}]" if row["subject"] else ""
        click.echo(f"  {row['at']}  {row['kind']}: {row['detail']}{subject}")
    click.echo(f"Bounced and complained readers (latest {len(listing.blocked)}):")
    for sub in listing.blocked:
        click.echo(f"  {sub.updated_at}  {sub.address}: {sub.state} ({sub.source}) {listing.why.get(sub.key, '')}")
    counts = listing.counts
    click.echo(
        f"All fetched so far: {counts['hard']} hard, {counts['complaint']} complaints, {counts['soft']} soft,"
        f" {counts['rejected']} rejected, {counts['unmapped'] + counts['unparsed']} filed"
    )


@bounces_group.command("forget")
@click.argument("address")
@config_options(content=False, out=False)
@pass_settings_keys
def forget_command(settings: Settings, address: str) -> None:
    """Undo a false bounce or complaint: ADDRESS is confirmed again and mailed by the next send."""
    from digest.pipeline.bounces import forget_bounce  # lazy: see fetch_command

    outcome, was = forget_bounce(settings, address, clock=time.time)
    if outcome == "unknown":
        raise DigestError(f"{address}: not on the subscriber list", hint="`digest bounces list` shows who is marked")
    if outcome != "confirmed":
        raise DigestError(f"{address} is {was}, not bounced or complained: nothing to forget")
    click.echo(f"{address}: {was} forgotten; confirmed again, mailed by the next send")
