"""The release engineer's preflight over a realistic deployment: every check, every area.

The deployment (tests/integration/conftest.py) is the reference receiver behind a real
nginx with TLS, a real chronyd, the Vault API stand-in (not Vault: see the conftest) and a
clean repository. One `neruba-harden preflight --env production --format json` must report
every check id of every area, pass them all (or skip with a stated reason), exit 0, and do
it concurrently: the run takes far less than its checks' durations added up.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    DB_REF,
    ENV,
    EXPECTED_IDS,
    Deployment,
    Edge,
    by_id,
    check_durations,
    postgres_or_skip,
    reference_receiver,
    run_in_process,
)

pytestmark = [pytest.mark.slow, pytest.mark.nginx, pytest.mark.chrony]

# What may come out other than `pass` on a correct deployment, and the reason it must give.
JUSTIFIED_ON_SQLITE = {
    "secrets.db-privileges": ("skip", "SQLite has no roles or grants to check"),
}


def preflight_json(
    capsys: pytest.CaptureFixture[str], config: Path, *extra: str
) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_in_process(capsys, "preflight", "--config", str(config),
                                    "--env", ENV, "--format", "json", *extra)
    return code, json.loads(out), err


def assert_all_pass(report: dict[str, Any], justified: dict[str, tuple[str, str]]) -> None:
    findings = by_id(report)
    assert set(findings) == EXPECTED_IDS, (
        f"missing: {sorted(EXPECTED_IDS - set(findings))}, "
        f"unexpected: {sorted(set(findings) - EXPECTED_IDS)}")
    for check_id, finding in findings.items():
        if check_id in justified:
            status, reason = justified[check_id]
            assert (finding["status"], reason in finding["summary"]) == (status, True), finding
        else:
            assert finding["status"] == "pass", finding
    # TLS 1.0/1.1 are probed with this machine's OpenSSL; one that cannot offer them leaves
    # them untested, and then the passing summary must say so rather than imply it checked.
    tls = findings["transport.tls"]
    untested = [v for v, r in tls["evidence"]["legacy"].items() if r.startswith("not tested")]
    if untested:
        assert "not tested locally" in tls["summary"], tls


def assert_concurrent(report: dict[str, Any]) -> None:
    wall = float(report["meta"]["duration_s"])
    durations = check_durations(report)
    total, slowest = sum(durations.values()), max(durations.values())
    shown = f"wall {wall:.2f}s, sum {total:.2f}s, slowest {slowest:.2f}s: {durations}"
    assert wall < 0.8 * total, shown
    assert wall < 3 * slowest, shown  # run one after another, it would be about sum


def test_full_preflight_passes_every_check_of_every_area_concurrently(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = deployment.write_config(tmp_path / "neruba-harden.toml")
    deployment.vault.state.requests.clear()
    code, report, err = preflight_json(capsys, config)

    assert_all_pass(report, JUSTIFIED_ON_SQLITE)
    assert (code, report["exit_code"]) == (0, 0), err
    assert report["meta"]["environment"] == ENV
    assert report["counts"]["fail"] == report["counts"]["error"] == 0
    assert_concurrent(report)
    # The secret references really went through Vault: the stand-in saw the reads.
    requests = {path for _, path in deployment.vault.state.requests}
    assert "/v1/kv/data/neruba/webhooks" in requests
    assert "/v1/auth/token/lookup-self" in requests


# -- the same deployment on PostgreSQL, with the application's least-privileged role --------


@dataclass(frozen=True)
class PostgresDeployment:
    edge: Edge
    migration_url: str  # the schema owner's URL: migrations run as it
    role: str  # the application's role: what secrets.db-privileges judges
    password: str


def _create_app_role(owner_url: str, role: str, password: str) -> None:
    """A login role with DML on the receiver's tables and nothing else."""
    import psycopg
    from psycopg import sql

    dbname = owner_url.rsplit("/", 1)[1]
    libpq = owner_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as conn:
        ident = sql.Identifier(role)
        conn.execute(sql.SQL(
            "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE "
            "NOREPLICATION NOBYPASSRLS").format(ident, sql.Literal(password)))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
            sql.Identifier(dbname), ident))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident))
        conn.execute(sql.SQL(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}"
        ).format(ident))
        conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}")
                     .format(ident))


def _drop_role(role: str) -> None:
    import psycopg
    from psycopg import sql

    from tests.support.postgres import SERVER_URL

    libpq = SERVER_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def postgres_deployment(deployment: Deployment) -> Iterator[PostgresDeployment]:
    """A receiver on a throwaway PostgreSQL database, behind its own correct edge."""
    postgres_or_skip()
    from sqlalchemy.engine import make_url

    from tests.support.postgres import temporary_database

    role, password = f"neruba_app_{secrets.token_hex(4)}", secrets.token_hex(12)
    with ExitStack() as stack:
        stack.callback(_drop_role, role)  # runs last: after the database and its grants
        owner_url = stack.enter_context(temporary_database("neruba_integration"))
        receiver = stack.enter_context(reference_receiver(owner_url))  # migrates as owner
        _create_app_role(owner_url, role, password)
        app_url = make_url(owner_url).set(username=role, password=password)
        # The application's database URL holds a password: it lives in Vault too.
        deployment.vault.state.put_secret(
            "kv", "neruba/db", {"url": app_url.render_as_string(hide_password=False)},
            age_days=1)
        edge = deployment.start_edge(f"pg-{role}", receiver.url, stack=stack)
        yield PostgresDeployment(edge, owner_url, role, password)


@pytest.mark.postgres
def test_full_preflight_on_postgresql_with_a_least_privileged_role(
    deployment: Deployment, postgres_deployment: PostgresDeployment, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pg = postgres_deployment
    refs = deployment.config()["environments"][ENV]["secrets"]["refs"]
    config = deployment.write_config(
        tmp_path / "neruba-harden.toml", **pg.edge.keys(),
        **{"migrations.db": pg.migration_url, "secrets.db": DB_REF,
           "secrets.refs": [*refs, DB_REF]},
    )
    code, report, err = preflight_json(capsys, config)

    assert_all_pass(report, {})  # db-privileges too: no justified skip on PostgreSQL
    assert code == 0, err
    assert by_id(report)["secrets.db-privileges"]["evidence"]["role"] == pg.role
    assert pg.password not in json.dumps(report)
    assert_concurrent(report)
