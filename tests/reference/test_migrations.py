"""The receiver's Alembic migrations: one head, idempotent upgrades, both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from neruba_harden.reference.schema import (
    MIGRATIONS_DIR,
    current_revision,
    migrate,
    script_heads,
)
from neruba_harden.reference.store import StoreError, make_engine

TABLES = {"webhook_events", "webhook_deliveries", "side_effects", "webhook_claims"}


def test_single_head() -> None:
    assert script_heads() == ("0002",)


def test_migrations_ship_with_the_package() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "__init__.py").is_file()  # so env.py is packaged in wheels
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("0*.py")) == [
        "0001_webhook_events.py",
        "0002_webhook_claims.py",
    ]


def _tables(db_url: str) -> set[str]:
    engine = make_engine(db_url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrate_twice_is_idempotent(db_url: str) -> None:
    # The session fixture migrated once already; twice more changes nothing.
    migrate(db_url)
    migrate(db_url)
    assert current_revision(db_url) == "0002"
    assert _tables(db_url) >= TABLES


def test_fresh_sqlite_step_by_step(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert current_revision(url) is None
    migrate(url, "0001")
    assert current_revision(url) == "0001"
    assert "webhook_claims" not in _tables(url)
    migrate(url)
    assert current_revision(url) == "0002"
    assert _tables(url) >= TABLES


def test_event_id_is_unique_at_the_database(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        uniques = inspect(engine).get_unique_constraints("webhook_events")
    finally:
        engine.dispose()
    assert [u["column_names"] for u in uniques] == [["event_id"]]


def test_unreachable_database_is_one_line() -> None:
    with pytest.raises(StoreError) as caught:
        migrate("postgresql://postgres:CANARYpw@127.0.0.1:1/nothing")
    message = str(caught.value)
    assert message.startswith("database migration failed:")
    assert "\n" not in message and "CANARYpw" not in message


def test_bad_url_is_one_line() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        migrate("no url here")
    with pytest.raises(StoreError, match="in-memory"):
        migrate("sqlite://")
