"""The state tests share the PostgreSQL fixtures (tests/pg_server.py)."""

from pg_server import pg_server, pg_url, state_engine  # noqa: F401
