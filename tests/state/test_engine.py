"""The ledger's adapter on both engines (a real PostgreSQL from tests/pg_server.py), its errors and the config.

- The same SQL (`?` placeholders, a literal `%`, ON CONFLICT, RETURNING) gives the same rows, read as
  row[0], row["name"] and dict(row), on SQLite and PostgreSQL; DDL in SQLite's spelling runs on both.
- A transaction rolls back on an error; outside one, every statement commits by itself.
- Advisory locks are per session (PostgreSQL) and refused on SQLite.
- A restarted server is a lost connection (is_connection_lost); connecting to nothing, with a wrong
  password or to a missing database is one line naming where, never the password.
- `state: postgresql://…` in the config: no password allowed in it, state_path guarded, cache_path local.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from pg_server import PgServer, free_port
from sitegen import write_config

from digest.config import load_settings
from digest.errors import ConfigError, DigestError, StateDatabaseError, StateUnreachableError
from digest.state.connection import pg_ddl, pg_sql, split_statements
from digest.state.engine import is_connection_lost, open_ledger, open_postgresql, open_state

DDL = """
CREATE TABLE IF NOT EXISTS t (
    id    INTEGER PRIMARY KEY,   -- an id: an identity column on PostgreSQL
    name  TEXT NOT NULL UNIQUE,  -- 'a;b' in a comment; is not a statement end
    score REAL,
    blob  BLOB,
    n     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS t_n ON t (n);
"""


def _open(state: str, tmp_path: Path):  # noqa: ANN202
    conn = open_ledger(state, root=tmp_path)
    conn.script(DDL)
    return conn


def test_the_same_sql_reads_the_same_on_both_engines(state_engine: str, tmp_path: Path) -> None:
    with _open(state_engine, tmp_path) as conn:
        row = conn.execute(
            "INSERT INTO t (name, score, blob) VALUES (?, ?, ?) RETURNING id, name", ("a", 1.5, b"\x00\xff")
        ).fetchone()
        assert (row[0], row["name"], dict(row)) == (1, "a", {"id": 1, "name": "a"})
        conn.executemany("INSERT INTO t (name, n) VALUES (?, ?)", [("b%", 2), ("c?", 3)])
        conn.execute("INSERT INTO t (name, n) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = excluded.n", ("a", 7))
        ignored = conn.execute("INSERT INTO t (name) VALUES (?) ON CONFLICT (name) DO NOTHING", ("b%",))
        assert ignored.rowcount == 0
        rows = conn.execute("SELECT id, name, score, blob, n FROM t WHERE name LIKE '%' ORDER BY id").fetchall()
        assert [tuple(r) for r in rows] == [
            (1, "a", 1.5, b"\x00\xff", 7), (2, "b%", None, None, 2), (3, "c?", None, None, 3)
        ]
        # '?' and '%' inside a quoted literal are text, not placeholders
        assert conn.execute("SELECT count(*) FROM t WHERE name = 'c?' OR name = ?", ("b%",)).fetchone()[0] == 2
        assert conn.execute("SELECT '%s?' || ? AS x", ("!",)).fetchone()["x"] == "%s?!"
        assert conn.execute("SELECT 7 % ?", (4,)).fetchone()[0] == 3  # modulo, not a placeholder
        first, *_ = conn.execute("SELECT name FROM t ORDER BY id")
        (name,) = first
        assert name == "a"


def test_a_transaction_rolls_back_and_outside_one_every_statement_commits(state_engine: str, tmp_path: Path) -> None:
    with _open(state_engine, tmp_path) as conn:
        conn.execute("INSERT INTO t (name) VALUES (?)", ("kept",))  # autocommit
        with pytest.raises(ZeroDivisionError), conn.transaction():
            conn.execute("INSERT INTO t (name) VALUES (?)", ("undone",))
            1 / 0  # noqa: B018
        with conn.transaction():
            conn.execute("INSERT INTO t (name) VALUES (?)", ("outer",))
            with pytest.raises(KeyError), conn.transaction():  # nested: a savepoint
                conn.execute("INSERT INTO t (name) VALUES (?)", ("inner",))
                raise KeyError("x")
    with open_ledger(state_engine, root=tmp_path) as other:  # another connection sees what was committed
        assert [r[0] for r in other.execute("SELECT name FROM t ORDER BY id")] == ["kept", "outer"]


def test_advisory_locks_are_per_session_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    one, two = open_postgresql(pg_url), open_postgresql(pg_url)
    try:
        assert one.try_advisory_lock("run:1")
        assert not two.try_advisory_lock("run:1")
        assert two.try_advisory_lock("run:2")
        one.advisory_unlock("run:1")
        assert two.try_advisory_lock("run:1")
        two.close()  # a dead session's locks are free: once its backend has exited, which the close does not wait for
        deadline = time.monotonic() + 10
        while not one.try_advisory_lock("run:2"):
            assert time.monotonic() < deadline, "run:2 still held 10 s after its session closed"
            time.sleep(0.01)
    finally:
        one.close()
        two.close()
    with open_ledger(str(tmp_path / "s.sqlite"), root=tmp_path) as conn, pytest.raises(NotImplementedError):
        conn.try_advisory_lock("run:1")


def test_a_restarted_server_is_a_lost_connection(pg_server: PgServer, pg_url: str) -> None:
    conn = open_postgresql(pg_url)
    conn.execute("SELECT 1")
    pg_server.restart()
    with pytest.raises(Exception) as lost:  # psycopg's own class: whatever the driver raises
        conn.execute("SELECT 1")
    assert is_connection_lost(lost.value)
    assert conn.closed
    with open_postgresql(pg_url) as again:  # and a new connection works
        assert again.execute("SELECT 1").fetchone()[0] == 1
    assert not is_connection_lost(ValueError("x"))


def test_connection_failures_are_one_line_naming_where_never_the_password(pg_server: PgServer) -> None:
    port = free_port()
    with pytest.raises(StateUnreachableError) as refused:
        open_postgresql(f"postgresql://digest@127.0.0.1:{port}/db", timeout=5)
    assert str(refused.value) == f"postgresql://digest@127.0.0.1:{port}/db: connection refused"
    assert is_connection_lost(refused.value)

    role, password = pg_server.password_role
    database = pg_server.create_database(owner=role)
    url = pg_server.url(database, user=role)
    with pytest.raises(StateDatabaseError) as wrong:
        open_postgresql(url, password="not-" + password)
    assert str(wrong.value) == f"{url}: password authentication failed"
    assert "DIGEST_STATE_PASSWORD" in (wrong.value.hint or "") and password not in str(wrong.value)
    assert not is_connection_lost(wrong.value)

    with pytest.raises(StateDatabaseError) as missing:
        open_postgresql(pg_server.url("no_such_db"))
    assert str(missing.value) == f'{pg_server.url("no_such_db")}: database "no_such_db" does not exist'

    with open_postgresql(url, password=password) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == role


def test_the_password_comes_from_the_environment_only(pg_server: PgServer, tmp_path: Path) -> None:
    role, password = pg_server.password_role
    url = pg_server.url(pg_server.create_database(owner=role), user=role)
    write_config(tmp_path, state=url)
    settings = load_settings(tmp_path / "config.yaml", env={"DIGEST_STATE_PASSWORD": password})
    assert settings.state_password == password and password not in repr(settings)
    with open_state(settings) as conn:
        assert conn.dialect == "postgresql" and conn.where == url
    # The CLI with a wrong one: one line, naming the database, without the password.
    wrong = "wrong-secret-Ω"
    done = subprocess.run(
        [sys.executable, "-m", "digest", "state", "status"], cwd=tmp_path, capture_output=True, text=True,
        env={**_env(), "DIGEST_STATE_PASSWORD": wrong}, timeout=60, check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[0] == f"Error: {url}: password authentication failed"
    assert wrong not in done.stderr + done.stdout and password not in done.stderr + done.stdout
    # and in config.yaml it is refused, without echoing it
    write_config(tmp_path, state=url.replace(f"{role}@", f"{role}:{password}@"))
    with pytest.raises(ConfigError) as in_config:
        load_settings(tmp_path / "config.yaml", env={})
    assert "holds a password" in str(in_config.value) and password not in str(in_config.value)
    data = yaml.safe_load((tmp_path / "config.yaml").read_text())
    data["state"], data["state_password"] = url, password
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="'state_password' is not a setting"):
        load_settings(tmp_path / "config.yaml", env={})


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def test_a_postgresql_state_keeps_its_caches_in_a_local_file(tmp_path: Path) -> None:
    write_config(tmp_path, state="postgresql://digest@db.example:5432/news")
    settings = load_settings(tmp_path / "config.yaml", env={})
    assert settings.state_url == "postgresql://digest@db.example:5432/news"
    assert settings.cache_path == tmp_path / ".digest" / "cache.sqlite"
    with pytest.raises(DigestError, match=r"^internal: settings\.state_path"):
        settings.state_path  # noqa: B018  # an unported caller would split the ledger: it must not get a file
    write_config(tmp_path, state=".digest/state.sqlite", cache="elsewhere.sqlite")
    file_settings = load_settings(tmp_path / "config.yaml", env={})
    assert file_settings.cache_path == file_settings.state_path == tmp_path / ".digest" / "state.sqlite"


def test_sqlite_ddl_is_mapped_for_postgresql() -> None:
    assert pg_ddl("id INTEGER PRIMARY KEY AUTOINCREMENT, x REAL, b BLOB, n INTEGER -- INTEGER stays") == (
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, x DOUBLE PRECISION, b BYTEA, n BIGINT"
        " -- INTEGER stays"
    )
    assert pg_sql("SELECT '?%' || ? WHERE a LIKE 'x%' AND b = ?") == "SELECT '?%%' || %s WHERE a LIKE 'x%%' AND b = %s"
    assert split_statements("CREATE TABLE a (x TEXT DEFAULT ';'); -- c;\n;CREATE INDEX i ON a (x);") == [
        "CREATE TABLE a (x TEXT DEFAULT ';')", "CREATE INDEX i ON a (x)"
    ]
