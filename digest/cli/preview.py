"""`digest preview`: serve issues/ on 127.0.0.1 and rebuild the open issue when its sources change."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import click

from digest.config import Settings
from digest.cli.options import config_options, pass_settings_keys

POLL_SECONDS = 1.0  # polling keeps us free of a file-watching dependency; a second is quick enough


def _sources(settings: Settings, config_path: Path | None) -> Iterator[Path]:
    """Every file whose change should rebuild the issue: articles, config, templates."""
    for folder in (settings.content_dir, settings.path(settings.render.templates)):
        if folder.is_dir():
            yield from (p for p in folder.rglob("*") if p.is_file())
    if config_path and config_path.exists():
        yield config_path


def _fingerprint(settings: Settings, config_path: Path | None) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in _sources(settings, config_path):
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def _newest_manifest(out_dir: Path) -> dict | None:
    manifests = []
    for path in out_dir.glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "issue_id" in data and "since" in data:
            manifests.append((path.stat().st_mtime, data))
    return max(manifests, key=lambda m: m[0])[1] if manifests else None


def rebuild(config_path: str | None, content_dir: str | None, out_dir: str | None, state_path: str | None) -> str:
    """Rebuild the newest issue with the settings as they are now; returns a one-line outcome."""
    from digest.errors import DigestError
    from digest.pipeline import build_issue, write_issue
    from digest.cli.options import settings_from_flags

    try:
        settings = settings_from_flags(config_path, content_dir, out_dir, state_path)
        manifest = _newest_manifest(settings.out_dir)
        if manifest is None:
            return "no issue built yet: run `digest build --since DATE` first"
        result = build_issue(
            settings, datetime.fromisoformat(manifest["since"]), datetime.fromisoformat(manifest["until"]),
            number=manifest.get("number"), issue_id=manifest["issue_id"], note=manifest.get("note"),
        )
        if not result.issue.articles:
            return f"issue {manifest['issue_id']}: no articles any more; kept the last build"
        write_issue(result, settings)
        return f"rebuilt {manifest['issue_id']} ({len(result.issue.articles)} articles)"
    except DigestError as exc:
        return f"Error: {exc.message}"


@click.command("preview")
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1.")
@config_options()
@pass_settings_keys
def preview_command(settings: Settings, port: int) -> None:
    """Serve issues/ on http://127.0.0.1:PORT and rebuild the newest issue when an article,
    config.yaml or a template changes. Ctrl-C stops it."""
    import http.server  # here, not at the top: it costs every other command ~15 ms of start-up

    ctx = click.get_current_context()
    params = {k: ctx.params.get(k) for k in ("config_path", "content_dir", "out_dir", "state_path")}
    config_path = Path(params["config_path"] or "config.yaml")
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(settings.out_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    click.echo(f"Serving {settings.out_dir} at http://127.0.0.1:{server.server_port}/ (index.html lists the issues)")
    seen = _fingerprint(settings, config_path)
    try:
        while True:
            time.sleep(POLL_SECONDS)
            now = _fingerprint(settings, config_path)
            if now != seen:
                seen = now
                click.echo(rebuild(**params))
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
