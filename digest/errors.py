"""One exception root: the CLI alone turns a DigestError into `Error: …` and an exit code.

`os_error` and `db_error` turn what the operating system and SQLite raise (a full disk, a
read-only folder, a damaged state file, too many open files) into a DigestError that names
the file and says what to do, so that the CLI never shows a traceback for them.
"""

from __future__ import annotations

import errno
import os
import pwd
import sqlite3
from collections.abc import Sequence
from pathlib import Path


class DigestError(Exception):
    """A user-facing failure: a one-line message and an optional hint."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(DigestError):
    """config.yaml (or an override) is invalid; the message names the key path.

    `key` is the dotted key the problem is about (when there is one) and `detail` the message
    without the key, so that a caller can name where the value came from instead (an
    environment variable rather than config.yaml).
    """

    exit_code = 2

    def __init__(
        self, message: str, hint: str | None = None, *, key: str | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.key = key
        self.detail = detail or message

    @classmethod
    def for_key(cls, key: str, detail: str, hint: str | None = None) -> ConfigError:
        """The error for one key: "config key 'smtp.port': expected …, found …"."""
        return cls(f"config key '{key}': {detail}", hint, key=key, detail=detail)


def found(value: object) -> str:
    """A value as a config error shows it after "found": its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class ArticleError(DigestError):
    """One content file could not be used as an article; the message names the reason."""


class DeliveryError(DigestError):
    """The SMTP server could not be reached, refused us, or a send failed."""

    exit_code = 3


class DurabilityError(DigestError):
    """The outbox could not be made durable: no message may be sent without it."""


class FileError(DigestError):
    """A file or folder digest needs cannot be read or written (full disk, read-only, permissions)."""


class StateDatabaseError(FileError, sqlite3.OperationalError):
    """The state database cannot be opened or used: still an sqlite3.Error, so that a cache
    that does without the database on any SQLite error keeps doing so."""


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid with no name (a container's arbitrary user)
        return "this user"


def _space_hint(path: str) -> str:
    return f"free some space on the disk that holds {path}, then run the same command again"


def os_error(exc: OSError, path: str | os.PathLike[str] | None = None, places: Sequence[str] = ()) -> FileError:
    """A one-line error (with a hint) for an OSError: the file, the system's reason, what to do.

    `places` are the folders digest was writing in, named by the hint when the error itself
    names no file (a write that runs out of space mid-file says only "No space left").
    """
    where = str(exc.filename if exc.filename is not None else path or "")
    reason = exc.strerror or str(exc) or type(exc).__name__
    if where:
        message = f"{where}: {reason}"
    elif places:
        message = f"{reason} (writing in {' or '.join(places)})"
    else:
        message = reason
    folder = str(Path(where).parent) if where else " or ".join(places) or "the folder"
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        hint: str | None = _space_hint(where or folder)
    elif code == errno.EROFS:
        hint = f"{folder} is on a read-only file system: make it writable, or point --state/--out elsewhere"
    elif code in (errno.EACCES, errno.EPERM):
        # A file that could not be created: it is its folder that is not writable.
        target = where if where and Path(where).exists() else folder
        hint = f"{target} is not readable or writable by {_user()}: fix its owner or permissions"
    elif code in (errno.EMFILE, errno.ENFILE):
        hint = "lower smtp.connections, or raise the open-file limit (`ulimit -n`)"
    else:
        hint = None
    return FileError(message, hint)


def db_error(exc: sqlite3.Error, path: str | os.PathLike[str] | None) -> StateDatabaseError:
    """A one-line error (with a hint) for an SQLite error on the state database at `path`."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    where = str(path) if path else "the state database"
    text = str(exc) or name or type(exc).__name__
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return StateDatabaseError(f"{where}: the disk is full ({text})", _space_hint(where))
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text or "malformed" in text:
        return StateDatabaseError(
            f"{where}: damaged, not a digest state database ({text})",
            "move it aside and restore it from a backup, or use another file with --state; "
            "a new state file does not know what was already sent",
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")) or "readonly" in text:
        return StateDatabaseError(
            f"{where}: cannot write the state database ({text})",
            f"digest needs to write {where} and create files beside it: make {Path(where).parent} "
            f"writable by {_user()}, or point --state elsewhere",
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StateDatabaseError(f"{where}: {text}", "another digest is using it: wait for it to finish")
    if name.startswith("SQLITE_IOERR"):
        return StateDatabaseError(f"{where}: {text}", "check the disk that holds it (full, read-only or failing?)")
    return StateDatabaseError(f"{where}: {text}")
