"""The one atomic write: a reader sees the old file or the new one, never half of either.

Beside models.py, below every stage, so that the pipeline, the archive and the file backend
share it without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, *, fsync: bool = False) -> None:
    """Write `data` (text as UTF-8, line ends as given) to `path` through `<name>.tmp` and a rename.

    `fsync=True` also survives a power cut (a sent message's copy), at a few milliseconds a file.
    """
    tmp = path.with_name(path.name + ".tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with tmp.open("wb") as fh:
        fh.write(raw)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    tmp.replace(path)


def write_if_changed(path: Path, data: str | bytes) -> bool:
    """`write_atomic` unless `path` already holds exactly these bytes (a warm rebuild rewrites nothing);
    True when it wrote."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if path.stat().st_size == len(raw) and path.read_bytes() == raw:
            return False
    except OSError:
        pass
    write_atomic(path, raw)
    return True
