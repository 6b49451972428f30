"""Canary secrets never leak: every report format, to stdout and to a file.

The deployment's webhook secret (in the Vault stand-in) is CANARY_WEBHOOK_SECRET, the Vault
token (from the environment) is CANARY_TOKEN, and the database URL of both migrations.db
and secrets.db carries CANARY_DB_PASSWORD and points at a closed port, so the findings that
print the database (errors, with evidence) and the inline-secret finding of
secrets.sources are in every report. Each run is a fresh `neruba-harden` process: nothing
was registered for redaction before it started, as in a pipeline.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import CANARY_DB_PASSWORD, CANARY_TOKEN, assert_no_canary
from tests.integration.conftest import (
    ADMIN_TOKEN,
    ENV,
    TOKEN_ENV,
    Deployment,
    Ran,
    clean_environ,
    free_tcp_port,
    run_cli_many,
    statuses,
)

pytestmark = [pytest.mark.slow, pytest.mark.nginx, pytest.mark.chrony]

FORMATS = ("text", "json", "junit", "sarif", "markdown")
DESTINATIONS = ("stdout", "file")
# Checks that are given no secret at all (they read url, http_url and ca_bundle only) and
# cost most of a run's CPU in HTTPS probes: left out of these ten runs to keep them quick.
# Everything that resolves a secret runs: smoke (webhook secret, admin token), the signed
# proxy chain, secrets (Vault token, database URL), migrations (database URL), clock.
NO_SECRET_INPUT = ("exposure", "transport", "proxy.host-header", "proxy.forwarded-headers")


@pytest.fixture(scope="module")
def runs(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory
         ) -> dict[tuple[str, str], tuple[Ran, str]]:
    """(format, destination) -> (the run, the report it wrote)."""
    root = tmp_path_factory.mktemp("canaries")
    db = f"postgresql+psycopg://app:{CANARY_DB_PASSWORD}@127.0.0.1:{free_tcp_port()}/app"
    config = deployment.write_config(root / "neruba-harden.toml",
                                     **{"migrations.db": db, "secrets.db": db})
    base = ["preflight", "--config", str(config), "--env", ENV,
            *(arg for check in NO_SECRET_INPUT for arg in ("--skip", check))]
    commands = {}
    for fmt in FORMATS:
        commands[f"{fmt}-stdout"] = [*base, "--format", fmt]
        commands[f"{fmt}-file"] = [*base, "--format", fmt, "--output", str(root / f"report.{fmt}")]
    # Two at a time: more would exhaust the test nginx's 256 worker connections, and a
    # report full of dropped connections would not be the report a pipeline sees.
    ran = run_cli_many(commands, cwd=root, env=clean_environ(**{TOKEN_ENV: CANARY_TOKEN}),
                       parallel=2)
    results = {}
    for fmt in FORMATS:
        results[fmt, "stdout"] = (ran[f"{fmt}-stdout"], ran[f"{fmt}-stdout"].stdout)
        written = (root / f"report.{fmt}").read_text(encoding="utf-8")
        results[fmt, "file"] = (ran[f"{fmt}-file"], written)
    return results


@pytest.mark.parametrize("destination", DESTINATIONS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_no_canary_in_any_output(
    runs: dict[tuple[str, str], tuple[Ran, str]], fmt: str, destination: str
) -> None:
    ran, report = runs[fmt, destination]
    # 1: secrets.sources fails on the inline database password; the database errors.
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout
    assert ran.stderr == ""
    if destination == "file":
        assert ran.stdout == ""
    # The report is really there, with the findings that show the database URL.
    for check_id in ("migrations.current", "secrets.db-privileges", "secrets.sources",
                     "secrets.vault", "smoke.readback"):
        assert check_id in report, f"{check_id} missing from the {fmt} report"
    assert_no_canary(ran.stdout, ran.stderr, report)
    assert ADMIN_TOKEN not in ran.stdout + ran.stderr + report


def test_the_database_url_is_shown_masked(runs: dict[tuple[str, str], tuple[Ran, str]]) -> None:
    """The URL is evidence worth showing (which host, which user): only the password goes."""
    _, report = runs["text", "stdout"]
    assert "postgresql+psycopg://app:[REDACTED]@127.0.0.1:" in report


# The run is the one the configuration describes, nothing else broken: the inline password
# fails secrets.sources, the closed database port errors the two database checks, and the
# drift check skips behind migrations.current. Every other check passes.
NOT_PASSING = {"migrations.current": "error", "migrations.drift": "skip",
               "secrets.db-privileges": "error", "secrets.sources": "fail"}
SUMMARY = "20 checks: 16 pass, 1 fail, 2 error, 1 skip (exit 1)"


def test_the_reports_are_complete_and_show_only_the_planted_problems(
    runs: dict[tuple[str, str], tuple[Ran, str]]
) -> None:
    """A report cut short, or full of unrelated errors, would prove little about leaks."""
    endings = {"text": SUMMARY, "json": "}", "junit": "</testsuites>", "sarif": "}",
               "markdown": f"**{SUMMARY}**"}
    for (fmt, destination), (_, report) in runs.items():
        assert report.rstrip().endswith(endings[fmt]), (fmt, destination, report[-300:])
        if fmt == "json":
            found = statuses(json.loads(report))
            assert {i: s for i, s in found.items() if s != "pass"} == NOT_PASSING, destination
