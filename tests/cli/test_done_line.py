"""The build's closing `Done:` line counts in the singular for one (issue 12, point 4)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from sitegen import write_article

from digest.cli.main import cli

MONDAY = datetime(2025, 7, 7, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _done(root: Path) -> str:
    result = CliRunner().invoke(cli, ["build", "--since", "2025-06-30", "--until", "2025-07-07",
                                      "--config", str(root / "config.yaml")])
    assert result.exit_code == 0, result.output
    return next(line for line in result.output.splitlines() if line.startswith("Done:"))


def test_done_line_says_1_article_and_2_articles(site: Path) -> None:
    """One article and one file: `Done: 1 article … (1 file read`; two: `2 articles … (2 files read`."""
    write_article(site, "first", MONDAY - timedelta(days=2))
    assert _done(site).startswith("Done: 1 article in issue ") and "(1 file read, 0 skipped)" in _done(site)
    write_article(site, "second", MONDAY - timedelta(days=3))
    assert _done(site).startswith("Done: 2 articles in issue ") and "(2 files read, 0 skipped)" in _done(site)
