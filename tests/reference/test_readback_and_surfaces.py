"""Read-back auth, the standard scheme, and the operator surfaces (health, admin, docs)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from neruba_harden.webhooks import sign_headers
from tests.reference.conftest import (
    ADMIN_TOKEN,
    STANDARD_SECRET,
    Target,
    encode,
    new_event_id,
    stripe_event,
)

Start = Callable[..., Target]


# -- read-back -----------------------------------------------------------------------------


def test_readback_needs_the_admin_token(target: Target) -> None:
    event = stripe_event()
    target.deliver(event)
    missing = target.readback(event["id"], token=None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert target.readback(event["id"], token="not-the-token").status_code == 401
    basic = target.client.get(
        target.base_url + f"/webhooks/events/{event['id']}",
        headers={"authorization": f"Basic {ADMIN_TOKEN}"},
    )
    assert basic.status_code == 401
    ok = target.readback(event["id"])
    assert ok.status_code == 200
    assert set(ok.json()) == {"event_id", "state", "payload_sha256", "side_effects", "deliveries"}
    delivery = ok.json()["deliveries"][0]
    assert set(delivery) == {"outcome", "status", "request_id", "received_at"}
    assert delivery["received_at"].endswith("Z")


def test_readback_of_unknown_event_is_404(target: Target) -> None:
    assert target.readback("evt_never_sent").status_code == 404


def test_readback_absent_without_admin_token(start_receiver: Start) -> None:
    target = start_receiver(admin_token=None)
    event = stripe_event()
    assert target.deliver(event).json()["outcome"] == "accepted"
    assert target.readback(event["id"]).status_code == 404
    assert target.readback(event["id"], token=None).status_code == 404


def test_custom_paths(start_receiver: Start) -> None:
    target = start_receiver(webhook_path="/hooks/stripe", readback_path="/ops/events/{event_id}")
    event = stripe_event()
    assert target.deliver(event).json()["outcome"] == "accepted"
    assert target.readback(event["id"]).json()["side_effects"] == 1
    assert target.client.post(target.base_url + "/webhooks", content=b"{}").status_code == 404


# -- the standard scheme -------------------------------------------------------------------


@pytest.fixture
def standard(start_receiver: Start) -> Target:
    return start_receiver(scheme="standard", secrets=[STANDARD_SECRET])


def test_standard_scheme_outcomes(standard: Target) -> None:
    event = stripe_event()
    assert standard.deliver(event).json()["outcome"] == "accepted"
    assert standard.deliver(event).json()["outcome"] == "duplicate"
    stripe_signed = standard.deliver(
        encode(event), sign=False, headers=sign_headers("stripe", encode(event), STANDARD_SECRET)
    )
    assert stripe_signed.json()["outcome"] == "rejected"
    old = standard.deliver(stripe_event(), timestamp=1_000_000_000)
    assert old.json()["outcome"] == "replay"


def test_standard_event_id_comes_from_the_webhook_id_header(standard: Target) -> None:
    event = stripe_event()
    message_id = new_event_id("msg")
    response = standard.deliver(event, event_id=message_id)
    assert response.json() == {
        "outcome": "accepted",
        "event_id": message_id,
        "request_id": response.headers["x-request-id"],
    }
    assert standard.readback(message_id).json()["side_effects"] == 1


def test_standard_event_id_falls_back_to_the_body(start_receiver: Start) -> None:
    target = start_receiver(
        scheme="standard", secrets=[STANDARD_SECRET], faults=frozenset({"no-signature-check"})
    )
    event = stripe_event()
    response = target.deliver(event, sign=False)
    assert response.json()["event_id"] == event["id"]


def test_bad_standard_secret_fails_at_start(start_receiver: Start) -> None:
    with pytest.raises(ValueError, match="base64"):
        start_receiver(scheme="standard", secrets=["whsec_!!not base64!!"])


# -- operator surfaces ---------------------------------------------------------------------


def test_healthz(target: Target) -> None:
    response = target.client.get(target.base_url + "/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_admin_status_is_denied_without_the_token(target: Target) -> None:
    url = target.base_url + "/admin/status"
    assert target.client.get(url).status_code == 403
    assert target.client.get(url, headers={"authorization": "Bearer nope"}).status_code == 403
    ok = target.client.get(url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ok.status_code == 200 and ok.json()["faults"] == []


def test_docs_open(target: Target) -> None:
    docs = target.client.get(target.base_url + "/docs")
    assert docs.status_code == 200 and 'id="swagger-ui"' in docs.text
    assert "<redoc" in target.client.get(target.base_url + "/redoc").text
    spec = target.client.get(target.base_url + "/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    assert "post" in spec["paths"]["/webhooks"]
    assert spec["paths"]["/webhooks/events/{event_id}"]["get"]["security"] == [{"adminBearer": []}]
    assert set(spec["paths"]["/webhooks"]["post"]["responses"]) == {
        "200",
        "400",
        "409",
        "422",
        "500",
    }


def test_docs_gated(start_receiver: Start) -> None:
    target = start_receiver(docs="gated")
    auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert target.client.get(target.base_url + path).status_code == 401
        assert target.client.get(target.base_url + path, headers=auth).status_code == 200


def test_docs_disabled(start_receiver: Start) -> None:
    target = start_receiver(docs="disabled")
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert target.client.get(target.base_url + path).status_code == 404


def test_settings_repr_hides_secrets(target: Target) -> None:
    shown = repr(target.settings)
    assert target.settings.secrets[0] not in shown
    assert ADMIN_TOKEN not in shown


def test_settings_reject_bad_values(sqlite_url: str) -> None:
    from neruba_harden.reference.settings import ReceiverSettings

    with pytest.raises(ValueError, match="unknown fault"):
        ReceiverSettings(db_url=sqlite_url, secrets=["whsec_x"], faults=frozenset({"nope"}))
    with pytest.raises(ValueError, match="scheme"):
        ReceiverSettings(db_url=sqlite_url, secrets=["whsec_x"], scheme="github")
    with pytest.raises(ValueError, match="secret"):
        ReceiverSettings(db_url=sqlite_url, secrets=[])
    with pytest.raises(ValueError, match="docs"):
        ReceiverSettings(db_url=sqlite_url, secrets=["whsec_x"], docs="public")
