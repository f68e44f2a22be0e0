"""Settings: defaults, environment overrides, and errors that name the key and what was expected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from digest.cli.main import cli
from digest.config import SMTP_ENV, load_settings, settings_from_mapping, smtp_password
from digest.errors import ConfigError

# No DIGEST_SMTP_* from the machine running the tests (a CliRunner command reads os.environ).
CLEAN_ENV = dict.fromkeys(SMTP_ENV)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_config_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no config.yaml, the documented defaults apply."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.schedule.cron == "0 8 * * mon"
    assert settings.summary.tldr_max_chars == 280
    assert settings.state_path == tmp_path / ".digest" / "state.sqlite"


def test_wrong_type_names_key_expected_and_found(tmp_path: Path) -> None:
    """A port that is not a number names smtp.port, the expected type and the value."""
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "smtp:\n  port: many\n"), env={})
    assert "smtp.port" in str(err.value) and "integer" in str(err.value) and "'many'" in str(err.value)


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    """`site.timzone` is not a setting; did you mean site.timezone?"""
    with pytest.raises(ConfigError, match=r"did you mean 'site.timezone'"):
        load_settings(write(tmp_path, "site:\n  timzone: UTC\n"), env={})


def test_bad_time_zone_is_refused(tmp_path: Path) -> None:
    """An unknown IANA zone is a config error naming site.timezone."""
    with pytest.raises(ConfigError, match=r"site\.timezone"):
        load_settings(write(tmp_path, "site:\n  timezone: Mars/Olympus\n"), env={})


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    """Broken YAML gives the file and line."""
    with pytest.raises(ConfigError, match="line"):
        load_settings(write(tmp_path, "site:\n  title: [unclosed\n"), env={})


def test_environment_overrides_smtp_settings(tmp_path: Path) -> None:
    """DIGEST_SMTP_* variables win over config.yaml; the password comes only from the environment."""
    path = write(tmp_path, "smtp:\n  host: mail.example.com\n  port: 25\n")
    env = {"DIGEST_SMTP_HOST": "127.0.0.1", "DIGEST_SMTP_PORT": "2525", "DIGEST_SMTP_SECURITY": "none",
           "DIGEST_SMTP_PASSWORD": "s3cret"}
    settings = load_settings(path, env=env)
    assert (settings.smtp.host, settings.smtp.port, settings.smtp.security) == ("127.0.0.1", 2525, "none")
    assert smtp_password(env) == "s3cret"
    assert "s3cret" not in repr(settings)


def test_relative_paths_are_read_from_the_config_folder(tmp_path: Path) -> None:
    """content: and out: are relative to config.yaml, not to the working directory."""
    settings = load_settings(write(tmp_path, "content: site/content\nout: built\n"), env={})
    assert settings.content_dir == tmp_path / "site" / "content"
    assert settings.out_dir == tmp_path / "built"


# -- point 12 of issue 10: every bad value is refused, by `digest check` and by every command ----

# (the key the error must name, the config.yaml text). Each passed `digest check` before.
BAD_VALUES = {
    "cron-minute-61": ("schedule.cron", "schedule:\n  cron: '61 8 * * mon'\n"),
    "cron-six-fields": ("schedule.cron", "schedule:\n  cron: '0 8 * * mon 2025'\n"),
    "cron-never-fires": ("schedule.cron", "schedule:\n  cron: '0 0 30 2 *'\n"),  # there is no February 30
    "timeout-0": ("smtp.timeout", "smtp:\n  timeout: 0\n"),
    "timeout-negative": ("smtp.timeout", "smtp:\n  timeout: -5\n"),
    "rate-negative": ("smtp.rate", "smtp:\n  rate: -1\n"),
    "retry-base-negative": ("smtp.retry_base_seconds", "smtp:\n  retry_base_seconds: -2\n"),
    "lookback-negative": ("schedule.lookback_days", "schedule:\n  lookback_days: -30\n"),
    "first-window-negative": ("schedule.first_window_days", "schedule:\n  first_window_days: -7\n"),
    "lateness-negative": ("schedule.max_lateness_hours", "schedule:\n  max_lateness_hours: -1\n"),
    "port-99999": ("smtp.port", "smtp:\n  port: 99999\n"),
    "base-url-no-host": ("site.base_url", "site:\n  base_url: 'https://'\n"),
    "language-unknown": ("site.language", "site:\n  language: xx\n"),
    "unsubscribe-javascript": (
        "mail.unsubscribe_url", "mail:\n  unsubscribe_url: 'javascript:alert(document.cookie)'\n"
    ),
    "unsubscribe-data": ("mail.unsubscribe_url", "mail:\n  unsubscribe_url: 'data:text/html,<script>x()</script>'\n"),
    "duplicate-key": ("smtp.port", "smtp:\n  port: 25\n  host: mail.example.com\n  port: 587\n"),
    "duplicate-top-key": ("content", "content: content\nout: issues\ncontent: elsewhere\n"),
}


def bad_site(tmp_path: Path, text: str) -> Path:
    """A site whose config.yaml is `text` after a valid site section (keys in `text` win)."""
    (tmp_path / "content").mkdir(exist_ok=True)
    head = "" if text.startswith("site:") else "site:\n  base_url: https://news.example.com\n  timezone: UTC\n"
    return write(tmp_path, head + text)


def one_problem(output: str, key: str) -> str:
    lines = [line for line in output.splitlines() if key in line]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize("case", BAD_VALUES)
def test_check_rejects_each_bad_value(tmp_path: Path, case: str) -> None:
    """`digest check` exits 1 with one line naming the key (and the lines, for a duplicate key)."""
    key, text = BAD_VALUES[case]
    config = bad_site(tmp_path, text)
    result = CliRunner().invoke(cli, ["check", "--config", str(config)], env=CLEAN_ENV)
    assert result.exit_code == 1, result.output
    line = one_problem(result.output, f"'{key}'")
    assert str(config) in line
    if case.startswith("duplicate"):
        assert re.search(rf"line \d+: key '{key}' appears twice \(first on line \d+\)", line), line


@pytest.mark.parametrize("case", BAD_VALUES)
def test_build_send_and_schedule_refuse_each_bad_value(tmp_path: Path, case: str) -> None:
    """The same validation runs for every command: each stops with one `Error:` line naming the key."""
    key, text = BAD_VALUES[case]
    config = str(bad_site(tmp_path, text))
    for args in (
        ["build", "--since", "2025-06-30", "--until", "2025-07-07"],
        ["send", "some-issue", "--to", "reader@example.org"],
        ["schedule", "--run-once", "--at", "2025-07-07T08:01:00+00:00"],
        ["schedule", "--next", "2"],
    ):
        result = CliRunner().invoke(cli, [*args, "--config", config], env=CLEAN_ENV)
        assert result.exit_code == 2, (args, result.output)
        assert isinstance(result.exception, SystemExit), (args, result.exception)
        line = one_problem(result.stderr, f"'{key}'")
        assert line.startswith(f"Error: {config}"), line


ENV_VALUES = [
    ("DIGEST_SMTP_PORT", "99999"),
    ("DIGEST_SMTP_PORT", "many"),
    ("DIGEST_SMTP_SECURITY", "tls"),
]


@pytest.mark.parametrize(("var", "value"), ENV_VALUES)
def test_a_bad_environment_value_is_blamed_on_its_variable(tmp_path: Path, var: str, value: str) -> None:
    """A bad DIGEST_SMTP_* names the variable, not config.yaml (which is fine), in check and in send."""
    config = str(write(tmp_path, "smtp:\n  host: mail.example.com\n  port: 587\n  security: starttls\n"))
    (tmp_path / "content").mkdir()
    env = {**CLEAN_ENV, var: value}
    checked = CliRunner().invoke(cli, ["check", "--config", config], env=env)
    assert checked.exit_code == 1, checked.output
    line = one_problem(checked.output, var)
    assert config not in line and (f"found {value!r}" in line or f"found {value}" in line)
    sent = CliRunner().invoke(cli, ["send", "some-issue", "--to", "reader@example.org", "--config", config], env=env)
    assert sent.exit_code == 2, sent.output
    line = one_problem(sent.stderr, var)
    assert line.startswith(f"Error: environment variable {var}") and config not in line


def test_a_bad_file_value_is_blamed_on_the_file_while_the_environment_sets_others(tmp_path: Path) -> None:
    """A bad value in config.yaml is still blamed on config.yaml when the environment sets other keys."""
    config = write(tmp_path, "smtp:\n  port: 99999\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={"DIGEST_SMTP_HOST": "127.0.0.1"})
    assert str(err.value).startswith(f"{config}: config key 'smtp.port'")


def test_duplicate_keys_name_the_key_and_both_lines(tmp_path: Path) -> None:
    """PyYAML would keep the second `port:` silently; digest names smtp.port and lines 2 and 4."""
    config = write(tmp_path, "smtp:\n  port: 25\n  host: mail.example.com\n  port: 587\n")
    with pytest.raises(ConfigError) as err:
        load_settings(config, env={})
    assert str(err.value) == (
        f"{config}: line 4: key 'smtp.port' appears twice (first on line 2); YAML would keep only the last one"
    )


def test_a_yaml_merge_key_may_override_without_being_a_duplicate(tmp_path: Path) -> None:
    """`<<: *defaults` then a key of its own is YAML's way to override, not a duplicate."""
    config = write(tmp_path, "base: &b {port: 25, host: a.example}\nsmtp:\n  <<: *b\n  port: 2525\n")
    with pytest.raises(ConfigError, match="'base' is not a setting"):
        load_settings(config, env={})
    config = write(tmp_path, "smtp: &b\n  port: 25\n  <<: {host: a.example, port: 26}\n")
    assert load_settings(config, env={}).smtp.port == 25


