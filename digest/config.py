"""Settings: one typed model, loaded once from config.yaml, overridden by environment then flags.

Every default is written where it is defined, with why when it is not obvious. Errors name
the key path, what was expected and what was found.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import yaml

from digest.config_model import (
    RECIPIENTS_SUBSCRIBERS,
    STATE_URL_SCHEMES,
    BounceSettings,
    ContentSettings,
    MailSettings,
    RenderSettings,
    ScheduleSettings,
    Settings,
    SiteSettings,
    SmtpSettings,
    SubscribeSettings,
    SummarySettings,
)
from digest.config_rules import validate
from digest.errors import ConfigError, found

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

__all__ = [  # the model's names: the rest of digest imports its settings from here
    "RECIPIENTS_SUBSCRIBERS", "STATE_URL_SCHEMES", "BounceSettings", "ContentSettings", "MailSettings",
    "RenderSettings", "ScheduleSettings", "Settings", "SiteSettings", "SmtpSettings", "SubscribeSettings",
    "SummarySettings",
]

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser, where PyYAML has it


# The environment may override these SMTP settings; the password comes only from the environment.
SMTP_ENV = {
    "DIGEST_SMTP_HOST": "host",
    "DIGEST_SMTP_PORT": "port",
    "DIGEST_SMTP_SECURITY": "security",
    "DIGEST_SMTP_USER": "username",
    "DIGEST_SMTP_FROM": "sender",
}
PASSWORD_ENV = "DIGEST_SMTP_PASSWORD"
# The PostgreSQL state's password: only from the environment (or libpq's ~/.pgpass / service file).
STATE_PASSWORD_ENV = "DIGEST_STATE_PASSWORD"
# Settings fields that are not config keys: where config.yaml is, and the state's password.
_NOT_KEYS = ("root", "state_password")


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return "a list"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check one value against its annotation; return it converted, or raise naming the key."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        shapes = [a for a in args if dataclasses.is_dataclass(a)]
        if isinstance(value, dict) and shapes:  # `content: {…}`: name the key inside that is wrong
            return _coerce(value, shapes[0], key)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError.for_key(key, f"expected {_type_name(tp)}, found {found(value)}")
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError.for_key(key, f"expected one of {_type_name(tp)}, found {found(value)}")
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError.for_key(key, f"expected a list, found {found(value)}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item, f"{key}[{i}]") if item is not Any else v for i, v in enumerate(value)]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError.for_key(key, f"expected a mapping, found {found(value)}")
        return _build(tp, value, key + ".")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif tp is Path:
        return Path(value)
    else:
        return value
    raise ConfigError.for_key(key, f"expected {_type_name(tp)}, found {found(value)}")


def _build(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.name not in _NOT_KEYS}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            detail = f"is not a setting{hint}"
            raise ConfigError(f"config key '{prefix}{key}' {detail}", key=f"{prefix}{key}", detail=detail)
        kwargs[key] = _coerce(value, hints[key], prefix + key)
    return cls(**kwargs)


def settings_from_mapping(data: dict[str, Any] | None, root: Path | None = None) -> Settings:
    """Build and validate Settings from a parsed config mapping."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping of settings at the top level, found {found(data)}")
    settings = _build(Settings, data)
    settings.root = root or Path.cwd()
    validate(settings)
    public_url = settings.subscribe.public_url
    if public_url and not settings.mail.unsubscribe_url:  # `digest serve` answers the unsubscribe link
        settings.mail.unsubscribe_url = public_url.rstrip("/") + "/unsubscribe?t={token}"
    return settings


