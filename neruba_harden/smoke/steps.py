"""The steps of the smoke sequence: ids, titles, what CONTRACT.md expects, and hints.

One check id per step, ``smoke.accepted`` ... ``smoke.readback``, judged by
:mod:`neruba_harden.smoke.verdicts` (and :mod:`neruba_harden.smoke.readback`). This module
imports nothing heavy: the pytest plugin reads :data:`CHECK_IDS` at collection time.
"""

from __future__ import annotations

from typing import Any

from neruba_harden.findings import Finding, Status, errored, failed
from neruba_harden.smoke.observation import Observation

__all__ = [
    "CHECK_IDS",
    "EXPECTED",
    "REJECTION_CASES",
    "TITLES",
    "evidence",
    "skip_because",
    "unanswered_or_redirected",
]

ACCEPTED = "smoke.accepted"
DUPLICATE = "smoke.duplicate"
CONFLICT = "smoke.conflict"
REPLAY = "smoke.replay"
FUTURE = "smoke.future"
REJECTED = "smoke.rejected"
FAILED = "smoke.failed"
BURST = "smoke.burst"
READBACK = "smoke.readback"

CHECK_IDS: tuple[str, ...] = (
    ACCEPTED, DUPLICATE, CONFLICT, REPLAY, FUTURE, REJECTED, FAILED, BURST, READBACK,
)

TITLES: dict[str, str] = {
    ACCEPTED: "A fresh, correctly signed event is accepted",
    DUPLICATE: "A redelivery of a processed event is a duplicate",
    CONFLICT: "A different payload under a seen event id is a conflict",
    REPLAY: "A validly signed but stale delivery is refused as a replay",
    FUTURE: "A delivery signed beyond the tolerance ahead is refused",
    REJECTED: "Wrong, tampered, missing and malformed signatures are rejected",
    FAILED: "A failed event is not processed, so its retry is processed again",
    BURST: "Concurrent deliveries of one event are processed exactly once",
    READBACK: "The read-back shows one side effect and every outcome",
}

EXPECTED: dict[str, str] = {
    ACCEPTED: "200 (or 202) with outcome 'accepted', stored before answering",
    DUPLICATE: "200 with outcome 'duplicate': the first result stands",
    CONFLICT: "422 application/problem+json with outcome 'conflict'",
    REPLAY: "400 with outcome 'replay' (timestamp outside the tolerance)",
    FUTURE: "400 with outcome 'replay' or 'rejected' (timestamp too far ahead)",
    REJECTED: "400 (401 tolerated) with outcome 'rejected' for every case",
    FAILED: "500 (or 503 with Retry-After) 'failed', and 'failed' again on the retry",
    BURST: "exactly one 'accepted'; every other 'duplicate' or 'in_flight' (409)",
    READBACK: "one side effect per processed event; every delivery's outcome listed",
}

HINT_REDIRECT = (
    "serve the webhook path directly: senders treat a redirect as a failed delivery "
    "(check trailing slashes and http->https redirects in the proxy)"
)
HINT_UNREACHABLE = "check the URL, DNS, firewall and that the receiver is running"
HINT_SIGNATURE = (
    "use the same webhook secret and scheme as the sender, and verify the raw request bytes"
)
HINT_RESERIALIZED = (
    "verify the signature over the raw request bytes: the receiver accepted compact JSON "
    "but rejected the pretty-printed body the sender sends (it re-serialises before verifying)"
)
HINT_DEDUPE = "dedupe by event id with a unique constraint, claimed before processing"
HINT_CONFLICT = (
    "store the SHA-256 of the raw body with the event id; answer 422 conflict when a "
    "redelivery's hash differs, and keep the first payload"
)
HINT_REPLAY = "after the signature verifies, refuse timestamps older than the tolerance"
HINT_FUTURE = (
    "also refuse timestamps more than the tolerance ahead (Standard Webhooks requires it)"
)
HINT_REJECT = "verify every delivery's signature over the raw bytes before processing it"
HINT_FAILED = "record the event as processed only after the handler succeeds"
HINT_STUCK = "on a handler error mark the event failed (not processing), so a retry can claim it"
HINT_BURST = (
    "claim the event id atomically (INSERT under a unique constraint), not check-then-insert"
)
HINT_UNVERIFIED = (
    "name the outcome in the receiver's answers: a JSON field 'outcome', "
    "or set key 'outcome_field' to the field's name"
)

# The bad deliveries of smoke.rejected: sub-case -> what was wrong with it.
REJECTION_CASES: dict[str, str] = {
    "wrong_secret": "signed with another secret",
    "tampered_body": "body changed after signing",
    "missing_header": "no signature header",
    "malformed_header": "signature header is not in the scheme's format",
}


def evidence(check_id: str, *observations: Observation, **extra: Any) -> dict[str, Any]:
    """What was sent and came back (one observation: structured; several: one line each)."""
    found: dict[str, Any] = {}
    if len(observations) == 1:
        found.update(observations[0].to_evidence())
    else:
        for obs in observations:
            found[obs.step] = obs.line()
    found.update(extra)
    found["expected"] = EXPECTED[check_id]
    return found


def unanswered_or_redirected(check_id: str, obs: Observation) -> Finding | None:
    """The verdict every step shares: no answer is an error, a 3xx is a failure."""
    if obs.error is not None:
        return errored(check_id, obs.error, HINT_UNREACHABLE, **evidence(check_id, obs))
    if obs.redirected:
        where = f" to {obs.location}" if obs.location else ""
        return failed(check_id, f"redirect: answered {obs.status}{where}", HINT_REDIRECT,
                      **evidence(check_id, obs))
    if obs.outcome is not None and obs.outcome.name == "gone":
        return failed(check_id, "answered 410 Gone: senders disable such an endpoint",
                      "never answer 410 to a delivery", **evidence(check_id, obs))
    return None


def skip_because(check_id: str, reason: str) -> Finding:
    return Finding(check_id, Status.SKIP, reason)
