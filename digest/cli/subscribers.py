"""`digest subscribers`: the list in the state database (stub: being built)."""

from __future__ import annotations

import click


@click.group("subscribers")
def subscribers_group() -> None:
    """The subscriber list (not built yet)."""
