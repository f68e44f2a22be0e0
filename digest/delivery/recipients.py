"""Who gets the issue: `--to` addresses and a CSV (`email`, optional `name` and `topics`), minus the suppression file.

A malformed address is reported (file, line, reason) and skipped; the same address twice,
in any letter case, gets one message (the first row wins); an address in the suppression
file is never sent to. Addresses must be ASCII in the local part (digest does not speak
SMTPUTF8); an internationalised domain is converted to its IDNA form.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from ..errors import DigestError

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_TOPIC_SPLIT = re.compile(r"[;,|]")


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


def check_address(text: str) -> tuple[str | None, str]:
    """(normalised address, "") or (None, reason)."""
    raw = text.strip()
    if not raw:
        return None, "empty address"
    if any(c in raw for c in "\r\n\x00"):
        return None, "contains a line break or NUL"
    _, addr = parseaddr(raw)
    if not addr or addr.count("@") != 1:
        return None, "not an email address"
    local, domain = addr.rsplit("@", 1)
    if not local or len(local) > 64:
        return None, "the part before @ is empty or too long"
    if not local.isascii():
        return None, "non-ASCII before the @ (SMTPUTF8) is not supported"
    if not _LOCAL.match(local):
        return None, "the part before @ has characters an address cannot have"
    domain = domain.rstrip(".")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None, "the domain is not a valid internationalised name"
    labels = domain.split(".")
    if len(labels) < 2 or len(domain) > 253 or not all(_LABEL.match(label) for label in labels):
        return None, "the domain is not a valid host name"
    return f"{local}@{domain.lower()}", ""


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


def read_csv(path: Path) -> tuple[list[tuple[str, str, str | None, tuple[str, ...] | None]], list[str]]:
    """Rows (where, email, name, topics) of a recipients CSV, and problems with the file itself."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = {(f or "").strip().lower(): f for f in reader.fieldnames or []}
            if "email" not in fields:
                raise DigestError(
                    f"{path}: no `email` column (found: {', '.join(fields) or 'nothing'})",
                    hint="the first line must name the columns: email[,name][,topics]",
                )
            rows = []
            for row in reader:
                email = (row.get(fields["email"]) or "").strip()
                name = (row.get(fields["name"]) or "").strip() if "name" in fields else ""
                topics = _topics(row.get(fields["topics"])) if "topics" in fields else None
                if not email and not name and topics is None:
                    continue  # a blank line
                rows.append((f"{path}:{reader.line_num}", email, name or None, topics))
            return rows, []
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
    entries: list[tuple[str, str, str | None, tuple[str, ...] | None]] = [
        ("--to", a, parseaddr(a)[0].strip() or None, None) for a in addresses
    ]
    if csv_path is not None:
        rows, problems = read_csv(csv_path)
        entries += rows
        result.problems += problems
    suppression = suppression or set()
    for where, text, name, topics in entries:
        addr, reason = check_address(text)
        if addr is None:
            result.problems.append(f"{where}: {text!r}: {reason}; skipped")
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
