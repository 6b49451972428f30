"""Our headers verify with the official libraries, and theirs verify with ours (CONTRACT.md)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import stripe
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from neruba_harden.webhooks import SignatureVerificationError, sign_headers, verify


def stripe_signed_header(payload: bytes, secret: str, timestamp: int) -> str:
    """A Stripe-Signature header made by stripe-python's own signing code."""
    signature = stripe.WebhookSignature
    if hasattr(signature, "generate_signature_header"):
        return str(signature.generate_signature_header(payload.decode(), secret, timestamp))
    # Older releases: build it as stripe-python's own tests do.
    sig = signature._compute_signature(f"{timestamp}.{payload.decode()}", secret)
    return f"t={timestamp},v1={sig}"


class TestStripe:
    def test_stripe_accepts_our_header(self, stripe_secret, event_body):
        headers = sign_headers("stripe", event_body, stripe_secret)

        event = stripe.Webhook.construct_event(
            event_body, headers["Stripe-Signature"], stripe_secret
        )
        assert event.id == "evt_1QSmokeTestEvent000001"
        assert event.type == "payment_intent.succeeded"

    def test_stripe_accepts_our_rotation_header_with_either_secret(self, stripe_secret, event_body):
        new = stripe_secret + "_rotated"
        header = sign_headers("stripe", event_body, [stripe_secret, new])["Stripe-Signature"]

        for secret in (stripe_secret, new):
            assert stripe.Webhook.construct_event(event_body, header, secret).id

    def test_stripe_rejects_our_header_with_another_secret(self, stripe_secret, event_body):
        header = sign_headers("stripe", event_body, stripe_secret)["Stripe-Signature"]

        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(event_body, header, stripe_secret + "x")

    def test_stripe_and_we_agree_a_replay_is_too_old(self, stripe_secret, event_body):
        stale = int(time.time()) - 301
        header = sign_headers("stripe", event_body, stripe_secret, timestamp=stale)

        with pytest.raises(stripe.SignatureVerificationError, match="tolerance"):
            stripe.Webhook.construct_event(event_body, header["Stripe-Signature"], stripe_secret)
        with pytest.raises(SignatureVerificationError) as caught:
            verify("stripe", event_body, header, stripe_secret)
        assert caught.value.reason == "timestamp_too_old"

    def test_we_accept_stripes_header(self, stripe_secret, event_body):
        now = int(time.time())
        header = stripe_signed_header(event_body, stripe_secret, now)

        assert verify("stripe", event_body, {"Stripe-Signature": header}, stripe_secret) == now

    def test_we_reject_stripes_header_for_a_tampered_body(self, stripe_secret, event_body):
        header = stripe_signed_header(event_body, stripe_secret, int(time.time()))

        with pytest.raises(SignatureVerificationError) as caught:
            verify("stripe", event_body + b" ", {"Stripe-Signature": header}, stripe_secret)
        assert caught.value.reason == "no_valid_signature"


class TestStandardWebhooks:
    def test_the_library_accepts_our_headers(self, standard_secret, event_body):
        headers = sign_headers("standard", event_body, standard_secret, event_id="msg_2zH1")

        assert Webhook(standard_secret).verify(event_body, headers)["type"] == (
            "payment_intent.succeeded"
        )

    def test_the_library_accepts_our_rotation_headers_with_either_secret(
        self, secret_for, event_body
    ):
        old, new = secret_for("standard"), secret_for("standard")
        headers = sign_headers("standard", event_body, [old, new], event_id="msg_2zH1")

        for secret in (old, new):
            Webhook(secret).verify(event_body, headers)

    def test_the_library_rejects_our_headers_with_another_secret(self, secret_for, event_body):
        headers = sign_headers("standard", event_body, secret_for("standard"), event_id="m")

        with pytest.raises(WebhookVerificationError):
            Webhook(secret_for("standard")).verify(event_body, headers)

    def test_we_accept_the_librarys_signature(self, standard_secret, event_body):
        sent_at = datetime.now(tz=timezone.utc).replace(microsecond=0)
        signature = Webhook(standard_secret).sign("msg_2zH1", sent_at, event_body)
        headers = {
            "Webhook-Id": "msg_2zH1",
            "Webhook-Timestamp": str(int(sent_at.timestamp())),
            "Webhook-Signature": signature,
        }

        assert verify("standard", event_body, headers, standard_secret) == int(sent_at.timestamp())

    def test_we_reject_the_librarys_signature_for_another_id(self, standard_secret, event_body):
        sent_at = datetime.now(tz=timezone.utc)
        headers = {
            "webhook-id": "msg_other",
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(standard_secret).sign("msg_2zH1", sent_at, event_body),
        }

        with pytest.raises(SignatureVerificationError) as caught:
            verify("standard", event_body, headers, standard_secret)
        assert caught.value.reason == "no_valid_signature"

    def test_the_library_and_we_agree_on_future_timestamps(self, standard_secret, event_body):
        future = int(time.time()) + 3600
        headers = sign_headers(
            "standard", event_body, standard_secret, timestamp=future, event_id="m"
        )

        with pytest.raises(WebhookVerificationError, match="too new"):
            Webhook(standard_secret).verify(event_body, headers)
        with pytest.raises(SignatureVerificationError) as caught:
            verify("standard", event_body, headers, standard_secret)
        assert caught.value.reason == "timestamp_too_new"
