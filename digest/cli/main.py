"""The command line: a thin layer that reads flags, calls the pipeline, and prints.

Errors are DigestError all the way down; only here do they become `Error: …` and an exit code.
"""

from __future__ import annotations

import errno
import gc
import importlib
import json
import logging
import sqlite3
import sys
from datetime import datetime, timezone
from typing import Any

import click

from digest import __version__
from digest.cli.instants import parse_instant
from digest.cli.options import config_options, pass_settings_keys
from digest.cli.progress import track
from digest.config import Settings
from digest.errors import DigestError, db_error, os_error, pg_error

log = logging.getLogger("digest")
MAX_REASONS = 20  # skipped files listed one by one; the rest are counted

# The commands defined in their own modules, imported only when run (or listed by --help): each
# process runs one command, and `digest send` on four machines at once should not pay for
# `serve`, `bounces` and `preview` (their imports cost ~60 ms of each sender's start-up).
LAZY_COMMANDS = {
    "send": "digest.cli.send:send_command",
    "status": "digest.cli.send:status_command",
    "schedule": "digest.cli.schedule:schedule_command",
    "preview": "digest.cli.preview:preview_command",
    "init": "digest.cli.site:init_command",
    "check": "digest.cli.site:check_command",
    "subscribers": "digest.cli.subscribers:subscribers_group",
    "serve": "digest.cli.serve:serve_command",
    "bounces": "digest.cli.bounces:bounces_group",
    "state": "digest.cli.state:state_group",
}


class DigestGroup(click.Group):
    """Turns DigestError, and any OS or database error, into a one-line `Error: …` (plus hint).

    Tracebacks only with -v: a full disk, a read-only folder or a damaged state file is the
    owner's to fix, and the line says which file and what to do.

    The commands of LAZY_COMMANDS are imported when asked for (click's "lazily loading
    subcommands" pattern).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attr = LAZY_COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if not isinstance(exc, (DigestError, OSError, sqlite3.Error)) and not _is_psycopg_error(exc):
                raise
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
                raise  # stdout closed (`digest status | head`): click exits quietly
            error = as_digest_error(exc, ctx.obj or {})
            click.echo(f"Error: {error.message}", err=True)
            if error.hint:
                click.echo(f"Hint: {error.hint}", err=True)
            ctx.exit(error.exit_code)


def _is_psycopg_error(exc: BaseException) -> bool:
    """A PostgreSQL state's error (psycopg is loaded only with one: nothing to import otherwise)."""
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)


def as_digest_error(exc: BaseException, where: dict[str, Any]) -> DigestError:
    """The one-line error for `exc`. `where` holds the command's state_path (the local SQLite file:
    the state file, or the caches' beside a PostgreSQL state), state_where and out_dir (see
    pass_settings_keys): an SQLite error is about that file, a psycopg one about the PostgreSQL
    state, and an OS error that names no file happened in one of those folders."""
    if isinstance(exc, DigestError):
        return exc
    if _is_psycopg_error(exc):
        assert isinstance(exc, Exception)
        return pg_error(exc, str(where.get("state_where") or "the PostgreSQL state"))
    state_path = where.get("state_path")
    if isinstance(exc, sqlite3.Error):
        return db_error(exc, state_path)
    assert isinstance(exc, OSError)
    places = [str(p) for p in (where.get("out_dir"), state_path and state_path.parent) if p]
    return os_error(exc, places=places)


@click.group(cls=DigestGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug); tracebacks on errors.")
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """digest turns a Hugo or Jekyll content folder into an email newsletter issue.

    It picks the new articles by date and topic, writes a TL;DR and a key-figures box for
    each, renders email-safe HTML plus a text part, and writes the issue under issues/ or
    sends it over SMTP, by hand or on a weekly schedule. Settings come from ./config.yaml.
    """
    ctx.ensure_object(dict)["verbose"] = verbose
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("digest").setLevel(level)


def report_skipped(skipped: list[Any], strict: bool) -> None:
    """One line per file that could not be used: the first MAX_REASONS, then a count."""
    for item in skipped[:MAX_REASONS]:
        click.echo(f"{'Error' if strict else 'Warning'}: {item.path}: {item.reason}", err=True)
    if len(skipped) > MAX_REASONS:
        click.echo(f"… and {len(skipped) - MAX_REASONS} more files skipped (digest check lists them all)", err=True)


