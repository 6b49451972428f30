"""clock.drift against real chronyd servers on loopback (faketime for the skews)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from neruba_harden.findings import Finding, Status
from tests.support.chrony import ChronyServer

pytestmark = pytest.mark.chrony

Run = Callable[..., Finding]


def test_good_server_passes_with_evidence(run_drift: Run, ntp_good: ChronyServer) -> None:
    finding = run_drift(ntp_good.address)
    assert finding.status is Status.PASS, finding
    assert len(finding.summary) < 80
    ev = finding.evidence
    (server,) = ev["servers"]
    assert server["host"] == "127.0.0.1" and server["port"] == ntp_good.port
    assert server["status"] == "ok" and server["leap"] == 0 and server["stratum"] == 8
    assert server["ref_id"] == "127.127.1.1"  # chronyd's local reference
    assert abs(server["offset_s"]) < 0.1 and 0 <= server["delay_s"] < 0.5
    assert abs(ev["median_offset_s"]) < 0.1
    assert ev["webhook_headroom_s"] == pytest.approx(300, abs=0.1)
    assert ev["jwt_headroom_s"] == pytest.approx(60, abs=0.1)
    assert ev["servers_used"] == 1


def test_host_90s_behind_fails(run_drift: Run, ntp_ahead_90: ChronyServer) -> None:
    finding = run_drift(ntp_ahead_90.address)
    assert finding.status is Status.FAIL, finding
    assert finding.evidence["median_offset_s"] == pytest.approx(90, abs=0.5)
    assert "90.0" in finding.summary and "behind" in finding.summary
    assert finding.evidence["webhook_headroom_s"] == pytest.approx(210, abs=0.5)
    assert finding.evidence["jwt_headroom_s"] == pytest.approx(-30, abs=0.5)
    assert "chronyd" in finding.hint and "300 s tolerance" in finding.hint


def test_host_90s_ahead_fails(run_drift: Run, ntp_behind_90: ChronyServer) -> None:
    finding = run_drift(ntp_behind_90.address)
    assert finding.status is Status.FAIL, finding
    assert finding.evidence["median_offset_s"] == pytest.approx(-90, abs=0.5)
    assert "ahead of" in finding.summary
    assert finding.evidence["webhook_headroom_s"] == pytest.approx(210, abs=0.5)


def test_one_second_off_warns_with_defaults(run_drift: Run, ntp_ahead_1: ChronyServer) -> None:
    finding = run_drift(ntp_ahead_1.address)
    assert finding.status is Status.WARN, finding
    assert finding.evidence["median_offset_s"] == pytest.approx(1, abs=0.25)
    assert "warn at 0.5 s" in finding.summary


def test_thresholds_come_from_settings(run_drift: Run, ntp_ahead_1: ChronyServer) -> None:
    assert run_drift(ntp_ahead_1.address, warn=2, fail=10).status is Status.PASS
    assert run_drift(ntp_ahead_1.address, warn=0.2, fail=0.8).status is Status.FAIL


def test_offset_beyond_tolerance_fails_whatever_the_thresholds(
    run_drift: Run, ntp_ahead_90: ChronyServer
) -> None:
    finding = run_drift(ntp_ahead_90.address, warn=100, fail=200, tolerance=60)
    assert finding.status is Status.FAIL
    assert "beyond the 60 s webhook tolerance" in finding.summary
    assert finding.evidence["webhook_headroom_s"] == pytest.approx(-30, abs=0.5)


def test_unreachable_errors_within_the_timeout(run_drift: Run, ntp_closed: str) -> None:
    started = time.monotonic()
    finding = run_drift(ntp_closed, timeout=0.5)
    elapsed = time.monotonic() - started
    assert finding.status is Status.ERROR
    assert finding.summary.startswith(f"no NTP server answered: {ntp_closed}")
    assert "no response within 0.5s" in finding.summary
    assert "\n" not in finding.summary and len(finding.summary) < 80
    assert elapsed < 1.5
    assert finding.evidence["servers"][0]["error"] == "no response within 0.5s"


def test_dns_failure_is_that_servers_error(run_drift: Run) -> None:
    finding = run_drift("no-such-host.invalid", timeout=0.5)
    assert finding.status is Status.ERROR
    error = finding.evidence["servers"][0]["error"]
    assert error.startswith("DNS lookup failed for no-such-host.invalid")
    assert "Traceback" not in error and "\n" not in finding.summary


def test_unsynchronised_server_is_set_aside_with_a_warning(
    run_drift: Run, ntp_good: ChronyServer, ntp_unsynchronised: ChronyServer
) -> None:
    finding = run_drift(ntp_good.address, ntp_unsynchronised.address)
    assert finding.status is Status.WARN, finding
    assert ntp_unsynchronised.address in finding.summary
    assert finding.evidence["unsynchronised"] == [ntp_unsynchronised.address]
    assert finding.evidence["servers_used"] == 1
    unsync = finding.evidence["servers"][1]
    assert unsync["status"] == "unsynchronised" and unsync["leap"] == 3
    assert "leap indicator 3" in unsync["unsynchronised"]
    assert ntp_unsynchronised.address in finding.hint


def test_only_unsynchronised_servers_cannot_verify(
    run_drift: Run, ntp_unsynchronised: ChronyServer
) -> None:
    finding = run_drift(ntp_unsynchronised.address)
    assert finding.status is Status.ERROR
    assert finding.summary.startswith("no synchronised NTP server answered")


def test_mixed_good_and_unreachable_passes_naming_the_silent_one(
    run_drift: Run, ntp_good: ChronyServer, ntp_closed: str
) -> None:
    started = time.monotonic()
    finding = run_drift(ntp_good.address, ntp_closed, timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert finding.status is Status.PASS, finding
    assert ntp_closed in finding.summary
    assert finding.evidence["unreachable"] == [ntp_closed]
    assert [s["status"] for s in finding.evidence["servers"]] == ["ok", "error"]


def test_median_outvotes_one_skewed_server(
    run_drift: Run, ntp_good: ChronyServer, ntp_ahead_1: ChronyServer,
    ntp_ahead_90: ChronyServer,
) -> None:
    finding = run_drift(ntp_good.address, ntp_ahead_1.address, ntp_ahead_90.address, warn=2)
    assert finding.status is Status.PASS, finding
    assert finding.evidence["median_offset_s"] == pytest.approx(1, abs=0.25)
    assert finding.evidence["spread_s"] == pytest.approx(90, abs=0.5)
    assert finding.evidence["servers_used"] == 3


def test_ipv6_literal_server(run_drift: Run, ntp_good_ipv6: ChronyServer) -> None:
    assert ntp_good_ipv6.address.startswith("[::1]:")
    finding = run_drift(ntp_good_ipv6.address)
    assert finding.status is Status.PASS, finding
    assert finding.evidence["servers"][0]["host"] == "::1"


def test_no_servers_skips(run_drift: Run) -> None:
    finding = run_drift()
    assert finding.status is Status.SKIP
    assert finding.summary == "no NTP servers configured"


@pytest.mark.parametrize("budget", [1.0, 2.0])
def test_query_timeout_fits_inside_the_check_budget(
    run_drift: Run, ntp_closed: str, budget: float
) -> None:
    started = time.monotonic()
    finding = run_drift(ntp_closed, timeout=10, timeout_s=budget)
    assert time.monotonic() - started < budget
    assert finding.status is Status.ERROR
    assert finding.evidence["timeout_s"] == pytest.approx(budget / 2)
    assert f"no response within {budget / 2:g}s" in finding.summary
