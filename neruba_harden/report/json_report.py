"""The JSON report: `{"findings": [...], "counts": {...}, "exit_code": N}`."""

from __future__ import annotations

import json

from neruba_harden.findings import Report


def render(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, default=str) + "\n"
