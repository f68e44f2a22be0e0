"""A real PostgreSQL for the tests: one throwaway cluster per session, a fresh database per test.

`initdb` into a temporary folder, `postgres` on a free 127.0.0.1 port with its socket in that
folder, torn down at the end of the session. Run as root (CI), PostgreSQL refuses to start, so
the cluster belongs to the `postgres` system user (Debian's package makes it) and its commands
run through `runuser`. fsync stays on: the fault tests measure durability.

Fixtures (import them where they are used, or list this module in `pytest_plugins`):
- `pg_server`: the session's `PgServer` (`.url(db)`, `.create_database()`, `.restart()`,
  `.bin_dir`, `.password_role`); the PostgreSQL tests skip, saying why, only when the binaries
  are missing (or, as root, there is no `postgres` user to run them as).
- `pg_url`: a fresh database's connection string (`postgresql://digest@127.0.0.1:PORT/t_N`),
  trusted on 127.0.0.1, no password.
- `state_engine`: parametrized "sqlite" / "postgresql": a `state:` value for the test's config
  (a file in the test's tmp_path, or a fresh database's URL).

benchmarks/ reuse `PgServer` (`PgServer.start_new()` / `.stop()`) outside pytest.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROLE = "digest"  # trusted on 127.0.0.1: the tests' connection strings carry no password
PASSWORD_ROLE = ("digest_pw", "pw-Ω-0123456789")  # scram-sha-256: the DIGEST_STATE_PASSWORD test


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot be run here; the message says why (and the PostgreSQL tests skip with it)."""


def find_bin_dir() -> Path:
    """The folder with initdb and postgres: $DIGEST_PG_BIN, Debian's newest /usr/lib/postgresql/N/bin, or PATH."""
    given = os.environ.get("DIGEST_PG_BIN")
    candidates = [Path(given)] if given else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if p.name.split(".")[0].isdigit()]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: float(p.name), reverse=True)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise PgUnavailable("initdb, postgres and pg_ctl not found (apt-get install postgresql, or set DIGEST_PG_BIN)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgServer:
    """One throwaway cluster: start, restart, stop; databases made from template0."""

    def __init__(self, bin_dir: Path, base: Path, run_as: str | None) -> None:
        self.bin_dir = bin_dir
        self.base = base  # owned by the server's user: data/, the socket, the log
        self.data = base / "data"
        self.socket_dir = base
        self.log = base / "server.log"
        self.run_as = run_as  # the system user to run the server as (when we are root), else None
        self.host = "127.0.0.1"
        self.port = free_port()
        self.password_role = PASSWORD_ROLE
        self._numbers = itertools.count(1)
        self.started_in = 0.0  # seconds: initdb and the first start

    # -- the cluster ----------------------------------------------------------------------------

    @classmethod
    def start_new(cls) -> PgServer:
        """initdb into a new temporary folder and start the server (PgUnavailable when it cannot be run)."""
        bin_dir = find_bin_dir()
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root and there is no `postgres` user to run PostgreSQL as") from None
            run_as = "postgres"
        base = Path(tempfile.mkdtemp(prefix="digest-pg-"))
        if run_as:
            entry = pwd.getpwnam(run_as)
            os.chown(base, entry.pw_uid, entry.pw_gid)
        server = cls(bin_dir, base, run_as)
        began = time.perf_counter()
        try:
            server._initdb()
            server.start()
            server._roles()
        except BaseException:
            server.stop()
            raise
        server.started_in = time.perf_counter() - began
        return server

    def _run(self, args: Sequence[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [*(("runuser", "-u", self.run_as, "--") if self.run_as else ()), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.base)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PgUnavailable(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()} {log}")
        return done

    def _initdb(self) -> None:
        # --no-sync: only initdb's own files are not flushed (a throwaway cluster); the server keeps fsync on.
        self._run([str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"])
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {ROLE} 127.0.0.1/32 trust\n"
            f"host all {PASSWORD_ROLE[0]} 127.0.0.1/32 scram-sha-256\n"
            "host all postgres 127.0.0.1/32 trust\n"
        )

    def start(self) -> None:
        options = (f"-c listen_addresses={self.host} -p {self.port} -k {self.socket_dir} -c fsync=on"
                   " -c max_connections=200 -c shared_buffers=32MB -c password_encryption=scram-sha-256")
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                   "-o", options, "start"])

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (every connection cut) and leave the folder; `close` removes it."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(PgUnavailable, subprocess.TimeoutExpired):
                self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-m", mode, "stop"])

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port: every open connection is cut (AdminShutdown)."""
        self.stop(mode)
        self.start()

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    # -- roles, databases, URLs --------------------------------------------------------------------

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """A superuser connection (over the socket), autocommit."""
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user="postgres", dbname=dbname,
                               autocommit=True)

    def _roles(self) -> None:
        name, password = PASSWORD_ROLE
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN")
            create = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
            conn.execute(create)

    def create_database(self, owner: str = ROLE) -> str:
        """A new, empty database owned by `owner` (from template0); its name."""
        name = f"t_{os.getpid()}_{next(self._numbers)}"
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} OWNER {owner} TEMPLATE template0")
        return name

    def url(self, dbname: str, user: str = ROLE) -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's PostgreSQL, started on first use; skips (and warns, so the run says so) when it cannot run.

    pytest keeps a session fixture's skip: the later PostgreSQL tests skip at once, with the same reason.
    """
    try:
        server = PgServer.start_new()
    except PgUnavailable as exc:
        warnings.warn(f"PostgreSQL tests skipped: {exc}", pytest.PytestWarning, stacklevel=1)
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    print(f"\nPostgreSQL {server.bin_dir} on 127.0.0.1:{server.port}, started in {server.started_in:.2f} s")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the session's server: its connection string (no password needed)."""
    return pg_server.url(pg_server.create_database())


@pytest.fixture(params=["sqlite", "postgresql"])
def state_engine(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A `state:` value for the test's config: a file in tmp_path, or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "state.sqlite")
    return str(request.getfixturevalue("pg_url"))
