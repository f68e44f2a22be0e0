"""The state file is data, and knows what it is (issue 10, points 4, 8 and 10), through the real CLI.

- A pickle crafted into the state file's caches is never loaded by `digest build`: it is dropped
  with a warning and rebuilt. An older digest's pickled caches are dropped unread, once; the
  outbox stays.
- A deleted or emptied state file beside a manifest that records a send makes `digest send` and
  `digest schedule` refuse (a real aiosmtpd server on 127.0.0.1 receives nothing more), until
  `--state-reset` accepts it knowingly.
- A symlink out of the content folder is not published, unless `content.follow_outside_links`.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sitegen import write_article, write_config
from smtp_servers import Inbox, serve

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2025, 7, 1, 9, tzinfo=TZ)
MONDAY = datetime(2025, 7, 7, 8, 0, tzinfo=TZ)
BUILD = ("build", "--since", "2025-07-01", "--until", "2025-07-08")
READERS = ["ann@example.org", "bo@example.net"]


def digest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args], cwd=root, capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("DIGEST_SMTP")},
    )


def make_site(root: Path, port: int = 25, **sections: object) -> None:
    """Five articles in the week of July 1, SMTP on 127.0.0.1:`port`, two subscribers."""
    write_config(
        root,
        smtp={"host": "127.0.0.1", "port": port, "security": "none", "retry_base_seconds": 0.01},
        mail={"recipients": "subscribers.csv", "unsubscribe_mailto": "leave@news.example.com"},
        **sections,
    )
    for day in range(5):
        write_article(root, f"story-{day}", DAY + timedelta(days=day), title=f"Story {day}")
    (root / "subscribers.csv").write_text("email\n" + "\n".join(READERS) + "\n", encoding="utf-8")


def build(root: Path) -> str:
    result = digest(root, *BUILD, "--json")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["issue_id"])


def received(inbox: Inbox) -> Counter[str]:
    return Counter(r for message in inbox.received for r in message.rcpts)


# --- no pickles in the state ------------------------------------------------------------------------


class Boom:
    """Unpickling this runs a shell command that creates `marker`: what the crafted state file did."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def test_crafted_pickle_in_the_caches_is_never_run_by_build(tmp_path: Path) -> None:
    """Pickles placed in every cache column are dropped with a warning; the build succeeds; nothing runs."""
    make_site(tmp_path)
    (tmp_path / "content" / "posts" / "broken.md").write_text("---\ntitle: [x\n---\n", encoding="utf-8")
    issue_id = build(tmp_path)
    marker = tmp_path / "pwned"
    blob = pickle.dumps(Boom(marker))
    with sqlite3.connect(tmp_path / ".digest" / "state.sqlite") as db:
        paths = ("posts/story-1.md", "posts/broken.md")
        assert db.execute("UPDATE scan_cache SET data = ? WHERE path IN (?, ?)", (blob, *paths)).rowcount == 2
        assert db.execute("UPDATE scan_cache SET summary = ? WHERE path = 'posts/story-2.md'", (blob,)).rowcount == 1
        assert db.execute("UPDATE render_cache SET rendered = ?", (blob,)).rowcount >= 1
    result = digest(tmp_path, *BUILD)
    assert result.returncode == 0, result.stderr
    assert not marker.exists(), "a pickle from the state file was loaded"
    assert "rows did not decode" in result.stderr and "summaries did not decode" in result.stderr
    assert "render cache" in result.stderr and "did not decode" in result.stderr
    html = (tmp_path / "issues" / f"{issue_id}.html").read_text(encoding="utf-8")
    assert all(f"Story {day}" in html for day in range(5))
    again = digest(tmp_path, *BUILD)
    assert again.returncode == 0 and "decode" not in again.stderr  # rebuilt: no warning the second time


