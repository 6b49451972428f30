"""Smoke events are test-mode and retraceable; targets refuse what must not be sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neruba_harden.config import load_settings
from neruba_harden.errors import ConfigError, SecretError
from neruba_harden.smoke.events import build_event, new_run_id, payment_intent
from neruba_harden.smoke.target import SmokeTarget, is_loopback
from tests.conftest import CANARY_WEBHOOK_SECRET


def test_an_event_is_stripe_shaped_test_mode_and_retraceable() -> None:
    event = build_event("payment_intent.succeeded", payment_intent("run1", "accepted"),
                        run_id="run1", step="accepted", created=1_700_000_000)
    parsed = json.loads(event.body)
    assert event.event_id == parsed["id"] == "evt_smoke_run1_accepted"
    assert parsed["object"] == "event" and parsed["type"] == "payment_intent.succeeded"
    assert parsed["livemode"] is False and parsed["data"]["object"]["livemode"] is False
    assert parsed["metadata"] == {"neruba_smoke": "true", "run_id": "run1"}
    assert parsed["request"] == {"id": None, "idempotency_key": event.idempotency_key}
    assert parsed["created"] == 1_700_000_000


def test_bodies_are_pretty_printed_like_stripe_sends_them() -> None:
    event = build_event("x.y", {"a": 1}, run_id="r", step="s")
    assert event.body == json.dumps(json.loads(event.body), indent=2).encode()
    assert b"\n  " in event.body


def test_run_ids_differ_between_runs_and_xdist_workers() -> None:
    ids = {new_run_id("gw0") for _ in range(50)} | {new_run_id("gw1") for _ in range(50)}
    assert len(ids) == 100
    assert "gw1" in new_run_id("gw1")
    assert all(i.isalnum() for i in ids)


def test_a_target_is_read_from_settings_and_never_shows_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOKE_SECRET", CANARY_WEBHOOK_SECRET)
    settings = load_settings(None, None, {
        "url": "https://staging.example/", "webhook_secret": "env:SMOKE_SECRET",
        "scheme": "standard", "burst": 5, "readback_path": "/events/{event_id}",
    }, environ={}, cwd=tmp_path)
    target = SmokeTarget.from_settings(settings)
    assert target.webhook_url == "https://staging.example/webhooks"
    assert target.secret == CANARY_WEBHOOK_SECRET and target.burst == 5
    assert target.readback_url("evt_1") == "https://staging.example/events/evt_1"
    assert CANARY_WEBHOOK_SECRET not in repr(target)
    assert CANARY_WEBHOOK_SECRET not in json.dumps(target.describe())


def test_signed_requests_over_plain_http_to_a_remote_host_are_refused() -> None:
    with pytest.raises(ConfigError, match="refusing to send signed webhooks over plain http"):
        SmokeTarget(url="http://staging.example", secret="whsec_x1234")
    assert SmokeTarget(url="http://staging.example", secret="whsec_x1234", allow_http=True)
    assert SmokeTarget(url="http://127.0.0.1:8000", secret="whsec_x1234")
    assert SmokeTarget(url="http://localhost:8000", secret="whsec_x1234")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "staging.example", "127.0.0.1.nip.io"])
def test_non_loopback_hosts(host: str) -> None:
    assert not is_loopback(host)


def test_a_missing_url_or_secret_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="url"):
        SmokeTarget.from_settings(load_settings(None, None, {}, environ={}, cwd=tmp_path))
    with pytest.raises(ConfigError, match="webhook_secret"):
        SmokeTarget.from_settings(
            load_settings(None, None, {"url": "https://a.example"}, environ={}, cwd=tmp_path))


def test_a_secret_value_in_place_of_a_reference_is_refused_without_echoing_it(
    tmp_path: Path,
) -> None:
    settings = load_settings(None, None, {"url": "https://a.example",
                                          "webhook_secret": CANARY_WEBHOOK_SECRET},
                             environ={}, cwd=tmp_path)
    with pytest.raises(ConfigError) as caught:
        SmokeTarget.from_settings(settings)
    assert CANARY_WEBHOOK_SECRET not in str(caught.value)


def test_an_unresolvable_reference_is_a_secret_error(tmp_path: Path) -> None:
    settings = load_settings(None, None, {"url": "https://a.example",
                                          "webhook_secret": "env:NERUBA_NOT_SET_ANYWHERE"},
                             environ={}, cwd=tmp_path)
    with pytest.raises(SecretError, match="NERUBA_NOT_SET_ANYWHERE"):
        SmokeTarget.from_settings(settings)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"url": "ftp://a.example"}, "not an http"), ({"scheme": "hmac"}, "scheme"),
     ({"webhook_path": "hooks"}, "webhook_path"), ({"burst": 0}, "burst"),
     ({"readback_path": "/events"}, "readback_path"), ({"timeout": 0}, "timeout"),
     ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle"),
     ({"scheme": "standard", "secret": "whsec_not base64!"}, "webhook_secret")],
)
def test_bad_target_values_name_their_key(changes: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"url": "https://a.example", "secret": "whsec_x1234", **changes}
    with pytest.raises(ConfigError, match=message):
        SmokeTarget(**values)  # type: ignore[arg-type]
