"""ingress.signature-chain: a signed test-mode event through the real edge, and what breaks it."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from neruba_harden.findings import Finding, Report
from neruba_harden.report import render
from tests.conftest import CANARY_WEBHOOK_SECRET, assert_no_canary
from tests.edge import configs
from tests.edge.conftest import Edge, Edges, Pki, reference_receiver
from tests.edge.run import run_area

pytestmark = pytest.mark.nginx
CHAIN = "ingress.signature-chain"

BROKEN = {
    "strip": {"proxy_extra": 'proxy_set_header Stripe-Signature "";'},
    "alter": {"proxy_extra": """proxy_set_body '{"id": "evt_rewritten", "object": "event"}';"""},
    "tiny": {"max_body": "1k"},
    "redirect": {"server_extra": "location = /webhooks { return 308 /webhooks/; }"},
}


@pytest.fixture(scope="module")
def broken(edges: Edges, pki: Pki, receiver: str, status_file: Path) -> dict[str, Edge]:
    def builder(changes: dict[str, str]) -> Callable[[int, int], str]:
        return lambda https, http: configs.edge_with(
            https, http, pki.valid, receiver, status_file, **changes)  # type: ignore[arg-type]

    return {name: edges.start(f"chain-{name}", builder(changes), origin=receiver)
            for name, changes in BROKEN.items()}


def chain(edge: Edge, pki: Pki, secret_ref: str, *, origin: bool = True) -> Finding:
    overrides = edge.overrides(pki, webhook_secret=secret_ref)
    if origin:
        overrides["origin_url"] = edge.origin
    return run_area("proxy", overrides, only=(CHAIN,))[CHAIN]


def test_the_correct_edge_passes_through_public_and_origin(
    good: Edge, pki: Pki, secret_ref: str
) -> None:
    finding = chain(good, pki, secret_ref)
    assert finding.status.value == "pass", finding
    assert finding.summary.endswith("accepted via public URL and origin")
    public = finding.evidence["public"]
    assert public["small"]["outcome"] == "accepted" and public["large"]["outcome"] == "accepted"
    assert 20_000 <= public["large"]["bytes"] <= 60_000
    assert public["small"]["event_id"].startswith("evt_smoke_")
    assert finding.evidence["origin"]["small"]["status"] == 200


def test_the_correct_edge_passes_without_an_origin(good: Edge, pki: Pki, secret_ref: str) -> None:
    finding = chain(good, pki, secret_ref, origin=False)
    assert finding.status.value == "pass"
    assert "origin" not in finding.evidence


def test_stripped_signature_header_is_named_and_blamed_on_the_proxy(
    broken: dict[str, Edge], pki: Pki, secret_ref: str
) -> None:
    finding = chain(broken["strip"], pki, secret_ref)
    assert finding.status.value == "fail"
    assert finding.summary == "proxy breaks signed events: signature header stripped"
    assert finding.evidence["broken_link"] == "proxy"
    assert finding.evidence["cause"] == "header-stripped"
    assert "Stripe-Signature" in finding.hint


def test_stripped_header_without_origin_still_names_the_cause(
    broken: dict[str, Edge], pki: Pki, secret_ref: str
) -> None:
    finding = chain(broken["strip"], pki, secret_ref, origin=False)
    assert finding.summary == "public URL breaks signed events: signature header stripped"


def test_rewritten_body_is_named(broken: dict[str, Edge], pki: Pki, secret_ref: str) -> None:
    finding = chain(broken["alter"], pki, secret_ref)
    assert finding.status.value == "fail"
    assert finding.summary == "proxy breaks signed events: body re-encoded or re-serialised"
    assert "proxy_set_body" in finding.hint
    # without the origin to compare, a mismatch could also be the secret: both are named
    alone = chain(broken["alter"], pki, secret_ref, origin=False)
    assert alone.evidence["cause"] == "signature-mismatch"
    assert "origin_url" in alone.hint


def test_body_size_limit_below_a_realistic_event(
    broken: dict[str, Edge], pki: Pki, secret_ref: str
) -> None:
    finding = chain(broken["tiny"], pki, secret_ref)
    assert finding.status.value == "fail"
    assert finding.summary == "proxy breaks signed events: body size limit below a realistic event"
    assert finding.evidence["failing_event"] == "large"
    assert finding.evidence["public"]["small"]["ok"] is True
    assert finding.evidence["public"]["large"]["status"] == 413
    assert "client_max_body_size" in finding.hint


def test_redirect_on_the_webhook_path(broken: dict[str, Edge], pki: Pki, secret_ref: str) -> None:
    finding = chain(broken["redirect"], pki, secret_ref)
    assert finding.status.value == "fail"
    assert finding.summary == "proxy breaks signed events: redirect on the webhook path"
    assert finding.evidence["public"]["small"]["location"].endswith("/webhooks/")


def test_a_wrong_secret_is_blamed_on_the_receiver(
    good: Edge, pki: Pki, tmp_path: Path
) -> None:
    other = tmp_path / "other_secret"
    other.write_text("whsec_not_the_receivers_secret_0000")
    finding = chain(good, pki, f"file:{other}")
    assert finding.status.value == "fail"
    assert finding.evidence["broken_link"] == "receiver"
    assert finding.evidence["cause"] == "secret-mismatch"


def test_no_secret_skips_and_a_missing_secret_is_an_error(good: Edge, pki: Pki) -> None:
    skipped = run_area("proxy", good.overrides(pki), only=(CHAIN,))[CHAIN]
    assert skipped.status.value == "skip" and "webhook_secret" in skipped.summary
    missing = run_area("proxy", good.overrides(pki, webhook_secret="env:NERUBA_NO_SUCH_VAR"),
                       only=(CHAIN,))[CHAIN]
    assert missing.status.value == "error"
    assert "NERUBA_NO_SUCH_VAR" in missing.summary


def test_signed_events_are_not_sent_over_plain_http_to_other_hosts(secret_ref: str) -> None:
    finding = run_area("proxy", {"url": "http://receiver.example/", "webhook_secret": secret_ref},
                       only=(CHAIN,))[CHAIN]
    assert finding.status.value == "skip"
    assert "plain HTTP" in finding.summary
    assert "allow_http" in finding.evidence["to_allow"]


def test_the_standard_scheme_signs_with_the_event_id(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    (tmp_path / "standard_secret").write_text(secret)
    with reference_receiver(tmp_path_factory.mktemp("standard"), "disabled", scheme="standard",
                            secret=secret) as url:
        finding = run_area("proxy", {"url": url, "scheme": "standard",
                                     "webhook_secret": f"file:{tmp_path / 'standard_secret'}"},
                           only=(CHAIN,))[CHAIN]
    assert finding.status.value == "pass", finding
    assert finding.evidence["scheme"] == "standard"


def test_a_receiver_that_redirects_is_named(
    tmp_path_factory: pytest.TempPathFactory, secret_ref: str
) -> None:
    from neruba_harden.reference.server import running_receiver
    from neruba_harden.reference.settings import ReceiverSettings

    db = tmp_path_factory.mktemp("redirecting") / "receiver.db"
    settings = ReceiverSettings(db_url=f"sqlite:///{db}", secrets=[CANARY_WEBHOOK_SECRET],
                                faults=frozenset({"redirect"}))
    with running_receiver(settings) as url:
        finding = run_area("proxy", {"url": url, "webhook_secret": secret_ref},
                           only=(CHAIN,))[CHAIN]
    assert finding.summary == "public URL breaks signed events: redirect on the webhook path"


def test_the_secret_never_appears_in_any_output(
    broken: dict[str, Edge], pki: Pki, secret_ref: str
) -> None:
    found = run_area("proxy", broken["strip"].overrides(
        pki, webhook_secret=secret_ref, origin_url=broken["strip"].origin))
    report = Report(list(found.values()))
    assert_no_canary(json.dumps(report.to_dict()))
    for fmt in ("text", "json", "junit"):
        assert_no_canary(render(report, fmt))
