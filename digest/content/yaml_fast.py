"""A fast path for the YAML front matter most sites write, with PyYAML's own scalar rules.

PyYAML spends ~100 µs per front matter building Python objects, even with the C parser; a site of
100,000 articles would take ten seconds to scan. Almost all front matter is `key: scalar`,
`key: [a, b]`, a block list of scalars or one nested level (`cover:` / `  image: x`). This module
reads exactly that subset and returns None for anything else (block scalars, anchors, tags,
escapes, comments after values, multi-line scalars...), and the caller then asks PyYAML. Scalars
are typed by PyYAML's own resolver and constructors, so `yes`, `0x1F`, `1:30` and timestamps come
out exactly as yaml.safe_load gives them; tests compare both on generated documents.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import ScalarNode

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?: +(.*))?$")
_ITEM = re.compile(r"( *)- +(.*)$|( *)-$")
# A plain scalar may not start with an indicator, nor hold `: ` or ` #` (a mapping or a comment).
_PLAIN_BAD_START = set("-?:,[]{}#&*!|>'\"%@`")
_resolver = yaml.resolver.Resolver()
_constructor = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE  # PyYAML refuses these; let it say so
_CACHE_MAX = 50_000
# Tabs, escapes, and the line breaks YAML knows beyond \n (NEL, LS, PS, CR) are left to PyYAML.
_AWKWARD = re.compile(r"[\t\\\r\x85\u2028\u2029]")
_FLOW_ITEM = re.compile(r""" *(?:"([^"]*)"|'((?:[^']|'')*)'|([^,\[\]{}"'#?:]*?)) *(,|$)""")
_string_keys: set[str] = set()
_block_cache: dict[str, Any] = {}
_flow_cache: dict[str, Any] = {}


class _Unsupported(Exception):
    """The document leaves the subset: let PyYAML read it."""


def load(text: str) -> dict[str, Any] | None:
    """The mapping in `text` when it is in the simple subset; None means "use PyYAML"."""
    if _AWKWARD.search(text) or _NON_PRINTABLE.search(text):
        return None
    try:
        return _load(text.split("\n"))
    except (_Unsupported, ValueError, TypeError, KeyError, yaml.YAMLError):
        return None


def _load(lines: list[str]) -> dict[str, Any] | None:
    data: dict[str, Any] = {}
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        i += 1
        if not line.strip(" ") or line.startswith("#"):
            continue
        match = _KEY.match(line.rstrip(" "))
        if match is None:
            raise _Unsupported
        key, rest = match.group(1), match.group(2)
        _check_key(key)
        if rest:
            data[key] = _value(rest.strip(" "), flow_ok=True)
            continue
        # A block list or a nested mapping follows, or nothing (null).
        block: list[str] = []
        while i < n and (lines[i].startswith((" ", "-")) or not lines[i].strip(" ")):
            if lines[i].strip(" "):
                block.append(lines[i].rstrip(" "))
            i += 1
        data[key] = _block(block) if block else None
    return data if data else None  # an empty or all-comment document: PyYAML decides


def _block(lines: list[str]) -> Any:
    if lines[0].lstrip(" ").startswith("-"):
        indent = len(lines[0]) - len(lines[0].lstrip(" "))
        items = []
        for line in lines:
            match = _ITEM.match(line)
            if match is None or len(match.group(1) or match.group(3) or "") != indent:
                raise _Unsupported
            body = match.group(2)
            if body is None:
                raise _Unsupported  # `-` alone: a nested block, leave it to PyYAML
            items.append(_value(body.strip(" "), flow_ok=False))
        return items
    indent = len(lines[0]) - len(lines[0].lstrip(" "))
    if indent == 0:
        raise _Unsupported
    nested: dict[str, Any] = {}
    for line in lines:
        if len(line) - len(line.lstrip(" ")) != indent:
            raise _Unsupported
        match = _KEY.match(line[indent:])
        if match is None or not match.group(2):
            raise _Unsupported
        _check_key(match.group(1))
        nested[match.group(1)] = _value(match.group(2).strip(" "), flow_ok=False)
    return nested


def _check_key(key: str) -> None:
    if key not in _string_keys:
        if _resolver.resolve(ScalarNode, key, (True, False)) != _STR:
            raise _Unsupported  # `yes:` or `null:` is not a string key for PyYAML
        if len(_string_keys) < _CACHE_MAX:
            _string_keys.add(key)


def _value(text: str, *, flow_ok: bool) -> Any:
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"') or '"' in text[1:-1]:
            raise _Unsupported
        return text[1:-1]
    if text.startswith("'"):
        inner = text[1:-1]
        if len(text) < 2 or not text.endswith("'") or "'" in inner.replace("''", ""):
            raise _Unsupported
        return inner.replace("''", "'")
    if text.startswith("["):
        if not flow_ok or not text.endswith("]"):
            raise _Unsupported
        return _flow(text[1:-1])
    return _plain(text, flow=False)


def _flow(inner: str) -> list[Any]:
    """`a, "b c", 'd'`: the items of a one-line flow list."""
    if not inner.strip(" "):
        return []
    items: list[Any] = []
    pos, end = 0, len(inner)
    while True:
        match = _FLOW_ITEM.match(inner, pos)
        if match is None:
            raise _Unsupported
        double, single, plain, comma = match.groups()
        if double is not None:
            items.append(double)
        elif single is not None:
            items.append(single.replace("''", "'"))
        elif plain:
            items.append(_plain(plain, flow=True))
        else:
            raise _Unsupported  # `[a, , b]`
        pos = match.end()
        if not comma:
            return items
        if pos == end:
            raise _Unsupported  # a trailing comma


def _plain(text: str, *, flow: bool) -> Any:
    # Sites repeat the same tags, booleans and categories: remember what each plain scalar is.
    cache = _flow_cache if flow else _block_cache
    if text in cache:
        return cache[text]
    value = _typed(text, flow=flow)
    if len(cache) < _CACHE_MAX:
        cache[text] = value  # every scalar type here is immutable, so sharing it is safe
    return value


def _typed(text: str, *, flow: bool) -> Any:
    if not text or text[0] in _PLAIN_BAD_START or ": " in text or " #" in text or text.endswith(":"):
        raise _Unsupported
    if flow and ":" in text:
        raise _Unsupported
    tag = _resolver.resolve(ScalarNode, text, (True, False))
    if tag == _STR:
        return text
    construct = _constructor.yaml_constructors.get(tag)
    if construct is None:
        raise _Unsupported
    return construct(_constructor, ScalarNode(tag, text))
