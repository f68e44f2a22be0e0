"""Subscriber lists other tools export, read into ImportRecords; and digest's own export, written and read back.

Each format is a CSV with its own column names (digest's own export may also be JSON). A row
that cannot be used becomes a problem line, "FILE:LINE: reason", and the rest is read:

- `csv`: digest's own export (`email, name, state, topics, created_at, confirmed_at, consent_ip`),
  or any CSV with an `email` column (then every row is confirmed). Topics are separated by `;`;
  an empty cell means every article, `-` none. A `.json` file is digest's JSON export.
- `mailchimp`: an audience export (`Email Address`, `First Name`, `Last Name`, `OPTIN_TIME`,
  `CONFIRM_TIME`, …). Its zip holds one file per status: subscribed_*.csv, unsubscribed_*.csv
  (`UNSUB_TIME`), cleaned_*.csv (`CLEAN_TIME`: hard bounces); the status is read from those
  columns, else the file's name, else `status`. Non-subscribed contacts never opted in: skipped.
- `substack`: `email`, `active_subscription`, `plan`, `email_disabled`, `created_at`, …: a reader
  who turned email off is unsubscribed, everyone else (free or paid) confirmed.
- `buttondown`: `email` (or `email_address`), `subscriber_type` (or `type`): regular, premium,
  gifted… are confirmed, unactivated pending, unsubscribed/removed unsubscribed, undeliverable
  bounced, complained complained; spammy (Buttondown's own spam guess) is skipped.
- `listmonk`: `email`, `name`, `status` (enabled, disabled, blocklisted), `attributes` (JSON).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from digest.addresses import check_address, check_name
from digest.errors import DigestError
from digest.state.subscriber_schema import SKIP, STATES, ImportRecord, Subscriber

Format = Literal["csv", "mailchimp", "substack", "buttondown", "listmonk"]
FORMATS: tuple[Format, ...] = ("csv", "mailchimp", "substack", "buttondown", "listmonk")
EXPORT_COLUMNS = ("email", "name", "state", "topics", "created_at", "confirmed_at", "consent_ip")
_SKIP = SKIP
_BUTTONDOWN = {
    "regular": "confirmed", "premium": "confirmed", "gifted": "confirmed", "trialed": "confirmed",
    "churning": "confirmed", "past_due": "confirmed", "unpaid": "confirmed", "paused": "confirmed",
    "unactivated": "pending", "unsubscribed": "unsubscribed", "removed": "unsubscribed",
    "undeliverable": "bounced", "complained": "complained", "spammy": _SKIP,
}
_LISTMONK = {"enabled": "confirmed", "disabled": "unsubscribed", "blocklisted": "unsubscribed"}
_MAILCHIMP = {"subscribed": "confirmed", "unsubscribed": "unsubscribed", "cleaned": "bounced",
              "pending": "pending", "nonsubscribed": _SKIP, "non-subscribed": _SKIP, "archived": _SKIP}
_TRUE = ("true", "yes", "1", "t", "y")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line where the record starts, {lower-cased column: cell}) for each non-blank record."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DigestError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DigestError(f"{path}: cannot read: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num
            if any(c.strip() for c in cells):
                yield start, dict(zip(header, (c.strip(" \t") for c in cells)))
    except csv.Error as exc:
        raise DigestError(f"{path}:{reader.line_num}: not a readable CSV: {exc}") from None


def _columns(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [h.strip().lower() for h in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DigestError(f"{path}: cannot read: {exc}") from None


def detect_format(path: Path) -> Format:
    """The format a file's header (or name) says it is; "csv" when none is recognised."""
    if path.suffix.lower() == ".json":
        return "csv"
    columns = set(_columns(path))
    if "email address" in columns:
        return "mailchimp"
    if "subscriber_type" in columns or "email_address" in columns:
        return "buttondown"
    if "active_subscription" in columns or "email_disabled" in columns:
        return "substack"
    if "attributes" in columns and "status" in columns:
        return "listmonk"
    return "csv"


def _when(text: str | None) -> str | None:
    """A date-time cell (ISO 8601 or "YYYY-MM-DD HH:MM:SS", UTC unless it says) as the store writes it."""
    if not text or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _topics(cell: str | None) -> tuple[str, ...] | None:
    if cell is None or not cell.strip():
        return None
    if cell.strip() == "-":
        return ()
    return tuple(t.strip() for t in cell.replace(",", ";").split(";") if t.strip()) or None


def _mailchimp_state(path: Path, row: dict[str, str], status: str | None) -> str:
    marketing = (row.get("email marketing") or row.get("status") or "").lower().replace(" ", "")
    if marketing:
        return _MAILCHIMP.get(marketing, marketing)
    if "clean_time" in row:
        return "bounced"
    if "unsub_time" in row:
        return "unsubscribed"
    name = path.name.lower()
    for prefix, state in (("cleaned", "bounced"), ("unsubscribed", "unsubscribed"), ("nonsubscribed", _SKIP)):
        if name.startswith(prefix):
            return state
    return _MAILCHIMP.get((status or "subscribed").lower(), "confirmed")


Extra = dict[str, str | None]  # created_at, confirmed_at, consent_ip


