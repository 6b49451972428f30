"""`neruba-harden clock`: measure the host's clock drift against NTP servers."""

from __future__ import annotations

import click

from neruba_harden.commands.common import (
    config_options,
    load_for_command,
    report_options,
    run_area_command,
)


def _parse_servers(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> list[str]:
    """Validate each --server now, so a bad one is a usage error (exit 2)."""
    from neruba_harden.checks.clock import parse_server

    servers = []
    for spec in value:
        try:
            servers.append(parse_server(spec).label)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return servers


@click.command("clock")
@click.option(
    "--server", "servers", multiple=True, metavar="HOST[:PORT]", callback=_parse_servers,
    help="NTP server to query (repeatable; replaces clock.servers). IPv6: [ADDR]:PORT.",
)
@click.option(
    "--warn", "warn_s", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
    help="Warn at this absolute offset (default 0.5, key clock.warn).",
)
@click.option(
    "--fail", "fail_s", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
    help="Fail at this absolute offset (default 5, key clock.fail).",
)
@config_options
@report_options
def clock(
    servers: list[str],
    warn_s: float | None,
    fail_s: float | None,
    config_file: str | None,
    env_name: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    strict: bool,
) -> int:
    """Check clock drift against NTP servers (median offset, headroom left).

    The offset is judged against --warn/--fail, and reported against the webhook
    tolerance (key 'tolerance') and the JWT leeway (key 'clock.jwt_leeway').
    """
    from neruba_harden.checks.clock import drift_options

    overrides = {"clock.servers": servers, "clock.warn": warn_s, "clock.fail": fail_s}
    settings = load_for_command(config_file, env_name, overrides, areas=["clock"])
    drift_options(settings)  # a bad clock.* setting is a configuration error: exit 2
    return run_area_command(
        ["clock"], overrides, config_file=config_file, env_name=env_name, fmt=fmt,
        output=output, strict=strict, timeout=timeout, title="neruba-harden clock",
        settings=settings,
    )
