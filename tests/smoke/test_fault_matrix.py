"""The fault matrix: every control of the contract is proven able to fail.

Against the reference receiver with every control on, every step passes. Against the
receiver with one fault switch on, exactly the steps that fault breaks fail; steps that
depend on a broken one are skipped with the reason (one root cause, one finding); every
other step still passes. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest

from neruba_harden.findings import Finding, Status
from neruba_harden.smoke.runner import run_sequence
from neruba_harden.smoke.steps import CHECK_IDS
from tests.smoke.receivers import reference_receiver

ALL = frozenset(CHECK_IDS)
EVERY_OTHER_THAN_ACCEPTED = ALL - {"smoke.accepted"}

# fault -> (steps that fail, steps that warn, steps skipped as dependent); the rest pass.
MATRIX: dict[str | None, tuple[set[str], set[str], set[str]]] = {
    None: (set(), set(), set()),
    "no-signature-check": ({"smoke.rejected"}, set(), {"smoke.replay", "smoke.future"}),
    "reserialized-json": ({"smoke.accepted"}, set(), set(EVERY_OTHER_THAN_ACCEPTED)),
    "no-replay-window": ({"smoke.replay"}, set(), {"smoke.future"}),
    "no-future-check": (set(), {"smoke.future"}, set()),
    "no-dedupe": ({"smoke.duplicate"}, set(), {"smoke.conflict", "smoke.burst"}),
    "racy-dedupe": ({"smoke.burst"}, set(), set()),
    "conflict-ignored": ({"smoke.conflict"}, set(), set()),
    "dedupe-before-processing": ({"smoke.failed"}, set(), set()),
    "redirect": ({"smoke.accepted"}, set(), set(EVERY_OTHER_THAN_ACCEPTED)),
    "status-only": (set(), {"smoke.accepted", "smoke.duplicate", "smoke.burst"}, set()),
}


def by_status(findings: list[Finding], status: Status) -> set[str]:
    return {f.check_id for f in findings if f.status is status}


@pytest.mark.parametrize("fault", list(MATRIX), ids=lambda f: f or "every-control-on")
def test_each_fault_breaks_exactly_its_steps(db_url: str, fault: str | None) -> None:
    fails, warns, skips = MATRIX[fault]
    with reference_receiver(db_url, faults=[fault] if fault else []) as receiver:
        result = run_sequence(receiver.target())

    findings = result.findings
    assert [f.check_id for f in findings] == list(CHECK_IDS)
    assert by_status(findings, Status.FAIL) == fails, result.statuses()
    assert by_status(findings, Status.WARN) == warns, result.statuses()
    assert by_status(findings, Status.SKIP) == skips, result.statuses()
    assert by_status(findings, Status.ERROR) == set(), result.statuses()
    assert by_status(findings, Status.PASS) == ALL - fails - warns - skips


@pytest.mark.parametrize("fault", [None, "no-dedupe", "no-signature-check"],
                         ids=lambda f: f or "every-control-on")
def test_the_standard_webhooks_scheme_is_judged_the_same(sqlite_db: str, fault: str | None) -> None:
    fails, warns, skips = MATRIX[fault]
    with reference_receiver(sqlite_db, faults=[fault] if fault else [],
                            scheme="standard") as receiver:
        result = run_sequence(receiver.target())
    assert by_status(result.findings, Status.FAIL) == fails, result.statuses()
    assert by_status(result.findings, Status.WARN) == warns, result.statuses()
    assert by_status(result.findings, Status.SKIP) == skips, result.statuses()