def _record(fmt: Format, path: Path, row: dict[str, str], status: str | None) -> tuple[str, str | None, str, Extra]:
    """(address cell, name, state, extra) of one row in `fmt`; state may be _SKIP or unknown."""
    if fmt == "mailchimp":
        name = " ".join(x for x in (row.get("first name"), row.get("last name")) if x) or None
        confirmed = _when(row.get("confirm_time")) or _when(row.get("optin_time"))
        return row.get("email address", ""), name, _mailchimp_state(path, row, status), {"confirmed_at": confirmed}
    if fmt == "substack":
        state = "unsubscribed" if (row.get("email_disabled") or "").lower() in _TRUE else "confirmed"
        created = _when(row.get("created_at") or row.get("subscription_date"))
        return row.get("email", ""), row.get("name") or None, state, {"created_at": created, "confirmed_at": created}
    if fmt == "buttondown":
        kind = (row.get("subscriber_type") or row.get("type") or "regular").lower()
        created = _when(row.get("creation_date") or row.get("created_date"))
        email = row.get("email") or row.get("email_address") or ""
        return email, None, _BUTTONDOWN.get(kind, kind), {"created_at": created}
    if fmt == "listmonk":
        kind = (row.get("status") or "enabled").lower()
        return row.get("email", ""), row.get("name") or None, _LISTMONK.get(kind, kind), {
            "created_at": _when(row.get("created_at"))}
    extra = {k: (_when(row.get(k)) if k.endswith("_at") else row.get(k) or None)
             for k in ("created_at", "confirmed_at", "consent_ip")}
    return row.get("email", ""), row.get("name") or None, (row.get("state") or "confirmed").lower(), extra


def parse_export(path: Path, fmt: Format, *, status: str | None = None) -> tuple[list[ImportRecord], list[str]]:
    """(records, problem lines "FILE:LINE: reason") of an export in `fmt`. `status`: a Mailchimp
    file's status (subscribed, unsubscribed, cleaned) when neither its columns nor its name say."""
    if fmt == "csv" and path.suffix.lower() == ".json":
        return _parse_json(path)
    if fmt not in FORMATS:
        raise DigestError(f"{path}: no such import format {fmt!r} (one of {', '.join(FORMATS)})")
    columns = _columns(path)
    wanted = {"mailchimp": ("email address",), "buttondown": ("email", "email_address")}.get(fmt, ("email",))
    if not any(c in columns for c in wanted):
        raise DigestError(f"{path}: no `{wanted[0]}` column, as a {fmt} export has (found: {', '.join(columns)})",
                          hint="pass --from with the tool the file came from")
    records: list[ImportRecord] = []
    problems: list[str] = []
    for line, row in _rows(path):
        where = f"{path}:{line}"
        cell, name, state, extra = _record(fmt, path, row, status)
        topics = _topics(row.get("topics")) if fmt == "csv" else None
        record, problem = _checked(where, fmt, cell, name, state, topics, extra)
        records += [record] if record else []
        problems += [problem] if problem else []
    return records, problems


def _checked(where: str, fmt: str, cell: str, name: str | None, state: str, topics: tuple[str, ...] | None,
             extra: Extra) -> tuple[ImportRecord | None, str | None]:
    address, reason = check_address(cell)
    if address is None:
        return None, f"{where}: {cell!r}: {reason}; skipped"
    if state == _SKIP:  # not an error: the store reports it among the skipped, with why
        return ImportRecord(address, None, SKIP, None, f"{where}: never opted in, or flagged as spam, in the {fmt} "
                            "export"), None
    if state not in STATES:
        return None, f"{where}: {address}: unknown state {state!r}; skipped"
    problem = None
    if name and check_name(name):
        problem, name = f"{where}: the name {name!r} has {check_name(name)}; imported without a name", None
    record = ImportRecord(address, name, state, topics, f"{where} ({fmt}, {state})", extra.get("created_at"),
                          extra.get("confirmed_at"), extra.get("consent_ip"))
    return record, problem


def _parse_json(path: Path) -> tuple[list[ImportRecord], list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DigestError(f"{path}: cannot read digest's JSON export: {exc}") from None
    items = data.get("subscribers") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise DigestError(f"{path}: expected a list of subscribers, as `digest subscribers export --format json` has")
    records: list[ImportRecord] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        where = f"{path}:subscribers[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("email"), str):
            problems.append(f"{where}: not a subscriber with an email; skipped")
            continue
        topics = item.get("topics")
        topics = tuple(str(t) for t in topics) if isinstance(topics, list) else None
        extra: Extra = {k: str(item[k]) if item.get(k) else None for k in ("created_at", "confirmed_at", "consent_ip")}
        record, problem = _checked(where, "json", item["email"], item.get("name") or None,
                                   str(item.get("state") or "confirmed"), topics, extra)
        records += [record] if record else []
        problems += [problem] if problem else []
    return records, problems


def export_rows(subscribers: Sequence[Subscriber]) -> list[dict[str, object]]:
    """The rows of `digest subscribers export`: what an import of them needs to rebuild the list."""
    return [{"email": s.address, "name": s.name, "state": s.state,
             "topics": None if s.topics is None else list(s.topics), "created_at": s.created_at,
             "confirmed_at": s.confirmed_at, "consent_ip": s.consent_ip} for s in subscribers]


def export_text(subscribers: Sequence[Subscriber], fmt: Literal["csv", "json"]) -> str:
    """digest's export, CSV or JSON; `parse_export(..., "csv")` reads either back to the same rows."""
    if fmt == "json":
        return json.dumps({"subscribers": export_rows(subscribers)}, ensure_ascii=False, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for s in subscribers:
        topics = "" if s.topics is None else ";".join(s.topics) or "-"
        when = (s.created_at, s.confirmed_at or "", s.consent_ip or "")
        writer.writerow([s.address, s.name or "", s.state, topics, *when])
    return out.getvalue()
