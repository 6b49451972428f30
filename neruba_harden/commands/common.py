"""Options and the run-and-report path shared by every check command."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import click

from neruba_harden import redact
from neruba_harden.config import Settings, load_settings
from neruba_harden.findings import Finding, Report, apply_waivers
from neruba_harden.registry import (
    DEFAULT_TIMEOUT_S,
    CheckContext,
    filter_findings,
    run_checks,
    select_checks,
)

F = TypeVar("F", bound=Callable[..., Any])
FORMAT_CHOICES = ("text", "json", "junit", "sarif", "markdown")


def report_options(func: F) -> F:
    """--format, --output, --strict."""
    func = click.option("--strict", is_flag=True, help="Treat warnings as failures (exit 1).")(func)
    func = click.option(
        "--output", "-o", "output", type=click.Path(dir_okay=False),
        help="Write the report to FILE instead of stdout.",
    )(func)
    func = click.option(
        "--format", "-f", "fmt", type=click.Choice(FORMAT_CHOICES), default="text",
        show_default=True, help="Report format.",
    )(func)
    return func


def config_options(func: F) -> F:
    """--config, --env, --timeout."""
    func = click.option(
        "--timeout", type=click.FloatRange(min=0.1), default=None,
        help=f"Per-check timeout in seconds (default {DEFAULT_TIMEOUT_S:g}, key 'timeout').",
    )(func)
    func = click.option("--env", "env_name", help="Named environment from the configuration.")(func)
    func = click.option(
        "--config", "config_file", type=click.Path(dir_okay=False),
        help="Configuration file (default: neruba-harden.toml or pyproject.toml, upwards).",
    )(func)
    return func


def progress(finding: Finding) -> None:
    """A progress line on stderr as each finding arrives (stdout stays parseable)."""
    if sys.stderr.isatty():
        click.echo(redact.scrub(f"  .. {finding.check_id}: {finding.status.value}"), err=True)


def build_report(
    findings: Iterable[Finding], settings: Settings, *, title: str, strict: bool,
    meta: Mapping[str, Any] | None = None,
) -> Report:
    today = dt.date.today().isoformat()
    waived = apply_waivers(findings, settings.waivers, today)
    info = dict(meta or {})
    if settings.env_name:
        info.setdefault("environment", settings.env_name)
    return Report(waived, title=title, strict=strict, meta=info)


# An area module that does not define ``validate_settings`` itself may have its validator
# elsewhere: "module:function". (The proxy checks read the keys checks/probes.py owns.)
AREA_VALIDATORS: dict[str, str] = {
    "proxy": "neruba_harden.checks.probes:validate_proxy_settings",
}


def area_validator(area: str) -> Callable[[Settings], None] | None:
    """The area's ``validate_settings(settings)``: its module's own, else AREA_VALIDATORS'."""
    import importlib

    from neruba_harden.registry import AREA_MODULES

    module = importlib.import_module(AREA_MODULES[area])
    validate = getattr(module, "validate_settings", None)
    if not callable(validate) and area in AREA_VALIDATORS:
        module_name, attr = AREA_VALIDATORS[area].split(":")
        validate = getattr(importlib.import_module(module_name), attr)
    return validate if callable(validate) else None


def validate_areas(areas: Iterable[str] | None, settings: Settings) -> None:
    """Check the keys of each area (all areas when None) before anything runs.

    Each area's ``validate_settings(settings)`` raises ConfigError naming the file (or
    variable, or flag) and the key: a malformed key is exit 2 for the whole command rather
    than an `error` finding of one check. Validation does no network I/O and resolves no
    secret. An unknown area is a ConfigError.
    """
    from neruba_harden.registry import AREA_MODULES, load_area

    names = list(AREA_MODULES) if areas is None else list(dict.fromkeys(areas))
    for area in sorted(names):
        if area not in AREA_MODULES:
            load_area(area)  # raises: unknown area
        validate = area_validator(area)
        if validate is not None:
            validate(settings)


def load_for_command(
    config_file: str | None, env_name: str | None, overrides: Mapping[str, Any],
    *, areas: Iterable[str] = (),
) -> Settings:
    """Load the settings for a command and validate the keys of ``areas`` (exit 2 on a
    malformed one) before the command does anything else with them."""
    settings = load_settings(
        config_file, env_name, {k: v for k, v in overrides.items() if v not in (None, (), [])}
    )
    validate_areas(areas, settings)
    return settings


def run_area_command(
    areas: Iterable[str] | None,
    overrides: Mapping[str, Any],
    *,
    config_file: str | None,
    env_name: str | None,
    fmt: str,
    output: str | None,
    strict: bool,
    timeout: float | None,
    title: str,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
    settings: Settings | None = None,
) -> int:
    """Load settings, run the selected checks concurrently, emit the report, return exit.

    ``settings``, when given, come from :func:`load_for_command` with the same ``areas``,
    so they are already validated; otherwise they are loaded and validated here. Either way
    a malformed key is exit 2 before any check runs.
    """
    from neruba_harden.report import emit

    if settings is None:
        settings = load_for_command(config_file, env_name, overrides)
        validate_areas(areas, settings)
    per_check = timeout or settings.get_float("timeout", DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S
    specs = select_checks(areas, only, skip)
    ctx = CheckContext(settings=settings, timeout_s=per_check)
    findings = filter_findings(run_checks(specs, ctx, on_finding=progress), only, skip)
    report = build_report(findings, settings, title=title, strict=strict)
    emit(report, fmt, output)
    return report.exit_code
