"""secrets.vault: health, token and policy, through hvac against the Vault API stand-in."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from neruba_harden.checks.secrets import REFS, ROTATION, VAULT
from neruba_harden.config import Settings
from neruba_harden.findings import Status
from tests.conftest import CANARY_TOKEN, CANARY_WEBHOOK_SECRET, assert_no_canary

from .conftest import TOKEN_ENV, run, vault_settings

VAULT_IDS = (VAULT, REFS, ROTATION)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def leak_free(*findings) -> None:
    assert_no_canary(json.dumps([f.to_dict() for f in findings]))


def test_healthy_vault_and_read_only_token_pass(vault):
    findings = run(vault_settings(vault), *VAULT_IDS)
    finding = findings[VAULT]
    assert finding.status is Status.PASS, finding
    assert finding.evidence["health"] == "active"
    assert finding.evidence["policies"] == "default, neruba-app"
    assert finding.evidence["caps kv/data/neruba/webhooks"] == "read"
    assert findings[REFS].status is Status.PASS
    assert findings[ROTATION].status is Status.PASS
    leak_free(*findings.values())


@pytest.mark.parametrize(("flag", "label"), [("standby", "standby"),
                                             ("performance_standby", "performance standby")])
def test_standby_nodes_are_healthy(vault, flag, label):
    setattr(vault.state, flag, True)
    finding = run(vault_settings(vault), VAULT)[VAULT]
    assert finding.status is Status.PASS
    assert finding.evidence["health"] == label


def test_sealed_vault_fails_once_and_dependent_checks_skip(vault):
    vault.state.sealed = True
    findings = run(vault_settings(vault), *VAULT_IDS)
    assert findings[VAULT].status is Status.FAIL
    assert findings[VAULT].summary == "Vault is sealed"
    assert findings[VAULT].evidence["unseal_progress"] == "1/3"
    assert "unseal" in findings[VAULT].hint
    for check_id in (REFS, ROTATION):
        assert findings[check_id].status is Status.SKIP
        assert findings[check_id].summary == "Vault is sealed; see secrets.vault"


def test_uninitialised_vault_fails(vault):
    vault.state.initialized = False
    findings = run(vault_settings(vault), *VAULT_IDS)
    assert findings[VAULT].status is Status.FAIL
    assert findings[VAULT].summary == "Vault is not initialised"
    assert findings[REFS].status is Status.SKIP


def test_unreachable_vault_is_an_error_and_dependent_checks_skip():
    settings = Settings({"webhook_secret": "vault:kv/neruba/webhooks#s",
                         "vault": {"addr": f"http://127.0.0.1:{closed_port()}",
                                   "token": f"env:{TOKEN_ENV}"}}, "production")
    findings = run(settings, *VAULT_IDS)
    assert findings[VAULT].status is Status.ERROR
    assert "connection refused" in findings[VAULT].summary
    assert "Traceback" not in json.dumps(findings[VAULT].to_dict())
    assert findings[REFS].summary == "Vault is unreachable; see secrets.vault"
    assert findings[ROTATION].status is Status.SKIP
    leak_free(*findings.values())


def test_unresolvable_vault_host_is_an_error():
    settings = Settings({"vault": {"addr": "https://vault.neruba.invalid:8200",
                                   "token": f"env:{TOKEN_ENV}"}})
    finding = run(settings, VAULT)[VAULT]
    assert finding.status is Status.ERROR
    assert "DNS lookup failed" in finding.summary


def test_slow_vault_hits_the_per_request_timeout(vault):
    vault.state.delay_s = 2.0
    settings = vault_settings(vault, vault__timeout=0.3)
    finding = run(settings, VAULT)[VAULT]
    assert finding.status is Status.ERROR
    assert "within 0.3s" in finding.summary


def test_no_vault_and_no_vault_references_skip():
    findings = run(Settings({"webhook_secret": "env:X"}), *VAULT_IDS)
    assert all(f.status is Status.SKIP for f in findings.values()), findings
    assert findings[VAULT].summary.startswith("no Vault configured")


def test_vault_references_without_an_address_is_an_error():
    findings = run(Settings({"webhook_secret": "vault:kv/neruba/webhooks#s"}), *VAULT_IDS)
    assert findings[VAULT].status is Status.ERROR
    assert "no Vault address" in findings[VAULT].summary
    assert findings[REFS].summary == "Vault is not configured; see secrets.vault"


def test_vault_addr_and_token_come_from_the_environment_by_default(vault, monkeypatch):
    monkeypatch.setenv("VAULT_ADDR", vault.url)
    monkeypatch.setenv("VAULT_TOKEN", CANARY_TOKEN)
    finding = run(Settings({"webhook_secret": "vault:kv/neruba/webhooks#s"}), VAULT)[VAULT]
    assert finding.status is Status.PASS, finding
    assert finding.evidence["token_source"] == "VAULT_TOKEN"


def test_token_falls_back_to_the_vault_token_file(vault):
    (Path.home() / ".vault-token").write_text(CANARY_TOKEN + "\n")
    finding = run(Settings({"vault": {"addr": vault.url}}), VAULT)[VAULT]
    assert finding.status is Status.PASS, finding
    assert finding.evidence["token_source"] == "~/.vault-token"


def test_no_token_anywhere_is_an_error(vault):
    finding = run(Settings({"vault": {"addr": vault.url}}), VAULT)[VAULT]
    assert finding.status is Status.ERROR
    assert finding.summary == "no usable Vault token"


def test_literal_token_in_configuration_is_refused_and_masked(vault):
    settings = Settings({"vault": {"addr": vault.url, "token": CANARY_TOKEN}})
    findings = run(settings, VAULT, REFS)
    assert findings[VAULT].status is Status.ERROR
    assert "must be a secret reference" in findings[VAULT].evidence["cause"]
    leak_free(*findings.values())


def test_unknown_token_fails_and_dependent_checks_skip(vault, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "hvs.not-a-token-vault-knows")
    findings = run(vault_settings(vault), *VAULT_IDS)
    assert findings[VAULT].status is Status.FAIL
    assert findings[VAULT].summary == "Vault rejected the token (permission denied)"
    assert findings[REFS].summary == "the Vault token was rejected; see secrets.vault"
    assert "hvs.not-a-token" not in json.dumps([f.to_dict() for f in findings.values()])


def test_root_token_fails(vault):
    vault.state.tokens[CANARY_TOKEN].policies = ["root"]
    vault.state.tokens[CANARY_TOKEN].ttl = 0
    finding = run(vault_settings(vault), VAULT)[VAULT]
    assert finding.status is Status.FAIL
    assert finding.summary == "the Vault token has the root policy"
    leak_free(finding)


def test_writable_token_fails_naming_paths_and_capabilities(vault):
    vault.state.tokens[CANARY_TOKEN].capabilities["kv/data/neruba/*"] = ["read", "update"]
    finding = run(vault_settings(vault), VAULT)[VAULT]
    assert finding.status is Status.FAIL
    assert finding.summary == "the Vault token can write 2 paths: update"
    assert "kv/data/neruba/webhooks (update)" in finding.evidence["writable"]
    assert "read" in finding.hint


def test_sudo_on_metadata_counts_as_write(vault):
    vault.state.tokens[CANARY_TOKEN].capabilities["kv/metadata/neruba/webhooks"] = ["read",
                                                                                  "delete"]
    finding = run(vault_settings(vault), VAULT)[VAULT]
    assert finding.status is Status.FAIL
    assert finding.evidence["writable"] == "kv/metadata/neruba/webhooks (delete)"


def test_non_renewable_token_with_little_ttl_left_fails(vault):
    token = vault.state.tokens[CANARY_TOKEN]
    token.renewable, token.ttl = False, 600
    finding = run(vault_settings(vault), VAULT)[VAULT]
    assert finding.status is Status.FAIL
    assert finding.summary == "the Vault token expires in 10m and is not renewable"
    assert "secrets.min_token_ttl" in finding.hint


def test_renewable_token_with_little_ttl_left_passes(vault):
    vault.state.tokens[CANARY_TOKEN].ttl = 600
    assert run(vault_settings(vault), VAULT)[VAULT].status is Status.PASS


def test_ttl_threshold_is_configurable(vault):
    token = vault.state.tokens[CANARY_TOKEN]
    token.renewable, token.ttl = False, 600
    settings = vault_settings(vault, secrets__min_token_ttl=300)
    assert run(settings, VAULT)[VAULT].status is Status.PASS


def test_non_expiring_token_warns(vault):
    vault.state.tokens[CANARY_TOKEN].ttl = 0
    finding = run(vault_settings(vault), VAULT)[VAULT]
    assert finding.status is Status.WARN
    assert finding.summary == "the Vault token never expires"


def test_several_problems_give_one_finding_led_by_the_worst(vault):
    token = vault.state.tokens[CANARY_TOKEN]
    token.ttl = 0
    token.capabilities["kv/data/neruba/*"] = ["read", "create"]
    finding = run(vault_settings(vault), VAULT)[VAULT]
    assert finding.status is Status.FAIL
    assert finding.summary.startswith("the Vault token can write")
    assert finding.summary.endswith("(+1 more)")
    assert len(finding.evidence["problems"]) == 2


def test_the_token_value_echoed_by_lookup_self_never_reaches_a_finding(vault):
    findings = run(vault_settings(vault), *VAULT_IDS)
    text = json.dumps([f.to_dict() for f in findings.values()])
    assert CANARY_TOKEN not in text
    assert CANARY_WEBHOOK_SECRET not in text
    assert ("GET", "/v1/auth/token/lookup-self") in vault.state.requests
