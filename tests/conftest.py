"""Shared fixtures: where the labelled corpus copy lives, and a throwaway site per test."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
DEV_CONTENT = FIXTURES / "dev" / "content"
DEV_LABELS = FIXTURES / "dev" / "labels.json"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """An empty site folder with a config.yaml (Asia/Shanghai) and a content/ folder."""
    from sitegen import write_config

    write_config(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def unsubscribe_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sends with an unsubscribe URL need DIGEST_SECRET (32 bytes or more): set for each test and its subprocesses."""
    monkeypatch.delenv("DIGEST_UNSUBSCRIBE_SECRET", raising=False)
    monkeypatch.setenv("DIGEST_SECRET", "digest-test-secret-0123456789abcdef")
