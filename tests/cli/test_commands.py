"""Smaller commands: preview's rebuild, check on a built issue, the heartbeat, --help texts."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner
from sitegen import settings_for, write_article, write_config

from digest.cli.main import cli
from digest.cli.options import CONFIG_HELP, CONTENT_HELP, OUT_HELP, STATE_HELP
from digest.cli.preview import rebuild, watch_and_rebuild
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


WATCH_WAIT_SECONDS = 15  # an upper bound for a change event on a loaded machine; met in well under a second


def test_preview_watches_sources_and_rebuilds_on_an_edit_and_nothing_else(site: Path) -> None:
    """The watch loop rebuilds after an article or config.yaml changes, and not after its own writes to issues/."""
    article = write_article(site, "first", MONDAY - timedelta(days=2), title="Old headline")
    html = Path(build(site))
    settings = settings_for(site)
    outcomes: list[str] = []
    rebuilt = threading.Event()

    def on_change() -> None:
        outcomes.append(rebuild(str(site / "config.yaml"), None, None, None))
        rebuilt.set()

    stop = threading.Event()
    loop = threading.Thread(target=watch_and_rebuild, args=(settings, site / "config.yaml", on_change, stop))
    loop.start()
    try:
        # Make sure the watchers are up: touch an unwatched file, then write until the first event arrives.
        for _ in range(WATCH_WAIT_SECONDS * 2):
            write_article(site, "first", MONDAY - timedelta(days=2), title="New headline")
            if rebuilt.wait(0.5):
                break
        assert rebuilt.is_set(), f"no rebuild within {WATCH_WAIT_SECONDS}s of editing {article}"
        assert outcomes[0].startswith("rebuilt"), outcomes
        assert "New headline" in html.read_text(encoding="utf-8")
        # The rebuild wrote issues/ and the state: neither is a source, so no second rebuild follows.
        rebuilt.clear()
        (site / "issues" / "extra.txt").write_text("not a source", encoding="utf-8")
        assert not rebuilt.wait(1.0), outcomes
        config = site / "config.yaml"
        config.write_text(config.read_text(encoding="utf-8").replace("Test Site", "Renamed Site"), encoding="utf-8")
        assert rebuilt.wait(WATCH_WAIT_SECONDS), "no rebuild after config.yaml changed"
        assert "Renamed Site" in html.read_text(encoding="utf-8")
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive(), "the watch loop did not stop when asked"


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


SHARED_FLAGS = {"--config": CONFIG_HELP, "--content": CONTENT_HELP, "--out": OUT_HELP, "--state": STATE_HELP}
# Which shared flags each command takes (README: "where they apply"): what a command reads or writes.
COMMAND_FLAGS = {
    "build": ("--config", "--content", "--out", "--state"),
    "send": ("--config", "--content", "--out", "--state"),
    "status": ("--config", "--out", "--state"),
    "schedule": ("--config", "--content", "--out", "--state"),
    "summarize": ("--config", "--content"),
    "check": ("--config", "--content"),
    "preview": ("--config", "--content", "--out", "--state"),
    "init": (),
}


@pytest.mark.parametrize("command", sorted(COMMAND_FLAGS))
def test_every_command_explains_its_flags(command: str) -> None:
    """`digest COMMAND --help` describes the command and each shared flag it takes, with that flag's help."""
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=400, max_content_width=400)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for flag in COMMAND_FLAGS[command]:
        described = [line for line in lines if line.strip().startswith(flag + " ")]
        assert described, f"digest {command} --help does not list {flag}:\n{result.output}"
        assert " ".join(SHARED_FLAGS[flag].split()) in " ".join(described[0].split()), described[0]
    for flag in set(SHARED_FLAGS) - set(COMMAND_FLAGS[command]):
        assert not any(line.strip().startswith(flag + " ") for line in lines), f"{command} lists {flag}"
    assert len(lines) > 5


def test_help_lists_every_command_and_a_send_loads_none_of_the_others() -> None:
    """`digest --help` lists every command with its one-line help, the lazily imported ones too; and a
    process that runs `digest send` imports neither the other commands' modules nor the build stages
    (a sender of a fleet pays each import in its start-up). Broken (LAZY_COMMANDS missing a command, or
    digest/pipeline/__init__.py importing pipeline.build again): one of the two checks fails."""
    result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(cli.list_commands(click.Context(cli))) >= {
        "build", "summarize", "send", "status", "schedule", "preview", "init", "check", "subscribers", "serve",
        "bounces", "state",
    }
    for name in listed:
        assert cli.get_command(click.Context(cli), name) is not None, name
    probe = (
        "import sys, digest.cli.main as m, click\n"
        "m.cli.get_command(click.Context(m.cli), 'send')\n"
        "import digest.pipeline.send\n"
        "print(' '.join(sorted(n for n in sys.modules if n.startswith(('digest.cli.', 'digest.pipeline.',"
        " 'digest.content', 'digest.summarize', 'digest.web')))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert "digest.cli.send" in loaded and "digest.pipeline.send" in loaded
    others = [n for n in loaded if n.startswith(("digest.cli.serve", "digest.cli.bounces", "digest.cli.preview",
                                                  "digest.cli.subscribers", "digest.pipeline.build", "digest.content",
                                                  "digest.summarize", "digest.web"))]
    assert not others, f"digest send imports {others}"


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
