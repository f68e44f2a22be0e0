"""`digest subscribers …` as a site owner runs it, and `digest check` on the signing secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures" / "subscribers"
GOOD_SECRET = "f3b1c9e07a5d42e8b6c0d9a1e7f25c3b8d4a6e0f1c2b3a4d"


def digest(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DIGEST_SECRET", "DIGEST_UNSUBSCRIBE_SECRET")}
    return subprocess.run([sys.executable, "-m", "digest", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**clean, **(env or {})}, check=False)


def site(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "content").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.yaml").write_text(
        "site:\n  base_url: https://news.example.com\nstate: state.sqlite\n" + extra, encoding="utf-8")
    return tmp_path


def test_import_names_each_bad_row_by_file_and_line_and_imports_the_rest(tmp_path: Path) -> None:
    """One `Error: FILE:LINE: …` line per bad row, then what was added and skipped, the counts, exit 1."""
    root = site(tmp_path)
    path = root / "list.csv"
    path.write_text("email,name\nann@example.org,Ann\nnot an address,X\nbob@example.org,Bob\n"
                    "carol@example.org;dan@example.org,\n", encoding="utf-8")
    run = digest(root, "subscribers", "import", str(path))
    errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {path}:3: 'not an address': not an email address; skipped",
                      f"Error: {path}:5: 'carol@example.org;dan@example.org': not exactly one address (one @); skipped"]
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stdout.splitlines() == ["Added: ann@example.org", "Added: bob@example.org"]
    assert f"{path} (csv): 2 added, 0 updated, 0 skipped, 2 rows not read (above)." in run.stderr
    listed = digest(root, "subscribers", "list")
    assert [line.split(" ")[0] for line in listed.stdout.splitlines()] == ["ann@example.org", "bob@example.org"]


def test_import_dry_run_changes_nothing_and_a_second_import_skips_with_why(tmp_path: Path) -> None:
    """--dry-run reports and writes nothing; importing Mailchimp's subscribed file after its unsubscribed one
    leaves the unsubscribed reader out, saying why."""
    root = site(tmp_path)
    subscribed = FIXTURES / "subscribed_members_export_3f2a1b.csv"
    dry = digest(root, "subscribers", "import", str(subscribed), "--dry-run")
    assert "Added: ann.lee@example.org" in dry.stdout and "(dry run: nothing changed)" in dry.stderr
    assert digest(root, "subscribers", "list").stdout == ""
    first = digest(root, "subscribers", "import", str(FIXTURES / "unsubscribed_members_export_3f2a1b.csv"))
    assert first.returncode == 0 and "(mailchimp): 2 added" in first.stderr
    extra = root / "subscribed_members_export_more.csv"
    extra.write_text(subscribed.read_text(encoding="utf-8") + "dave@example.org,Dave,Moss" + "," * 21 + "\n",
                     encoding="utf-8")
    again = digest(root, "subscribers", "import", str(extra), "--from", "mailchimp")
    assert f"Skipped: dave@example.org: {extra}:6 (mailchimp, confirmed): unsubscribed here since" in again.stdout
    shown = digest(root, "subscribers", "show", "dave@example.org")
    assert shown.stdout.startswith("dave@example.org (Dave Moss): unsubscribed, every topic")
    assert "new, unsubscribed (import)" in shown.stdout


def test_add_remove_show_list_and_export(tmp_path: Path) -> None:
    """The owner's commands: add, change, remove (kept as unsubscribed, not re-added), show its history, export."""
    root = site(tmp_path)
    assert digest(root, "subscribers", "add", "ann@example.org", "--name", "Ann", "--topic", "AI").stdout.startswith(
        "Added: ann@example.org (Ann): confirmed, AI")
    assert digest(root, "subscribers", "add", "ann@example.org", "--name", "Ann").stdout.startswith("Updated:")
    assert digest(root, "subscribers", "remove", "ann@example.org").stdout == "Unsubscribed ann@example.org.\n"
    assert digest(root, "subscribers", "remove", "ann@example.org").stdout.endswith("already unsubscribed.\n")
    readd = digest(root, "subscribers", "add", "ann@example.org")
    assert readd.returncode == 1 and readd.stderr.startswith("Error: ann@example.org is unsubscribed since")
    bad = digest(root, "subscribers", "add", "ann@example.org\nBcc: x@evil.example")
    assert bad.returncode == 1 and bad.stderr.count("\n") <= 2 and "line break" in bad.stderr
    shown = digest(root, "subscribers", "show", "ANN@example.org").stdout.splitlines()
    assert [line.split("  ")[-1] for line in shown[2:]] == [
        "new, confirmed (command): added by command", "confirmed -> confirmed (command): changed by command",
        "confirmed -> unsubscribed (command): removed by command"]
    assert digest(root, "subscribers", "list", "--state", "confirmed").stdout == ""
    out = root / "out.json"
    assert digest(root, "subscribers", "export", "--format", "json", "-o", str(out)).returncode == 0
    assert [(s["email"], s["state"]) for s in json.loads(out.read_text())["subscribers"]] == [
        ("ann@example.org", "unsubscribed")]
    missing = digest(root, "subscribers", "show", "nobody@example.org")
    assert missing.returncode == 1 and "not in the subscriber list" in missing.stderr


