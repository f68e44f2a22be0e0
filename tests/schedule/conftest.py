"""The schedule tests share the PostgreSQL fixtures (tests/pg_server.py): the ledger runs on both engines."""

from pathlib import Path

import pytest
from pg_server import pg_server, pg_url, state_engine  # noqa: F401
from sitegen import write_config


@pytest.fixture
def site(tmp_path: Path, state_engine: str) -> Path:  # noqa: F811 - the fixture imported above
    """The shared `site` (tests/conftest.py), its ledger on each engine: a file, then PostgreSQL."""
    write_config(tmp_path, state=state_engine)
    return tmp_path
