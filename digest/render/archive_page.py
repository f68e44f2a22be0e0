"""The issue archive's page: `index.html`, every issue built, newest first (its feed: archive_feed.py).

The archive wing reads the manifests (archive.manifest.read_manifests) and writes the files;
this module only turns the entries into HTML, with the same templates and labels as the email.
A manifest with missing keys still gets a line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from digest.config import Settings
from digest.models import ArchivedIssue
from digest.render.archive_feed import archive_entries, atom_feed
from digest.render.i18n import labels_for
from digest.render.templates import environment, render_template
from digest.text import one_line

INDEX_TEMPLATE = "archive.html.j2"


def render_index(entries: list[dict[str, Any]], settings: Settings) -> str:
    """`index.html` listing `entries` (archive_feed.archive_entries)."""
    context = {
        "lang": one_line(settings.site.language) or "en",
        "site_title": one_line(settings.site.title),
        "labels": labels_for(settings.site.language),
        "entries": entries,
    }
    env = environment(settings.path(settings.render.templates))
    return render_template(env, INDEX_TEMPLATE, context)


def render_archive(issues: Sequence[ArchivedIssue], settings: Settings) -> tuple[str, str]:
    """`index.html` and `feed.xml` listing `issues` (newest first, as read_manifests gives them)."""
    entries = archive_entries(issues, settings)
    return render_index(entries, settings), atom_feed(entries, settings)
