"""`neruba-harden reference`: run or migrate the reference webhook receiver.

    neruba-harden reference serve --port 8000 --db sqlite:///receiver.db --secret env:WHSEC
    neruba-harden reference migrate --db sqlite:///receiver.db

Starlette, SQLAlchemy, uvicorn and Alembic load inside the commands, never at import.
Expected faults (unresolvable secret, bad or unreachable database, port in use) print one
line on stderr and exit 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

import click

from neruba_harden.errors import NerubaError
from neruba_harden.reference.faults import FAULTS
from neruba_harden.reference.settings import DOCS_MODES

EXIT_USAGE = 2


def _fail(message: str) -> NoReturn:
    from neruba_harden.redact import scrub

    click.echo(f"error: {scrub(message)}", err=True)
    raise SystemExit(EXIT_USAGE)


def _resolve_db(db: str) -> str:
    from neruba_harden.secretrefs import resolve_maybe_ref

    return resolve_maybe_ref(db)


@click.group(name="reference")
def reference() -> None:
    """Run the reference webhook receiver (the contract's embedded test target)."""


@reference.command()
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="TCP port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--db", "db", required=True, help="Database URL, or a secret reference to one.")
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    required=True,
    help="Webhook secret reference (env:, file:, vault:); repeat during rotation.",
)
@click.option(
    "--scheme",
    type=click.Choice(["stripe", "standard"]),
    default="stripe",
    show_default=True,
    help="Signing scheme.",
)
@click.option("--webhook-path", default="/webhooks", show_default=True)
@click.option(
    "--admin-token", "admin_token", default=None, help="Secret reference of the read-back token."
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    type=click.Choice(list(FAULTS)),
    help="Break one control on purpose (repeatable).",
)
@click.option("--docs", type=click.Choice(DOCS_MODES), default="open", show_default=True)
def serve(
    port: int,
    host: str,
    db: str,
    secrets: Sequence[str],
    scheme: str,
    webhook_path: str,
    admin_token: str | None,
    faults: Sequence[str],
    docs: str,
) -> None:
    """Serve the receiver in the foreground until interrupted."""
    try:
        from neruba_harden.reference.server import serve as serve_receiver
        from neruba_harden.reference.settings import ReceiverSettings
        from neruba_harden.secretrefs import resolve_secret

        settings = ReceiverSettings(
            db_url=_resolve_db(db),
            secrets=[resolve_secret(ref) for ref in secrets],
            scheme=scheme,
            webhook_path=webhook_path,
            admin_token=resolve_secret(admin_token) if admin_token else None,
            faults=frozenset(faults),
            docs=docs,
        )
        if faults:
            click.echo(f"warning: fault switches on: {', '.join(sorted(faults))}", err=True)
        serve_receiver(settings, host, port)
    except (NerubaError, ValueError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        pass


@reference.command()
@click.option("--db", "db", required=True, help="Database URL, or a secret reference to one.")
def migrate(db: str) -> None:
    """Upgrade the receiver's database to the latest migration (idempotent)."""
    try:
        from neruba_harden.reference.schema import current_revision
        from neruba_harden.reference.schema import migrate as migrate_db

        url = _resolve_db(db)
        migrate_db(url)
        click.echo(f"database at revision {current_revision(url)}")
    except (NerubaError, ValueError) as exc:
        _fail(str(exc))
