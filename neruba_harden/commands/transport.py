"""`neruba-harden transport`: the HTTPS redirect, HSTS, TLS versions and the certificate."""

from __future__ import annotations

import click

from neruba_harden.commands.common import config_options, report_options
from neruba_harden.commands.exposure import http_url_option, run_target_command, target_options


@click.command("transport")
@target_options
@http_url_option
@config_options
@report_options
def transport(
    url: str | None,
    ca_bundle: str | None,
    http_url: str | None,
    config_file: str | None,
    env_name: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    strict: bool,
) -> int:
    """Check that http:// redirects to https://, HSTS, TLS 1.2+ only and the certificate.

    Thresholds: 'transport.hsts_min_age' (15552000 s), 'transport.cert_fail_days' (14),
    'transport.cert_warn_days' (30).
    """
    overrides = {"url": url, "ca_bundle": ca_bundle, "http_url": http_url}
    return run_target_command(
        "transport", overrides, config_file=config_file, env_name=env_name, fmt=fmt,
        output=output, strict=strict, timeout=timeout,
    )
