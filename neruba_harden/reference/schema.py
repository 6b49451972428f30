"""Alembic migrations of the reference receiver, run programmatically.

The migration scripts ship inside the package (`neruba_harden/reference/migrations/`), so
`migrate()` works from an installed wheel as well as from a checkout. The same folder holds
an `alembic.ini` for the `alembic` command line (`-x db_url=...`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from neruba_harden.reference.store import StoreError, first_line, make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(db_url: str | None = None) -> Config:
    """An Alembic Config whose script location is the package's migrations folder."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if db_url is not None:
        # Kept out of the ini options: ConfigParser would choke on a '%' in a password.
        config.attributes["db_url"] = db_url
    return config


def migrate(db_url: str, revision: str = "head") -> None:
    """Upgrade the database at `db_url` to `revision` (idempotent); StoreError on faults."""
    from alembic import command
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    engine = make_engine(db_url)
    config = alembic_config()
    config.attributes["engine"] = engine
    try:
        command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise StoreError(f"database migration failed: {first_line(exc)}") from None
    except CommandError as exc:
        raise StoreError(f"database migration failed: {first_line(exc)}") from None
    finally:
        engine.dispose()


def script_heads() -> tuple[str, ...]:
    """The head revisions of the package's migration scripts (one, when all is well)."""
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revision(db_url: str) -> str | None:
    """The revision the database at `db_url` is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.exc import SQLAlchemyError

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot read the database revision: {first_line(exc)}") from None
    finally:
        engine.dispose()
