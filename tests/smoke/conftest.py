"""Fixtures for the smoke tests: a database URL per backend, and a receiver factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.smoke.receivers import RunningReceiver, reference_receiver, sqlite_url

StartReceiver = Callable[..., AbstractContextManager[RunningReceiver]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    from tests.support.postgres import server_available, temporary_database

    available, reason = server_available()
    require_service("PostgreSQL", available, reason)
    with temporary_database("neruba_smoke") as url:
        yield url


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
def start_receiver(sqlite_db: str) -> StartReceiver:
    """Start a reference receiver on SQLite: ``with start_receiver(faults=[...]) as r:``."""

    def start(**kwargs: object) -> AbstractContextManager[RunningReceiver]:
        return reference_receiver(sqlite_db, **kwargs)  # type: ignore[arg-type]

    return start
