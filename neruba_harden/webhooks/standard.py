"""Standard Webhooks 1.0: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64>`.

The MAC is HMAC-SHA256 over `<id>.<timestamp>.<raw body>`, keyed with the bytes that the
secret `whsec_<base64>` encodes; several signatures are separated by spaces.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence

from neruba_harden.webhooks import (
    DEFAULT_TOLERANCE,
    SignatureVerificationError,
    _lowered,
    _parse_timestamp,
    _secret_list,
    check_timestamp,
    require_valid_signature,
)

HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
SECRET_PREFIX = "whsec_"
VERSION = "v1"


def decode_secret(secret: str) -> bytes:
    """The key bytes of `whsec_<base64>` (a bare base64 key is accepted too)."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        # Unpadded base64 is common in the wild; the official libraries accept it too.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the standard webhook secret is not 'whsec_' followed by base64") from None
    if not key:
        raise ValueError("the standard webhook secret encodes an empty key")
    return key


def compute_signature(payload: bytes, secret: str, msg_id: str, timestamp: int) -> str:
    """`v1,<base64 HMAC-SHA256 of <id>.<timestamp>.<payload>>`."""
    return _sign(decode_secret(secret), payload, msg_id, timestamp)


def header_values(
    payload: bytes, secrets: str | Sequence[str], msg_id: str, timestamp: int
) -> dict[str, str]:
    """The three headers, with one `v1` signature per secret (rotation)."""
    signatures = [compute_signature(payload, s, msg_id, timestamp) for s in _secret_list(secrets)]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def parse_signatures(value: str) -> list[str]:
    """The `v1,<b64>` entries of a `webhook-signature` value; other versions are ignored."""
    found = []
    for entry in value.split():
        version, sep, sig = entry.partition(",")
        if not (version and sep and sig):
            raise SignatureVerificationError(
                "malformed_header", "a webhook-signature entry is not version,signature"
            )
        if version == VERSION:
            found.append(entry)
    return found


def verify_headers(
    payload: bytes,
    headers: Mapping[str, str],
    secrets: str | Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
    check_future: bool = True,
) -> int:
    """Verify a delivery against its three headers; return the signed timestamp."""
    # A bad secret is a configuration fault (ValueError), whatever the request.
    keys = [decode_secret(s) for s in _secret_list(secrets)]
    values = _lowered(headers)
    msg_id, stamp, signature = (values.get(name, "") for name in HEADERS)
    missing = [name for name in HEADERS if not values.get(name, "").strip()]
    if missing:
        raise SignatureVerificationError(
            "missing_header", f"missing header(s): {', '.join(missing)}"
        )
    timestamp = _parse_timestamp(stamp)
    signatures = parse_signatures(signature)
    try:
        expected = [_sign(key, payload, msg_id, timestamp).encode() for key in keys]
    except UnicodeEncodeError:  # a webhook-id no sender could have signed (lone surrogates)
        raise SignatureVerificationError(
            "malformed_header", "the webhook-id is not valid text"
        ) from None
    require_valid_signature(signatures, expected)
    return check_timestamp(timestamp, tolerance=tolerance, now=now, check_future=check_future)


def _sign(key: bytes, payload: bytes, msg_id: str, timestamp: int) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    mac = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(mac).decode('ascii')}"
