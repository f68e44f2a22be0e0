"""`digest init` and `digest check`: set a site up, and find what is wrong with it before a send."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from digest.cli.options import config_options, settings_from_flags
from digest.config import (
    Settings,
    folder_problem,
    read_config_file,
    secret_needed_by,
    secret_notice,
    secret_problem,
    settings_from_mapping,
)
from digest.config_rules import is_web_url
from digest.content.site_config import config_text, detect_site
from digest.errors import ConfigError, DigestError


@click.command("init")
@click.argument("site", required=False, default=".", type=click.Path(exists=True, file_okay=False))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Where to write the config (default: SITE/config.yaml)."
)
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option(
    "--base-url", metavar="URL",
    help="The site's public address (https://…), when its configuration gives none or another one.",
)
@click.option(
    "--language", metavar="CODE",
    help="On a multilingual Hugo site: the language to write a config for (default: defaultContentLanguage).",
)
def init_command(site: str, output: str | None, force: bool, base_url: str | None, language: str | None) -> None:
    """Write a config.yaml from a Hugo or Jekyll site's own configuration.

    Reads hugo.toml / config.toml / hugo.yaml, or Jekyll's _config.yml, in SITE (default: the
    current folder) and takes the base URL, title, language, time zone, content folder and
    the posts' permalink patterns. A multilingual Hugo site gets one config per language:
    its content folder and URLs are that language's, as Hugo makes them.
    """
    root = Path(site).resolve()
    if base_url is not None and not is_web_url(base_url.strip()):
        raise DigestError(f"--base-url: expected an absolute http(s) URL with a host, found {base_url!r}")
    facts = detect_site(root, language, base_url.strip() if base_url else None)
    if not facts.base_url:
        key = "url" if facts.generator == "jekyll" else "baseURL"
        raise DigestError(
            f"{facts.source}: {key} is empty: every link of every issue would point nowhere",
            hint="pass the site's public address: digest init --base-url https://blog.example.org/",
        )
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
    permalink = facts.permalink if isinstance(facts.permalink, str) else ", ".join(
        f"{section}: {pattern}" for section, pattern in facts.permalink.items()
    ) + " (other sections: their own path)"
    which = f", language {facts.language_code}" if len(facts.languages) > 1 else ""
    click.echo(f"Wrote {target} from {facts.source.name} ({facts.generator}{which}): base URL {facts.base_url}, "
               f"time zone {facts.timezone}, content {content}, permalink {permalink}")
    if len(facts.languages) > 1:
        others = [code for code in facts.languages if code != facts.language_code]
        click.echo(f"The site has {len(facts.languages)} languages; for another: "
                   f"digest init --language {others[0]} -o digest-{others[0]}.yaml")
        if facts.shared_content:
            click.echo(f"Note: other languages share {facts.content}/ with {facts.language_code}: "
                       "digest reads every article there, whatever its language.")
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


def configured_base_url(path: Path) -> tuple[str | None, str | None]:
    """The `site.base_url` a config file sets, and the problem when it sets none: without it every link of
    every issue would point at the default https://example.com."""
    try:
        site = read_config_file(path).get("site") if path.exists() else None
    except ConfigError as exc:
        return None, exc.message
    value = site.get("base_url") if isinstance(site, dict) else None
    if isinstance(value, str) and value.strip():
        return value.strip(), None
    where = f"{path}: " if path.exists() else "no config file: "
    return None, (f"{where}site.base_url is not set, so every link of every issue would point at example.com "
                  "(set it to the site's address, or run `digest init --base-url https://…`)")


def _secret_problems(settings: Settings) -> list[str]:
    """The signing secret's problem, when something needs it (digest serve, token links); names where
    the secret comes from, never its value."""
    needed = secret_needed_by(settings)
    problem = secret_problem(settings, os.environ) if needed else None
    notice = secret_notice(settings, os.environ) if needed else None
    if notice:
        click.echo(f"Warning: {notice}", err=True)
    return [f"{problem}; {needed}"] if problem else []


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
        from digest.render.check import check_built_files, check_issue_html, check_placeholder_links

        html_path = Path(issue_html)
        text_path = html_path.with_suffix(".txt")
        text = text_path.read_text(encoding="utf-8") if text_path.exists() else None
        in_issue = check_issue_html(html_path.read_text(encoding="utf-8"), text)
        in_issue += check_built_files(html_path)  # the subject in the manifest and the .eml's headers
        cfg = Path(config_path or "config.yaml")
        if cfg.exists():  # the site's own address: links on example.com/example.org are placeholders
            base_url, problem = configured_base_url(cfg)
            in_issue += [problem] if problem else check_placeholder_links(html_path.read_text(encoding="utf-8"),
                                                                          base_url or "")
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
    unset = None if problems else configured_base_url(cfg)[1]
    settings: Settings | None = None
    if not problems:
        try:
            # The file on its own is fine: what the environment (DIGEST_SMTP_*) adds may not be.
            settings = settings_from_flags(config_path, content_dir)
        except ConfigError as exc:
            problems.append(_with_hint(exc))
    problems += [unset] if unset else []
    articles = 0
    if settings is not None:
        problems += _secret_problems(settings)
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
