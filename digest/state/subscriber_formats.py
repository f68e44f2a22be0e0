"""Subscriber lists other tools export, read into ImportRecords; and digest's own export, written and read back.

Each format is a CSV with its own column names (digest's own export may also be JSON). A row
that cannot be used becomes a problem line, "FILE:LINE: reason", and the rest is read. Where
each column list comes from is said beside the format's reader (`_record`):

- `csv`: digest's own export (`email, name, state, topics, created_at, confirmed_at, consent_ip`),
  or any CSV with an `email` column (then every row is confirmed). Topics are separated by `;`;
  an empty cell means every article, `-` none. A `.json` file is digest's JSON export. A cell
  that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a CR)
  is written with a `'` before it (CSV injection), which the import takes off again.
- `mailchimp`: an audience export (`Email Address`, `First Name`, `Last Name`, `OPTIN_TIME`,
  `CONFIRM_TIME`, …). Its zip holds one file per status: subscribed_*.csv, unsubscribed_*.csv
  (`UNSUB_TIME`), cleaned_*.csv (`CLEAN_TIME`: hard bounces); the status is read from those
  columns, else the file's name, else `status`. Non-subscribed contacts never opted in: skipped.
- `substack`: the data export's email_list.*.csv (`email`, `active_subscription`, `expiry`,
  `plan`, `email_disabled`, `created_at`, `first_payment_at`): a reader who turned email off is
  unsubscribed, everyone else (free or paid) confirmed; Substack's placeholders for readers who
  asked to be deleted (`…@deletion-request.substack.com`) are skipped.
- `buttondown`: `email` (or `email_address`), `subscriber_type` (or `type`): regular, premium,
  gifted… are confirmed, unactivated pending, unsubscribed/removed unsubscribed, undeliverable
  bounced, complained complained; spammy and blocked (Buttondown's own spam guess) are skipped.
- `listmonk`: `uuid`, `email`, `name`, `attributes` (JSON), `status` (enabled, disabled,
  blocklisted), `created_at`, `updated_at` (Go's time format, "2024-01-01 09:00:00.5 +0000 UTC").
"""
from __future__ import annotations

import csv
import io
import json
import re
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
# Buttondown's subscriber types: the SubscriberType enum of its API (github.com/buttondown/openapi,
# enums.json: regular, premium, trialed, unpaid, gifted, churning, unactivated, paused, unsubscribed,
# spammy, removed, past_due) and the later ones its docs name (undeliverable, complained, blocked).
_BUTTONDOWN = {
    "regular": "confirmed", "premium": "confirmed", "gifted": "confirmed", "trialed": "confirmed",
    "churning": "confirmed", "past_due": "confirmed", "unpaid": "confirmed", "paused": "confirmed",
    "unactivated": "pending", "unsubscribed": "unsubscribed", "removed": "unsubscribed",
    "undeliverable": "bounced", "complained": "complained", "spammy": _SKIP, "blocked": _SKIP,
}
# listmonk's subscriber statuses (models.SubscriberStatus*): enabled, disabled, blocklisted.
_LISTMONK = {"enabled": "confirmed", "disabled": "unsubscribed", "blocklisted": "unsubscribed"}
_MAILCHIMP = {"subscribed": "confirmed", "unsubscribed": "unsubscribed", "cleaned": "bounced",
              "pending": "pending", "nonsubscribed": _SKIP, "non-subscribed": _SKIP, "archived": _SKIP}
_TRUE = ("true", "yes", "1", "t", "y")
_SUBSTACK_DELETED = "@deletion-request.substack.com"  # the address Substack leaves for a deleted reader
# A cell a spreadsheet reads as a formula starts with one of these (OWASP, "CSV Injection"):
# digest's CSV export writes a `'` before it, and the import takes that `'` off again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_GUARD = "'"


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


_GO_TIME = re.compile(r"(\S+ \S+) ([+-]\d{4})(?: \S+)?")  # Go's Time.String(): "… 09:00:00.5 +0000 UTC"


