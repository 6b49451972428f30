"""How each step's answers are judged against CONTRACT.md: one finding per step.

``pass``; ``warn`` (an accepted future timestamp; anything status alone cannot prove, as
"unverified"); ``fail`` with what was sent, what came back, what the contract expects and a
hint; ``error`` when there was no answer (timeout, refused, DNS); ``skip`` with the reason.
A 3xx is always a failure that says "redirect".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from neruba_harden.findings import Finding, errored, failed, passed, skipped, warned
from neruba_harden.smoke.observation import Observation
from neruba_harden.smoke.steps import (
    ACCEPTED,
    BURST,
    CONFLICT,
    DUPLICATE,
    EXPECTED,
    FAILED,
    FUTURE,
    HINT_BURST,
    HINT_CONFLICT,
    HINT_DEDUPE,
    HINT_FAILED,
    HINT_FUTURE,
    HINT_REDIRECT,
    HINT_REJECT,
    HINT_REPLAY,
    HINT_RESERIALIZED,
    HINT_SIGNATURE,
    HINT_STUCK,
    HINT_UNREACHABLE,
    HINT_UNVERIFIED,
    REJECTED,
    REJECTION_CASES,
    REPLAY,
    evidence,
    unanswered_or_redirected,
)

__all__ = [
    "judge_accepted",
    "judge_burst",
    "judge_conflict",
    "judge_duplicate",
    "judge_failed",
    "judge_future",
    "judge_rejected",
    "judge_replay",
]


def _answer(obs: Observation) -> str:
    """``500 failed`` or ``502 text/html`` for summaries."""
    if obs.outcome is not None and obs.outcome.name != "unexpected":
        name = obs.outcome.name if obs.outcome.named_by_body else "/".join(obs.outcome.candidates)
        return f"{obs.status} {name}"
    kind = (obs.content_type or "no content type").split(";")[0]
    return f"{obs.status} {kind}"


def _unverified(check_id: str, what: str, obs: Observation) -> Finding:
    return warned(check_id, f"unverified: {what}", HINT_UNVERIFIED, **evidence(check_id, obs))


def _status_mismatch(check_id: str, obs: Observation) -> Finding | None:
    outcome = obs.outcome
    if outcome is not None and outcome.named_by_body and not outcome.status_matches:
        return warned(check_id, f"outcome '{outcome.name}' came with status {obs.status}",
                      "answer the status the contract gives each outcome",
                      **evidence(check_id, obs))
    return None


# -- single deliveries --------------------------------------------------------------------


def judge_accepted(obs: Observation, probe: Observation | None = None) -> Finding:
    """A fresh event, correctly signed now: accepted (200/202)."""
    verdict = unanswered_or_redirected(ACCEPTED, obs)
    if verdict is not None:
        return verdict
    assert obs.outcome is not None
    if obs.outcome.is_("accepted"):
        return _status_mismatch(ACCEPTED, obs) or passed(
            ACCEPTED, "a fresh, signed event was accepted", **evidence(ACCEPTED, obs))
    if obs.outcome.ambiguous and obs.outcome.could_be("accepted"):
        return _unverified(ACCEPTED, f"{obs.status} without an outcome field", obs)
    if obs.outcome.could_be("rejected", "replay"):
        reserialises = probe is not None and probe.outcome is not None and probe.outcome.could_be(
            "accepted")
        extra = {"compact_json_probe": probe.line()} if probe is not None else {}
        return failed(ACCEPTED, f"a correctly signed event was refused ({_answer(obs)})",
                      HINT_RESERIALIZED if reserialises else HINT_SIGNATURE,
                      **evidence(ACCEPTED, obs, **extra))
    return failed(ACCEPTED, f"a fresh, signed event was answered {_answer(obs)}",
                  "see the receiver's log for this request id", **evidence(ACCEPTED, obs))


def judge_duplicate(obs: Observation) -> Finding:
    """The same bytes again, re-signed now: duplicate (200), nothing processed."""
    verdict = unanswered_or_redirected(DUPLICATE, obs)
    if verdict is not None:
        return verdict
    assert obs.outcome is not None
    if obs.outcome.is_("duplicate"):
        return _status_mismatch(DUPLICATE, obs) or passed(
            DUPLICATE, "a redelivery was answered duplicate", **evidence(DUPLICATE, obs))
    if obs.outcome.ambiguous and obs.outcome.could_be("duplicate"):
        return _unverified(DUPLICATE, f"{obs.status} without an outcome field", obs)
    if obs.outcome.is_("accepted"):
        return failed(DUPLICATE, "a redelivered event was processed again", HINT_DEDUPE,
                      **evidence(DUPLICATE, obs))
    if obs.outcome.is_("in_flight"):
        return failed(DUPLICATE, "a completed event is still answered in_flight", HINT_STUCK,
                      **evidence(DUPLICATE, obs))
    if obs.outcome.is_("conflict"):
        return failed(DUPLICATE, "an identical redelivery was answered conflict",
                      "hash the raw request bytes, exactly as received", **evidence(DUPLICATE, obs))
    return failed(DUPLICATE, f"a redelivery was answered {_answer(obs)}", HINT_DEDUPE,
                  **evidence(DUPLICATE, obs))


def judge_conflict(obs: Observation) -> Finding:
    """A different payload under the accepted event's id: 422 problem+json conflict."""
    verdict = unanswered_or_redirected(CONFLICT, obs)
    if verdict is not None:
        return verdict
    assert obs.outcome is not None
    if obs.outcome.is_("conflict"):
        mismatch = _status_mismatch(CONFLICT, obs)
        if mismatch is not None:
            return mismatch
        if "problem+json" not in (obs.content_type or ""):
            return warned(CONFLICT, "conflict answered without application/problem+json",
                          "answer conflicts as RFC 9457 problem details",
                          content_type=obs.content_type, **evidence(CONFLICT, obs))
        return passed(CONFLICT, "a changed payload under a seen id was a conflict",
                      **evidence(CONFLICT, obs))
    if obs.outcome.could_be("accepted", "duplicate") and obs.status is not None and (
        obs.status < 300
    ):
        what = "processed" if obs.outcome.is_("accepted") else f"answered {_answer(obs)}"
        return failed(CONFLICT, f"a changed payload under a seen id was {what}", HINT_CONFLICT,
                      **evidence(CONFLICT, obs))
    return failed(CONFLICT, f"a changed payload under a seen id: {_answer(obs)}", HINT_CONFLICT,
                  **evidence(CONFLICT, obs))


