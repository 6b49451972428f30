"""Whatever arrives in the headers, verification answers with SignatureVerificationError only."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from neruba_harden.webhooks import (
    SignatureVerificationError,
    TimestampOutsideTolerance,
    verify,
)
from neruba_harden.webhooks import standard as standard_scheme
from neruba_harden.webhooks import stripe as stripe_scheme

NOW = 1_733_324_400
STRIPE_SECRET = "whsec_9f86d081884c7d659a2feaa0c55ad015"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = b'{\n  "id": "evt_1",\n  "object": "event",\n  "type": "charge.succeeded"\n}'

# Every code point, lone surrogates included: a server may hand them over undecoded.
any_text = st.text(st.characters(exclude_categories=()))
# Text that often looks like a header, so the parsers are exercised beyond the first check.
header_like = st.lists(
    st.sampled_from(
        ["t", "=", "t=", "v1=", "v1,", "v0=", ",", " ", "1733324400", "ab", "\u0661", "é"]
    )
    | st.characters(exclude_categories=())
).map("".join)

quick = settings(max_examples=300, deadline=None)


def rejects(scheme: str, headers: dict[str, str], secret: str) -> SignatureVerificationError:
    with pytest.raises(SignatureVerificationError) as caught:
        verify(scheme, BODY, headers, secret, now=NOW)
    return caught.value


@quick
@given(value=st.one_of(any_text, header_like))
@example(value="t=" + "9" * 5000 + ",v1=ab")
@example(value=f"t={NOW},v1=\udcff")
@example(value=f"t={NOW},v1=\u00e9")
def test_any_stripe_header_value_is_rejected_cleanly(value):
    assert rejects("stripe", {"Stripe-Signature": value}, STRIPE_SECRET).reason in {
        "missing_header",
        "malformed_header",
        "no_valid_signature",
    }


@quick
@given(headers=st.dictionaries(st.one_of(any_text, st.just("Stripe-Signature")), any_text))
def test_any_stripe_header_mapping_is_rejected_cleanly(headers):
    rejects("stripe", headers, STRIPE_SECRET)


@quick
@given(
    headers=st.dictionaries(
        st.one_of(any_text, st.sampled_from(standard_scheme.HEADERS)),
        st.one_of(any_text, header_like),
    )
)
def test_any_standard_header_mapping_is_rejected_cleanly(headers):
    rejects("standard", headers, STANDARD_SECRET)


@quick
@given(
    msg_id=any_text, stamp=st.one_of(any_text, header_like), sig=st.one_of(any_text, header_like)
)
@example(msg_id="\ud800", stamp=str(NOW), sig="v1,abc")
def test_any_standard_header_values_are_rejected_cleanly(msg_id, stamp, sig):
    headers = {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": sig}
    rejects("standard", headers, STANDARD_SECRET)


@quick
@given(
    stamp=st.one_of(
        any_text,
        st.integers().map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.integers(min_value=0).map(lambda n: f"0{n}"),
    )
)
@example(stamp="1" * 5000)
@example(stamp="\u0661\u0667\u0663\u0663")
def test_any_signed_standard_timestamp_verifies_or_is_rejected_cleanly(stamp):
    # The signature is right for whatever integer the timestamp parses to, so only the
    # timestamp itself can fail: a malformed header, or outside the tolerance.
    try:
        digits = stamp.isascii() and stamp.isdigit() and int(stamp) >= 0
    except ValueError:  # more digits than int() converts
        digits = False
    signed_as = int(stamp) if digits else 0
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": stamp,
        "webhook-signature": standard_scheme.compute_signature(
            BODY, STANDARD_SECRET, "msg_1", signed_as
        ),
    }
    try:
        verified = verify("standard", BODY, headers, STANDARD_SECRET, now=NOW)
    except TimestampOutsideTolerance as exc:
        assert digits
        assert exc.too_new == (signed_as > NOW)
    except SignatureVerificationError as exc:
        assert not digits
        assert exc.reason == ("missing_header" if not stamp.strip() else "malformed_header")
    else:
        assert verified == signed_as
        assert abs(verified - NOW) <= 300


@quick
@given(timestamp=st.integers(min_value=0, max_value=2**63), future=st.booleans())
def test_a_valid_stripe_signature_is_judged_only_by_its_timestamp(timestamp, future):
    header = stripe_scheme.header_value(BODY, STRIPE_SECRET, timestamp)
    headers = {"Stripe-Signature": header}
    try:
        verified = verify("stripe", BODY, headers, STRIPE_SECRET, now=NOW, check_future=future)
    except TimestampOutsideTolerance as exc:
        assert exc.timestamp == timestamp
        assert exc.too_new == (timestamp > NOW)
    else:
        assert verified == timestamp
        assert timestamp >= NOW - 300
        assert not future or timestamp <= NOW + 300
