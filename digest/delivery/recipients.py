"""Who gets the issue: `--to` addresses and a CSV (`email`, optional `name` and `topics`), minus the suppression file.

Addresses are parsed strictly, never repaired: an `email` cell must be exactly one
addr-spec (a dot-atom before the @, a host name after it; no display name, comment, quoted
local part or second address), and a `--to` value exactly one addr-spec or `Name <addr-spec>`.
Anything else is reported (file and line, or `--to`) and skipped, so that
`alice@corp.com .evil.io` never becomes `alice@corp.com.evil.io`. A line with more fields
than the header names, or an address in the `name` column, is one line holding two
addresses: reported and skipped. A name with control characters or RFC 2047 encoded-word
syntax is reported and left out (the reader still gets the issue, without the greeting).
The same address twice, in any letter case, gets one message (the first row wins); an
address in the suppression file is never sent to. Addresses must be ASCII in the local
part (digest does not speak SMTPUTF8); an internationalised domain is converted to its
IDNA form, and refused when that conversion would change it (a zero-width or full-width
character that IDNA folds away).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from digest.addresses import EDGE_SPACE as _EDGE_SPACE
from digest.addresses import check_address as check_address
from digest.addresses import check_name as check_name
from digest.errors import DigestError

_TOPIC_SPLIT = re.compile(r"[;,|]")
_NAME_ADDR = re.compile(r'(?:"((?:[^"\\]|\\.)*)"|([^"<>]*?))[ \t]*<([^<>]*)>')  # Name <addr> or "Name" <addr>
_ADDRESS_LIKE = re.compile(r"[^\s@<>,;]+@[^\s@<>,;]+\.[^\s@<>,;]+")


@dataclass(frozen=True)
class Recipient:
    address: str
    name: str | None = None
    topics: tuple[str, ...] | None = None  # None: every article; a tuple: only these topics

    @property
    def key(self) -> str:
        """The outbox key: the address, lower-cased (one message per address, whatever its case)."""
        return self.address.lower()


@dataclass
class RecipientList:
    recipients: list[Recipient] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per malformed address
    suppressed: list[Recipient] = field(default_factory=list)
    duplicates: int = 0


def parse_to(text: str) -> tuple[str | None, str | None, str]:
    """A `--to` value: (address, name or None, "") for one addr-spec or `Name <addr-spec>`;
    else (None, None, reason)."""
    raw = text.strip(_EDGE_SPACE)
    if "<" not in raw and ">" not in raw:
        addr, reason = check_address(raw)
        return addr, None, reason
    m = _NAME_ADDR.fullmatch(raw)
    if not m:
        return None, None, "not exactly one address or `Name <address>`"
    quoted, bare, inner = m.groups()
    name = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    if quoted is None and any(c in bare for c in "@,;:()\\"):
        return None, None, "the name before <address> holds an address, a list or a comment: quote it"
    addr, reason = check_address(inner) if inner.strip(_EDGE_SPACE) == inner else (None, "spaces inside <…>")
    return addr, (name.strip() or None), reason


def read_suppression(path: Path | None) -> set[str]:
    """Lower-cased addresses from a suppression file: one per line, `#` starts a comment."""
    if path is None:
        return set()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DigestError(f"suppression file {path} does not exist", hint="fix mail.suppression_file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DigestError(f"suppression file {path}: cannot read: {exc}") from None
    out = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            addr, _ = check_address(line)
            out.add((addr or parseaddr(line)[1] or line).lower())
    return out


def _topics(cell: str | None) -> tuple[str, ...] | None:
    if cell is None or not cell.strip():
        return None
    return tuple(t.strip() for t in _TOPIC_SPLIT.split(cell) if t.strip()) or None


Row = tuple[str, str, str | None, tuple[str, ...] | None]  # where, email, name, topics


class _Lines:
    """The file's lines for csv, remembering where each record starts (a quoted cell may span lines)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = iter(lines)
        self.number = 0
        self.start = 0
        self.fresh = True  # the next non-blank line read starts a record

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.number += 1
        if self.fresh and line.strip("\r\n"):
            self.start, self.fresh = self.number, False
        return line


def read_csv(path: Path) -> tuple[list[Row], list[str]]:
    """Rows (where, email, name, topics) of a recipients CSV, and its lines that hold more fields than columns."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            lines = _Lines(fh)
            reader = csv.DictReader(lines, restkey="\0extra")
            fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}
            lines.fresh = True
            if "email" not in fields:
                raise DigestError(
                    f"{path}: no `email` column (found: {', '.join(fields) or 'nothing'})",
                    hint="the first line must name the columns: email[,name][,topics]",
                )
            rows: list[Row] = []
            problems: list[str] = []
            for row in reader:
                where = f"{path}:{lines.start}"
                lines.fresh = True
                email = (row.get(fields["email"]) or "").strip(_EDGE_SPACE)
                name = (row.get(fields["name"]) or "").strip(_EDGE_SPACE) if "name" in fields else ""
                topics = _topics(row.get(fields["topics"])) if "topics" in fields else None
                extra = [cell for cell in row.get("\0extra") or [] if cell.strip()]
                if extra:  # `a@x.org,b@y.org` under a one-column header: never only the first
                    line = ",".join([email, *extra])
                    problems.append(
                        f"{where}: {line!r}: more fields than the header names (one address per line); skipped"
                    )
                    continue
                if not email and not name and topics is None:
                    continue  # a blank line
                rows.append((where, email, name or None, topics))
            return rows, problems
    except FileNotFoundError:
        raise DigestError(f"recipients file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DigestError(f"{path}: cannot read the recipients CSV: {exc}") from None


def collect_recipients(
    addresses: Iterable[str] = (),
    csv_path: Path | None = None,
    suppression: set[str] | None = None,
) -> RecipientList:
    """The deduplicated, checked recipients of `--to` addresses then the CSV's rows."""
    result = RecipientList()
    seen: set[str] = set()
    checked: list[tuple[str, str, str | None, str, str | None, tuple[str, ...] | None]] = []
    for text in addresses:
        addr, name, reason = parse_to(text)
        checked.append(("--to", text, addr, reason, name, None))
    if csv_path is not None:
        rows, problems = read_csv(csv_path)
        result.problems += problems
        for where, text, name, topics in rows:
            addr, reason = check_address(text)
            checked.append((where, text, addr, reason, name, topics))
    suppression = suppression or set()
    for where, text, addr, reason, name, topics in checked:
        if addr is None:
            result.problems.append(f"{where}: {text!r}: {reason}; skipped")
            continue
        bad_name = check_name(name) if name else ""
        if bad_name:
            result.problems.append(f"{where}: the name {name!r} has {bad_name}; sent without a name")
            name = None
        elif name and _ADDRESS_LIKE.search(name):
            result.problems.append(f"{where}: the name {name!r} holds an address (one address per line); skipped")
            continue
        recipient = Recipient(addr, name, topics)
        if recipient.key in seen:
            result.duplicates += 1
            continue
        seen.add(recipient.key)
        if recipient.key in suppression:
            result.suppressed.append(recipient)
        else:
            result.recipients.append(recipient)
    return result
