"""The state database (SQLite): one file for what was built, carried, sent and cached.

Each stage owns its own tables and creates them with `CREATE TABLE IF NOT EXISTS` through
`connect`; this module opens the file the same way for all of them, and keeps the rules every
stage shares about what may be in it:

- The caches (scan, render) hold JSON with a version (`encode_*`, `decode_*`), never pickles:
  the state file is data, and loading it must never run code. A blob that does not decode is
  dropped and rebuilt; the pickled caches of an older digest are dropped unread, once.
- The ledger (outbox, schedule ticks) is what stops an issue being sent twice, so a state file
  that has lost it beside manifests recording sends makes a send refuse (`check_state_continuity`).
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from digest.errors import DigestError, StateDatabaseError, db_error, os_error
from digest.models import Article, KeyFigure, RenderedEmail, Skipped

if TYPE_CHECKING:
    from digest.config import Settings


def connect(path: Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """Open (creating its folder) the state database with durable, concurrent-safe settings."""
    # A damaged file, a read-only folder or a full disk shows here first: one line naming
    # the file (errors.db_error), never a traceback.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err = os_error(exc, path.parent)
        raise StateDatabaseError(err.message, err.hint) from None
    try:
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise db_error(exc, path) from None
    try:
        conn.row_factory = sqlite3.Row
        # WAL lets a reader (`digest status`) look while a send writes; FULL makes each commit
        # durable before the next SMTP transaction starts, so a crash never loses a "sent".
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
    except sqlite3.Error as exc:
        conn.close()
        raise db_error(exc, path) from None
    return conn


# --- what the caches keep: versioned JSON, never pickle -------------------------------------------

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


# Tables an older digest (before cache format 1) filled with pickles. Dropped unread, never loaded.
CACHE_TABLES = ("scan_cache", "render_cache")
_STATE_META = "CREATE TABLE IF NOT EXISTS state_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    try:
        row = conn.execute("SELECT value FROM state_meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:  # no such table: a state file no digest with state_meta wrote to
        return None
    return None if row is None else str(row[0])


def retire_old_caches(conn: sqlite3.Connection, path: Path) -> None:
    """Drop the cache tables of an older cache format (pickles, before format 1) unread, with one warning.

    Runs before a cache is read; the mark it leaves makes it a single query from then on. The
    ledger (outbox, schedule ticks, carried articles) is never touched.
    """
    if _meta(conn, "cache_format") == str(CACHE_FORMAT):
        return
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN IMMEDIATE")
    try:
        found = _meta(conn, "cache_format")
        dropped = []
        if found != str(CACHE_FORMAT):  # another process may have done it while we waited
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            dropped = [t for t in CACHE_TABLES if t in tables]
            for table in dropped:
                conn.execute(f"DROP TABLE {table}")
            conn.execute(_STATE_META)
            conn.execute(
                "INSERT OR REPLACE INTO state_meta (key, value) VALUES ('cache_format', ?)", (str(CACHE_FORMAT),)
            )
        if own:
            conn.execute("COMMIT")
    except BaseException:
        if own and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if dropped:
        what = "pickled, by an older digest" if found is None else f"cache format {found}"
        log.warning(
            "%s: dropped the %s written in an old format (%s) without reading it; rebuilding",
            path, " and ".join(t.replace("_", " ") for t in dropped), what,
        )


# --- the ledger: a state file that has lost it must not send again --------------------------------

LEDGER_TABLES = ("outbox", "schedule_ticks")  # what a send and the schedule record; caches do not count


@dataclass
class Ledger:
    """What a state file records of sends and ticks, read without writing to it."""

    exists: bool
    rows: int = 0  # outbox and schedule_ticks rows
    issues: set[str] = field(default_factory=set)  # the issues the outbox has rows for
    reset_at: datetime | None = None  # when --state-reset last accepted this file as it was


def read_ledger(path: Path) -> Ledger | None:
    """The ledger of the state file at `path`; None when it cannot be read (the command reports that itself)."""
    try:
        if path.stat().st_size == 0:
            return Ledger(exists=True)
    except FileNotFoundError:
        return Ledger(exists=False)
    except OSError:
        return None
    try:
        conn = sqlite3.connect(str(path), timeout=30.0)  # plain: no WAL pragma, nothing written
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            ledger = Ledger(exists=True)
            if "outbox" in tables:
                ledger.issues = {r[0] for r in conn.execute("SELECT DISTINCT issue_id FROM outbox")}
                ledger.rows += conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            if "schedule_ticks" in tables:
                ledger.rows += conn.execute("SELECT count(*) FROM schedule_ticks").fetchone()[0]
            reset = _meta(conn, "state_reset_at")
            ledger.reset_at = datetime.fromisoformat(reset) if reset else None
            return ledger
        finally:
            conn.close()
    except (sqlite3.Error, ValueError):
        return None


def sent_manifests(out_dir: Path) -> list[tuple[Path, str, dict[str, Any]]]:
    """(manifest, issue id, its `sent` record) for each issue in `out_dir` a send was started for, newest first."""
    found = []
    for path in out_dir.glob("*.json"):
        try:
            text = path.read_text(encoding="utf-8")
            if '"sent"' not in text:  # most manifests: no need to parse them
                continue
            data = json.loads(text)
        except (OSError, ValueError):
            continue
        sent = data.get("sent") if isinstance(data, dict) else None
        if isinstance(sent, dict) and isinstance(data.get("issue_id"), str) and _started(sent) is not None:
            found.append((path, data["issue_id"], sent))
    found.sort(key=lambda f: (_started(f[2]), f[1]), reverse=True)
    return found


def _started(sent: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(sent.get("last_started") or sent.get("first_started")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def lost_send(settings: Settings, ledger: Ledger) -> tuple[Path, str, str] | None:
    """(manifest, issue id, what the state file lacks) for the newest send the state file should know of and does not.

    A missing or empty state file (no outbox and no schedule rows) should know of every send a
    manifest records; one that has rows, of every send started with this very file. Sends from
    before a --state-reset of this file are not asked about again.
    """
    own = str(settings.state_path.resolve())
    for manifest, issue_id, sent in sent_manifests(settings.out_dir):
        started = _started(sent)
        if ledger.reset_at is not None and started is not None and started <= ledger.reset_at:
            continue
        if ledger.rows == 0:
            return manifest, issue_id, "is empty (no outbox or schedule rows)" if ledger.exists else "does not exist"
        if sent.get("state") == own and issue_id not in ledger.issues:
            return manifest, issue_id, f"has no outbox rows for issue {issue_id}"
    return None


def check_state_continuity(settings: Settings, *, state_reset: bool, now: datetime) -> None:
    """Refuse to send when the state file has lost sends that the issues' manifests record.

    The outbox is what keeps an issue from going to a reader twice: with the state file deleted,
    emptied or swapped, a send or a scheduled tick would start again from nothing. Called at the
    start of `digest send` and of every scheduled tick. `state_reset` (--state-reset) accepts the
    state file as it is, once: the acceptance is kept in it, so later runs do not ask again.
    """
    path = settings.state_path
    ledger = read_ledger(path)
    if ledger is None:
        return
    lost = lost_send(settings, ledger)
    if lost is None:
        return
    manifest, issue_id, lack = lost
    if not state_reset:
        raise DigestError(
            f"state file {path} {lack}, but {manifest} records that issue {issue_id} was sent: "
            "going on could send issues again to readers who had them",
            hint="restore the state file (or pass --state with the right one); "
            "or run again with --state-reset to start from this state file knowingly",
        )
    when = now.astimezone(timezone.utc)
    conn = connect(path)
    try:
        conn.execute(_STATE_META)
        conn.execute(
            "INSERT OR REPLACE INTO state_meta (key, value) VALUES ('state_reset_at', ?)", (when.isoformat(),)
        )
    finally:
        conn.close()
    log.warning(
        "--state-reset: going on with %s although %s records that issue %s was sent; "
        "sends recorded before %s are no longer checked", path, manifest, issue_id, when.isoformat(timespec="seconds"),
    )
