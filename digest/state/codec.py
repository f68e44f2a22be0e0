"""What the caches keep: versioned JSON, never pickle. A blob that does not decode is dropped and rebuilt."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from digest.models import Article, KeyFigure, RenderedEmail, Skipped

if TYPE_CHECKING:
    pass

log = logging.getLogger("digest")

CACHE_FORMAT = 1  # bump when an encoded shape changes: blobs of another version are dropped and rebuilt
_TAG = "\x00"  # the key of a tagged value; a plain mapping that has it is stored as pairs instead
_MAX_DEPTH = 64  # front matter nested deeper (a YAML alias loop) is kept as its repr: lossy, never fatal
_T = TypeVar("_T")


class CacheDecodeError(ValueError):
    """A cached blob that is not what this digest writes (a pickle, another version, a damaged row)."""


def _tagged(tag: str, value: Any) -> dict[str, Any]:
    return {_TAG: tag, "v": value}


def _zone(tz: tzinfo | None, moment: datetime | time | None = None) -> list[Any] | None:
    if tz is None:
        return None
    if isinstance(tz, ZoneInfo) and tz.key:
        return ["z", tz.key]
    offset = tz.utcoffset(moment if isinstance(moment, datetime) else None)
    return None if offset is None else ["o", offset.total_seconds()]  # any other tzinfo: its offset, exactly


def _plain(value: Any, depth: int = 0) -> Any:
    """`value` as JSON data: front matter types (YAML, TOML, JSON) round-trip exactly, others as their repr."""
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        return value
    if depth > _MAX_DEPTH:
        return _tagged("repr", repr(value)[:200])
    if kind is list:
        return [_plain(v, depth + 1) for v in value]
    if kind is dict:
        if _TAG not in value and all(type(k) is str for k in value):
            return {k: _plain(v, depth + 1) for k, v in value.items()}
        return _tagged("map", [[_plain(k, depth + 1), _plain(v, depth + 1)] for k, v in value.items()])
    if kind is datetime:
        return _tagged("dt", [value.replace(tzinfo=None).isoformat(), _zone(value.tzinfo, value), value.fold])
    if kind is date:
        return _tagged("date", value.isoformat())
    if kind is time:
        return _tagged("time", [value.replace(tzinfo=None).isoformat(), _zone(value.tzinfo), value.fold])
    if kind in (tuple, set, frozenset):
        items = sorted(value, key=repr) if kind is not tuple else value  # a set's order is not its own
        return _tagged(kind.__name__, [_plain(v, depth + 1) for v in items])
    if kind is bytes:
        return _tagged("bytes", base64.b64encode(value).decode("ascii"))
    for base in (str, int, float):  # subclasses (a YAML or TOML library's own str) as their base
        if isinstance(value, base):
            return base(value)
    return _tagged("repr", repr(value)[:200])


def _zone_of(spec: Any) -> tzinfo | None:
    if spec is None:
        return None
    if spec[0] == "z":
        return ZoneInfo(spec[1])
    if spec[0] == "o":
        return timezone(timedelta(seconds=spec[1]))
    raise CacheDecodeError(f"unknown time zone {spec!r}")


def _restore(obj: dict[str, Any]) -> Any:
    """json.loads' object_hook: a tagged value back to its type (bottom up: its parts are done)."""
    if _TAG not in obj:
        return obj
    tag, value = obj[_TAG], obj["v"]
    if tag == "dt":
        return datetime.fromisoformat(value[0]).replace(tzinfo=_zone_of(value[1]), fold=value[2])
    if tag == "date":
        return date.fromisoformat(value)
    if tag == "time":
        return time.fromisoformat(value[0]).replace(tzinfo=_zone_of(value[1]), fold=value[2])
    if tag == "map":
        return dict(value)
    if tag in ("tuple", "set", "frozenset"):
        return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](value)
    if tag == "bytes":
        return base64.b64decode(value, validate=True)
    if tag == "repr":
        return str(value)
    raise CacheDecodeError(f"unknown tag {tag!r}")


