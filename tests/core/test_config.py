"""Settings: files, environments, env vars and flags, and clear errors for bad config."""

from __future__ import annotations

from pathlib import Path

import pytest

from neruba_harden.config import load_settings
from neruba_harden.errors import ConfigError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_pyproject_table_is_found_from_a_subfolder(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.neruba-harden]\nurl = "https://a.example"\n')
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    settings = load_settings(cwd=sub, environ={})
    assert settings.get_str("url") == "https://a.example"
    assert settings.source == tmp_path / "pyproject.toml"


def test_named_environment_overlays_base_and_flags_win(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        "neruba-harden.toml",
        """
url = "https://dev.example"
burst = 5
[migrations]
db = "env:DEV_DB"
[environments.production]
url = "https://prod.example"
[environments.production.migrations]
db = "vault:kv/app#db"
""",
    )
    settings = load_settings(cfg, "production", {"burst": 9}, environ={})
    assert settings.get_str("url") == "https://prod.example"
    assert settings.get_str("migrations.db") == "vault:kv/app#db"
    assert settings.get_int("burst") == 9
    assert settings.is_production


def test_environment_variables_sit_between_file_and_flags(tmp_path: Path) -> None:
    cfg = write(tmp_path, "neruba-harden.toml", 'timeout = 3\n[clock]\nwarn = 0.5\n')
    environ = {"NERUBA_HARDEN_TIMEOUT": "7", "NERUBA_HARDEN_CLOCK__WARN": "1.5",
               "NERUBA_HARDEN_ENV": "staging"}
    settings = load_settings(cfg, None, {}, environ=environ)
    assert settings.get_float("timeout") == 7.0
    assert settings.get_float("clock.warn") == 1.5
    assert settings.env_name == "staging"
    assert not settings.is_production
    assert load_settings(cfg, None, {"timeout": 1}, environ=environ).get_float("timeout") == 1.0


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    cfg = write(tmp_path, "neruba-harden.toml", "url = \n")
    with pytest.raises(ConfigError, match=r"neruba-harden.toml: invalid TOML"):
        load_settings(cfg, environ={})


def test_wrong_type_names_file_and_key(tmp_path: Path) -> None:
    cfg = write(tmp_path, "neruba-harden.toml", 'timeout = "soon"\n')
    settings = load_settings(cfg, environ={})
    with pytest.raises(ConfigError, match=r"neruba-harden.toml: key 'timeout' must be a number"):
        settings.get_float("timeout")


def test_wrong_type_from_environment_names_the_variable(tmp_path: Path) -> None:
    settings = load_settings(None, environ={"NERUBA_HARDEN_BURST": "many"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="NERUBA_HARDEN_BURST"):
        settings.get_int("burst")


def test_unknown_environment_lists_the_known_ones(tmp_path: Path) -> None:
    cfg = write(tmp_path, "neruba-harden.toml", "[environments.staging]\n[environments.production]\n")
    with pytest.raises(ConfigError, match=r"'prod' is not defined \(defined: production, staging\)"):
        load_settings(cfg, "prod", environ={})


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_waivers_are_parsed_and_validated(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        "neruba-harden.toml",
        '[waive]\n"exposure.docs" = {reason = "internal only", until = 2027-01-31}\n',
    )
    (waiver,) = load_settings(cfg, environ={}).waivers
    assert (waiver.check_id, waiver.reason, waiver.until) == ("exposure.docs", "internal only", "2027-01-31")

    bad = write(tmp_path, "bad.toml", '[waive]\n"exposure.docs" = {reason = "x", until = "soon"}\n')
    with pytest.raises(ConfigError, match=r"waive.exposure.docs.until' must be a date"):
        load_settings(bad, environ={})
    no_reason = write(tmp_path, "nr.toml", '[waive]\n"exposure.docs" = {until = 2027-01-01}\n')
    with pytest.raises(ConfigError, match="reason' must be a non-empty string"):
        load_settings(no_reason, environ={})


def test_lists_accept_comma_separated_environment_values(tmp_path: Path) -> None:
    settings = load_settings(None, environ={"NERUBA_HARDEN_CLOCK__SERVERS": "a:123, b"}, cwd=tmp_path)
    assert settings.get_list("clock.servers") == ["a:123", "b"]


def test_a_misspelt_environment_is_refused_even_without_an_environments_table(
    tmp_path: Path,
) -> None:
    cfg = write(tmp_path, "neruba-harden.toml", 'url = "https://a.example"\n')
    with pytest.raises(ConfigError, match=r"environment 'producton' is not defined"):
        load_settings(cfg, "producton", environ={})
    assert load_settings(cfg, "prod", environ={}).is_production
    assert not load_settings(cfg, "staging", environ={}).is_production
