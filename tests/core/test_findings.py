"""The result model: exit codes, waivers and the JSON shape other tools read."""

from __future__ import annotations

from neruba_harden.findings import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNVERIFIED,
    Finding,
    Report,
    Status,
    Waiver,
    apply_waivers,
    exit_code_for,
)


def f(check_id: str, status: Status) -> Finding:
    return Finding(check_id, status, f"{check_id} is {status}")


def test_exit_codes_follow_the_contract() -> None:
    assert exit_code_for([f("a.b", Status.PASS), f("a.c", Status.SKIP)]) == EXIT_OK
    assert exit_code_for([f("a.b", Status.WARN)]) == EXIT_OK
    assert exit_code_for([f("a.b", Status.WARN)], strict=True) == EXIT_FAILED
    assert exit_code_for([f("a.b", Status.ERROR)]) == EXIT_UNVERIFIED
    assert exit_code_for([f("a.b", Status.ERROR), f("a.c", Status.FAIL)]) == EXIT_FAILED


def test_a_live_waiver_marks_the_finding_waived_and_it_no_longer_fails() -> None:
    waiver = Waiver("exposure.docs", "internal network only", "2027-01-31")
    (finding,) = apply_waivers([f("exposure.docs", Status.FAIL)], [waiver], "2026-12-04")
    assert finding.waived and finding.status is Status.FAIL
    assert exit_code_for([finding]) == EXIT_OK


def test_an_expired_waiver_fails_even_when_the_check_passes() -> None:
    waiver = Waiver("exposure.docs", "internal network only", "2026-11-30")
    findings = apply_waivers([f("exposure.docs", Status.PASS)], [waiver], "2026-12-04")
    expired = [x for x in findings if x.check_id == "config.waiver"]
    assert expired and expired[0].status is Status.FAIL
    assert "expired on 2026-11-30" in expired[0].summary
    assert exit_code_for(findings) == EXIT_FAILED


def test_area_wildcard_waiver() -> None:
    waiver = Waiver("exposure.*", "lab", "2027-01-01")
    findings = apply_waivers([f("exposure.debug", Status.FAIL)], [waiver], "2026-12-04")
    assert findings[0].waived


def test_json_shape() -> None:
    report = Report([Finding("a.b", Status.FAIL, "broken", {"url": "http://x"}, "fix it")])
    data = report.to_dict()
    assert data["exit_code"] == EXIT_FAILED
    assert data["counts"]["fail"] == 1
    (item,) = data["findings"]
    assert {"check_id", "status", "summary", "hint", "evidence"} <= set(item)
    assert item["evidence"] == {"url": "http://x"}
