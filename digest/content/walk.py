"""The one walker: which files under the content folder are Markdown pages to read (spec §1).

One stat per file, with the size and mtime the scan cache compares, and no Path per file: at
100,000 files those cost a third of a second. Folders are listed through a descriptor where the
OS allows, so each stat skips the path lookup (-20%).
"""

from __future__ import annotations

import os
import stat

from digest.models import Skipped
from digest.text import WARNING_MAX, one_line

SUFFIXES = (".md", ".markdown")
BUNDLE_INDEXES = ("index.md", "index.markdown")


def walk(
    content_dir: str | os.PathLike[str], *, follow_outside_links: bool = False, left_out: list[Skipped] | None = None
) -> tuple[dict[str, int], list[Skipped]]:
    """{relative POSIX path: signature of size and mtime} of every Markdown file to read, and the unreadable ones.

    Folders are followed once each (so no symbolic-link loop), depth first in name order: the
    first path to a folder wins. Dot files, `_drafts` and a leaf bundle's resources are left out.
    A symbolic link that resolves outside the content folder is a problem, not followed, unless
    `follow_outside_links` (see `outside_link`); telling a link costs nothing (the listing says so).
    `left_out`, when given, gets the Markdown files and folders left out by rule, with why (for --explain).
    """
    top = os.fspath(content_dir)
    root = os.path.realpath(top)
    watch_links = not follow_outside_links
    files: dict[str, int] = {}
    problems: list[Skipped] = []
    seen: set[str] = set()
    stack: list[tuple[str, str]] = [(top, "")]
    is_regular = stat.S_ISREG
    by_fd = os.scandir in os.supports_fd
    while stack:
        folder, rel = stack.pop()
        fd = -1
        try:
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            if by_fd:
                fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            with os.scandir(fd if by_fd else folder) as it:
                entries = list(it)
        except OSError as exc:
            if fd >= 0:
                os.close(fd)
            problems.append(Skipped((rel or ".") + "/", _cannot("cannot read folder", exc)))
            continue
        try:
            prefix = rel + "/" if rel else ""
            # A leaf bundle's other files are its resources, not pages (Hugo); its _posts stay posts (Jekyll).
            bundle = bool(rel) and any(e.name in BUNDLE_INDEXES for e in entries)
            folders: list[tuple[str, str]] = []
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue  # .git, editor swap files
                markdown = name.endswith(SUFFIXES) or name.lower().endswith(SUFFIXES)
                wanted = markdown and (not bundle or name in BUNDLE_INDEXES)
                if left_out is not None and markdown and not wanted:
                    left_out.append(Skipped(prefix + name, f"not a page: a resource of the leaf bundle {rel}/ (Hugo)"))
                away = outside_link(os.path.join(folder, name), root) if watch_links and entry.is_symlink() else None
                if wanted and away is None:
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        problems.append(Skipped(prefix + name, "cannot read: a symbolic link to nothing"))
                        continue
                    except OSError as exc:
                        problems.append(Skipped(prefix + name, _cannot("cannot read", exc)))
                        continue
                    if is_regular(st.st_mode):
                        files[prefix + name] = signature(st.st_size, st.st_mtime_ns)
                        continue
                    if not stat.S_ISDIR(st.st_mode):
                        problems.append(Skipped(prefix + name, "cannot read: not a regular file"))
                        continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if not is_dir:
                    if wanted and away is not None:
                        problems.append(Skipped(prefix + name, away))
                elif name == "_drafts" and left_out is not None:
                    left_out.append(Skipped(prefix + name + "/", "not published: a drafts folder (Jekyll's _drafts)"))
                elif name != "_drafts" and (not bundle or name == "_posts"):
                    if away is not None:
                        problems.append(Skipped(prefix + name + "/", away))
                        continue
                    folders.append((name, prefix + name))
        finally:
            if fd >= 0:
                os.close(fd)
        folders.sort(reverse=True)  # popped in name order
        stack.extend((os.path.join(folder, name), child) for name, child in folders)
    return files, problems


def _cannot(what: str, exc: OSError) -> str:
    return one_line(f"{what}: {exc.strerror or exc}", WARNING_MAX)


def signature(size: int, mtime_ns: int) -> int:
    """One integer for a file's size and mtime_ns; a changed file gets a new one (tuple hashes of ints are stable)."""
    return hash((size, mtime_ns))


def outside_link(path: str, root: str) -> str | None:
    """Why the symbolic link at `path` is not followed: it resolves outside `root` (a real path); else None.

    A link to a private file elsewhere on the host (~/.ssh/config.md, /etc/…) must never be
    published in an issue; `content.follow_outside_links: true` lifts this for sites built of links.
    """
    target = os.path.realpath(path)
    if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
        return None
    # Not cut to the usual length: the whole target is the point of the warning.
    return one_line(
        f"a symbolic link to {target}, outside the content folder: skipped "
        "(content.follow_outside_links: true reads it)", 4500,
    )


def article_path(rel: str) -> str:
    """A leaf bundle's index file stands for its folder, written with a trailing slash."""
    folder, _, name = rel.rpartition("/")
    return folder + "/" if folder and name in BUNDLE_INDEXES else rel
