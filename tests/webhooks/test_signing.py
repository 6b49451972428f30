"""A sender signs a delivery, a receiver verifies it: the story for both schemes."""

from __future__ import annotations

import pytest

from neruba_harden import webhooks
from neruba_harden.webhooks import (
    SCHEMES,
    SignatureVerificationError,
    TimestampOutsideTolerance,
    sign_headers,
    signature_header_names,
    verify,
)
from neruba_harden.webhooks import standard as standard_scheme
from neruba_harden.webhooks import stripe as stripe_scheme

EVENT_ID = "evt_smoke_run1_accepted"


def signed(scheme: str, body: bytes, secrets, timestamp: int) -> dict[str, str]:
    return sign_headers(scheme, body, secrets, timestamp=timestamp, event_id=EVENT_ID)


@pytest.mark.parametrize("scheme", SCHEMES)
class TestAReceiverAcceptsWhatTheSenderSigned:
    def test_round_trip_returns_the_signed_timestamp(self, scheme, secret_for, event_body, now):
        secret = secret_for(scheme)
        headers = signed(scheme, event_body, secret, now)

        assert set(headers) == set(signature_header_names(scheme))
        assert verify(scheme, event_body, headers, secret, now=now) == now

    def test_header_names_match_in_any_case(self, scheme, secret_for, event_body, now):
        secret = secret_for(scheme)
        headers = {k.upper(): v for k, v in signed(scheme, event_body, secret, now).items()}

        assert verify(scheme, event_body, headers, secret, now=now) == now

    def test_the_default_timestamp_is_the_current_time(self, scheme, secret_for, event_body):
        secret = secret_for(scheme)
        headers = sign_headers(scheme, event_body, secret, event_id=EVENT_ID)

        verify(scheme, event_body, headers, secret)  # fresh, so within the default tolerance

    def test_either_secret_verifies_during_rotation(self, scheme, secret_for, event_body, now):
        old, new = secret_for(scheme), secret_for(scheme)
        headers = signed(scheme, event_body, [old, new], now)

        assert verify(scheme, event_body, headers, old, now=now) == now
        assert verify(scheme, event_body, headers, new, now=now) == now

    def test_a_receiver_holding_both_secrets_accepts_either_sender(
        self, scheme, secret_for, event_body, now
    ):
        old, new = secret_for(scheme), secret_for(scheme)
        for sender_secret in (old, new):
            headers = signed(scheme, event_body, sender_secret, now)
            assert verify(scheme, event_body, headers, [old, new], now=now) == now


@pytest.mark.parametrize("scheme", SCHEMES)
class TestAReceiverRejectsWhatItCannotTrust:
    def test_a_tampered_body(self, scheme, secret_for, event_body, now):
        secret = secret_for(scheme)
        headers = signed(scheme, event_body, secret, now)
        tampered = event_body.replace(b"2000", b"9000")

        with pytest.raises(SignatureVerificationError) as caught:
            verify(scheme, tampered, headers, secret, now=now)
        assert caught.value.reason == "no_valid_signature"

    def test_a_re_serialised_body(self, scheme, secret_for, event_body, now):
        secret = secret_for(scheme)
        headers = signed(scheme, event_body, secret, now)
        compact = event_body.replace(b"\n", b"").replace(b"  ", b"")

        with pytest.raises(SignatureVerificationError) as caught:
            verify(scheme, compact, headers, secret, now=now)
        assert caught.value.reason == "no_valid_signature"

    def test_the_wrong_secret(self, scheme, secret_for, event_body, now):
        headers = signed(scheme, event_body, secret_for(scheme), now)

        with pytest.raises(SignatureVerificationError) as caught:
            verify(scheme, event_body, headers, secret_for(scheme), now=now)
        assert caught.value.reason == "no_valid_signature"
        assert not isinstance(caught.value, TimestampOutsideTolerance)

    def test_no_signature_headers(self, scheme, secret_for, event_body, now):
        with pytest.raises(SignatureVerificationError) as caught:
            verify(scheme, event_body, {"Content-Type": "application/json"}, secret_for(scheme))
        assert caught.value.reason == "missing_header"

    def test_a_replayed_delivery_is_too_old(self, scheme, secret_for, event_body, now):
        secret = secret_for(scheme)
        headers = signed(scheme, event_body, secret, now - 301)

        with pytest.raises(TimestampOutsideTolerance) as caught:
            verify(scheme, event_body, headers, secret, now=now)
        assert caught.value.reason == "timestamp_too_old"
        assert caught.value.timestamp == now - 301
        assert caught.value.too_new is False

    def test_a_future_timestamp_is_too_new(self, scheme, secret_for, event_body, now):
        secret = secret_for(scheme)
        headers = signed(scheme, event_body, secret, now + 301)

        with pytest.raises(TimestampOutsideTolerance) as caught:
            verify(scheme, event_body, headers, secret, now=now)
        assert caught.value.reason == "timestamp_too_new"
        assert caught.value.too_new is True

    def test_a_future_timestamp_passes_when_only_replays_are_checked(
        self, scheme, secret_for, event_body, now
    ):
        # Stripe's own libraries do this; the smoke sequence reports it as a warning.
        secret = secret_for(scheme)
        headers = signed(scheme, event_body, secret, now + 3600)

        assert (
            verify(scheme, event_body, headers, secret, now=now, check_future=False) == now + 3600
        )

    def test_the_tolerance_edges_are_inclusive(self, scheme, secret_for, event_body, now):
        secret = secret_for(scheme)
        for timestamp in (now - 300, now + 300):
            headers = signed(scheme, event_body, secret, timestamp)
            assert verify(scheme, event_body, headers, secret, now=now) == timestamp

    def test_a_custom_tolerance(self, scheme, secret_for, event_body, now):
        secret = secret_for(scheme)
        headers = signed(scheme, event_body, secret, now - 60)

        assert verify(scheme, event_body, headers, secret, now=now, tolerance=60) == now - 60
        with pytest.raises(TimestampOutsideTolerance):
            verify(scheme, event_body, headers, secret, now=now, tolerance=59)

    def test_a_stale_timestamp_with_a_bad_signature_is_rejected_not_replayed(
        self, scheme, secret_for, event_body, now
    ):
        # The tolerance is judged only once a signature proved the timestamp authentic.
        headers = signed(scheme, event_body, secret_for(scheme), now - 3600)

        with pytest.raises(SignatureVerificationError) as caught:
            verify(scheme, event_body, headers, secret_for(scheme), now=now)
        assert caught.value.reason == "no_valid_signature"


