"""Fixtures for the webhook signing tests: secrets shaped like the real ones, a real event."""

from __future__ import annotations

import base64
import json
import os

import pytest

NOW = 1_733_324_400  # a fixed "now", so tolerance tests never race the clock


def _standard_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@pytest.fixture
def now() -> int:
    return NOW


@pytest.fixture
def stripe_secret() -> str:
    return "whsec_" + os.urandom(16).hex()


@pytest.fixture
def standard_secret() -> str:
    return _standard_secret()


@pytest.fixture
def secret_for():
    """A fresh secret in the format a scheme expects."""

    def make(scheme: str) -> str:
        return "whsec_" + os.urandom(16).hex() if scheme == "stripe" else _standard_secret()

    return make


@pytest.fixture
def event_body() -> bytes:
    """A Stripe-shaped event, pretty-printed the way Stripe sends it."""
    event = {
        "id": "evt_1QSmokeTestEvent000001",
        "object": "event",
        "api_version": "2024-06-20",
        "created": NOW,
        "data": {
            "object": {
                "id": "pi_3QSmokeTest000001",
                "object": "payment_intent",
                "amount": 2000,
                "currency": "eur",
                "status": "succeeded",
                "metadata": {"neruba_smoke": "true", "note": "caf\u00e9 \u2013 \u00fcml\u00e4ut"},
            }
        },
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "payment_intent.succeeded",
    }
    return json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")
