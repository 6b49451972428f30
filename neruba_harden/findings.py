"""The one result model every area returns: Finding, Status, Report and exit codes."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNVERIFIED = 3


class Status(str, enum.Enum):
    """How a check came out."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"  # could not verify: unreachable, misconfigured, timeout
    SKIP = "skip"  # not configured here, with the reason

    def __str__(self) -> str:
        return self.value


# Order used to sort and to pick the worst status of a group.
SEVERITY: dict[Status, int] = {
    Status.FAIL: 4,
    Status.ERROR: 3,
    Status.WARN: 2,
    Status.PASS: 1,
    Status.SKIP: 0,
}


@dataclass(frozen=True)
class Waiver:
    """A configured exception for one check id, with a reason and an expiry date."""

    check_id: str
    reason: str
    until: str  # ISO date


@dataclass(frozen=True)
class Finding:
    """One check's result: a status, a one-line summary, structured evidence and a hint.

    ``summary`` is one line under 80 characters. ``evidence`` is JSON-compatible data that
    every renderer shows. ``location`` names a file when the finding is about one (SARIF).
    """

    check_id: str
    status: Status
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    hint: str = ""
    duration_s: float = 0.0
    title: str = ""
    location: str | None = None
    waiver: Waiver | None = None

    @property
    def area(self) -> str:
        return self.check_id.split(".", 1)[0]

    @property
    def waived(self) -> bool:
        return self.waiver is not None

    @property
    def effective_status(self) -> Status:
        """The status that counts towards the exit code (a waived finding counts as pass)."""
        if self.waiver is not None and self.status in (Status.FAIL, Status.WARN, Status.ERROR):
            return Status.PASS
        return self.status

    def with_(self, **changes: Any) -> Finding:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "check_id": self.check_id,
            "status": self.status.value,
            "summary": self.summary,
            "hint": self.hint,
            "evidence": dict(self.evidence),
            "duration_s": round(self.duration_s, 4),
        }
        if self.title:
            data["title"] = self.title
        if self.location:
            data["location"] = self.location
        if self.waiver is not None:
            data["waived"] = {"reason": self.waiver.reason, "until": self.waiver.until}
        return data


def passed(check_id: str, summary: str, **evidence: Any) -> Finding:
    return Finding(check_id, Status.PASS, summary, evidence)


def failed(check_id: str, summary: str, hint: str = "", **evidence: Any) -> Finding:
    return Finding(check_id, Status.FAIL, summary, evidence, hint)


def warned(check_id: str, summary: str, hint: str = "", **evidence: Any) -> Finding:
    return Finding(check_id, Status.WARN, summary, evidence, hint)


def errored(check_id: str, summary: str, hint: str = "", **evidence: Any) -> Finding:
    return Finding(check_id, Status.ERROR, summary, evidence, hint)


def skipped(check_id: str, reason: str, **evidence: Any) -> Finding:
    return Finding(check_id, Status.SKIP, reason, evidence)


@dataclass
class Report:
    """The findings of one run, in a stable order, with counts and the exit code."""

    findings: list[Finding]
    title: str = "neruba-harden"
    strict: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        counts["waived"] = 0
        for f in self.findings:
            counts[f.status.value] += 1
            if f.waived:
                counts["waived"] += 1
        return counts

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.findings, strict=self.strict)

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: f.check_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "findings": [f.to_dict() for f in self.findings],
            "counts": self.counts(),
            "exit_code": self.exit_code,
            **({"meta": self.meta} if self.meta else {}),
        }


def exit_code_for(findings: Iterable[Finding], *, strict: bool = False) -> int:
    """0 nothing failed; 1 a fail (or a warn under --strict); 3 an error and no fail."""
    statuses = {f.effective_status for f in findings}
    if Status.FAIL in statuses or (strict and Status.WARN in statuses):
        return EXIT_FAILED
    if Status.ERROR in statuses:
        return EXIT_UNVERIFIED
    return EXIT_OK


def worst(statuses: Iterable[Status]) -> Status:
    return max(statuses, key=lambda s: SEVERITY[s], default=Status.SKIP)


def apply_waivers(
    findings: Iterable[Finding], waivers: Iterable[Waiver], today: str
) -> list[Finding]:
    """Mark findings covered by a live waiver; an expired waiver is a failure of its own.

    ``today`` is an ISO date. A waiver covers a check id exactly, or every id of an area
    when written as ``area.*``.
    """

    def matching(check_id: str, waiver: Waiver) -> bool:
        if waiver.check_id.endswith(".*"):
            return check_id.startswith(waiver.check_id[:-1])
        return check_id == waiver.check_id

    waivers = list(waivers)
    result: list[Finding] = []
    for finding in findings:
        waiver = next((w for w in waivers if matching(finding.check_id, w)), None)
        if waiver is None or finding.status in (Status.PASS, Status.SKIP):
            result.append(finding)
        elif waiver.until >= today:
            result.append(finding.with_(waiver=waiver))
        else:
            result.append(
                finding.with_(evidence={**finding.evidence, "waiver_expired_on": waiver.until})
            )
    for waiver in waivers:
        if waiver.until < today:
            result.append(
                Finding(
                    "config.waiver",
                    Status.FAIL,
                    f"waiver for {waiver.check_id} expired on {waiver.until}",
                    {"check_id": waiver.check_id, "until": waiver.until, "reason": waiver.reason},
                    "fix the finding, or renew the waiver with a new reason and date",
                )
            )
    return result