@pytest.mark.parametrize(
    ("scheme", "name"), [(s, n) for s in SCHEMES for n in signature_header_names(s)]
)
def test_one_signature_header_missing_or_empty(scheme, name, secret_for, event_body, now):
    secret = secret_for(scheme)
    headers = signed(scheme, event_body, secret, now)
    for value in ("", " ", None):
        if value is None:
            del headers[name]
        else:
            headers[name] = value
        with pytest.raises(SignatureVerificationError) as caught:
            verify(scheme, event_body, headers, secret, now=now)
        assert caught.value.reason == "missing_header"


class TestStripeHeaders:
    def test_the_header_carries_one_v1_per_secret(self, stripe_secret, event_body, now):
        headers = sign_headers(
            "stripe", event_body, [stripe_secret, stripe_secret + "x"], timestamp=now
        )
        items = headers["Stripe-Signature"].split(",")

        assert items[0] == f"t={now}"
        assert [i.split("=")[0] for i in items[1:]] == ["v1", "v1"]
        assert all(len(i.split("=")[1]) == 64 for i in items[1:])

    def test_an_old_and_a_new_signature_verify_against_the_new_secret(
        self, stripe_secret, event_body, now
    ):
        new = "whsec_rotated_" + stripe_secret[6:]
        old_sig = stripe_scheme.compute_signature(event_body, stripe_secret, now)
        new_sig = stripe_scheme.compute_signature(event_body, new, now)
        header = f"t={now},v1={old_sig},v1={new_sig}"

        assert verify("stripe", event_body, {"stripe-signature": header}, new, now=now) == now

    def test_other_schemes_are_ignored(self, stripe_secret, event_body, now):
        sig = stripe_scheme.compute_signature(event_body, stripe_secret, now)
        header = f"t={now},v0={'0' * 64},v1={sig}"

        assert stripe_scheme.parse_header(header) == (now, [sig])
        assert verify("stripe", event_body, {"Stripe-Signature": header}, stripe_secret, now=now)

    def test_a_header_without_v1_has_no_valid_signature(self, stripe_secret, event_body, now):
        with pytest.raises(SignatureVerificationError) as caught:
            verify("stripe", event_body, {"Stripe-Signature": f"t={now},v0=abc"}, stripe_secret)
        assert caught.value.reason == "no_valid_signature"

    @pytest.mark.parametrize(
        "header",
        [
            "garbage",
            "v1=abc",  # no timestamp
            "t=,v1=abc",
            "t=abc,v1=abc",
            "t=1.5,v1=abc",
            "t=-5,v1=abc",
            "t= +17,v1=abc",
            "t=1_000,v1=abc",
            "t=\u0661\u0662,v1=abc",  # Arabic-Indic digits: int() would take them
            "t=1,t=2,v1=abc",
            "t=1,v1=abc,",
            "=1,v1=abc",
        ],
    )
    def test_a_malformed_header(self, header, stripe_secret, event_body):
        with pytest.raises(SignatureVerificationError) as caught:
            verify("stripe", event_body, {"Stripe-Signature": header}, stripe_secret)
        assert caught.value.reason == "malformed_header"


