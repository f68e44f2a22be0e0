"""The issue archive: index.html newest first and a valid, escaped Atom feed, from the manifests on disk."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from issue_factory import make_settings

from digest.pipeline.build import refresh_archive
from digest.render.check import parse

ATOM = "{http://www.w3.org/2005/Atom}"


def _manifest(out: Path, issue_id: str, **data) -> None:
    (out / f"{issue_id}.json").write_text(
        json.dumps({"issue_id": issue_id, **data}, ensure_ascii=False), encoding="utf-8"
    )


def _three_issues(out: Path) -> None:
    _manifest(
        out, "2025-07-01_2025-07-08", number=1, subject="Digest <b>&</b> \"one\"",
        since="2025-07-01T00:00:00+08:00", until="2025-07-08T00:00:00+08:00",
        articles=[{"title": "A <script>alert(1)</script>"}, {"title": "B & C"}],
    )
    _manifest(
        out, "2025-07-15_2025-07-22", number=3, title="Third",
        since="2025-07-15T00:00:00+08:00", until="2025-07-22T00:00:00+08:00", articles=[],
    )
    _manifest(out, "2025-07-08_2025-07-15", since="2025-07-08T00:00:00+08:00", until="2025-07-15T00:00:00+08:00")
    _manifest(out, "no-dates-at-all")
    (out / "broken.json").write_text("{not json", encoding="utf-8")
    (out / "other.json").write_text('{"something": "else"}', encoding="utf-8")


def test_index_lists_every_issue_newest_first(tmp_path):
    """index.html links every issue manifest in the folder, newest range first, undated last."""
    _three_issues(tmp_path)
    refresh_archive(tmp_path, make_settings())
    doc = parse((tmp_path / "index.html").read_text(encoding="utf-8")).root
    hrefs = [n.attrs["href"] for n in doc.iter() if n.tag == "a" and n.attrs["href"].endswith(".html")]
    assert hrefs == [
        "2025-07-15_2025-07-22.html",
        "2025-07-08_2025-07-15.html",
        "2025-07-01_2025-07-08.html",
        "no-dates-at-all.html",
    ]


def test_index_escapes_subjects(tmp_path):
    """A subject with markup shows as text on the archive page."""
    _three_issues(tmp_path)
    refresh_archive(tmp_path, make_settings())
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "Digest &lt;b&gt;&amp;&lt;/b&gt;" in page and "<b>&</b>" not in page


def test_feed_is_valid_atom_with_absolute_links(tmp_path):
    """feed.xml parses as Atom: feed id, title, updated, author; one entry per issue with id, title, updated, link."""
    _three_issues(tmp_path)
    refresh_archive(tmp_path, make_settings())
    feed = ET.parse(tmp_path / "feed.xml").getroot()
    assert feed.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{tag}") is not None, tag
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 4
    first = entries[0]
    assert first.find(f"{ATOM}title").text == "Third"
    assert first.find(f"{ATOM}link").attrib["href"] == "https://news.example.com/newsletter/2025-07-15_2025-07-22.html"
    assert first.find(f"{ATOM}updated").text == "2025-07-22T00:00:00+08:00"
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert len(set(ids)) == 4 and all(i.startswith("tag:news.example.com,") for i in ids)
    third = entries[2]
    assert third.find(f"{ATOM}title").text == 'Digest <b>&</b> "one"'
    assert third.find(f"{ATOM}summary").text == "A <script>alert(1)</script> · B & C"


def test_empty_folder_gives_empty_archive(tmp_path):
    """With no manifests, both files are still written, valid and empty of entries."""
    refresh_archive(tmp_path / "issues", make_settings(site={"archive_url": None}))
    feed = ET.parse(tmp_path / "issues" / "feed.xml").getroot()
    assert feed.findall(f"{ATOM}entry") == []
    assert (tmp_path / "issues" / "index.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_manifest_json_reads_back_as_the_manifest_and_keeps_one_line_per_article() -> None:
    """The manifest's own JSON layout (the C encoder per line) reads back exactly, odd strings included."""
    import json

    from digest.archive.manifest import manifest_json

    manifest = {
        "version": 3, "issue_id": "2025-07-01_2025-07-08", "number": None, "note": "a\nb \u2028 \"q\" \\",
        "files": {"html": "x.html"}, "articles": [{"title": "中文 \u0000", "n": i, "tags": ["x"]} for i in range(3)],
        "more": [], "updated": [], "sent": {"at": "2025-07-08T00:00:00+00:00", "count": 2},
    }
    text = manifest_json(manifest)
    assert json.loads(text) == manifest
    assert text.count("\n") == len(manifest) + 2 + 3 + 1  # the braces, one line per key, the articles and their ]
