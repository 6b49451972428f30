"""`neruba-harden preflight`: every configured check at once, one report, one exit code.

A malformed key is exit 2 before anything runs: the core keys (timeout, environments,
waivers) always, and the keys of every selected area through its ``validate_settings``
(:func:`neruba_harden.commands.common.validate_areas`; no network, no secret resolved).
Checks of every area run concurrently, each under its own timeout; areas that are not
configured for the selected environment report `skip` with the reason. An area whose module
cannot be imported (a missing optional dependency, a broken install) becomes one `error`
finding (`<area>.load`) instead of stopping the run: the other areas are still verified.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import click

from neruba_harden import registry
from neruba_harden.commands.common import (
    build_report,
    config_options,
    load_for_command,
    progress,
    report_options,
    validate_areas,
)
from neruba_harden.config import Settings
from neruba_harden.errors import ConfigError
from neruba_harden.findings import Finding, Report, Status
from neruba_harden.registry import (
    DEFAULT_TIMEOUT_S,
    CheckContext,
    CheckSpec,
    filter_findings,
    load_area,
    run_checks,
    select_checks,
)

TITLE = "neruba-harden preflight"


def _selector_area(selector: str) -> str:
    return selector.split(".", 1)[0]


def load_areas(names: Iterable[str]) -> tuple[list[str], list[Finding]]:
    """Import each area's checks; an area that fails to import becomes an error finding."""
    loaded: list[str] = []
    broken: list[Finding] = []
    for name in names:
        try:
            load_area(name)
        except ConfigError:
            raise
        except Exception as exc:  # ImportError, or any error raised while importing
            detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
            broken.append(Finding(
                f"{name}.load", Status.ERROR, f"the {name} checks could not be loaded"[:79],
                {"module": registry.AREA_MODULES[name], "error": detail[:300]},
                "reinstall neruba-harden with its dependencies (pip install neruba-harden); "
                "this is a bug if it persists",
                title=f"{name} checks load",
            ))
        else:
            loaded.append(name)
    return loaded, broken


def _wanted(area: str, only: Sequence[str], skip: Sequence[str]) -> bool:
    if area in skip or f"{area}.load" in skip:
        return False
    return not only or any(_selector_area(sel) == area for sel in only)


def select(
    only: Sequence[str], skip: Sequence[str]
) -> tuple[list[CheckSpec], list[Finding]]:
    """The checks to run and the load errors of the areas that would have provided some."""
    # Looked up at call time: AREA_MODULES is the registry's extension point.
    loaded, broken = load_areas(list(registry.AREA_MODULES))
    broken_areas = {f.area for f in broken}
    # Selectors aimed at an area that did not load cannot be validated against its ids;
    # that area's load error stands for them.
    live_only = [s for s in only if _selector_area(s) not in broken_areas]
    live_skip = [s for s in skip if _selector_area(s) not in broken_areas]
    specs: list[CheckSpec] = []
    if loaded and (live_only or not only):
        specs = select_checks(loaded, live_only, live_skip)
    elif not loaded and (live_only or live_skip):
        raise ConfigError(f"unknown check id or area '{(live_only or live_skip)[0]}'")
    errors = [f for f in broken if _wanted(f.area, only, skip)]
    return specs, errors


def run_preflight(
    settings: Settings,
    *,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    strict: bool = False,
    timeout: float | None = None,
) -> Report:
    """Run every selected check concurrently and build the report (waivers applied)."""
    per_check = timeout or settings.get_float("timeout", DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S
    started = time.perf_counter()
    specs, load_errors = select(only, skip)
    # Only the areas that loaded and have checks selected: a broken area is its load error.
    validate_areas({spec.area for spec in specs}, settings)
    ctx = CheckContext(settings=settings, timeout_s=per_check)
    findings = run_checks(specs, ctx, on_finding=progress) if specs else []
    findings = filter_findings([*load_errors, *findings], only, skip)
    findings.sort(key=lambda f: f.check_id)
    meta: dict[str, object] = {}
    if settings.source:
        meta["config"] = str(settings.source)
    meta["duration_s"] = round(time.perf_counter() - started, 3)
    return build_report(findings, settings, title=TITLE, strict=strict, meta=meta)


@click.command("preflight")
@click.option(
    "--only", multiple=True, metavar="AREA_OR_ID",
    help="Run only this area or check id (repeatable).",
)
@click.option(
    "--skip", multiple=True, metavar="AREA_OR_ID",
    help="Leave out this check id or area (repeatable).",
)
@config_options
@report_options
def preflight(
    only: tuple[str, ...],
    skip: tuple[str, ...],
    config_file: str | None,
    env_name: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    strict: bool,
) -> int:
    """Run every configured check before a release: one report, one exit code.

    Areas with nothing configured for the environment skip with the reason. Waivers from
    [tool.neruba-harden.waive] apply; an expired waiver fails the run.
    """
    from neruba_harden.report import emit

    settings = load_for_command(config_file, env_name, {}, areas=())
    if settings.source is None and not settings.data:
        # A release gate that finds no configuration must not pass by skipping everything.
        raise ConfigError(
            "no configuration found: add neruba-harden.toml or [tool.neruba-harden] to "
            "pyproject.toml (searched upwards from here), or pass --config FILE"
        )
    settings.get_float("timeout")  # a malformed timeout is a configuration error (exit 2)
    report = run_preflight(settings, only=only, skip=skip, strict=strict, timeout=timeout)
    emit(report, fmt, output)
    return report.exit_code
