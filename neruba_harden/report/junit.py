"""The JUnit XML report: one testcase per finding, evidence as properties."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from neruba_harden.findings import Finding, Report, Status
from neruba_harden.report.text import format_evidence


def _details(finding: Finding) -> str:
    lines = format_evidence(dict(finding.evidence))
    if finding.hint:
        lines.append(f"hint: {finding.hint}")
    return "\n".join(lines)


def render(report: Report) -> str:
    counts = report.counts()
    suites = ET.Element("testsuites", name=report.title)
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=report.title,
        tests=str(len(report.findings)),
        failures=str(sum(1 for f in report.findings if f.effective_status is Status.FAIL)),
        errors=str(sum(1 for f in report.findings if f.effective_status is Status.ERROR)),
        skipped=str(counts["skip"]),
        time=f"{sum(f.duration_s for f in report.findings):.3f}",
    )
    for finding in report.findings:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"neruba_harden.{finding.area}",
            name=finding.check_id,
            time=f"{finding.duration_s:.3f}",
        )
        props = ET.SubElement(case, "properties")
        ET.SubElement(props, "property", name="status", value=finding.status.value)
        for key, value in finding.evidence.items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            ET.SubElement(props, "property", name=str(key), value=text)
        if finding.waived and finding.waiver is not None:
            ET.SubElement(props, "property", name="waiver", value=finding.waiver.reason)
        status = finding.effective_status
        if status is Status.FAIL:
            ET.SubElement(case, "failure", message=finding.summary, type="fail").text = _details(finding)
        elif status is Status.ERROR:
            ET.SubElement(case, "error", message=finding.summary, type="error").text = _details(finding)
        elif status is Status.SKIP:
            ET.SubElement(case, "skipped", message=finding.summary)
        else:
            out = finding.summary if status is Status.PASS else f"warning: {finding.summary}"
            ET.SubElement(case, "system-out").text = "\n".join(filter(None, [out, _details(finding)]))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
