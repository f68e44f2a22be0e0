"""An issue's manifest (`<issue-id>.json`): its range, its articles with a hash of each file, why each was chosen.

`digest send` reads an issue back from its manifest, so a send never depends on the content
folder having stayed the same since the build.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from digest.config import Settings
from digest.errors import DigestError
from digest.files import write_if_changed
from digest.models import ArchivedIssue, Article, Issue, KeyFigure

MANIFEST_VERSION = 1
log = logging.getLogger("digest")


def issue_id_for(since: datetime, until: datetime, tz: Any, topics: list[str] | tuple[str, ...] = ()) -> str:
    """A readable id from the issue's local date range, e.g. `2025-07-01_2025-07-08`."""
    ident = f"{since.astimezone(tz):%Y-%m-%d}_{until.astimezone(tz):%Y-%m-%d}"
    if topics:
        slug = "-".join(re.sub(r"[^\w]+", "-", t.casefold()).strip("-") for t in topics)
        ident += "_" + (slug[:60] or "topics")
    return ident


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def article_to_dict(art: Article, reason: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "path": art.path,
        "title": art.title,
        "date": art.date.isoformat(),
        "url": art.url,
        "topics": list(art.topics),
        "image": art.image,
        "tldr": art.tldr,
        "key_figures": [{"value": f.value, "context": f.context} for f in art.key_figures],
    }
    if art.lastmod is not None:
        data["lastmod"] = art.lastmod.isoformat()
    try:
        data["sha256"] = file_sha256(art.source)
    except OSError:
        data["sha256"] = None
    if reason:
        data["reason"] = reason
    return data


def article_from_dict(data: dict[str, Any], content_dir: Path) -> Article:
    return Article(
        path=data["path"],
        source=content_dir / data["path"],
        title=data["title"],
        date=datetime.fromisoformat(data["date"]),
        lastmod=datetime.fromisoformat(data["lastmod"]) if data.get("lastmod") else None,
        topics=list(data.get("topics") or []),
        url=data.get("url") or "",
        image=data.get("image"),
        tldr=data.get("tldr") or "",
        key_figures=[KeyFigure(f["value"], f.get("context") or "") for f in data.get("key_figures") or []],
        body="",
    )


def issue_to_manifest(
    issue: Issue, subject: str, files: dict[str, str], reasons: dict[str, str] | None = None
) -> dict[str, Any]:
    reasons = reasons or {}
    return {
        "version": MANIFEST_VERSION,
        "issue_id": issue.issue_id,
        "number": issue.number,
        "subject": subject,
        "since": issue.since.isoformat(),
        "until": issue.until.isoformat(),
        "note": issue.note,
        "files": files,
        "articles": [article_to_dict(a, reasons.get(a.path)) for a in issue.articles],
        "more": [article_to_dict(a, reasons.get(a.path)) for a in issue.more],
        "updated": [article_to_dict(a, "updated since it was carried") for a in issue.updated],
    }


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    if "sent" not in manifest:
        sent = _sent_record(path)  # a rebuild of an issue already sent must not forget that it was
        if sent is not None:
            manifest = {**manifest, "sent": sent}
    write_if_changed(path, manifest_json(manifest))


def manifest_json(manifest: dict[str, Any]) -> str:
    """The manifest as JSON a person can read: one line per top-level key, and per article in a list.

    Not json.dumps(indent=2): with an indent the standard library encodes in pure Python, ~0.17 s
    for a 673-article manifest that every build of such an issue writes or compares (its C encoder
    works only without one). json.loads reads both the same."""
    lines = []
    for key, value in manifest.items():
        if isinstance(value, list) and value:
            items = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in value)
            encoded = "[\n" + items + "\n  ]"
        else:
            encoded = json.dumps(value, ensure_ascii=False)
        lines.append(f"  {json.dumps(key, ensure_ascii=False)}: {encoded}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def manifest_path(settings: Settings, ref: str) -> Path:
    """Find an issue's manifest from its id or from the path of one of its built files."""
    candidate = Path(ref)
    if candidate.suffix in {".html", ".txt", ".eml", ".json"} and candidate.exists():
        path = candidate.with_suffix(".json")
    else:
        path = settings.out_dir / f"{ref}.json"
    if not path.exists():
        raise DigestError(
            f"issue {ref!r}: no manifest at {path}",
            hint="build it first with `digest build`, or pass --out to where it was written",
        )
    return path


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest at `path`, as written: the one place a manifest file is read.

    Raises OSError or ValueError when it cannot be read, and ValueError when it is not a
    digest manifest (a JSON object with an `issue_id`).
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("issue_id"), str):
        raise ValueError("not a digest issue manifest")
    return data


