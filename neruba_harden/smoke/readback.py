"""The read-back step: after the fact, the receiver shows one side effect and every outcome.

CONTRACT.md's optional ``GET /webhooks/events/{event_id}`` (admin-scoped) returns the
event's deliveries. The sequence reads back the events whose steps passed and expects::

    {"side_effects": <int>, "deliveries": [{"outcome": ..., "status": ..., "request_id": ...}]}

A delivery is matched by its request id when both sides have one, else by its outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from neruba_harden.findings import Finding, errored, failed, passed, warned
from neruba_harden.smoke.observation import Observation, ReadBack
from neruba_harden.smoke.steps import EXPECTED, HINT_DEDUPE, HINT_REDIRECT, READBACK

__all__ = ["ReadBackCase", "judge_readback"]

HINT_TOKEN = "set admin_token to a token the read-back path accepts"
HINT_VISIBLE = "record every delivery attempt with its outcome and request id"


@dataclass(frozen=True)
class ReadBackCase:
    """One event to read back: how many side effects it must show, which deliveries."""

    label: str
    event_id: str
    side_effects: int
    deliveries: tuple[Observation, ...]


@dataclass(frozen=True)
class _Verdict:
    status: str  # "pass", "warn", "fail", "error"
    line: str
    problem: str = ""
    hint: str = ""


def _listed(obs: Observation, entries: list[dict[str, Any]], used: set[int]) -> bool:
    """Whether ``obs`` appears among ``entries`` (each entry matches one delivery)."""

    def same_answer(entry: dict[str, Any]) -> bool:
        if obs.outcome is not None and obs.outcome.named_by_body:
            return entry.get("outcome") == obs.outcome.name
        return entry.get("status", obs.status) == obs.status

    by_id = [i for i, e in enumerate(entries) if obs.request_id and e.get("request_id") == obs.request_id]
    candidates = by_id or [
        i for i, e in enumerate(entries) if not (obs.request_id and e.get("request_id"))
    ]
    for i in candidates:
        if i not in used and same_answer(entries[i]):
            used.add(i)
            return True
    return False


def _judge_case(case: ReadBackCase, result: ReadBack) -> _Verdict:
    obs, doc = result.observation, result.document
    where = f"{case.label} event {case.event_id}"
    if obs.error is not None:
        return _Verdict("error", f"{where}: {obs.error}", obs.error,
                        "check the read-back path and that it is reachable")
    if obs.redirected:
        return _Verdict("fail", f"{where}: {obs.received_line()}",
                        f"redirect: the read-back answered {obs.status}", HINT_REDIRECT)
    if obs.status in (401, 403):
        return _Verdict("error", f"{where}: {obs.received_line()}",
                        f"the read-back refused the admin token ({obs.status})", HINT_TOKEN)
    if obs.status == 404:
        return _Verdict("fail", f"{where}: 404, not found", f"the {case.label} event is not "
                        "visible in the read-back", HINT_VISIBLE)
    if obs.status != 200 or doc is None:
        return _Verdict("error", f"{where}: {obs.received_line()} {obs.body[:80]}",
                        f"the read-back answered {obs.status}, not a JSON object",
                        "answer the read-back with the JSON document of CONTRACT.md")
    raw_entries = doc.get("deliveries")
    entries = [e for e in raw_entries if isinstance(e, dict)] if isinstance(raw_entries, list) else []
    used: set[int] = set()
    answered = [d for d in case.deliveries if d.answered]
    missing = [d for d in answered if not _listed(d, entries, used)]
    effects = doc.get("side_effects")
    counted = isinstance(effects, int) and not isinstance(effects, bool)
    line = (
        f"{where}: {effects if counted else 'no'} side effects (expected {case.side_effects}), "
        f"{len(answered) - len(missing)} of {len(answered)} outcomes listed"
    )
    if counted and effects != case.side_effects:
        return _Verdict("fail", line, f"{case.label} event shows {effects} side effects, "
                        f"expected {case.side_effects}", HINT_DEDUPE)
    if missing:
        outcomes = Counter(d.outcome_text() for d in missing)
        shown = ", ".join(f"{n}x {name}" for name, n in outcomes.items())
        return _Verdict("fail", line + f"; missing: {shown}",
                        f"{len(missing)} outcomes of the {case.label} event not in the read-back",
                        HINT_VISIBLE)
    if not counted:
        return _Verdict("warn", line, "the read-back shows no side-effect count",
                        "add 'side_effects' to the read-back document")
    return _Verdict("pass", line)


def judge_readback(
    results: Sequence[tuple[ReadBackCase, ReadBack]], left_out: Sequence[str] = ()
) -> Finding:
    """One finding for every event read back; ``left_out`` says which were not, and why."""
    verdicts = [_judge_case(case, result) for case, result in results]
    proof: dict[str, Any] = {
        case.label: verdict.line for (case, _), verdict in zip(results, verdicts, strict=True)
    }
    if left_out:
        proof["not_read_back"] = list(left_out)
    proof["expected"] = EXPECTED[READBACK]
    for status, make in (("error", errored), ("fail", failed), ("warn", warned)):
        bad = [v for v in verdicts if v.status == status]
        if bad:
            return make(READBACK, bad[0].problem, bad[0].hint, **proof)
    noun = "event" if len(results) == 1 else "events"
    return passed(READBACK, f"{len(results)} {noun} read back: side effects and outcomes as "
                  "expected", **proof)
