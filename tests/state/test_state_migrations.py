"""The ledger's schema: versioned, migrated on open (both engines), by hand with `digest state migrate`,
shown by `digest state status`; two hosts opening a new database at once do not trip over each other."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from sitegen import write_config

from digest.config import load_settings
from digest.state.engine import open_ledger, open_state
from digest.state.migrations import LATEST, MIGRATIONS, applied, existing_tables, ledger_tables, migrate


def digest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digest", *args], cwd=root, capture_output=True, text=True,
                          timeout=120, check=False)


def test_open_state_migrates_a_new_ledger_once(state_engine: str, tmp_path: Path) -> None:
    write_config(tmp_path, state=state_engine)
    settings = load_settings(tmp_path / "config.yaml", env={})
    with open_state(settings) as conn:
        assert [v for v, _, _ in applied(conn)] == [m.version for m in MIGRATIONS] and MIGRATIONS[-1].version == LATEST
        assert set(ledger_tables()) | {"state_migrations"} <= existing_tables(conn)
        assert migrate(conn) == []  # nothing left: a second open runs none


def test_state_status_and_migrate_by_hand(state_engine: str, tmp_path: Path) -> None:
    write_config(tmp_path, state=state_engine)
    if "://" not in state_engine:
        missing = digest(tmp_path, "state", "status")
        assert missing.returncode == 0 and "no state file yet (schema version 0" in missing.stdout
        assert not Path(state_engine).exists()  # status creates nothing
    with open_ledger(state_engine, root=tmp_path) as conn:  # an empty ledger: nothing migrated yet
        conn.execute("SELECT 1")
    before = digest(tmp_path, "state", "status")
    assert before.returncode == 0, before.stderr
    assert f"schema version 0 of {LATEST}" in before.stdout and before.stdout.count("pending") == len(MIGRATIONS)
    ran = digest(tmp_path, "state", "migrate")
    assert ran.returncode == 0, ran.stderr
    assert [line.split()[1] for line in ran.stdout.splitlines()[:-1]] == [str(m.version) for m in MIGRATIONS]
    assert ran.stdout.splitlines()[-1].endswith(f"schema version {LATEST}")
    after = digest(tmp_path, "state", "status")
    assert f"schema version {LATEST} of {LATEST}" in after.stdout and "pending" not in after.stdout
    assert "outbox" in after.stdout and "subscribers" in after.stdout
    again = digest(tmp_path, "state", "migrate")
    assert "(nothing to do)" in again.stdout


def test_two_hosts_migrating_a_new_database_at_once(pg_url: str, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def host() -> None:
        try:
            with open_ledger(pg_url, root=tmp_path) as conn:
                start.wait()
                migrate(conn)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=host) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_ledger(pg_url, root=tmp_path) as conn:
        assert [v for v, _, _ in applied(conn)] == [m.version for m in MIGRATIONS]


def test_digest_status_reads_the_ledger_on_either_engine(state_engine: str, tmp_path: Path) -> None:
    """`digest status` reports an empty ledger on both engines (a PostgreSQL state has no file to look for)."""
    write_config(tmp_path, state=state_engine)
    with open_ledger(state_engine, root=tmp_path) as conn:
        conn.execute("SELECT 1")
    status = digest(tmp_path, "status")
    assert status.returncode == 0, status.stderr
    assert "Error" not in status.stderr and "Traceback" not in status.stderr
