"""Every format parses (JSON, JUnit XML), validates (SARIF 2.1.0 against the official OASIS
schema) and says the same thing: the same findings, counts, waivers and exit code."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from neruba_harden import __version__
from neruba_harden.findings import Report, Status
from neruba_harden.report import FORMATS, emit, render
from neruba_harden.report.markdown import code, escape
from neruba_harden.report.sarif import rule_name
from tests.report.conftest import SCHEMA_PATH, sample_report


def validate_sarif(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(text)
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return log


def test_the_vendored_schema_is_the_official_one(sarif_schema: dict[str, Any]) -> None:
    assert sarif_schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert sarif_schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    assert len(sarif_schema["definitions"]) == 52
    # Unmodified since vendoring: the digest recorded in SARIF_SCHEMA.md.
    digest = hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest()
    assert digest in SCHEMA_PATH.with_name("SARIF_SCHEMA.md").read_text(encoding="utf-8")


def test_the_schema_catches_a_broken_log(sarif_schema: dict[str, Any]) -> None:
    # Guard against a validator that accepts everything.
    with pytest.raises(AssertionError):
        validate_sarif(json.dumps({"version": "2.1.0", "runs": [{"results": []}]}), sarif_schema)


# -- JSON ----------------------------------------------------------------------------------

def test_json_round_trips(report: Report) -> None:
    data = json.loads(render(report, "json"))
    assert len(data["findings"]) == len(report.findings)
    assert data["counts"] == report.counts()
    assert data["exit_code"] == report.exit_code == 1
    waived = next(f for f in data["findings"] if f["check_id"] == "exposure.docs")
    assert waived["waived"]["until"] == "2027-01-31"
    expired = next(f for f in data["findings"] if f["check_id"] == "config.waiver")
    assert expired["status"] == "fail"


# -- JUnit ---------------------------------------------------------------------------------

def test_junit_is_well_formed_with_the_right_counts(report: Report) -> None:
    root = ET.fromstring(render(report, "junit"))
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests", "")) == len(report.findings)
    effective = [f.effective_status for f in report.findings]
    assert int(suite.get("failures", "")) == effective.count(Status.FAIL) == 4
    assert int(suite.get("errors", "")) == effective.count(Status.ERROR) == 1
    assert int(suite.get("skipped", "")) == effective.count(Status.SKIP) == 1
    assert sum(1 for c in cases if c.find("failure") is not None) == 4
    assert sum(1 for c in cases if c.find("error") is not None) == 1
    names = {c.get("name") for c in cases}
    assert names == {f.check_id for f in report.findings}
    hostile = next(c for c in cases if c.get("name") == "secrets.env-file")
    note = next(p for p in hostile.iter("property") if p.get("name") == "note")
    assert "<script>" in (note.get("value") or "")  # escaped on the way out, intact on the way in


# -- SARIF ---------------------------------------------------------------------------------

def test_sarif_validates_against_the_official_schema(
    report: Report, sarif_schema: dict[str, Any]
) -> None:
    validate_sarif(render(report, "sarif"), sarif_schema)


def test_sarif_content(report: Report, sarif_schema: dict[str, Any]) -> None:
    log = validate_sarif(render(report, "sarif"), sarif_schema)
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "neruba-harden"
    assert driver["version"] == __version__
    rules = driver["rules"]
    assert [r["id"] for r in rules] == sorted({f.check_id for f in report.findings})
    by_rule = {r["id"]: r for r in rules}
    assert by_rule["migrations.current"]["name"] == "MigrationsCurrent"
    assert by_rule["migrations.current"]["shortDescription"]["text"] == (
        "Database is at every Alembic head")
    assert by_rule["migrations.current"]["help"]["text"] == "run `alembic upgrade heads`"

    results = run["results"]
    attention = [f for f in report.sorted() if f.status in (Status.FAIL, Status.WARN, Status.ERROR)]
    assert [r["ruleId"] for r in results] == [f.check_id for f in attention]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    levels = {r["ruleId"]: r["level"] for r in results}
    assert levels["migrations.current"] == "error"
    assert levels["exposure.docs"] == "warning"
    assert levels["clock.drift"] == "note"
    assert "migrations.single-head" not in levels and "migrations.drift" not in levels

    by_id = {r["ruleId"]: r for r in results}
    current = by_id["migrations.current"]
    assert current["message"]["text"] == "2 migrations pending: database behind head"
    assert current["properties"]["pending"] == ["c3", "d4"]
    assert "locations" not in current and "suppressions" not in current

    (suppression,) = by_id["exposure.docs"]["suppressions"]
    assert suppression["kind"] == "external"
    assert suppression["justification"] == "staging docs reviewed with security (SEC-12)"
    assert by_id["exposure.docs"]["properties"]["evidence_tags"] == "not-a-list"
    assert by_id["proxy.forwarded"]["properties"]["tags"] == ["proxy", "forwarded"]
    # An expired waiver suppresses nothing.
    assert "suppressions" not in by_id["transport.hsts"]
    assert by_id["transport.hsts"]["properties"]["waiver_expired_on"] == "2026-01-01"

    (relative,) = by_id["secrets.env-file"]["locations"]
    assert relative["physicalLocation"]["artifactLocation"] == {
        "uri": "deploy/.env", "uriBaseId": "%SRCROOT%"}
    assert relative["physicalLocation"]["region"] == {"startLine": 3}
    (absolute,) = by_id["transport.hsts"]["locations"]
    assert absolute["physicalLocation"]["artifactLocation"]["uri"] == (
        "file:///etc/nginx/sites-enabled/api.conf")
    assert run["invocations"][0]["exitCode"] == 1


@pytest.mark.parametrize(
    ("check_id", "name"),
    [("migrations.single-head", "MigrationsSingleHead"), ("config.waiver", "ConfigWaiver"),
     ("transport.https-redirect", "TransportHttpsRedirect")],
)
def test_rule_names(check_id: str, name: str) -> None:
    assert rule_name(check_id) == name


# -- Markdown ------------------------------------------------------------------------------

def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_opens_with_the_control_evidence_table(report: Report) -> None:
    text = render(report, "markdown")
    lines = text.splitlines()
    assert lines[0] == "# neruba-harden preflight"
    header = lines.index("| check | status | summary | key evidence |")
    assert lines[header - 2] == "## Controls and evidence"
    assert lines.index("## Details") > header
    rows = lines[header + 2: header + 2 + len(report.findings)]
    assert len(rows) == len(report.findings)
    for row in rows:
        assert row.startswith("| `") and row.endswith(" |")
        assert _unescaped_pipes(row) == 5, row  # hostile evidence cannot add a column
    assert "| `exposure.docs` | waived (warn) |" in text
    assert "| `transport.hsts` | **FAIL** |" in text


def test_markdown_details_waivers_and_counts(report: Report) -> None:
    text = render(report, "markdown")
    details = text.split("## Details", 1)[1].split("## Waivers", 1)[0]
    for finding in report.findings:
        heading = f"### `{finding.check_id}`"
        needs_details = finding.status is not Status.PASS and finding.status is not Status.SKIP
        assert (heading in details) == needs_details, finding.check_id
    assert "**Hint:** run \\`alembic upgrade heads\\`" in details
    assert "- location: `deploy/.env:3`" in details
    # Evidence sits in code spans, where Markdown renders HTML as text.
    assert "- note: ``a|b `tick` **bold** <script>" in details
    waivers = text.split("## Waivers", 1)[1]
    assert "| `exposure.docs` | warn | 2027-01-31 | staging docs reviewed with security (SEC-12) |" in waivers
    assert "| `transport.hsts` | **expired** | 2026-01-01 |" in waivers
    assert text.rstrip().splitlines()[-1] == (
        "**9 checks: 1 pass, 2 warn, 4 fail, 1 error, 1 skip, 1 waived (exit 1)**")


def test_markdown_escape_and_code_spans() -> None:
    assert escape("<b>x</b> | *y* [l](u) snake_case _u_ &amp;") == (
        "\\<b>x\\</b> \\| \\*y\\* \\[l\\](u) snake_case \\_u\\_ \\&amp;")
    assert code("a `b` c") == "``a `b` c``"
    assert code("`x`") == "`` `x` ``"
    assert code("a|b", cell=True) == "`a\\|b`"
    assert escape("two\nlines") == "two lines"


def test_markdown_of_a_clean_run() -> None:
    text = render(Report([]), "markdown")
    assert "No waivers applied." in text
    assert "nothing needs attention" in text


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_renders_an_empty_report(fmt: str, sarif_schema: dict[str, Any]) -> None:
    text = render(Report([], title="empty"), fmt)
    assert text.strip()
    if fmt == "sarif":
        log = validate_sarif(text, sarif_schema)
        assert log["runs"][0]["results"] == []


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_emit_writes_the_file(fmt: str, tmp_path: Any) -> None:
    out = tmp_path / f"report.{fmt}"
    emit(sample_report(), fmt, out)
    assert out.read_text(encoding="utf-8").endswith("\n")


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("deploy/app.env", {"artifactLocation": {"uri": "deploy/app.env", "uriBaseId": "%SRCROOT%"}}),
        ("conf/my file.toml:7", {"artifactLocation": {"uri": "conf/my%20file.toml",
                                                      "uriBaseId": "%SRCROOT%"},
                                 "region": {"startLine": 7}}),
        ("/etc/nginx/nginx.conf", {"artifactLocation": {"uri": "file:///etc/nginx/nginx.conf"}}),
        ("C:\\deploy\\app.env", {"artifactLocation": {"uri": "file:///C:/deploy/app.env"}}),
        ("https://api.example:8443/docs", {"artifactLocation": {"uri": "https://api.example:8443/docs"}}),
    ],
)
def test_sarif_locations(location: str, expected: dict[str, Any], sarif_schema: dict[str, Any]) -> None:
    from neruba_harden.findings import Finding

    report = Report([Finding("a.b", Status.FAIL, "x", location=location)])
    log = validate_sarif(render(report, "sarif"), sarif_schema)
    (result,) = log["runs"][0]["results"]
    assert result["locations"] == [{"physicalLocation": expected}]


def test_sarif_results_without_a_file_point_at_the_configuration(
    sarif_schema: dict[str, Any],
) -> None:
    from neruba_harden.findings import Finding

    report = Report(
        [Finding("exposure.docs", Status.FAIL, "docs open in production"),
         Finding("secrets.env-files", Status.FAIL, "tracked .env", location="deploy/.env")],
        meta={"config": "/srv/app/neruba-harden.toml"},
    )
    log = validate_sarif(render(report, "sarif"), sarif_schema)
    uris = {r["ruleId"]: r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in log["runs"][0]["results"]}
    assert uris == {"exposure.docs": "file:///srv/app/neruba-harden.toml",
                    "secrets.env-files": "deploy/.env"}
