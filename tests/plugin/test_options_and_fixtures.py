"""The plugin's options, header and fixtures, and what it costs a run that does not use it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import assert_no_canary
from tests.plugin.conftest import QUIET, SECRET_ENV
from tests.smoke.receivers import RunningReceiver

HEAVY = ("httpx", "hvac", "alembic", "sqlalchemy", "starlette")


def header_of(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("--co", *QUIET, *args)
    return [line for line in result.outlines if line.startswith("neruba-harden:")]


def test_a_plain_run_is_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one(): pass")
    result = pytester.runpytest(*QUIET)
    result.assert_outcomes(passed=1)
    output = "\n".join(result.outlines)
    assert "neruba-harden:" not in output and "neruba-smoke" not in output


def test_importing_the_plugin_loads_nothing_heavy() -> None:
    code = (
        "import json, sys; import neruba_harden.pytest_plugin; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert json.loads(out) == []


def test_the_header_shows_url_and_scheme_but_never_the_secret(pytester: pytest.Pytester,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    lines = header_of(pytester, "--neruba-url", "https://staging.example",
                      "--neruba-secret", f"env:{SECRET_ENV}", "--neruba-scheme", "standard")
    assert lines == ["neruba-harden: https://staging.example (scheme standard, "
                     "smoke sequence off)"]
    assert_no_canary(*lines)


def test_a_flag_beats_the_environment_which_beats_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nneruba_url = https://from-ini.example\nneruba_smoke = true\n")
    assert header_of(pytester) == [
        "neruba-harden: https://from-ini.example (scheme stripe, smoke sequence on)"]
    monkeypatch.setenv("NERUBA_URL", "https://from-env.example")
    monkeypatch.setenv("NERUBA_SMOKE", "0")
    assert header_of(pytester) == [
        "neruba-harden: https://from-env.example (scheme stripe, smoke sequence off)"]
    assert header_of(pytester, "--neruba-url", "https://from-flag.example", "--neruba-smoke") == [
        "neruba-harden: https://from-flag.example (scheme stripe, smoke sequence on)"]


def test_pytest_base_url_is_used_when_no_neruba_url_is_given(pytester: pytest.Pytester) -> None:
    # What pytest-base-url registers; the plugin only reads the option's value.
    pytester.makeconftest(
        "def pytest_addoption(parser):\n"
        "    parser.addoption('--base-url', dest='base_url', default=None)\n")
    assert header_of(pytester, "--base-url", "https://base-url.example") == [
        "neruba-harden: https://base-url.example (scheme stripe, smoke sequence off)"]
    assert header_of(pytester, "--base-url", "https://base-url.example",
                     "--neruba-url", "https://neruba.example") == [
        "neruba-harden: https://neruba.example (scheme stripe, smoke sequence off)"]


def test_fixtures_let_a_user_write_their_own_webhook_tests(
    pytester: pytest.Pytester, good_receiver: RunningReceiver
) -> None:
    pytester.makepyfile("""
        import time

        def test_a_new_invoice_is_accepted_once(neruba_webhook):
            first = neruba_webhook.send("invoice.paid", {"id": "in_1", "amount_paid": 500})
            assert first.status == 200 and first.outcome.name == "accepted"
            again = neruba_webhook.send("invoice.paid", {"id": "in_1"}, event_id=first.event_id)
            assert again.outcome.name == "conflict"

        def test_a_stale_signature_is_a_replay(neruba_webhook):
            seen = neruba_webhook.send("invoice.paid", {}, timestamp=int(time.time()) - 3600)
            assert seen.outcome.name == "replay" and seen.request_id

        def test_a_wrong_secret_is_rejected(neruba_webhook):
            seen = neruba_webhook.send("invoice.paid", {}, secret="whsec_not_the_real_one")
            assert seen.status == 400 and seen.outcome.name == "rejected"

        def test_the_sequence_result_is_shared(neruba_sequence, neruba_target):
            assert neruba_sequence.target is neruba_target
            assert neruba_sequence.finding("smoke.accepted").status.value == "pass"
    """)
    result = pytester.runpytest("--neruba-url", good_receiver.url, "--neruba-secret",
                                f"env:{SECRET_ENV}", "--neruba-burst", "3", *QUIET)
    result.assert_outcomes(passed=4)
    assert_no_canary("\n".join(result.outlines + result.errlines))


def test_fixtures_skip_without_a_url(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_needs_a_receiver(neruba_webhook):
            raise AssertionError("never runs")
    """)
    result = pytester.runpytest("-rs", *QUIET)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no receiver configured: pass --neruba-url*"])
