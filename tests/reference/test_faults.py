"""Each fault switch breaks exactly its control, observably, over real HTTP."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from neruba_harden.reference import FAULTS
from neruba_harden.webhooks import sign_headers
from tests.reference.conftest import STRIPE_SECRET, Target, encode, outcomes, stripe_event

Start = Callable[..., Target]


def _fault(start: Start, name: str, **overrides: object) -> Target:
    return start(faults=frozenset({name}), **overrides)


def test_every_fault_is_documented_and_tested() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    for name, description in FAULTS.items():
        assert description
        assert f'"{name}"' in source.replace(f'FAULTS["{name}"]', ""), name


def test_no_signature_check_accepts_unsigned(start_receiver: Start) -> None:
    broken = _fault(start_receiver, "no-signature-check")
    assert broken.deliver(stripe_event(), sign=False).json()["outcome"] == "accepted"
    forged = broken.deliver(stripe_event(), secrets="whsec_forged")
    assert forged.json()["outcome"] == "accepted"


def test_reserialized_json_rejects_pretty_bodies(start_receiver: Start) -> None:
    # The contract-following receiver accepts pretty bodies: see test_outcomes.
    broken = _fault(start_receiver, "reserialized-json")
    assert broken.deliver(encode(stripe_event(), pretty=True)).json()["outcome"] == "rejected"
    # Compact bodies still pass: only raw-bytes verification is broken.
    assert broken.deliver(stripe_event()).json()["outcome"] == "accepted"


def test_no_replay_window_accepts_old_and_future(start_receiver: Start) -> None:
    broken = _fault(start_receiver, "no-replay-window")
    now = int(time.time())
    assert broken.deliver(stripe_event(), timestamp=now - 86400).json()["outcome"] == "accepted"
    assert broken.deliver(stripe_event(), timestamp=now + 86400).json()["outcome"] == "accepted"
    assert broken.deliver(stripe_event(), secrets="whsec_forged").json()["outcome"] == "rejected"


def test_no_future_check_accepts_future_only(start_receiver: Start) -> None:
    broken = _fault(start_receiver, "no-future-check")
    now = int(time.time())
    assert broken.deliver(stripe_event(), timestamp=now + 3600).json()["outcome"] == "accepted"
    old = broken.deliver(stripe_event(), timestamp=now - 3600)
    assert (old.status_code, old.json()["outcome"]) == (400, "replay")


def test_no_dedupe_processes_every_delivery(start_receiver: Start) -> None:
    broken = _fault(start_receiver, "no-dedupe")
    event = stripe_event()
    assert outcomes([broken.deliver(event) for _ in range(3)]) == ["accepted"] * 3
    changed = dict(event, type="invoice.voided")
    assert broken.deliver(changed).json()["outcome"] == "accepted"
    assert broken.readback(event["id"]).json()["side_effects"] == 4


def test_racy_dedupe_processes_a_burst_more_than_once(start_receiver: Start, db_url: str) -> None:
    broken = _fault(start_receiver, "racy-dedupe", db_url=db_url)
    event = stripe_event()
    counted = Counter(outcomes(broken.burst(event, 20)))
    assert counted["accepted"] > 1, counted
    assert broken.readback(event["id"]).json()["side_effects"] == counted["accepted"]
    # Sequential duplicates are still caught: only the concurrent window is broken.
    assert broken.deliver(event).json()["outcome"] == "duplicate"


def test_conflict_ignored_answers_duplicate(start_receiver: Start) -> None:
    broken = _fault(start_receiver, "conflict-ignored")
    event = stripe_event()
    assert broken.deliver(event).json()["outcome"] == "accepted"
    response = broken.deliver(dict(event, type="invoice.voided"))
    assert (response.status_code, response.json()["outcome"]) == (200, "duplicate")


def test_dedupe_before_processing_swallows_the_retry(start_receiver: Start) -> None:
    broken = _fault(start_receiver, "dedupe-before-processing")
    event = stripe_event(type="neruba.smoke.fail")
    first = broken.deliver(event)
    assert (first.status_code, first.json()["outcome"]) == (500, "failed")
    retry = broken.deliver(event)
    assert (retry.status_code, retry.json()["outcome"]) == (200, "duplicate")
    assert broken.readback(event["id"]).json()["side_effects"] == 0
    ok = stripe_event()
    assert broken.deliver(ok).json()["outcome"] == "accepted"
    assert broken.readback(ok["id"]).json()["side_effects"] == 1


def test_redirect_answers_307(start_receiver: Start) -> None:
    broken = _fault(start_receiver, "redirect")
    event = stripe_event()
    response = broken.deliver(event)
    assert response.status_code == 307
    assert response.headers["location"].endswith("/webhooks/v2")
    body = encode(event)
    moved = broken.client.post(
        broken.base_url + "/webhooks/v2",
        content=body,
        headers=sign_headers("stripe", body, STRIPE_SECRET),
    )
    assert moved.json()["outcome"] == "accepted"


def test_status_only_has_no_outcome_field(start_receiver: Start) -> None:
    broken = _fault(start_receiver, "status-only")
    event = stripe_event()
    first, second = broken.deliver(event), broken.deliver(event)
    assert (first.status_code, second.status_code) == (200, 200)
    assert "outcome" not in first.json() and "outcome" not in second.json()
    conflict = broken.deliver(dict(event, type="invoice.voided"))
    assert conflict.status_code == 422 and "outcome" not in conflict.json()
    rejected = broken.deliver(stripe_event(), sign=False)
    assert rejected.status_code == 400 and "outcome" not in rejected.json()
    spec = broken.client.get(broken.base_url + "/openapi.json").json()
    assert "outcome" not in spec["components"]["schemas"]["Outcome"]["properties"]
