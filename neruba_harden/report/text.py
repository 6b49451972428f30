"""The text report, for people: one line per finding, evidence and hint beneath."""

from __future__ import annotations

import json
from typing import Any

from neruba_harden.findings import Finding, Report, Status

_COLORS = {
    Status.PASS: "\033[32m",
    Status.WARN: "\033[33m",
    Status.FAIL: "\033[31;1m",
    Status.ERROR: "\033[35;1m",
    Status.SKIP: "\033[2m",
}
_RESET = "\033[0m"
_LABELS = {
    Status.PASS: "pass",
    Status.WARN: "WARN",
    Status.FAIL: "FAIL",
    Status.ERROR: "ERROR",
    Status.SKIP: "skip",
}
_MAX_VALUE = 120


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def format_evidence(evidence: dict[str, Any]) -> list[str]:
    return [f"{key}: {_value(value)}" for key, value in evidence.items()]


def _label(finding: Finding, color: bool) -> str:
    label = "waived" if finding.waived else _LABELS[finding.status]
    padded = f"{label:<6}"
    if color:
        return f"{_COLORS[finding.status]}{padded}{_RESET}"
    return padded


def render_finding(finding: Finding, *, color: bool = False, width: int = 24) -> list[str]:
    lines = [f"  {_label(finding, color)} {finding.check_id:<{width}}  {finding.summary}"]
    indent = " " * (11 + width)
    if finding.waived and finding.waiver is not None:
        lines.append(
            f"{indent}waived ({finding.status.value}) until {finding.waiver.until}: "
            f"{finding.waiver.reason}"
        )
    if finding.status is not Status.PASS or finding.waived:
        for item in format_evidence(dict(finding.evidence)):
            lines.append(f"{indent}{item}")
        if finding.hint:
            lines.append(f"{indent}hint: {finding.hint}")
    return lines


def summary_line(report: Report) -> str:
    counts = report.counts()
    parts = [f"{counts[s.value]} {s.value}" for s in Status if counts[s.value]]
    if counts["waived"]:
        parts.append(f"{counts['waived']} waived")
    total = len(report.findings)
    noun = "check" if total == 1 else "checks"
    return f"{total} {noun}: {', '.join(parts) or 'none'} (exit {report.exit_code})"


def render(report: Report, *, color: bool = False) -> str:
    findings = report.findings
    width = max((len(f.check_id) for f in findings), default=10)
    lines = [report.title]
    for key, value in report.meta.items():
        lines.append(f"  {key}: {_value(value)}")
    lines.append("")
    for finding in findings:
        lines.extend(render_finding(finding, color=color, width=width))
    lines.append("")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
