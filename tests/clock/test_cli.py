"""`neruba-harden clock`: exit codes, flags over configuration, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neruba_harden.cli import main
from tests.support.chrony import ChronyServer

pytestmark = pytest.mark.chrony


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray configuration: run from an empty folder with no NERUBA_HARDEN_* vars."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("NERUBA_HARDEN_"):
            monkeypatch.delenv(name)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["clock", *args])
    out, err = capsys.readouterr()
    code = exit_info.value.code
    assert isinstance(code, int)
    return code, out, err


def test_good_server_exits_0(capsys: pytest.CaptureFixture[str], ntp_good: ChronyServer) -> None:
    code, out, _ = run(capsys, "--server", ntp_good.address)
    assert code == 0
    assert "clock.drift" in out and "pass" in out


def test_skewed_server_exits_1(
    capsys: pytest.CaptureFixture[str], ntp_ahead_90: ChronyServer
) -> None:
    code, out, _ = run(capsys, "--server", ntp_ahead_90.address)
    assert code == 1
    assert "fail" in out and "behind" in out


def test_unreachable_exits_3_within_the_timeout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, ntp_closed: str
) -> None:
    monkeypatch.setenv("NERUBA_HARDEN_CLOCK__TIMEOUT", "0.5")
    started = time.monotonic()
    code, out, _ = run(capsys, "--server", ntp_closed)
    assert time.monotonic() - started < 2.0
    assert code == 3
    assert f"no NTP server answered: {ntp_closed}" in out


def test_warning_exits_0_or_1_under_strict(
    capsys: pytest.CaptureFixture[str], ntp_ahead_1: ChronyServer
) -> None:
    assert run(capsys, "--server", ntp_ahead_1.address)[0] == 0
    assert run(capsys, "--server", ntp_ahead_1.address, "--strict")[0] == 1
    assert run(capsys, "--server", ntp_ahead_1.address, "--warn", "2", "--strict")[0] == 0
    assert run(capsys, "--server", ntp_ahead_1.address, "--warn", "0.1", "--fail", "0.5")[0] == 1


@pytest.mark.parametrize(
    ("spec", "reason"),
    [("127.0.0.1:ntp", "port 'ntp' is not a number"), ("[::1]:x", "port 'x' is not a number")],
)
def test_bad_server_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], spec: str, reason: str
) -> None:
    code, out, err = run(capsys, "--server", spec)
    assert code == 2
    assert out == ""
    assert "Invalid value for '--server'" in err and reason in err
    assert "Traceback" not in err


def test_bad_configured_server_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "neruba-harden.toml"
    config.write_text('[clock]\nservers = ["ntp.example.com:abc"]\n', encoding="utf-8")
    code, out, err = run(capsys, "--config", str(config))
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert str(config) in err and "clock.servers" in err and "'abc' is not a number" in err


def test_flag_servers_replace_configured_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ntp_good: ChronyServer, ntp_closed: str
) -> None:
    config = tmp_path / "neruba-harden.toml"
    config.write_text(f'[clock]\nservers = ["{ntp_closed}"]\ntimeout = 0.5\n', encoding="utf-8")
    code, out, _ = run(capsys, "--config", str(config), "-f", "json", "--server", ntp_good.address)
    assert code == 0
    servers = json.loads(out)["findings"][0]["evidence"]["servers"]
    assert [s["port"] for s in servers] == [ntp_good.port]


def test_json_output_shape(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ntp_good: ChronyServer,
    ntp_unsynchronised: ChronyServer,
) -> None:
    target = tmp_path / "report.json"
    code, out, _ = run(
        capsys, "--server", ntp_good.address, "--server", ntp_unsynchronised.address,
        "--format", "json", "--output", str(target),
    )
    assert code == 0 and out == ""
    report = json.loads(target.read_text(encoding="utf-8"))
    assert report["title"] == "neruba-harden clock" and report["exit_code"] == 0
    assert report["counts"]["warn"] == 1
    (finding,) = report["findings"]
    assert finding["check_id"] == "clock.drift" and finding["status"] == "warn"
    assert finding["title"] == "Clock drift against NTP servers"
    evidence = finding["evidence"]
    assert {"servers", "median_offset_s", "webhook_headroom_s", "jwt_headroom_s",
            "tolerance_s", "jwt_leeway_s", "warn_s", "fail_s"} <= set(evidence)
    good, unsync = evidence["servers"]
    assert set(good) == {"host", "port", "status", "offset_s", "delay_s", "stratum", "leap",
                         "ref_id"}
    assert unsync["status"] == "unsynchronised" and unsync["leap"] == 3
    assert evidence["unsynchronised"] == [ntp_unsynchronised.address]


def test_no_servers_skips_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 0 and "no NTP servers configured" in out


def test_console_entry_point_bad_server() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "neruba_harden", "clock", "--server", "ntp:abc"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 2
    assert "port 'abc' is not a number" in proc.stderr
    assert "Traceback" not in proc.stderr
