"""The bounce mailbox over IMAP: the unseen messages, fetched without marking them, marked \\Seen on request.

TLS is verified (`bounces.verify_tls`, `bounces.ca_file`): implicit TLS (`ssl`, port 993) or
STARTTLS; plain IMAP (`none`) only to a loopback host. A message is fetched with BODY.PEEK, so
that fetching marks nothing: the caller records what it found first and only then calls
`mark_seen`, and a crash in between leaves the message unseen, to be read again (the caller
recognises it by the mailbox's UIDVALIDITY and the message's Message-ID).

Every failure to reach or use the mailbox is a `MailboxError`: one line naming the host and the
setting to check.
"""

from __future__ import annotations

import imaplib
import ipaddress
import re
import ssl
from types import TracebackType

from digest.config import BounceSettings
from digest.errors import DigestError

PASSWORD_ENV = "DIGEST_IMAP_PASSWORD"
TIMEOUT = 30.0  # seconds for the connection and each command
MAX_MESSAGE = 10 * 1024 * 1024  # bytes fetched of one message: a report's parts come before the returned message
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


class MailboxError(DigestError):
    """The bounce mailbox cannot be reached, refuses the login, or fails a command."""

    exit_code = 3


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_context(cfg: BounceSettings) -> ssl.SSLContext:
    if not cfg.verify_tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=cfg.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise MailboxError(f"bounces.ca_file {cfg.ca_file!r}: cannot load it: {exc}") from None


class BounceMailbox:
    """One logged-in IMAP session on `bounces.mailbox`; a context manager."""

    def __init__(self, cfg: BounceSettings, password: str | None) -> None:
        self.cfg = cfg
        self._password = password
        self.conn: imaplib.IMAP4 | None = None
        self.uidvalidity = 0

    def __repr__(self) -> str:  # never the password, even in a traceback's locals
        return f"BounceMailbox({self.where}, security={self.cfg.security})"

    @property
    def where(self) -> str:
        return f"{self.cfg.imap_host}:{self.cfg.imap_port}"

    def __enter__(self) -> BounceMailbox:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check(self) -> str:
        cfg = self.cfg
        if not cfg.imap_host:
            raise MailboxError(
                "bounces.imap_host is not set", hint="set bounces.imap_host (and username) in config.yaml"
            )
        if not cfg.username:
            raise MailboxError(f"bounces.username is not set (the login for {self.where})")
        if not self._password:
            raise MailboxError(
                f"bounces.username is {cfg.username!r} but {PASSWORD_ENV} is not set",
                hint=f"export {PASSWORD_ENV} (the password is read only from the environment)",
            )
        if cfg.security == "none" and not is_loopback(cfg.imap_host):
            raise MailboxError(
                f"refusing to log in to {self.where} over an unencrypted connection (bounces.security: none)",
                hint="use bounces.security: ssl or starttls; plain logins are allowed only to localhost",
            )
        return cfg.imap_host

    def open(self) -> None:
        host, cfg = self._check(), self.cfg
        context = tls_context(cfg) if cfg.security in ("ssl", "starttls") else None
        conn: imaplib.IMAP4 | None = None
        stage = "connect"
        try:
            if cfg.security == "ssl":
                conn = imaplib.IMAP4_SSL(host, cfg.imap_port, ssl_context=context, timeout=TIMEOUT)
            else:
                conn = imaplib.IMAP4(host, cfg.imap_port, timeout=TIMEOUT)
                if cfg.security == "starttls":
                    conn.starttls(ssl_context=context)
            stage = "login"
            conn.login(cfg.username or "", self._password or "")
            stage = "select"
            status, data = conn.select(_quote(cfg.mailbox))
            if status != "OK":
                raise MailboxError(
                    f"IMAP server {self.where}: cannot open mailbox {cfg.mailbox!r}: {_text(data)}",
                    hint="check bounces.mailbox",
                )
        except ssl.SSLCertVerificationError as exc:
            self._abandon(conn)
            raise MailboxError(
                f"IMAP server {self.where}: certificate not trusted: {exc.verify_message or exc}",
                hint="set bounces.ca_file to the CA that signed it (verification stays on)",
            ) from None
        except imaplib.IMAP4.error as exc:
            self._abandon(conn)
            if stage == "login":
                raise MailboxError(
                    f"IMAP server {self.where} refused the login of {cfg.username!r}: {_one_line(exc)}",
                    hint=f"check bounces.username and {PASSWORD_ENV}",
                ) from None
            raise MailboxError(
                f"IMAP server {self.where}: {_one_line(exc)}",
                hint="check bounces.security (starttls needs a server that offers it; ssl is usually port 993)",
            ) from None
        except (OSError, ssl.SSLError) as exc:
            self._abandon(conn)
            reason = f"timed out after {TIMEOUT:g}s" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            raise MailboxError(
                f"cannot connect to IMAP server {self.where}: {reason}",
                hint="check bounces.imap_host, bounces.imap_port and bounces.security",
            ) from None
        except MailboxError:
            self._abandon(conn)
            raise
        self.conn = conn
        found = _UIDVALIDITY.search(b" ".join(v for v in conn.response("UIDVALIDITY")[1] if isinstance(v, bytes)))
        self.uidvalidity = int(found.group(1)) if found else 0

    @staticmethod
    def _abandon(conn: imaplib.IMAP4 | None) -> None:
        if conn is not None:
            try:
                conn.shutdown()
            except OSError:
                pass

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.close()
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            self._abandon(conn)

    def _command(self, *args: str) -> list[object]:
        if self.conn is None:
            raise MailboxError(f"IMAP server {self.where}: not connected")
        try:
            status, data = self.conn.uid(*args)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"IMAP server {self.where}: UID {args[0]} failed: {_one_line(exc)}") from None
        if status != "OK":
            raise MailboxError(f"IMAP server {self.where}: UID {args[0]} answered {status}: {_text(data)}")
        return list(data)

    def unseen(self) -> list[int]:
        """The UIDs of the messages not yet marked \\Seen, oldest first."""
        data = self._command("SEARCH", "UNSEEN")
        words = b" ".join(d for d in data if isinstance(d, bytes)).split()
        return sorted(int(w) for w in words if w.isdigit())

    def fetch(self, uid: int) -> bytes | None:
        """The raw message (up to MAX_MESSAGE bytes), without marking it \\Seen; None if it is gone."""
        data = self._command("FETCH", str(uid), f"(BODY.PEEK[]<0.{MAX_MESSAGE}>)")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None

    def mark_seen(self, uid: int) -> None:
        self._command("STORE", str(uid), "+FLAGS.SILENT", "(\\Seen)")


def _quote(mailbox: str) -> str:
    escaped = mailbox.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _one_line(value: object) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if text.startswith(("b'", 'b"')) and text.endswith(("'", '"')):
        text = text[2:-1]  # imaplib puts the server's bytes reply in the message as their repr
    return " ".join(text.split())[:300]


def _text(data: object) -> str:
    if isinstance(data, list):
        return _one_line(b" ".join(d for d in data if isinstance(d, bytes)))
    return _one_line(data)
