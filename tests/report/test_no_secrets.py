"""No format ever contains a registered secret, wherever a finding carries it."""

from __future__ import annotations

from pathlib import Path

import pytest

from neruba_harden import redact
from neruba_harden.findings import Finding, Report, Status, Waiver, apply_waivers
from neruba_harden.report import FORMATS, emit, render
from tests.conftest import (
    CANARY_DB_PASSWORD,
    CANARY_TOKEN,
    CANARY_WEBHOOK_SECRET,
    assert_no_canary,
)

# A secret made of the characters each format escapes: if a renderer escaped before the
# scrub ran, the escaped form would slip past it.
AWKWARD_SECRET = 'Sp"ec<ial>&\u00e9\\pw_*x|`'


def planted(secret: str, other: str) -> Report:
    findings = [
        Finding(
            "secrets.vault", Status.FAIL, f"token {secret} has no expiry",
            {"token": secret, "nested": {"list": [other, f"url=postgresql://app:{secret}@db/x"]},
             f"key-{secret}": 1},
            f"rotate {secret}", 0.1, f"title {secret}", location=f"deploy/{secret}.env",
        ),
        Finding("webhooks.signing", Status.WARN, f"secret {other}", {"secret": other},
                f"hint {other}"),
        Finding("clock.drift", Status.ERROR, "no NTP server answered", {"why": secret}),
        Finding("exposure.docs", Status.PASS, "ok", {"seen": secret}),
        Finding("proxy.chain", Status.SKIP, f"skipped {secret}"),
    ]
    waivers = [Waiver("webhooks.signing", f"accepted, see {secret}", "2999-01-01"),
               Waiver("proxy.chain", f"old {other}", "2000-01-01")]
    return Report(apply_waivers(findings, waivers, "2026-01-01"), title=f"run {secret}",
                  meta={"environment": secret, "config": other})


@pytest.fixture(autouse=True)
def _register() -> None:
    for value in (CANARY_WEBHOOK_SECRET, CANARY_TOKEN, CANARY_DB_PASSWORD, AWKWARD_SECRET):
        redact.register(value)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_canaries_appear_in_no_format(fmt: str, tmp_path: Path) -> None:
    report = planted(CANARY_TOKEN, CANARY_WEBHOOK_SECRET)
    report.findings.append(Finding("migrations.current", Status.ERROR, "unreachable",
                                   {"database": f"postgresql://app:{CANARY_DB_PASSWORD}@h/x"}))
    text = render(report, fmt)
    assert redact.MASK in text
    assert_no_canary(text)
    out = tmp_path / "report"
    emit(report, fmt, out)
    assert_no_canary(out.read_text(encoding="utf-8"))


def _awkward_forms(text: str) -> list[str]:
    fragments = ['Sp"ec', "Sp\\\"ec", "Sp&quot;ec", "ec<ial", "ec&lt;ial", "ec\\<ial",
                 "\\u00e9\\\\pw", "\u00e9\\pw", "pw\\_", "pw_\\*"]
    return [fragment for fragment in fragments if fragment in text]


@pytest.mark.parametrize("fmt", ["text", "sarif", "markdown"])
def test_a_secret_with_special_characters_is_scrubbed_before_escaping(fmt: str) -> None:
    text = render(planted(AWKWARD_SECRET, CANARY_TOKEN), fmt)
    assert _awkward_forms(text) == []
    assert_no_canary(text)


@pytest.mark.parametrize("fmt", ["json", "junit"])
def test_core_formats_with_a_special_character_secret(fmt: str) -> None:
    text = render(planted(AWKWARD_SECRET, CANARY_TOKEN), fmt)
    assert _awkward_forms(text) == []
