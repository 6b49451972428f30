"""`pytest --neruba-smoke`: the sequence as test items, as a CD job after a deploy runs it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.conftest import assert_no_canary
from tests.plugin.conftest import QUIET, smoke_args
from tests.smoke.receivers import RunningReceiver, closed_port_url

STEPS = 9


def outputs(result: pytest.RunResult) -> str:
    return "\n".join(result.outlines + result.errlines)


def test_every_step_is_a_passing_item_against_a_good_receiver(
    pytester: pytest.Pytester, good_receiver: RunningReceiver
) -> None:
    result = pytester.runpytest(*smoke_args(good_receiver, "-v", readback=True))
    result.assert_outcomes(passed=STEPS)
    result.stdout.fnmatch_lines([
        f"neruba-harden: {good_receiver.url} (scheme stripe, smoke sequence on)",
        "neruba-smoke::smoke.accepted PASSED*",
        "neruba-smoke::smoke.readback PASSED*",
    ])
    assert_no_canary(outputs(result))


def test_a_broken_control_fails_its_item_with_the_evidence(
    pytester: pytest.Pytester, broken_receiver: RunningReceiver
) -> None:
    junit = pytester.path / "smoke.xml"
    result = pytester.runpytest(*smoke_args(broken_receiver, f"--junitxml={junit}"))
    result.assert_outcomes(passed=7, failed=1, skipped=1)  # no read-back configured
    result.stdout.fnmatch_lines([
        "*smoke.failed (neruba-harden smoke)*",
        "smoke.failed: the retry of a failed event was swallowed as a duplicate",
        "  failed: 500 failed, request id *(event evt_smoke_*_failed signed at *)",
        "  retry: 200 duplicate, request id *",
        "  expected: 500 (or 503 with Retry-After) 'failed', and 'failed' again on the retry",
        "  hint: record the event as processed only after the handler succeeds",
        "FAILED neruba-smoke::smoke.failed*",
    ])
    assert "Traceback" not in outputs(result)
    xml = junit.read_text(encoding="utf-8")
    assert_no_canary(outputs(result), xml)

    cases = {c.get("name"): c for c in ET.fromstring(xml).iter("testcase")}
    failed = cases["smoke.failed"]
    props = {p.get("name"): p.get("value") or "" for p in failed.iter("property")}
    assert props["check_status"] == "fail"
    assert "swallowed as a duplicate" in props["summary"]
    assert props["retry"].startswith("200 duplicate")
    assert failed.find("failure") is not None
    accepted = {p.get("name"): p.get("value") or "" for p in cases["smoke.accepted"].iter("property")}
    assert accepted["event_id"].startswith("evt_smoke_") and accepted["outcome"] == "accepted"


def test_a_status_only_receiver_passes_with_unverified_warnings(
    pytester: pytest.Pytester, status_only_receiver: RunningReceiver
) -> None:
    result = pytester.runpytest(*smoke_args(status_only_receiver, readback=True))
    result.assert_outcomes(passed=STEPS, warnings=3)
    result.stdout.fnmatch_lines(["*NerubaSmokeWarning: smoke.accepted: unverified*"])


def test_an_unreachable_receiver_is_an_error_and_the_rest_skip(pytester: pytest.Pytester) -> None:
    url = closed_port_url()
    result = pytester.runpytest("--neruba-url", url, "--neruba-secret",
                                "env:NERUBA_PLUGIN_TEST_SECRET", "--neruba-smoke", "-rs", *QUIET)
    result.assert_outcomes(errors=1, skipped=STEPS - 1)
    result.stdout.fnmatch_lines([
        "*ERROR at setup of smoke.accepted (neruba-harden smoke)*",
        f"smoke.accepted: connection refused by {url}/webhooks",
        "*depends on smoke.accepted, which came out error*",
    ])
    assert "Traceback" not in outputs(result)


def test_an_unresolvable_secret_is_one_clear_error_per_item(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--neruba-url", "http://127.0.0.1:9", "--neruba-secret",
                                "env:NERUBA_NOT_SET_ANYWHERE", "--neruba-smoke", *QUIET)
    result.assert_outcomes(errors=STEPS)
    result.stdout.fnmatch_lines([
        "neruba-harden: env:NERUBA_NOT_SET_ANYWHERE: environment variable "
        "NERUBA_NOT_SET_ANYWHERE is not set",
    ])
    assert "Traceback" not in outputs(result)


def test_plain_http_to_a_remote_host_is_refused(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--neruba-url", "http://staging.example", "--neruba-secret",
                                "env:NERUBA_PLUGIN_TEST_SECRET", "--neruba-smoke", *QUIET)
    result.assert_outcomes(errors=STEPS)
    result.stdout.fnmatch_lines(["*refusing to send signed webhooks over plain http://*"])


def test_without_a_url_the_items_skip_with_the_reason(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--neruba-smoke", "-rs", *QUIET)
    result.assert_outcomes(skipped=STEPS)
    result.stdout.fnmatch_lines(["*no receiver configured: pass --neruba-url*"])


def test_steps_can_be_selected_by_keyword_and_marker(
    pytester: pytest.Pytester, good_receiver: RunningReceiver
) -> None:
    pytester.makepyfile("def test_unrelated(): pass")
    result = pytester.runpytest(*smoke_args(good_receiver, "-k", "accepted or duplicate"))
    result.assert_outcomes(passed=2, deselected=STEPS - 1)
    result = pytester.runpytest(*smoke_args(good_receiver, "-m", "neruba_smoke", "-q"))
    result.assert_outcomes(passed=STEPS - 1, skipped=1, deselected=1)


def test_it_works_with_xdist_across_two_workers(
    pytester: pytest.Pytester, good_receiver: RunningReceiver
) -> None:
    pytester.makepyfile("""
        def test_user_sends_an_event(neruba_webhook):
            assert neruba_webhook.send("invoice.paid", {"id": "in_1"}).outcome.name == "accepted"
    """)
    result = pytester.runpytest_subprocess(*smoke_args(good_receiver, "-n", "2", readback=True))
    result.assert_outcomes(passed=STEPS + 1)
    assert_no_canary(outputs(result))


def test_it_works_without_xdist(pytester: pytest.Pytester, good_receiver: RunningReceiver) -> None:
    result = pytester.runpytest(*smoke_args(good_receiver, "-p", "no:xdist", readback=True))
    result.assert_outcomes(passed=STEPS)
