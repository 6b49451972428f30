"""The read-back step's verdicts, and the sequence as a registered preflight check."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from neruba_harden.config import load_settings
from neruba_harden.findings import Status
from neruba_harden.registry import CheckContext, run_checks, select_checks
from neruba_harden.smoke.classify import classify_outcome
from neruba_harden.smoke.observation import Observation, ReadBack
from neruba_harden.smoke.readback import ReadBackCase, judge_readback
from neruba_harden.smoke.steps import CHECK_IDS
from tests.conftest import CANARY_WEBHOOK_SECRET
from tests.smoke.conftest import StartReceiver
from tests.smoke.receivers import RunningReceiver


def delivery(outcome: str, status: int, request_id: str) -> Observation:
    body = f'{{"outcome": "{outcome}"}}'.encode()
    return Observation("accepted", "http://r/webhooks", "evt_1", status=status,
                       outcome=classify_outcome(status, body), request_id=request_id)


DELIVERIES = (delivery("accepted", 200, "r1"), delivery("duplicate", 200, "r2"))
CASE = ReadBackCase("accepted", "evt_1", 1, DELIVERIES)


def read_back(document: dict[str, Any] | None, status: int = 200) -> ReadBack:
    seen = Observation("readback", "http://r/webhooks/events/evt_1", "evt_1", status=status,
                       outcome=classify_outcome(status, b""))
    return ReadBack(seen, document)


def entries(*pairs: tuple[str, str]) -> list[dict[str, object]]:
    return [{"outcome": o, "request_id": r} for o, r in pairs]


def test_one_side_effect_and_every_outcome_listed_passes() -> None:
    doc = {"side_effects": 1, "deliveries": entries(("accepted", "r1"), ("duplicate", "r2"))}
    assert judge_readback([(CASE, read_back(doc))]).status is Status.PASS


def test_two_side_effects_fail_even_when_every_answer_looked_right() -> None:
    doc = {"side_effects": 2, "deliveries": entries(("accepted", "r1"), ("duplicate", "r2"))}
    finding = judge_readback([(CASE, read_back(doc))])
    assert finding.status is Status.FAIL
    assert "2 side effects" in finding.summary and "unique constraint" in finding.hint


def test_an_outcome_missing_from_the_read_back_fails() -> None:
    doc = {"side_effects": 1, "deliveries": entries(("accepted", "r1"))}
    finding = judge_readback([(CASE, read_back(doc))])
    assert finding.status is Status.FAIL and "not in the read-back" in finding.summary


def test_a_refused_admin_token_is_an_error_not_a_failure() -> None:
    finding = judge_readback([(CASE, read_back(None, status=401))])
    assert finding.status is Status.ERROR and "admin token" in finding.summary


def test_a_read_back_without_a_side_effect_count_is_a_warning() -> None:
    doc = {"deliveries": entries(("accepted", "r1"), ("duplicate", "r2"))}
    assert judge_readback([(CASE, read_back(doc))]).status is Status.WARN


def test_the_sequence_is_registered_for_preflight_with_every_step_id() -> None:
    (spec,) = [s for s in select_checks(["smoke"]) if s.check_id == "smoke.sequence"]
    assert set(CHECK_IDS) <= set(spec.ids)
    assert spec.needs == ("url", "webhook_secret")


def test_without_a_url_the_sequence_is_one_skip_with_the_reason(tmp_path: Path) -> None:
    ctx = CheckContext(settings=load_settings(None, None, {}, environ={}, cwd=tmp_path))
    (finding,) = run_checks(select_checks(["smoke"]), ctx)
    assert finding.status is Status.SKIP and "url" in finding.summary


def test_preflight_runs_the_whole_sequence_against_a_receiver(
    start_receiver: StartReceiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with start_receiver(secret=CANARY_WEBHOOK_SECRET) as receiver:
        assert isinstance(receiver, RunningReceiver)
        monkeypatch.setenv("SMOKE_TEST_SECRET", CANARY_WEBHOOK_SECRET)
        settings = load_settings(None, None, {"url": receiver.url,
                                              "webhook_secret": "env:SMOKE_TEST_SECRET"},
                                 environ={}, cwd=tmp_path)
        findings = run_checks(select_checks(["smoke"]), CheckContext(settings=settings))
    assert [f.check_id for f in findings] == list(CHECK_IDS)
    assert {f.status for f in findings} == {Status.PASS, Status.SKIP}  # no read-back path
    assert CANARY_WEBHOOK_SECRET not in repr([f.to_dict() for f in findings])


def test_a_plain_http_remote_target_is_a_single_error_in_preflight(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    monkeypatch.setenv("SMOKE_TEST_SECRET", "whsec_plainhttp123")
    settings = load_settings(None, None, {"url": "http://staging.example",
                                          "webhook_secret": "env:SMOKE_TEST_SECRET"},
                             environ={}, cwd=tmp_path)
    (finding,) = run_checks(select_checks(["smoke"]), CheckContext(settings=settings))
    assert finding.status is Status.ERROR and "plain http" in finding.summary


def test_the_sequence_runs_from_inside_a_running_event_loop(start_receiver: StartReceiver) -> None:
    from neruba_harden.smoke.runner import run_sequence

    async def inside_a_loop() -> str:
        with start_receiver() as receiver:
            return run_sequence(receiver.target(burst=3)).finding("smoke.accepted").status.value

    assert asyncio.run(inside_a_loop()) == "pass"
