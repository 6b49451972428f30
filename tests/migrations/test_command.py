"""`neruba-harden migrations`: flags, exit codes, one-line faults, no password in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neruba_harden.cli import main
from tests.conftest import CANARY_DB_PASSWORD, assert_no_canary
from tests.migrations.conftest import ScriptDir, sqlite_url

FORMATS = ("text", "json", "junit", "sarif", "markdown")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_at_head_exits_0(scripts: ScriptDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scripts.add("a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url)
    code, out, _ = cli(capsys, "migrations", "--script-location", str(scripts.path), "--db", url)
    assert code == 0, out
    assert "pass   migrations.current" in out


def test_pending_exits_1_and_json_lists_pending(
    scripts: ScriptDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripts.add("a1").add("b2", "a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url, "a1")
    code, out, _ = cli(capsys, "migrations", "--script-location", str(scripts.path), "--db", url,
                       "--format", "json")
    assert code == 1
    data = json.loads(out)
    current = next(f for f in data["findings"] if f["check_id"] == "migrations.current")
    assert current["status"] == "fail"
    assert current["evidence"]["pending"] == ["b2"]
    assert data["exit_code"] == 1


def test_config_ini_is_taken_as_alembic_ini(
    scripts: ScriptDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripts.add("a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url)
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = %(here)s/migrations\nsqlalchemy.url = {url}\n")
    code, out, err = cli(capsys, "migrations", "--config", str(ini))
    assert code == 0, out + err
    code, out, err = cli(capsys, "migrations", "--alembic-ini", str(ini), "--format", "json")
    assert code == 0, out + err


def test_settings_from_the_configuration_file(
    scripts: ScriptDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scripts.add("a1").add("b2", "a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url, "a1")
    config = tmp_path / "neruba-harden.toml"
    config.write_text(
        f'[migrations]\nscript_location = "{scripts.path}"\n\n'
        f'[environments.staging.migrations]\ndb = "{url}"\n'
    )
    code, out, _ = cli(capsys, "migrations", "--config", str(config), "--env", "staging")
    assert code == 1
    assert "1 migration pending" in out


def test_malformed_migrations_key_exits_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "neruba-harden.toml"
    config.write_text("[migrations]\nscript_location = ['a', 'b']\n")
    code, out, err = cli(capsys, "migrations", "--config", str(config))
    assert code == 2
    assert out == ""
    assert str(config) in err and "migrations.script_location" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_unreachable_database_exits_3_without_the_password(
    scripts: ScriptDir, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scripts.add("a1")
    url = f"postgresql://app:{CANARY_DB_PASSWORD}@127.0.0.1:1/x"
    code, out, err = cli(capsys, "migrations", "--script-location", str(scripts.path),
                         "--db", url, "--format", fmt)
    assert code == 3
    assert "connection refused" in out
    assert_no_canary(out, err)
    output = tmp_path / "report.out"
    monkeypatch.setenv("NERUBA_HARDEN_MIGRATIONS__DB", url)
    code, out, err = cli(capsys, "migrations", "--script-location", str(scripts.path),
                         "--format", fmt, "--output", str(output))
    assert code == 3
    assert_no_canary(out, err, output.read_text())


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_unreachable_database_from_the_real_command_line(
    scripts: ScriptDir, tmp_path: Path, fmt: str
) -> None:
    # A real subprocess: stdout, stderr and exit code exactly as a pipeline sees them.
    scripts.add("a1")
    env = {**os.environ, "NERUBA_HARDEN_MIGRATIONS__DB":
           f"postgresql+psycopg://app:{CANARY_DB_PASSWORD}@127.0.0.1:1/x"}
    proc = subprocess.run(
        [sys.executable, "-m", "neruba_harden", "migrations", "--script-location",
         str(scripts.path), "--format", fmt, "--timeout", "5"],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "connection refused" in proc.stdout
    assert_no_canary(proc.stdout, proc.stderr)


def test_missing_script_directory_exits_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "migrations", "--script-location", str(tmp_path / "nope"),
                       "--db", sqlite_url(tmp_path))
    assert code == 3
    assert "ERROR  migrations.current      Alembic script directory not found" in out
    assert "Traceback" not in out


def test_nothing_configured_exits_0_with_skips(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "migrations")
    assert code == 0
    assert "3 checks: 3 skip (exit 0)" in out
