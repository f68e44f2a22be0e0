"""The pages' Jinja2 environment: a site's overrides first, then the built-in templates.

Lookup order for a name such as `subscribe.html.j2`, as for the email's templates:
1. `web/` inside the site's own templates folder (`render.templates`, default `templates/`);
2. the built-ins packaged in `digest/web/templates/`, also reachable as `builtin/<name>`, so an
   override can `{% extends "builtin/base.html.j2" %}` and redefine one block.
Every template gets `t` (the labels of the page's language, formatted with `site`), `lang` and `site`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from digest.config import Settings
from digest.render.templates import render_template
from digest.web.labels import LABELS

BUILTIN_DIR = Path(__file__).parent / "templates"


def page_environment(settings: Settings) -> jinja2.Environment:
    """The environment for this site's pages (made once per app; templates compiled once)."""
    builtin = jinja2.FileSystemLoader(str(BUILTIN_DIR))
    loaders: list[jinja2.BaseLoader] = []
    site_dir = settings.path(settings.render.templates) / "web"
    if site_dir.is_dir():
        loaders.append(jinja2.FileSystemLoader(str(site_dir)))
    loaders += [jinja2.PrefixLoader({"builtin": builtin}), builtin]
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a typo in an override is an error, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates are read once per process: no stat per page under load
    )


class Labels:
    """A page's words: `t.key` or `t("key", name=value)`, `{site}` filled in everywhere."""

    def __init__(self, language: str, site: str) -> None:
        self._table = LABELS[language]
        self._site = site

    def __call__(self, key: str, **values: object) -> str:
        return self._table[key].format(site=self._site, **values)

    def __getattr__(self, key: str) -> str:
        try:
            return self(key)
        except KeyError:
            raise AttributeError(key) from None


def render_page(
    env: jinja2.Environment, settings: Settings, name: str, language: str, context: dict[str, Any]
) -> str:
    """The HTML of page `name` in `language`; a broken override is a DigestError naming template and line."""
    site = settings.site.title
    base = {"t": Labels(language, site), "lang": language, "site": site}
    return render_template(env, name, {**base, **context})