class TestStandardHeaders:
    def test_the_headers_carry_id_timestamp_and_space_separated_signatures(
        self, standard_secret, event_body, now
    ):
        other = standard_scheme.SECRET_PREFIX + "c2Vjb25kIGtleQ=="
        headers = sign_headers(
            "standard", event_body, [standard_secret, other], timestamp=now, event_id="msg_1"
        )

        assert headers["webhook-id"] == "msg_1"
        assert headers["webhook-timestamp"] == str(now)
        assert [s[:3] for s in headers["webhook-signature"].split(" ")] == ["v1,", "v1,"]

    def test_signing_needs_an_event_id(self, standard_secret, event_body):
        with pytest.raises(ValueError, match="event_id"):
            sign_headers("standard", event_body, standard_secret)

    def test_an_old_and_a_new_signature_verify_against_the_new_secret(
        self, standard_secret, event_body, now
    ):
        new = standard_scheme.SECRET_PREFIX + "bmV3IGtleSBieXRlcw=="
        sigs = [
            standard_scheme.compute_signature(event_body, s, "msg_1", now)
            for s in (standard_secret, new)
        ]
        headers = {
            "webhook-id": "msg_1",
            "webhook-timestamp": str(now),
            "webhook-signature": " ".join(sigs),
        }

        assert verify("standard", event_body, headers, new, now=now) == now

    def test_the_event_id_is_signed(self, standard_secret, event_body, now):
        headers = sign_headers(
            "standard", event_body, standard_secret, timestamp=now, event_id="msg_1"
        )
        headers["webhook-id"] = "msg_2"

        with pytest.raises(SignatureVerificationError) as caught:
            verify("standard", event_body, headers, standard_secret, now=now)
        assert caught.value.reason == "no_valid_signature"

    def test_a_bare_base64_secret_is_the_same_key(self, standard_secret, event_body, now):
        headers = sign_headers("standard", event_body, standard_secret, timestamp=now, event_id="m")
        bare = standard_secret.removeprefix("whsec_").rstrip("=")

        assert verify("standard", event_body, headers, bare, now=now) == now

    def test_other_signature_versions_are_ignored(self, standard_secret, event_body, now):
        headers = sign_headers("standard", event_body, standard_secret, timestamp=now, event_id="m")
        headers["webhook-signature"] = "v1a,c2lnbmF0dXJl " + headers["webhook-signature"]

        assert verify("standard", event_body, headers, standard_secret, now=now) == now

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("webhook-timestamp", "soon"),
            ("webhook-timestamp", "1733324400.0"),
            ("webhook-timestamp", "-1"),
            ("webhook-signature", "v1"),
            ("webhook-signature", "v1,"),
            ("webhook-signature", ",abc"),
        ],
    )
    def test_a_malformed_header(self, name, value, standard_secret, event_body, now):
        headers = sign_headers("standard", event_body, standard_secret, timestamp=now, event_id="m")
        headers[name] = value

        with pytest.raises(SignatureVerificationError) as caught:
            verify("standard", event_body, headers, standard_secret, now=now)
        assert caught.value.reason == "malformed_header"

    @pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_", "", "whsec_@@@@"])
    def test_a_malformed_secret_is_a_configuration_error(self, secret, event_body):
        with pytest.raises(ValueError):
            sign_headers("standard", event_body, secret, event_id="m")
        with pytest.raises(ValueError):
            verify("standard", event_body, {}, secret)


class TestMisuse:
    def test_an_unknown_scheme(self, event_body):
        for call in (
            lambda: sign_headers("github", event_body, "s"),
            lambda: verify("github", event_body, {}, "s"),
            lambda: signature_header_names("github"),
        ):
            with pytest.raises(ValueError, match="stripe, standard"):
                call()

    @pytest.mark.parametrize("secrets", [[], "", " ", ["whsec_ok", ""]])
    def test_no_usable_secret(self, secrets, event_body):
        with pytest.raises(ValueError, match="secret"):
            sign_headers("stripe", event_body, secrets)
        with pytest.raises(ValueError, match="secret"):
            verify("stripe", event_body, {"Stripe-Signature": "t=1,v1=a"}, secrets)

    def test_a_negative_tolerance(self, stripe_secret, event_body, now):
        headers = sign_headers("stripe", event_body, stripe_secret, timestamp=now)
        with pytest.raises(ValueError, match="tolerance"):
            verify("stripe", event_body, headers, stripe_secret, now=now, tolerance=-1)

    def test_header_names(self):
        assert signature_header_names("stripe") == ("Stripe-Signature",)
        assert signature_header_names("standard") == (
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        )
        assert webhooks.DEFAULT_TOLERANCE == 300
