"""`neruba-harden migrations`: is the database at every Alembic head (read-only)?"""

from __future__ import annotations

import click

from neruba_harden.commands.common import (
    config_options,
    load_for_command,
    report_options,
    run_area_command,
)


@click.command("migrations")
@click.option(
    "--script-location", metavar="DIR",
    help="Alembic script directory, or package:dir (key migrations.script_location).",
)
@click.option(
    "--db", metavar="REF_OR_URL",
    help="Database: a secret reference (vault:/env:/file:) or a SQLAlchemy URL "
    "(key migrations.db).",
)
@click.option(
    "--alembic-ini", type=click.Path(dir_okay=False), metavar="FILE",
    help="alembic.ini to read script_location and sqlalchemy.url from "
    "(key migrations.alembic_ini). `--config alembic.ini` does the same.",
)
@click.option(
    "--target-metadata", metavar="MODULE:ATTR",
    help="SQLAlchemy MetaData to compare the schema with (key migrations.target_metadata).",
)
@config_options
@report_options
def migrations(
    script_location: str | None,
    db: str | None,
    alembic_ini: str | None,
    target_metadata: str | None,
    config_file: str | None,
    env_name: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    strict: bool,
) -> int:
    """Check that the database is at every Alembic head, that there is one head, and
    (with a target metadata) that the schema matches the models. Never migrates.

    Exit 1 when migrations are pending or the database is at a revision this code does not
    know (a rollback hazard); 3 when the database or the script directory cannot be read.
    """
    from neruba_harden.checks.migrations import migrations_options

    # neruba-harden's own configuration is TOML; an .ini given to --config is alembic's,
    # as with `alembic --config alembic.ini`.
    if config_file and config_file.lower().endswith(".ini") and not alembic_ini:
        alembic_ini, config_file = config_file, None
    overrides = {
        "migrations.script_location": script_location,
        "migrations.db": db,
        "migrations.alembic_ini": alembic_ini,
        "migrations.target_metadata": target_metadata,
    }
    settings = load_for_command(config_file, env_name, overrides, areas=["migrations"])
    migrations_options(settings)  # a malformed migrations.* key is exit 2, not a finding
    return run_area_command(
        ["migrations"], overrides, config_file=config_file, env_name=env_name, fmt=fmt,
        output=output, strict=strict, timeout=timeout, title="neruba-harden migrations",
        settings=settings,
    )
