"""`digest init`: a config.yaml from a Hugo or Jekyll site's own configuration.

Hugo: hugo.toml / hugo.yaml / hugo.json / config.toml / config.yaml / config.json (keys are
case-insensitive, as Hugo reads them). Jekyll: _config.yml. We take what digest needs: base
URL, title, language, time zone, content folder and the posts' permalink pattern.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from digest.content.permalink import HUGO_DEFAULT_PERMALINK
from digest.errors import DigestError

HUGO_FILES = (
    "hugo.toml", "hugo.yaml", "hugo.yml", "hugo.json", "config.toml", "config.yaml", "config.yml", "config.json",
)
JEKYLL_FILE = "_config.yml"
# Jekyll's built-in permalink styles (jekyllrb.com/docs/permalinks/#built-in-formats).
JEKYLL_STYLES = {
    "date": "/:categories/:year/:month/:day/:title:output_ext",
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}




@dataclass
class SiteFacts:
    generator: str  # "hugo" or "jekyll"
    source: Path  # the configuration file read
    title: str
    base_url: str | None  # None when the site's configuration gives none (an error for `digest init`)
    language: str
    timezone: str
    content: str
    permalink: str | dict[str, str]  # one pattern, or Hugo's per top-level section (others: their own path)
    language_code: str | None = None  # the Hugo language chosen, on a multilingual site
    default_language: str | None = None  # the Hugo site's defaultContentLanguage
    languages: tuple[str, ...] = ()  # every language a Hugo site configures
    shared_content: bool = False  # several languages read the same content folder (translations by file name)


def _load(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DigestError(f"{path}: cannot parse the site configuration: {first}") from None
    if not isinstance(data, dict):
        raise DigestError(f"{path}: expected a mapping of settings")
    return data


def _language(code: Any) -> str:
    code = str(code or "en").strip()
    return "zh-CN" if code.lower().startswith("zh") else code.split("-")[0].lower() or "en"


def detect_site(root: Path, language: str | None = None, base_url: str | None = None) -> SiteFacts:
    """Read the Hugo or Jekyll configuration in `root`; DigestError when there is none.

    `language`: on a multilingual Hugo site, the language to write a config for (default: the
    site's `defaultContentLanguage`); its content folder, base URL and permalinks are the ones
    Hugo uses for that language. `base_url`: the site's address, in place of the configuration's
    (a language's path under it, `/en/`, is still added).
    """
    for name in HUGO_FILES:
        if (root / name).is_file():
            return _hugo(root / name, language, base_url)
    if (root / JEKYLL_FILE).is_file():
        if language:
            raise DigestError(f"{root / JEKYLL_FILE}: --language is for a multilingual Hugo site; this is Jekyll")
        facts = _jekyll(root / JEKYLL_FILE)
        if base_url:
            facts.base_url = base_url
        return facts
    raise DigestError(
        f"{root}: no Hugo ({', '.join(HUGO_FILES[:2])}, config.toml…) or Jekyll (_config.yml) configuration found",
        hint="run `digest init` in the site's root folder, or pass the folder: `digest init path/to/site`",
    )


def _folded(value: Any) -> dict[str, Any]:
    """A mapping with its keys lower-cased, as Hugo reads them (anything else: empty)."""
    return {str(k).lower(): v for k, v in value.items()} if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _hugo_permalinks(value: Any) -> dict[str, str]:
    """Hugo's map form of `permalinks` (top-level section: pattern), `permalinks.page` (0.115+) first."""
    permalinks = _folded(value)
    if isinstance(permalinks.get("page"), dict):
        permalinks = _folded(permalinks["page"])  # permalinks per page kind: the regular pages' patterns
    return {section: pattern.strip() for section, pattern in permalinks.items()
            if isinstance(pattern, str) and pattern.strip()}


def _hugo(path: Path, wanted: str | None = None, site_url: str | None = None) -> SiteFacts:
    data = _folded(_load(path))
    languages = {str(code).lower(): _folded(conf) for code, conf in _folded(data.get("languages")).items()}
    default = str(data.get("defaultcontentlanguage") or "en").lower()
    code = (wanted or default).lower()
    if wanted and code not in languages and not (code == default and not languages):
        known = ", ".join(sorted(languages) or [default])
        raise DigestError(f"{path}: no language {wanted!r} in the site's configuration", hint=f"its languages: {known}")
    lang = languages.get(code, {})
    # A language's own settings win over the site's (Hugo merges them the same way).
    content = _text(lang.get("contentdir")) or _text(data.get("contentdir")) or "content"
    base_url = _text(lang.get("baseurl")) if site_url is None else None
    if base_url is None:
        base_url = site_url or _text(data.get("baseurl"))
        in_subdir = code != default or data.get("defaultcontentlanguageinsubdir") is True
        if base_url and in_subdir and len(languages | {default: {}}) > 1:
            base_url = base_url.rstrip("/") + f"/{code}/"  # Hugo serves the other languages under /CODE/
    permalinks = _hugo_permalinks(data.get("permalinks"))
    permalinks.update(_hugo_permalinks(lang.get("permalinks")))
    contents = [_text(c.get("contentdir")) or _text(data.get("contentdir")) or "content" for c in languages.values()]
    return SiteFacts(
        generator="hugo",
        source=path,
        title=str(_text(lang.get("title")) or data.get("title") or path.parent.name),
        base_url=base_url,
        language=_language(lang.get("languagecode") or lang.get("locale") or data.get("languagecode") or code),
        timezone=str(_text(lang.get("timezone")) or data.get("timezone") or "UTC"),  # Hugo: no offset means UTC
        content=content,
        permalink=permalinks or HUGO_DEFAULT_PERMALINK,
        language_code=code if languages else None,
        default_language=default,
        languages=tuple(sorted(languages)),
        shared_content=contents.count(content) > 1,
    )


def _jekyll(path: Path) -> SiteFacts:
    data = _load(path)
    url = (_text(data.get("url")) or "").rstrip("/")
    baseurl = str(data.get("baseurl") or "").strip("/")
    collections: Any = data.get("collections")
    posts: Any = collections.get("posts") if isinstance(collections, dict) else None
    posts = posts if isinstance(posts, dict) else {}
    pattern = str(posts.get("permalink") or data.get("permalink") or "date")
    pattern = JEKYLL_STYLES.get(pattern, pattern)
    return SiteFacts(
        generator="jekyll",
        source=path,
        title=str(data.get("title") or data.get("name") or path.parent.name),
        base_url=url + (f"/{baseurl}" if baseurl else "") + "/" if url else None,
        language=_language(data.get("lang")),
        # Jekyll without `timezone` uses the machine's local zone; UTC is the safe reading.
        timezone=str(data.get("timezone") or "UTC"),
        content=str(data.get("source") or ".") + "/_posts" if data.get("source") else "_posts",
        permalink=pattern,
    )


def config_text(facts: SiteFacts, content: str) -> str:
    """The config.yaml written for the site, commented for whoever edits it next."""
    data: dict[str, Any] = {
        "site": {
            "title": facts.title,
            "base_url": facts.base_url,
            "language": facts.language,
            "timezone": facts.timezone,
            "permalink": facts.permalink,
        },
        "content": content,
        "out": "issues",
        "state": ".digest/state.sqlite",
    }
    if len(facts.languages) > 1 and facts.language_code != facts.default_language:
        # Another language's issues and sends are its own: never the same files as the default language's.
        data["out"] = f"issues-{facts.language_code}"
        data["state"] = f".digest/state-{facts.language_code}.sqlite"
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return (
        f"# digest configuration, written by `digest init` from {facts.source.name} ({facts.generator}).\n"
        "# Every key is optional; see the README for smtp:, mail: and schedule:. Check it with `digest check`.\n"
        + (f"# The {facts.language_code} language of a multilingual Hugo site ({', '.join(facts.languages)}): "
           "`digest init --language CODE -o digest-CODE.yaml` writes another's.\n" if len(facts.languages) > 1 else "")
        + (PERMALINK_NOTE if isinstance(facts.permalink, dict) else "")
        + body
    )


PERMALINK_NOTE = (
    "# site.permalink maps a top-level section to its pattern, as Hugo's [permalinks] does; an article\n"
    "# in a section not listed keeps its own path (folders, then slug or file name), Hugo's default.\n"
)
