"""`digest bounces`: fetch, list and forget bounces and complaints (stub: being built)."""

from __future__ import annotations

import click


@click.group("bounces")
def bounces_group() -> None:
    """Bounces and complaints (not built yet)."""
