"""One exception root: the CLI alone turns a DigestError into `Error: …` and an exit code.

`os_error` and `db_error` turn what the operating system and SQLite raise (a full disk, a
read-only folder, a damaged state file, too many open files) into a DigestError that names
the file and says what to do, so that the CLI never shows a traceback for them.
"""

from __future__ import annotations

import errno
import os
import pwd
import re
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


class StateUnreachableError(StateDatabaseError):
    """The PostgreSQL state cannot be reached now (refused, starting up, shutting down, connection
    lost): a sender reconnects and retries on this one (engine.is_connection_lost), not on others."""


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


# What libpq says, as the one line a site owner can act on: (words in the message, reason, hint).
_PG_REASONS = (
    ("password authentication failed", "password authentication failed",
     "set DIGEST_STATE_PASSWORD to the role's password (or put it in ~/.pgpass or a service file)"),
    ("no password supplied", "the server asks for a password and none was given",
     "set DIGEST_STATE_PASSWORD (or put the password in ~/.pgpass or a service file)"),
    ('database "', "", "create it (`createdb`), or fix the database name in `state:`"),
    ('role "', "", "create the role on the server, or fix the user name in `state:`"),
    ("connection refused", "connection refused",
     "is PostgreSQL running and listening on that host and port? (listen_addresses, port)"),
    ("timeout expired", "no answer before the timeout", "check the host name, the network and the firewall"),
    ("could not translate host name", "unknown host name", "check the host name in `state:`"),
    ("no pg_hba.conf entry", "the server's pg_hba.conf does not let this host and role in",
     "add a line for this host to pg_hba.conf on the server"),
    ("the database system is starting up", "the server is starting up", "try again in a moment"),
    ("the database system is shutting down", "the server is shutting down", "try again once it is back"),
)
_LOST_STATES = ("57P01", "57P02", "57P03")  # admin shutdown, crash shutdown, cannot connect now
_RETRYABLE = ("connection refused", "the database system is starting up", "the database system is shutting down",
              "timeout expired")


def pg_error(exc: Exception, where: str, password: str | None = None) -> StateDatabaseError:
    """One line for a PostgreSQL (psycopg) failure: `where`, then the reason; never the password.

    Read from the message and its SQLSTATE only, so that nothing here imports psycopg.
    """
    text = " ".join(str(exc).split())
    if password:
        text = text.replace(password, "***")
    low = text.lower()
    for words, reason, hint in _PG_REASONS:
        if not reason:  # 'database "x" does not exist', 'role "x" does not exist': libpq's words name it
            match = re.search(words + r'[^"]*" does not exist', text)
            if match is None:
                continue
            reason = match.group(0)
        if words in low:
            cls = StateUnreachableError if words in _RETRYABLE else StateDatabaseError
            return cls(f"{where}: {reason}", hint)
    state = getattr(exc, "sqlstate", None)
    operational = any(c.__name__ == "OperationalError" for c in type(exc).__mro__)
    if operational and (state is None or state.startswith("08") or state in _LOST_STATES):
        return StateUnreachableError(f"{where}: the connection was lost ({text})", "try again")
    return StateDatabaseError(f"{where}: {text}")
