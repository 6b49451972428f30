"""Usage errors: one line on stderr, exit 2, and never a secret value echoed back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import CANARY_WEBHOOK_SECRET, assert_no_canary

CLI = [sys.executable, "-m", "neruba_harden"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_preflight_with_no_configuration_is_a_usage_error_not_a_pass(tmp_path: Path) -> None:
    done = run(["preflight"], tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "no configuration found" in done.stderr


def test_a_literal_secret_is_refused_without_being_echoed(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"id": "evt_1", "object": "event"}')
    done = run(["webhook", "sign", "--secret", CANARY_WEBHOOK_SECRET, str(event)], tmp_path)
    assert done.returncode == 2
    assert "--secret (key 'webhook_secret'): not a secret reference" in done.stderr
    assert "Traceback" not in done.stderr
    assert_no_canary(done.stdout, done.stderr)


def test_unknown_command_and_help(tmp_path: Path) -> None:
    assert run(["frobnicate"], tmp_path).returncode == 2
    helped = run(["--help"], tmp_path)
    assert helped.returncode == 0
    assert "preflight" in helped.stdout and "Exit codes" in helped.stdout
