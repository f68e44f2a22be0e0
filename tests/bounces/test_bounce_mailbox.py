"""`digest bounces fetch` against a real Dovecot holding real-looking DSN and ARF samples."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner
from imap_server import Dovecot, start_dovecot
from sitegen import write_config

from digest.cli.main import cli
from digest.config import Settings, load_settings
from digest.errors import DigestError
from digest.pipeline.bounces import fetch_bounces, list_bounces
from digest.state.outbox import Outbox
from digest.state.subscribers import SubscriberStore

SAMPLES = Path(__file__).parent.parent / "fixtures" / "bounces"
ISSUE = "2025-07-01_2025-07-08"
NOW = 1751990400.0  # 2025-07-08T16:00:00Z


def clock() -> float:
    return NOW


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture(scope="module")
def imap() -> Iterator[Dovecot]:
    with start_dovecot() as server:
        yield server


@pytest.fixture
def mailbox(imap: Dovecot) -> str:
    return imap.new_mailbox()


def site_settings(root: Path, imap: Dovecot, mailbox: str, **bounces: object) -> Settings:
    write_config(
        root,
        smtp={"sender": "news@example.com", "return_path": "bounces+{token}@example.com"},
        bounces=imap.config(mailbox=mailbox, **bounces),
    )
    return load_settings(root / "config.yaml", env={})


def subscribe(settings: Settings, *addresses: str) -> None:
    with SubscriberStore.open(settings, clock=clock) as store:
        for address in addresses:
            store.add(address, source="command")


def fetch(settings: Settings, imap: Dovecot) -> object:
    return fetch_bounces(settings, password=imap.password, clock=clock)


def state_of(settings: Settings, address: str) -> str | None:
    with SubscriberStore.open(settings, clock=clock) as store:
        sub = store.get(address)
        return sub.state if sub else None


def test_dsn_5_1_1_leaves_the_address_bounced_and_blocked(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """A Postfix 550 5.1.1 DSN in the mailbox marks the reader bounced: blocked from the next send, and \\Seen."""
    settings = site_settings(tmp_path, imap, mailbox)
    subscribe(settings, "ghost@example.org", "ok@example.org")
    imap.deliver(sample("postfix_5.1.1_user_unknown.eml"), mailbox=mailbox)
    summary = fetch(settings, imap)
    assert (summary.fetched, summary.hard) == (1, 1)
    assert state_of(settings, "ghost@example.org") == "bounced"
    with SubscriberStore.open(settings, clock=clock) as store:
        assert store.blocked_keys() == {"ghost@example.org"}
        assert [s.address for s in store.confirmed()] == ["ok@example.org"]
        assert "5.1.1" in str(store.events("ghost@example.org")[-1]["detail"])
    assert imap.unseen(mailbox) == 0


def test_verp_token_maps_the_bounce_to_its_reader(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """The Exim bounce came back to bounces+<sid>@example.com: the sid names the reader, whatever the report says."""
    settings = site_settings(tmp_path, imap, mailbox)
    subscribe(settings, "erin.old@example.net")
    with SubscriberStore.open(settings, clock=clock) as store:
        sid = store.sid_for("erin.old@example.net")
    imap.deliver(sample("exim_5.1.1_verp.eml").replace(b"TOKEN", sid.encode()), mailbox=mailbox)
    assert fetch(settings, imap).hard == 1
    assert state_of(settings, "erin.old@example.net") == "bounced"
    assert state_of(settings, "erin@example.net") is None  # the report's own recipient is not a reader


def test_message_id_maps_a_forwarded_bounce_through_the_outbox(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """Gmail's DSN names only the forwarding target; digest's Message-ID finds carol in that issue's outbox rows."""
    settings = site_settings(tmp_path, imap, mailbox)
    outbox = Outbox.open(settings.state_path, clock=clock)
    try:
        outbox.add(ISSUE, "run-1", [("carol@example.net", "carol@example.net", None, None),
                                    ("zed@example.net", "zed@example.net", None, None)])
    finally:
        outbox.close()
    imap.deliver(sample("gmail_5.1.1_forwarded.eml"), mailbox=mailbox)
    assert fetch(settings, imap).hard == 1
    assert state_of(settings, "carol@example.net") == "bounced"  # a CSV recipient: a row, bounced
    assert state_of(settings, "zed@example.net") is None
    [entry] = list_bounces(settings, clock=clock).blocked
    assert entry.address == "carol@example.net"


