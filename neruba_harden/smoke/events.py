"""Test-mode events for the smoke sequence, shaped and formatted like Stripe's.

Every event is retraceable and harmless: its id is ``evt_smoke_<run id>_<step>``, it says
``"livemode": false`` and carries ``"metadata": {"neruba_smoke": "true", "run_id": ...}``.
Bodies are pretty-printed (``json.dumps(indent=2)``) the way Stripe sends them, so a receiver
that verifies re-serialised JSON instead of the raw bytes is caught.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "SmokeEvent",
    "build_event",
    "compact",
    "event_id_for",
    "new_run_id",
    "payment_intent",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class SmokeEvent:
    """One event as it goes on the wire: its id, its idempotency key and its exact bytes."""

    event_id: str
    body: bytes
    event_type: str = ""
    idempotency_key: str | None = None


def new_run_id(worker: str | None = None) -> str:
    """A run id unique across runs and pytest-xdist workers: UTC time, worker, randomness.

    Only letters and digits, so that every id built from it is safe in a URL path.
    """
    if worker is None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    return f"{stamp}{_UNSAFE.sub('', worker)}{secrets.token_hex(4)}"


def event_id_for(run_id: str, step: str) -> str:
    """``evt_smoke_<run id>_<step>``: the id that lets an operator retrace a delivery."""
    return f"evt_smoke_{run_id}_{_UNSAFE.sub('_', step).strip('_')}"


def payment_intent(run_id: str, step: str, *, amount: int = 2000) -> dict[str, Any]:
    """A test-mode payment intent, the ``data.object`` of a smoke event."""
    return {
        "id": f"pi_smoke_{run_id}_{_UNSAFE.sub('_', step).strip('_')}",
        "object": "payment_intent",
        "amount": amount,
        "currency": "eur",
        "status": "succeeded",
        "livemode": False,
        "metadata": {"neruba_smoke": "true", "run_id": run_id},
    }


def build_event(
    event_type: str,
    data: Mapping[str, Any],
    *,
    run_id: str,
    step: str,
    created: int | None = None,
    event_id: str | None = None,
) -> SmokeEvent:
    """A Stripe-shaped test-mode event, pretty-printed as Stripe sends it.

    ``data`` is the event's ``data.object``. ``event_id`` overrides the derived id (the
    ``webhook send`` tool and the pytest fixture let users choose one).
    """
    event_id = event_id or event_id_for(run_id, step)
    idempotency_key = f"nrb_{run_id}_{_UNSAFE.sub('_', step).strip('_')}"
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "type": event_type,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": dict(data)},
        "metadata": {"neruba_smoke": "true", "run_id": run_id},
        "request": {"id": None, "idempotency_key": idempotency_key},
    }
    body = json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")
    return SmokeEvent(event_id, body, event_type, idempotency_key)


def compact(event: SmokeEvent, *, event_id: str) -> SmokeEvent:
    """The same event re-serialised compactly under another id (a diagnostic probe)."""
    parsed = json.loads(event.body)
    parsed["id"] = event_id
    body = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return SmokeEvent(event_id, body, event.event_type, event.idempotency_key)