def test_check_reports_a_missing_or_weak_secret_only_when_something_needs_one(tmp_path: Path) -> None:
    """subscribe.public_url without a secret, or with a short one: a `digest check` problem; with none needed,
    no word; the secret's value is never printed."""
    plain = site(tmp_path / "plain")
    assert "secret" not in digest(plain, "check").stdout
    served = site(tmp_path / "served", "subscribe:\n  public_url: https://news.example.com/newsletter\n")
    missing = digest(served, "check")
    assert missing.returncode == 1 and "no secret to sign readers' links" in missing.stdout
    assert "subscribe.public_url is set" in missing.stdout
    weak = digest(served, "check", env={"DIGEST_SECRET": "hunter2hunter2"})
    assert weak.returncode == 1 and "DIGEST_SECRET is weak: 14 bytes" in weak.stdout and "hunter2" not in weak.stdout
    good = digest(served, "check", env={"DIGEST_SECRET": GOOD_SECRET})
    assert good.returncode == 0 and "secret" not in good.stdout, good.stdout
    old = digest(served, "check", env={"DIGEST_UNSUBSCRIBE_SECRET": GOOD_SECRET})
    assert old.returncode == 0 and "Warning: DIGEST_UNSUBSCRIBE_SECRET is the old name" in old.stderr
    (served / "key").write_text(GOOD_SECRET + "\n", encoding="utf-8")
    (served / "config.yaml").write_text((served / "config.yaml").read_text() + "secret_file: key\n")
    assert digest(served, "check").returncode == 0
    (served / "key").unlink()
    unreadable = digest(served, "check")
    assert unreadable.returncode == 1 and "secret_file" in unreadable.stdout and "cannot read" in unreadable.stdout


def test_the_cli_offers_the_store_s_states_and_formats_and_never_imports_state() -> None:
    """cli/subscribers.py spells the states and formats out (the store loads lazily): they are the store's;
    and it reaches the store only through digest.pipeline.subscribers (CONTRIBUTING.md, rule 2)."""
    from digest.cli import subscribers as cli
    from digest.pipeline import subscribers as pipeline

    assert cli.STATES == pipeline.STATES and cli.FORMATS == pipeline.FORMATS
    source = Path(cli.__file__).read_text(encoding="utf-8")
    assert "from digest.state" not in source and "import digest.state" not in source


def test_export_guards_formulas_and_import_reads_them_back(tmp_path: Path) -> None:
    """`export --format csv` of a name a spreadsheet would run writes it as text ('=…); importing that file
    into another list gives the same name back."""
    root = site(tmp_path / "a")
    evil = '=HYPERLINK("https://evil.example/","Click")'
    assert digest(root, "subscribers", "add", "ann@example.org", "--name", evil).returncode == 0
    assert digest(root, "subscribers", "add", "--name", "@SUM(A1)", "--", "-x@example.org").returncode == 0
    out = root / "list.csv"
    assert digest(root, "subscribers", "export", "-o", str(out)).returncode == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("'-x@example.org,'@SUM(A1),confirmed,")
    assert lines[2].startswith('ann@example.org,"\'=HYPERLINK(""https://evil.example/"",""Click"")",confirmed,')
    other = site(tmp_path / "b")
    assert digest(other, "subscribers", "import", str(out)).returncode == 0
    assert digest(other, "subscribers", "export").stdout == out.read_text(encoding="utf-8")
    shown = digest(other, "subscribers", "show", "ann@example.org").stdout
    assert shown.startswith(f"ann@example.org ({evil}): confirmed")
