"""What one delivery sent and what came back: enough to retrace it in the receiver's logs.

An :class:`Observation` carries no secret: the body excerpt is bounded and scrubbed, and
signature headers are not kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from neruba_harden import redact
from neruba_harden.smoke.classify import Outcome

__all__ = ["BODY_EXCERPT_CHARS", "Observation", "ReadBack", "body_excerpt", "request_id_of"]

BODY_EXCERPT_CHARS = 200


def body_excerpt(body: bytes, limit: int = BODY_EXCERPT_CHARS) -> str:
    """The start of a response body on one line, scrubbed, at most ``limit`` characters."""
    text = " ".join(body[: limit * 4].decode("utf-8", "replace").split())
    text = redact.scrub(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def request_id_of(headers: dict[str, str], body: bytes) -> str | None:
    """The receiver's request id: the ``X-Request-ID`` header, else the body's ``request_id``."""
    for name, value in headers.items():
        if name.lower() == "x-request-id" and value:
            return value[:128]
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    found = parsed.get("request_id") if isinstance(parsed, dict) else None
    return found[:128] if isinstance(found, str) and found else None


@dataclass(frozen=True)
class Observation:
    """One delivery (or read-back) of the sequence: what was sent, what came back."""

    step: str
    url: str
    event_id: str | None = None
    idempotency_key: str | None = None
    timestamp: int | None = None  # the signed timestamp
    sent_at: float = 0.0  # wall-clock time the request left, unix seconds
    status: int | None = None
    outcome: Outcome | None = None
    request_id: str | None = None
    elapsed_s: float = 0.0
    body: str = ""  # bounded, scrubbed excerpt
    content_type: str | None = None
    location: str | None = None
    retry_after: str | None = None
    error: str | None = None  # a transport fault, one line

    @property
    def answered(self) -> bool:
        return self.error is None and self.status is not None

    @property
    def redirected(self) -> bool:
        return self.status is not None and 300 <= self.status < 400

    def outcome_text(self) -> str:
        return str(self.outcome) if self.outcome is not None else "-"

    def received_line(self) -> str:
        """``422 conflict, request id abc`` (or the transport fault)."""
        if self.error is not None:
            return self.error
        answer = f"{self.status}" if self.outcome is None else f"{self.status} {self.outcome}"
        parts = [answer]
        if self.location:
            parts.append(f"Location: {self.location}")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return ", ".join(parts)

    def line(self) -> str:
        """One line for evidence: what came back first, then the event that was sent."""
        sent = f"event {self.event_id}" if self.event_id else f"step {self.step}"
        if self.timestamp is not None:
            sent += f" signed at {self.timestamp}"
        return f"{self.received_line()} ({sent})"

    def to_evidence(self) -> dict[str, Any]:
        """Structured evidence: what was sent and what came back, body excerpt included."""
        evidence: dict[str, Any] = {"step": self.step, "event_id": self.event_id}
        if self.timestamp is not None:
            evidence["timestamp"] = self.timestamp
        if self.error is not None:
            evidence["url"] = redact.scrub(self.url)
            return evidence
        evidence["status"] = self.status
        evidence["outcome"] = self.outcome_text()
        evidence["request_id"] = self.request_id
        if self.location:
            evidence["location"] = self.location
        if self.body:
            evidence["body"] = self.body
        return evidence

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-compatible (the JSON report and ``webhook send --format json``)."""
        return {
            "step": self.step,
            "url": redact.scrub(self.url),
            "event_id": self.event_id,
            "idempotency_key": self.idempotency_key,
            "timestamp": self.timestamp,
            "sent_at": round(self.sent_at, 3),
            "status": self.status,
            "outcome": None if self.outcome is None else self.outcome.name,
            "outcome_named_by_body": None if self.outcome is None else self.outcome.named_by_body,
            "request_id": self.request_id,
            "elapsed_s": round(self.elapsed_s, 4),
            "body": self.body,
            "content_type": self.content_type,
            "location": self.location,
            "retry_after": self.retry_after,
            "error": self.error,
        }


@dataclass(frozen=True)
class ReadBack:
    """The read-back of one event: the request's observation and the parsed document."""

    observation: Observation
    document: dict[str, Any] | None
