"""`digest serve`: the subscribe, confirm, unsubscribe and preferences pages (stub: being built)."""

from __future__ import annotations

import click


@click.command("serve")
def serve_command() -> None:
    """Serve the subscription pages (not built yet)."""
    raise click.UsageError("digest serve is not built yet")
