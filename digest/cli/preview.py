"""`digest preview`: serve issues/ on 127.0.0.1 and rebuild the open issue when its sources change.

The sources are watched with watchfiles (inotify, FSEvents, …), not polled: a poll stat'ed the
whole content folder every second (728 ms a poll on 10,000 files, about 70 % of a core).
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from digest.archive.manifest import read_manifest
from digest.cli.options import config_options, pass_settings_keys, settings_from_flags
from digest.config import Settings
from digest.errors import DigestError

SETTLE_MS = 200  # a save is often several writes (editors write, rename, touch): one rebuild for them all
FLAG_KEYS = ("config_path", "content_dir", "out_dir", "state_path")


def _newest_manifest(out_dir: Path) -> dict[str, Any] | None:
    manifests = []
    for path in out_dir.glob("*.json"):
        try:
            data = read_manifest(path)
        except (OSError, ValueError):
            continue
        if "since" in data:
            manifests.append((path.stat().st_mtime, data))
    return max(manifests, key=lambda m: m[0])[1] if manifests else None


def rebuild(config_path: str | None, content_dir: str | None, out_dir: str | None, state_path: str | None) -> str:
    """Rebuild the newest issue with the settings as they are now; returns a one-line outcome."""
    # Lazy: the pipeline (Jinja2, MJML, Babel, …) costs every other command 210-310 ms of
    # start-up (python -X importtime, cumulative, 3 runs); preview needs it only to rebuild.
    from digest.pipeline.build import build_issue, write_issue

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
        write_issue(result, settings, now=datetime.now(timezone.utc))
        return f"rebuilt {manifest['issue_id']} ({len(result.issue.articles)} articles)"
    except DigestError as exc:
        return f"Error: {exc.message}"


def _watch(paths: list[Path], recursive: bool, wanted: Callable[[Path], bool], changes: queue.Queue[None],
           stop: threading.Event) -> None:
    """Put one item on `changes` for each batch of changes to a wanted path under `paths`."""
    # Lazy: watchfiles costs every other command ~20 ms of start-up (python -X importtime, 3 runs 19-21 ms).
    import watchfiles

    usual = watchfiles.DefaultFilter()  # skips .git, __pycache__, editors' swap and backup files

    def keep(change: watchfiles.Change, path: str) -> bool:
        return usual(change, path) and wanted(Path(path))

    for batch in watchfiles.watch(
        *paths, recursive=recursive, stop_event=stop, debounce=SETTLE_MS, rust_timeout=500, yield_on_timeout=False,
        watch_filter=keep,
    ):
        if batch:
            changes.put(None)


def watch_and_rebuild(
    settings: Settings, config_path: Path | None, on_change: Callable[[], Any], stop: threading.Event
) -> None:
    """Call `on_change` after each change to an article, the config file or a template, until `stop` is set.

    The content and template folders are watched recursively; the config file through its
    folder, not recursively (that folder is often the site, with issues/ and the state in it).
    """
    folders = [f for f in (settings.content_dir, settings.path(settings.render.templates)) if f.is_dir()]
    watchers: list[tuple[list[Path], bool, Callable[[Path], bool]]] = []
    if folders:
        watchers.append((folders, True, lambda _path: True))
    if config_path is not None and config_path.parent.is_dir():
        config = config_path.resolve()
        watchers.append(([config.parent], False, lambda path: path.resolve() == config))
    changes: queue.Queue[None] = queue.Queue()
    threads = [
        threading.Thread(target=_watch, args=(paths, recursive, wanted, changes, stop), daemon=True)
        for paths, recursive, wanted in watchers
    ]
    for thread in threads:
        thread.start()
    while not stop.is_set():
        try:
            changes.get(timeout=0.5)  # wakes to see `stop`; no file is looked at here
        except queue.Empty:
            continue
        _drain(changes)
        on_change()
    for thread in threads:
        thread.join(timeout=2)


def _drain(changes: queue.Queue[None]) -> None:
    """Changes that came in together (content and config at once) make one rebuild."""
    while True:
        try:
            changes.get_nowait()
        except queue.Empty:
            return


@click.command("preview")
@click.option("--port", default=8000, show_default=True, help="Port on 127.0.0.1.")
@config_options()
@pass_settings_keys
def preview_command(settings: Settings, port: int) -> None:
    """Serve issues/ on http://127.0.0.1:PORT and rebuild the newest issue when an article,
    config.yaml or a template changes. Ctrl-C stops it."""
    import http.server  # lazy: it costs every other command 24-37 ms of start-up (python -X importtime, 3 runs)

    ctx = click.get_current_context()
    params = {k: ctx.params.get(k) for k in FLAG_KEYS}
    config_path = Path(params["config_path"] or "config.yaml")
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(settings.out_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    click.echo(f"Serving {settings.out_dir} at http://127.0.0.1:{server.server_port}/ (index.html lists the issues)")
    stop = threading.Event()
    try:
        watch_and_rebuild(settings, config_path, lambda: click.echo(rebuild(**params)), stop)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.shutdown()
