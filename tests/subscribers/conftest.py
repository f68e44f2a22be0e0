"""The subscribers tests share the PostgreSQL fixtures (tests/pg_server.py): the ledger runs on both engines."""

from pg_server import pg_server, pg_url, state_engine  # noqa: F401
