"""`digest state`: the ledger's schema (migrate, status) and moving it between engines (copy)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import click

from digest.cli.options import config_options, pass_settings_keys
from digest.config import STATE_PASSWORD_ENV, Settings


@click.group("state")
def state_group() -> None:
    """The ledger: schedule ticks, outbox, subscribers and bounces, in a SQLite file or PostgreSQL.

    `state:` in config.yaml (or --state) is a file path, or postgresql://user@host:5432/db with
    the password in DIGEST_STATE_PASSWORD (or ~/.pgpass, or a libpq service file). Migrations
    run by themselves whenever digest opens the ledger; `digest state migrate` runs them by hand.
    """


@state_group.command("status")
@config_options(content=False, out=False)
@pass_settings_keys
def status_command(settings: Settings) -> None:
    """Show the ledger's engine, schema version, migrations and rows per table (changes nothing)."""
    # Lazy: the pipeline's state wing (~15 ms, python -X importtime) loads only for `digest state`.
    from digest.pipeline.state_admin import state_status

    status = state_status(settings)
    if not status.exists:
        click.echo(f"{status.where}: no state file yet (schema version 0 of {status.latest})")
        return
    click.echo(f"{status.where} ({status.dialect}): schema version {status.version} of {status.latest}")
    for version, name, at in status.applied:
        click.echo(f"  {version:>3}  {name:<12} applied {at}")
    for version, name in status.pending:
        click.echo(f"  {version:>3}  {name:<12} pending: runs on the next digest command, or `digest state migrate`")
    for table, rows in status.tables:
        click.echo(f"  {table:<20} {rows:>9} rows")


@state_group.command("migrate")
@config_options(content=False, out=False)
@pass_settings_keys
def migrate_command(settings: Settings) -> None:
    """Run the ledger's pending migrations now (digest also runs them whenever it opens the ledger)."""
    from digest.pipeline.state_admin import state_migrate  # lazy: see status_command

    where, ran, version = state_migrate(settings, now=datetime.now(timezone.utc))
    for number, name in ran:
        click.echo(f"  applied {number} {name}")
    click.echo(f"{where}: schema version {version}" + ("" if ran else " (nothing to do)"))


@state_group.command("copy")
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO")
@click.option("--replace", is_flag=True, help="Empty TO's ledger tables first (TO must otherwise hold no rows).")
def copy_command(source: str, target: str, replace: bool) -> None:
    """Copy every ledger table FROM → TO: a state file or a postgresql:// URL on either side.

    Both are migrated first; TO is written in one transaction (a failed copy leaves it as it was)
    and must hold no ledger rows unless --replace. Prints the rows per table, checked after the
    copy. The caches are not copied: each host rebuilds its own. Stop sends and the scheduler first.
    """
    from digest.pipeline.state_admin import copy_state  # lazy: see status_command

    report = copy_state(source, target, root=Path.cwd(), password=os.environ.get(STATE_PASSWORD_ENV) or None,
                        replace=replace, now=datetime.now(timezone.utc))
    for table, rows in report.tables:
        click.echo(f"  {table:<20} {rows:>9} rows")
    click.echo(f"Copied {report.rows} rows from {report.source} to {report.target}; counts checked.")
