"""The SMTP backend: smtplib over one reused connection, TLS verified by default.

- `starttls` and `ssl` check the server's certificate against the system's CAs (plus
  `smtp.ca_file` when set); `smtp.verify_tls: false` turns that off, with a warning.
- A login is refused over an unencrypted connection to any host but loopback, before
  connecting, so the password never crosses a network in clear.
- The password comes only from `DIGEST_SMTP_PASSWORD`; it is never printed or logged.
- Each message is one MAIL/RCPT/DATA transaction done by hand rather than with
  `sendmail`, so that a connection lost after the final "." (the server may have taken the
  message) is told apart from one lost earlier (it surely did not): the first is
  `ambiguous`, the second `temporary` and safe to retry. The outbox's durable mark
  (`before_data`) is made at the start of DATA, once the recipient is accepted and before
  any byte of the message: a process killed before it leaves a row that is safe to send again.
  MAIL and RCPT go in one write when the server offers PIPELINING; DATA waits for both replies.
- A message its caller vouches for (`dot_free`: a MessageFactory message, in which no line
  starts with ".") goes out as it is; any other is dot-stuffed first.
- `address_gone(reply)` tells a recorded permanent failure that says the mailbox does not
  exist or is disabled (enhanced status 5.1.x or 5.2.1, RFC 3463) from a policy rejection
  (5.7.x) or anything else: the pipeline marks the first kind bounced.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import smtplib
import socket
import ssl

from digest.config import SmtpSettings
from digest.delivery.base import Backend, BeforeData, Outcome
from digest.errors import DeliveryError

log = logging.getLogger("digest.delivery")


# A recorded reply (`_classify`'s "STAGE: CODE TEXT") whose recipient's mailbox is gone. Only a
# refusal of the recipient (at RCPT, or at the end of DATA by a server that checks then) counts,
# never one of MAIL FROM; 5.1.7 and 5.1.8 name the sender's address, not the reader's.
_GONE = re.compile(r"(?:RCPT TO|end of DATA): 5\d\d[ -]5\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def address_gone(reply: str) -> bool:
    """True for a permanent failure whose enhanced status is 5.1.x (but 5.1.7/5.1.8) or 5.2.1."""
    m = _GONE.match(reply)
    if m is None:
        return False
    subject, detail = int(m.group(1)), int(m.group(2))
    return (subject == 1 and detail not in (7, 8)) or (subject, detail) == (2, 1)


def _dot_stuffed(data: bytes) -> bytes:
    """SMTP's transparency (RFC 5321 4.5.2): a line that starts with "." gets a second one."""
    stuffed = data.replace(b"\n.", b"\n..")
    return b"." + stuffed if stuffed.startswith(b".") else stuffed


def _command(line: str) -> str:
    """One SMTP command line; like smtplib's putcmd, refused when it holds a line break (a second command)."""
    if "\r" in line or "\n" in line:
        raise ValueError(f"command and arguments contain prohibited newline characters: {line!r}")
    return line + "\r\n"


class ConnectFailed(DeliveryError):
    """The server could not be reached (or dropped us while connecting): worth retrying later."""

    temporary = True


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_context(cfg: SmtpSettings) -> ssl.SSLContext:
    if not cfg.verify_tls:
        log.warning("smtp.verify_tls is false: the server's certificate is not checked")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=cfg.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(f"smtp.ca_file {cfg.ca_file!r}: cannot load it: {exc}") from None


