"""The issue archive's files in the out folder: `index.html` and `feed.xml`, written atomically.

What they say is made by render/archive_page.py from the manifests (manifest.read_manifests);
the pipeline connects the two, so the archive never imports the renderer.
"""

from __future__ import annotations

from pathlib import Path

from digest.files import write_if_changed

INDEX_FILE = "index.html"
FEED_FILE = "feed.xml"


def write_archive(out_dir: Path, index_html: str | None, feed_xml: str) -> None:
    """Write the archive's index page (None: it stands as it is) and Atom feed into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if index_html is not None:
        write_if_changed(out_dir / INDEX_FILE, index_html)
    write_if_changed(out_dir / FEED_FILE, feed_xml)
