"""Real faults for tests that run as root: an unprivileged user, a read-only mount, a full disk.

Root ignores file permissions, so `chmod` alone stages nothing. Instead a command runs:

- as `nobody` (`setpriv`), on files it may read but not write: permissions apply again;
- in a private mount namespace (`unshare -rm`, gone when the command ends) where a folder is
  bind-mounted read-only, or replaced by a tiny tmpfs that is then filled: a real EROFS, a
  real ENOSPC.

Each `*_problem()` probe tries its mechanism once and returns why it cannot work on this
machine (for the skip message), or None.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

UNPRIVILEGED = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")


def digest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "digest", *args]


def run(cmd: Sequence[str], cwd: Path, timeout: float = 60, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def as_unprivileged(cmd: Sequence[str]) -> list[str]:
    """`cmd` as the user `nobody` when we are root (an ordinary user already is unprivileged)."""
    return [*UNPRIVILEGED, *cmd] if is_root() else list(cmd)


def in_mounts(setup: Sequence[str], cmd: Sequence[str]) -> list[str]:
    """`cmd` after the shell commands `setup`, in a private user and mount namespace."""
    script = " && ".join([*setup, 'exec "$@"'])
    return ["unshare", "-rm", "sh", "-c", script, "sh", *cmd]


def read_only(folder: Path) -> str:
    """A setup step: `folder` becomes a read-only bind mount of itself."""
    q = shlex.quote(str(folder))
    return f"mount --bind {q} {q} && mount -o remount,bind,ro {q}"


def full(folder: Path, size: str = "64k") -> str:
    """A setup step: `folder` becomes an empty tmpfs of `size`, then filled to the last byte."""
    q = shlex.quote(str(folder))
    return f"mount -t tmpfs -o size={size} tmpfs {q} && {{ dd if=/dev/zero of={q}/.filler bs=4k 2>/dev/null; true; }}"


@contextmanager
def shared_folder() -> Iterator[Path]:
    """A temporary folder that `nobody` can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="digest-staging-", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@functools.cache
def unprivileged_problem() -> str | None:
    """Why a command cannot be run as an unprivileged user here, or None."""
    if not shutil.which("setpriv") and is_root():
        return "setpriv is not installed: cannot drop root to stage a permission error"
    with shared_folder() as folder:
        probe = run(as_unprivileged([sys.executable, "-c", "import digest; open('x', 'w')"]), folder)
        if probe.returncode == 0:
            return "the unprivileged user could write a folder it does not own: permissions are not enforced here"
        if "PermissionError" not in probe.stderr:
            return f"cannot run digest as an unprivileged user: {probe.stderr.strip()[-300:]}"
    return None


@functools.cache
def mounts_problem() -> str | None:
    """Why private read-only and tmpfs mounts cannot be made here, or None."""
    if not shutil.which("unshare"):
        return "unshare is not installed: cannot stage a read-only folder or a full disk"
    with shared_folder() as root:
        # A folder below the working one: a mount over the working folder itself would not
        # be seen through the relative paths of a process already inside it.
        folder = root / "probe"
        folder.mkdir()
        probe = run(in_mounts([read_only(folder)], ["touch", str(folder / "x")]), root)
        if probe.returncode == 0 or "Read-only" not in probe.stderr:
            return f"private mounts are not allowed here (unshare -rm): {probe.stderr.strip()[-300:]}"
        write = f"import os; os.write(os.open({str(folder / 'y')!r}, os.O_WRONLY | os.O_CREAT), b'more')"
        probe = run(in_mounts([full(folder)], [sys.executable, "-c", write]), root)
        if probe.returncode == 0 or "No space" not in probe.stderr:
            return f"cannot mount a tmpfs here (unshare -rm): {probe.stderr.strip()[-300:]}"
    return None