def _reply(code: int, resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return f"{code} {' '.join(text.split())}"[:500]


def _why(exc: BaseException, timeout: float) -> str:
    """The reason a connection failed; a timeout says which setting it was, so a slow server is told apart."""
    seen: BaseException | None = exc
    while seen is not None:  # smtplib wraps a timeout in SMTPServerDisconnected
        if isinstance(seen, TimeoutError):
            return f"timed out after {timeout:g}s (smtp.timeout)"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _classify(code: int, resp: bytes | str, stage: str) -> Outcome:
    reply = f"{stage}: {_reply(code, resp)}"
    if 500 <= code < 600:
        return Outcome("permanent", reply)
    return Outcome("temporary", reply, reconnect=code == 421 or code < 0)


class SmtpBackend(Backend):
    """One SMTP connection, opened once and reused for every message until closed."""

    name = "smtp"

    def __init__(self, cfg: SmtpSettings, password: str | None = None, *, local_hostname: str | None = None) -> None:
        self.cfg = cfg
        self._password = password
        self.local_hostname = local_hostname
        self.conn: smtplib.SMTP | None = None
        self._size = False
        self._pipelining = False

    def __repr__(self) -> str:  # never show the password, even in a traceback's locals
        return f"SmtpBackend({self.cfg.host}:{self.cfg.port}, security={self.cfg.security})"

    @property
    def is_open(self) -> bool:
        return self.conn is not None

    @property
    def where(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port}"

    def _check_login_allowed(self) -> None:
        cfg = self.cfg
        if not cfg.username:
            return
        if not self._password:
            raise DeliveryError(
                f"smtp.username is {cfg.username!r} but DIGEST_SMTP_PASSWORD is not set",
                hint="export DIGEST_SMTP_PASSWORD (the password is read only from the environment)",
            )
        if cfg.security == "none" and not is_loopback(cfg.host):
            raise DeliveryError(
                f"refusing to log in to {self.where} over an unencrypted connection (smtp.security: none)",
                hint="use smtp.security: starttls or ssl; plain logins are allowed only to localhost",
            )

    def open(self) -> None:
        if self.conn is not None:
            return
        cfg = self.cfg
        self._check_login_allowed()
        context = tls_context(cfg) if cfg.security in ("starttls", "ssl") else None
        conn: smtplib.SMTP | None = None
        try:
            if cfg.security == "ssl":
                conn = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, local_hostname=self.local_hostname, timeout=cfg.timeout, context=context
                )
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, local_hostname=self.local_hostname, timeout=cfg.timeout)
            conn.ehlo_or_helo_if_needed()
            if cfg.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise DeliveryError(
                        f"SMTP server {self.where} does not offer STARTTLS",
                        hint="set smtp.security to ssl (usually port 465) or, for a local relay only, none",
                    )
                conn.starttls(context=context)
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            self._abandon(conn)
            raise DeliveryError(
                f"SMTP server {self.where} refused the login of {cfg.username!r}: "
                f"{_reply(exc.smtp_code, exc.smtp_error)}",
                hint="check smtp.username and DIGEST_SMTP_PASSWORD",
            ) from None
        except ssl.SSLCertVerificationError as exc:
            self._abandon(conn)
            raise DeliveryError(
                f"SMTP server {self.where}: certificate not trusted: {exc.verify_message or exc}",
                hint="set smtp.ca_file to the CA that signed it (verification stays on)",
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            self._abandon(conn)
            raise DeliveryError(f"SMTP server {self.where}: {exc}") from None
        except DeliveryError:
            self._abandon(conn)
            raise
        except smtplib.SMTPResponseException as exc:
            self._abandon(conn)
            error = ConnectFailed if 400 <= exc.smtp_code < 500 else DeliveryError
            raise error(f"SMTP server {self.where} refused us: {_reply(exc.smtp_code, exc.smtp_error)}") from None
        except (OSError, smtplib.SMTPException) as exc:
            self._abandon(conn)
            reason = _why(exc, cfg.timeout)
            raise ConnectFailed(
                f"cannot connect to SMTP server {self.where}: {reason}",
                hint="check smtp.host, smtp.port and smtp.security (or DIGEST_SMTP_HOST/PORT/SECURITY)",
            ) from None
        self.conn = conn
        self._size = conn.has_extn("size")
        self._pipelining = conn.has_extn("pipelining")
        if conn.sock is not None:
            # Commands and the final "." are small writes sent on their own: without this,
            # Nagle's algorithm can hold each one back until the previous write is acknowledged.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @staticmethod
    def _abandon(conn: smtplib.SMTP | None) -> None:
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            self._abandon(conn)

    def deliver(
        self, sender: str, recipient: str, data: bytes, before_data: BeforeData | None = None, *, dot_free: bool = False
    ) -> Outcome:
        if self.conn is None:
            self.open()
        conn = self.conn
        assert conn is not None
        try:
            # Addresses were checked when the recipients were read: sent as they are, without
            # smtplib's re-parsing of each one (a tenth of a millisecond a message).
            size = f" SIZE={len(data)}" if self._size else ""
            mail, rcpt = _command(f"MAIL FROM:<{sender}>{size}"), _command(f"RCPT TO:<{recipient}>")
            # With PIPELINING (RFC 2920) MAIL and RCPT go in one write and their replies come back
            # together: one round trip fewer. DATA still waits for the recipient's acceptance.
            conn.send(mail + rcpt if self._pipelining else mail)
            code, resp = conn.getreply()
            if code != 250:
                outcome = _classify(code, resp, "MAIL FROM")
                if self._pipelining and not outcome.reconnect:
                    conn.getreply()  # the RCPT's own reply (a 503): read, so the next reply read is the next one
                return self._reset(outcome)
            if not self._pipelining:
                conn.send(rcpt)
            code, resp = conn.getreply()
            if code not in (250, 251):
                return self._reset(_classify(code, resp, "RCPT TO"))
            conn.putcmd("data")
            # The durable mark goes down while DATA's reply is on its way (no byte of the message
            # has been sent); its fsync overlaps the reply and the message, and only the final "."
            # (until which the server can only discard the message) waits for it.
            try:
                wait = before_data() if before_data is not None else None
            except BaseException:
                self._drop()  # mid-transaction: start the next message on a fresh connection
                raise
            code, resp = conn.getreply()
            if code != 354:
                return self._reset(_classify(code, resp, "DATA"))
            payload = data if dot_free else _dot_stuffed(data)
            if not payload.endswith(b"\r\n"):
                payload += b"\r\n"
            conn.send(payload)
            if wait is not None:
                try:
                    wait()
                except BaseException:
                    self._drop()  # no final ".": the server discards what it got
                    raise
            conn.send(b".\r\n")
        except (OSError, smtplib.SMTPException) as exc:
            # Lost before the final "." reached the server: it cannot have taken the message.
            self._drop()
            return Outcome("temporary", f"connection lost: {_why(exc, self.cfg.timeout)}", reconnect=True)
        try:
            code, resp = conn.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return Outcome(
                "ambiguous",
                f"connection lost after the message was sent, before the server's reply: {_why(exc, self.cfg.timeout)}",
                reconnect=True,
            )
        if code == 250:
            return Outcome("sent", _reply(code, resp))
        outcome = _classify(code, resp, "end of DATA")
        if outcome.reconnect:
            self._drop()
        return outcome

    def _reset(self, outcome: Outcome) -> Outcome:
        """After a refused MAIL/RCPT/DATA, RSET keeps the connection usable; if it fails, start over."""
        if outcome.reconnect:
            self._drop()
            return outcome
        try:
            assert self.conn is not None
            self.conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()
            return Outcome(outcome.status, outcome.reply, reconnect=True)
        return outcome

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        self._abandon(conn)