def _when(text: str | None) -> str | None:
    """A date-time cell (ISO 8601, "YYYY-MM-DD HH:MM:SS" or Go's "… +0000 UTC"; UTC unless it says) as the
    store writes it."""
    if not text or not text.strip():
        return None
    text = text.strip()
    go = _GO_TIME.fullmatch(text)
    if go:  # listmonk; fromisoformat takes up to 6 digits of a second, Go writes up to 9
        day_time, zone = go.groups()
        day_time = re.sub(r"(\.\d{6})\d+", r"\1", day_time)
        text = f"{day_time}{zone[:3]}:{zone[3:]}"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
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
        # Mailchimp's audience export (subscribed_members_export_<id>.csv and its unsubscribed_/cleaned_
        # siblings): "Email Address", "First Name", "Last Name", the audience's other merge fields,
        # MEMBER_RATING, OPTIN_TIME, OPTIN_IP, CONFIRM_TIME, CONFIRM_IP, LATITUDE, LONGITUDE, GMTOFF,
        # DSTOFF, TIMEZONE, CC, REGION, LAST_CHANGED, LEID, EUID, NOTES, TAGS; the unsubscribed file has
        # UNSUB_TIME, UNSUB_CAMPAIGN_TITLE, UNSUB_CAMPAIGN_ID, UNSUB_REASON, UNSUB_REASON_OTHER instead of
        # LAST_CHANGED, the cleaned file CLEAN_TIME, CLEAN_CAMPAIGN_TITLE, CLEAN_CAMPAIGN_ID. (Headers as
        # found in public code reading real exports; the CLEAN_* names from Mailchimp's help pages.)
        name = " ".join(x for x in (row.get("first name"), row.get("last name")) if x) or None
        confirmed = _when(row.get("confirm_time")) or _when(row.get("optin_time"))
        return row.get("email address", ""), name, _mailchimp_state(path, row, status), {"confirmed_at": confirmed}
    if fmt == "substack":
        # Substack's data export, email_list.<publication>.csv: email, active_subscription, expiry, plan,
        # email_disabled, created_at, first_payment_at (older exports: email, active_subscription,
        # expiry, email_disabled, created_at; as TryGhost/migrate's mg-substack-members-csv reads them).
        # Paid or free, a reader gets the newsletter unless they turned email off.
        email = row.get("email", "")
        if email.lower().endswith(_SUBSTACK_DELETED):
            return email, None, _SKIP, {}
        state = "unsubscribed" if (row.get("email_disabled") or "").lower() in _TRUE else "confirmed"
        created = _when(row.get("created_at") or row.get("subscription_date"))
        return email, row.get("name") or None, state, {"created_at": created, "confirmed_at": created}
    if fmt == "buttondown":
        # Buttondown's subscriber export: email, notes, metadata, tags, creation_date, subscriber_type,
        # referrer_url, … (its API renamed subscriber_type and email to type and email_address, and
        # creation_date to created_date, which later exports may use: either is read).
        kind = (row.get("subscriber_type") or row.get("type") or "regular").lower()
        created = _when(row.get("creation_date") or row.get("created_date"))
        email = row.get("email") or row.get("email_address") or ""
        return email, None, _BUTTONDOWN.get(kind, kind), {"created_at": created}
    if fmt == "listmonk":
        # listmonk's "Export" of subscribers (cmd/subscribers.go, handleExportSubscribers): uuid, email,
        # name, attributes, status, created_at, updated_at.
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
        if fmt == "csv":
            row = {column: unguard_cell(cell) for column, cell in row.items()}
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
        return ImportRecord(address, None, SKIP, None, f"{where}: never opted in, flagged as spam or deleted, in "
                            f"the {fmt} export"), None
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
        writer.writerow([guard_cell(cell) for cell in (s.address, s.name or "", s.state, topics, *when)])
    return out.getvalue()


def _guarded(cell: str) -> bool:
    """Whether `cell` reads as a guarded one: a `'` before a formula's first character or another `'`."""
    return len(cell) > 1 and cell[0] == _GUARD and (cell[1] in _FORMULA_START or cell[1] == _GUARD)


def guard_cell(cell: str) -> str:
    """`cell` as a spreadsheet shows it as text: a `'` before a formula's first character (and before a
    cell that would otherwise read as guarded, so that `unguard_cell` gives back exactly `cell`)."""
    return _GUARD + cell if cell.startswith(_FORMULA_START) or _guarded(cell) else cell


def unguard_cell(cell: str) -> str:
    """A cell of digest's CSV export as it was before `guard_cell`."""
    return cell[1:] if _guarded(cell) else cell
