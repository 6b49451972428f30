"""Bad targets give one clear `error` line per check, within a bounded time, never a crash."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.edge import apps
from tests.edge.run import run_area

AREAS = ("exposure", "transport", "proxy")


def run_all(overrides: dict[str, object], timeout: float = 6.0) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for area in AREAS:
        for check_id, f in run_area(area, overrides, timeout=timeout).items():
            found[check_id] = (f.status.value, f.summary)
    return found


@pytest.fixture(scope="module")
def plain_upstream() -> Iterator[str]:
    with apps.serving(apps.soft404_app) as url:
        yield url


def test_unreachable_target() -> None:
    port = apps.closed_port()
    found = run_all({"url": f"https://127.0.0.1:{port}/", "http_url": f"http://127.0.0.1:{port}/"})
    for check_id in ("exposure.docs", "exposure.debug", "transport.https-redirect",
                     "transport.hsts", "transport.tls", "proxy.host-header",
                     "proxy.forwarded-headers"):
        status, summary = found[check_id]
        assert status == "error", (check_id, summary)
        assert summary.startswith("connection refused by"), (check_id, summary)
    assert found["ingress.signature-chain"][0] == "skip"  # no secret configured


def test_dns_failure() -> None:
    found = run_all({"url": "https://neruba-no-such-host.invalid/"})
    for check_id in ("exposure.docs", "transport.tls", "transport.hsts", "proxy.host-header"):
        status, summary = found[check_id]
        assert status == "error", (check_id, summary)
        assert summary.startswith("DNS lookup failed for"), (check_id, summary)


def test_plain_http_port_used_as_https(plain_upstream: str) -> None:
    url = plain_upstream.replace("http://", "https://") + "/"
    found = run_all({"url": url, "http_url": plain_upstream + "/"})
    assert found["transport.tls"][0] == "error"
    assert found["transport.tls"][1].startswith("TLS handshake failed with 127.0.0.1:")
    assert found["transport.hsts"] == ("skip", "HTTPS handshake failed: see transport.tls")
    for check_id in ("exposure.docs", "exposure.debug", "proxy.host-header"):
        status, summary = found[check_id]
        assert status == "error" and summary.startswith("TLS handshake failed"), summary


def test_a_target_that_never_answers_times_out_in_bounded_time() -> None:
    with apps.silent_listener() as port:
        started = time.monotonic()
        found = run_all({"url": f"https://127.0.0.1:{port}/",
                         "http_url": f"http://127.0.0.1:{port}/"}, timeout=3.0)
        elapsed = time.monotonic() - started
    assert elapsed < 3 * 4.5, elapsed  # three areas, each bounded by its check timeout
    for check_id, (status, summary) in found.items():
        if check_id == "ingress.signature-chain":
            continue
        assert status == "error", (check_id, summary)
        assert "timed out" in summary or "timeout" in summary or "no complete answer" in summary, (
            check_id, summary)


def test_redirect_loop() -> None:
    with apps.serving(apps.redirect_loop_app) as url:
        found = run_all({"url": url + "/start"})
    for check_id in ("exposure.docs", "exposure.debug", "proxy.host-header",
                     "proxy.forwarded-headers"):
        status, summary = found[check_id]
        assert status == "error" and summary.startswith("redirect loop at"), (check_id, summary)


def test_huge_bodies_are_cut_and_reported() -> None:
    with apps.serving(apps.huge_body_app) as url:
        started = time.monotonic()
        found = run_area("exposure", {"url": url}, timeout=10.0)
        elapsed = time.monotonic() - started
    docs = found["exposure.docs"]
    assert docs.status.value == "error"
    assert docs.summary.startswith("could not verify")
    assert "body over 1048576 bytes" in docs.evidence["paths"]["/docs"]
    assert elapsed < 10


def test_a_missing_ca_bundle_is_a_configuration_error() -> None:
    found = run_all({"url": "https://127.0.0.1:9/", "ca_bundle": "/nonexistent/ca.pem"})
    for check_id in ("exposure.docs", "transport.tls", "proxy.host-header"):
        status, summary = found[check_id]
        assert status == "error" and "ca_bundle" in summary, (check_id, summary)
