"""The file backend: each message becomes an .eml file, to look at in a mail client."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from digest.delivery.base import Backend, BeforeData, Outcome
from digest.files import write_atomic

_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]+")
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>\r\n]+)>", re.I | re.M)


class FileBackend(Backend):
    """Writes `<folder>/<recipient>-<hash>.eml`; the same Message-ID overwrites its file."""

    name = "file"

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def deliver(
        self, sender: str, recipient: str, data: bytes, before_data: BeforeData | None = None, *, dot_free: bool = False
    ) -> Outcome:
        self._before_data(before_data)
        self.folder.mkdir(parents=True, exist_ok=True)
        found = _MESSAGE_ID.search(data, 0, data.find(b"\r\n\r\n"))
        ident = hashlib.sha256(found.group(1) if found else data).hexdigest()[:8]
        path = self.folder / f"{_UNSAFE.sub('_', recipient)[:100]}-{ident}.eml"
        try:
            write_atomic(path, data, fsync=True)
        except OSError as exc:
            return Outcome("temporary", f"cannot write {path}: {exc}")
        return Outcome("sent", f"written to {path}")
