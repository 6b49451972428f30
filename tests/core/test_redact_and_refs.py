"""Secret references resolve without ever showing their values."""

from __future__ import annotations

from pathlib import Path

import pytest

from neruba_harden import redact
from neruba_harden.errors import ConfigError, SecretError
from neruba_harden.secretrefs import SecretRef, resolve_maybe_ref, resolve_secret
from tests.conftest import CANARY_DB_PASSWORD, CANARY_WEBHOOK_SECRET


def test_env_reference_resolves_and_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NERUBA_T_SECRET", CANARY_WEBHOOK_SECRET)
    assert resolve_secret("env:NERUBA_T_SECRET") == CANARY_WEBHOOK_SECRET
    assert CANARY_WEBHOOK_SECRET not in redact.scrub(f"the secret is {CANARY_WEBHOOK_SECRET}!")


def test_file_reference_strips_the_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("whsec_fromfile123\n")
    assert resolve_secret(f"file:{path}") == "whsec_fromfile123"


def test_unresolvable_references_say_why_without_values(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="environment variable NERUBA_T_MISSING is not set"):
        resolve_secret("env:NERUBA_T_MISSING")
    with pytest.raises(SecretError, match="file not found"):
        resolve_secret(f"file:{tmp_path / 'nope'}")


@pytest.mark.parametrize("text", ["whsec_literal", "vault:kv#key", "vault:kv/path", "env:", "s3:x"])
def test_malformed_references_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        SecretRef.parse(text)


def test_vault_reference_parts() -> None:
    ref = SecretRef.parse("vault:kv/neruba/webhooks#stripe")
    assert (ref.vault_mount, ref.vault_path, ref.vault_key) == ("kv", "neruba/webhooks", "stripe")


def test_url_passwords_are_masked_even_unregistered() -> None:
    url = f"postgresql://app:{CANARY_DB_PASSWORD}@db.internal:5432/billing"
    assert CANARY_DB_PASSWORD not in redact.scrub(f"cannot connect to {url}")
    assert resolve_maybe_ref(url) == url
    assert CANARY_DB_PASSWORD not in redact.scrub(f"password was {CANARY_DB_PASSWORD}")