def test_arf_abuse_report_marks_the_reader_complained(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """Yahoo's ARF report and Microsoft's JMRP report each mark their reader complained."""
    settings = site_settings(tmp_path, imap, mailbox)
    subscribe(settings, "dave@example.net", "heidi@example.org")
    imap.deliver(sample("yahoo_arf_abuse.eml"), sample("microsoft_jmrp_complaint.eml"), mailbox=mailbox)
    assert fetch(settings, imap).complaints == 2
    assert state_of(settings, "dave@example.net") == "complained"
    assert state_of(settings, "heidi@example.org") == "complained"


def test_soft_bounce_is_counted_not_blocked(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """A 4.2.2 mailbox-full delay adds to the reader's soft count and leaves them confirmed."""
    settings = site_settings(tmp_path, imap, mailbox)
    subscribe(settings, "frank@example.org")
    imap.deliver(sample("postfix_4.2.2_mailbox_full_delayed.eml"), mailbox=mailbox)
    assert fetch(settings, imap).soft == 1
    with SubscriberStore.open(settings, clock=clock) as store:
        frank = store.get("frank@example.org")
        assert frank is not None and (frank.state, frank.soft_bounces) == ("confirmed", 1)
        assert store.blocked_keys() == set()


def test_policy_rejection_5_7_1_does_not_mark(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """A 550 5.7.1 blocklist refusal is logged as rejected; the reader stays confirmed."""
    settings = site_settings(tmp_path, imap, mailbox)
    subscribe(settings, "grace@example.com")
    imap.deliver(sample("outlook_5.7.1_policy.eml"), mailbox=mailbox)
    summary = fetch(settings, imap)
    assert (summary.rejected, summary.hard) == (1, 0)
    assert state_of(settings, "grace@example.com") == "confirmed"


def test_unparsed_and_unmapped_are_filed_and_listed(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """An out-of-office reply and a DSN for an address digest never mailed are filed; `bounces list` shows both."""
    settings = site_settings(tmp_path, imap, mailbox)
    imap.deliver(sample("out_of_office.eml"), sample("postfix_5.1.1_user_unknown.eml"), mailbox=mailbox)
    summary = fetch(settings, imap)
    assert (summary.filed, summary.hard) == (2, 0)
    assert state_of(settings, "ghost@example.org") is None
    result = CliRunner().invoke(cli, ["bounces", "list", "--config", str(tmp_path / "config.yaml")])
    assert result.exit_code == 0, result.output
    assert "unparsed: an automatic reply" in result.output
    assert "unmapped: ghost@example.org: 5.1.1" in result.output
    assert "Automatic reply: Example Weekly" in result.output


def test_fetching_twice_does_not_count_twice(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """The same message read again (a crash between recording it and \\Seen) is recognised and not counted again."""
    settings = site_settings(tmp_path, imap, mailbox)
    subscribe(settings, "frank@example.org")
    raw = sample("postfix_4.2.2_mailbox_full_delayed.eml")
    imap.deliver(raw, mailbox=mailbox)
    assert fetch(settings, imap).soft == 1
    imap.deliver(raw, mailbox=mailbox)  # as if \Seen had never been set: the same message, unseen again
    second = fetch(settings, imap)
    assert (second.fetched, second.soft, second.repeated) == (1, 0, 1)
    with SubscriberStore.open(settings, clock=clock) as store:
        frank = store.get("frank@example.org")
        assert frank is not None and frank.soft_bounces == 1
    assert imap.unseen(mailbox) == 0


def test_bounces_forget_undoes_a_false_bounce(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """`digest bounces forget ADDR` makes a bounced reader confirmed again, through the CLI."""
    settings = site_settings(tmp_path, imap, mailbox)
    subscribe(settings, "ghost@example.org")
    imap.deliver(sample("postfix_5.1.1_user_unknown.eml"), mailbox=mailbox)
    config = str(tmp_path / "config.yaml")
    password = {"DIGEST_IMAP_PASSWORD": imap.password}
    result = CliRunner().invoke(cli, ["bounces", "fetch", "--config", config], env=password)
    assert result.exit_code == 0, result.output
    assert "ghost@example.org: bounced" in result.output and "1 bounced" in result.output
    result = CliRunner().invoke(cli, ["bounces", "forget", "ghost@example.org", "--config", config])
    assert result.exit_code == 0, result.output
    assert state_of(settings, "ghost@example.org") == "confirmed"
    again = CliRunner().invoke(cli, ["bounces", "forget", "ghost@example.org", "--config", config])
    assert again.exit_code == 1 and "nothing to forget" in again.output


def test_a_certificate_from_another_ca_is_a_one_line_error(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """A server certificate the configured CA did not sign: `Error:` naming the host and bounces.ca_file, exit 3."""
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    site_settings(tmp_path, imap, mailbox, ca_file=str(other))
    config, password = str(tmp_path / "config.yaml"), {"DIGEST_IMAP_PASSWORD": imap.password}
    result = CliRunner().invoke(cli, ["bounces", "fetch", "--config", config], env=password)
    assert result.exit_code == 3
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"Error: IMAP server {imap.host}:{imap.port}: certificate not trusted")
    assert "bounces.ca_file" in lines[1] and len(lines) == 2


def test_a_refused_login_names_the_user_and_the_setting(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """A wrong DIGEST_IMAP_PASSWORD: one line naming the server and the user, a hint naming the settings."""
    settings = site_settings(tmp_path, imap, mailbox)
    with pytest.raises(DigestError) as caught:
        fetch_bounces(settings, password="wrong", clock=clock)
    assert f"IMAP server {imap.host}:{imap.port} refused the login of 'bounces'" in caught.value.message
    assert "DIGEST_IMAP_PASSWORD" in (caught.value.hint or "")


def test_an_unreachable_host_names_the_host_and_settings(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """Nothing listening on the port: "cannot connect to IMAP server HOST:PORT", the hint naming the keys."""
    from imap_server import free_port

    settings = site_settings(tmp_path, imap, mailbox, imap_port=free_port())
    with pytest.raises(DigestError) as caught:
        fetch_bounces(settings, password=imap.password, clock=clock)
    assert caught.value.message.startswith(f"cannot connect to IMAP server {imap.host}:{settings.bounces.imap_port}")
    assert "bounces.imap_host" in (caught.value.hint or "")


def test_starttls_on_the_plain_port_is_verified_too(tmp_path: Path, imap: Dovecot, mailbox: str) -> None:
    """security: starttls upgrades the plain port and checks the certificate: the right CA reads, another is refused."""
    settings = site_settings(tmp_path, imap, mailbox, security="starttls", imap_port=imap.plain_port)
    subscribe(settings, "ghost@example.org")
    imap.deliver(sample("postfix_5.1.1_user_unknown.eml"), mailbox=mailbox)
    assert fetch(settings, imap).hard == 1
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    wrong = site_settings(tmp_path, imap, mailbox, security="starttls", imap_port=imap.plain_port, ca_file=str(other))
    with pytest.raises(DigestError) as caught:
        fetch(wrong, imap)
    assert "certificate not trusted" in caught.value.message
