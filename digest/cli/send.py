"""`digest send` and `digest status`: deliver a built issue through the outbox, and show what it recorded."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.options import config_options, pass_settings_keys, stop_on_signals
from digest.config import Settings
from digest.errors import DigestError

if TYPE_CHECKING:
    from digest.pipeline import send as send_pipeline

MAX_LINES = 50  # failure lines printed one by one; the rest are counted


def _echo_lines(lines: list[str], prefix: str = "") -> None:
    for line in lines[:MAX_LINES]:
        click.echo(f"{prefix}{line}", err=True)
    if len(lines) > MAX_LINES:
        click.echo(f"{prefix}… and {len(lines) - MAX_LINES} more (see `digest status`)", err=True)


@click.command()
@click.argument("issue")
@click.option("--to", "to", multiple=True, metavar="ADDR", help="Send to this address (repeatable).")
@click.option(
    "--recipients", "recipients_file", type=click.Path(dir_okay=False), metavar="FILE|subscribers",
    help="CSV of recipients: an `email` column, optional `name` and `topics` (separated by ; or ,); or the "
    "word `subscribers`: the confirmed readers of the subscriber store (`digest subscribers list`), each "
    "with their topics (a file of that name: ./subscribers). Default: mail.recipients from the config "
    "when no --to is given.",
)
@click.option(
    "--test", "test_to", metavar="ADDR",
    help="Send one copy to ADDR only, its subject starting `[TEST] `, straight to the server: not through "
    "the outbox, never recorded as anyone's delivery (a later real send still sends to ADDR); its "
    "unsubscribe link unsubscribes no one.",
)
@click.option("--dry-run", is_flag=True, help="List who would get what, and send nothing.")
@click.option(
    "--resend-ambiguous/--no-resend-ambiguous", default=True, show_default=True,
    help="Send once more to recipients whose message may or may not have been taken (a run died, or the "
    "connection was lost, between DATA and the server's reply): never more than once, with the same "
    "Message-ID, so a receiving system can drop the repeat. --no-resend-ambiguous prefers a miss to a repeat.",
)
@click.option(
    "--retry-failed", is_flag=True,
    help="Also send again to recipients that failed permanently (5xx), e.g. after fixing the sender or the "
    "server. Temporary failures that ran out of attempts are retried by every run without it.",
)
@click.option("--strict", is_flag=True, help="Refuse to send when any recipient address was malformed.")
@click.option(
    "--state-reset", is_flag=True,
    help="Go on although the state file is missing, empty or lacks sends that the issues' manifests record "
    "(digest refuses otherwise): readers who already had an issue may get it again.",
)
@config_options()
@pass_settings_keys
def send_command(
    settings: Settings, issue: str, to: tuple[str, ...], recipients_file: str | None, test_to: str | None,
    dry_run: bool, resend_ambiguous: bool, retry_failed: bool, strict: bool, state_reset: bool,
) -> None:
    """Send a built ISSUE (its id, or the path of its .html) over SMTP, one message per recipient.

    Every recipient is a row in the state database's outbox; rerunning the same command after
    any interruption sends only to those not yet sent, plus, once, to those left ambiguous
    (see --resend-ambiguous). Temporary failures are retried with back-off
    (smtp.max_attempts), and again by the next run when they run out of attempts; permanent
    ones are recorded and the run goes on (--retry-failed). SIGTERM or Ctrl-C finishes the
    message in flight, records where it stopped and exits. SMTP settings come from
    config.yaml and DIGEST_SMTP_HOST/PORT/SECURITY/USER/FROM; the password only from
    DIGEST_SMTP_PASSWORD. Addresses the subscriber store blocks (unsubscribed, bounced,
    complained) are skipped; an address the server says does not exist (5.1.x, 5.2.1) is
    marked bounced. Exit status: 0 when every recipient was sent (or skipped), 1 when any
    failed, is ambiguous or is left to do, 3 when the server is unreachable or refuses the login.
    """
    # Lazy: the pipeline (and smtplib, the renderer) load only for the command that sends.
    from digest.archive.manifest import load_issue
    from digest.cli.progress import SendProgress
    from digest.config import RECIPIENTS_SUBSCRIBERS
    from digest.pipeline import send as send_pipeline
    from digest.pipeline.audience import gather_recipients

    if test_to is not None:
        if to or recipients_file or dry_run or retry_failed:
            raise click.UsageError("--test sends the one test copy: no --to, --recipients, --dry-run or --retry-failed")
        proof = send_pipeline.send_test_copy(settings, issue, test_to, env=os.environ)
        _echo_lines(proof.warnings, "Warning: ")
        click.echo(proof.summary_line(), err=True)
        if proof.exit_code:
            raise SystemExit(proof.exit_code)
        return
    # A deleted or emptied state file must not resend.
    send_pipeline.check_state(settings, state_reset=state_reset, now=datetime.now(timezone.utc))
    subscribers = recipients_file == RECIPIENTS_SUBSCRIBERS
    csv_path: Path | None = Path(recipients_file) if recipients_file and not subscribers else None
    if csv_path is None and not subscribers and not to:
        if not settings.mail.recipients:
            raise click.UsageError(
                "say who gets the issue: --to ADDR, --recipients FILE|subscribers, or mail.recipients in config.yaml"
            )
        subscribers = settings.mail.recipients == RECIPIENTS_SUBSCRIBERS
        csv_path = None if subscribers else settings.path(settings.mail.recipients)
    loaded = load_issue(settings, issue)
    recipients = gather_recipients(settings, to, csv_path, subscribers=subscribers, clock=time.time)
    _echo_lines(recipients.problems, "Error: " if strict else "Warning: ")
    if strict and recipients.problems:
        raise DigestError(f"{len(recipients.problems)} recipient problems (--strict): nothing sent")
    if not recipients.recipients and not recipients.suppressed:
        if subscribers and not to and csv_path is None:
            click.echo("No confirmed subscriber in the store: nothing to send.", err=True)
            return
        raise click.UsageError("no valid recipient address")
    stop_event = threading.Event()
    with stop_on_signals(stop_event):
        sent = send_pipeline.send_built_issue(
            settings, loaded, recipients, dry_run=dry_run, resend_ambiguous=resend_ambiguous,
            retry_failed=retry_failed, stop_event=stop_event, env=os.environ,
            progress=lambda issue_id, total: SendProgress(issue_id, total),
        )
    report = sent.report
    for line in report.planned:
        click.echo(line)
    _echo_lines(report.warnings, "Warning: ")
    _echo_lines(report.failures)
    _echo_lines([f"{a}: the server says the mailbox does not exist: marked bounced" for a in report.bounced])
    if report.error:
        click.echo(f"Error: {report.error}", err=True)
    if report.ambiguous and not dry_run:
        again = (
            f"{report.resendable} of them will be sent again, once, by the next `digest send` without "
            "--no-resend-ambiguous" if report.resendable else "each was already sent again once, and is not sent again"
        )
        click.echo(f"{report.ambiguous} ambiguous: they may or may not have received the issue; {again}.", err=True)
    if report.exhausted and not dry_run:
        click.echo(
            f"{report.exhausted} out of attempts on temporary failures: the next run tries them again.", err=True
        )
    click.echo(report.summary_line(), err=True)
    if sent.archived:
        click.echo(f"Archived the issue as {sent.archived}", err=True)
    if report.stopped and not report.complete:
        click.echo("Stopped: run the same command again to finish the issue.", err=True)
    if report.exit_code:
        raise SystemExit(report.exit_code)


@click.command()
@click.argument("issue", required=False)
@click.option(
    "--all", "show_all", is_flag=True, help="With ISSUE: list every recipient not sent, not just the first 50."
)
@config_options(content=False)
@pass_settings_keys
def status_command(settings: Settings, issue: str | None, show_all: bool) -> None:
    """What the outbox recorded: for ISSUE, its counts and every recipient not sent; else the recent issues."""
    from digest.pipeline import send as send_pipeline

    if settings.state_url is None and not settings.state_path.exists():  # reading would create it
        path = settings.state_path
        if issue:
            click.echo(f"issue {issue}: nothing recorded (sent: 0) — no state database at {path}")
        else:
            click.echo(f"Nothing recorded yet: no state database at {path}.")
        return
    status = send_pipeline.send_status(settings, issue)
    if not issue:
        _echo_ticks(status)
    for line in [s.line() for s in status.summaries] or ["No issue has been sent yet."]:
        click.echo(line)
    if issue:
        rows = status.not_sent
        shown = rows if show_all else rows[:MAX_LINES]
        for row in shown:
            click.echo(f"  {row['state']}: {row['address']}: {row['reply'] or '-'} (attempts {row['attempts']})")
        if len(rows) > len(shown):
            click.echo(f"  … and {len(rows) - len(shown)} more (--all lists them)")


def _echo_ticks(status: send_pipeline.SendStatus) -> None:
    """The schedule's recent ticks, so that "nothing new this week" never reads as a failure."""
    if not status.ticks:
        return
    click.echo("Recent scheduled ticks:")
    for t in status.ticks:
        number = f"issue {t['number']}" if t["number"] else "no issue"
        sent_so_far = status.tick_progress.get(str(t["issue_id"])) if t["outcome"] != "sent" else None
        text = "; ".join(str(x) for x in (sent_so_far, t["detail"]) if x)
        detail = f" ({text})" if text and t["outcome"] != "written" else ""
        click.echo(f"  {t['tick']}: {t['outcome']}, {number}, {t['articles']} articles, "
                   f"{t['recipients']} recipients{detail}")
    click.echo("Issues sent:")
