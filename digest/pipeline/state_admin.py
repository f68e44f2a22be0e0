"""`digest state migrate | status | copy`: the ledger's schema version, its migrations, and moving it.

The CLI reaches the state through here (CONTRIBUTING rule 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from digest.config_model import Settings
from digest.errors import DigestError
from digest.state.engine import StateConnection, is_url, open_ledger, url_where
from digest.state.ledger_copy import CopyReport, copy_ledger, count_rows
from digest.state.migrations import LATEST, MIGRATIONS, applied, migrate


@dataclass
class StateStatus:
    where: str
    dialect: str
    exists: bool
    version: int
    latest: int
    applied: list[tuple[int, str, str]] = field(default_factory=list)  # (version, name, applied_at)
    pending: list[tuple[int, str]] = field(default_factory=list)
    tables: list[tuple[str, int]] = field(default_factory=list)  # ledger tables and their rows


def _open(settings: Settings) -> StateConnection:
    return open_ledger(settings.state, root=settings.root, password=settings.state_password)


def state_status(settings: Settings) -> StateStatus:
    """The ledger's version and row counts, read without migrating it (nor creating a missing file)."""
    if settings.state_url is None and not settings.state_path.exists():
        return StateStatus(str(settings.state_path), "sqlite", False, 0, LATEST,
                           pending=[(m.version, m.name) for m in MIGRATIONS])
    with _open(settings) as conn:
        done = applied(conn)
        versions = {v for v, _, _ in done}
        return StateStatus(
            conn.where, conn.dialect, True, max(versions, default=0), LATEST, done,
            [(m.version, m.name) for m in MIGRATIONS if m.version not in versions],
            count_rows(conn) if done else [],
        )


def state_migrate(settings: Settings, *, now: datetime) -> tuple[str, list[tuple[int, str]], int]:
    """Run the ledger's pending migrations: (where, [(version, name) run], version now)."""
    with _open(settings) as conn:
        ran = migrate(conn, now=now)
        return conn.where, [(m.version, m.name) for m in ran], max((v for v, _, _ in applied(conn)), default=0)


def _spec(value: str, root: Path) -> str:
    """A FROM/TO as open_ledger reads it: a URL as given, a path made absolute (cwd-relative, like --state)."""
    if is_url(value):
        return value.strip()
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


def where_of(value: str, root: Path) -> str:
    """What FROM/TO names, for a message: the file, or postgresql://user@host:port/db."""
    spec = _spec(value, root)
    return url_where(spec) if is_url(spec) else spec


def copy_state(source: str, target: str, *, root: Path, password: str | None, replace: bool,
               now: datetime) -> CopyReport:
    """Copy the ledger FROM → TO (each a file or a URL), both migrated first; see state.ledger_copy."""
    if not is_url(source) and not Path(_spec(source, root)).is_file():
        raise DigestError(f"state copy: FROM {_spec(source, root)}: no such state file")
    with open_ledger(_spec(source, root), root=root, password=password) as src:
        migrate(src, now=now)
        with open_ledger(_spec(target, root), root=root, password=password) as dst:
            migrate(dst, now=now)
            return copy_ledger(src, dst, replace=replace)
