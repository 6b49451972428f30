"""Server specs, clock.* settings and the judgement, without any NTP traffic."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from neruba_harden.checks.clock import (
    DriftOptions,
    NtpServer,
    ServerResult,
    drift_options,
    judge,
    parse_server,
)
from neruba_harden.config import Settings
from neruba_harden.errors import ConfigError
from neruba_harden.findings import Status


@pytest.mark.parametrize(
    ("spec", "host", "port"),
    [
        ("pool.ntp.org", "pool.ntp.org", 123),
        ("time.example.com:1123", "time.example.com", 1123),
        ("127.0.0.1:5", "127.0.0.1", 5),
        ("[::1]:123", "::1", 123),
        ("[::1]", "::1", 123),
        ("[fe80::1%eth0]:1123", "fe80::1%eth0", 1123),
        ("2001:db8::1", "2001:db8::1", 123),
        ("  ntp1 ", "ntp1", 123),
    ],
)
def test_parse_server(spec: str, host: str, port: int) -> None:
    assert parse_server(spec) == NtpServer(host, port)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("ntp:abc", "port 'abc' is not a number"),
        ("ntp:", "port '' is not a number"),
        ("ntp:70000", "out of range"),
        ("ntp:0", "out of range"),
        ("[::1]:x", "port 'x' is not a number"),
        ("[::1", "missing ']'"),
        ("[::1]123", "expected ':PORT'"),
        ("[nothost]:123", "not an IPv6 address"),
        ("a:b:c", "write an IPv6 address as [ADDRESS]:PORT"),
        (":123", "missing host"),
        ("", "empty server"),
    ],
)
def test_parse_server_rejects(spec: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_server(spec)
    assert reason in str(info.value)


def test_labels_bracket_ipv6() -> None:
    assert NtpServer("::1", 1123).label == "[::1]:1123"
    assert NtpServer("ntp", 123).label == "ntp:123"


def test_defaults() -> None:
    options = drift_options(Settings({"clock": {"servers": ["a", "a:123", "b"]}}))
    assert options.servers == (NtpServer("a"), NtpServer("b"))  # duplicates dropped
    assert (options.warn_s, options.fail_s, options.timeout_s) == (0.5, 5.0, 2.0)
    assert (options.tolerance_s, options.jwt_leeway_s) == (300.0, 60.0)


def test_servers_from_an_environment_variable_are_comma_separated() -> None:
    settings = Settings({"clock": {"servers": "a:1123, [::1]:9"}})
    assert drift_options(settings).servers == (NtpServer("a", 1123), NtpServer("::1", 9))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"clock": {"servers": ["ntp:abc"]}}, "key 'clock.servers' has a bad server"),
        ({"clock": {"warn": 2, "fail": 1}}, "key 'clock.warn'"),
        ({"clock": {"fail": 0}}, "key 'clock.fail' must be greater than 0"),
        ({"clock": {"timeout": "soon"}}, "key 'clock.timeout' must be a number"),
        ({"tolerance": -1}, "key 'tolerance' must be greater than 0"),
        ({"clock": {"jwt_leeway": -1}}, "key 'clock.jwt_leeway' must be 0 or more"),
    ],
)
def test_bad_settings_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        drift_options(Settings(data, source=None))
    assert message in str(info.value)


def _answer(label: str, offset: float, **kw: object) -> ServerResult:
    host, _, port = label.rpartition(":")
    values: dict[str, object] = {"delay_s": 0.001, "stratum": 2, "leap": 0, "ref_id": "1.2.3.4"}
    values.update(kw)
    return ServerResult(NtpServer(host, int(port)), offset_s=offset, **values)  # type: ignore[arg-type]


OPTIONS = DriftOptions(servers=())


def test_judge_median_of_even_count() -> None:
    finding = judge([_answer("a:123", 0.2), _answer("b:123", 0.4)], OPTIONS)
    assert finding.status is Status.PASS
    assert finding.evidence["median_offset_s"] == pytest.approx(0.3)


def test_judge_kiss_of_death_is_unsynchronised() -> None:
    kod = _answer("k:123", 0.0, stratum=0, leap=0, ref_id="RATE",
                  unsynchronised="stratum 0 (kiss code RATE)")
    finding = judge([_answer("a:123", 0.01), kod], OPTIONS)
    assert finding.status is Status.WARN
    assert "k:123" in finding.summary


def test_judge_summaries_stay_on_one_short_line() -> None:
    silent = [
        ServerResult(NtpServer(f"very-long-ntp-server-name-{i}.example.com"), error="no response")
        for i in range(5)
    ]
    for results in (silent, [_answer("a:123", 0.0), *silent]):
        finding = judge(results, OPTIONS)
        assert len(finding.summary) < 80 and "\n" not in finding.summary


def test_a_stalled_query_is_abandoned_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    from neruba_harden.checks import clock

    def stall(server: NtpServer, timeout_s: float) -> ServerResult:
        time.sleep(5)  # a resolver that never returns within the timeout
        return ServerResult(server, error="late")

    monkeypatch.setattr(clock, "query_server", stall)
    started = time.monotonic()
    (result,) = clock.query_servers([NtpServer("stuck.example")], timeout_s=0.2, grace_s=0.1)
    assert time.monotonic() - started < 1.0
    assert result.error == "no answer within 0.3s (name resolution or network stalled)"


def test_importing_the_command_does_not_import_ntplib() -> None:
    code = (
        "import sys, neruba_harden.cli, neruba_harden.commands.clock, neruba_harden.checks.clock;"
        "sys.exit('ntplib' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0
