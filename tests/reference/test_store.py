"""The store's lease: a delivery whose stale claim was taken over never commits its work."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select

from neruba_harden.reference.store import (
    Delivery,
    EventStore,
    side_effects,
    utcnow,
    webhook_events,
)
from tests.reference.conftest import new_event_id


def test_work_of_a_taken_over_claim_is_rolled_back(db_url: str) -> None:
    store = EventStore(db_url)
    try:
        delivery = Delivery(new_event_id(), "0" * 64, "invoice.paid", "req-slow")
        slow_claim = utcnow() - timedelta(hours=1)
        with store.engine.begin() as conn:
            conn.execute(
                insert(webhook_events).values(
                    event_id=delivery.event_id,
                    payload_sha256=delivery.payload_sha256,
                    state="processing",
                    type=delivery.type,
                    first_seen=slow_claim,
                    updated=slow_claim,
                )
            )
        # A retry takes the stale claim over and processes the event...
        retry = Delivery(delivery.event_id, delivery.payload_sha256, delivery.type, "req-retry")
        assert store.deliver(retry) == "accepted"
        # ...then the slow first delivery finally finishes: its side effect must not land.
        assert store._process(delivery, claimed_at=slow_claim) == "in_flight"
        with store.engine.begin() as conn:
            count = conn.execute(
                select(func.count())
                .select_from(side_effects)
                .where(side_effects.c.event_id == delivery.event_id)
            ).scalar_one()
        assert count == 1
    finally:
        store.close()
