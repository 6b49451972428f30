"""The migrations checks on real Alembic projects, against SQLite and PostgreSQL.

Each control has a passing test on a good target and a failing one on a target broken in
exactly that control: a pending migration, a revision unknown to the code, a database never
migrated, two heads, schema drift.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from neruba_harden.checks.migrations import (
    CURRENT,
    DRIFT,
    SINGLE_HEAD,
    describe_diff,
    migrations_checks,
    migrations_options,
)
from neruba_harden.config import Settings
from neruba_harden.errors import ConfigError
from neruba_harden.findings import Finding, Status
from neruba_harden.registry import CheckContext, run_checks, select_checks
from tests.conftest import CANARY_DB_PASSWORD
from tests.migrations.conftest import ScriptDir, sqlite_url


def run(timeout: float = 10.0, **migrations: Any) -> dict[str, Finding]:
    """Run the migrations checks through the real runner; findings by id."""
    settings = Settings({"migrations": {k: v for k, v in migrations.items() if v is not None}})
    findings = run_checks(select_checks(["migrations"]), CheckContext(settings, timeout))
    by_id = {f.check_id: f for f in findings}
    assert set(by_id) == {CURRENT, SINGLE_HEAD, DRIFT}
    return by_id


def test_at_head_passes(scripts: ScriptDir, db_url: str) -> None:
    scripts.add("a1").add("b2", "a1")
    scripts.upgrade(db_url)
    found = run(script_location=str(scripts.path), db=db_url)
    assert found[CURRENT].status is Status.PASS, found[CURRENT]
    assert found[CURRENT].evidence["database_revisions"] == ["b2"]
    assert found[CURRENT].evidence["heads"] == ["b2"]
    assert found[CURRENT].evidence["pending"] == []
    assert found[SINGLE_HEAD].status is Status.PASS
    assert found[DRIFT].status is Status.SKIP
    assert "target_metadata" in found[DRIFT].summary


def test_pending_migrations_fail_with_the_pending_list_oldest_first(
    scripts: ScriptDir, db_url: str
) -> None:
    scripts.add("a1").add("b2", "a1").add("c3", "b2").add("d4", "c3")
    scripts.upgrade(db_url, "b2")
    found = run(script_location=str(scripts.path), db=db_url)
    current = found[CURRENT]
    assert current.status is Status.FAIL
    assert current.evidence["database_revisions"] == ["b2"]
    assert current.evidence["heads"] == ["d4"]
    assert current.evidence["pending"] == ["c3", "d4"]
    assert "2 migrations pending" in current.summary
    assert "alembic upgrade" in current.hint
    assert found[SINGLE_HEAD].status is Status.PASS  # one root cause, one finding


def test_unknown_database_revision_is_a_rollback_hazard(scripts: ScriptDir, db_url: str) -> None:
    scripts.add("a1").add("b2", "a1").add("c3", "b2")
    scripts.upgrade(db_url)
    scripts.remove("c3")  # the code was rolled back; the schema was not
    found = run(script_location=str(scripts.path), db=db_url)
    current = found[CURRENT]
    assert current.status is Status.FAIL
    assert "unknown" in current.summary
    assert current.evidence["unknown_revisions"] == ["c3"]
    assert current.evidence["heads"] == ["b2"]
    assert "rollback" in current.hint


def test_a_revision_prefix_is_not_mistaken_for_a_known_revision(
    scripts: ScriptDir, tmp_path: Path
) -> None:
    # Alembic resolves partial ids; a database holds full ones and must match exactly.
    scripts.add("abcd1234")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url)
    (scripts.path / "versions" / "abcd1234.py").unlink()
    scripts.add("abcd12345678")
    found = run(script_location=str(scripts.path), db=url)
    assert found[CURRENT].status is Status.FAIL
    assert found[CURRENT].evidence["unknown_revisions"] == ["abcd1234"]


def test_database_without_version_table_fails(scripts: ScriptDir, db_url: str) -> None:
    scripts.add("a1")
    found = run(script_location=str(scripts.path), db=db_url)
    current = found[CURRENT]
    assert current.status is Status.FAIL
    assert "no alembic_version table" in current.summary
    assert "stamp" in current.hint
    assert found[DRIFT].status is Status.SKIP


def test_empty_version_table_fails_with_everything_pending(
    scripts: ScriptDir, tmp_path: Path
) -> None:
    scripts.add("a1").add("b2", "a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url)
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute("DELETE FROM alembic_version")
    current = run(script_location=str(scripts.path), db=url)[CURRENT]
    assert current.status is Status.FAIL
    assert current.evidence["pending"] == ["a1", "b2"]


def test_two_heads_fail_single_head_naming_them(scripts: ScriptDir, db_url: str) -> None:
    scripts.add("a1").add("b2", "a1").add("c3", "a1")
    scripts.upgrade(db_url)
    found = run(script_location=str(scripts.path), db=db_url)
    single = found[SINGLE_HEAD]
    assert single.status is Status.FAIL
    assert single.evidence["heads"] == ["b2", "c3"]
    assert "b2" in single.summary and "c3" in single.summary
    assert "alembic merge heads" in single.hint
    # The database is at both heads: the current check passes on its own terms.
    assert found[CURRENT].status is Status.PASS
    assert found[CURRENT].evidence["database_revisions"] == ["b2", "c3"]


def test_a_merge_revision_makes_one_head_again(scripts: ScriptDir, tmp_path: Path) -> None:
    scripts.add("a1").add("b2", "a1").add("c3", "a1").add("m4", ("b2", "c3"))
    url = sqlite_url(tmp_path)
    scripts.upgrade(url, "b2")
    found = run(script_location=str(scripts.path), db=url)
    assert found[SINGLE_HEAD].status is Status.PASS
    assert found[CURRENT].status is Status.FAIL
    assert found[CURRENT].evidence["pending"] == ["c3", "m4"]


def test_database_on_one_branch_lists_the_other_branch_as_pending(
    scripts: ScriptDir, tmp_path: Path
) -> None:
    scripts.add("a1").add("b2", "a1").add("c3", "a1").add("d4", "c3")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url, "b2")
    current = run(script_location=str(scripts.path), db=url)[CURRENT]
    assert current.status is Status.FAIL
    assert current.evidence["pending"] == ["c3", "d4"]


def test_drift_passes_when_models_match(scripts: ScriptDir, db_url: str, models_module) -> None:  # type: ignore[no-untyped-def]
    scripts.add("a1").add("b2", "a1")
    scripts.upgrade(db_url)
    found = run(script_location=str(scripts.path), db=db_url,
                target_metadata=models_module("t_a1", "t_b2"))
    assert found[DRIFT].status is Status.PASS, found[DRIFT]
    assert found[DRIFT].evidence["differences"] == []


def test_drift_detected_lists_the_differences(scripts: ScriptDir, db_url: str, models_module) -> None:  # type: ignore[no-untyped-def]
    scripts.add("a1").add("b2", "a1")
    scripts.upgrade(db_url)
    # The models gained a table and a column that no migration creates.
    target = models_module("t_a1", "t_b2", "t_new", extra_column=True)
    drift = run(script_location=str(scripts.path), db=db_url, target_metadata=target)[DRIFT]
    assert drift.status is Status.FAIL
    differences = drift.evidence["differences"]
    assert "add_table t_new" in differences
    assert "add_column t_a1.email" in differences
    assert "add_column t_b2.email" in differences
    assert "autogenerate" in drift.hint


def test_drift_is_not_compared_below_head(scripts: ScriptDir, tmp_path: Path, models_module) -> None:  # type: ignore[no-untyped-def]
    scripts.add("a1").add("b2", "a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url, "a1")
    found = run(script_location=str(scripts.path), db=url,
                target_metadata=models_module("t_a1", "t_b2"))
    assert found[CURRENT].status is Status.FAIL
    assert found[DRIFT].status is Status.SKIP  # the pending migration is the root cause
    assert "not at head" in found[DRIFT].summary


def test_drift_with_an_unimportable_target_is_an_error(scripts: ScriptDir, tmp_path: Path) -> None:
    scripts.add("a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url)
    drift = run(script_location=str(scripts.path), db=url,
                target_metadata="no_such_models_module:metadata")[DRIFT]
    assert drift.status is Status.ERROR
    assert "no_such_models_module" in drift.summary


def test_describe_modify_diff() -> None:
    diff: list[Any] = [("modify_nullable", None, "accounts", "name", {}, True, False)]
    assert describe_diff(diff) == "modify_nullable accounts.name: True -> False"


# -- not configured, misconfigured, unreachable -------------------------------------------

def test_nothing_configured_skips_everything_with_the_reason() -> None:
    found = run()
    for finding in found.values():
        assert finding.status is Status.SKIP
        assert "migrations.script_location" in finding.summary


def test_script_directory_without_database_skips_current(scripts: ScriptDir) -> None:
    scripts.add("a1")
    found = run(script_location=str(scripts.path))
    assert found[CURRENT].status is Status.SKIP
    assert "migrations.db" in found[CURRENT].summary
    assert found[SINGLE_HEAD].status is Status.PASS


def test_missing_script_directory_is_one_error(tmp_path: Path) -> None:
    found = run(script_location=str(tmp_path / "nope"), db=sqlite_url(tmp_path))
    assert found[CURRENT].status is Status.ERROR
    assert found[CURRENT].summary == "Alembic script directory not found"
    assert "\n" not in found[CURRENT].summary
    # One root cause, one finding: the dependants skip and point at it.
    assert found[SINGLE_HEAD].status is Status.SKIP
    assert found[DRIFT].status is Status.SKIP
    assert "see migrations.current" in found[SINGLE_HEAD].summary


@pytest.mark.parametrize("kind", ["empty-dir", "a-file"])
def test_a_folder_that_is_not_a_script_directory_is_an_error(tmp_path: Path, kind: str) -> None:
    location = tmp_path / "not-migrations"
    if kind == "empty-dir":
        location.mkdir()
    else:
        location.write_text("x")
    found = run(script_location=str(location), db=sqlite_url(tmp_path))
    assert found[CURRENT].status is Status.ERROR
    assert found[CURRENT].summary in ("no versions/ folder in the Alembic script directory",
                                      "Alembic script directory not found")


def test_broken_revision_file_is_an_error(scripts: ScriptDir, tmp_path: Path) -> None:
    scripts.add("a1")
    (scripts.path / "versions" / "b2.py").write_text("revision = 'b2'\ndown_revision = (\n")
    found = run(script_location=str(scripts.path), db=sqlite_url(tmp_path))
    assert found[CURRENT].status is Status.ERROR
    assert "cannot be loaded" in found[CURRENT].summary
    assert "SyntaxError" in found[CURRENT].evidence["error"]


def test_missing_sqlite_file_is_an_error_and_is_not_created(
    scripts: ScriptDir, tmp_path: Path
) -> None:
    scripts.add("a1")
    missing = tmp_path / "missing.db"
    current = run(script_location=str(scripts.path), db=f"sqlite:///{missing}")[CURRENT]
    assert current.status is Status.ERROR
    assert "not found" in current.summary
    assert not missing.exists()


def test_the_check_never_writes_to_the_database(scripts: ScriptDir, tmp_path: Path) -> None:
    scripts.add("a1").add("b2", "a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url, "a1")
    path = Path(url.removeprefix("sqlite:///"))
    before = path.read_bytes()
    assert run(script_location=str(scripts.path), db=url)[CURRENT].status is Status.FAIL
    assert path.read_bytes() == before


def test_alembic_ini_gives_script_location_and_url(scripts: ScriptDir, tmp_path: Path) -> None:
    scripts.add("a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url)
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = %(here)s/migrations\nsqlalchemy.url = {url}\n")
    found = run(alembic_ini=str(ini))
    assert found[CURRENT].status is Status.PASS, found[CURRENT]
    assert found[SINGLE_HEAD].status is Status.PASS


@pytest.mark.parametrize(
    ("content", "summary"),
    [
        ("not an ini file at all\n", "alembic.ini is not a valid INI file"),
        ("[alembic]\nsqlalchemy.url = sqlite://\n", "alembic.ini has no script_location"),
        (None, "alembic.ini not found"),
        ("[loggers]\nkeys = root\n", "alembic.ini has no [alembic] section"),
    ],
)
def test_bad_alembic_ini_is_an_error(tmp_path: Path, content: str | None, summary: str) -> None:
    ini = tmp_path / "alembic.ini"
    if content is not None:
        ini.write_text(content)
    found = run(alembic_ini=str(ini))
    assert found[CURRENT].status is Status.ERROR
    assert found[CURRENT].summary == summary
    assert found[SINGLE_HEAD].status is Status.SKIP


def test_closed_port_is_an_error_without_the_password(scripts: ScriptDir) -> None:
    from tests.conftest import assert_no_canary

    scripts.add("a1")
    url = f"postgresql+psycopg://app:{CANARY_DB_PASSWORD}@127.0.0.1:1/x"
    found = run(script_location=str(scripts.path), db=url)
    current = found[CURRENT]
    assert current.status is Status.ERROR
    assert current.summary == "database unreachable: 127.0.0.1:1 (connection refused)"
    assert found[SINGLE_HEAD].status is Status.PASS  # needs no database
    assert found[DRIFT].status is Status.SKIP
    assert_no_canary(repr(list(found.values())))


def test_unresolvable_secret_reference_is_an_error(
    scripts: ScriptDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts.add("a1")
    monkeypatch.delenv("NERUBA_TEST_MISSING_DB_URL", raising=False)
    current = run(script_location=str(scripts.path), db="env:NERUBA_TEST_MISSING_DB_URL")[CURRENT]
    assert current.status is Status.ERROR
    assert current.summary == "cannot resolve migrations.db"
    assert "NERUBA_TEST_MISSING_DB_URL is not set" in current.evidence["error"]


def test_database_url_from_a_secret_reference(
    scripts: ScriptDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts.add("a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url)
    monkeypatch.setenv("NERUBA_TEST_DB_URL", url)
    current = run(script_location=str(scripts.path), db="env:NERUBA_TEST_DB_URL")[CURRENT]
    assert current.status is Status.PASS


def test_not_a_url_is_an_error(scripts: ScriptDir) -> None:
    scripts.add("a1")
    current = run(script_location=str(scripts.path), db="definitely not a url")[CURRENT]
    assert current.status is Status.ERROR
    assert current.summary == "migrations.db is not a database URL"


def test_wrong_types_are_configuration_errors_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"migrations\.script_location"):
        migrations_options(Settings({"migrations": {"script_location": ["a", "b"]}},
                                    source=Path("pyproject.toml")))
    with pytest.raises(ConfigError, match=r"migrations\.target_metadata"):
        migrations_options(Settings({"migrations": {"target_metadata": "no_colon"}}))
    with pytest.raises(ConfigError, match="'migrations'"):
        migrations_options(Settings({"migrations": "oops"}))


def test_wrong_types_inside_preflight_are_one_error_finding() -> None:
    settings = Settings({"migrations": {"script_location": ["a"]}})
    findings = list(migrations_checks(CheckContext(settings)))
    assert [f.status for f in findings] == [Status.ERROR, Status.SKIP, Status.SKIP]
    assert "migrations.script_location" in findings[0].summary


# -- the reference receiver's own migrations ----------------------------------------------

REFERENCE_SCRIPTS = "neruba_harden.reference:migrations"
REFERENCE_MODELS = "neruba_harden.reference.store:metadata"


def reference_upgrade(url: str, target: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", REFERENCE_SCRIPTS)
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, target)


def test_reference_receiver_migrations(db_url: str) -> None:
    """The package's own receiver: a package-style script location, its models for drift."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", REFERENCE_SCRIPTS)
    revisions = [r.revision for r in reversed(list(ScriptDirectory.from_config(config)
                                                   .walk_revisions()))]
    reference_upgrade(db_url, revisions[0])
    found = run(script_location=REFERENCE_SCRIPTS, db=db_url, target_metadata=REFERENCE_MODELS)
    assert found[CURRENT].status is Status.FAIL
    assert found[CURRENT].evidence["pending"] == revisions[1:]
    reference_upgrade(db_url, "heads")
    found = run(script_location=REFERENCE_SCRIPTS, db=db_url, target_metadata=REFERENCE_MODELS)
    assert [found[i].status for i in (CURRENT, SINGLE_HEAD, DRIFT)] == [Status.PASS] * 3, found


def test_a_server_that_never_answers_hits_the_connect_timeout(scripts: ScriptDir) -> None:
    """A port that accepts TCP but never speaks: the connect timeout, not a hang."""
    import socket
    import time

    scripts.add("a1")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # never accepted: the handshake completes, no reply ever comes
        port = silent.getsockname()[1]
        started = time.perf_counter()
        found = run(timeout=5.0, script_location=str(scripts.path),
                    db=f"postgresql+psycopg://app:{CANARY_DB_PASSWORD}@127.0.0.1:{port}/x")
        elapsed = time.perf_counter() - started
    current = found[CURRENT]
    assert current.status is Status.ERROR
    assert current.summary == f"database unreachable: 127.0.0.1:{port} (connect timed out)"
    assert elapsed < 4.5
    assert found[DRIFT].status is Status.SKIP  # the check finished on its own, not cut short
