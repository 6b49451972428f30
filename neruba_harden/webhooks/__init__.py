"""Webhook signing and verification for the schemes in CONTRACT.md: `stripe` and `standard`.

One entry point per direction, the scheme named by a string:

    headers = sign_headers("stripe", body, secret)
    timestamp = verify("stripe", body, request_headers, secret)

Exceptions raised by `verify` (both carry a machine-readable `.reason`):

    SignatureVerificationError        missing_header | malformed_header | no_valid_signature
    └── TimestampOutsideTolerance     timestamp_too_old | timestamp_too_new
                                      (raised only after a signature verified)

A bad secret (empty, or not base64 for `standard`) is a configuration fault: `ValueError`.
No message ever contains a secret, a signature or a header value.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_TOLERANCE",
    "SCHEMES",
    "SignatureVerificationError",
    "TimestampOutsideTolerance",
    "check_timestamp",
    "sign_headers",
    "signature_header_names",
    "verify",
]

SCHEMES: tuple[str, ...] = ("stripe", "standard")
DEFAULT_TOLERANCE = 300

_MESSAGES = {
    "missing_header": "the signature header is missing",
    "malformed_header": "the signature header is malformed",
    "no_valid_signature": "no signature matches the payload and secret",
}


class SignatureVerificationError(Exception):
    """The request is not proven to come from the holder of the secret."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or _MESSAGES.get(reason, reason))
        self.reason = reason


class TimestampOutsideTolerance(SignatureVerificationError):
    """A valid signature over a stale (replayed) or future timestamp."""

    def __init__(self, timestamp: int, *, too_new: bool, tolerance: int) -> None:
        direction = "in the future" if too_new else "old"
        super().__init__(
            "timestamp_too_new" if too_new else "timestamp_too_old",
            f"timestamp {timestamp} is more than {tolerance}s {direction}",
        )
        self.timestamp = timestamp
        self.too_new = too_new


def signature_header_names(scheme: str) -> tuple[str, ...]:
    """The headers a scheme's signature travels in."""
    if scheme == "stripe":
        from neruba_harden.webhooks import stripe

        return (stripe.HEADER,)
    if scheme == "standard":
        from neruba_harden.webhooks import standard

        return standard.HEADERS
    raise _unknown_scheme(scheme)


def sign_headers(
    scheme: str,
    payload: bytes,
    secrets: str | Sequence[str],
    *,
    timestamp: int | None = None,
    event_id: str | None = None,
) -> dict[str, str]:
    """The headers to send with `payload`: one signature per secret (several during rotation)."""
    if timestamp is None:
        timestamp = int(time.time())
    if scheme == "stripe":
        from neruba_harden.webhooks import stripe

        return {stripe.HEADER: stripe.header_value(payload, secrets, timestamp)}
    if scheme == "standard":
        from neruba_harden.webhooks import standard

        if not event_id:
            raise ValueError("the standard scheme signs the event id: pass event_id")
        return standard.header_values(payload, secrets, event_id, timestamp)
    raise _unknown_scheme(scheme)


def verify(
    scheme: str,
    payload: bytes,
    headers: Mapping[str, str],
    secrets: str | Sequence[str],
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
    check_future: bool = True,
) -> int:
    """Verify a delivery's raw body against its headers; return the signed timestamp.

    Header names are matched case-insensitively. Any one valid signature against any one
    secret passes; only then is the timestamp held against the tolerance, both ways.
    """
    if scheme == "stripe":
        from neruba_harden.webhooks import stripe

        value = _lowered(headers).get(stripe.HEADER.lower())
        return stripe.verify_header(
            payload, value, secrets, tolerance=tolerance, now=now, check_future=check_future
        )
    if scheme == "standard":
        from neruba_harden.webhooks import standard

        return standard.verify_headers(
            payload, headers, secrets, tolerance=tolerance, now=now, check_future=check_future
        )
    raise _unknown_scheme(scheme)


def require_valid_signature(signatures: Sequence[str], expected: Sequence[bytes]) -> None:
    """Pass when any one presented signature equals any one expected one (rotation).

    Comparisons are constant-time; a non-ASCII signature can never match.
    """
    if not any(
        sig.isascii() and hmac.compare_digest(sig.encode(), exp)
        for sig in signatures
        for exp in expected
    ):
        raise SignatureVerificationError("no_valid_signature")


def check_timestamp(
    timestamp: int,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
    check_future: bool = True,
) -> int:
    """Return `timestamp` if it is within `tolerance` seconds of now, else raise."""
    if tolerance < 0:
        raise ValueError("tolerance must be zero or more seconds")
    if now is None:
        now = time.time()
    if timestamp < now - tolerance:
        raise TimestampOutsideTolerance(timestamp, too_new=False, tolerance=tolerance)
    # Standard Webhooks requires rejecting future timestamps; Stripe's libraries do not.
    if check_future and timestamp > now + tolerance:
        raise TimestampOutsideTolerance(timestamp, too_new=True, tolerance=tolerance)
    return timestamp


def _secret_list(secrets: str | Sequence[str]) -> list[str]:
    """One or several secrets (rotation) as a list; an empty one is a configuration fault."""
    found = [secrets] if isinstance(secrets, str) else list(secrets)
    if not found:
        raise ValueError("no webhook secret given")
    if any(not isinstance(s, str) or not s.strip() for s in found):
        raise ValueError("a webhook secret is empty")
    return found


def _parse_timestamp(text: str) -> int:
    """Unix seconds as sent on the wire: ASCII digits only (int() would take ' +1_0')."""
    if not (text.isascii() and text.isdigit()):
        raise SignatureVerificationError("malformed_header", "the timestamp is not an integer")
    try:
        return int(text)
    except ValueError:  # more digits than int() converts
        raise SignatureVerificationError(
            "malformed_header", "the timestamp is not an integer"
        ) from None


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(name).lower(): value for name, value in headers.items()}


def _unknown_scheme(scheme: str) -> ValueError:
    return ValueError(f"unknown signing scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
