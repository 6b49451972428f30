"""Tell a receiver's answer apart: which contract outcome a status and body stand for.

The body's outcome field (``outcome`` by default) names the outcome; the status code is
normative and must agree with it. A receiver that sends no outcome field is judged by status
alone, and then some outcomes cannot be told apart (200 is `accepted` or `duplicate`): such
an :class:`Outcome` is *ambiguous*, and the steps report it as unverified, never as passed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["OUTCOMES", "STATUSES", "Outcome", "classify_outcome"]

OUTCOMES = ("accepted", "duplicate", "replay", "rejected", "conflict", "in_flight", "failed")

# The statuses CONTRACT.md allows for each outcome.
STATUSES: dict[str, tuple[int, ...]] = {
    "accepted": (200, 202),
    "duplicate": (200,),
    "replay": (400,),
    "rejected": (400, 401),
    "conflict": (422,),
    "in_flight": (409,),
    "failed": (500, 503),
}

# Outside the contract: a redirect (senders treat 3xx as failure), 410 (Standard Webhooks
# senders disable the endpoint) and anything else.
REDIRECT = "redirect"
GONE = "gone"
UNEXPECTED = "unexpected"


@dataclass(frozen=True)
class Outcome:
    """What an answer means under the contract.

    ``name`` is a contract outcome, or ``redirect``, ``gone`` or ``unexpected``.
    ``named_by_body`` says whether the body's outcome field named it (else the status did).
    ``candidates`` are the outcomes the status alone allows. ``status_matches`` is False when
    the body names an outcome whose contract status differs from the one received.
    """

    name: str
    named_by_body: bool
    candidates: tuple[str, ...]
    status_matches: bool = True
    reported: str | None = None

    @property
    def ambiguous(self) -> bool:
        """Told from status alone, and the status fits more than one outcome."""
        return not self.named_by_body and len(self.candidates) > 1

    def could_be(self, *names: str) -> bool:
        """Whether this answer may stand for one of ``names``."""
        if self.named_by_body:
            return self.name in names
        return any(c in names for c in self.candidates)

    def is_(self, *names: str) -> bool:
        """Whether this answer certainly stands for one of ``names``."""
        if self.named_by_body:
            return self.name in names
        return bool(self.candidates) and all(c in names for c in self.candidates)

    def __str__(self) -> str:
        if self.named_by_body:
            return self.name if self.name != UNEXPECTED else f"unknown ({self.reported!r})"
        if self.candidates:
            return " or ".join(self.candidates) + " (by status; no outcome field)"
        return self.name


def outcomes_for_status(status: int) -> tuple[str, ...]:
    return tuple(name for name, codes in STATUSES.items() if status in codes)


def classify_outcome(status: int, body: bytes | str, outcome_field: str = "outcome") -> Outcome:
    """The outcome an answer stands for (see the module docstring)."""
    if 300 <= status < 400:
        return Outcome(REDIRECT, False, ())
    if status == 410:
        return Outcome(GONE, False, ())
    candidates = outcomes_for_status(status)
    reported = _outcome_field(body, outcome_field)
    if reported is not None:
        if reported in OUTCOMES:
            return Outcome(reported, True, candidates, status in STATUSES[reported], reported)
        return Outcome(UNEXPECTED, True, candidates, False, reported)
    if not candidates:
        return Outcome(UNEXPECTED, False, ())
    # By status alone: the first candidate stands in for the name; `ambiguous` tells.
    return Outcome(candidates[0], False, candidates)


def _outcome_field(body: bytes | str, field: str) -> str | None:
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(parsed, dict):
        return None
    value = parsed.get(field)
    return value if isinstance(value, str) else None
