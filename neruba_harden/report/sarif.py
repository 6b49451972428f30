"""The SARIF 2.1.0 report, for code scanning: one run, one rule per check id.

Only findings that need attention become results: `fail` (level error), `warn` (warning)
and `error`, a control that could not be verified (note). A waived finding keeps its
result with an external suppression carrying the waiver's reason, so code scanning shows
it as dismissed rather than hiding it. Evidence goes into each result's property bag.
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from neruba_harden import __version__, redact
from neruba_harden.findings import Finding, Report, Status

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "neruba-harden"
LEVELS = {Status.FAIL: "error", Status.WARN: "warning", Status.ERROR: "note"}
_LINE_SUFFIX = re.compile(r"^(?P<path>.+?):(?P<line>[1-9][0-9]*)$")


def rule_name(check_id: str) -> str:
    """`migrations.single-head` -> `MigrationsSingleHead` (SARIF rule names are words)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", check_id))


def _rules(findings: list[Finding]) -> list[dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for finding in findings:
        rule = by_id.setdefault(finding.check_id, {
            "id": finding.check_id,
            "name": rule_name(finding.check_id),
            "shortDescription": {"text": finding.title or finding.check_id},
            "properties": {"area": finding.area},
        })
        if finding.hint and "help" not in rule:
            rule["help"] = {"text": finding.hint}
    return [by_id[key] for key in sorted(by_id)]


def _artifact_location(location: str) -> dict[str, Any]:
    """A finding's file as an artifactLocation (plus a region when it ends in :LINE)."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*://", location):  # already a URI (with a port?)
        return {"physicalLocation": {"artifactLocation": {"uri": location}}}
    region: dict[str, Any] | None = None
    match = _LINE_SUFFIX.match(location)
    if match:
        location, region = match.group("path"), {"startLine": int(match.group("line"))}
    windows = PureWindowsPath(location)
    artifact: dict[str, Any]
    if windows.drive and windows.is_absolute():
        artifact = {"uri": "file:///" + quote(windows.as_posix(), safe="/:")}
    elif location.startswith("/"):
        artifact = {"uri": "file://" + quote(location, safe="/")}
    else:
        relative = PurePosixPath(location.replace("\\", "/")).as_posix()
        artifact = {"uri": quote(relative, safe="/"), "uriBaseId": "%SRCROOT%"}
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if region is not None:
        physical["region"] = region
    return {"physicalLocation": physical}


def _properties(finding: Finding) -> dict[str, Any]:
    properties = dict(finding.evidence)
    # `tags` is the one reserved key of a SARIF property bag: a list of unique strings.
    tags = properties.get("tags")
    if tags is not None and not (
        isinstance(tags, list) and all(isinstance(t, str) for t in tags)
        and len(set(tags)) == len(tags)
    ):
        properties["evidence_tags"] = properties.pop("tags")
    return properties


def _result(finding: Finding, rule_index: int, fallback_location: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.check_id,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.status],
        "message": {"text": finding.summary},
        "properties": _properties(finding),
    }
    # Code scanning wants a location on every result: a finding about no particular file
    # points at the configuration that enabled its check.
    location = finding.location or fallback_location
    if location:
        result["locations"] = [_artifact_location(location)]
    if finding.waiver is not None:
        result["suppressions"] = [{
            "kind": "external",
            "status": "accepted",
            "justification": finding.waiver.reason,
            "properties": {"until": finding.waiver.until},
        }]
    return result


def to_sarif(report: Report) -> dict[str, Any]:
    """The SARIF log as a JSON-compatible dict."""
    findings = report.sorted()
    rules = _rules(findings)
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    config = report.meta.get("config")
    fallback = config if isinstance(config, str) and config else None
    results = [
        _result(f, index[f.check_id], fallback) for f in findings if f.status in LEVELS
    ]
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": TOOL_NAME,
            "version": __version__,
            "semanticVersion": __version__,
            "rules": rules,
        }},
        "invocations": [{"executionSuccessful": True, "exitCode": report.exit_code}],
        "results": results,
        "properties": {"title": report.title, "counts": report.counts(), **(
            {"meta": report.meta} if report.meta else {})},
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(report: Report) -> str:
    # Scrub before serialising too: a secret JSON-escaped differently (quotes, non-ASCII)
    # would slip past the scrub that report.render applies to the finished text.
    return json.dumps(redact.scrub_obj(to_sarif(report)), indent=2, default=str) + "\n"
