"""`neruba-harden preflight`: selection, exit codes, waivers, formats, area isolation."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from neruba_harden import registry
from neruba_harden.commands.preflight import run_preflight
from neruba_harden.config import load_settings
from neruba_harden.findings import Status
from tests.preflight.conftest import Project, days_from_today, run_cli


def test_pending_migration_fails_the_preflight(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "preflight", "--config", str(project.config),
                           "--only", "migrations")
    assert code == 1
    assert "FAIL   migrations.current" in out
    assert "(exit 1)" in out.splitlines()[-1]


def test_database_at_head_passes(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.scripts.upgrade(project.db_url)
    code, out, _ = run_cli(capsys, "preflight", "--config", str(project.config),
                           "--only", "migrations", "--format", "json")
    assert code == 0
    data = json.loads(out)
    statuses = {f["check_id"]: f["status"] for f in data["findings"]}
    assert statuses == {"migrations.current": "pass", "migrations.single-head": "pass",
                        "migrations.drift": "skip"}
    assert data["meta"]["config"] == str(project.config)


def test_skip_drops_a_check_id(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "preflight", "--config", str(project.config),
                           "--only", "migrations", "--skip", "migrations.current",
                           "--format", "json")
    ids = {f["check_id"] for f in json.loads(out)["findings"]}
    assert ids == {"migrations.single-head", "migrations.drift"}
    assert code == 0


def test_unknown_selector_is_a_usage_error(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "preflight", "--config", str(project.config),
                             "--only", "no-such-area")
    assert code == 2
    assert out == ""
    assert err.strip() == "neruba-harden: error: unknown check id or area 'no-such-area'"


def test_strict_turns_warnings_into_failure(project: Project) -> None:
    project.scripts.upgrade(project.db_url)
    settings = load_settings(project.config)
    report = run_preflight(settings, only=["migrations"], strict=True)
    assert report.exit_code == 0  # no warnings here: strict changes nothing


@pytest.mark.parametrize("fmt", ["junit", "sarif", "markdown"])
def test_every_format(project: Project, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out, _ = run_cli(capsys, "preflight", "--config", str(project.config),
                           "--only", "migrations", "--format", fmt)
    assert code == 1
    if fmt == "junit":
        suite = ET.fromstring(out).find("testsuite")
        assert suite is not None and suite.get("failures") == "1"
    elif fmt == "sarif":
        (result,) = json.loads(out)["runs"][0]["results"]
        assert result["ruleId"] == "migrations.current"
    else:
        assert "| `migrations.current` | **FAIL** |" in out


def test_output_file(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = project.root / "preflight.json"
    code, out, _ = run_cli(capsys, "preflight", "--config", str(project.config),
                           "--only", "migrations", "--format", "json", "--output", str(out_file))
    assert code == 1 and out == ""
    assert json.loads(out_file.read_text())["exit_code"] == 1


# -- waivers ---------------------------------------------------------------------------------

def waiver(check_id: str, until: str) -> str:
    return (f'\n[waive]\n"{check_id}" = {{reason = "schema change ships with release 42", '
            f"until = {until}}}\n")


def test_waived_finding_is_shown_as_waived_and_passes(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write_config(waiver("migrations.current", days_from_today(30)))
    code, out, _ = run_cli(capsys, "preflight", "--only", "migrations")  # config found in cwd
    assert code == 0
    assert "waived migrations.current" in out
    assert "schema change ships with release 42" in out
    assert "1 waived (exit 0)" in out

    code, out, _ = run_cli(capsys, "preflight", "--only", "migrations", "--format", "json")
    assert code == 0
    data = json.loads(out)
    current = next(f for f in data["findings"] if f["check_id"] == "migrations.current")
    assert current["status"] == "fail"
    assert current["waived"] == {"reason": "schema change ships with release 42",
                                 "until": days_from_today(30)}
    assert data["counts"]["waived"] == 1
    assert data["exit_code"] == 0


def test_expired_waiver_fails(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    expired = days_from_today(-1)
    project.write_config(waiver("migrations.current", expired))
    code, out, _ = run_cli(capsys, "preflight", "--only", "migrations")
    assert code == 1
    assert "FAIL   migrations.current" in out
    assert f"waiver for migrations.current expired on {expired}" in out

    code, out, _ = run_cli(capsys, "preflight", "--only", "migrations", "--format", "json")
    assert code == 1
    data = json.loads(out)
    by_id = {f["check_id"]: f for f in data["findings"]}
    assert "waived" not in by_id["migrations.current"]
    assert by_id["migrations.current"]["evidence"]["waiver_expired_on"] == expired
    assert by_id["config.waiver"]["status"] == "fail"


def test_expired_waiver_fails_even_when_the_check_passes(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.scripts.upgrade(project.db_url)
    project.write_config(waiver("migrations.current", days_from_today(-10)))
    code, _, _ = run_cli(capsys, "preflight", "--only", "migrations")
    assert code == 1


# -- isolation ---------------------------------------------------------------------------------

def test_an_area_that_cannot_load_is_one_error_and_the_rest_still_runs(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "AREA_MODULES", {
        "migrations": registry.AREA_MODULES["migrations"],
        "broken": "neruba_harden.checks.no_such_area",
    })
    code, out, _ = run_cli(capsys, "preflight", "--format", "json")
    data = json.loads(out)
    by_id = {f["check_id"]: f for f in data["findings"]}
    assert by_id["broken.load"]["status"] == "error"
    assert "No module named" in by_id["broken.load"]["evidence"]["error"]
    assert by_id["migrations.current"]["status"] == "fail"
    assert code == 1
    # Selecting only the healthy area leaves the broken one out; selecting it keeps its error.
    code, out, _ = run_cli(capsys, "preflight", "--only", "migrations", "--format", "json")
    assert "broken.load" not in {f["check_id"] for f in json.loads(out)["findings"]}
    code, out, _ = run_cli(capsys, "preflight", "--only", "broken", "--format", "json")
    assert [f["check_id"] for f in json.loads(out)["findings"]] == ["broken.load"]
    assert code == 3


def test_checks_run_concurrently(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from neruba_harden.findings import passed

    def slow(ctx: registry.CheckContext) -> list[object]:
        time.sleep(0.4)
        return [passed("slowarea.one", "ok")]

    async def slow_async(ctx: registry.CheckContext) -> list[object]:
        import asyncio

        await asyncio.sleep(0.4)
        return [passed("slowarea.two", "ok")]

    monkeypatch.setattr(registry, "AREA_MODULES", {"migrations": registry.AREA_MODULES["migrations"],
                                                   "slowarea": "neruba_harden.checks"})
    for check_id, func in (("slowarea.one", slow), ("slowarea.two", slow_async)):
        monkeypatch.setitem(registry._REGISTRY, check_id, registry.CheckSpec(
            check_id, check_id, func, "slowarea"))  # type: ignore[arg-type]
    started = time.perf_counter()
    report = run_preflight(load_settings(project.config))
    elapsed = time.perf_counter() - started
    statuses = {f.check_id: f.status for f in report.findings}
    assert statuses["slowarea.one"] is Status.PASS and statuses["slowarea.two"] is Status.PASS
    assert statuses["migrations.current"] is Status.FAIL
    assert elapsed < 0.75, elapsed  # 0.4 s each, run side by side


# -- every area ------------------------------------------------------------------------------

def test_all_areas_run_and_unconfigured_ones_skip(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole preflight over every registered area, with only migrations configured."""
    project.scripts.upgrade(project.db_url)
    code, out, err = run_cli(capsys, "preflight", "--config", str(project.config),
                             "--format", "json", "--timeout", "20")
    data = json.loads(out)
    findings = data["findings"]
    areas = {f["check_id"].split(".", 1)[0] for f in findings}
    assert set(registry.AREA_MODULES) <= areas, "an area produced no finding"
    assert not [f for f in findings if f["check_id"].endswith(".load")], out
    for finding in findings:
        if finding["check_id"].startswith("migrations."):
            continue
        # Nothing else is configured: every other check skips (or passes vacuously), and
        # none errors or fails.
        assert finding["status"] in ("skip", "pass"), finding
        assert finding["summary"], finding
    statuses = {f["check_id"]: f["status"] for f in findings}
    assert statuses["migrations.current"] == "pass"
    assert code == 0, out + err
