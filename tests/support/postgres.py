"""A throwaway PostgreSQL database per test session, on the server at 127.0.0.1:5432."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

SERVER_URL = os.environ.get(
    "NERUBA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def server_available() -> tuple[bool, str]:
    try:
        import psycopg

        with psycopg.connect(_libpq_url(SERVER_URL), connect_timeout=3):
            return True, ""
    except Exception as exc:  # any failure means "not available here"
        return False, f"{SERVER_URL.split('@')[-1]}: {type(exc).__name__}: {exc}".splitlines()[0]


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def temporary_database(prefix: str = "neruba_test") -> Iterator[str]:
    """Create a fresh database; yield its SQLAlchemy URL; drop it afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq_url(SERVER_URL), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_db(SERVER_URL, name)
    finally:
        with psycopg.connect(_libpq_url(SERVER_URL), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
