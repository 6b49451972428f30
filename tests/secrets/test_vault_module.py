"""neruba_harden.vault: vault: references resolve through hvac; faults are one clean line."""

from __future__ import annotations

import traceback

import pytest

from neruba_harden import redact
from neruba_harden.config import Settings
from neruba_harden.errors import ConfigError, SecretError
from neruba_harden.secretrefs import resolve_secret
from neruba_harden.vault import (
    DELETED,
    DENIED,
    DESTROYED,
    MISSING_KEY,
    MISSING_PATH,
    SEALED,
    UNREACHABLE,
    VaultFault,
)
from tests.conftest import CANARY_TOKEN, CANARY_WEBHOOK_SECRET

from .conftest import TOKEN_ENV, WEBHOOK_REF
from .test_vault_check import closed_port


def settings_for(url: str, **vault: object) -> Settings:
    return Settings({"vault": {"addr": url, "token": f"env:{TOKEN_ENV}", **vault}})


def fault_of(ref: str, settings: Settings | None) -> VaultFault:
    with pytest.raises(VaultFault) as caught:
        resolve_secret(ref, settings=settings)
    rendered = "\n".join([str(caught.value), *traceback.format_exception(caught.value)])
    assert CANARY_TOKEN not in rendered
    assert CANARY_WEBHOOK_SECRET not in rendered
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, SecretError)
    return caught.value


def test_resolves_a_vault_reference_and_registers_value_and_token(vault):
    value = resolve_secret(WEBHOOK_REF, settings=settings_for(vault.url))
    assert value == CANARY_WEBHOOK_SECRET
    assert redact.scrub(f"x {CANARY_WEBHOOK_SECRET} {CANARY_TOKEN}") == \
        f"x {redact.MASK} {redact.MASK}"


def test_without_settings_vault_conventions_apply(vault, monkeypatch):
    monkeypatch.setenv("VAULT_ADDR", vault.url)
    monkeypatch.setenv("VAULT_TOKEN", CANARY_TOKEN)
    assert resolve_secret(WEBHOOK_REF) == CANARY_WEBHOOK_SECRET


@pytest.mark.parametrize(
    ("setup", "ref", "kind", "words"),
    [
        (None, "vault:kv/neruba/nothing#k", MISSING_PATH, "no secret at kv/neruba/nothing"),
        (None, "vault:kv/neruba/webhooks#nope", MISSING_KEY, "no key 'nope'"),
        (None, "vault:kv/elsewhere/x#k", DENIED, "permission denied"),
        ("delete", WEBHOOK_REF, DELETED, "version 1 of kv/neruba/webhooks was deleted"),
        ("destroy", WEBHOOK_REF, DESTROYED, "version 1 of kv/neruba/webhooks is destroyed"),
        ("seal", WEBHOOK_REF, SEALED, "is sealed"),
    ],
)
def test_faults_are_one_line_with_a_kind(vault, setup, ref, kind, words):
    if setup == "delete":
        vault.state.delete_version("kv", "neruba/webhooks")
    elif setup == "destroy":
        vault.state.destroy_version("kv", "neruba/webhooks")
    elif setup == "seal":
        vault.state.sealed = True
    fault = fault_of(ref, settings_for(vault.url))
    assert fault.kind == kind
    assert words in str(fault)
    assert str(fault).startswith(ref + ": ")


def test_unreachable_vault():
    fault = fault_of(WEBHOOK_REF, settings_for(f"http://127.0.0.1:{closed_port()}"))
    assert fault.kind == UNREACHABLE
    assert "connection refused" in str(fault)


def test_tls_failure_is_one_line(vault):
    fault = fault_of(WEBHOOK_REF, settings_for(vault.url.replace("http:", "https:")))
    assert fault.kind == UNREACHABLE
    assert "TLS handshake" in str(fault)


def test_no_address():
    fault = fault_of(WEBHOOK_REF, Settings({}))
    assert "no Vault address" in str(fault)


def test_rejected_token(vault, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "hvs.unknown-token-1234")
    fault = fault_of(WEBHOOK_REF, settings_for(vault.url))
    assert fault.kind == DENIED
    assert "hvs.unknown" not in str(fault)


def test_literal_token_setting_is_a_configuration_error_and_masked(vault):
    settings = Settings({"vault": {"addr": vault.url, "token": CANARY_TOKEN}})
    with pytest.raises(ConfigError) as caught:
        resolve_secret(WEBHOOK_REF, settings=settings)
    assert CANARY_TOKEN not in str(caught.value)
    assert "vault.token" in str(caught.value)
    assert redact.scrub(CANARY_TOKEN) == redact.MASK


def test_vault_reference_for_the_token_itself_is_refused(vault):
    settings = Settings({"vault": {"addr": vault.url, "token": "vault:kv/a/b#c"}})
    with pytest.raises(ConfigError, match="cannot be a vault: reference"):
        resolve_secret(WEBHOOK_REF, settings=settings)


def test_namespace_is_sent(vault):
    settings = settings_for(vault.url, namespace="team-a")
    assert resolve_secret(WEBHOOK_REF, settings=settings) == CANARY_WEBHOOK_SECRET
    assert vault.state.namespaces == ["team-a"]


def test_missing_ca_bundle_is_named(vault, tmp_path):
    settings = settings_for(vault.url, ca_bundle=str(tmp_path / "ca.pem"))
    fault = fault_of(WEBHOOK_REF, settings)
    assert "vault.ca_bundle" in str(fault)
