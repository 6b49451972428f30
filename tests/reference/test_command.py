"""`neruba-harden reference serve|migrate`: the real CLI, faults as one line and exit 2."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from neruba_harden.commands.reference import reference
from neruba_harden.webhooks import sign_headers
from tests.reference.conftest import STRIPE_SECRET, encode, stripe_event


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(reference, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def _one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ")
    assert "Traceback" not in output
    return lines[0]


def test_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert _run("migrate", "--db", url) == (0, "database at revision 0002\n")
    assert _run("migrate", "--db", url) == (0, "database at revision 0002\n")


def test_migrate_db_from_a_secret_reference(tmp_path: Path) -> None:
    env = {"NERUBA_TEST_REF_DB": f"sqlite:///{tmp_path / 'r.db'}"}
    assert _run("migrate", "--db", "env:NERUBA_TEST_REF_DB", env=env)[0] == 0


@pytest.mark.parametrize(
    ("db", "expected"),
    [
        ("not a url", "not a database URL"),
        ("nosuchdb://x/y", "unusable database URL"),
        ("postgresql://postgres:CANARYpw@127.0.0.1:1/x", "database migration failed"),
        ("env:NERUBA_TEST_UNSET_DB", "NERUBA_TEST_UNSET_DB is not set"),
    ],
)
def test_migrate_faults_are_one_line(db: str, expected: str) -> None:
    code, output = _run("migrate", "--db", db)
    assert code == 2
    assert expected in _one_error_line(output)
    assert "CANARYpw" not in output


def test_serve_with_an_unresolvable_secret(tmp_path: Path) -> None:
    code, output = _run(
        "serve",
        "--port",
        "0",
        "--db",
        f"sqlite:///{tmp_path / 'r.db'}",
        "--secret",
        "env:NERUBA_TEST_UNSET_SECRET",
    )
    assert code == 2
    assert "NERUBA_TEST_UNSET_SECRET" in _one_error_line(output)


def test_serve_on_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = _run(
            "serve",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{tmp_path / 'r.db'}",
            "--secret",
            "env:NERUBA_TEST_SECRET",
            env={"NERUBA_TEST_SECRET": STRIPE_SECRET},
        )
    assert code == 2
    assert "cannot listen on" in _one_error_line(output)


def test_serve_with_the_database_down() -> None:
    code, output = _run(
        "serve",
        "--port",
        "0",
        "--db",
        "postgresql://postgres@127.0.0.1:1/x",
        "--secret",
        "env:NERUBA_TEST_SECRET",
        env={"NERUBA_TEST_SECRET": STRIPE_SECRET},
    )
    assert code == 2
    assert "database migration failed" in _one_error_line(output)


def test_unknown_fault_is_a_usage_error() -> None:
    result = CliRunner().invoke(
        reference,
        ["serve", "--port", "0", "--db", "sqlite:///x.db", "--secret", "env:X", "--fault", "nope"],
    )
    assert result.exit_code == 2 and "nope" in result.output


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, NERUBA_TEST_SECRET=STRIPE_SECRET, NERUBA_TEST_ADMIN="adm-token-77")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "neruba_harden",
            "reference",
            "serve",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{tmp_path / 'r.db'}",
            "--secret",
            "env:NERUBA_TEST_SECRET",
            "--admin-token",
            "env:NERUBA_TEST_ADMIN",
            "--fault",
            "status-only",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.05)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_serve_end_to_end(served: tuple[str, subprocess.Popen[str]]) -> None:
    base, proc = served
    event = stripe_event()
    body = encode(event)
    response = httpx.post(
        base + "/webhooks",
        content=body,
        headers=sign_headers("stripe", body, STRIPE_SECRET),
        timeout=10,
    )
    assert response.status_code == 200 and "outcome" not in response.json()
    back = httpx.get(
        base + f"/webhooks/events/{event['id']}",
        headers={"authorization": "Bearer adm-token-77"},
        timeout=10,
    )
    assert back.json()["side_effects"] == 1
    proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop, no traceback
    output, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, output
    assert "Application shutdown complete" in output
    assert f"event {event['id']} -> accepted (200)" in output
    assert "fault switches on: status-only" in output
    assert "reference receiver on http://127.0.0.1:" in output
    assert STRIPE_SECRET not in output and "adm-token-77" not in output
    assert "Traceback" not in output
