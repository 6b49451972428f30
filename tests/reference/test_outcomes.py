"""Every outcome of CONTRACT.md, from the contract-following receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import insert

from neruba_harden.reference.store import make_engine, utcnow, webhook_events
from neruba_harden.webhooks import sign_headers
from tests.reference.conftest import (
    OLD_STRIPE_SECRET,
    STRIPE_SECRET,
    Target,
    encode,
    outcomes,
    stripe_event,
)


def _seed(db_url: str, event_id: str, body: bytes, state: str, age_s: float = 0) -> None:
    """Put an event row in a given state, as a crashed or slow first delivery leaves it."""
    updated = utcnow() - timedelta(seconds=age_s)
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(webhook_events).values(
                    event_id=event_id,
                    payload_sha256=hashlib.sha256(body).hexdigest(),
                    state=state,
                    type="invoice.paid",
                    first_seen=updated,
                    updated=updated,
                )
            )
    finally:
        engine.dispose()


def test_accepted_is_stored_with_its_hash_before_answering(target: Target) -> None:
    event = stripe_event()
    response = target.deliver(event)
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "accepted"
    assert body["event_id"] == event["id"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert len(body["request_id"]) == 32
    back = target.readback(event["id"]).json()
    assert back["state"] == "processed"
    assert back["payload_sha256"] == hashlib.sha256(encode(event)).hexdigest()
    assert back["side_effects"] == 1
    assert [(d["outcome"], d["status"]) for d in back["deliveries"]] == [("accepted", 200)]
    assert back["deliveries"][0]["request_id"] == body["request_id"]


def test_duplicate_has_no_second_side_effect(target: Target) -> None:
    event = stripe_event()
    assert target.deliver(event).json()["outcome"] == "accepted"
    again = target.deliver(event)  # re-signed with a fresh timestamp, like a sender's retry
    assert again.status_code == 200
    assert again.json() == {
        "outcome": "duplicate",
        "event_id": event["id"],
        "request_id": again.headers["x-request-id"],
    }
    back = target.readback(event["id"]).json()
    assert back["side_effects"] == 1
    assert [d["outcome"] for d in back["deliveries"]] == ["accepted", "duplicate"]


@pytest.mark.parametrize("offset", [-301 - 60, 301 + 60], ids=["old", "future"])
def test_timestamp_outside_tolerance_is_a_replay(target: Target, offset: int) -> None:
    event = stripe_event()
    response = target.deliver(event, timestamp=int(time.time()) + offset)
    assert response.status_code == 400
    assert response.json()["outcome"] == "replay"
    back = target.readback(event["id"]).json()
    assert back["state"] is None and back["side_effects"] == 0
    assert [d["outcome"] for d in back["deliveries"]] == ["replay"]


def test_pretty_printed_body_is_verified_on_its_raw_bytes(target: Target) -> None:
    event = stripe_event()
    response = target.deliver(encode(event, pretty=True), event_id=event["id"])
    assert response.json()["outcome"] == "accepted"


def test_timestamp_inside_tolerance_is_accepted(target: Target) -> None:
    response = target.deliver(stripe_event(), timestamp=int(time.time()) - 200)
    assert response.json()["outcome"] == "accepted"


@pytest.mark.parametrize(
    "breakage",
    ["wrong-secret", "tampered-body", "missing-header", "malformed-header", "empty-header"],
)
def test_bad_signature_is_rejected(target: Target, breakage: str) -> None:
    event = stripe_event()
    body = encode(event)
    if breakage == "wrong-secret":
        response = target.deliver(body, secrets="whsec_not_the_right_one")
    elif breakage == "tampered-body":  # signed as sent, then the amount changed
        headers = sign_headers("stripe", body, STRIPE_SECRET)
        tampered = body.replace(b"1200", b"9900")
        assert tampered != body
        response = target.deliver(tampered, sign=False, headers=headers)
    elif breakage == "missing-header":
        response = target.deliver(body, sign=False)
    elif breakage == "malformed-header":
        response = target.deliver(body, sign=False, headers={"Stripe-Signature": "garbage"})
    else:
        response = target.deliver(body, sign=False, headers={"Stripe-Signature": ""})
    assert response.status_code == 400
    assert response.json()["outcome"] == "rejected"
    assert response.json()["detail"]
    assert target.readback(event["id"]).json()["side_effects"] == 0


def test_non_json_body_with_valid_signature_is_rejected(target: Target) -> None:
    response = target.deliver(b"amount=1200&currency=eur", event_id="evt_form")
    assert response.status_code == 400
    assert response.json()["outcome"] == "rejected"
    assert "JSON" in response.json()["detail"]


def test_event_without_id_is_rejected(target: Target) -> None:
    event = stripe_event()
    del event["id"]
    response = target.deliver(encode(event), event_id="x")
    assert response.status_code == 400
    assert response.json() == {
        "outcome": "rejected",
        "detail": "the event has no id",
        "request_id": response.headers["x-request-id"],
    }


def test_conflict_is_problem_json_and_first_payload_stands(target: Target) -> None:
    event = stripe_event()
    first = target.deliver(event)
    assert first.json()["outcome"] == "accepted"
    changed = dict(event, data={"object": {"object": "invoice", "amount_paid": 9900}})
    response = target.deliver(changed)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["outcome"] == "conflict"
    assert problem["status"] == 422
    assert problem["type"].startswith("urn:")
    assert problem["title"] and event["id"] in problem["detail"]
    back = target.readback(event["id"]).json()
    assert back["payload_sha256"] == hashlib.sha256(encode(event)).hexdigest()
    assert back["side_effects"] == 1


def test_failed_is_not_processed_and_its_retry_runs_again(target: Target) -> None:
    event = stripe_event(type="neruba.smoke.fail")
    first = target.deliver(event)
    assert first.status_code == 500
    assert first.json()["outcome"] == "failed"
    assert first.json()["event_id"] == event["id"]
    retry = target.deliver(event)
    assert retry.status_code == 500
    assert retry.json()["outcome"] == "failed"  # processed again, not swallowed as duplicate
    back = target.readback(event["id"]).json()
    assert back["state"] == "failed"
    assert back["side_effects"] == 0
    assert [d["outcome"] for d in back["deliveries"]] == ["failed", "failed"]


def test_failed_event_is_taken_over_by_its_retry(target: Target, db_url: str) -> None:
    event = stripe_event()
    _seed(db_url, event["id"], encode(event), "failed")
    response = target.deliver(event)
    assert response.json()["outcome"] == "accepted"
    back = target.readback(event["id"]).json()
    assert (back["state"], back["side_effects"]) == ("processed", 1)
    assert target.deliver(event).json()["outcome"] == "duplicate"


def test_in_flight_while_the_first_delivery_is_processing(target: Target, db_url: str) -> None:
    event = stripe_event()
    _seed(db_url, event["id"], encode(event), "processing")
    response = target.deliver(event)
    assert response.status_code == 409
    assert response.json()["outcome"] == "in_flight"
    assert target.readback(event["id"]).json()["side_effects"] == 0


def test_abandoned_processing_is_taken_over(target: Target, db_url: str) -> None:
    event = stripe_event()
    _seed(db_url, event["id"], encode(event), "processing", age_s=3600)
    assert target.deliver(event).json()["outcome"] == "accepted"
    assert target.readback(event["id"]).json()["side_effects"] == 1


def test_burst_of_20_is_accepted_exactly_once(target: Target) -> None:
    event = stripe_event()
    responses = target.burst(event, 20)
    counted = Counter(outcomes(responses))
    assert counted["accepted"] == 1, counted
    assert set(counted) <= {"accepted", "duplicate", "in_flight"}, counted
    for r in responses:
        assert r.status_code == (409 if r.json()["outcome"] == "in_flight" else 200)
    back = target.readback(event["id"]).json()
    assert back["side_effects"] == 1
    assert len(back["deliveries"]) == 20


def test_burst_of_distinct_events_all_accepted(target: Target) -> None:
    from concurrent.futures import ThreadPoolExecutor

    events = [stripe_event() for _ in range(40)]
    with ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(target.deliver, events))
    assert outcomes(responses) == ["accepted"] * 40


def test_rotation_any_one_valid_signature_passes(target: Target) -> None:
    both = target.deliver(stripe_event(), secrets=[OLD_STRIPE_SECRET, STRIPE_SECRET])
    assert both.json()["outcome"] == "accepted"
    old_only = target.deliver(stripe_event(), secrets=OLD_STRIPE_SECRET)
    assert old_only.json()["outcome"] == "rejected"


def test_every_response_has_a_request_id(target: Target) -> None:
    client = target.client
    for response in (
        client.get(target.base_url + "/healthz"),
        client.get(target.base_url + "/nowhere"),
        client.get(target.webhook_url),  # wrong method
        target.deliver(b"{}", sign=False),
    ):
        assert len(response.headers["x-request-id"]) == 32
    ids = {target.deliver(b"{}", sign=False).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_trailing_slash_is_not_redirected(target: Target) -> None:
    response = target.client.post(target.webhook_url + "/", content=b"{}")
    assert response.status_code == 404
