"""secrets.refs and secrets.rotation: KV v2 data and metadata, per reference, no values."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from neruba_harden.checks.secrets import REFS, ROTATION, parse_vault_time
from neruba_harden.config import Settings
from neruba_harden.findings import Status
from tests.conftest import CANARY_TOKEN, CANARY_WEBHOOK_SECRET, assert_no_canary

from .conftest import ADMIN_REF, WEBHOOK_REF, run, vault_settings


def both(settings: Settings):
    findings = run(settings, REFS, ROTATION)
    assert_no_canary(json.dumps([f.to_dict() for f in findings.values()]))
    return findings[REFS], findings[ROTATION]


def test_present_keys_in_live_versions_pass(vault):
    refs, rotation = both(vault_settings(vault))
    assert refs.status is Status.PASS, refs
    assert refs.summary == "all 2 vault references resolve"
    assert refs.evidence[WEBHOOK_REF] == "ok (version 1) [webhook_secret]"
    assert rotation.status is Status.PASS, rotation
    assert rotation.evidence["kv/neruba/webhooks"] == "10 days old (version 1)"


def test_extra_references_from_secrets_refs_are_checked(vault):
    settings = vault_settings(vault, secrets__refs=["vault:kv/neruba/webhooks#previous"])
    refs, _ = both(settings)
    assert refs.status is Status.FAIL
    assert refs.evidence["vault:kv/neruba/webhooks#previous"] == \
        "missing key (version 1) [secrets.refs[0]]"


def test_missing_path_fails(vault):
    refs, rotation = both(vault_settings(vault, webhook_secret="vault:kv/neruba/gone#s"))
    assert refs.status is Status.FAIL
    assert refs.summary == "1 of 2 vault references do not resolve"
    assert refs.evidence["vault:kv/neruba/gone#s"] == "missing path [webhook_secret]"
    # rotation does not repeat it
    assert rotation.status is Status.PASS
    assert rotation.evidence["kv/neruba/gone"] == "missing (see secrets.refs)"


def test_missing_key_fails(vault):
    refs, _ = both(vault_settings(vault, webhook_secret="vault:kv/neruba/webhooks#nope"))
    assert refs.status is Status.FAIL
    assert refs.evidence["vault:kv/neruba/webhooks#nope"].startswith("missing key")


def test_deleted_current_version_fails(vault):
    vault.state.put_secret("kv", "neruba/webhooks", {"stripe_endpoint_secret": "whsec_v2xyz"})
    vault.state.delete_version("kv", "neruba/webhooks")
    refs, rotation = both(vault_settings(vault))
    assert refs.status is Status.FAIL
    assert refs.evidence[WEBHOOK_REF].startswith("deleted (version 2, deleted 20")
    assert rotation.evidence["kv/neruba/webhooks"].endswith("(see secrets.refs)")


def test_destroyed_current_version_fails(vault):
    vault.state.destroy_version("kv", "neruba/webhooks")
    refs, _ = both(vault_settings(vault))
    assert refs.status is Status.FAIL
    assert refs.evidence[WEBHOOK_REF] == "destroyed (version 1) [webhook_secret]"


def test_path_the_token_cannot_read_fails_as_permission_denied(vault):
    vault.state.put_secret("kv", "other/team", {"k": "v-value-1234"})
    refs, rotation = both(vault_settings(vault, admin_token="vault:kv/other/team#k"))
    assert refs.status is Status.FAIL
    assert refs.evidence["vault:kv/other/team#k"] == "permission denied [admin_token]"
    assert rotation.status is Status.ERROR
    assert "permission denied" in rotation.evidence["kv/other/team"]


def test_stale_secret_fails_rotation(vault):
    vault.state.put_secret("kv", "neruba/old", {"s": "old-secret-value-1"}, age_days=200)
    settings = vault_settings(vault, secrets__refs=["vault:kv/neruba/old#s"])
    refs, rotation = both(settings)
    assert refs.status is Status.PASS
    assert rotation.status is Status.FAIL
    assert rotation.summary == "1 secret older than 90 days"
    assert rotation.evidence["kv/neruba/old"] == "200 days old (version 1): rotate"
    assert "rotate" in rotation.hint


def test_rotation_judges_the_current_version_only(vault):
    vault.state.put_secret("kv", "neruba/old", {"s": "first-value-12345"}, age_days=400)
    vault.state.put_secret("kv", "neruba/old", {"s": "second-value-1234"}, age_days=5)
    settings = vault_settings(vault, secrets__refs=["vault:kv/neruba/old#s"])
    _, rotation = both(settings)
    assert rotation.status is Status.PASS
    assert rotation.evidence["kv/neruba/old"] == "5 days old (version 2)"


def test_rotation_threshold_is_configurable(vault):
    _, rotation = both(vault_settings(vault, secrets__max_age_days=7))
    assert rotation.status is Status.FAIL
    assert rotation.summary == "1 secret older than 7 days"


def test_no_vault_references_skip(vault):
    findings = run(Settings({"webhook_secret": "env:X", "vault": {"addr": vault.url}}),
                   REFS, ROTATION)
    for finding in findings.values():
        assert finding.status is Status.SKIP
        assert finding.summary == "no vault: references configured"


def test_each_path_is_read_once_per_run(vault):
    settings = vault_settings(vault, secrets__refs=["vault:kv/neruba/webhooks#other"])
    run(settings)
    reads = [p for m, p in vault.state.requests if p == "/v1/kv/data/neruba/webhooks"]
    metadata = [p for m, p in vault.state.requests if p == "/v1/kv/metadata/neruba/webhooks"]
    assert len(reads) == 1 and len(metadata) == 1


def test_admin_ref_is_reported_with_its_key(vault):
    refs, _ = both(vault_settings(vault))
    assert refs.evidence[ADMIN_REF] == "ok (version 1) [admin_token]"
    assert CANARY_TOKEN not in json.dumps(refs.to_dict())
    assert CANARY_WEBHOOK_SECRET not in json.dumps(refs.to_dict())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-03-22T02:24:06.945319214Z",
         dt.datetime(2018, 3, 22, 2, 24, 6, 945319, tzinfo=dt.timezone.utc)),
        ("2018-03-22T02:24:06Z", dt.datetime(2018, 3, 22, 2, 24, 6, tzinfo=dt.timezone.utc)),
        ("2018-03-22T04:24:06.5+02:00",
         dt.datetime(2018, 3, 22, 2, 24, 6, 500000, tzinfo=dt.timezone.utc)),
        ("yesterday", None),
    ],
)
def test_parse_vault_time(text, expected):
    assert parse_vault_time(text) == expected
