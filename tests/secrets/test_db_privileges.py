"""secrets.db-privileges on a real PostgreSQL: roles created here, dropped afterwards."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import pytest

from neruba_harden.checks.secrets import DB_PRIVILEGES
from neruba_harden.config import Settings
from neruba_harden.findings import Status
from tests.conftest import CANARY_DB_PASSWORD, assert_no_canary, require_service
from tests.support.postgres import SERVER_URL, _libpq_url, server_available, temporary_database

from .conftest import run_one

pytestmark = pytest.mark.postgres


def check(url: str):
    finding = run_one(Settings({"secrets": {"db": url}}), DB_PRIVILEGES)
    assert_no_canary(json.dumps(finding.to_dict()))
    return finding


@pytest.fixture(scope="module")
def admin_url() -> str:
    available, reason = server_available()
    require_service("PostgreSQL", available, reason)
    return _libpq_url(SERVER_URL)


@pytest.fixture
def make_role(admin_url: str) -> Iterator[Callable[..., str]]:
    """make_role("CREATEDB", grants=[...], owner=True) -> a URL for a new login role.

    The URL carries CANARY_DB_PASSWORD as its password (the server trusts loopback, so the
    password is not checked, but it must never be printed). Roles and the database are
    dropped afterwards.
    """
    import psycopg

    created: list[str] = []
    try:
        # The database is dropped first: a role that owns it cannot be dropped before.
        with temporary_database("neruba_secrets") as db_url:
            dbname = db_url.rsplit("/", 1)[1]
            host_part = admin_url.split("@", 1)[1].rsplit("/", 1)[0]

            def make(*attributes: str, grants: tuple[str, ...] = (), owner: bool = False) -> str:
                name = f"neruba_app_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'CREATE ROLE "{name}" LOGIN {" ".join(attributes)}')
                    created.append(name)
                    for grant in grants:
                        conn.execute(f'GRANT {grant} TO "{name}"')
                    if owner:
                        conn.execute(f'ALTER DATABASE "{dbname}" OWNER TO "{name}"')
                return f"postgresql+psycopg://{name}:{CANARY_DB_PASSWORD}@{host_part}/{dbname}"

            yield make
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            for name in created:
                conn.execute(f'DROP ROLE IF EXISTS "{name}"')
                conn.execute(f'DROP ROLE IF EXISTS "{name}_group"')


def test_least_privileged_role_passes(make_role):
    finding = check(make_role())
    assert finding.status is Status.PASS, finding
    assert finding.summary.endswith("holds no excess privilege")


def test_superuser_fails_once(make_role):
    finding = check(make_role("SUPERUSER"))
    assert finding.status is Status.FAIL
    assert finding.summary.endswith("is a superuser")
    assert finding.evidence["excess"] == ["SUPERUSER (implies every other privilege)"]
    assert "NOSUPERUSER" in finding.hint


def test_role_owning_the_database_fails(make_role):
    finding = check(make_role(owner=True))
    assert finding.status is Status.FAIL
    assert any(e.startswith("owns database neruba_secrets_") for e in finding.evidence["excess"])


def test_member_of_pg_write_all_data_fails(make_role):
    finding = check(make_role(grants=("pg_write_all_data",)))
    assert finding.status is Status.FAIL
    assert finding.evidence["excess"] == ["member of pg_write_all_data"]


def test_transitive_membership_counts(make_role, admin_url):
    import psycopg

    url = make_role()
    name = url.split("://", 1)[1].split(":", 1)[0]
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE ROLE "{name}_group" NOLOGIN')
        conn.execute(f'GRANT pg_read_server_files TO "{name}_group"')
        conn.execute(f'GRANT "{name}_group" TO "{name}"')
    finding = check(url)
    assert finding.status is Status.FAIL
    assert finding.evidence["excess"] == ["member of pg_read_server_files"]


@pytest.mark.parametrize("attribute", ["CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"])
def test_role_attributes_fail(make_role, attribute):
    finding = check(make_role(attribute))
    assert finding.status is Status.FAIL
    assert finding.evidence["excess"] == [attribute]
    assert finding.summary.endswith("has 1 excess privilege")


def test_several_excess_privileges_are_one_finding(make_role):
    finding = check(make_role("CREATEDB", "CREATEROLE", grants=("pg_write_server_files",)))
    assert finding.status is Status.FAIL
    assert finding.evidence["excess"] == ["CREATEROLE", "CREATEDB",
                                          "member of pg_write_server_files"]


def test_reference_to_the_url_is_resolved(make_role, monkeypatch):
    monkeypatch.setenv("NERUBA_TEST_APP_DB", make_role())
    finding = check("env:NERUBA_TEST_APP_DB")
    assert finding.status is Status.PASS


def test_unreachable_database_is_an_error_without_the_password():
    finding = check(f"postgresql://app:{CANARY_DB_PASSWORD}@127.0.0.1:1/neruba")
    assert finding.status is Status.ERROR
    assert finding.summary == "cannot connect to PostgreSQL"
    assert finding.evidence["target"] == "app@127.0.0.1:1/neruba"


def test_sqlite_skips_with_the_reason():
    finding = check("sqlite:///./neruba.db")
    assert finding.status is Status.SKIP
    assert "SQLite" in finding.summary


def test_no_database_configured_skips():
    finding = run_one(Settings({}), DB_PRIVILEGES)
    assert finding.status is Status.SKIP
    assert "secrets.db" in finding.summary


def test_unresolvable_reference_is_an_error():
    finding = check("env:NERUBA_TEST_UNSET_DB_URL")
    assert finding.status is Status.ERROR
    assert finding.summary == "cannot resolve secrets.db"
