"""Addresses parsed strictly: an entry that is not exactly one valid address is reported, never rewritten."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sitegen import write_article, write_config
from smtp_servers import Inbox, serve

from digest.delivery.recipients import check_address, collect_recipients

# Each of these was once turned into another address, or silently lost a second one.
BAD_EMAIL_CELLS = [
    ("alice@corp.com .evil.io", "alice@corp.com.evil.io"),
    ("a@example.org\tTAB", "a@example.orgtab"),
    ("Ann <ann@example.org>", "ann@example.org"),  # a display name belongs in the name column
    ("<ann@example.org>", "ann@example.org"),
    ("ann@example.org (Ann)", "ann@example.org"),
    ("ann@example.org;bo@example.org", "ann@example.org"),
    ("ann@example.org bo@example.org", "ann@example.org"),
    ('"ann"@example.org', "ann@example.org"),
    ("ann@example.org.", "ann@example.org"),
    ("ann@example.org\u200b", "ann@example.org"),  # a zero-width space the IDNA codec would drop
    ("ann@ｅxample.org", "ann@example.org"),  # a full-width letter IDNA would fold to ASCII
    ("ann＠example.org", "ann@example.org"),
    ("ann@example..org", None),
    (".ann@example.org", None),
    ("ann.@example.org", None),
    ("ann@-example.org", None),
    ("ann@[127.0.0.1]", None),
    ("ann@localhost", None),
    ("ann@example.org\x1c", "ann@example.org"),
]


@pytest.mark.parametrize(("cell", "rewritten"), BAD_EMAIL_CELLS, ids=[repr(c) for c, _ in BAD_EMAIL_CELLS])
def test_a_bad_email_cell_is_reported_with_file_and_line_and_never_rewritten(
    tmp_path: Path, cell: str, rewritten: str | None
) -> None:
    csv_file = tmp_path / "readers.csv"
    quoted = '"' + cell.replace('"', '""') + '"'
    csv_file.write_text(f"email,name\nok@example.org,Ok\n{quoted},Someone\n", encoding="utf-8")
    listed = collect_recipients([], csv_file)
    assert [r.address for r in listed.recipients] == ["ok@example.org"]
    assert len(listed.problems) == 1 and f"{csv_file}:3" in listed.problems[0], listed.problems
    assert check_address(cell)[0] is None
    if rewritten:
        assert rewritten not in [r.address.lower() for r in listed.recipients]


def test_two_addresses_on_one_line_are_reported_not_halved(tmp_path: Path) -> None:
    """`bob@x.org,<TAB>eve@evil.io`: with one column, an extra field; with a name column, an address as name."""
    one_column = tmp_path / "one.csv"
    one_column.write_text("email\nok@example.org\nbob@x.org,\teve@evil.io\n", encoding="utf-8")
    listed = collect_recipients([], one_column)
    assert [r.address for r in listed.recipients] == ["ok@example.org"]
    assert len(listed.problems) == 1 and f"{one_column}:3" in listed.problems[0]
    assert "eve@evil.io" in listed.problems[0]
    named = tmp_path / "named.csv"
    named.write_text("email,name\nok@example.org,Ok\nbob@x.org,\teve@evil.io\n", encoding="utf-8")
    listed = collect_recipients([], named)
    assert [r.address for r in listed.recipients] == ["ok@example.org"]
    assert len(listed.problems) == 1 and f"{named}:3" in listed.problems[0]


@pytest.mark.parametrize(
    "value",
    [
        "alice@corp.com .evil.io",
        "a@example.org\tTAB",
        "bob@x.org,\teve@evil.io",
        "bob@x.org, Eve <eve@evil.io>",
        "Bo <bo@example.net> trailing",
        "Bo bo@example.net",
        "Bo <bo@example.net",
        "Bo <<bo@example.net>>",
        "Bo <bo@example.net (comment)>",
        "Bo (comment) <bo@example.net>",
    ],
)
def test_a_bad_to_value_is_reported_and_sends_to_no_one(value: str) -> None:
    listed = collect_recipients([value, "ok@example.org"])
    assert [r.address for r in listed.recipients] == ["ok@example.org"]
    assert len(listed.problems) == 1 and listed.problems[0].startswith("--to"), listed.problems


def test_good_to_values_keep_working() -> None:
    """A bare address, `Name <addr>` and a quoted name with a comma are each one address."""
    listed = collect_recipients(
        ["ann@example.org", "Bo <bo@example.net>", '"Doe, Jo" <jo@example.org>', "<cy@example.org>",
         "Dee.Dee+news@Sub.Example.COM", "zoe@bücher.example"]
    )
    assert listed.problems == []
    got = [(r.address, r.name) for r in listed.recipients]
    assert got == [
        ("ann@example.org", None), ("bo@example.net", "Bo"), ("jo@example.org", "Doe, Jo"), ("cy@example.org", None),
        ("Dee.Dee+news@sub.example.com", None), ("zoe@xn--bcher-kva.example", None),
    ]


def test_a_bad_name_is_reported_and_left_out_not_sent_as_is(tmp_path: Path) -> None:
    """A name with an encoded word or a line break is reported; the reader still gets the issue, without it."""
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text(
        "email,name\n"
        "ann@example.org,=?utf-8?b?SGkNCkJjYzogY0BldmlsLmV4YW1wbGU=?=\n"
        'bo@example.org,"Bo\r\nBcc: c@evil.example"\n'
        "cy@example.org,\"Doe, Cy\"\n"
        "dee@example.org,Zoë Müller\n",
        encoding="utf-8",
    )
    listed = collect_recipients([], csv_file)
    got = [(r.address, r.name) for r in listed.recipients]
    assert got == [
        ("ann@example.org", None), ("bo@example.org", None), ("cy@example.org", "Doe, Cy"),
        ("dee@example.org", "Zoë Müller"),
    ]
    assert len(listed.problems) == 2
    assert f"{csv_file}:2" in listed.problems[0] and "encoded word" in listed.problems[0]
    assert f"{csv_file}:3" in listed.problems[1] and "control" in listed.problems[1]


def test_digest_send_reports_each_bad_line_and_sends_only_the_good(tmp_path: Path) -> None:
    """Through `digest send --recipients` to a real server: warnings name file and line; no rewritten RCPT."""
    inbox = Inbox()
    with serve(inbox) as port:
        write_config(tmp_path, smtp={"host": "127.0.0.1", "port": port, "security": "none"},
                     mail={"unsubscribe_mailto": "leave@news.example.com"})
        write_article(tmp_path, "one", datetime(2025, 7, 3, 10, tzinfo=timezone.utc))
        (tmp_path / "readers.csv").write_text(
            "email\nok@example.org\nalice@corp.com .evil.io\n\"a@example.org\tTAB\"\nbob@x.org,\teve@evil.io\n",
            encoding="utf-8",
        )
        run = [sys.executable, "-m", "digest"]
        built = subprocess.run([*run, "build", "--since", "2025-07-01", "--until", "2025-07-08", "--json"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert built.returncode == 0, built.stderr
        issue = json.loads(built.stdout)["issue_id"]
        sent = subprocess.run([*run, "send", issue, "--recipients", "readers.csv", "--to", "x@corp.com .evil.io"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert sent.returncode == 0, sent.stderr
    assert [r for m in inbox.received for r in m.rcpts] == ["ok@example.org"]
    warnings = [line for line in sent.stderr.splitlines() if line.startswith("Warning:")]
    for where in ("--to", "readers.csv:3", "readers.csv:4", "readers.csv:5"):
        assert sum(where in w for w in warnings) == 1, (where, sent.stderr)
