"""secrets.sources: production secrets come from Vault; env:/file: fail there, warn elsewhere."""

from __future__ import annotations

from neruba_harden.checks.secrets import SOURCES, configured_secrets
from neruba_harden.config import Settings, load_settings
from neruba_harden.findings import Status
from tests.conftest import CANARY_DB_PASSWORD, assert_no_canary

from .conftest import ADMIN_REF, WEBHOOK_REF, run_one

VAULT_ONLY = {
    "webhook_secret": WEBHOOK_REF,
    "admin_token": ADMIN_REF,
    "vault": {"addr": "http://127.0.0.1:1", "token": "env:VAULT_TOKEN"},
    "smoke": {"secrets": ["vault:kv/neruba/webhooks#old_secret"]},
}


def test_vault_only_production_configuration_passes():
    finding = run_one(Settings(VAULT_ONLY, "production"), SOURCES)
    assert finding.status is Status.PASS, finding
    assert finding.evidence["webhook_secret"] == "vault"
    assert finding.evidence["smoke.secrets[0]"] == "vault"
    # Vault's own token cannot come from Vault: listed, allowed.
    assert "allowed" in finding.evidence["vault.token"]


def test_env_sourced_secret_fails_in_production():
    settings = Settings({**VAULT_ONLY, "webhook_secret": "env:NERUBA_WEBHOOK_SECRET"}, "production")
    finding = run_one(settings, SOURCES)
    assert finding.status is Status.FAIL
    assert finding.evidence["webhook_secret"] == "env"
    assert finding.evidence["admin_token"] == "vault"
    assert "production" in finding.summary
    assert "vault:" in finding.hint


def test_file_sourced_secret_fails_in_production_when_flagged_explicitly():
    settings = Settings({**VAULT_ONLY, "production": True,
                         "migrations": {"db": "file:/run/secrets/db_url"}}, "eu-live")
    finding = run_one(settings, SOURCES)
    assert finding.status is Status.FAIL
    assert finding.evidence["migrations.db"] == "file"


def test_env_sourced_secret_warns_in_staging():
    settings = Settings({**VAULT_ONLY, "webhook_secret": "env:NERUBA_WEBHOOK_SECRET"}, "staging")
    finding = run_one(settings, SOURCES)
    assert finding.status is Status.WARN
    assert finding.evidence["webhook_secret"] == "env"


def test_literal_password_in_a_url_counts_and_is_never_shown():
    url = f"postgresql://app:{CANARY_DB_PASSWORD}@db:5432/neruba"
    settings = Settings({**VAULT_ONLY, "secrets": {"db": url}}, "production")
    finding = run_one(settings, SOURCES)
    assert finding.status is Status.FAIL
    assert finding.evidence["secrets.db"].startswith("literal")
    assert_no_canary(str(finding.to_dict()))


def test_literal_webhook_secret_counts():
    settings = Settings({**VAULT_ONLY, "webhook_secret": "whsec_plain_in_config_1234"}, "prod")
    finding = run_one(settings, SOURCES)
    assert finding.status is Status.FAIL
    assert "whsec_plain" not in str(finding.to_dict())


def test_no_secret_references_skips():
    finding = run_one(Settings({"clock": {"servers": ["pool.ntp.org"]}}), SOURCES)
    assert finding.status is Status.SKIP
    assert "no secret references" in finding.summary


def test_references_are_found_in_environment_tables_of_the_config_file(tmp_path):
    config = tmp_path / "neruba-harden.toml"
    config.write_text(
        'webhook_secret = "vault:kv/neruba/webhooks#stripe_endpoint_secret"\n'
        "[environments.production]\n"
        'admin_token = "env:ADMIN_TOKEN"\n'
        "[environments.staging]\n"
        'admin_token = "env:ADMIN_TOKEN"\n'
    )
    production = load_settings(config, "production", environ={})
    staging = load_settings(config, "staging", environ={})
    assert run_one(production, SOURCES).status is Status.FAIL
    assert run_one(staging, SOURCES).status is Status.WARN


def test_configured_secrets_names_dotted_keys_and_list_items():
    found = {s.key: s.kind for s in configured_secrets(Settings({
        "a": {"b": "env:X", "c": ["file:/x", "plain"]},
        "d": "vault:kv/p#k",
        "e": "vault:broken",
        "f": "postgresql://u@host/db",  # no password: not a secret
    }))}
    assert found == {"a.b": "env", "a.c[0]": "file", "d": "vault", "e": "invalid"}