@cli.command()
@click.option(
    "--since", required=True, metavar="DATE",
    help="Start of the range (inclusive): YYYY-MM-DD is midnight in site.timezone, or an ISO 8601 instant.",
)
@click.option("--until", metavar="DATE", help="End of the range (exclusive). Default: now.")
@click.option(
    "--topic", "topics", multiple=True, metavar="TOPIC",
    help="Only articles with this topic (repeatable: any of them; case-insensitive).",
)
@click.option("--drafts", is_flag=True, help="Include drafts.")
@click.option("--note", help="An editor's note shown at the top of the issue.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON manifest (issue id, files, articles) instead of the paths."
)
@click.option("--explain", is_flag=True, help="List every file with why it was or was not selected.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) when any file was skipped as a bad article.")
@config_options()
@pass_settings_keys
def build(
    settings: Settings, since: str, until: str | None, topics: tuple[str, ...], drafts: bool,
    note: str | None, as_json: bool, explain: bool, strict: bool,
) -> None:
    """Build the issue of the articles dated in [--since, --until) and write it under issues/.

    Writes ISSUE.html (the email), ISSUE.txt (its text part), ISSUE.eml (the whole message)
    and ISSUE.json (the manifest), refreshes issues/index.html and issues/feed.xml, and prints
    the paths.
    """
    # Lazy, here and in every command: the pipeline (Jinja2, MJML, Babel, …) costs 210-310 ms of
    # start-up (python -X importtime, cumulative, 3 runs) that `--help`, `status` and `check` do not need.
    from digest.pipeline.build import build_issue, write_issue

    tz = settings.tz
    start = parse_instant(since, tz)
    end = parse_instant(until, tz) if until else datetime.now(timezone.utc).astimezone(tz)
    if end <= start:
        raise DigestError(f"--until ({end.isoformat()}) must be after --since ({start.isoformat()})")
    result = build_issue(
        settings, start, end, topics=topics, include_drafts=drafts, note=note, explain=explain, progress=track
    )
    report_skipped(result.skipped, strict)
    if explain:
        for d in result.decisions:
            click.echo(f"{'+' if d.selected else '-'} {d.path}: {d.reason}", err=as_json)
    if strict and result.skipped:
        raise DigestError(f"{len(result.skipped)} files could not be read as articles (--strict)")
    issue = result.issue
    if not issue.articles:
        click.echo(
            f"No articles dated {start.isoformat()} to {end.isoformat()}"
            + (f" with topic {', '.join(topics)}" if topics else "")
            + f" in {settings.content_dir}: no issue written.",
            err=True,
        )
        if as_json:
            click.echo(json.dumps({"issue_id": None, "files": {}, "articles": []}))
        return
    files = write_issue(result, settings, now=datetime.now(timezone.utc))
    assert result.rendered is not None
    for warning in result.rendered.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if as_json:
        manifest = {
            "issue_id": issue.issue_id,
            "files": {k: str(p) for k, p in files.items()},
            "articles": [
                {"path": a.path, "title": a.title, "date": a.date.isoformat(), "url": a.url, "topics": a.topics}
                for a in issue.articles + issue.more
            ],
        }
        click.echo(json.dumps(manifest, ensure_ascii=False, indent=2))
    else:
        for path in files.values():
            click.echo(str(path))
    count = len(issue.articles) + len(issue.more)
    click.echo(
        f"Done: {count} {'article' if count == 1 else 'articles'} in issue {issue.issue_id} "
        f"({result.scanned} {'file' if result.scanned == 1 else 'files'} read, {len(result.skipped)} skipped).",
        err=True,
    )


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array, an object per article (spec §6).")
@click.option("--strict", is_flag=True, help="Exit 1 when any file was skipped as a bad article.")
@config_options(out=False, state=False)
@pass_settings_keys
def summarize(settings: Settings, paths: tuple[str, ...], as_json: bool, strict: bool) -> None:
    """Print each article's fields, TL;DR and key figures (a folder means every article in it)."""
    # Lazy: the content and summarize wings (markdown-it, …) cost 120-180 ms of start-up (python -X importtime, 3 runs).
    from digest.cli.summarize import summarize_paths

    rows = summarize_paths(settings, paths)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            if "error" in row:
                click.echo(f"{row['path']}: skipped: {row['error']}")
                continue
            click.echo(f"{row['path']}  {row['date']}  {row['title']}")
            click.echo(f"  {row['url']}")
            click.echo(f"  TL;DR: {row['tldr']}")
            for fig in row["key_figures"]:
                click.echo(f"  • {fig['value']} — {fig['context']}")
    errors = [r for r in rows if "error" in r]
    if errors and not as_json:
        click.echo(f"{len(errors)} files skipped.", err=True)
    if strict and errors:
        sys.exit(1)


def main() -> None:
    try:
        cli(obj={})
    finally:
        # Exit without the interpreter's last garbage collections over every object the imports
        # made (psycopg, Jinja2, Babel): 60-180 ms of each run's wall time, measured with and
        # without. Nothing is lost: files and connections are closed by then, and a cycle left
        # uncollected is the OS's to reclaim.
        gc.freeze()


if __name__ == "__main__":
    main()
