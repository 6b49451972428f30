"""`neruba-harden smoke`: an operator checks a receiver after a deploy.

Reports go to stdout, progress to stderr; exit 0 clean, 1 a step failed, 2 usage or
configuration, 3 could not verify. Bad inputs give one clear line, never a traceback, and
no secret appears in any output.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.cli_smoke.conftest import SECRET_REF, TOKEN_ENV, RunCli
from tests.conftest import assert_no_canary
from tests.smoke.receivers import (
    HTML_ERROR_PAGE,
    PLAIN_OK,
    READBACK_PATH,
    REDIRECT,
    RunningReceiver,
    canned_server,
    closed_port_url,
    silent_server,
)


def test_a_receiver_that_follows_the_contract_passes(run_cli: RunCli,
                                                     good_receiver: RunningReceiver) -> None:
    code, out, err = run_cli("smoke", "--url", good_receiver.url, "--secret", SECRET_REF,
                             "--readback-path", READBACK_PATH, "--admin-token", f"env:{TOKEN_ENV}")
    assert code == 0, out
    assert "9 checks: 9 pass (exit 0)" in out
    assert "pass   smoke.burst" in out
    assert f"smoke: {good_receiver.url}/webhooks" in err
    assert_no_canary(out, err)


def test_json_and_junit_reports_carry_evidence_and_no_secret(
    run_cli: RunCli, good_receiver: RunningReceiver, tmp_path: Path
) -> None:
    code, out, err = run_cli("smoke", "--url", good_receiver.url, "--secret", SECRET_REF,
                             "--format", "json", "--burst", "5")
    assert code == 0
    report = json.loads(out)
    accepted = report["findings"][0]
    assert accepted["check_id"] == "smoke.accepted"
    assert accepted["evidence"]["event_id"].startswith("evt_smoke_")
    assert accepted["evidence"]["status"] == 200
    assert report["meta"]["run_id"] in accepted["evidence"]["event_id"]
    assert_no_canary(out, err)

    junit = tmp_path / "smoke.xml"
    code, out, err = run_cli("smoke", "--url", good_receiver.url, "--secret", SECRET_REF,
                             "--format", "junit", "--output", str(junit), "--burst", "5")
    assert code == 0 and out == ""
    cases = ET.parse(junit).getroot().iter("testcase")
    names = {case.get("name"): case for case in cases}
    props = {p.get("name"): p.get("value") or "" for p in names["smoke.accepted"].iter("property")}
    assert props["outcome"] == "accepted" and props["event_id"].startswith("evt_smoke_")
    assert_no_canary(out, err, junit.read_text())


def test_a_broken_control_fails_with_what_was_sent_and_what_came_back(
    run_cli: RunCli, broken_receiver: RunningReceiver
) -> None:
    code, out, err = run_cli("smoke", "--url", broken_receiver.url, "--secret", SECRET_REF)
    assert code == 1
    assert "FAIL   smoke.failed     the retry of a failed event was swallowed as a duplicate" in out
    assert "retry: 200 duplicate, request id" in out
    assert "expected: 500 (or 503 with Retry-After) 'failed'" in out
    assert "hint: record the event as processed only after the handler succeeds" in out
    assert_no_canary(out, err)


def check_one_clear_line(out: str, err: str, code: int, expected_code: int, text: str) -> None:
    assert code == expected_code, out + err
    assert "Traceback" not in out + err
    assert text in out + err
    assert_no_canary(out, err)


def test_a_closed_port_cannot_be_verified(run_cli: RunCli) -> None:
    code, out, err = run_cli("smoke", "--url", closed_port_url(), "--secret", SECRET_REF)
    check_one_clear_line(out, err, code, 3, "ERROR  smoke.accepted   connection refused by")


def test_a_dns_failure_cannot_be_verified(run_cli: RunCli) -> None:
    code, out, err = run_cli("smoke", "--url", "https://no-such-receiver.invalid",
                             "--secret", SECRET_REF, "--timeout", "3")
    check_one_clear_line(out, err, code, 3, "DNS lookup failed for https://no-such-receiver.invalid")


def test_a_receiver_that_never_answers_times_out(run_cli: RunCli) -> None:
    with silent_server() as url:
        code, out, err = run_cli("smoke", "--url", url, "--secret", SECRET_REF,
                                 "--timeout", "0.5")
    check_one_clear_line(out, err, code, 3, "timeout talking to")


@pytest.mark.parametrize(
    ("response", "line"),
    [(REDIRECT, "FAIL   smoke.accepted   redirect: answered 307 to https://elsewhere.example"),
     (HTML_ERROR_PAGE, "a fresh, signed event was answered 502 text/html"),
     (PLAIN_OK, "WARN   smoke.accepted   unverified: 200 without an outcome field")],
    ids=["redirect", "html-error-page", "non-json-body"],
)
def test_a_receiver_that_does_not_speak_the_contract_fails(run_cli: RunCli, response: object,
                                                           line: str) -> None:
    with canned_server(response) as url:  # type: ignore[arg-type]
        code, out, err = run_cli("smoke", "--url", url, "--secret", SECRET_REF)
    check_one_clear_line(out, err, code, 1, line)


def usage_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("neruba-harden: error: ")
    return lines[0]


def test_plain_http_to_a_remote_host_is_refused_before_anything_is_sent(run_cli: RunCli) -> None:
    code, out, err = run_cli("smoke", "--url", "http://staging.example", "--secret", SECRET_REF)
    check_one_clear_line(out, err, code, 2, "refusing to send signed webhooks over plain http://")
    assert "--allow-http" in usage_error(err)
    assert out == ""


def test_an_unresolvable_secret_reference_is_a_usage_error(run_cli: RunCli) -> None:
    code, out, err = run_cli("smoke", "--url", "https://staging.example",
                             "--secret", "env:NERUBA_NO_SUCH_SECRET")
    check_one_clear_line(out, err, code, 2, "env:NERUBA_NO_SUCH_SECRET")
    usage_error(err)


def test_a_malformed_configuration_file_is_a_usage_error(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "neruba-harden.toml"
    config.write_text('url = "https://staging.example"\nburst = \n', encoding="utf-8")
    code, out, err = run_cli("smoke", "--config", str(config), "--secret", SECRET_REF)
    check_one_clear_line(out, err, code, 2, "invalid TOML")
    usage_error(err)


def test_settings_come_from_the_configuration_file(run_cli: RunCli, tmp_path: Path,
                                                   good_receiver: RunningReceiver) -> None:
    (tmp_path / "neruba-harden.toml").write_text(
        f'url = "{good_receiver.url}"\nwebhook_secret = "{SECRET_REF}"\nburst = 3\n',
        encoding="utf-8")
    code, out, err = run_cli("smoke", "--format", "json")
    assert code == 0, out + err
    burst = next(f for f in json.loads(out)["findings"] if f["check_id"] == "smoke.burst")
    assert burst["evidence"]["deliveries"] == 3


def test_a_receiver_that_echoes_the_secret_has_it_masked_in_every_format(
    run_cli: RunCli, tmp_path: Path
) -> None:
    from tests.conftest import CANARY_WEBHOOK_SECRET
    from tests.smoke.receivers import CannedResponse

    leaky = CannedResponse(500, f"debug: secret={CANARY_WEBHOOK_SECRET}".encode(),
                           (("Content-Type", "text/plain"),))
    with canned_server(leaky) as url:
        for fmt in ("text", "json", "junit"):
            code, out, err = run_cli("smoke", "--url", url, "--secret", SECRET_REF,
                                     "--format", fmt)
            assert code == 1
            assert "debug: secret=[REDACTED]" in out
            assert_no_canary(out, err)
