"""Run one area's checks in-process against a target and index the findings by check id."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neruba_harden.config import load_settings
from neruba_harden.findings import Finding
from neruba_harden.registry import CheckContext, run_checks, select_checks
from tests.support.findings import by_check_id


def run_area(
    area: str, overrides: Mapping[str, Any], *, env: str | None = None, timeout: float = 10.0,
    only: tuple[str, ...] = (),
) -> dict[str, Finding]:
    """Findings by check id; no configuration file or environment variable is read."""
    with tempfile.TemporaryDirectory() as empty:
        settings = load_settings(None, env, dict(overrides), environ={}, cwd=Path(empty))
    specs = select_checks([area], only=only)
    findings = run_checks(specs, CheckContext(settings=settings, timeout_s=timeout))
    return by_check_id(findings)


def status_of(findings: Mapping[str, Finding]) -> dict[str, str]:
    return {check_id: f.status.value for check_id, f in findings.items()}