def _refused(obs: Observation) -> bool:
    return obs.status in (400, 401) and obs.outcome is not None and obs.outcome.could_be(
        "rejected", "replay")


def judge_replay(obs: Observation, age_s: int) -> Finding:
    """Validly signed ``age_s`` seconds ago (beyond the tolerance): refused as a replay."""
    verdict = unanswered_or_redirected(REPLAY, obs)
    if verdict is not None:
        return verdict
    assert obs.outcome is not None
    if _refused(obs):
        if obs.outcome.named_by_body and obs.outcome.name == "rejected":
            return warned(REPLAY, "stale delivery refused, but as 'rejected', not 'replay'",
                          "answer outcome 'replay' for a valid signature with a stale timestamp",
                          **evidence(REPLAY, obs))
        return passed(REPLAY, f"a delivery signed {age_s}s ago was refused",
                      **evidence(REPLAY, obs))
    if obs.status is not None and obs.status < 300:
        return failed(REPLAY, f"a delivery signed {age_s}s ago was answered {_answer(obs)}",
                      HINT_REPLAY, **evidence(REPLAY, obs))
    return failed(REPLAY, f"a stale delivery was answered {_answer(obs)}", HINT_REPLAY,
                  **evidence(REPLAY, obs))


def judge_future(obs: Observation, ahead_s: int) -> Finding:
    """Validly signed ``ahead_s`` seconds in the future: refused; accepted is a warning."""
    verdict = unanswered_or_redirected(FUTURE, obs)
    if verdict is not None:
        return verdict
    if _refused(obs):
        return passed(FUTURE, f"a delivery signed {ahead_s}s ahead was refused",
                      **evidence(FUTURE, obs))
    if obs.status is not None and obs.status < 300:
        return warned(FUTURE, f"a delivery signed {ahead_s}s in the future was accepted",
                      HINT_FUTURE, **evidence(FUTURE, obs))
    return failed(FUTURE, f"a future-dated delivery was answered {_answer(obs)}", HINT_FUTURE,
                  **evidence(FUTURE, obs))


# -- several deliveries --------------------------------------------------------------------


def judge_rejected(cases: Mapping[str, Observation]) -> Finding:
    """Each bad delivery (see REJECTION_CASES) answered 400 (401 tolerated) 'rejected'."""
    observations = list(cases.values())
    case_lines = {name: f"{obs.line()}; {REJECTION_CASES[name]}" for name, obs in cases.items()}
    proof = {**case_lines, "expected": EXPECTED[REJECTED]}
    errors = [obs for obs in observations if obs.error is not None]
    if errors:
        return errored(REJECTED, errors[0].error or "no answer", HINT_UNREACHABLE, **proof)
    redirected = [obs for obs in observations if obs.redirected]
    if redirected:
        where = f" to {redirected[0].location}" if redirected[0].location else ""
        return failed(REJECTED, f"redirect: answered {redirected[0].status}{where}",
                      HINT_REDIRECT, **proof)
    let_through = [name for name, obs in cases.items() if obs.status is not None and obs.status < 300]
    if let_through:
        hint = HINT_REJECT
        if let_through == ["missing_header"]:
            hint = "a missing signature header is a rejection, not a skipped check"
        elif "tampered_body" in let_through and "wrong_secret" not in let_through:
            hint = "verify the signature over the body bytes received, not a parsed copy"
        return failed(REJECTED, f"bad signatures accepted ({len(let_through)} of {len(cases)})",
                      hint, accepted_cases=let_through, **proof)
    crashed = [name for name, obs in cases.items() if obs.status is not None and obs.status >= 500]
    if crashed:
        return failed(REJECTED, f"bad signatures answered 5xx ({len(crashed)} of {len(cases)})",
                      "treat a bad or malformed signature as a 400 rejection, not a crash",
                      crashed_cases=crashed, **proof)
    off_contract = [name for name, obs in cases.items() if not _refused(obs)]
    if off_contract:
        return warned(REJECTED, "bad signatures refused, but not as 400 'rejected'",
                      "answer 400 with outcome 'rejected' to any signature problem",
                      off_contract_cases=off_contract, **proof)
    return passed(REJECTED, f"{len(cases)} deliveries with bad signatures were rejected", **proof)


