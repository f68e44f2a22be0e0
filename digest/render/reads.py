"""What a render depends on, for the caches that keep renders: read without loading the renderer.

The pipeline keys the render and archive caches on these before it knows whether it must
render at all; keeping them apart from Jinja2, MJML and css-inline lets a build whose issue
and archive come from the caches skip loading those (about 35 ms a run, python -X importtime).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from digest.config import Settings
from digest.models import Issue, RenderedEmail

BUILTIN_DIR = Path(__file__).parent / "templates"  # the built-in templates, packaged with digest
RENDER_MODULES = ("digest.render", "digest.text", "digest.models")  # packages stand for every module in them


def render_reads(settings: Settings) -> dict[str, Any]:
    """Every setting `render_issue` and the templates read (the templates see only its context).

    A render cache keys on these, so a setting left out (smtp.rate, mail.recipients, …) never
    re-renders; one read here and left out would serve a stale issue. test_render checks both ways.
    """
    site, r = settings.site, settings.render
    return {
        "site": [site.title, site.base_url, site.language, site.logo, site.archive_url, site.postal_address],
        "tz": str(settings.tz),
        "render": [str(settings.path(r.templates)), r.group_by, r.max_bytes, r.preheader, r.note, r.subject],
        "key_figures_max": settings.summary.key_figures_max,
        "unsubscribe": [settings.mail.unsubscribe_url, settings.mail.unsubscribe_mailto, settings.smtp.sender],
    }


def template_folders(settings: Settings) -> tuple[Path, ...]:
    """The folders templates are read from: the site's overrides, then the built-ins."""
    return (settings.path(settings.render.templates), BUILTIN_DIR)


def issue_as_rendered(issue: Issue, rendered: RenderedEmail) -> Issue:
    """A new `issue` as `rendered` shows it: the articles that did not fit moved to the front of `more`."""
    if rendered.shown is None or rendered.shown >= len(issue.articles):
        return issue
    keep = rendered.shown
    return replace(issue, articles=issue.articles[:keep], more=issue.articles[keep:] + issue.more)