def test_pickled_caches_of_an_older_digest_are_dropped_once_and_the_outbox_kept(tmp_path: Path) -> None:
    """A state file with pickled caches and no format mark: caches dropped unread with one warning, outbox untouched."""
    inbox = Inbox()
    with serve(inbox) as port:
        make_site(tmp_path, port)
        issue_id = build(tmp_path)
        sent = digest(tmp_path, "send", issue_id)
        assert sent.returncode == 0, sent.stderr
    state = tmp_path / ".digest" / "state.sqlite"
    marker = tmp_path / "pwned"
    with sqlite3.connect(state) as db:
        outbox = db.execute("SELECT * FROM outbox ORDER BY recipient").fetchall()
        # What an older digest left: no state_meta (no format mark), a pickle in every cache row.
        db.execute("DROP TABLE IF EXISTS state_meta")
        db.execute("UPDATE scan_cache SET data = ?, summary = ?", (pickle.dumps(Boom(marker)),) * 2)
        db.execute("UPDATE render_cache SET rendered = ?", (pickle.dumps(Boom(marker)),))
    first = digest(tmp_path, *BUILD)
    assert first.returncode == 0, first.stderr
    assert not marker.exists()
    dropped = [line for line in first.stderr.splitlines() if "dropped the scan cache and render cache" in line]
    assert len(dropped) == 1 and str(state) in dropped[0], first.stderr
    assert "decode" not in first.stderr  # dropped as tables, not row by row
    second = digest(tmp_path, *BUILD)
    assert second.returncode == 0 and "dropped" not in second.stderr
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT * FROM outbox ORDER BY recipient").fetchall() == outbox
    assert len(outbox) == len(READERS)


# --- a state file that lost its ledger -------------------------------------------------------------


def _lose(state: Path, how: str) -> None:
    """Lose the state file's ledger the way an owner might: delete it, truncate it, or empty its outbox."""
    if how == "deleted":
        for path in (state, state.with_name(state.name + "-wal"), state.with_name(state.name + "-shm")):
            path.unlink(missing_ok=True)
    elif how == "emptied":
        state.write_bytes(b"")
    else:
        with sqlite3.connect(state) as db:
            db.execute("DELETE FROM outbox")


@pytest.mark.parametrize("how", ["deleted", "emptied", "outbox-rows-deleted"])
def test_send_refuses_after_the_state_file_lost_a_send_until_state_reset(tmp_path: Path, how: str) -> None:
    """After a send, losing the state file makes `digest send` refuse and send nothing; --state-reset sends."""
    inbox = Inbox()
    with serve(inbox) as port:
        make_site(tmp_path, port)
        issue_id = build(tmp_path)
        first = digest(tmp_path, "send", issue_id)
        assert first.returncode == 0, first.stderr
        assert received(inbox) == Counter(READERS)
        state = tmp_path / ".digest" / "state.sqlite"
        manifest = tmp_path / "issues" / f"{issue_id}.json"
        _lose(state, how)

        refused = digest(tmp_path, "send", issue_id)
        assert refused.returncode != 0
        errors = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, refused.stderr
        assert str(state) in errors[0] and str(manifest) in errors[0]
        assert {"deleted": "does not exist", "emptied": "is empty"}.get(how, "is empty") in errors[0]
        assert "--state-reset" in refused.stderr
        assert received(inbox) == Counter(READERS), "sent again from a lost state"

        rebuilt = digest(tmp_path, *BUILD)  # a rebuild of the issue must not forget it was sent
        assert rebuilt.returncode == 0 and digest(tmp_path, "send", issue_id).returncode != 0

        reset = digest(tmp_path, "send", issue_id, "--state-reset")
        assert reset.returncode == 0, reset.stderr
        assert received(inbox) == Counter(READERS * 2)  # knowingly: everyone once more
        after = digest(tmp_path, "send", issue_id)  # the state file knows again: nothing refused, nothing sent
        assert after.returncode == 0, after.stderr
        assert received(inbox) == Counter(READERS * 2)
    record = json.loads(manifest.read_text(encoding="utf-8"))["sent"]  # what the refusal was based on
    assert record["state"] == str(state.resolve()) and record["first_started"] <= record["last_started"]


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_send_refuses_when_the_site_moved_and_lost_its_state_file(tmp_path: Path, how: str) -> None:
    """The manifest names another state file (the site was moved): a missing or empty one still refuses."""
    inbox = Inbox()
    with serve(inbox) as port:
        old, new = tmp_path / "old-home", tmp_path / "new-home"
        old.mkdir()
        make_site(old, port)
        issue_id = build(old)
        assert digest(old, "send", issue_id).returncode == 0
        old.rename(new)
        _lose(new / ".digest" / "state.sqlite", how)
        refused = digest(new, "send", issue_id)
        assert refused.returncode != 0 and "--state-reset" in refused.stderr, refused.stderr
        assert received(inbox) == Counter(READERS)


