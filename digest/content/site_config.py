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

from digest.errors import DigestError

HUGO_FILES = (
    "hugo.toml", "hugo.yaml", "hugo.yml", "hugo.json", "config.toml", "config.yaml", "config.yml", "config.json",
)
JEKYLL_FILE = "_config.yml"
# Sections that hold a blog's posts, in the order we prefer them for the permalink.
POST_SECTIONS = ("posts", "post", "blog", "news", "articles")
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
    base_url: str
    language: str
    timezone: str
    content: str
    permalink: str


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


def detect_site(root: Path) -> SiteFacts:
    """Read the Hugo or Jekyll configuration in `root`; DigestError when there is none."""
    for name in HUGO_FILES:
        if (root / name).is_file():
            return _hugo(root / name)
    if (root / JEKYLL_FILE).is_file():
        return _jekyll(root / JEKYLL_FILE)
    raise DigestError(
        f"{root}: no Hugo ({', '.join(HUGO_FILES[:2])}, config.toml…) or Jekyll (_config.yml) configuration found",
        hint="run `digest init` in the site's root folder, or pass the folder: `digest init path/to/site`",
    )


def _hugo(path: Path) -> SiteFacts:
    data = {str(k).lower(): v for k, v in _load(path).items()}
    permalinks = data.get("permalinks") or {}
    if isinstance(permalinks, dict) and isinstance(permalinks.get("page"), dict):
        permalinks = permalinks["page"]  # Hugo 0.115+: permalinks per page kind
    pattern = None
    if isinstance(permalinks, dict):
        for section in POST_SECTIONS + tuple(permalinks):
            if isinstance(permalinks.get(section), str):
                pattern = permalinks[section]
                break
    return SiteFacts(
        generator="hugo",
        source=path,
        title=str(data.get("title") or path.parent.name),
        base_url=str(data.get("baseurl") or "https://example.com/"),
        language=_language(data.get("languagecode") or data.get("defaultcontentlanguage")),
        timezone=str(data.get("timezone") or "UTC"),  # Hugo reads dates without an offset as UTC
        content=str(data.get("contentdir") or "content"),
        permalink=pattern or "/:section/:slug/",  # Hugo's default: the section, then slug or file name
    )


def _jekyll(path: Path) -> SiteFacts:
    data = _load(path)
    url = str(data.get("url") or "https://example.com").rstrip("/")
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
        base_url=url + (f"/{baseurl}" if baseurl else "") + "/",
        language=_language(data.get("lang")),
        # Jekyll without `timezone` uses the machine's local zone; UTC is the safe reading.
        timezone=str(data.get("timezone") or "UTC"),
        content=str(data.get("source") or ".") + "/_posts" if data.get("source") else "_posts",
        permalink=pattern,
    )


def config_text(facts: SiteFacts, content: str) -> str:
    """The config.yaml written for the site, commented for whoever edits it next."""
    data = {
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
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return (
        f"# digest configuration, written by `digest init` from {facts.source.name} ({facts.generator}).\n"
        "# Every key is optional; see the README for smtp:, mail: and schedule:. Check it with `digest check`.\n"
        + body
    )
