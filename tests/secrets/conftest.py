"""Fixtures for the secrets area: a Vault API stand-in with a good setup, git repos, runs.

The Vault stand-in (tests/support/vault_api_standin.py) is not Vault: it answers the
documented API subset the checks call, and the checks reach it through the real hvac client.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from neruba_harden.config import Settings
from neruba_harden.findings import Finding
from neruba_harden.registry import CheckContext, run_checks, select_checks
from tests.conftest import CANARY_TOKEN, CANARY_WEBHOOK_SECRET
from tests.support.findings import by_check_id
from tests.support.vault_api_standin import VaultApiStandin

TOKEN_ENV = "NERUBA_TEST_VAULT_TOKEN"
WEBHOOK_REF = "vault:kv/neruba/webhooks#stripe_endpoint_secret"
ADMIN_REF = "vault:kv/neruba/admin#token"
APP_POLICY_CAPS = {"kv/data/neruba/*": ["read"], "kv/metadata/neruba/*": ["read", "list"]}


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Vault, token or neruba settings leak in from the machine running the tests."""
    import os

    for name in list(os.environ):
        if name.startswith(("VAULT_", "NERUBA_HARDEN_")):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(TOKEN_ENV, CANARY_TOKEN)


@pytest.fixture(autouse=True)
def fresh_redaction_registry() -> Iterator[None]:
    """Start each test with nothing registered, so a canary test proves that a value never
    reached a finding, rather than that an earlier test happened to register it."""
    from neruba_harden import redact

    with redact._lock:
        saved = set(redact._values)
        redact._values.clear()
        redact._pattern = None
    yield
    with redact._lock:  # whatever was masked before stays masked
        redact._values.update(saved)
        if redact._values:
            ordered = sorted(redact._values, key=len, reverse=True)
            redact._pattern = re.compile("|".join(re.escape(v) for v in ordered))


@pytest.fixture
def vault() -> Iterator[VaultApiStandin]:
    """A healthy stand-in: an app token (read-only, renewable, 2h) and two fresh secrets."""
    with VaultApiStandin() as standin:
        state = standin.state
        state.add_token(CANARY_TOKEN, policies=["default", "neruba-app"], ttl=7200,
                        renewable=True, capabilities=dict(APP_POLICY_CAPS),
                        display_name="token-neruba-app")
        state.put_secret("kv", "neruba/webhooks",
                         {"stripe_endpoint_secret": CANARY_WEBHOOK_SECRET}, age_days=10)
        state.put_secret("kv", "neruba/admin", {"token": "adm_" + "a1B2" * 6}, age_days=3)
        yield standin


def vault_settings(standin: VaultApiStandin, *, env_name: str | None = "production",
                   **extra: Any) -> Settings:
    """Production settings whose secrets all come from the stand-in."""
    data: dict[str, Any] = {
        "webhook_secret": WEBHOOK_REF,
        "admin_token": ADMIN_REF,
        "vault": {"addr": standin.url, "token": f"env:{TOKEN_ENV}"},
    }
    for key, value in extra.items():
        node = data
        *parents, last = key.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return Settings(data, env_name)


def run(settings: Settings, *check_ids: str, timeout: float = 20.0) -> dict[str, Finding]:
    """Run the secrets checks (or only ``check_ids``); findings by check id."""
    specs = select_checks(["secrets"], only=check_ids)
    findings = run_checks(specs, CheckContext(settings=settings, timeout_s=timeout))
    return by_check_id(findings)


def run_one(settings: Settings, check_id: str) -> Finding:
    return run(settings, check_id)[check_id]


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=neruba-tests", "-c", "user.email=tests@example.invalid",
         "-c", "commit.gpgsign=false", "-C", str(repo), *args],
        check=True, capture_output=True, timeout=30,
    )


@pytest.fixture
def git_repo(tmp_path: Path) -> Callable[..., Path]:
    """make_repo(files={"path": "text"}, untracked={...}) -> a committed git repository."""

    def make(files: dict[str, str], untracked: dict[str, str] | None = None) -> Path:
        repo = tmp_path / "repo"
        repo.mkdir()
        git(repo, "init", "-q")
        for name, text in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text, encoding="utf-8")
        git(repo, "add", "--all")
        git(repo, "commit", "-q", "--allow-empty", "-m", "fixture")
        for name, text in (untracked or {}).items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(text, encoding="utf-8")
        return repo

    return make