def test_first_send_from_a_fresh_state_is_not_refused(tmp_path: Path) -> None:
    """No manifest records a send yet: a state file that does not exist is simply new."""
    inbox = Inbox()
    with serve(inbox) as port:
        make_site(tmp_path, port)
        issue_id = build(tmp_path)
        _lose(tmp_path / ".digest" / "state.sqlite", "deleted")
        result = digest(tmp_path, "send", issue_id)
        assert result.returncode == 0, result.stderr
        assert received(inbox) == Counter(READERS)


def test_schedule_refuses_after_the_state_file_was_deleted_until_state_reset(tmp_path: Path) -> None:
    """A scheduled send, then the state file deleted: the next run refuses and sends nothing; --state-reset goes on."""
    inbox = Inbox()
    with serve(inbox) as port:
        make_site(tmp_path, port, schedule={"action": "send"})
        at = (MONDAY + timedelta(minutes=1)).isoformat()
        first = digest(tmp_path, "schedule", "--run-once", "--at", at)
        assert first.returncode == 0, first.stderr
        assert received(inbox) == Counter(READERS)
        state = tmp_path / ".digest" / "state.sqlite"
        _lose(state, "deleted")

        refused = digest(tmp_path, "schedule", "--run-once", "--at", at)
        assert refused.returncode != 0
        assert str(state) in refused.stderr and "--state-reset" in refused.stderr
        assert received(inbox) == Counter(READERS)
        assert not state.exists()  # refused before the state file was even created

        reset = digest(tmp_path, "schedule", "--run-once", "--at", at, "--state-reset")
        assert reset.returncode == 0, reset.stderr
        assert received(inbox) == Counter(READERS * 2)


# --- content stays inside the content folder -------------------------------------------------------


def test_link_to_a_private_file_outside_the_content_folder_is_not_published(tmp_path: Path) -> None:
    """A symlink to a file elsewhere on the host is skipped with a warning; follow_outside_links publishes it."""
    make_site(tmp_path)
    private = tmp_path.parent / f"{tmp_path.name}-home" / "diary.md"
    private.parent.mkdir()
    private.write_text(
        "---\ntitle: Private diary\ndate: 2025-07-03\n---\nThe vault code is SECRET-4417.\n", encoding="utf-8"
    )
    (tmp_path / "content" / "posts" / "diary.md").symlink_to(private)
    (tmp_path / "content" / "posts" / "home").symlink_to(private.parent)  # a folder link too
    (tmp_path / "content" / "posts" / "again.md").symlink_to(Path("story-1.md"))  # inside: still read

    result = digest(tmp_path, *BUILD, "--json")
    assert result.returncode == 0, result.stderr
    issue = tmp_path / "issues" / json.loads(result.stdout)["issue_id"]
    built = "".join(issue.with_suffix(s).read_text(encoding="utf-8") for s in (".html", ".txt", ".json"))
    assert "SECRET-4417" not in built and "Private diary" not in built
    assert "posts/again.md" in built
    warnings = [line for line in result.stderr.splitlines() if "outside the content folder" in line]
    assert any("posts/diary.md" in w and str(private) in w for w in warnings), result.stderr
    assert any("posts/home/" in w and str(private.parent) in w for w in warnings), result.stderr

    config = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    config["content"] = {"dir": "content", "follow_outside_links": True}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    followed = digest(tmp_path, *BUILD)
    assert followed.returncode == 0, followed.stderr
    assert "SECRET-4417" in issue.with_suffix(".html").read_text(encoding="utf-8")
    assert "outside the content folder" not in followed.stderr
