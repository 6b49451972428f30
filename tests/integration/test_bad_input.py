"""Bad input: one clear line, the documented exit code, never a traceback.

Each case runs the installed `neruba-harden` console script in a subprocess, as a pipeline
or an operator does, so stderr is the real one. Exit codes (DESIGN.md): 2 usage or
configuration error, 3 could not verify (an `error` finding) and nothing failed. The cases
run at once; each test then reads its own result.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from neruba_harden.reference.schema import MIGRATIONS_DIR
from tests.integration.conftest import Ran, clean_environ, free_tcp_port, run_cli_many

pytestmark = pytest.mark.slow

SECRET_ENV = "NERUBA_TEST_WEBHOOK_SECRET"
SECRET_VALUE = "whsec_badinput0c4e8a1f5b"
TOKEN_ENV = "NERUBA_TEST_VAULT_TOKEN"
TOKEN_VALUE = "hvs.badinput7d2f9e04"
# A text report's finding line: two spaces, the status label, the check id, the summary.
ERROR_LINE = re.compile(r"^  ERROR  (\S+)\s+(\S.*)$")
HTTP_CHECKS = frozenset({
    "exposure.debug", "exposure.docs", "ingress.signature-chain", "proxy.forwarded-headers",
    "proxy.host-header", "transport.hsts", "transport.https-redirect", "transport.tls",
})


@dataclass(frozen=True)
class Expect:
    code: int
    stderr_line: str | None = None  # the one line on stderr (a regex), None: stderr empty
    errors: frozenset[str] = frozenset()  # check ids that must each have one ERROR line
    error_text: str = ""  # what each of those lines must say


def staging_config(root: Path, name: str, url: str, http_url: str | None = None) -> Path:
    """A staging environment that points at ``url``: env: references are allowed there
    (secrets.sources only warns), so whatever is not a `pass` comes from the target."""
    lines = ["[environments.staging]", f"url = {json.dumps(url)}",
             f'webhook_secret = "env:{SECRET_ENV}"', "burst = 2",
             f"secrets.repo = {json.dumps(str(root))}"]
    if http_url:
        lines.append(f"http_url = {json.dumps(http_url)}")
    path = root / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Expect, Ran, Path]]:
    root = tmp_path_factory.mktemp("bad-input")
    closed, closed_db = free_tcp_port(), free_tcp_port()
    refused = staging_config(root, "refused", f"https://127.0.0.1:{closed}/",
                             f"http://127.0.0.1:{closed}/")
    dns = staging_config(root, "dns", "https://nonexistent.invalid/")
    broken = root / "broken.toml"
    broken.write_text('url = "https://unterminated\n[environments.production\n', encoding="utf-8")
    event = root / "event.json"
    event.write_text('{"id": "evt_1", "type": "payment_intent.succeeded"}\n', encoding="utf-8")
    down_db = f"postgresql+psycopg://app@127.0.0.1:{closed_db}/app"

    plan: dict[str, tuple[Expect, list[str]]] = {
        "unreachable-host": (
            Expect(3, errors=HTTP_CHECKS | {"smoke.accepted"}, error_text="refused"),
            ["preflight", "--config", str(refused), "--env", "staging"]),
        "dns-failure": (
            Expect(3, errors=HTTP_CHECKS | {"smoke.accepted"}, error_text="DNS"),
            ["preflight", "--config", str(dns), "--env", "staging"]),
        "malformed-config": (
            Expect(2, rf"neruba-harden: error: {re.escape(str(broken))}: invalid TOML: .+"),
            ["preflight", "--config", str(broken)]),
        "unknown-only": (
            Expect(2, r"neruba-harden: error: unknown check id or area 'no-such-check'"),
            ["preflight", "--config", str(refused), "--env", "staging",
             "--only", "no-such-check"]),
        "sign-unresolvable-secret": (
            Expect(2, r"neruba-harden: error: env:NERUBA_TEST_UNSET_SECRET: .*not set.*"),
            ["webhook", "sign", "--secret", "env:NERUBA_TEST_UNSET_SECRET", str(event)]),
        "migrations-db-down": (
            Expect(3, errors=frozenset({"migrations.current"}), error_text="refused"),
            ["migrations", "--script-location", str(MIGRATIONS_DIR), "--db", down_db]),
        "vault-down": (
            Expect(3, errors=frozenset({"secrets.vault"}), error_text="refused"),
            ["secrets", "--vault-addr", f"http://127.0.0.1:{closed}", "--vault-token",
             f"env:{TOKEN_ENV}", "--ref", "vault:kv/neruba/webhooks#key",
             "--repo", str(root)]),
    }
    assert set(plan) == set(CASE_NAMES)
    env = clean_environ(**{SECRET_ENV: SECRET_VALUE, TOKEN_ENV: TOKEN_VALUE})
    env.pop("NERUBA_TEST_UNSET_SECRET", None)
    ran = run_cli_many({name: args for name, (_, args) in plan.items()}, cwd=root, env=env)
    return {name: (expect, ran[name], root) for name, (expect, _) in plan.items()}


CASE_NAMES = ("unreachable-host", "dns-failure", "malformed-config", "unknown-only",
              "sign-unresolvable-secret", "migrations-db-down", "vault-down")


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_gives_one_clear_line_and_the_documented_exit_code(
    name: str, cases: dict[str, tuple[Expect, Ran, Path]]
) -> None:
    expect, ran, _ = cases[name]
    shown = f"exit {ran.returncode}\nstdout:\n{ran.stdout}\nstderr:\n{ran.stderr}"
    assert ran.returncode == expect.code, shown
    assert "Traceback" not in ran.stdout + ran.stderr, shown
    assert SECRET_VALUE not in ran.stdout + ran.stderr
    assert TOKEN_VALUE not in ran.stdout + ran.stderr

    if expect.stderr_line is not None:
        # A usage or configuration error: exactly one line on stderr, no report.
        assert ran.stdout == "", shown
        lines = ran.stderr.splitlines()
        assert len(lines) == 1 and re.fullmatch(expect.stderr_line, lines[0]), shown
        return
    assert ran.stderr == "", shown
    error_lines = [m.groups() for m in map(ERROR_LINE.match, ran.stdout.splitlines()) if m]
    ids = [check_id for check_id, _ in error_lines]
    # One line per error finding: every expected id once, and no other errors.
    assert sorted(ids) == sorted(expect.errors), shown
    for check_id, summary in error_lines:
        assert expect.error_text in summary, f"{check_id}: {summary!r} does not say why"
        assert len(summary) < 80, summary
    assert ran.stdout.rstrip().endswith("(exit 3)"), shown
