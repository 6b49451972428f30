"""`neruba-harden secrets`: exit codes, one-line usage errors, and no secret in any output."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neruba_harden.cli import main
from tests.conftest import (
    CANARY_DB_PASSWORD,
    CANARY_TOKEN,
    CANARY_WEBHOOK_SECRET,
    assert_no_canary,
)
from tests.support.vault_api_standin import VaultApiStandin

from .conftest import TOKEN_ENV, git
from .test_vault_check import closed_port

CONFIG = """\
webhook_secret = "vault:kv/neruba/webhooks#stripe_endpoint_secret"
admin_token = "vault:kv/neruba/admin#token"

[secrets]
repo = "repo"

[vault]
addr = "{addr}"
token = "env:{token_env}"

[environments.production]
[environments.staging]
"""


def invoke(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(["secrets", *argv])
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


@pytest.fixture
def project(tmp_path: Path, vault: VaultApiStandin) -> Path:
    """A project folder: neruba-harden.toml pointing at the stand-in, a clean git repo."""
    (tmp_path / "neruba-harden.toml").write_text(
        CONFIG.format(addr=vault.url, token_env=TOKEN_ENV))
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "app.py").write_text("")
    git(repo, "add", "app.py")
    git(repo, "commit", "-q", "-m", "init")
    return tmp_path


def config_args(project: Path) -> list[str]:
    return ["--config", str(project / "neruba-harden.toml"), "--env", "production"]


def test_good_setup_exits_0(capsys, project):
    code, out, err = invoke(capsys, *config_args(project))
    assert code == 0, out
    assert "secrets.vault" in out and "secrets.refs" in out
    assert err == ""
    assert_no_canary(out, err)


def test_a_failed_check_exits_1(capsys, project):
    repo = project / "repo"
    (repo / ".env").write_text(f"NERUBA_WEBHOOK_SECRET={CANARY_WEBHOOK_SECRET}\n")
    git(repo, "add", ".env")
    git(repo, "commit", "-q", "-m", "oops")
    code, out, err = invoke(capsys, *config_args(project))
    assert code == 1
    assert "FAIL" in out and "secrets.env-files" in out
    assert_no_canary(out, err)


def test_an_unverifiable_check_and_no_failure_exits_3(capsys, project):
    code, out, _ = invoke(capsys, *config_args(project),
                          "--vault-addr", f"http://127.0.0.1:{closed_port()}")
    assert code == 3, out
    assert "connection refused" in out
    assert "Vault is unreachable; see secrets.vault" in out


def test_flags_add_references_and_override_thresholds(capsys, project, vault):
    vault.state.put_secret("kv", "neruba/old", {"s": "an-old-secret-1234"}, age_days=30)
    code, out, _ = invoke(capsys, *config_args(project), "--ref", "vault:kv/neruba/old#s",
                          "--max-age-days", "20", "--format", "json")
    assert code == 1
    assert "kv/neruba/old" in out and "30 days old" in out


def test_literal_vault_token_is_a_usage_error_and_not_echoed(capsys, project):
    code, out, err = invoke(capsys, *config_args(project), "--vault-token", CANARY_TOKEN)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "env:VAULT_TOKEN" in err and "file:" in err
    assert_no_canary(out, err)


@pytest.mark.parametrize("ref", ["kv/neruba/x#k", "env:SOMETHING", "vault:kv#k"])
def test_bad_ref_flag_is_a_usage_error(capsys, project, ref):
    code, _, err = invoke(capsys, *config_args(project), "--ref", ref)
    assert code == 2
    assert err.startswith("neruba-harden: error: --ref")
    assert err.count("\n") == 1


def test_unknown_environment_is_a_usage_error(capsys, project):
    code, _, err = invoke(capsys, "--config", str(project / "neruba-harden.toml"),
                          "--env", "qa")
    assert code == 2
    assert "environment 'qa' is not defined" in err


FORMATS = [f for f in ("text", "json", "junit", "sarif", "markdown")
           if importlib.util.find_spec(f"neruba_harden.report.{'json_report' if f == 'json' else f}")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_canary_in_any_format_when_everything_goes_wrong(tmp_path, fmt):
    """Every canary is in play: the Vault token, a stored value (read by secrets.refs and
    sitting in a tracked .env), and a database password, in a run where checks fail and
    error. A fresh process, so no earlier registration hides a leak."""
    with VaultApiStandin() as vault:
        vault.state.add_token(CANARY_TOKEN, policies=["app"], ttl=0, renewable=False,
                              capabilities={"kv/data/neruba/*": ["read", "update"],
                                            "kv/metadata/neruba/*": ["read"]})
        vault.state.put_secret("kv", "neruba/webhooks",
                               {"stripe_endpoint_secret": CANARY_WEBHOOK_SECRET}, age_days=200)
        repo = tmp_path / "repo"
        repo.mkdir()
        git(repo, "init", "-q")
        (repo / ".env").write_text(f"WEBHOOK_SECRET={CANARY_WEBHOOK_SECRET}\n"
                                   f"VAULT_TOKEN={CANARY_TOKEN}\n"
                                   f"DB=postgresql://app:{CANARY_DB_PASSWORD}@db/app\n")
        git(repo, "add", ".env")
        git(repo, "commit", "-q", "-m", "leak")
        report = tmp_path / f"report.{fmt}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "NERUBA_"))}
        env.update({TOKEN_ENV: CANARY_TOKEN, "HOME": str(tmp_path)})
        argv = [
            sys.executable, "-m", "neruba_harden", "secrets", "--env", "production",
            "--repo", str(repo), "--vault-addr", vault.url, "--vault-token", f"env:{TOKEN_ENV}",
            "--ref", "vault:kv/neruba/webhooks#stripe_endpoint_secret",
            "--ref", "vault:kv/neruba/webhooks#missing",
            "--db", f"postgresql://app:{CANARY_DB_PASSWORD}@127.0.0.1:{closed_port()}/app",
            "--format", fmt,
        ]
        to_stdout = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60,
                                   cwd=tmp_path)
        to_file = subprocess.run([*argv, "--output", str(report)], capture_output=True,
                                 text=True, env=env, timeout=60, cwd=tmp_path)
    assert to_stdout.returncode == 1, to_stdout.stderr
    assert to_file.returncode == 1
    assert "secrets.refs" in to_stdout.stdout
    assert_no_canary(to_stdout.stdout, to_stdout.stderr, to_file.stdout, to_file.stderr,
                     report.read_text())


def test_literal_token_via_subprocess_exits_2_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "NERUBA_"))}
    result = subprocess.run(
        [sys.executable, "-m", "neruba_harden", "secrets", "--vault-token", CANARY_TOKEN],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert_no_canary(result.stdout, result.stderr)
