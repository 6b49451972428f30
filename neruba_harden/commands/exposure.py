"""`neruba-harden exposure`: which docs, debug and admin surfaces answer, per environment.

Also home of the options and the run path shared by the ``transport`` and ``proxy``
commands, which point at the same target (``--url``, ``--ca-bundle``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from neruba_harden.commands.common import (
    config_options,
    load_for_command,
    report_options,
    run_area_command,
)
from neruba_harden.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


def target_options(func: F) -> F:
    """--url and --ca-bundle."""
    func = click.option(
        "--ca-bundle", type=click.Path(dir_okay=False, exists=True),
        help="CA bundle for a private CA (key 'ca_bundle').",
    )(func)
    func = click.option(
        "--url", metavar="URL", help="Public https:// address of the API (key 'url').",
    )(func)
    return func


def http_url_option(func: F) -> F:
    """--http-url."""
    return click.option(
        "--http-url", metavar="URL",
        help="Plain-HTTP address (key 'http_url'; default: the same host on port 80).",
    )(func)


def run_target_command(
    area: str, overrides: Mapping[str, Any], *, config_file: str | None,
    env_name: str | None, fmt: str, output: str | None, strict: bool, timeout: float | None,
) -> int:
    """Validate the target settings (a bad URL is a usage error, exit 2), then run."""
    from neruba_harden.checks.probes import validate_url

    settings = load_for_command(config_file, env_name, overrides, areas=[area])
    url = settings.get_str("url")
    if not url:
        raise ConfigError("no target: pass --url or set key 'url'")
    # url and http_url were validated with the area; origin_url is validated for every edge
    # command, as a malformed one in the configuration is a usage error wherever it is read.
    origin = settings.get_str("origin_url")
    if origin:
        validate_url(origin, "origin_url", settings)
    return run_area_command(
        [area], overrides, config_file=config_file, env_name=env_name, fmt=fmt,
        output=output, strict=strict, timeout=timeout, title=f"neruba-harden {area}",
        settings=settings,
    )


@click.command("exposure")
@target_options
@config_options
@report_options
def exposure(
    url: str | None,
    ca_bundle: str | None,
    config_file: str | None,
    env_name: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    strict: bool,
) -> int:
    """Check docs surfaces against the environment's policy, and debug/admin surfaces.

    Docs (/docs, /redoc, /openapi.json, Swagger...) must be disabled or gated where
    'exposure.docs_policy' is deny (the default in production); debug consoles, actuators,
    /.env, /.git/config, server-status, metrics and admin routes must never answer.
    """
    overrides = {"url": url, "ca_bundle": ca_bundle}
    return run_target_command(
        "exposure", overrides, config_file=config_file, env_name=env_name, fmt=fmt,
        output=output, strict=strict, timeout=timeout,
    )
