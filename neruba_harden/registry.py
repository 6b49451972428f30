"""The @check registry and the concurrent runner (timeouts, isolation).

A check is a small function registered under a stable id. It receives a CheckContext and
returns findings. The runner runs every selected check concurrently (they are I/O bound),
each under its own timeout, and turns any exception into that check's `error` finding.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from neruba_harden import redact
from neruba_harden.config import Settings
from neruba_harden.errors import CheckError, ConfigError, NerubaError
from neruba_harden.findings import Finding, Status

CheckResult = Iterable[Finding] | Awaitable[Iterable[Finding]]
CheckFunc = Callable[["CheckContext"], CheckResult]
C = TypeVar("C", bound=CheckFunc)

DEFAULT_TIMEOUT_S = 30.0

# Area name -> module that registers its checks. Areas are imported only when selected.
AREA_MODULES: dict[str, str] = {
    "smoke": "neruba_harden.smoke.checks",
    "migrations": "neruba_harden.checks.migrations",
    "secrets": "neruba_harden.checks.secrets",
    "clock": "neruba_harden.checks.clock",
    "exposure": "neruba_harden.checks.exposure",
    "transport": "neruba_harden.checks.transport",
    "proxy": "neruba_harden.checks.proxy",
}


@dataclass(frozen=True)
class CheckSpec:
    """A registered check."""

    check_id: str
    title: str
    func: CheckFunc
    area: str
    tags: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    emits: tuple[str, ...] = ()
    timeout_s: float | None = None
    titles: tuple[tuple[str, str], ...] = ()

    def title_of(self, check_id: str) -> str:
        """The title of one emitted id (falls back to the check's own title)."""
        return dict(self.titles).get(check_id, self.title)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every check id this check's findings may carry."""
        return self.emits or (self.check_id,)


_REGISTRY: dict[str, CheckSpec] = {}


def check(
    check_id: str,
    *,
    title: str,
    area: str | None = None,
    tags: Sequence[str] = (),
    needs: Sequence[str] = (),
    emits: Sequence[str] = (),
    timeout: float | None = None,
    titles: Mapping[str, str] | None = None,
) -> Callable[[C], C]:
    """Register a check function under ``check_id`` (``area.name``)."""

    def decorate(func: C) -> C:
        spec = CheckSpec(
            check_id=check_id,
            title=title,
            func=func,
            area=area or check_id.split(".", 1)[0],
            tags=tuple(tags),
            needs=tuple(needs),
            emits=tuple(emits),
            timeout_s=timeout,
            titles=tuple((titles or {}).items()),
        )
        _REGISTRY[check_id] = spec
        return func

    return decorate


def load_area(name: str) -> list[CheckSpec]:
    if name not in AREA_MODULES:
        known = ", ".join(sorted(AREA_MODULES))
        raise ConfigError(f"unknown area '{name}' (known: {known})")
    importlib.import_module(AREA_MODULES[name])
    return [spec for spec in _REGISTRY.values() if spec.area == name]


def all_checks() -> list[CheckSpec]:
    for name in AREA_MODULES:
        load_area(name)
    return sorted(_REGISTRY.values(), key=lambda s: s.check_id)


def _matches(check_id: str, selector: str) -> bool:
    return check_id == selector or check_id.startswith(selector.rstrip(".*") + ".")


def select_checks(
    areas: Iterable[str] | None = None,
    only: Iterable[str] = (),
    skip: Iterable[str] = (),
) -> list[CheckSpec]:
    """The checks of the named areas (all when None), narrowed by --only and --skip.

    ``only`` takes area names or check ids; ``skip`` takes check ids or area names.
    """
    only, skip = list(only), list(skip)
    names = list(areas) if areas is not None else list(AREA_MODULES)
    specs: list[CheckSpec] = []
    for name in names:
        specs.extend(load_area(name))
    known_ids = {i for s in specs for i in s.ids} | {s.area for s in specs}
    for selector in [*only, *skip]:
        if selector not in known_ids and not any(_matches(i, selector) for i in known_ids):
            raise ConfigError(f"unknown check id or area '{selector}'")
    if only:
        specs = [
            s for s in specs
            if s.area in only or any(_matches(i, sel) for i in s.ids for sel in only)
        ]
    # A check is dropped only when every id it emits is skipped; otherwise its findings for
    # skipped ids are filtered out after the run (filter_findings).
    return [
        s for s in specs
        if s.area not in skip and not all(any(_matches(i, sel) for sel in skip) for i in s.ids)
    ]


def filter_findings(
    findings: Iterable[Finding], only: Iterable[str] = (), skip: Iterable[str] = ()
) -> list[Finding]:
    """Drop findings for skipped ids, and for ids outside --only.

    A finding outside --only is kept when it is an `error`: it is the root cause that the
    selected checks skipped on, and dropping it would turn "could not verify" into silence.
    """
    only, skip = list(only), list(skip)
    kept = []
    for f in findings:
        if any(_matches(f.check_id, sel) for sel in skip):
            continue
        selected = not only or any(_matches(f.check_id, sel) or f.area == sel for sel in only)
        if not selected and f.status is not Status.ERROR:
            continue
        kept.append(f)
    return kept


@dataclass
class CheckContext:
    """What a check receives: settings, its time budget and a cache shared by one run."""

    settings: Settings
    timeout_s: float = DEFAULT_TIMEOUT_S
    cache: dict[str, Any] = field(default_factory=dict)

    def secret(self, ref: str) -> str:
        from neruba_harden.secretrefs import resolve_secret

        return resolve_secret(ref, settings=self.settings)


def _error_finding(spec: CheckSpec, summary: str, hint: str = "", **evidence: Any) -> Finding:
    summary = " ".join(redact.scrub(summary).split())
    if len(summary) >= 80:  # summaries stay one short line; the whole message is evidence
        evidence = {**evidence, "cause": summary}
        summary = summary[:78] + "…"
    return Finding(
        spec.check_id, Status.ERROR, summary, redact.scrub_obj(evidence),
        redact.scrub(hint), title=spec.title,
    )


async def _run_one(spec: CheckSpec, ctx: CheckContext, executor: Executor) -> list[Finding]:
    timeout = spec.timeout_s or ctx.timeout_s
    started = time.perf_counter()
    try:
        if inspect.iscoroutinefunction(spec.func):
            result = await asyncio.wait_for(spec.func(ctx), timeout)  # type: ignore[arg-type]
        else:
            loop = asyncio.get_running_loop()
            result = await asyncio.wait_for(loop.run_in_executor(executor, spec.func, ctx), timeout)
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, timeout)
        findings = list(result)  # type: ignore[arg-type]
    except asyncio.TimeoutError:
        findings = [_error_finding(spec, f"timed out after {timeout:g}s",
                                   "raise the timeout or check the target's reachability")]
    except CheckError as exc:
        findings = [_error_finding(spec, exc.message, exc.hint, **exc.evidence)]
    except NerubaError as exc:
        findings = [_error_finding(spec, str(exc))]
    except Exception as exc:  # isolation: one broken check never crashes the run
        findings = [_error_finding(spec, f"check crashed: {type(exc).__name__}: {exc}",
                                   "this is a bug in neruba-harden; please report it")]
    elapsed = time.perf_counter() - started
    if not findings:
        findings = [Finding(spec.check_id, Status.PASS, spec.title)]
    return [
        f.with_(
            duration_s=f.duration_s or elapsed,
            title=f.title or spec.title,
            summary=redact.scrub(f.summary),
            hint=redact.scrub(f.hint),
            evidence=redact.scrub_obj(dict(f.evidence)),
        )
        for f in findings
    ]


async def run_checks_async(
    specs: Sequence[CheckSpec],
    ctx: CheckContext,
    on_finding: Callable[[Finding], None] | None = None,
) -> list[Finding]:
    # Sync checks get a thread each; a thread still stuck after its timeout is abandoned
    # (shutdown without waiting) rather than holding up the report.
    executor = ThreadPoolExecutor(max_workers=max(1, len(specs)), thread_name_prefix="check")

    async def run_and_report(spec: CheckSpec) -> list[Finding]:
        findings = await _run_one(spec, ctx, executor)
        if on_finding is not None:
            for f in findings:
                on_finding(f)
        return findings

    try:
        groups = await asyncio.gather(*(run_and_report(s) for s in specs))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    return [f for group in groups for f in group]


def run_checks(
    specs: Sequence[CheckSpec],
    ctx: CheckContext,
    on_finding: Callable[[Finding], None] | None = None,
) -> list[Finding]:
    """Run the checks concurrently and return every finding, in spec order."""
    return asyncio.run(run_checks_async(specs, ctx, on_finding))