def _dump(kind: str, payload: Any) -> bytes:
    text = json.dumps([CACHE_FORMAT, kind, payload], ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate in a title must not lose the row


def _load(kind: str, blob: Any) -> Any:
    """The payload of a blob written by `_dump(kind, …)`; CacheDecodeError for anything else. Never runs code."""
    if not isinstance(blob, (bytes, str)):
        raise CacheDecodeError(f"a {type(blob).__name__}, not a JSON blob")
    try:
        text = blob.decode("utf-8", "surrogatepass") if isinstance(blob, bytes) else blob
        envelope = json.loads(text, object_hook=_restore)
    except Exception as exc:  # noqa: BLE001 - whatever a damaged or crafted blob raises, it is only dropped
        raise CacheDecodeError(f"not a JSON cache blob ({type(exc).__name__})") from None
    if not (isinstance(envelope, list) and len(envelope) == 3 and envelope[:2] == [CACHE_FORMAT, kind]):
        raise CacheDecodeError(f"not a version {CACHE_FORMAT} {kind} blob")
    return envelope[2]


def _check(value: Any, *types: type) -> Any:
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise CacheDecodeError(f"a {type(value).__name__} where the cache expects {types[0].__name__}")
    return value


def _figures(items: Any) -> list[KeyFigure]:
    return [KeyFigure(_check(v, str), _check(c, str)) for v, c in _check(items, list)]


def _decode(kind: str, blob: Any, build: Callable[[Any], _T]) -> _T:
    """`build(payload)` of a `kind` blob; CacheDecodeError for a blob or payload of any other shape."""
    payload = _load(kind, blob)
    try:
        return build(payload)
    except CacheDecodeError:
        raise
    except (KeyError, IndexError, ValueError, TypeError) as exc:  # a missing field, a pair that is not a pair
        raise CacheDecodeError(f"not a {kind} ({exc})") from None


def encode_article(article: Article) -> bytes:
    a = article
    return _dump("article", {
        "path": a.path, "source": str(a.source), "title": a.title, "date": _plain(a.date), "draft": a.draft,
        "expiry": _plain(a.expiry), "lastmod": _plain(a.lastmod), "topics": list(a.topics), "url": a.url,
        "image": a.image, "slug": a.slug, "front_matter": _plain(a.front_matter), "body": a.body,
        "tldr": a.tldr, "key_figures": [[f.value, f.context] for f in a.key_figures],
    })


def _article(d: dict[str, Any]) -> Article:
    when, expiry, lastmod = (_check(d[k], datetime, type(None)) for k in ("date", "expiry", "lastmod"))
    if when is None or when.tzinfo is None:
        raise CacheDecodeError("an article date without a time zone")
    return Article(
        path=_check(d["path"], str), source=Path(_check(d["source"], str)), title=_check(d["title"], str),
        date=when, draft=_check(d["draft"], bool), expiry=expiry, lastmod=lastmod,
        topics=[_check(t, str) for t in _check(d["topics"], list)], url=_check(d["url"], str),
        image=_check(d["image"], str, type(None)), slug=_check(d["slug"], str),
        front_matter=_check(d["front_matter"], dict), body=_check(d["body"], str, type(None)),
        tldr=_check(d["tldr"], str), key_figures=_figures(d["key_figures"]),
    )


def decode_article(blob: Any) -> Article:
    return _decode("article", blob, lambda d: _article(_check(d, dict)))


def encode_skipped(skipped: Skipped) -> bytes:
    return _dump("skipped", [skipped.path, skipped.reason])


def decode_skipped(blob: Any) -> Skipped:
    def build(payload: Any) -> Skipped:
        path, reason = _check(payload, list)
        return Skipped(_check(path, str), _check(reason, str))

    return _decode("skipped", blob, build)


def encode_summary(tldr: str, figures: list[KeyFigure]) -> bytes:
    return _dump("summary", [tldr, [[f.value, f.context] for f in figures]])


def decode_summary(blob: Any) -> tuple[str, list[KeyFigure]]:
    def build(payload: Any) -> tuple[str, list[KeyFigure]]:
        tldr, figures = _check(payload, list)
        return _check(tldr, str), _figures(figures)

    return _decode("summary", blob, build)


def encode_rendered(rendered: RenderedEmail) -> bytes:
    return _dump("rendered", [rendered.subject, rendered.html, rendered.text, list(rendered.warnings)])


def decode_rendered(blob: Any) -> RenderedEmail:
    def build(payload: Any) -> RenderedEmail:
        subject, html, text, warnings = _check(payload, list)
        return RenderedEmail(_check(subject, str), _check(html, str), _check(text, str),
                             tuple(_check(w, str) for w in _check(warnings, list)))

    return _decode("rendered", blob, build)


