"""A report with every status, a waiver, an expired waiver, a file location and evidence
that tries to break each format (markup, pipes, quotes, XML, newlines, non-ASCII)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from neruba_harden.findings import Finding, Report, Status, Waiver, apply_waivers

SCHEMA_PATH = Path(__file__).with_name("sarif-schema-2.1.0.json")
HOSTILE = 'a|b `tick` **bold** <script>alert("x")</script> & ]]> [link](http://x) _u_ ~~s~~\nnext'


def sample_findings() -> list[Finding]:
    return [
        Finding("migrations.current", Status.FAIL, "2 migrations pending: database behind head",
                {"database": "postgresql+psycopg://app@db/x", "pending": ["c3", "d4"]},
                "run `alembic upgrade heads`", 0.2, "Database is at every Alembic head"),
        Finding("migrations.single-head", Status.PASS, "one head: d4", {"heads": ["d4"]},
                duration_s=0.1, title="Alembic script directory has a single head"),
        Finding("migrations.drift", Status.SKIP, "not configured: set migrations.target_metadata",
                title="Database schema matches the models"),
        Finding("exposure.docs", Status.WARN, "/docs is public in staging",
                {"url": "https://staging.example/docs", "status": 200, "tags": "not-a-list"},
                "disable the docs route outside development", 0.05, "Docs surface"),
        Finding("secrets.env-file", Status.FAIL, "webhook secret read from an env file",
                {"file": ".env", "note": HOSTILE}, "move it to Vault", 0.01, "Secret sources",
                location="deploy/.env:3"),
        Finding("clock.drift", Status.ERROR, "no NTP server answered", {"servers": ["a", "b"]},
                "open UDP 123", 2.0, "Clock drift"),
        Finding("transport.hsts", Status.FAIL, "HSTS header missing", {"header": None},
                "send Strict-Transport-Security", 0.3, "HSTS",
                location="/etc/nginx/sites-enabled/api.conf"),
        Finding("proxy.forwarded", Status.WARN, "X-Forwarded-For trusted from anywhere",
                {"tags": ["proxy", "forwarded"]}, "", 0.1, "Forwarded headers"),
    ]


def sample_report(today: str = "2026-06-01") -> Report:
    waivers = [
        Waiver("exposure.docs", "staging docs reviewed with security (SEC-12)", "2027-01-31"),
        Waiver("transport.hsts", "CDN adds HSTS; ticket OPS-9", "2026-01-01"),  # expired
    ]
    findings = apply_waivers(sample_findings(), waivers, today)
    return Report(findings, title="neruba-harden preflight", meta={"environment": "staging"})


@pytest.fixture
def report() -> Report:
    return sample_report()


@pytest.fixture(scope="session")
def sarif_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema
