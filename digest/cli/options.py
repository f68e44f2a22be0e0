"""Options every command shares, and the one place a command turns them into Settings."""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from digest.config import STATE_URL_SCHEMES, Settings, load_settings

CONFIG_HELP = "Settings file (default: ./config.yaml; built-in defaults when it is absent)."
CONTENT_HELP = "Content folder of Markdown articles (overrides `content` in the config)."
OUT_HELP = "Folder where built issues are written and read (overrides `out`)."
STATE_HELP = ("State: a SQLite file, or postgresql://user@host:5432/db (password in DIGEST_STATE_PASSWORD);"
              " what was built, carried and sent (overrides `state`).")


def config_options(*, content: bool = True, out: bool = True, state: bool = True) -> Callable[[Any], Any]:
    """Add --config and, where they apply, --content, --out and --state to a command."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        opts = [click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)]
        if content:
            opts.append(click.option("--content", "content_dir", type=click.Path(file_okay=False), help=CONTENT_HELP))
        if out:
            opts.append(click.option("--out", "out_dir", type=click.Path(file_okay=False), help=OUT_HELP))
        if state:
            opts.append(click.option("--state", "state_path", type=click.Path(dir_okay=False), help=STATE_HELP))
        for opt in reversed(opts):
            func = opt(func)
        return func

    return decorate


def settings_from_flags(
    config_path: str | None = None,
    content_dir: str | None = None,
    out_dir: str | None = None,
    state_path: str | None = None,
    **more: Any,
) -> Settings:
    """Settings from config.yaml, then the environment, then these flags (flags are cwd-relative)."""

    def absolute(p: str | None) -> str | None:
        return os.path.abspath(p) if p else None

    is_url = bool(state_path and state_path.strip().lower().startswith(STATE_URL_SCHEMES))
    state = state_path if is_url else absolute(state_path)
    overrides = {"content": absolute(content_dir), "out": absolute(out_dir), "state": state, **more}
    return load_settings(config_path, overrides=overrides)


def pass_settings_keys(func: Callable[..., Any]) -> Callable[..., Any]:
    """Pop the shared flags from a command's kwargs and hand it `settings` instead."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        keys = ("config_path", "content_dir", "out_dir", "state_path")
        settings = settings_from_flags(**{k: kwargs.pop(k, None) for k in keys})
        ctx = click.get_current_context(silent=True)
        if ctx is not None and isinstance(ctx.obj, dict):
            # Where an OS or SQLite error at the CLI happened, when it does not say (cli.as_digest_error).
            # state_path: the local SQLite file (the state file, or the caches' beside a PostgreSQL state).
            ctx.obj.update(state_path=settings.cache_path, state_where=settings.state_where, out_dir=settings.out_dir)
        return func(*args, settings=settings, **kwargs)

    return wrapper


@contextmanager
def stop_on_signals(stop_event: threading.Event) -> Iterator[None]:
    """SIGTERM and Ctrl-C set `stop_event`: the message in flight is finished and recorded, then the run ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if not stop_event.is_set():
            click.echo(
                f"Received {signal.Signals(signum).name}: finishing the message in flight, then stopping.", err=True
            )
        stop_event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

