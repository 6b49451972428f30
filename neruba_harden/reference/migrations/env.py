"""Alembic environment of the reference receiver.

`neruba_harden.reference.schema.migrate` hands in a ready engine (config.attributes
"engine"); the alembic command line passes `-x db_url=URL` (or sets sqlalchemy.url).
All migrations run in one transaction; on PostgreSQL an advisory lock keeps two receivers
that start at once from migrating the same database twice.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text

from neruba_harden.reference.store import make_engine, metadata

# Any fixed 64-bit number, the same in every process: "neruba" in ASCII.
_PG_LOCK_KEY = 0x6E6572756261


def _engine() -> tuple[Engine, bool]:
    config = context.config
    engine = config.attributes.get("engine")
    if isinstance(engine, Engine):
        return engine, False
    url = (
        config.attributes.get("db_url")
        or context.get_x_argument(as_dictionary=True).get("db_url")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("no database: pass -x db_url=URL")
    return make_engine(str(url)), True


def run_migrations_online() -> None:
    engine, owned = _engine()
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection, target_metadata=metadata, transactional_ddl=True
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                    )
                context.run_migrations()
            connection.commit()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) mode is not supported by the reference receiver")
run_migrations_online()
