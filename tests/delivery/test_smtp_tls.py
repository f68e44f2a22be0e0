"""TLS and logins: certificates verified by default, no plain-text login off loopback, the password never shown."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from smtp_servers import Inbox, delivery_settings, fake_render, make_ca, make_issue, serve

from digest.delivery.smtp import SmtpBackend, is_loopback
from digest.errors import DeliveryError
from digest.pipeline.send import send_issue

PASSWORD = "correct horse battery staple"


@pytest.fixture
def ca(tmp_path: Path):  # noqa: ANN201
    return make_ca(tmp_path)


def test_starttls_with_the_test_ca_delivers(tmp_path: Path, ca) -> None:  # noqa: ANN001
    """STARTTLS verified against smtp.ca_file (a trustme CA): the messages arrive."""
    inbox = Inbox()
    with serve(inbox, starttls=ca.server_context) as port:
        settings = delivery_settings(tmp_path, port, smtp={"security": "starttls", "ca_file": str(ca.ca_file)})
        report = send_issue(settings, make_issue(), ["ann@example.org"], render=fake_render, env=os.environ)
    assert report.complete and inbox.counts() == {"ann@example.org": 1}


def test_starttls_refuses_an_untrusted_certificate(tmp_path: Path, ca) -> None:  # noqa: ANN001
    """Without the test CA the certificate is not trusted: a DeliveryError, nothing sent."""
    inbox = Inbox()
    with serve(inbox, starttls=ca.server_context) as port:
        settings = delivery_settings(tmp_path, port, smtp={"security": "starttls"})
        with pytest.raises(DeliveryError, match="certificate not trusted") as caught:
            send_issue(settings, make_issue(), ["ann@example.org"], render=fake_render, env=os.environ)
    assert "smtp.ca_file" in (caught.value.hint or "")
    assert inbox.received == []


def test_starttls_required_but_not_offered_is_an_error(tmp_path: Path) -> None:
    """security: starttls against a server without STARTTLS fails instead of sending in clear."""
    with serve(Inbox()) as port:
        settings = delivery_settings(tmp_path, port, smtp={"security": "starttls"})
        with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
            SmtpBackend(settings.smtp).open()


def test_implicit_tls_with_the_test_ca_delivers(tmp_path: Path, ca) -> None:  # noqa: ANN001
    """security: ssl (implicit TLS, port 465 style) verified against the test CA."""
    inbox = Inbox()
    with serve(inbox, implicit_tls=ca.server_context) as port:
        settings = delivery_settings(tmp_path, port, smtp={"security": "ssl", "ca_file": str(ca.ca_file)})
        report = send_issue(
            settings, make_issue(), ["ann@example.org", "bo@example.org"], render=fake_render, env=os.environ
        )
    assert report.complete and len(inbox.received) == 2


def test_login_over_starttls_with_the_password_from_the_environment(tmp_path: Path, ca) -> None:  # noqa: ANN001
    """AUTH after STARTTLS with DIGEST_SMTP_PASSWORD: delivered."""
    inbox = Inbox()
    with serve(inbox, starttls=ca.server_context, login=("digest", PASSWORD)) as port:
        settings = delivery_settings(
            tmp_path, port, smtp={"security": "starttls", "ca_file": str(ca.ca_file), "username": "digest"}
        )
        report = send_issue(
            settings, make_issue(), ["ann@example.org"], render=fake_render,
            env={"DIGEST_SMTP_PASSWORD": PASSWORD, "DIGEST_UNSUBSCRIBE_SECRET": "s3cret"},
        )
    assert report.complete and inbox.counts() == {"ann@example.org": 1}


def test_refused_login_is_one_line_without_the_password(tmp_path: Path, ca, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    """A wrong password: one-line DeliveryError naming the user, never the password; rows stay pending."""
    caplog.set_level(logging.DEBUG)
    wrong = "hunter2-not-it"
    with serve(Inbox(), starttls=ca.server_context, login=("digest", PASSWORD)) as port:
        settings = delivery_settings(
            tmp_path, port, smtp={"security": "starttls", "ca_file": str(ca.ca_file), "username": "digest"}
        )
        with pytest.raises(DeliveryError) as caught:
            send_issue(
                settings, make_issue(), ["ann@example.org"], render=fake_render,
                env={"DIGEST_SMTP_PASSWORD": wrong, "DIGEST_UNSUBSCRIBE_SECRET": "s3cret"},
            )
    text = f"{caught.value.message} {caught.value.hint} {caplog.text} {SmtpBackend(settings.smtp, wrong)!r}"
    assert "refused the login of 'digest'" in caught.value.message and "\n" not in caught.value.message
    assert wrong not in text


def test_login_over_plain_smtp_to_a_remote_host_is_refused_before_connecting(tmp_path: Path) -> None:
    """security: none with a username to a non-loopback host: refused without any connection attempt."""
    settings = delivery_settings(tmp_path, 587, smtp={"host": "smtp.example.com", "username": "digest"})
    backend = SmtpBackend(settings.smtp, PASSWORD)
    with pytest.raises(
        DeliveryError, match=re.escape("refusing to log in to smtp.example.com:587 over an unencrypted")
    ):
        backend.open()
    assert backend.conn is None


def test_login_over_plain_smtp_to_loopback_is_allowed(tmp_path: Path) -> None:
    """A local relay on 127.0.0.1 may take a plain-text login."""
    inbox = Inbox()
    with serve(inbox, login=("digest", PASSWORD), auth_require_tls=False) as port:
        settings = delivery_settings(tmp_path, port, smtp={"username": "digest"})
        report = send_issue(
            settings, make_issue(), ["ann@example.org"], render=fake_render,
            env={"DIGEST_SMTP_PASSWORD": PASSWORD, "DIGEST_UNSUBSCRIBE_SECRET": "s3cret"},
        )
    assert report.complete


def test_username_without_password_is_an_error(tmp_path: Path) -> None:
    """smtp.username set but DIGEST_SMTP_PASSWORD empty: a DeliveryError that says where the password comes from."""
    settings = delivery_settings(tmp_path, 25, smtp={"username": "digest"})
    with pytest.raises(DeliveryError, match="DIGEST_SMTP_PASSWORD is not set"):
        SmtpBackend(settings.smtp, None).open()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
     ("10.0.0.1", False), ("smtp.example.com", False), ("localhost.example.com", False)],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    """Only localhost and loopback addresses may take a plain-text login."""
    assert is_loopback(host) is loopback


def test_cli_send_with_a_refused_login_never_prints_the_password(
    tmp_path: Path, ca, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """`digest send` with a wrong password: `Error: …` in one line, exit 3, the password nowhere in the output."""
    import click

    from digest.archive.manifest import issue_to_manifest, write_manifest
    from digest.cli.send import send_command
    from digest.errors import DigestError

    class Group(click.Group):
        def invoke(self, ctx: click.Context):  # noqa: ANN201
            try:
                return super().invoke(ctx)
            except DigestError as exc:
                click.echo(f"Error: {exc.message}", err=True)
                ctx.exit(exc.exit_code)

    group = Group(commands={"send": send_command})
    wrong = "hunter2-not-it"
    with serve(Inbox(), starttls=ca.server_context, login=("digest", PASSWORD)) as port:
        settings = delivery_settings(tmp_path, port)
        issue = make_issue()
        settings.out_dir.mkdir(parents=True)
        write_manifest(settings.out_dir / f"{issue.issue_id}.json", issue_to_manifest(issue, "s", {}))
        (tmp_path / "config.yaml").write_text(
            f"site: {{base_url: 'https://news.example.com'}}\nout: issues\nstate: state.sqlite\n"
            f"smtp: {{host: 127.0.0.1, port: {port}, security: starttls, ca_file: '{ca.ca_file}', username: digest}}\n",
            encoding="utf-8",
        )
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("DIGEST_SMTP_PASSWORD", wrong)
        monkeypatch.setattr("digest.render.issue.render_issue", fake_render)
        result = CliRunner().invoke(group, ["send", issue.issue_id, "--to", "ann@example.org"])
    assert result.exit_code == 3, result.output
    assert "Error: SMTP server 127.0.0.1:" in result.output and "refused the login" in result.output
    assert wrong not in result.output
