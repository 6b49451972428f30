"""proxy.host-header and proxy.forwarded-headers against edges that trust what they should not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge import apps, configs
from tests.edge.conftest import Edge, Edges, Pki
from tests.edge.run import run_area, status_of

pytestmark = pytest.mark.nginx

HOST_FROM_FORWARDED = (
    'map $http_x_forwarded_host $fwd_host { "" $host; default $http_x_forwarded_host; }'
)
TRUST_XFF = "set_real_ip_from 0.0.0.0/0; real_ip_header X-Forwarded-For;"


def proto_trusting_http(https: int, upstream: str) -> str:
    """Plain HTTP that redirects unless the client claims it came in over https."""
    return f"""
        location / {{
            if ($http_x_forwarded_proto != "https") {{
                return 301 https://$host:{https}$request_uri;
            }}
            proxy_pass {upstream};
        }}"""


@pytest.fixture(scope="module")
def reflecting_upstream() -> Iterator[str]:
    with apps.serving(apps.host_reflecting_app) as url:
        yield url


@pytest.fixture(scope="module")
def reflecting_edge(
    edges: Edges, pki: Pki, reflecting_upstream: str, status_file: Path
) -> Edge:
    """Passes X-Forwarded-Host through as the Host to an upstream that reflects it."""
    return edges.start("host-from-xfh", lambda https, http: configs.edge_with(
        https, http, pki.valid, reflecting_upstream, status_file, host="$fwd_host",
        http_extra=HOST_FROM_FORWARDED))


@pytest.fixture(scope="module")
def xff_edge(edges: Edges, pki: Pki, receiver: str, status_file: Path) -> Edge:
    """Trusts X-Forwarded-For from anyone, in front of an IP allow-listed admin route."""
    return edges.start("trust-xff", lambda https, http: configs.edge_with(
        https, http, pki.valid, receiver, status_file, server_extra=TRUST_XFF))


@pytest.fixture(scope="module")
def proto_edge(edges: Edges, pki: Pki, receiver: str, status_file: Path) -> Edge:
    return edges.start("trust-proto", lambda https, http: configs.edge_with(
        https, http, pki.valid, receiver, status_file,
        http_body=proto_trusting_http(https, receiver)))


def test_the_correct_edge_passes(good: Edge, pki: Pki) -> None:
    found = run_area("proxy", good.overrides(pki), only=("proxy.host-header",
                                                         "proxy.forwarded-headers"))
    assert status_of(found) == {"proxy.host-header": "pass", "proxy.forwarded-headers": "pass"}
    admin = found["proxy.forwarded-headers"].evidence["admin"]
    assert admin["baseline_status"] == 403 and admin["result"] == "denied"
    assert len(admin["spoofed"]) == 4
    assert found["proxy.forwarded-headers"].evidence["proto"]["result"] == "still redirects"
    assert found["proxy.host-header"].evidence["probes"] == 15


# -- proxy.host-header ------------------------------------------------------------------------

def test_x_forwarded_host_passed_through_as_host_fails(reflecting_edge: Edge, pki: Pki) -> None:
    found = run_area("proxy", reflecting_edge.overrides(pki), only=("proxy.host-header",))
    finding = found["proxy.host-header"]
    assert finding.status.value == "fail"
    reflected = {(r["header"], r["path"]): r["where"] for r in finding.evidence["reflected"]}
    assert reflected[("X-Forwarded-Host", "/")] == ["body"]
    assert reflected[("X-Forwarded-Host", "/webhooks")] == ["location"]
    assert "X-Forwarded-Host" in finding.summary
    assert finding.hint


def test_an_app_building_urls_from_host_fails_without_a_proxy(reflecting_upstream: str) -> None:
    found = run_area("proxy", {"url": reflecting_upstream}, only=("proxy.host-header",))
    finding = found["proxy.host-header"]
    assert finding.status.value == "fail"
    assert {r["header"] for r in finding.evidence["reflected"]} == {"Host"}


# -- proxy.forwarded-headers ------------------------------------------------------------------

def test_trusting_x_forwarded_for_opens_the_admin_route(xff_edge: Edge, pki: Pki) -> None:
    found = run_area("proxy", xff_edge.overrides(pki), only=("proxy.forwarded-headers",))
    finding = found["proxy.forwarded-headers"]
    assert finding.status.value == "fail"
    assert finding.summary == "spoofed X-Forwarded-For opens /admin/status"
    admin = finding.evidence["admin"]
    assert admin["baseline_status"] == 403 and admin["result"] == "bypassed"
    assert admin["headers"] == ["X-Forwarded-For"]
    assert "set_real_ip_from" in finding.hint


def test_trusting_x_forwarded_proto_skips_the_https_redirect(proto_edge: Edge, pki: Pki) -> None:
    found = run_area("proxy", proto_edge.overrides(pki), only=("proxy.forwarded-headers",))
    finding = found["proxy.forwarded-headers"]
    assert finding.status.value == "fail"
    assert finding.summary == "spoofed X-Forwarded-Proto skips the HTTPS redirect"
    assert finding.evidence["proto"]["headers"] == ["X-Forwarded-Proto"]
    assert finding.evidence["admin"]["result"] == "denied"
    # the same edge passes the plain redirect check: the hole needs the spoofed header
    transport = run_area("transport", proto_edge.overrides(pki),
                         only=("transport.https-redirect",))
    assert transport["transport.https-redirect"].status.value == "pass"


def test_an_admin_route_open_without_spoofing_is_its_own_failure(good: Edge, pki: Pki) -> None:
    found = run_area("proxy", good.overrides(pki, admin_path="/healthz"),
                     only=("proxy.forwarded-headers",))
    finding = found["proxy.forwarded-headers"]
    assert finding.status.value == "fail"
    assert finding.summary == "/healthz is open without any spoofing"
    assert "spoofed" not in finding.evidence["admin"]


def test_no_https_redirect_means_the_proto_part_is_not_tested(good: Edge, pki: Pki) -> None:
    found = run_area("proxy", good.overrides(pki, http_url=good.origin + "/"),
                     only=("proxy.forwarded-headers",))
    finding = found["proxy.forwarded-headers"]
    assert finding.status.value == "pass"
    assert finding.evidence["proto"]["result"].startswith("not tested: plain HTTP does not")
