"""Smaller commands: preview's rebuild, check on a built issue, the heartbeat, --help texts."""

from __future__ import annotations

import http.server
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sitegen import settings_for, write_article, write_config

from digest.cli.main import cli
from digest.cli.preview import rebuild
from digest.schedule.runner import run_tick

MONDAY = datetime(2025, 7, 7, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def build(root: Path) -> str:
    result = CliRunner().invoke(cli, ["build", "--since", "2025-06-30", "--until", "2025-07-07",
                                      "--config", str(root / "config.yaml")])
    assert result.exit_code == 0, result.output
    return next(line for line in result.output.splitlines() if line.endswith(".html"))


def test_preview_rebuilds_the_newest_issue_after_an_edit(site: Path) -> None:
    """After an article changes, preview's rebuild writes the newest issue again with the new text."""
    write_article(site, "first", MONDAY - timedelta(days=2), title="Old headline")
    html = Path(build(site))
    write_article(site, "first", MONDAY - timedelta(days=2), title="New headline")
    outcome = rebuild(str(site / "config.yaml"), None, None, None)
    assert outcome.startswith("rebuilt")
    assert "New headline" in html.read_text(encoding="utf-8")


def test_check_on_a_built_issue_passes_and_on_a_broken_one_fails(site: Path) -> None:
    """`digest check ISSUE.html` passes a built issue and names what a hand edit broke."""
    write_article(site, "first", MONDAY - timedelta(days=2))
    html = Path(build(site))
    ok = CliRunner().invoke(cli, ["check", str(html)])
    assert ok.exit_code == 0, ok.output
    broken = html.with_name("broken.html")
    broken.write_text(html.read_text(encoding="utf-8").replace("</body>", "<script>x()</script></body>"),
                      encoding="utf-8")
    bad = CliRunner().invoke(cli, ["check", str(broken)])
    assert bad.exit_code == 1 and "script" in bad.output


def test_heartbeat_is_requested_after_every_tick_whatever_the_outcome(tmp_path: Path) -> None:
    """schedule.heartbeat_url is requested after a written tick and after an empty one."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/ping"
        write_config(tmp_path, schedule={"heartbeat_url": url})
        write_article(tmp_path, "a", MONDAY - timedelta(days=1))
        settings = settings_for(tmp_path)
        run_tick(settings, MONDAY + timedelta(minutes=1))
        run_tick(settings, MONDAY + timedelta(days=7, minutes=1))
    finally:
        server.shutdown()
    assert hits == ["/ping?outcome=written", "/ping?outcome=skipped-empty"]


@pytest.mark.parametrize("command", ["build", "send", "status", "schedule", "summarize", "check", "init", "preview"])
def test_every_command_explains_its_flags(command: str) -> None:
    """`digest COMMAND --help` describes the command and each shared flag it takes."""
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "--config" in result.output or command == "init"
    for flag in ("--content", "--out", "--state"):
        if flag in result.output:
            assert result.output.count(flag) >= 1
    assert len(result.output.splitlines()) > 5


def test_schedule_next_lists_local_and_utc(tmp_path: Path) -> None:
    """`digest schedule --next 3` prints three ticks with local time and UTC."""
    write_config(tmp_path, site={"timezone": "Europe/Berlin"})
    result = CliRunner().invoke(cli, ["schedule", "--next", "3", "--at", "2025-10-20T00:00:00+02:00",
                                      "--config", str(tmp_path / "config.yaml")])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3 and all("08:00" in line and "UTC" in line for line in lines)
    assert "07:00 UTC" in lines[0] or "06:00 UTC" in lines[0]


def test_schedule_next_shows_the_real_instant_on_a_spring_forward_day(tmp_path: Path) -> None:
    """02:30 does not exist in Berlin on 2025-03-30: --next shows 03:30 CEST (01:30 UTC) and says why."""
    write_config(tmp_path, site={"timezone": "Europe/Berlin"}, schedule={"cron": "30 2 * * *"})
    result = CliRunner().invoke(cli, ["schedule", "--next", "2", "--at", "2025-03-29T12:00:00+01:00",
                                      "--config", str(tmp_path / "config.yaml")])
    assert result.exit_code == 0, result.output
    sunday, monday = result.output.strip().splitlines()
    assert sunday.startswith("Sun 2025-03-30 03:30 CEST (2025-03-30T03:30:00+02:00)   2025-03-30 01:30 UTC"), sunday
    assert "02:30 does not exist that day" in sunday
    assert monday.startswith("Mon 2025-03-31 02:30 CEST") and "does not exist" not in monday, monday
