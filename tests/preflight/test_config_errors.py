"""Malformed configuration: exit 2, one line on stderr naming the file and the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.preflight.conftest import Project, run_cli


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        ("[migrations\nscript_location = 'x'\n", (), ["invalid TOML", "line 1"]),
        ('timeout = "abc"\n', (), ["key 'timeout'", "must be a number", "'abc'"]),
        ("timeout = true\n", (), ["key 'timeout'", "boolean"]),
        ("[environments.staging]\ntimeout = 5\n", ("--env", "prod"),
         ["environment 'prod' is not defined", "staging"]),
        ('[waive]\n"migrations.current" = {reason = "r", until = "someday"}\n', (),
         ["key 'waive.migrations.current.until'", "YYYY-MM-DD"]),
        ('[waive]\n"migrations.current" = {reason = "", until = 2027-01-31}\n', (),
         ["key 'waive.migrations.current.reason'"]),
        ('[waive]\n"migrations.current" = "forever"\n', (),
         ["key 'waive.migrations.current'"]),
        ("[migrations]\nscript_location = 5.5\ndb = ['x']\n", (), ["key 'migrations.db'"]),
    ],
    ids=["bad-toml", "timeout-string", "timeout-bool", "unknown-env", "waiver-date",
         "waiver-reason", "waiver-shape", "migrations-db-type"],
)
def test_malformed_config_exits_2_with_one_line(
    project: Project, capsys: pytest.CaptureFixture[str],
    content: str, args: tuple[str, ...], expected: list[str],
) -> None:
    project.config.write_text(content, encoding="utf-8")
    code, out, err = run_cli(capsys, "preflight", "--config", str(project.config), *args)
    assert code == 2, out + err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"neruba-harden: error: {project.config}")
    for fragment in expected:
        assert fragment in lines[0]


def test_missing_config_file(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    missing = project.root / "nope.toml"
    code, _, err = run_cli(capsys, "preflight", "--config", str(missing))
    assert code == 2
    assert err.strip() == f"neruba-harden: error: {missing}: configuration file not found"


def test_bad_environment_variable_is_named(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NERUBA_HARDEN_TIMEOUT", "soon")
    code, _, err = run_cli(capsys, "preflight", "--config", str(project.config))
    assert code == 2
    assert "environment variable NERUBA_HARDEN_TIMEOUT" in err
    assert len(err.strip().splitlines()) == 1


def test_the_real_command_line_prints_no_traceback(project: Project) -> None:
    project.config.write_text('timeout = "abc"\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "neruba_harden", "preflight", "--config", str(project.config)],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("NERUBA_HARDEN_")},
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"neruba-harden: error: {project.config}: key 'timeout' must be a number, got 'abc'"]
