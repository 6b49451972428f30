"""Renderers: one module per output format behind one `render` function.

Every renderer's output passes through :func:`neruba_harden.redact.scrub` in :func:`emit`,
the one place where reports leave the process.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from neruba_harden import redact
from neruba_harden.errors import ConfigError
from neruba_harden.findings import Report

FORMATS: dict[str, str] = {
    "text": "neruba_harden.report.text",
    "json": "neruba_harden.report.json_report",
    "junit": "neruba_harden.report.junit",
    "sarif": "neruba_harden.report.sarif",
    "markdown": "neruba_harden.report.markdown",
}


def scrub_report(report: Report) -> Report:
    """A copy of ``report`` with every registered secret masked in every text field.

    Scrubbing happens before rendering as well as after: a format's own escaping (JSON's
    ``\\u`` escapes, XML entities) would otherwise hide a secret from the final scrub.
    """
    findings = [
        f.with_(
            summary=redact.scrub(f.summary),
            hint=redact.scrub(f.hint),
            title=redact.scrub(f.title),
            location=redact.scrub(f.location) if f.location else f.location,
            evidence=redact.scrub_obj(dict(f.evidence)),
            waiver=(
                replace(f.waiver, reason=redact.scrub(f.waiver.reason)) if f.waiver else None
            ),
        )
        for f in report.findings
    ]
    return replace(
        report,
        findings=findings,
        title=redact.scrub(report.title),
        meta=redact.scrub_obj(report.meta),
    )


def render(report: Report, fmt: str, *, color: bool = False) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    report = scrub_report(report)
    module = importlib.import_module(FORMATS[fmt])
    if fmt == "text":
        text: str = module.render(report, color=color)
    else:
        text = module.render(report)
    return redact.scrub(text)


def emit(report: Report, fmt: str, output: str | Path | None = None,
         stream: TextIO | None = None) -> None:
    """Write the rendered report to ``output`` or stdout."""
    if output:
        text = render(report, fmt)
        try:
            Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{output}: cannot write report ({exc.strerror or exc})") from None
        return
    stream = stream or sys.stdout
    color = fmt == "text" and hasattr(stream, "isatty") and stream.isatty()
    text = render(report, fmt, color=color)
    stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()
