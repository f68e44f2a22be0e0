"""The issue archive: `index.html` (every issue built, newest first) and `feed.xml` (Atom) in the out folder.

Issues are found from their `<issue-id>.json` manifests, so the archive can be rebuilt at any
time from what is on disk; a manifest with missing keys still gets a line, one that cannot be
read is left out.
"""

from __future__ import annotations

import json
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from digest.config import Settings
from digest.render.i18n import format_range, labels_for
from digest.render.templates import environment, render_template
from digest.render.text import cut, one_line

ATOM = "http://www.w3.org/2005/Atom"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def read_manifests(out_dir: Path) -> list[dict[str, Any]]:
    """Every readable issue manifest of `out_dir`, newest first (by end of range, then id)."""
    found = []
    for path in sorted(out_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("issue_id"), str) and data["issue_id"].strip():
            found.append(data)
    found.sort(key=lambda d: (_when(d.get("until")) or _when(d.get("since")) or EPOCH, d["issue_id"]), reverse=True)
    return found


def _entry(data: dict[str, Any], settings: Settings, base: str | None) -> dict[str, Any]:
    issue_id = one_line(data["issue_id"])
    since, until = _when(data.get("since")), _when(data.get("until"))
    language = settings.site.language
    date_range = format_range(since, until, settings.tz, language) if since and until else ""
    number = data.get("number")
    labels = labels_for(language)
    title = one_line(data.get("subject") or data.get("title") or "")
    if not title:
        title = labels["issue"].format(number=number) if number is not None else issue_id
    files = data.get("files") if isinstance(data.get("files"), dict) else {}
    page = one_line(files.get("html") or f"{issue_id}.html")
    href = urllib.parse.quote(page)
    articles = [a for a in data.get("articles") or [] if isinstance(a, dict)]
    return {
        "id": issue_id,
        "title": cut(title, 300),
        "number": number,
        "date_range": date_range,
        "href": href,
        "url": (base + href) if base else href,
        "updated": until or since or EPOCH,
        "articles": [cut(one_line(a.get("title") or a.get("path") or ""), 300) for a in articles],
        "count": len(articles) + len([a for a in data.get("more") or [] if isinstance(a, dict)]),
    }


def write_archive(out_dir: Path, settings: Settings) -> None:
    """Write `index.html` and `feed.xml` listing every issue whose manifest is in `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = settings.site.archive_url
    base = archive.rstrip("/") + "/" if archive and archive.startswith(("http://", "https://")) else None
    entries = [_entry(d, settings, base) for d in read_manifests(out_dir)]
    context = {
        "lang": one_line(settings.site.language) or "en",
        "site_title": one_line(settings.site.title),
        "labels": labels_for(settings.site.language),
        "entries": entries,
    }
    env = environment(settings.path(settings.render.templates))
    _write(out_dir / "index.html", render_template(env, "archive.html.j2", context))
    _write(out_dir / "feed.xml", atom_feed(entries, settings, base))


def atom_feed(entries: list[dict[str, Any]], settings: Settings, base: str | None) -> str:
    """An Atom 1.0 feed; ElementTree does the escaping, ids are tag: URIs that never change."""
    ET.register_namespace("", ATOM)
    host = urllib.parse.urlsplit(settings.site.base_url).hostname or "localhost"
    feed = ET.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": one_line(settings.site.language) or "en"})
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


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
