"""Findings keyed by check id, with the rules every finding keeps (one line, < 80 chars)."""

from __future__ import annotations

from collections.abc import Iterable

from neruba_harden.findings import Finding


def by_check_id(findings: Iterable[Finding]) -> dict[str, Finding]:
    """One finding per check id; each summary one line under 80 characters."""
    by_id: dict[str, Finding] = {}
    for finding in findings:
        assert finding.check_id not in by_id, f"two findings for {finding.check_id}"
        assert len(finding.summary) < 80, finding.summary
        assert "\n" not in finding.summary
        by_id[finding.check_id] = finding
    return by_id
