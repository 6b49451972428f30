"""Targets that are not well-behaved receivers: one clear finding, the rest skipped.

Unreachable or silent targets are `error` (could not verify); a redirect, an
HTML error page or a body that names no outcome are judged, never crashed on. (A DNS
failure is proven at the command line: tests/cli_smoke.)
"""

from __future__ import annotations

from neruba_harden.findings import Finding, Status
from neruba_harden.smoke.runner import SequenceResult, run_sequence
from neruba_harden.smoke.target import SmokeTarget
from tests.smoke.receivers import (
    HTML_ERROR_PAGE,
    PLAIN_OK,
    REDIRECT,
    canned_server,
    closed_port_url,
    new_secret,
    silent_server,
)


def run_against(url: str, **changes: object) -> SequenceResult:
    values: dict[str, object] = {"url": url, "secret": new_secret(), "timeout": 2.0, **changes}
    return run_sequence(SmokeTarget(**values))  # type: ignore[arg-type]


def only_root_cause(result: SequenceResult) -> Finding:
    """The accepted step carries the verdict; every other step is skipped because of it."""
    accepted = result.finding("smoke.accepted")
    others = [f for f in result.findings if f.check_id != "smoke.accepted"]
    assert all(f.status is Status.SKIP for f in others), result.statuses()
    assert all("smoke.accepted" in f.summary or "read-back" in f.summary for f in others)
    return accepted


def test_a_closed_port_is_an_error_that_says_connection_refused() -> None:
    accepted = only_root_cause(run_against(closed_port_url()))
    assert accepted.status is Status.ERROR
    assert accepted.summary.startswith("connection refused by http://127.0.0.1:")
    assert "\n" not in accepted.summary


def test_a_receiver_that_never_answers_times_out_within_the_bound() -> None:
    with silent_server() as url:
        result = run_against(url, timeout=0.5)
    accepted = only_root_cause(result)
    assert accepted.status is Status.ERROR
    assert "timeout" in accepted.summary
    assert result.duration_s < 5


def test_a_redirect_fails_and_says_redirect_with_the_location() -> None:
    with canned_server(REDIRECT) as url:
        accepted = only_root_cause(run_against(url))
    assert accepted.status is Status.FAIL
    assert "redirect" in accepted.summary
    assert "https://elsewhere.example/webhooks" in accepted.summary
    assert "redirect" in accepted.hint


def test_an_html_error_page_fails_and_shows_what_came_back() -> None:
    with canned_server(HTML_ERROR_PAGE) as url:
        accepted = only_root_cause(run_against(url))
    assert accepted.status is Status.FAIL
    assert "502 text/html" in accepted.summary
    assert "Bad Gateway" in accepted.evidence["body"]


def test_a_receiver_that_answers_200_ok_to_anything_is_caught() -> None:
    with canned_server(PLAIN_OK) as url:
        result = run_against(url)
    statuses = result.statuses()
    # 200 "OK" cannot prove accepted or duplicate; it does prove the rejections failed.
    assert statuses["smoke.accepted"] == "warn" and "unverified" in result.finding(
        "smoke.accepted").summary
    assert statuses["smoke.rejected"] == "fail"
    assert statuses["smoke.conflict"] == "fail"
    assert statuses["smoke.failed"] == "skip"  # no failure injection: skipped, never passed
    assert "pass" not in statuses.values()


def test_findings_never_carry_a_traceback() -> None:
    with silent_server() as url:
        result = run_against(url, timeout=0.3)
    for finding in result.findings:
        assert "Traceback" not in finding.summary + finding.hint + str(finding.evidence)


def test_an_outcome_that_contradicts_its_status_is_reported_not_crashed_on() -> None:
    from tests.smoke.receivers import CannedResponse

    contradicting = CannedResponse(500, b'{"outcome": "accepted"}',
                                   (("Content-Type", "application/json"),))
    with canned_server(contradicting) as url:
        result = run_against(url)
    accepted = result.finding("smoke.accepted")
    assert accepted.status is Status.WARN
    assert accepted.summary == "outcome 'accepted' came with status 500"
    assert result.statuses()["smoke.duplicate"] == "skip"


def test_a_host_that_does_not_resolve_is_one_delivery_and_one_error() -> None:
    # ~30 concurrent lookups of a dead name would each wait out the resolver's retries.
    result = run_against("https://nonexistent.invalid")
    finding = only_root_cause(result)
    assert finding.check_id == "smoke.accepted"
    assert "DNS lookup failed" in finding.summary
    assert len(result.observations) == 1
