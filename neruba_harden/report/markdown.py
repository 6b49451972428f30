"""The Markdown report, for the security handoff: the control-evidence table first.

Layout: a table with one row per finding (check id | status | summary | key evidence),
then the details of every finding that is not a plain pass (all its evidence and the
hint), the waivers in force or expired, and the counts line with the exit code.
Every piece of text from a finding is escaped, so evidence copied from a remote server
cannot break the table or inject markup.
"""

from __future__ import annotations

import json
import re
from typing import Any

from neruba_harden import redact
from neruba_harden.findings import Finding, Report, Status
from neruba_harden.report.text import summary_line

KEY_EVIDENCE_ITEMS = 3
KEY_EVIDENCE_CHARS = 60
DETAIL_CHARS = 500
_LABELS = {
    Status.PASS: "pass",
    Status.WARN: "**WARN**",
    Status.FAIL: "**FAIL**",
    Status.ERROR: "**ERROR**",
    Status.SKIP: "skip",
}
# CommonMark lets any ASCII punctuation be backslash-escaped. Escaped here: what can open
# markup in the middle of a line (emphasis, code, links, HTML, entities, strikethrough) or
# end a table cell. Text never starts a line (it always follows a fixed prefix), so
# line-start markup (#, -, >, 1.) needs no escaping. An underscore inside a word is
# literal already (`duration_s`).
_SPECIAL = re.compile(
    r"([\\`*\[\]<|~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|&(?=#?[A-Za-z0-9]+;)"
)


def _escape_match(match: re.Match[str]) -> str:
    return "\\" + match.group(0)


def escape(text: str) -> str:
    """Plain text for a Markdown line or table cell: one line, markup characters escaped."""
    return _SPECIAL.sub(_escape_match, " ".join(redact.scrub(text).split()))


def code(text: str, *, cell: bool = False) -> str:
    """An inline code span that survives backticks (and, in a table cell, pipes)."""
    text = " ".join(redact.scrub(text).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") or not text else text
    span = f"{fence}{padded}{fence}"
    # GFM splits table cells on | even inside code spans; \| there renders as |.
    return span.replace("|", "\\|") if cell else span


def _value(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status(finding: Finding) -> str:
    if finding.waived:
        return f"waived ({finding.status.value})"
    return _LABELS[finding.status]


def _key_evidence(finding: Finding) -> str:
    items = list(finding.evidence.items())[:KEY_EVIDENCE_ITEMS]
    parts = [f"{escape(str(key))}: {code(_value(value, KEY_EVIDENCE_CHARS), cell=True)}"
             for key, value in items]
    more = len(finding.evidence) - len(items)
    if more > 0:
        parts.append(f"+{more} more")
    return "; ".join(parts)


def _table(findings: list[Finding]) -> list[str]:
    lines = ["| check | status | summary | key evidence |", "| --- | --- | --- | --- |"]
    for finding in findings:
        lines.append(
            f"| {code(finding.check_id, cell=True)} | {_status(finding)} | {escape(finding.summary)} "
            f"| {_key_evidence(finding)} |"
        )
    return lines


def _details(finding: Finding) -> list[str]:
    title = f" ({escape(finding.title)})" if finding.title else ""
    lines = [f"### {code(finding.check_id)}: {_status(finding)}{title}", ""]
    lines.append(f"- summary: {escape(finding.summary)}")
    if finding.location:
        lines.append(f"- location: {code(finding.location)}")
    for key, value in finding.evidence.items():
        lines.append(f"- {escape(str(key))}: {code(_value(value, DETAIL_CHARS))}")
    if finding.waiver is not None:
        lines.append(f"- waived until {escape(finding.waiver.until)}: "
                     f"{escape(finding.waiver.reason)}")
    if finding.hint:
        if lines[-1]:
            lines.append("")
        lines.append(f"**Hint:** {escape(finding.hint)}")
    lines.append("")
    return lines


def _waivers(findings: list[Finding]) -> list[str]:
    lines = ["## Waivers", ""]
    waived = [f for f in findings if f.waiver is not None]
    expired = [f for f in findings if f.check_id == "config.waiver"]
    if not waived and not expired:
        return [*lines, "No waivers applied.", ""]
    lines += ["| check | finding | until | reason |", "| --- | --- | --- | --- |"]
    for f in waived:
        assert f.waiver is not None
        lines.append(f"| {code(f.check_id, cell=True)} | {f.status.value} | {escape(f.waiver.until)} "
                     f"| {escape(f.waiver.reason)} |")
    for f in expired:
        check_id = str(f.evidence.get("check_id", "?"))
        lines.append(f"| {code(check_id, cell=True)} | **expired** | {escape(str(f.evidence.get('until')))} "
                     f"| {escape(str(f.evidence.get('reason', '')))} |")
    lines.append("")
    return lines


def render(report: Report) -> str:
    findings = report.findings
    lines = [f"# {escape(report.title)}", ""]
    for key, value in report.meta.items():
        lines.append(f"- {escape(str(key))}: {code(_value(value, DETAIL_CHARS))}")
    if report.meta:
        lines.append("")
    lines += ["## Controls and evidence", "", *_table(findings), ""]
    # A skip's reason is its summary, already in the table; its details add nothing unless
    # it carries evidence.
    attention = [
        f for f in findings
        if (f.status is not Status.PASS or f.waived)
        and (f.status is not Status.SKIP or f.evidence or f.hint)
    ]
    lines += ["## Details", ""]
    if attention:
        for finding in attention:
            lines += _details(finding)
    else:
        lines += ["Every check passed or was skipped; nothing needs attention.", ""]
    lines += _waivers(findings)
    lines.append(f"**{escape(summary_line(report))}**")
    return "\n".join(lines) + "\n"
