"""The runner: concurrency, timeouts and isolation of broken checks."""

from __future__ import annotations

import asyncio
import time

from neruba_harden.config import Settings
from neruba_harden.errors import CheckError
from neruba_harden.findings import Finding, Status, passed
from neruba_harden.registry import CheckContext, CheckSpec, run_checks


def spec(check_id: str, func: object, timeout: float | None = None) -> CheckSpec:
    return CheckSpec(check_id, check_id, func, "t", timeout_s=timeout)  # type: ignore[arg-type]


def test_sync_and_async_checks_run_concurrently() -> None:
    def slow_sync(ctx: CheckContext) -> list[Finding]:
        time.sleep(0.3)
        return [passed("t.sync", "ok")]

    async def slow_async(ctx: CheckContext) -> list[Finding]:
        await asyncio.sleep(0.3)
        return [passed("t.async", "ok")]

    started = time.perf_counter()
    findings = run_checks(
        [spec("t.sync", slow_sync), spec("t.sync2", slow_sync), spec("t.async", slow_async)],
        CheckContext(Settings()),
    )
    assert time.perf_counter() - started < 0.8
    assert [f.status for f in findings] == [Status.PASS] * 3


def test_a_crashing_check_is_an_error_finding_not_a_crash() -> None:
    def broken(ctx: CheckContext) -> list[Finding]:
        raise RuntimeError("kaboom")

    (finding,) = run_checks([spec("t.broken", broken)], CheckContext(Settings()))
    assert finding.status is Status.ERROR
    assert "kaboom" in finding.summary


def test_expected_faults_carry_their_hint() -> None:
    def unreachable(ctx: CheckContext) -> list[Finding]:
        raise CheckError("connection refused by http://127.0.0.1:1", "start the service")

    (finding,) = run_checks([spec("t.net", unreachable)], CheckContext(Settings()))
    assert finding.status is Status.ERROR
    assert finding.hint == "start the service"


def test_each_check_has_its_own_timeout() -> None:
    async def hangs(ctx: CheckContext) -> list[Finding]:
        await asyncio.sleep(10)
        return []

    def hangs_sync(ctx: CheckContext) -> list[Finding]:
        time.sleep(2)
        return []

    started = time.perf_counter()
    findings = run_checks(
        [spec("t.hang", hangs, timeout=0.2), spec("t.hang2", hangs_sync, timeout=0.2)],
        CheckContext(Settings()),
    )
    assert time.perf_counter() - started < 1.5
    assert all(f.status is Status.ERROR and "timed out" in f.summary for f in findings)
