"""Every area validates its keys up front: a malformed key is exit 2 with one line on stderr
naming the file and the key, for `preflight` and for the area's own command alike, before
anything is resolved or sent. A secret that cannot be resolved inside a check (Vault sealed)
is that check's `error`, with the cause in a summary under 80 characters.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from neruba_harden.config import Settings, load_settings
from neruba_harden.errors import CheckError, ConfigError
from neruba_harden.findings import Status
from neruba_harden.registry import CheckContext, run_checks, select_checks
from tests.conftest import CANARY_TOKEN, CANARY_WEBHOOK_SECRET
from tests.support.vault_api_standin import VaultApiStandin

from .conftest import run_cli

# (name, configuration text, the key the error names, the area commands that read it)
CASES = [
    ("tolerance", 'tolerance = "x"\n', "tolerance", ("clock", "smoke")),
    ("burst", 'burst = "many"\n', "burst", ("smoke",)),
    ("clock-servers", "[clock]\nservers = 5\n", "clock.servers", ("clock",)),
    ("clock-warn", '[clock]\nwarn = "x"\n', "clock.warn", ("clock",)),
    ("url-number", "url = 5\n", "url", ("exposure", "transport", "proxy", "smoke")),
    ("url-ftp", 'url = "ftp://x"\n', "url", ("exposure", "transport", "proxy", "smoke")),
    ("ca-bundle", 'ca_bundle = "/nope/ca.pem"\n', "ca_bundle",
     ("exposure", "transport", "proxy", "smoke")),
    ("docs-policy", '[exposure]\ndocs_policy = "maybe"\n', "exposure.docs_policy",
     ("exposure",)),
    ("docs-paths", '[exposure]\ndocs_paths = ["no-slash"]\n', "exposure.docs_paths",
     ("exposure",)),
    ("max-age", '[secrets]\nmax_age_days = "x"\n', "secrets.max_age_days", ("secrets",)),
    ("refs", '[secrets]\nrefs = ["vault:bad"]\n', "secrets.refs[0]", ("secrets",)),
    ("hsts-min-age", '[transport]\nhsts_min_age = "x"\n', "transport.hsts_min_age",
     ("transport",)),
]
AREA_CASES = [(name, text, key, command) for name, text, key, commands in CASES
              for command in commands]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration file in an empty folder, with no NERUBA_HARDEN_* variable around."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("NERUBA_HARDEN_")]:
        monkeypatch.delenv(name)
    return tmp_path / "neruba-harden.toml"


def assert_one_line_naming(err: str, out: str, config: Path, key: str) -> None:
    assert "Traceback" not in out + err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"neruba-harden: error: {config}: key '{key}' "), lines[0]


@pytest.mark.parametrize(("text", "key"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_preflight_exits_2_naming_file_and_key(
    config: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    config.write_text(text, encoding="utf-8")
    code, out, err = run_cli(capsys, "preflight", "--config", str(config))
    assert code == 2, out + err
    assert_one_line_naming(err, out, config, key)


@pytest.mark.parametrize(("text", "key", "command"), [c[1:] for c in AREA_CASES],
                         ids=[f"{c[3]}-{c[0]}" for c in AREA_CASES])
def test_the_area_command_exits_2_naming_file_and_key(
    config: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, command: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Everything else the command needs is there and valid, so only the bad key can stop
    # it (a valid url where the bad key is not the url; a secret that resolves).
    monkeypatch.setenv("NERUBA_VALIDATION_SECRET", CANARY_WEBHOOK_SECRET)
    extra = ""
    if key != "url":
        extra += 'url = "https://127.0.0.1:9/"\n'
    extra += 'webhook_secret = "env:NERUBA_VALIDATION_SECRET"\n'
    config.write_text(extra + text, encoding="utf-8")
    code, out, err = run_cli(capsys, command, "--config", str(config))
    assert code == 2, out + err
    assert_one_line_naming(err, out, config, key)


def test_a_flag_is_named_as_the_command_line(config: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    config.write_text("", encoding="utf-8")
    code, _, err = run_cli(capsys, "exposure", "--config", str(config),
                             "--url", "ftp://example.test/")
    assert code == 2
    assert err.strip() == ("neruba-harden: error: command line: key 'url' must be an "
                           "http:// or https:// URL with a host")


def test_an_environment_variable_is_named(config: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("NERUBA_HARDEN_BURST", "lots")
    code, _, err = run_cli(capsys, "preflight", "--config", str(config))
    assert code == 2
    assert "environment variable NERUBA_HARDEN_BURST: key 'burst'" in err


def test_only_the_selected_areas_are_validated(config: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`--only clock` does not stop on an exposure key it would never read."""
    config.write_text('[exposure]\ndocs_policy = "maybe"\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "preflight", "--config", str(config), "--only", "clock")
    assert code == 0, out + err
    assert "clock.drift" in out


def test_validation_resolves_no_secret(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed key is reported even when the secret reference would not resolve: the
    keys are checked before any secret is looked up."""
    config.write_text('url = "https://127.0.0.1:9/"\nburst = 0\n'
                      'webhook_secret = "env:NERUBA_VALIDATION_NEVER_SET"\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "smoke", "--config", str(config))
    assert code == 2
    assert_one_line_naming(err, out, config, "burst")
    assert "NERUBA_VALIDATION_NEVER_SET" not in err


def test_the_real_console_script_prints_one_line(config: Path) -> None:
    config.write_text('[secrets]\nrefs = ["vault:bad"]\n', encoding="utf-8")
    script = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "neruba-harden"
    if not script.exists():
        pytest.skip(f"console script not installed at {script}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERUBA_HARDEN_")}
    for command in ("preflight", "secrets"):
        proc = subprocess.run([str(script), command, "--config", str(config)],
                              capture_output=True, text=True, timeout=60, env=env,
                              cwd=config.parent)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stdout == ""
        assert proc.stderr.splitlines() == [
            f"neruba-harden: error: {config}: key 'secrets.refs[0]' must be a "
            "vault:MOUNT/PATH#KEY reference"]


# -- the validators themselves, and the checks staying tolerant -----------------------------


def test_each_area_validator_accepts_an_empty_configuration(tmp_path: Path) -> None:
    from neruba_harden.commands.common import validate_areas

    validate_areas(None, load_settings(None, None, {}, environ={}, cwd=tmp_path))


def test_an_unknown_area_is_a_configuration_error() -> None:
    from neruba_harden.commands.common import validate_areas

    with pytest.raises(ConfigError, match="unknown area 'nope'"):
        validate_areas(["nope"], Settings({}))


def test_a_ca_bundle_that_is_not_pem_is_a_configuration_error(tmp_path: Path) -> None:
    from neruba_harden.checks.probes import validate_target_settings

    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="key 'ca_bundle' names a file that is not a PEM"):
        validate_target_settings(Settings({"ca_bundle": str(bundle)}))


def test_a_malformed_secrets_ref_is_still_an_error_finding_inside_the_check() -> None:
    """Programmatic runs skip the up-front validation: the check reports it (no longer
    silently ignoring the reference)."""
    specs = select_checks(["secrets"], only=["secrets.refs"])
    ctx = CheckContext(settings=Settings({"secrets": {"refs": ["vault:bad"]}}), timeout_s=10)
    [finding] = run_checks(specs, ctx)
    assert finding.status is Status.ERROR
    assert "secrets.refs[0]" in finding.summary + str(finding.evidence)


# -- a secret that cannot be resolved inside a check: the cause stays in the summary --------

WEBHOOK_REF = "vault:kv/neruba/webhooks#stripe_endpoint_secret"
TOKEN_ENV = "NERUBA_VALIDATION_VAULT_TOKEN"


@pytest.fixture
def sealed_vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultApiStandin]:
    for name in [n for n in os.environ if n.startswith("VAULT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv(TOKEN_ENV, CANARY_TOKEN)
    with VaultApiStandin() as standin:
        standin.state.add_token(CANARY_TOKEN, policies=["default"], ttl=7200, renewable=True,
                                capabilities={"kv/data/neruba/*": ["read"]})
        standin.state.put_secret("kv", "neruba/webhooks",
                                 {"stripe_endpoint_secret": CANARY_WEBHOOK_SECRET})
        standin.state.sealed = True
        yield standin


def sealed_config(config: Path, vault: VaultApiStandin) -> Path:
    config.write_text(
        f'url = "https://127.0.0.1:9/"\nwebhook_secret = "{WEBHOOK_REF}"\n'
        f'[vault]\naddr = "{vault.url}"\ntoken = "env:{TOKEN_ENV}"\n', encoding="utf-8")
    return config


def test_sealed_vault_gives_a_short_smoke_sequence_error_that_says_sealed(
    config: Path, sealed_vault: VaultApiStandin, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    sealed_config(config, sealed_vault)
    code, out, err = run_cli(capsys, "preflight", "--config", str(config), "--only", "smoke",
                             "--format", "json")
    assert code == 3, out + err
    findings = {f["check_id"]: f for f in json.loads(out)["findings"]}
    sequence = findings["smoke.sequence"]
    assert sequence["status"] == "error"
    summary = sequence["summary"]
    assert summary.startswith("cannot resolve webhook_secret: ")
    assert "sealed" in summary and len(summary) < 80, summary
    assert "…" not in summary
    assert sequence["evidence"]["ref"] == WEBHOOK_REF
    assert "sealed" in sequence["evidence"]["cause"]
    assert "unseal" in sequence["hint"]
    assert CANARY_TOKEN not in out + err and CANARY_WEBHOOK_SECRET not in out + err


def test_resolve_webhook_secret_raises_a_clean_check_error(sealed_vault: VaultApiStandin,
                                                           tmp_path: Path) -> None:
    from neruba_harden.checks.probes import resolve_webhook_secret

    settings = Settings({"webhook_secret": WEBHOOK_REF,
                         "vault": {"addr": sealed_vault.url, "token": f"env:{TOKEN_ENV}"}})
    with pytest.raises(CheckError) as caught:
        resolve_webhook_secret(CheckContext(settings=settings, timeout_s=10))
    error = caught.value
    assert error.message.startswith("cannot resolve webhook_secret: ")
    assert "sealed" in error.message and len(error.message) < 80
    assert error.evidence["ref"] == WEBHOOK_REF
    assert error.evidence["cause"].startswith(WEBHOOK_REF + ": ")

    sealed_vault.state.sealed = False
    ctx = CheckContext(settings=settings, timeout_s=10)
    assert resolve_webhook_secret(ctx) == CANARY_WEBHOOK_SECRET


def test_a_long_vault_address_falls_back_to_the_short_cause() -> None:
    from neruba_harden.checks.probes import unresolved_secret
    from neruba_harden.vault import SEALED, VaultFault

    cause = "Vault at https://vault.internal.payments.example.com:8200 is sealed"
    fault = VaultFault(f"{WEBHOOK_REF}: {cause}", SEALED, cause=cause)
    error = unresolved_secret("webhook_secret", WEBHOOK_REF, fault)
    assert error.message == "cannot resolve webhook_secret: Vault is sealed"
    assert error.evidence["cause"] == f"{WEBHOOK_REF}: {cause}"


def test_an_unset_variable_keeps_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    from neruba_harden.checks.probes import resolve_webhook_secret

    for name, summary in [
        ("NERUBA_UNSET", "cannot resolve webhook_secret: environment variable NERUBA_UNSET "
                         "is not set"),
        ("NERUBA_VALIDATION_UNSET_AND_LONG", "cannot resolve webhook_secret: "
                                             "env:NERUBA_VALIDATION_UNSET_AND_LONG is not set"),
    ]:
        monkeypatch.delenv(name, raising=False)
        settings = Settings({"webhook_secret": f"env:{name}"})
        with pytest.raises(CheckError) as caught:
            resolve_webhook_secret(CheckContext(settings=settings))
        assert caught.value.message == summary
        assert caught.value.evidence["ref"] == f"env:{name}"
