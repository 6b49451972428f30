"""secrets.env-files: env files with values are flagged by file and key, never by value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neruba_harden.checks.secrets import (
    ENV_FILES,
    is_env_file,
    is_placeholder,
    is_template,
    real_values_in_template,
)
from neruba_harden.config import Settings
from neruba_harden.findings import Status
from tests.conftest import CANARY_DB_PASSWORD, CANARY_WEBHOOK_SECRET, assert_no_canary

from .conftest import run_one

TEMPLATE = """\
# copy to .env and fill in
NERUBA_WEBHOOK_SECRET=
ADMIN_TOKEN=changeme
DATABASE_URL=postgresql://app:<password>@localhost:5432/neruba
VAULT_TOKEN=${VAULT_TOKEN}
STRIPE_KEY=sk_xxx_placeholder
LOG_LEVEL=info
PORT=8000
"""


def check(repo: Path, deploy_dir: Path | None = None):
    data = {"secrets": {"repo": str(repo)}}
    if deploy_dir is not None:
        data["secrets"]["deploy_dir"] = str(deploy_dir)
    return run_one(Settings(data), ENV_FILES)


def text_of(finding) -> str:
    return json.dumps(finding.to_dict())


def test_clean_repository_with_an_untracked_placeholder_template_passes(git_repo):
    repo = git_repo({"app.py": "print('hi')\n"}, untracked={".env.example": TEMPLATE})
    finding = check(repo)
    assert finding.status is Status.PASS, finding
    assert finding.evidence["scan"] == "git ls-files (tracked files)"


def test_tracked_placeholder_template_passes(git_repo):
    repo = git_repo({".env.example": TEMPLATE, "config/.env.template": "SECRET_KEY=<set me>\n"})
    finding = check(repo)
    assert finding.status is Status.PASS, finding
    assert ".env.example" in finding.evidence["templates with placeholders"]


def test_tracked_env_file_fails_naming_file_and_keys_but_no_value(git_repo):
    repo = git_repo({
        "app.py": "",
        ".env": f"NERUBA_WEBHOOK_SECRET={CANARY_WEBHOOK_SECRET}\nDATABASE_URL="
                f"postgresql://app:{CANARY_DB_PASSWORD}@db/neruba\n",
    })
    finding = check(repo)
    assert finding.status is Status.FAIL
    assert finding.location == ".env"
    assert "NERUBA_WEBHOOK_SECRET" in finding.evidence[".env"]
    assert "DATABASE_URL" in finding.evidence[".env"]
    assert "tracked by git" in finding.evidence[".env"]
    assert "git rm --cached" in finding.hint
    assert_no_canary(text_of(finding))


def test_tracked_env_file_is_judged_on_what_git_holds_even_if_deleted_locally(git_repo):
    repo = git_repo({"deploy/prod.env": f"SECRET={CANARY_WEBHOOK_SECRET}\n"})
    (repo / "deploy/prod.env").unlink()
    finding = check(repo)
    assert finding.status is Status.FAIL
    assert "SECRET" in finding.evidence["deploy/prod.env"]


def test_untracked_env_file_in_a_repository_is_not_flagged(git_repo):
    repo = git_repo({"app.py": ""}, untracked={".env": f"SECRET={CANARY_WEBHOOK_SECRET}\n"})
    assert check(repo).status is Status.PASS


def test_template_holding_a_real_value_fails_without_echoing_it(git_repo):
    repo = git_repo({".env.example": TEMPLATE + f"NERUBA_WEBHOOK_SECRET={CANARY_WEBHOOK_SECRET}\n"})
    finding = check(repo)
    assert finding.status is Status.FAIL
    assert "real-looking values: NERUBA_WEBHOOK_SECRET" in finding.evidence[".env.example"]
    assert_no_canary(text_of(finding))


def test_template_with_a_real_database_password_fails(git_repo):
    repo = git_repo({".env.sample": f"DATABASE_URL=postgresql://app:{CANARY_DB_PASSWORD}@db/app\n"})
    finding = check(repo)
    assert finding.status is Status.FAIL
    assert "DATABASE_URL" in finding.evidence[".env.sample"]
    assert_no_canary(text_of(finding))


def test_a_bare_secret_line_is_never_echoed_as_a_key_name(git_repo):
    repo = git_repo({".env": f"{CANARY_WEBHOOK_SECRET}\n"})
    finding = check(repo)
    assert finding.status is Status.FAIL
    assert "(unnamed line)" in finding.evidence[".env"]
    assert_no_canary(text_of(finding))


def test_not_a_git_repository_scans_the_directory_and_says_so(tmp_path):
    folder = tmp_path / "plain"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / ".env.production").write_text(f"TOKEN={CANARY_WEBHOOK_SECRET}\n")
    (folder / ".env.dist").write_text("TOKEN=\n")
    finding = check(folder)
    assert finding.status is Status.FAIL
    assert finding.evidence["scan"] == "directory scan (not a git repository)"
    assert "present in the repository" in finding.evidence["sub/.env.production"]
    assert ".env.dist" in finding.evidence["templates with placeholders"]


def test_env_file_in_the_deploy_directory_fails(git_repo, tmp_path):
    repo = git_repo({"app.py": ""})
    deploy = tmp_path / "srv"
    deploy.mkdir()
    (deploy / ".env").write_text(f"NERUBA_WEBHOOK_SECRET={CANARY_WEBHOOK_SECRET}\n")
    finding = check(repo, deploy)
    assert finding.status is Status.FAIL
    assert "deploy directory" in finding.summary
    key = str(deploy / ".env")
    assert "present in the deploy directory" in finding.evidence[key]
    assert_no_canary(text_of(finding))


def test_clean_deploy_directory_passes(git_repo, tmp_path):
    repo = git_repo({"app.py": ""})
    deploy = tmp_path / "srv"
    deploy.mkdir()
    (deploy / "app.conf").write_text("x = 1\n")
    assert check(repo, deploy).status is Status.PASS


def test_missing_repository_directory_is_an_error(tmp_path):
    finding = check(tmp_path / "nope")
    assert finding.status is Status.ERROR
    assert "not found" in finding.summary


@pytest.mark.parametrize(
    ("name", "env", "template"),
    [
        (".env", True, False),
        (".env.local", True, False),
        ("prod.env", True, False),
        (".env.example", True, True),
        (".env.template", True, True),
        (".env.sample", True, True),
        (".env.dist", True, True),
        (".envrc", False, False),
        ("environment.py", False, False),
    ],
)
def test_env_file_names(name, env, template):
    assert is_env_file(name) is env
    if env:
        assert is_template(name) is template


@pytest.mark.parametrize("value", ["", "changeme", "<secret>", "${SECRET}", "xxx", "XXXXXXXX",
                                   "your-secret-here", "example", "replace_me", "{{ secret }}"])
def test_placeholders(value):
    assert is_placeholder(value)


@pytest.mark.parametrize("value", [CANARY_WEBHOOK_SECRET, "hunter2-but-longer", "s3cr3t!"])
def test_real_values_under_secret_keys_are_not_placeholders(value):
    assert real_values_in_template({"API_SECRET": value}) == ["API_SECRET"]


def test_plain_settings_in_templates_are_fine():
    assert real_values_in_template({"PORT": "8000", "LOG_LEVEL": "info",
                                    "PUBLIC_URL": "https://api.example.com"}) == []
    assert real_values_in_template({"SOMETHING": "ghp_" + "aB3" * 12}) == ["SOMETHING"]


def test_repo_may_be_a_folder_inside_a_git_work_tree(git_repo):
    root = git_repo({"services/api/.env.example": f"API_SECRET={CANARY_WEBHOOK_SECRET}\n",
                     "services/api/app.py": "", ".env": "OTHER=1\n"})
    (root / "services/api/.env.example").unlink()  # judged on what git holds
    finding = check(root / "services" / "api")
    assert finding.status is Status.FAIL
    assert list(k for k in finding.evidence if "env" in k) == [".env.example"]
    assert "API_SECRET" in finding.evidence[".env.example"]
    assert_no_canary(text_of(finding))
