"""No exception raised while signing or verifying carries the secret (DESIGN.md: no output may)."""

from __future__ import annotations

import traceback

import pytest

from neruba_harden.webhooks import SCHEMES, SignatureVerificationError, sign_headers, verify

NOW = 1_733_324_400
BODY = b'{\n  "id": "evt_1",\n  "object": "event"\n}'


def failures(scheme: str, secret: str, other: str):
    """Every way a delivery can fail, as (name, call) pairs."""
    good = sign_headers(scheme, BODY, secret, timestamp=NOW, event_id="msg_1")
    wrong = sign_headers(scheme, BODY, other, timestamp=NOW, event_id="msg_1")
    names = list(good)
    garbled = {name: "t=x,v1" for name in names}
    return [
        ("tampered", lambda: verify(scheme, BODY + b"x", good, secret, now=NOW)),
        ("wrong secret", lambda: verify(scheme, BODY, wrong, secret, now=NOW)),
        ("missing", lambda: verify(scheme, BODY, {}, secret, now=NOW)),
        ("malformed", lambda: verify(scheme, BODY, garbled, secret, now=NOW)),
        ("too old", lambda: verify(scheme, BODY, good, secret, now=NOW + 10_000)),
        ("too new", lambda: verify(scheme, BODY, good, secret, now=NOW - 10_000)),
        ("rotation", lambda: verify(scheme, BODY, wrong, [secret, secret[:-4]], now=NOW)),
        ("rotation, garbled", lambda: verify(scheme, BODY, garbled, [secret, other], now=NOW)),
    ]


def rendered(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_no_verification_failure_mentions_the_secret(scheme, secret_for):
    secret = secret_for(scheme)
    key_part = secret.removeprefix("whsec_")
    for name, call in failures(scheme, secret, secret_for(scheme)):
        with pytest.raises(SignatureVerificationError) as caught:
            call()
        text = rendered(caught.value)
        assert secret not in text, name
        assert key_part not in text, name


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_sup3r-secret-not-base64!",
        "whsec_\u00e9t\u00e9-secret",
        "bm90IGEga2V5?secret",
        "whsec_QUJD=x",
    ],
)
def test_a_malformed_standard_secret_is_not_echoed(secret):
    for call in (
        lambda: sign_headers("standard", BODY, secret, event_id="msg_1"),
        lambda: verify("standard", BODY, {}, secret),
        lambda: verify("standard", BODY, {}, ["whsec_QUJD", secret]),
    ):
        with pytest.raises(ValueError) as caught:
            call()
        text = rendered(caught.value)
        assert secret not in text
        assert secret.removeprefix("whsec_") not in text
