"""`digest init` and `digest check`: set a site up, and find what is wrong with it before a send."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from digest.cli.options import config_options, settings_from_flags
from digest.config import Settings, folder_problem, read_config_file, settings_from_mapping
from digest.content.site_config import config_text, detect_site
from digest.errors import ConfigError, DigestError


@click.command("init")
@click.argument("site", required=False, default=".", type=click.Path(exists=True, file_okay=False))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Where to write the config (default: SITE/config.yaml)."
)
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
def init_command(site: str, output: str | None, force: bool) -> None:
    """Write a config.yaml from a Hugo or Jekyll site's own configuration.

    Reads hugo.toml / config.toml / hugo.yaml, or Jekyll's _config.yml, in SITE (default: the
    current folder) and takes the base URL, title, language, time zone, content folder and
    the posts' permalink pattern.
    """
    root = Path(site).resolve()
    facts = detect_site(root)
    target = Path(output) if output else root / "config.yaml"
    if facts.generator == "hugo" and target.resolve() == facts.source.resolve():
        raise DigestError(
            f"{target} is the site's own Hugo configuration", hint="write digest's elsewhere with -o digest.yaml"
        )
    if target.exists() and not force:
        raise DigestError(f"{target} already exists", hint="pass --force to overwrite it, or -o to write elsewhere")
    content_dir = (root / facts.content).resolve()
    # Paths in config.yaml are read from its own folder: keep them relative when we can.
    try:
        content = str(content_dir.relative_to(target.resolve().parent))
    except ValueError:
        content = str(content_dir)
    target.write_text(config_text(facts, content), encoding="utf-8")
    click.echo(f"Wrote {target} from {facts.source.name} ({facts.generator}): base URL {facts.base_url}, "
               f"time zone {facts.timezone}, content {content}, permalink {facts.permalink}")
    click.echo("Next: digest check" + (f" --config {target}" if output else ""))


def config_problems(path: Path) -> list[str]:
    """Every problem of a config file, one line each (not only the first, as loading stops at)."""
    try:
        data = read_config_file(path)
    except ConfigError as exc:
        return [exc.message]
    problems = []
    for key, value in data.items():
        pieces = value.items() if isinstance(value, dict) and value else [(None, value)]
        for sub, subvalue in pieces:
            probe = {key: {sub: subvalue}} if sub is not None else {key: value}
            try:
                settings_from_mapping(probe, path.parent)
            except ConfigError as exc:
                problems.append(f"{path}: {_with_hint(exc)}")
    return problems


def _with_hint(exc: DigestError) -> str:
    return f"{exc.message} ({exc.hint})" if exc.hint else exc.message


@click.command("check")
@click.argument("issue_html", required=False, type=click.Path(exists=True, dir_okay=False))
@config_options(out=False, state=False)
def check_command(issue_html: str | None, config_path: str | None, content_dir: str | None) -> None:
    """Validate config.yaml and every article; or, given ISSUE.html, check a built issue.

    Prints one line per problem and a summary, and exits 1 when there is any.
    """
    if issue_html:
        # Lazy: the render wing costs 60 ms of start-up (python -X importtime, 2 runs 60-61 ms).
        from digest.render.check import check_built_files, check_issue_html

        html_path = Path(issue_html)
        text_path = html_path.with_suffix(".txt")
        text = text_path.read_text(encoding="utf-8") if text_path.exists() else None
        in_issue = check_issue_html(html_path.read_text(encoding="utf-8"), text)
        in_issue += check_built_files(html_path)  # the subject in the manifest and the .eml's headers
        for problem in in_issue:
            click.echo(f"{html_path}: {problem}")
        click.echo(f"{len(in_issue)} problems in {html_path}." if in_issue else f"{html_path}: all checks pass.")
        sys.exit(1 if in_issue else 0)
    problems: list[str] = []
    cfg = Path(config_path or "config.yaml")
    if cfg.exists():
        problems += config_problems(cfg)
    elif config_path:
        problems.append(f"{cfg}: no such config file")
    settings: Settings | None = None
    if not problems:
        try:
            # The file on its own is fine: what the environment (DIGEST_SMTP_*) adds may not be.
            settings = settings_from_flags(config_path, content_dir)
        except ConfigError as exc:
            problems.append(_with_hint(exc))
    articles = 0
    if settings is not None:
        # Lazy: the delivery wing costs 49-53 ms of start-up (python -X importtime, 2 runs).
        from digest.delivery.message import secret_problem

        problems += [p for p in [secret_problem(settings, os.environ)] if p]  # names the variable, never its value
    if settings is not None:
        from digest.content.scan import scan

        folder = settings.content_dir
        not_a_folder = folder_problem(folder)
        if not_a_folder:
            problems.append(not_a_folder)
        else:
            found, skipped = scan(folder, settings)
            articles = len(found)
            problems += [f"{s.path}: {s.reason}" for s in skipped]
    for problem in problems:
        click.echo(problem)
    click.echo(f"{articles} articles read, {len(problems)} problems." if problems or articles else "Nothing to check.")
    sys.exit(1 if problems else 0)
