"""`neruba-harden proxy`: forwarded headers, host-header reflection and the signature chain."""

from __future__ import annotations

import click

from neruba_harden.commands.common import config_options, report_options
from neruba_harden.commands.exposure import http_url_option, run_target_command, target_options


@click.command("proxy")
@target_options
@http_url_option
@click.option("--secret", "secret_ref", metavar="REF",
              help="Webhook secret reference: env:NAME, file:PATH or vault:MOUNT/PATH#KEY "
                   "(key 'webhook_secret').")
@click.option("--origin-url", metavar="URL",
              help="The receiver's address behind the proxy, to compare (key 'origin_url').")
@click.option("--admin-path", metavar="PATH",
              help="Operator route that must stay denied (key 'admin_path', "
                   "default /admin/status).")
@config_options
@report_options
def proxy(
    url: str | None,
    ca_bundle: str | None,
    http_url: str | None,
    secret_ref: str | None,
    origin_url: str | None,
    admin_path: str | None,
    config_file: str | None,
    env_name: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    strict: bool,
) -> int:
    """Check what the proxy trusts and alters: spoofed Host and client-IP headers, and
    whether a correctly signed test-mode event reaches the receiver intact.
    """
    if secret_ref is not None:
        from neruba_harden.secretrefs import SecretRef

        SecretRef.parse(secret_ref, where="--secret")  # a malformed reference: exit 2
    overrides = {
        "url": url, "ca_bundle": ca_bundle, "http_url": http_url, "webhook_secret": secret_ref,
        "origin_url": origin_url, "admin_path": admin_path,
    }
    return run_target_command(
        "proxy", overrides, config_file=config_file, env_name=env_name, fmt=fmt,
        output=output, strict=strict, timeout=timeout,
    )
