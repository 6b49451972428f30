"""`neruba-harden secrets`: secret sources, Vault health and policy, rotation, DB privileges.

Flags add to what the configuration names: ``--ref`` appends to ``secrets.refs``; the others
override one key each. ``--vault-token`` takes a reference (``env:VAULT_TOKEN``,
``file:~/.vault-token``), never a token: a token on a command line ends up in shell history
and in ``ps`` output.
"""

from __future__ import annotations

from typing import Any

import click

from neruba_harden.commands.common import (
    config_options,
    load_for_command,
    report_options,
    run_area_command,
)
from neruba_harden.errors import ConfigError
from neruba_harden.secretrefs import SecretRef
from neruba_harden.vault import check_token_reference


def _vault_ref(text: str) -> str:
    ref = SecretRef.parse(text, where=f"--ref {text}")
    if ref.kind != "vault":
        raise ConfigError(f"--ref {text}: expected vault:MOUNT/PATH#KEY")
    return ref.text


@click.command("secrets")
@click.option("--repo", type=click.Path(file_okay=False),
              help="Repository to scan for env files (key secrets.repo, default '.').")
@click.option("--deploy-dir", type=click.Path(file_okay=False),
              help="Deploy directory to scan for env files (key secrets.deploy_dir).")
@click.option("--vault-addr", metavar="URL", help="Vault address (key vault.addr; else VAULT_ADDR).")
@click.option("--vault-token", metavar="REF",
              help="Where the Vault token lives: env:NAME or file:PATH (key vault.token).")
@click.option("--ref", "refs", multiple=True, metavar="vault:MOUNT/PATH#KEY",
              help="A Vault reference to verify, in addition to the configuration's.")
@click.option("--max-age-days", type=click.IntRange(min=1),
              help="Rotation threshold in days (key secrets.max_age_days, default 90).")
@click.option("--min-token-ttl", type=click.IntRange(min=0), metavar="SECONDS",
              help="TTL a non-renewable token must have left (key secrets.min_token_ttl).")
@click.option("--db", metavar="REF_OR_URL",
              help="The application's PostgreSQL URL or a reference to it (key secrets.db).")
@config_options
@report_options
def secrets(
    repo: str | None,
    deploy_dir: str | None,
    vault_addr: str | None,
    vault_token: str | None,
    refs: tuple[str, ...],
    max_age_days: int | None,
    min_token_ttl: int | None,
    db: str | None,
    config_file: str | None,
    env_name: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    strict: bool,
) -> int:
    """Check secret sources, env files, Vault, rotation and the database role."""
    if vault_token is not None:
        check_token_reference(vault_token, "--vault-token")
    extra_refs = [_vault_ref(text) for text in refs]
    overrides: dict[str, Any] = {
        "secrets.repo": repo,
        "secrets.deploy_dir": deploy_dir,
        "vault.addr": vault_addr,
        "vault.token": vault_token,
        "secrets.max_age_days": max_age_days,
        "secrets.min_token_ttl": min_token_ttl,
        "secrets.db": db,
    }
    settings = load_for_command(config_file, env_name, overrides, areas=["secrets"])
    if extra_refs:
        configured = settings.get_list("secrets.refs")
        merged = [*configured, *(r for r in extra_refs if r not in configured)]
        settings = settings.with_overrides({"secrets.refs": merged})
    return run_area_command(
        ["secrets"], overrides, config_file=config_file, env_name=env_name, fmt=fmt,
        output=output, strict=strict, timeout=timeout, title="neruba-harden secrets",
        settings=settings,
    )
