"""Settings: defaults, environment overrides, and errors that name the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.config import load_settings, smtp_password
from digest.errors import ConfigError


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
    with pytest.raises(ConfigError, match="site.timezone"):
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
