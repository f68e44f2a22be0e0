"""OS and database errors at the command line: one `Error:` line with a hint, never a traceback.

Each fault is real, made by the test, and the command is the real `python -m digest` in a
subprocess: a state file of random bytes, a state folder that cannot be written (as an
unprivileged user, and as a read-only mount), a full disk (a tiny tmpfs, filled), an open-file
limit too low for smtp.connections, `smtp.timeout: 0`, and a server too slow for smtp.timeout.
See staging.py for how root stages them.
"""

from __future__ import annotations

import asyncio
import resource
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sitegen import write_article, write_config
from smtp_servers import Inbox, serve
from staging import (
    as_unprivileged,
    digest_command,
    full,
    in_mounts,
    mounts_problem,
    read_only,
    run,
    shared_folder,
    unprivileged_problem,
)

from digest.cli.main import cli

MONDAY = datetime(2025, 7, 7, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ISSUE = "2025-06-30_2025-07-07"
SEND = ["send", ISSUE, "--to", "reader@example.org", "--to", "other@example.org"]
TICK = ["schedule", "--run-once", "--at", (MONDAY + timedelta(days=7, minutes=1)).isoformat()]
COMMANDS = {"send": SEND, "status": ["status"], "schedule": TICK}


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    with serve(box) as port:
        yield box, port


@pytest.fixture
def site(inbox: tuple[Inbox, int]) -> Iterator[Path]:
    """A site with one built issue, in a folder `nobody` can read, sending to the test's server."""
    _, port = inbox
    with shared_folder() as root:
        write_config(root, smtp={"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5},
                     schedule={"action": "send"}, mail={"recipients": "readers.csv"})
        (root / "readers.csv").write_text("email\nreader@example.org\n", encoding="utf-8")
        write_article(root, "first", MONDAY - timedelta(days=2))
        built = CliRunner().invoke(cli, ["build", "--since", "2025-06-30", "--until", "2025-07-07",
                                         "--config", str(root / "config.yaml")])
        assert built.exit_code == 0, built.output
        assert (root / ".digest" / "state.sqlite").exists()
        yield root


def one_line_error(result: object, *needles: str) -> str:
    """The command failed with exactly one `Error:` line containing each needle, a hint, no traceback."""
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode != 0, stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr and "Exception in thread" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, stderr
    for needle in needles:
        assert needle in errors[0], stderr
    assert "Hint:" in stderr, stderr
    return errors[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_state_file_is_one_line(site: Path, inbox: tuple[Inbox, int], command: str) -> None:
    """Random bytes in state.sqlite: `Error: …/state.sqlite: damaged, …` and what to do; nothing sent."""
    state = site / ".digest" / "state.sqlite"
    for extra in site.joinpath(".digest").glob("state.sqlite-*"):
        extra.unlink()
    state.write_bytes(bytes(range(256)) * 16)
    result = run(digest_command(*COMMANDS[command]), site)
    line = one_line_error(result, str(state), "damaged")
    assert line.startswith(f"Error: {state}")
    assert inbox[0].received == []


@pytest.mark.parametrize("command", ["send", "schedule"])
def test_a_state_folder_an_unprivileged_user_cannot_write_is_one_line(
    site: Path, inbox: tuple[Inbox, int], command: str
) -> None:
    """Run as `nobody` on root's files: the state folder is read-only to it; one line naming it."""
    problem = unprivileged_problem()
    if problem:
        pytest.skip(problem)
    result = run(as_unprivileged(digest_command(*COMMANDS[command])), site)
    one_line_error(result, str(site / ".digest"))
    assert inbox[0].received == []


@pytest.mark.parametrize("command", ["send", "schedule"])
def test_a_read_only_state_folder_is_one_line(site: Path, inbox: tuple[Inbox, int], command: str) -> None:
    """The state folder bind-mounted read-only (a real EROFS): one line naming it, and nothing sent."""
    problem = mounts_problem()
    if problem:
        pytest.skip(problem)
    result = run(in_mounts([read_only(site / ".digest")], digest_command(*COMMANDS[command])), site)
    one_line_error(result, str(site / ".digest"))
    assert inbox[0].received == []


@pytest.mark.parametrize("command", ["send", "schedule", "build"])
def test_a_full_disk_is_one_line(site: Path, inbox: tuple[Inbox, int], command: str) -> None:
    """A full tmpfs under the state folder (or, for build, the issues folder): one line, a hint to free space."""
    problem = mounts_problem()
    if problem:
        pytest.skip(problem)
    folder = site / ("issues" if command == "build" else ".digest")
    args = ["build", "--since", "2025-06-30", "--until", "2025-07-07"] if command == "build" else COMMANDS[command]
    result = run(in_mounts([full(folder)], digest_command(*args)), site)
    line = one_line_error(result, str(folder))
    assert "disk is full" in line or "No space left" in line, line
    hint = next(line for line in result.stderr.splitlines() if line.startswith("Hint:"))
    assert hint.startswith("Hint: free some space on the disk that holds") and str(folder) in hint, hint
    assert inbox[0].received == []


def _low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def test_more_connections_than_the_open_file_limit_is_refused_up_front(site: Path, inbox: tuple[Inbox, int]) -> None:
    """smtp.connections: 40 under `ulimit -n 64` stops before sending, naming the key and the limit."""
    config = site / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("timeout: 5", "timeout: 5\n  connections: 40"),
                      encoding="utf-8")
    readers = [f"reader{i}@example.org" for i in range(80)]
    args = ["send", ISSUE] + [arg for r in readers for arg in ("--to", r)]
    result = run(digest_command(*args), site, preexec_fn=_low_file_limit)
    one_line_error(result, "smtp.connections", "limit of 64")
    assert "ulimit -n" in result.stderr
    assert inbox[0].received == []
    checked = run(digest_command("check"), site, preexec_fn=_low_file_limit)
    assert checked.returncode == 1 and "smtp.connections" in checked.stdout, checked.stdout + checked.stderr


def test_timeout_zero_is_one_line(site: Path, inbox: tuple[Inbox, int]) -> None:
    """`smtp.timeout: 0` would make smtplib's sockets non-blocking: refused, naming the key."""
    config = site / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("timeout: 5", "timeout: 0"), encoding="utf-8")
    result = run(digest_command(*SEND), site)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        "Error: config.yaml: config key 'smtp.timeout': expected a number of seconds above 0, found 0.0"
    ]
    assert inbox[0].received == []