def load_manifest(settings: Settings, ref: str) -> dict[str, Any]:
    path = manifest_path(settings, ref)
    try:
        return read_manifest(path)
    except (OSError, ValueError) as exc:
        raise DigestError(f"{path}: cannot read the issue manifest: {exc}") from None


def _when(value: Any) -> datetime | None:
    """A manifest's timestamp, aware (UTC when it has no offset); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _archived(data: dict[str, Any]) -> ArchivedIssue:
    files = data.get("files")
    page = files.get("html") if isinstance(files, dict) else None
    articles = [a for a in data.get("articles") or [] if isinstance(a, dict)]
    return ArchivedIssue(
        issue_id=data["issue_id"],
        title=str(data.get("subject") or data.get("title") or ""),
        number=data.get("number"),
        since=_when(data.get("since")),
        until=_when(data.get("until")),
        page=str(page) if page else None,
        article_titles=tuple(str(a.get("title") or a.get("path") or "") for a in articles),
        count=len(articles) + len([a for a in data.get("more") or [] if isinstance(a, dict)]),
    )


def read_manifests(out_dir: Path) -> list[ArchivedIssue]:
    """Every readable issue manifest of `out_dir`, newest first (by end of range, then id); the others left out."""
    found = []
    for path in sorted(out_dir.glob("*.json")):
        try:
            data = read_manifest(path)
        except (OSError, ValueError):
            continue
        if data["issue_id"].strip():
            found.append(_archived(data))
    oldest = datetime.min.replace(tzinfo=timezone.utc)
    found.sort(key=lambda i: (i.until or i.since or oldest, i.issue_id), reverse=True)
    return found


def sent_records(out_dir: Path) -> list[tuple[Path, str, dict[str, Any]]]:
    """(manifest, issue id, its `sent` record) for each issue of `out_dir` a send was started for."""
    found = []
    for path in sorted(out_dir.glob("*.json")):
        try:
            data = read_manifest(path)
        except (OSError, ValueError):
            continue
        sent = data.get("sent")
        if isinstance(sent, dict):
            found.append((path, data["issue_id"], sent))
    return found


def load_issue(settings: Settings, ref: str) -> Issue:
    """The built issue `ref` (an id, or the path of its .html), articles already summarized."""
    data = load_manifest(settings, ref)
    content = settings.content_dir
    return Issue(
        issue_id=data["issue_id"],
        since=datetime.fromisoformat(data["since"]),
        until=datetime.fromisoformat(data["until"]),
        articles=[article_from_dict(a, content) for a in data.get("articles", [])],
        more=[article_from_dict(a, content) for a in data.get("more", [])],
        updated=[article_from_dict(a, content) for a in data.get("updated", [])],
        number=data.get("number"),
        note=data.get("note"),
    )


def _sent_record(path: Path) -> dict[str, Any] | None:
    try:
        sent = read_manifest(path).get("sent")
    except (OSError, ValueError):
        return None
    return sent if isinstance(sent, dict) else None


def record_send(settings: Settings, issue_id: str, when: datetime) -> None:
    """Note in the issue's manifest that a send of it started, and with which state file.

    The outbox in the state file is what keeps a rerun from sending twice; this note outlives
    it, so that a send into a lost or emptied state file is refused (state.check_state_continuity).
    Best effort: an issue whose manifest is not in the out folder, or cannot be written, is sent
    all the same.
    """
    path = settings.out_dir / f"{issue_id}.json"
    now = when.astimezone(timezone.utc).isoformat(timespec="seconds")
    try:
        data = read_manifest(path)
        earlier = data.get("sent")
        data["sent"] = {
            "first_started": (earlier.get("first_started") if isinstance(earlier, dict) else None) or now,
            "last_started": now,
            "state": settings.state_where,
        }
        write_manifest(path, data)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        log.warning("%s: could not note that issue %s is being sent: %s", path, issue_id, exc)
