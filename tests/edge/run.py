"""Run one area's checks in-process against a target and index the findings by check id."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neruba_harden.config import load_settings
from neruba_harden.findings import Finding
from neruba_harden.registry import CheckContext, run_checks, select_checks


def run_area(
    area: str, overrides: Mapping[str, Any], *, env: str | None = None, timeout: float = 10.0,
    only: tuple[str, ...] = (),
) -> dict[str, Finding]:
    """Findings by check id; no configuration file or environment variable is read."""
    with tempfile.TemporaryDirectory() as empty:
        settings = load_settings(None, env, dict(overrides), environ={}, cwd=Path(empty))
    specs = select_checks([area], only=only)
    findings = run_checks(specs, CheckContext(settings=settings, timeout_s=timeout))
    by_id: dict[str, Finding] = {}
    for finding in findings:
        assert finding.check_id not in by_id, f"two findings for {finding.check_id}"
        assert len(finding.summary) < 80, finding.summary
        assert "\n" not in finding.summary
        by_id[finding.check_id] = finding
    return by_id


def status_of(findings: Mapping[str, Finding]) -> dict[str, str]:
    return {check_id: f.status.value for check_id, f in findings.items()}
