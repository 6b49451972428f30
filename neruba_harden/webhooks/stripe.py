"""Stripe's signing scheme: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`.

The MAC is HMAC-SHA256 over `<t>.<raw body>`, keyed with the whole `whsec_...` string.
Modelled on stripe-python's `_webhook.py`, but over raw bytes and with a future bound.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from neruba_harden.webhooks import (
    DEFAULT_TOLERANCE,
    SignatureVerificationError,
    _parse_timestamp,
    _secret_list,
    check_timestamp,
    require_valid_signature,
)

HEADER = "Stripe-Signature"
SCHEME = "v1"


def compute_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<payload>`."""
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def header_value(payload: bytes, secrets: str | Sequence[str], timestamp: int) -> str:
    """`t=<timestamp>,v1=<sig>` with one `v1` per secret (rotation)."""
    signatures = [compute_signature(payload, s, timestamp) for s in _secret_list(secrets)]
    return ",".join([f"t={timestamp}", *(f"{SCHEME}={sig}" for sig in signatures)])


def parse_header(value: str) -> tuple[int, list[str]]:
    """The timestamp and the `v1` signatures of a header; other schemes (`v0`) are ignored."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep or not key:
            raise SignatureVerificationError("malformed_header", "a header item is not key=value")
        if key == "t":
            if timestamp is not None:
                raise SignatureVerificationError("malformed_header", "the timestamp is repeated")
            timestamp = _parse_timestamp(val)
        elif key == SCHEME:
            signatures.append(val)
    if timestamp is None:
        raise SignatureVerificationError("malformed_header", "the header has no timestamp")
    return timestamp, signatures


def verify_header(
    payload: bytes,
    header: str | None,
    secrets: str | Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
    check_future: bool = True,
) -> int:
    """Verify a `Stripe-Signature` value against the raw body; return its timestamp."""
    keys = _secret_list(secrets)
    if header is None or not header.strip():
        raise SignatureVerificationError("missing_header", f"the {HEADER} header is missing")
    timestamp, signatures = parse_header(header)
    expected = [compute_signature(payload, key, timestamp).encode() for key in keys]
    require_valid_signature(signatures, expected)
    return check_timestamp(timestamp, tolerance=tolerance, now=now, check_future=check_future)