def test_a_server_that_never_answers_says_smtp_timeout(site: Path) -> None:
    """A server that accepts the connection but never greets: the error says which setting ran out."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        config = site / "config.yaml"
        text = config.read_text(encoding="utf-8")
        text = text.replace("timeout: 5", "timeout: 0.5\n  max_attempts: 1")
        text = text.replace(f"port: {text.split('port: ')[1].split()[0]}", f"port: {silent.getsockname()[1]}")
        config.write_text(text, encoding="utf-8")
        result = run(digest_command(*SEND), site)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "timed out after 0.5s (smtp.timeout)" in result.stderr, result.stderr


class SlowRcpt(Inbox):
    """Answers RCPT after `delay` seconds: a server slower than smtp.timeout."""

    delay = 1.5

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # aiosmtpd's hook
        await asyncio.sleep(self.delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_slow_server_deferral_says_smtp_timeout(site: Path) -> None:
    """A reply slower than smtp.timeout: each deferral and failure says "timed out after 0.5s (smtp.timeout)"."""
    with serve(SlowRcpt()) as port:
        config = site / "config.yaml"
        text = config.read_text(encoding="utf-8")
        text = text.replace("timeout: 5", "timeout: 0.5\n  max_attempts: 2\n  retry_base_seconds: 0.01")
        text = text.replace(f"port: {text.split('port: ')[1].split()[0]}", f"port: {port}")
        config.write_text(text, encoding="utf-8")
        sent = run(digest_command("send", ISSUE, "--to", "reader@example.org"), site)
    assert "Traceback" not in sent.stderr, sent.stderr
    replies = [line for line in sent.stderr.splitlines() if "reader@example.org" in line]
    assert replies and all("connection lost: timed out after 0.5s (smtp.timeout)" in r for r in replies), sent.stderr
