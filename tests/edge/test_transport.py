"""transport.*: each check passes on the correct edge and fails on an edge broken that way."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.edge import configs
from tests.edge.conftest import Edge, Edges, Pki
from tests.edge.run import run_area, status_of
from tests.support.tls import CertFiles

pytestmark = pytest.mark.nginx

HSTS_VARIANTS = {
    "none": "",
    "short": 'add_header Strict-Transport-Security "max-age=86400" always;',
    "medium": 'add_header Strict-Transport-Security "max-age=17280000" always;',
    "double": 'add_header Strict-Transport-Security "max-age=31536000" always;\n'
              'add_header Strict-Transport-Security "max-age=63072000" always;',
    "broken": 'add_header Strict-Transport-Security "includeSubDomains" always;',
}


@pytest.fixture(scope="module")
def hsts_port(edges: Edges, pki: Pki) -> int:
    """One TLS server without server-level HSTS; each location sends a variant."""
    locations = "".join(
        f"location /{name}/ {{ {headers} return 200 'ok'; }}\n"
        for name, headers in HSTS_VARIANTS.items()
    )
    (port,) = edges.start_ports(
        "hsts", 1, lambda ports: configs.tls_server(ports[0], pki.valid, locations, hsts=None)
    )
    return port


@pytest.fixture(scope="module")
def tls_ports(edges: Edges, pki: Pki) -> dict[str, int]:
    """One nginx, one TLS server per certificate or protocol variant."""
    legacy = ("TLSv1 TLSv1.1 TLSv1.2", "ALL:@SECLEVEL=0")
    modern = ("TLSv1.2 TLSv1.3", None)
    variants: dict[str, tuple[CertFiles, tuple[str, str | None]]] = {
        "expiring": (pki.expiring, modern),
        "soon": (pki.soon, modern),
        "wrong-host": (pki.wrong_host, modern),
        "legacy": (pki.valid, legacy),
    }

    def build(ports: list[int]) -> str:
        return "".join(
            configs.tls_server(port, cert, "location / { return 200 'ok'; }",
                               protocols=protocols, ciphers=ciphers)
            for port, (cert, (protocols, ciphers)) in zip(ports, variants.values(), strict=True)
        )

    ports = edges.start_ports("tls", len(variants), build)
    return dict(zip(variants, ports, strict=True))


@pytest.fixture(scope="module")
def plain_edges(
    edges: Edges, pki: Pki, receiver: str, status_file: Path
) -> dict[str, Edge]:
    """Plain-HTTP variants: served without redirect, redirected to another host."""
    return {
        "no-redirect": edges.start("plain-no-redirect", lambda https, http: configs.edge_with(
            https, http, pki.valid, receiver, status_file,
            http_body=configs.proxy_location(receiver))),
        "other-host": edges.start("plain-other-host", lambda https, http: configs.edge_with(
            https, http, pki.valid, receiver, status_file,
            http_body="location / { return 301 https://other.example$request_uri; }")),
        "to-http": edges.start("plain-to-http", lambda https, http: configs.edge_with(
            https, http, pki.valid, receiver, status_file,
            http_body="location / { return 301 http://$host/elsewhere; }")),
    }


def transport(overrides: dict[str, object]) -> dict[str, str]:
    return status_of(run_area("transport", overrides))


def test_the_correct_edge_passes_every_transport_check(good: Edge, pki: Pki) -> None:
    found = run_area("transport", good.overrides(pki))
    assert status_of(found) == {
        "transport.https-redirect": "pass", "transport.hsts": "pass", "transport.tls": "pass",
    }
    tls = found["transport.tls"].evidence
    assert tls["protocol"] in ("TLSv1.2", "TLSv1.3")
    assert "O=neruba-harden test CA" in tls["issuer"]
    assert tls["subject"] and tls["not_after"] and tls["cipher"]
    assert all(v.startswith(("refused", "not tested")) for v in tls["legacy"].values())
    assert found["transport.hsts"].evidence["include_subdomains"] is True
    assert found["transport.https-redirect"].evidence["location"].startswith("https://127.0.0.1:")


# -- transport.https-redirect -----------------------------------------------------------------

def test_plain_http_served_without_redirect_fails(plain_edges: dict[str, Edge], pki: Pki) -> None:
    found = run_area("transport", plain_edges["no-redirect"].overrides(pki),
                     only=("transport.https-redirect",))
    finding = found["transport.https-redirect"]
    assert finding.status.value == "fail"
    assert "instead of redirecting" in finding.summary
    assert finding.evidence["status"] == 404  # the receiver answered "/" itself
    assert finding.hint


def test_redirect_to_another_host_fails(plain_edges: dict[str, Edge], pki: Pki) -> None:
    found = run_area("transport", plain_edges["other-host"].overrides(pki),
                     only=("transport.https-redirect",))
    assert found["transport.https-redirect"].status.value == "fail"
    assert "another host" in found["transport.https-redirect"].summary


def test_redirect_to_plain_http_fails(plain_edges: dict[str, Edge], pki: Pki) -> None:
    found = run_area("transport", plain_edges["to-http"].overrides(pki),
                     only=("transport.https-redirect",))
    assert found["transport.https-redirect"].status.value == "fail"
    assert "not https" in found["transport.https-redirect"].summary


def test_plain_http_refused_is_a_warning(good: Edge, pki: Pki) -> None:
    from tests.edge.apps import closed_port

    overrides = good.overrides(pki, http_url=f"http://127.0.0.1:{closed_port()}/")
    found = run_area("transport", overrides, only=("transport.https-redirect",))
    assert found["transport.https-redirect"].status.value == "warn"


# -- transport.hsts ---------------------------------------------------------------------------

@pytest.mark.parametrize(("variant", "status", "phrase"), [
    ("none", "fail", "no Strict-Transport-Security"),
    ("short", "fail", "is 1 day, below 180 days"),
    ("medium", "warn", "under a year"),
    ("double", "fail", "2 Strict-Transport-Security headers"),
    ("broken", "fail", "malformed"),
])
def test_hsts_variants(hsts_port: int, pki: Pki, variant: str, status: str, phrase: str) -> None:
    url = f"https://127.0.0.1:{hsts_port}/{variant}/"
    found = run_area("transport", {"url": url, "ca_bundle": str(pki.bundle)},
                     only=("transport.hsts",))
    finding = found["transport.hsts"]
    assert finding.status.value == status, finding
    assert phrase in finding.summary
    assert finding.evidence["url"] == url and finding.hint


def test_hsts_minimum_is_configurable(hsts_port: int, pki: Pki) -> None:
    url = f"https://127.0.0.1:{hsts_port}/short/"
    found = run_area("transport", {"url": url, "ca_bundle": str(pki.bundle),
                                   "transport.hsts_min_age": 3600}, only=("transport.hsts",))
    assert found["transport.hsts"].status.value == "warn"


def test_edge_without_hsts_fails_only_hsts(
    edges: Edges, pki: Pki, receiver: str, status_file: Path
) -> None:
    edge = edges.start("no-hsts", lambda https, http: configs.edge_with(
        https, http, pki.valid, receiver, status_file, hsts=None))
    assert transport(edge.overrides(pki)) == {
        "transport.https-redirect": "pass", "transport.hsts": "fail", "transport.tls": "pass",
    }


def test_plain_http_url_skips_hsts_and_tls_with_the_reason(good: Edge) -> None:
    found = run_area("transport", {"url": good.http_url}, only=("transport.hsts", "transport.tls"))
    assert found["transport.hsts"].status.value == "skip"
    assert "not https" in found["transport.hsts"].summary
    assert found["transport.tls"].status.value == "skip"


# -- transport.tls ----------------------------------------------------------------------------

def test_certificate_expiring_in_ten_days_fails(tls_ports: dict[str, int], pki: Pki) -> None:
    found = run_area("transport", {"url": f"https://127.0.0.1:{tls_ports['expiring']}/",
                                   "ca_bundle": str(pki.bundle)}, only=("transport.tls",))
    finding = found["transport.tls"]
    assert finding.status.value == "fail"
    assert finding.summary == "certificate expires in 10 days (under 14)"
    assert finding.evidence["days_left"] == 10


def test_certificate_expiring_in_twenty_days_warns(tls_ports: dict[str, int], pki: Pki) -> None:
    found = run_area("transport", {"url": f"https://127.0.0.1:{tls_ports['soon']}/",
                                   "ca_bundle": str(pki.bundle)}, only=("transport.tls",))
    assert found["transport.tls"].status.value == "warn"
    assert found["transport.tls"].summary == "certificate expires in 20 days (under 30)"


def test_certificate_thresholds_are_configurable(tls_ports: dict[str, int], pki: Pki) -> None:
    found = run_area("transport", {"url": f"https://127.0.0.1:{tls_ports['soon']}/",
                                   "ca_bundle": str(pki.bundle), "transport.cert_fail_days": 21},
                     only=("transport.tls",))
    assert found["transport.tls"].status.value == "fail"


def test_certificate_for_another_host_fails_and_hsts_skips(
    tls_ports: dict[str, int], pki: Pki
) -> None:
    url = f"https://127.0.0.1:{tls_ports['wrong-host']}/"
    found = run_area("transport", {"url": url, "ca_bundle": str(pki.bundle)},
                     only=("transport.tls", "transport.hsts"))
    tls = found["transport.tls"]
    assert tls.status.value == "fail"
    assert tls.summary.startswith("certificate not valid for 127.0.0.1")
    assert "other.example" in str(tls.evidence.get("subject", "")) or tls.evidence["verify_error"]
    # one root cause, one finding: HSTS cannot be judged on an untrusted connection
    assert found["transport.hsts"].status.value == "skip"
    assert "transport.tls" in found["transport.hsts"].summary


def test_private_ca_without_bundle_fails_with_the_hint(good: Edge) -> None:
    found = run_area("transport", {"url": good.url}, only=("transport.tls",))
    tls = found["transport.tls"]
    assert tls.status.value == "fail"
    assert "--ca-bundle" in tls.hint
    assert "O=neruba-harden test CA" in tls.evidence["issuer"]


def test_legacy_tls_versions_accepted_fail(tls_ports: dict[str, int], pki: Pki) -> None:
    from neruba_harden.checks.transport import can_offer

    if not can_offer("TLSv1")[0] and not can_offer("TLSv1_1")[0]:
        pytest.skip("this machine's OpenSSL cannot offer TLS 1.0/1.1 at all")
    found = run_area("transport", {"url": f"https://127.0.0.1:{tls_ports['legacy']}/",
                                   "ca_bundle": str(pki.bundle)}, only=("transport.tls",))
    tls = found["transport.tls"]
    assert tls.status.value == "fail", tls
    assert "TLSv1" in tls.summary and "TLS 1.2+ only" in tls.summary
    assert "accepted" in tls.evidence["legacy"].values()


def test_untestable_legacy_versions_are_reported_not_silently_passed(
    good: Edge, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neruba_harden.checks import transport as module

    monkeypatch.setattr(module, "can_offer", lambda attr: (False, "NO_PROTOCOLS_AVAILABLE"))
    found = run_area("transport", good.overrides(pki), only=("transport.tls",))
    tls = found["transport.tls"]
    assert tls.status.value == "pass"
    assert "not tested locally" in tls.summary
    assert tls.evidence["legacy"]["TLSv1"].startswith("not tested: local OpenSSL")