def test_check_says_a_content_file_is_not_a_folder(tmp_path: Path) -> None:
    """`content:` naming a file: "is a file, not a folder" rather than "does not exist", in check and build."""
    (tmp_path / "notes.md").write_text("---\ntitle: x\n---\n", encoding="utf-8")
    config = str(write(tmp_path, "content: notes.md\n"))
    checked = CliRunner().invoke(cli, ["check", "--config", config], env=CLEAN_ENV)
    assert checked.exit_code == 1 and "notes.md is a file, not a folder" in checked.output, checked.output
    built = CliRunner().invoke(cli, ["build", "--since", "2025-06-30", "--config", config], env=CLEAN_ENV)
    assert built.exit_code == 1 and "notes.md is a file, not a folder" in built.stderr, built.output


def test_connections_are_checked_against_the_open_file_limit() -> None:
    """More connections than this process has open files for is refused, naming the limit."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"smtp": {"connections": soft}})
    assert "smtp.connections" in err.value.message and f"limit of {soft}" in err.value.message
    assert err.value.hint and "ulimit -n" in err.value.hint
    assert settings_from_mapping({"smtp": {"connections": 8}}).smtp.connections == 8


# Plain crontab syntax is checked without importing APScheduler; it must agree with APScheduler.
def _cron_field(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """Items of one field, mostly near its range so that valid, invalid and never-firing all come up."""
    number = st.integers(max(low - 1, 0), high + 1).map(str)
    item = st.one_of(
        st.just("*"),
        number,
        st.tuples(number, number).map("-".join),
        st.tuples(st.one_of(st.just("*"), number, st.tuples(number, number).map("-".join)),
                  st.integers(0, high + 2)).map(lambda t: f"{t[0]}/{t[1]}"),
        *([st.sampled_from(names), st.tuples(st.sampled_from(names), st.sampled_from(names)).map("-".join)]
          if names else []),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


_CRON = st.tuples(
    _cron_field(0, 59), _cron_field(0, 23), _cron_field(1, 31) | st.sampled_from(["29", "30", "31", "30,31"]),
    _cron_field(1, 12, ("jan", "feb", "apr", "jun", "sep", "nov", "dec"))
    | st.sampled_from(["2", "feb", "4,6", "2,11"]),
    _cron_field(0, 7, ("mon", "wed", "fri", "sun", "xyz")),
).map(" ".join)


@hyp_settings(max_examples=300, deadline=None)
@given(_CRON)
@example("0-0/1 8 * * mon")  # APScheduler reads a range ending at 0 as running to the field's end
@example("0 8 29 feb *")  # fires on leap days only, but fires
@example("0 8 31 4,6,9,11 *")  # never
def test_plain_cron_check_agrees_with_apscheduler(expr: str) -> None:
    """Refused exactly when APScheduler refuses it; "never fires" exactly when APScheduler finds no tick."""
    from datetime import datetime, timezone

    from apscheduler.triggers.cron import CronTrigger

    from digest.cron import _NotPlain, crontab_weekdays_as_names, plain_cron_problem

    try:
        mine = plain_cron_problem(expr)
    except _NotPlain:
        return
    try:
        trigger = CronTrigger.from_crontab(crontab_weekdays_as_names(expr), timezone=timezone.utc)
    except ValueError:
        assert mine is not None and "never fires" not in mine, expr
        return
    never = trigger.get_next_fire_time(None, datetime(2025, 1, 1, tzinfo=timezone.utc)) is None
    assert (mine is not None) == never, (expr, mine)


@pytest.mark.parametrize(
    ("expr", "weekdays"),
    [("0 8 * * 1", {0}), ("0 8 * * 0", {6}), ("0 8 * * 7", {6}), ("0 8 * * 1-5", {0, 1, 2, 3, 4}),
     ("0 8 * * 5-7", {4, 5, 6}), ("0 8 * * */2", {6, 1, 3, 5}), ("0 8 * * mon", {0}), ("0 8 * * sat,0", {5, 6})],
)
def test_cron_day_of_week_numbers_mean_what_crontab_means(expr: str, weekdays: set[int]) -> None:
    """`* * * * 1` is Monday and 0 or 7 is Sunday, as in crontab (APScheduler 3 alone reads 0 as Monday)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from digest.cron import cron_trigger
    from digest.schedule.ticks import ticks_between

    tz = ZoneInfo("Europe/Berlin")
    start = datetime(2025, 6, 2, tzinfo=tz)  # a Monday
    ticks = ticks_between(cron_trigger(expr, tz), start, start + timedelta(days=14))
    assert {t.weekday() for t in ticks} == weekdays


def test_the_config_names_the_languages_the_renderer_has_labels_for() -> None:
    """config_rules.LABELLED_LANGUAGES (the config cannot import the render wing) lists exactly render's LABELS."""
    from digest.config_rules import LABELLED_LANGUAGES
    from digest.render.i18n import LABELS

    assert sorted(LABELLED_LANGUAGES) == sorted(LABELS)