def judge_failed(first: Observation, retry: Observation | None) -> Finding:
    """The failure-injection event answered 'failed', and its retry processed again."""
    verdict = unanswered_or_redirected(FAILED, first)
    if verdict is not None:
        return verdict
    assert first.outcome is not None
    if first.status is not None and first.status < 300:
        return skipped(FAILED, "the receiver does not support failure injection "
                       f"(answered {_answer(first)})", **evidence(FAILED, first))
    if not first.outcome.is_("failed"):
        return failed(FAILED, f"the failure-injection event was answered {_answer(first)}",
                      "route the failure-injection event type to a handler that raises",
                      **evidence(FAILED, first))
    if retry is None:  # pragma: no cover - the runner always retries a failed event
        return errored(FAILED, "the retry was not sent", **evidence(FAILED, first))
    verdict = unanswered_or_redirected(FAILED, retry)
    if verdict is not None:
        return verdict.with_(evidence=evidence(FAILED, first, retry))
    assert retry.outcome is not None
    proof = evidence(FAILED, first, retry)
    if retry.outcome.is_("failed", "accepted"):
        if first.status == 503 and not first.retry_after:
            return warned(FAILED, "503 'failed' without a Retry-After header",
                          "send Retry-After with a 503", **proof)
        return passed(FAILED, "a failed event's retry was processed again", **proof)
    if retry.outcome.could_be("duplicate"):
        return failed(FAILED, "the retry of a failed event was swallowed as a duplicate",
                      HINT_FAILED, **proof)
    if retry.outcome.is_("in_flight"):
        return failed(FAILED, "the retry of a failed event was answered in_flight", HINT_STUCK,
                      **proof)
    return failed(FAILED, f"the retry of a failed event was answered {_answer(retry)}",
                  HINT_FAILED, **proof)


def judge_burst(observations: Sequence[Observation]) -> Finding:
    """N concurrent deliveries of one fresh event: exactly one accepted."""
    total = len(observations)
    counts: dict[str, int] = {}
    for obs in observations:
        key = "no answer" if obs.error else _answer(obs)
        counts[key] = counts.get(key, 0) + 1
    accepted = [o for o in observations if o.outcome is not None and o.outcome.is_("accepted")]
    first = observations[0] if observations else None
    proof: dict[str, Any] = {
        "event_id": first.event_id if first else None,
        "deliveries": total,
        "answers": counts,
        "accepted_request_ids": [o.request_id for o in accepted][:10],
        "expected": EXPECTED[BURST],
    }
    errors = [o for o in observations if o.error is not None]
    if errors:
        return errored(BURST, f"{len(errors)} of {total} deliveries: {errors[0].error}",
                       HINT_UNREACHABLE, **proof)
    redirected = [o for o in observations if o.redirected]
    if redirected:
        return failed(BURST, f"redirect: answered {redirected[0].status}", HINT_REDIRECT, **proof)
    if len(accepted) > 1:
        return failed(BURST, f"{len(accepted)} of {total} concurrent deliveries were processed",
                      HINT_BURST, **proof)
    others = [
        o for o in observations
        if o.outcome is not None and not o.outcome.could_be("accepted", "duplicate", "in_flight")
    ]
    if others:
        return failed(BURST, f"{len(others)} of {total} concurrent deliveries: {_answer(others[0])}",
                      "under concurrency the losers answer duplicate or in_flight (409)", **proof)
    if any(o.outcome is not None and o.outcome.ambiguous for o in observations):
        return warned(BURST, "unverified: status alone cannot tell accepted from duplicate",
                      HINT_UNVERIFIED, **proof)
    if not accepted:
        return failed(BURST, f"none of {total} concurrent deliveries was accepted", HINT_BURST,
                      **proof)
    return passed(BURST, f"1 of {total} concurrent deliveries accepted, the rest deduplicated",
                  **proof)
