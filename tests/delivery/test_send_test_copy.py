"""`digest send ISSUE --test ADDR`: one `[TEST]` copy, straight to the server, that counts as no one's delivery."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from smtp_servers import serve
from test_outbox import addresses, digest, make_site
from test_send_subscribers import Recording

from digest.archive.manifest import sent_records


def test_a_test_copy_is_marked_and_never_counts_as_a_delivery(tmp_path: Path) -> None:
    """--test: one message, subject `[TEST] …`, no outbox row, no manifest send record; the real send still
    mails ADDR."""
    inbox = Recording()
    with serve(inbox) as port:
        site, issue_id = make_site(tmp_path, port, 2)
        owner = addresses(1)[0]  # reader000, also on the list
        test = digest(site, "send", issue_id, "--test", owner)
        assert test.returncode == 0, test.stderr
        assert "Test copy sent to reader000@example.org" in test.stderr
        assert len(inbox.received) == 1 and inbox.received[0].rcpts == [owner]
        copy = inbox.messages()[0]
        assert copy["Subject"].startswith("[TEST] ")
        assert str(copy["List-Unsubscribe"]).endswith("/no-reader>")  # a click on a test copy unsubscribes no one
        assert sent_records(site / "issues") == []
        state = site / ".digest" / "state.sqlite"
        if state.exists():
            with sqlite3.connect(state) as conn:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                assert "outbox" not in tables or not conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
                assert "reader_ids" not in tables or not conn.execute("SELECT count(*) FROM reader_ids").fetchone()[0]
        real = digest(site, "send", issue_id, "--recipients", "subscribers.csv")
        assert real.returncode == 0, real.stderr
    assert inbox.counts() == {owner: 2, addresses(2)[1]: 1}
    real_copy = next(m for m in inbox.messages()[1:] if m["To"].addresses[0].addr_spec == owner)
    assert not real_copy["Subject"].startswith("[TEST]")
    assert real_copy["Subject"] == copy["Subject"].removeprefix("[TEST] ")
    assert real_copy["Message-ID"] != copy["Message-ID"]  # a mailbox that drops repeats keeps the real one
    assert len(sent_records(site / "issues")) == 1


def test_test_refuses_a_bad_address_and_other_recipients(tmp_path: Path) -> None:
    """--test takes one address and nothing else to send to: a clear error, nothing sent."""
    inbox = Recording()
    with serve(inbox) as port:
        site, issue_id = make_site(tmp_path, port, 1)
        bad = digest(site, "send", issue_id, "--test", "not an address")
        both = digest(site, "send", issue_id, "--test", "a@example.org", "--to", "b@example.org")
    assert bad.returncode != 0 and "Error: --test 'not an address'" in bad.stderr, bad.stderr
    assert both.returncode == 2 and "--test sends the one test copy" in both.stderr, both.stderr
    assert inbox.received == []
