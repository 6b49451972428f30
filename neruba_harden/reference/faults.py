"""Fault switches of the reference receiver: each one breaks exactly one control.

The smoke sequence and the checks are proven able to fail by running them against a
receiver started with one of these switches (`ReceiverSettings(faults=frozenset({...}))`,
or `neruba-harden reference serve --fault NAME`).
"""

from __future__ import annotations

from collections.abc import Iterable

NO_SIGNATURE_CHECK = "no-signature-check"
RESERIALIZED_JSON = "reserialized-json"
NO_REPLAY_WINDOW = "no-replay-window"
NO_FUTURE_CHECK = "no-future-check"
NO_DEDUPE = "no-dedupe"
RACY_DEDUPE = "racy-dedupe"
CONFLICT_IGNORED = "conflict-ignored"
DEDUPE_BEFORE_PROCESSING = "dedupe-before-processing"
REDIRECT = "redirect"
STATUS_ONLY = "status-only"

FAULTS: dict[str, str] = {
    NO_SIGNATURE_CHECK: "accepts every delivery without verifying its signature",
    RESERIALIZED_JSON: (
        "verifies the signature against re-serialised compact JSON instead of the raw "
        "bytes, so a pretty-printed (or otherwise non-compact) body is rejected"
    ),
    NO_REPLAY_WINDOW: "ignores the signed timestamp: old and future deliveries are accepted",
    NO_FUTURE_CHECK: (
        "rejects old timestamps only, like Stripe's libraries: a future timestamp is accepted"
    ),
    NO_DEDUPE: "processes every delivery anew: duplicates and conflicts are accepted again",
    RACY_DEDUPE: (
        "deduplicates by check-then-insert with a pause in between and no unique "
        "constraint: concurrent deliveries of one event are processed more than once"
    ),
    CONFLICT_IGNORED: "answers a different payload under a seen event id as a 200 duplicate",
    DEDUPE_BEFORE_PROCESSING: (
        "marks an event processed before its handler runs, so the retry of a failed "
        "event is swallowed as a duplicate"
    ),
    REDIRECT: "the webhook path answers 307 to {webhook_path}/v2 (senders treat 3xx as failure)",
    STATUS_ONLY: "responses carry no outcome field: outcomes are told apart by status alone",
}


def validate_faults(names: Iterable[str]) -> frozenset[str]:
    """Return the names as a frozenset, or raise ValueError naming the unknown ones."""
    found = frozenset(names)
    unknown = sorted(found - FAULTS.keys())
    if unknown:
        raise ValueError(
            f"unknown fault switch {', '.join(unknown)}; expected one of {', '.join(FAULTS)}"
        )
    return found