def _refuse_duplicate_keys(node: yaml.Node, path: Path, prefix: str = "", seen_nodes: set[int] | None = None) -> None:
    """PyYAML keeps the last of two equal keys without a word: name the key and both lines instead."""
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:  # an alias: checked where it was defined (and it may refer to itself)
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue  # `<<: *defaults` may override keys: that is what it is for
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in lines:
                raise ConfigError(
                    f"{path}: line {line}: key '{prefix}{key}' appears twice (first on line {lines[key]}); "
                    "YAML would keep only the last one",
                    key=f"{prefix}{key}", detail=f"appears twice (lines {lines[key]} and {line})",
                )
            lines[key] = line
            _refuse_duplicate_keys(value_node, path, f"{prefix}{key}.", seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicate_keys(item, path, f"{prefix.rstrip('.')}[{index}].", seen_nodes)


def _load_yaml(text: str, path: Path) -> Any:
    loader = _YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, path)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_config_file(path: Path) -> dict[str, Any]:
    """The mapping in a config file; ConfigError naming the file and line when it is not one."""
    try:
        data = _load_yaml(path.read_text(encoding="utf-8-sig"), path) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, found {found(data)}")
    return data


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: typing.Mapping[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Load config.yaml (or defaults when there is none), then the environment, then flag overrides.

    `overrides` maps dotted keys ("content", "smtp.host") to values given on the command line;
    None values are ignored.
    """
    env = os.environ if env is None else env
    path = Path(config_path) if config_path else Path("config.yaml")
    data: dict[str, Any] = {}
    if path.exists():
        data = read_config_file(path)
    elif config_path:
        raise ConfigError(f"{path}: no such config file", hint="run `digest init` to write one")
    from_env: dict[str, str] = {}  # key -> the variable its value came from, to name in an error
    smtp = dict(data.get("smtp") or {}) if isinstance(data.get("smtp") or {}, dict) else data.get("smtp")
    if isinstance(smtp, dict):
        for var, key in SMTP_ENV.items():
            if env.get(var):
                smtp[key] = env[var]
                from_env[f"smtp.{key}"] = var
        data = {**data, "smtp": smtp}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        from_env.pop(dotted, None)
        node = data = dict(data)
        parts = dotted.split(".")
        for part in parts[:-1]:
            node[part] = dict(node.get(part) or {})
            node = node[part]
        if dotted == "content" and isinstance(node.get("content"), dict):
            value = {**node["content"], "dir": value}  # --content keeps content.follow_outside_links
        node[parts[-1]] = value
    root = path.resolve().parent if path.exists() else Path.cwd()
    try:
        settings = settings_from_mapping(data, root)
    except ConfigError as exc:
        env_var = from_env.get(exc.key or "")
        if env_var:
            raise ConfigError(
                f"environment variable {env_var} ({exc.key}): {exc.detail}", exc.hint, key=exc.key, detail=exc.detail
            ) from None
        raise ConfigError(f"{path}: {exc.message}", exc.hint, key=exc.key, detail=exc.detail) from None
    settings.state_password = env.get(STATE_PASSWORD_ENV) or None
    return settings


def folder_problem(folder: Path, what: str = "content folder") -> str | None:
    """Why `folder` cannot be read as a folder, in words ("is a file, not a folder"), or None."""
    if folder.is_dir():
        return None
    if folder.exists():
        return f"{what} {folder} is a file, not a folder"
    return f"{what} {folder} does not exist"


def smtp_password(env: typing.Mapping[str, str] | None = None) -> str | None:
    """The SMTP password: only ever from the environment, never from a file or a flag."""
    env = os.environ if env is None else env
    return env.get(PASSWORD_ENV) or None


# The secret that signs readers' links (digest.tokens): the environment, else a key file.
SECRET_ENV = "DIGEST_SECRET"
OLD_SECRET_ENV = "DIGEST_UNSUBSCRIBE_SECRET"  # its name before issue 14: still read, with a warning
SECRET_MIN_BYTES = 32
SECRET_MIN_DISTINCT = 10  # "aaaa…" or "abab…" is long, not random
SECRET_HINT = f"set {SECRET_ENV} to a long random value (`openssl rand -hex 32`) or name a key file in secret_file"


def app_secret(settings: Settings, env: typing.Mapping[str, str]) -> bytes | None:
    """The secret's bytes: DIGEST_SECRET, else the file named by `secret_file`, else the old
    DIGEST_UNSUBSCRIBE_SECRET; None when none is set. DigestError when the file cannot be read."""
    value = env.get(SECRET_ENV, "")
    if value.strip():
        return value.encode("utf-8")  # as set: another process given the same value keys the same
    if settings.secret_file:
        path = settings.path(settings.secret_file)
        try:
            data = path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError.for_key(
                "secret_file", f"cannot read {path}: {exc.strerror or exc}", hint=SECRET_HINT
            ) from None
        if data:
            return data
        raise ConfigError.for_key("secret_file", f"{path} is empty", hint=SECRET_HINT)
    old = env.get(OLD_SECRET_ENV, "")
    return old.encode("utf-8") if old.strip() else None


def secret_problem(settings: Settings, env: typing.Mapping[str, str]) -> str | None:
    """What is wrong with the secret, in one line that never shows it; None when it is fine."""
    try:
        secret = app_secret(settings, env)
    except ConfigError as exc:
        return exc.message
    if secret is None:
        return f"no secret to sign readers' links: {SECRET_HINT}"
    where = SECRET_ENV if env.get(SECRET_ENV, "").strip() else OLD_SECRET_ENV
    if where == OLD_SECRET_ENV and settings.secret_file:
        where = f"secret_file {settings.path(settings.secret_file)}"
    if len(secret) < SECRET_MIN_BYTES:
        return f"the secret in {where} is weak: {len(secret)} bytes, at least {SECRET_MIN_BYTES} needed ({SECRET_HINT})"
    if len(set(secret)) < SECRET_MIN_DISTINCT:
        return f"the secret in {where} is weak: it repeats a few characters ({SECRET_HINT})"
    return None


def secret_notice(settings: Settings, env: typing.Mapping[str, str]) -> str | None:
    """A warning line when the secret comes from the old variable name; None otherwise."""
    if env.get(SECRET_ENV, "").strip() or settings.secret_file or not env.get(OLD_SECRET_ENV, "").strip():
        return None
    return f"{OLD_SECRET_ENV} is the old name of {SECRET_ENV}: rename it (it is still read, for now)"


def secret_needed_by(settings: Settings) -> str | None:
    """What needs the secret ("subscribe.public_url is set", …), or None when nothing does."""
    if settings.subscribe.public_url:
        return "subscribe.public_url is set (digest serve signs every link)"
    url = (settings.mail.unsubscribe_url or "").strip().lower()
    if url.startswith(("https:", "http:")):
        return "mail.unsubscribe_url puts a signed token in every message"
    return None
