"""Fixtures for the clock tests: real chronyd servers on loopback, some skewed.

Each server is started once per session on an ephemeral port and stopped at the end.
``offset`` is what the server's time is ahead of this host's (faketime's skew), so a
``+90 s`` server means this host's clock is 90 s behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from neruba_harden.config import Settings
from neruba_harden.findings import Finding
from neruba_harden.registry import CheckContext
from tests.conftest import require_binary, require_service
from tests.support.chrony import (
    ChronyServer,
    closed_udp_port,
    ipv6_loopback_available,
    start_chronyd,
)


@pytest.fixture(scope="session")
def chronyd_bin() -> str:
    return require_binary("chronyd")


@pytest.fixture(scope="session")
def faketime_bin() -> str:
    return require_binary("faketime")


def _serve(
    tmp_path_factory: pytest.TempPathFactory, name: str, chronyd: str, **kwargs: Any
) -> Iterator[ChronyServer]:
    server = start_chronyd(tmp_path_factory.mktemp(name), chronyd=chronyd, **kwargs)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ntp_good(tmp_path_factory: pytest.TempPathFactory, chronyd_bin: str) -> Iterator[ChronyServer]:
    """chronyd serving this host's own clock: offset ~0."""
    yield from _serve(tmp_path_factory, "chrony-good", chronyd_bin)


@pytest.fixture(scope="session")
def ntp_ahead_90(
    tmp_path_factory: pytest.TempPathFactory, chronyd_bin: str, faketime_bin: str
) -> Iterator[ChronyServer]:
    """chronyd under faketime +90 s: this host looks 90 s behind."""
    yield from _serve(tmp_path_factory, "chrony-plus90", chronyd_bin,
                      offset_s=90.0, faketime=faketime_bin)


@pytest.fixture(scope="session")
def ntp_behind_90(
    tmp_path_factory: pytest.TempPathFactory, chronyd_bin: str, faketime_bin: str
) -> Iterator[ChronyServer]:
    """chronyd under faketime -90 s: this host looks 90 s ahead."""
    yield from _serve(tmp_path_factory, "chrony-minus90", chronyd_bin,
                      offset_s=-90.0, faketime=faketime_bin)


@pytest.fixture(scope="session")
def ntp_ahead_1(
    tmp_path_factory: pytest.TempPathFactory, chronyd_bin: str, faketime_bin: str
) -> Iterator[ChronyServer]:
    """chronyd under faketime +1 s: between the default warn (0.5) and fail (5)."""
    yield from _serve(tmp_path_factory, "chrony-plus1", chronyd_bin,
                      offset_s=1.0, faketime=faketime_bin)


@pytest.fixture(scope="session")
def ntp_unsynchronised(
    tmp_path_factory: pytest.TempPathFactory, chronyd_bin: str
) -> Iterator[ChronyServer]:
    """chronyd with no source and no local stratum: answers with leap 3, stratum 0."""
    yield from _serve(tmp_path_factory, "chrony-unsync", chronyd_bin, synchronised=False)


@pytest.fixture(scope="session")
def ntp_good_ipv6(
    tmp_path_factory: pytest.TempPathFactory, chronyd_bin: str
) -> Iterator[ChronyServer]:
    """chronyd on [::1]."""
    require_service("IPv6 loopback", ipv6_loopback_available(), "cannot bind ::1")
    yield from _serve(tmp_path_factory, "chrony-ipv6", chronyd_bin, host="::1")


@pytest.fixture
def ntp_closed() -> str:
    """HOST:PORT of a loopback UDP port nobody listens on."""
    return f"127.0.0.1:{closed_udp_port()}"


@pytest.fixture
def run_drift() -> Callable[..., Finding]:
    """Run clock.drift over the given servers and settings; return its one finding."""
    from neruba_harden.checks.clock import clock_drift

    def run(
        *servers: str, timeout_s: float = 30.0, tolerance: float | None = None, **clock: Any
    ) -> Finding:
        data: dict[str, Any] = {"clock": {"servers": list(servers), **clock}}
        if tolerance is not None:
            data["tolerance"] = tolerance
        findings = clock_drift(CheckContext(Settings(data), timeout_s=timeout_s))
        assert isinstance(findings, list) and len(findings) == 1
        finding: Finding = findings[0]
        return finding

    return run
