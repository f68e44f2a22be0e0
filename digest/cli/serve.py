"""`digest serve`: the subscribe, confirm, unsubscribe and preferences pages, served by uvicorn."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

from digest.cli.options import config_options, settings_from_flags
from digest.config import Settings, app_secret, secret_problem, smtp_password
from digest.errors import DigestError

if TYPE_CHECKING:
    from starlette.applications import Starlette

# A worker started by uvicorn (--workers 2 or more) imports `worker_app` and rebuilds the settings
# from the flags the command was given, passed in this variable (never the secret: that is read
# from the environment or the key file again, in the worker).
WORKER_ENV = "DIGEST_SERVE_FLAGS"
DEFAULT_LISTEN = "127.0.0.1:8040"


def parse_listen(value: str) -> tuple[str, int | None]:
    """(host, port) from HOST:PORT or [V6]:PORT; ("unix:/path", None) for a Unix socket."""
    if value.startswith("unix:"):
        return value, None
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DigestError(f"--listen {value!r}: expected HOST:PORT (e.g. {DEFAULT_LISTEN}) or unix:/path/to.sock")
    return host, int(port)


def build_app(settings: Settings, env: Mapping[str, str]) -> Starlette:
    """The app for these settings, after checking the secret; the clock is the system's."""
    # Lazy: Starlette, Jinja2 and the web pages (~60 ms, python -X importtime) load only for `digest serve`.
    from digest.delivery.confirmation import smtp_sender
    from digest.web.app import create_app

    problem = secret_problem(settings, env)
    secret = app_secret(settings, env)
    if problem or secret is None:
        raise DigestError(
            f"digest serve refuses to start: {problem or 'no secret'}",
            hint="the secret signs every confirm and unsubscribe link; keep it stable across restarts",
        )
    send = smtp_sender(settings.smtp, smtp_password(env))
    return create_app(settings, secret=secret, clock=time.time, send_mail=send)


def worker_app() -> Starlette:
    """uvicorn's factory in each worker process (--workers 2 or more)."""
    flags = json.loads(os.environ.get(WORKER_ENV, "{}"))
    return build_app(settings_from_flags(**flags), os.environ)


@click.command("serve")
@click.option(
    "--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT",
    help="Where to listen: HOST:PORT, [IPv6]:PORT or unix:/path/to.sock. Keep it on 127.0.0.1 behind "
    "your site's HTTPS server (nginx, Caddy), which maps a prefix such as /newsletter/ here.",
)
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(1, 64),
    help="Worker processes. One handles hundreds of unsubscribes a second; each worker keeps its own "
    "per-IP sign-up counts.",
)
@click.option(
    "--forwarded-allow-ips", default="127.0.0.1,::1", show_default=True, metavar="IPS",
    help="Proxies whose X-Forwarded-For (the reader's IP, for the per-IP sign-up limit and the consent "
    "record) and X-Forwarded-Proto are believed; a comma-separated list, '*' for any (only when nothing "
    "but the proxy can reach this port).",
)
@config_options(content=False, out=False)
@click.pass_context
def serve_command(
    ctx: click.Context, listen: str, workers: int, forwarded_allow_ips: str,
    config_path: str | None, state_path: str | None,
) -> None:
    """Serve the subscription pages: subscribe, confirm, unsubscribe, preferences.

    \b
    GET/POST /subscribe     the sign-up form; POST mails a confirmation link (double opt-in)
    GET/POST /confirm       a one-button page; its POST confirms
    GET/POST /unsubscribe   a one-button page; POST unsubscribes, including the one-click
                            POST mail providers make (RFC 8058 List-Unsubscribe=One-Click)
    GET/POST /preferences   choose topics (subscribe.topics)
    GET      /healthz       answers "ok"

    The subscribers live in the state database. Links are signed with DIGEST_SECRET (or the file
    named by `secret_file:`), and the command refuses to start without a good one (32 bytes or more:
    `openssl rand -hex 32`). Confirmation mails go through the config's smtp server, with the
    password from DIGEST_SMTP_PASSWORD. Set subscribe.public_url to the address readers reach
    these pages at (e.g. https://example.com/newsletter).
    """
    # Lazy: uvicorn (~40 ms, python -X importtime) loads only for `digest serve`.
    import uvicorn

    flags = {"config_path": config_path, "state_path": state_path}
    settings = settings_from_flags(**flags)
    if isinstance(ctx.obj, dict):  # where an SQLite error happened, for cli.as_digest_error
        ctx.obj.update(state_path=None if settings.state_url else settings.state_path, out_dir=settings.out_dir)
    host, port = parse_listen(listen)
    app = build_app(settings, os.environ)  # refuses a bad secret before listening, in every case
    where = listen if port is not None else host
    click.echo(f"digest serve: listening on {where} ({workers} worker{'s' if workers > 1 else ''}); Ctrl-C to stop.",
               err=True)
    options: dict[str, object] = {
        "proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips, "server_header": False,
        "date_header": True, "log_level": "warning", "access_log": False,
    }
    if port is None:
        options["uds"] = host.removeprefix("unix:")
    else:
        options.update(host=host, port=port)
    if workers == 1:
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    os.environ[WORKER_ENV] = json.dumps({k: _absolute(v) for k, v in flags.items()})
    uvicorn.run("digest.cli.serve:worker_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]


def _absolute(value: str | None) -> str | None:
    """A flag's path made absolute for the workers (which may start elsewhere); a postgresql:// URL as it is."""
    if not value or value.strip().lower().startswith(("postgresql://", "postgres://")):
        return value
    return os.path.abspath(value)
