"""Throwaway Alembic projects: a script directory written into tmp_path, and databases.

`ScriptDir` writes a real env.py and revision files (each revision creates one table), so
the databases the tests check are migrated by Alembic itself, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.support import postgres

ENV_PY = '''\
"""env.py of a throwaway test project: migrate the database named by sqlalchemy.url."""
from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

engine = create_engine(context.config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
with engine.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
'''

REVISION = '''\
"""Create table {table}.

Revision ID: {rev}
Revises: {down}
"""
import sqlalchemy as sa
from alembic import op

revision = {rev!r}
down_revision = {down_value}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        {table!r},
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
    )


def downgrade():
    op.drop_table({table!r})
'''


class ScriptDir:
    """An Alembic script directory under construction."""

    def __init__(self, root: Path) -> None:
        self.path = root / "migrations"
        (self.path / "versions").mkdir(parents=True)
        (self.path / "env.py").write_text(ENV_PY, encoding="utf-8")
        (self.path / "script.py.mako").write_text("# unused by these tests\n", encoding="utf-8")

    def add(self, rev: str, down: str | tuple[str, ...] | None = None) -> ScriptDir:
        """A revision that creates table t_<rev>; a tuple of parents makes a merge."""
        (self.path / "versions" / f"{rev}.py").write_text(
            REVISION.format(rev=rev, down=down, down_value=repr(down), table=f"t_{rev}"),
            encoding="utf-8",
        )
        return self

    def remove(self, rev: str) -> None:
        """Drop a revision file, as when code is rolled back past a migration."""
        (self.path / "versions" / f"{rev}.py").unlink()

    def upgrade(self, url: str, target: str = "heads") -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(self.path))
        config.set_main_option("sqlalchemy.url", url)
        command.upgrade(config, target)


@pytest.fixture
def scripts(tmp_path: Path) -> ScriptDir:
    return ScriptDir(tmp_path)


def sqlite_url(tmp_path: Path) -> str:
    path = tmp_path / f"app-{uuid.uuid4().hex[:6]}.db"
    sqlite3.connect(path).close()  # an empty database file: the check never creates one
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    available, reason = postgres.server_available()
    require_service("PostgreSQL", available, reason)
    with postgres.temporary_database("neruba_migrations") as url:
        yield url


@pytest.fixture
def models_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Write a models module (a MetaData) importable as 'name:metadata'; returns a writer."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(*tables: str, extra_column: bool = False) -> str:
        name = f"models_{uuid.uuid4().hex[:8]}"
        columns = '    sa.Column("name", sa.String(40), nullable=False),\n'
        if extra_column:
            columns += '    sa.Column("email", sa.String(200), nullable=True),\n'
        body = "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\n"
        for table in tables:
            body += (
                f'\nsa.Table(\n    "{table}", metadata,\n'
                '    sa.Column("id", sa.Integer, primary_key=True),\n'
                f"{columns})\n"
            )
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
        return f"{name}:metadata"

    return write
