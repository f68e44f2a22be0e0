"""The issue archive's Atom feed (`feed.xml`) and the entries both archive pages list.

No template engine here: a build whose index page is unchanged rewrites only the feed (its
`updated` moves with every build) without loading Jinja2.
"""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from digest.config import Settings
from digest.models import ArchivedIssue
from digest.render.i18n import format_range, labels_for
from digest.text import cut, one_line

ATOM = "http://www.w3.org/2005/Atom"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def archive_base(settings: Settings) -> str | None:
    """The archive's absolute URL with a trailing slash, when `site.archive_url` gives one."""
    archive = settings.site.archive_url
    return archive.rstrip("/") + "/" if archive and archive.startswith(("http://", "https://")) else None


def archive_entries(issues: Sequence[ArchivedIssue], settings: Settings) -> list[dict[str, Any]]:
    """One entry per issue (newest first, as read_manifests gives them), for the index and the feed."""
    base = archive_base(settings)
    return [_entry(i, settings, base) for i in issues]


def _entry(issue: ArchivedIssue, settings: Settings, base: str | None) -> dict[str, Any]:
    issue_id = one_line(issue.issue_id)
    since, until = issue.since, issue.until
    language = settings.site.language
    date_range = format_range(since, until, settings.tz, language) if since and until else ""
    title = one_line(issue.title)
    if not title:
        title = labels_for(language)["issue"].format(number=issue.number) if issue.number is not None else issue_id
    href = urllib.parse.quote(one_line(issue.page or f"{issue_id}.html"))
    return {
        "id": issue_id,
        "title": cut(title, 300),
        "number": issue.number,
        "date_range": date_range,
        "href": href,
        "url": (base + href) if base else href,
        "updated": until or since or EPOCH,
        "articles": [cut(one_line(t), 300) for t in issue.article_titles],
        "count": issue.count,
    }


def atom_feed(entries: list[dict[str, Any]], settings: Settings) -> str:
    """An Atom 1.0 feed; ElementTree does the escaping, ids are tag: URIs that never change."""
    ET.register_namespace("", ATOM)
    base = archive_base(settings)
    host = urllib.parse.urlsplit(settings.site.base_url).hostname or "localhost"
    lang = one_line(settings.site.language) or "en"
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": lang})
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"tag:{host},2025:digest"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = one_line(settings.site.title) or host
    newest = max((e["updated"] for e in entries), default=EPOCH)
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = newest.isoformat()
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = one_line(settings.site.title) or host
    if base:
        ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": base + "feed.xml"})
        ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": base + "index.html"})
    for e in entries:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"tag:{host},2025:digest/{urllib.parse.quote(e['id'])}"
        ET.SubElement(entry, f"{{{ATOM}}}title").text = e["title"]
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = e["updated"].isoformat()
        ET.SubElement(entry, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": e["url"]})
        summary = " · ".join(a for a in e["articles"] if a)
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = summary or e["date_range"] or e["title"]
    ET.indent(feed)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"
