"""A real IMAP server for the bounce tests: Dovecot (apt's dovecot-imapd), started on free 127.0.0.1 ports.

`start_dovecot()` writes a throwaway dovecot.conf in a temporary folder (base_dir, state,
log, a passwd-file with one user, a maildir), with a TLS certificate from a trustme CA, and
runs `/usr/sbin/dovecot -F` on it until the block ends. Implicit TLS (`port`) and plain IMAP
with STARTTLS (`plain_port`) are both offered; a client verifies the certificate with
`ca_file`. Messages go in with IMAP APPEND, as a mail server's delivery would leave them:
unseen.

Running as root (CI), the mail processes run as the `mail` user and the login processes as
`dovenull` (Dovecot refuses root for both); as another user, everything runs as that user.
"""

from __future__ import annotations

import getpass
import grp
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "bounces", "imap-test-password"
START_TIMEOUT = 20.0  # seconds for dovecot to start listening


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def need_dovecot() -> None:
    if not Path(DOVECOT).exists():
        pytest.skip(f"{DOVECOT} is missing (apt-get install dovecot-imapd): the bounce mailbox tests need it")


@dataclass
class Dovecot:
    host: str
    port: int  # implicit TLS (imaps)
    plain_port: int  # plain IMAP, STARTTLS offered
    user: str
    password: str
    ca_file: Path  # the CA that signed the server's certificate
    folder: Path

    def _connect(self) -> imaplib.IMAP4_SSL:
        conn = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=ssl.create_default_context(cafile=str(self.ca_file)))
        conn.login(self.user, self.password)
        return conn

    def new_mailbox(self) -> str:
        """An empty mailbox of its own, for one test on a server a module shares."""
        self._made = getattr(self, "_made", 0) + 1
        name = f"Bounces{self._made}"
        conn = self._connect()
        try:
            status, data = conn.create(name)
            assert status == "OK", data
        finally:
            conn.logout()
        return name

    def deliver(self, *messages: bytes, mailbox: str = "INBOX") -> None:
        """Put each message in the mailbox, unseen (IMAP APPEND)."""
        conn = self._connect()
        try:
            for raw in messages:
                status, data = conn.append(mailbox, "", None, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
                assert status == "OK", data
        finally:
            conn.logout()

    def unseen(self, mailbox: str = "INBOX") -> int:
        """How many messages of the mailbox are not \\Seen."""
        conn = self._connect()
        try:
            conn.select(mailbox, readonly=True)
            status, data = conn.uid("SEARCH", None, "UNSEEN")
            assert status == "OK", data
            return len(data[0].split()) if data and data[0] else 0
        finally:
            conn.logout()

    def config(self, **more: object) -> dict[str, object]:
        """The `bounces:` section of a config.yaml that reads this mailbox over verified TLS."""
        return {"imap_host": self.host, "imap_port": self.port, "security": "ssl", "username": self.user,
                "ca_file": str(self.ca_file), **more}


def _conf(root: Path, port: int, plain_port: int) -> str:
    if os.geteuid() == 0:
        internal, login, uid, gid = "dovecot", "dovenull", "mail", "mail"
    else:
        me = getpass.getuser()
        internal = login = me
        uid, gid = str(os.getuid()), str(os.getgid())
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {plain_port}
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Until the port accepts a connection (or dovecot exits: its log is the failure's message)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            try:
                proc.wait(0.05)  # a readiness poll (returns at once if dovecot exits), not a wait for time to pass
            except subprocess.TimeoutExpired:
                pass
    out = proc.stdout.read().decode() if proc.stdout and proc.poll() is not None else ""
    text = log.read_text() if log.exists() else ""
    raise RuntimeError(f"dovecot did not start listening on {port}: {out}{text}")


@contextmanager
def start_dovecot(cert_ca: trustme.CA | None = None) -> Iterator[Dovecot]:
    """A running Dovecot with one user and an empty INBOX; stopped and removed after the block.

    `cert_ca` signs the server's certificate (default: a new CA, written to `ca_file`).
    """
    need_dovecot()
    ca = cert_ca or trustme.CA()
    # Not under pytest's tmp_path: its parents are 0700 and the login and mail processes run as
    # other users (when the tests run as root), who must reach the files below.
    root = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
    try:
        root.chmod(0o755)
        for sub in ("run", "state", "home"):
            (root / sub).mkdir()
        if os.geteuid() == 0:
            mail = pwd.getpwnam("mail")
            os.chown(root / "home", mail.pw_uid, mail.pw_gid)
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(str(root / "key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
        ca.cert_pem.write_to_path(str(root / "ca.pem"))
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        port, plain_port = free_port(), free_port()
        (root / "dovecot.conf").write_text(_conf(root, port, plain_port))
        proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(root / "dovecot.conf")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            _wait_listening(proc, port, root / "dovecot.log")
            socket.create_connection(("127.0.0.1", plain_port), timeout=5).close()
            yield Dovecot("127.0.0.1", port, plain_port, USER, PASSWORD, root / "ca.pem", root)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
    finally:
        shutil.rmtree(root, ignore_errors=True)
